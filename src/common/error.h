/* One error convention for libvmsandbox and the guest agent.
 *
 * A function that can fail returns a negative value and fills a vs_error:
 * an errno-like code plus one message made where the failure happened.
 * Callers may prefix context with vs_error_prefix().  Only front ends
 * (CLI main, HTTP layer) print errors or map them to exit codes. */
#ifndef VS_ERROR_H
#define VS_ERROR_H

#include <stdarg.h>

typedef enum {
        VS_ERR_NONE = 0,
        VS_ERR_USAGE,      /* bad flag, bad value: the caller's input is wrong */
        VS_ERR_INPUT,      /* bad image archive, workspace, spec file */
        VS_ERR_SETUP,      /* host not ready: base image missing, libvirtd down */
        VS_ERR_SANDBOX,    /* the sandbox itself failed (libvirt, libguestfs, guest) */
        VS_ERR_TIMEOUT,    /* wall-clock limit hit */
        VS_ERR_CANCELLED,  /* SIGINT/SIGTERM or an API cancel */
        VS_ERR_NOT_FOUND,  /* no such job or file */
        VS_ERR_CONFLICT,   /* the job is not in a state that allows this */
        VS_ERR_TOO_LARGE,  /* a body or upload over its limit */
        VS_ERR_FORBIDDEN,  /* a path outside the allowed roots */
        VS_ERR_LIMIT,      /* too many at once: an owner's jobs, queued jobs, log follows */
        VS_ERR_NO_SPACE,   /* a storage quota or the service's state budget is used up */
        VS_ERR_LAST
} vs_error_kind;

typedef struct {
        vs_error_kind kind;
        int errno_value;   /* 0 when no errno applies */
        char msg[1024];
} vs_error;

__attribute__((format(printf, 3, 4)))
int vs_error_set(vs_error *err, vs_error_kind kind, const char *fmt, ...);

/* Like vs_error_set, appending ": strerror(errnum)". */
__attribute__((format(printf, 4, 5)))
int vs_error_errno(vs_error *err, vs_error_kind kind, int errnum, const char *fmt, ...);

/* Prepend "context: " to an already set message. */
__attribute__((format(printf, 2, 3)))
void vs_error_prefix(vs_error *err, const char *fmt, ...);

const char *vs_error_kind_name(vs_error_kind kind);

#endif
