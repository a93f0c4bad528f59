#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void error_vformat(vs_error *err, const char *fmt, va_list ap)
{
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int vs_error_set(vs_error *err, vs_error_kind kind, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return -1;
        err->kind = kind;
        err->errno_value = 0;
        va_start(ap, fmt);
        error_vformat(err, fmt, ap);
        va_end(ap);
        return -1;
}

int vs_error_errno(vs_error *err, vs_error_kind kind, int errnum, const char *fmt, ...)
{
        va_list ap;
        size_t len;

        if (!err)
                return -1;
        err->kind = kind;
        err->errno_value = errnum;
        va_start(ap, fmt);
        error_vformat(err, fmt, ap);
        va_end(ap);
        len = strlen(err->msg);
        snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(errnum));
        return -1;
}

void vs_error_prefix(vs_error *err, const char *fmt, ...)
{
        char prefix[512];
        char old[sizeof(err->msg)];
        va_list ap;

        if (!err)
                return;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        /* Truncation is acceptable: the message stays one bounded line. */
        size_t plen = strlen(prefix);
        if (plen > sizeof(err->msg) - 3)
                plen = sizeof(err->msg) - 3;
        memcpy(err->msg, prefix, plen);
        memcpy(err->msg + plen, ": ", 2);
        size_t rest = sizeof(err->msg) - plen - 3;
        size_t olen = strnlen(old, rest);
        memcpy(err->msg + plen + 2, old, olen);
        err->msg[plen + 2 + olen] = 0;
}

const char *vs_error_kind_name(vs_error_kind kind)
{
        switch (kind) {
        case VS_ERR_NONE:
                return "none";
        case VS_ERR_USAGE:
                return "bad_request";
        case VS_ERR_INPUT:
                return "bad_input";
        case VS_ERR_SETUP:
                return "setup";
        case VS_ERR_SANDBOX:
                return "sandbox";
        case VS_ERR_TIMEOUT:
                return "timeout";
        case VS_ERR_CANCELLED:
                return "cancelled";
        case VS_ERR_NOT_FOUND:
                return "not_found";
        case VS_ERR_CONFLICT:
                return "conflict";
        case VS_ERR_TOO_LARGE:
                return "too_large";
        case VS_ERR_FORBIDDEN:
                return "forbidden";
        case VS_ERR_LIMIT:
                return "too_many";
        case VS_ERR_NO_SPACE:
                return "no_space";
        case VS_ERR_LAST:
                break;
        }
        return "unknown";
}
