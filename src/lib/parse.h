/* Parsing of human-written sizes and durations ("512M", "10m"). */
#ifndef VS_PARSE_H
#define VS_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "4096", "512K", "512M", "1G", "1GiB", "2T" (binary units, case-insensitive).
 * Returns 0 and sets *ret_bytes, or -1 (EINVAL/ERANGE in errno). */
int vs_parse_size(const char *s, uint64_t *ret_bytes);

/* "90", "90s", "10m", "2h", "1h30m", "500ms".  Returns milliseconds. */
int vs_parse_duration(const char *s, uint64_t *ret_ms);

/* Formats bytes as "1.5G"-style text into buf. */
const char *vs_format_size(uint64_t bytes, char *buf, size_t len);

#endif
