#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t vs_strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

int vs_strv_push(char ***v, const char *s)
{
        size_t n = vs_strv_length(*v);
        char **nv;
        char *copy = strdup(s);

        if (!copy)
                return -1;
        nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(copy);
                errno = ENOMEM;
                return -1;
        }
        nv[n] = copy;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

void vs_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}
