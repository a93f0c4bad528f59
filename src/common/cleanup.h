/* Scope-bound cleanup, as in crun/bubblewrap/systemd.
 *
 *   _cleanup_free_ char *s = strdup(x);
 *   _cleanup_close_ int fd = open(...);
 *   fd = vs_safe_close(fd);  close early (the cleanup then does nothing)
 *   return TAKE_PTR(s);      hand ownership to the caller
 */
#ifndef VS_CLEANUP_H
#define VS_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void vs_freep(void *p)
{
        void **pp = p;
        free(*pp);
}

/* Closes fd if open, keeping errno; returns -1 for "fd = vs_safe_close(fd)". */
static inline int vs_safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void vs_closep(int *fd)
{
        *fd = vs_safe_close(*fd);
}

static inline void vs_strvfreep(char ***pv)
{
        char **v = *pv;
        if (!v)
                return;
        for (char **s = v; *s; s++)
                free(*s);
        free(v);
}

static inline void vs_jsonp(json_t **j)
{
        json_decref(*j);
}

static inline void vs_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

static inline void vs_closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

#define _cleanup_free_ _cleanup_(vs_freep)
#define _cleanup_json_ _cleanup_(vs_jsonp)
#define _cleanup_fclose_ _cleanup_(vs_fclosep)
#define _cleanup_closedir_ _cleanup_(vs_closedirp)
#define _cleanup_close_ _cleanup_(vs_closep)
#define _cleanup_strv_ _cleanup_(vs_strvfreep)

#define TAKE_PTR(p)                                  \
        ({                                           \
                __typeof__(p) _ptr_ = (p);           \
                (p) = NULL;                          \
                _ptr_;                               \
        })

#define TAKE_FD(fd)                                  \
        ({                                           \
                int _fd_ = (fd);                     \
                (fd) = -1;                           \
                _fd_;                                \
        })

#endif
