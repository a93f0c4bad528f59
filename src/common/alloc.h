/* The out-of-memory policy of vmsandbox (host and guest agent alike):
 *
 * Every size that an input can drive (a body, an upload, a guest frame, a
 * tar header, a string from a guest) is bounded before anything is
 * allocated for it.  What is left are small allocations of bounded size; if
 * one of those fails the process is in no state to go on, so it aborts with a
 * message (systemd, glib and crun's xmalloc do the same).  Code therefore
 * does not carry ENOMEM branches: use these helpers. */
#ifndef VS_ALLOC_H
#define VS_ALLOC_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A size no allocation can satisfy: makes vs_xmalloc abort on overflow. */
#define VS_OOM_SIZE ((size_t)-1)

_Noreturn void vs_oom(void);

static inline void *vs_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                vs_oom();
        return p;
}

static inline void *vs_xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                vs_oom();
        return p;
}

static inline void *vs_xrealloc(void *old, size_t n)
{
        void *p = realloc(old, n ? n : 1);
        if (!p)
                vs_oom();
        return p;
}

static inline char *vs_xstrdup(const char *s)
{
        char *p = strdup(s);
        if (!p)
                vs_oom();
        return p;
}

static inline char *vs_xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                vs_oom();
        return p;
}

__attribute__((format(printf, 1, 2)))
char *vs_xasprintf(const char *fmt, ...);

/* jansson constructors return NULL only on OOM (or invalid UTF-8 for
 * json_string: pass guest text through vs_json_text instead). */
static inline json_t *vs_xjson(json_t *j)
{
        if (!j)
                vs_oom();
        return j;
}

#endif
