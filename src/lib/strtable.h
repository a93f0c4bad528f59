/* One name table per enum, systemd string-table style:
 *
 *   static const char *const color_table[COLOR_LAST] = { [RED] = "red", ... };
 *   VS_STRING_TABLE(color, color_t, COLOR_LAST)
 *
 * defines color_to_string(v) (NULL when out of range) and
 * color_from_string(s, &ret) (-1 when unknown). */
#ifndef VS_STRTABLE_H
#define VS_STRTABLE_H

#include <stddef.h>
#include <string.h>

static inline int vs_table_lookup(const char *const *table, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int)i;
        return -1;
}

#define VS_STRING_TABLE(name, type, last)                                            \
        const char *name##_to_string(type v)                                         \
        {                                                                            \
                return (size_t)v < (size_t)(last) ? name##_table[v] : NULL;          \
        }                                                                            \
        int name##_from_string(const char *s, type *ret)                             \
        {                                                                            \
                int i = vs_table_lookup(name##_table, (size_t)(last), s);            \
                if (i < 0)                                                           \
                        return -1;                                                   \
                *ret = (type)i;                                                      \
                return 0;                                                            \
        }

#endif
