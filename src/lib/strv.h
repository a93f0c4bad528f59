/* NULL-terminated string vectors. */
#ifndef VS_STRV_H
#define VS_STRV_H

#include <stddef.h>

size_t vs_strv_length(char *const *v);
/* Appends a copy of s; returns -1 with errno on failure. */
int vs_strv_push(char ***v, const char *s);
void vs_strv_free(char **v);

#endif
