#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Reads a run of decimal digits without overflow. */
static int parse_digits(const char **p, uint64_t *ret)
{
        uint64_t v = 0;
        const char *s = *p;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*s); s++) {
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

static int size_shift(const char *unit, unsigned *ret_shift)
{
        static const struct {
                const char *name;
                unsigned shift;
        } units[] = {
                { "", 0 },    { "b", 0 },    { "k", 10 },   { "kb", 10 }, { "kib", 10 },
                { "m", 20 },  { "mb", 20 },  { "mib", 20 }, { "g", 30 },  { "gb", 30 },
                { "gib", 30 }, { "t", 40 },  { "tb", 40 },  { "tib", 40 },
        };

        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (strcasecmp(unit, units[i].name) == 0) {
                        *ret_shift = units[i].shift;
                        return 0;
                }
        return -EINVAL;
}

int vs_parse_size(const char *s, uint64_t *ret_bytes)
{
        uint64_t v;
        unsigned shift = 0;
        int r;

        if (!s) {
                errno = EINVAL;
                return -1;
        }
        r = parse_digits(&s, &v);
        if (r == 0)
                r = size_shift(s, &shift);
        if (r == 0 && shift > 0 && v > (UINT64_MAX >> shift))
                r = -ERANGE;
        if (r < 0) {
                errno = -r;
                return -1;
        }
        *ret_bytes = v << shift;
        return 0;
}

static int duration_unit_ms(const char **p, uint64_t *ret_mult)
{
        const char *s = *p;

        if (strncmp(s, "ms", 2) == 0) {
                *ret_mult = 1;
                *p = s + 2;
        } else if (*s == 's') {
                *ret_mult = 1000;
                *p = s + 1;
        } else if (*s == 'm') {
                *ret_mult = 60 * 1000;
                *p = s + 1;
        } else if (*s == 'h') {
                *ret_mult = 3600 * 1000;
                *p = s + 1;
        } else
                return -EINVAL;
        return 0;
}

int vs_parse_duration(const char *s, uint64_t *ret_ms)
{
        uint64_t total = 0;
        int r = 0;

        if (!s || !*s) {
                errno = EINVAL;
                return -1;
        }
        while (*s && r == 0) {
                uint64_t v, mult = 1000;

                r = parse_digits(&s, &v);
                if (r == 0 && *s)
                        r = duration_unit_ms(&s, &mult);
                else if (r == 0 && total != 0)
                        r = -EINVAL; /* "1h30" is ambiguous */
                if (r == 0 && (v > UINT64_MAX / mult || total > UINT64_MAX - v * mult))
                        r = -ERANGE;
                if (r == 0)
                        total += v * mult;
        }
        if (r < 0) {
                errno = -r;
                return -1;
        }
        *ret_ms = total;
        return 0;
}

const char *vs_format_size(uint64_t bytes, char *buf, size_t len)
{
        static const char suffix[] = "BKMGT";
        double v = (double)bytes;
        unsigned i = 0;

        while (v >= 1024.0 && i < sizeof(suffix) - 2) {
                v /= 1024.0;
                i++;
        }
        if (i == 0)
                snprintf(buf, len, "%llu", (unsigned long long)bytes);
        else if (v == (double)(uint64_t)v)
                snprintf(buf, len, "%llu%c", (unsigned long long)v, suffix[i]);
        else
                snprintf(buf, len, "%.1f%c", v, suffix[i]);
        return buf;
}
