/* A job's output: output.log (appended, bounded) and the same bytes cut into
 * lines for the record.  Not locked: the owner (one job) serialises calls. */
#ifndef VS_JOBLOG_H
#define VS_JOBLOG_H

#include "record.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
        char *path;            /* output.log */
        int fd;                /* open for append while the job runs; -1 otherwise */
        uint64_t size;         /* bytes in the file */
        uint64_t limit;        /* bytes kept at most */
        char line[VS_LINE_MAX];
        size_t line_len;
} vs_joblog;

/* Knows the path; the size is the file's (0 when missing). */
void vs_joblog_init(vs_joblog *l, const char *path, uint64_t limit);
void vs_joblog_clear(vs_joblog *l);

/* Appends to the file (up to the limit; the file is created 0600 at the
 * first write) and hands each complete line to the record's step p.  A line
 * longer than VS_LINE_MAX is cut at a character boundary. */
void vs_joblog_append(vs_joblog *l, vs_job_record *rec, vs_phase p, const char *data, size_t len);
/* The end of the run: a last unterminated line goes to the record; the
 * file is closed. */
void vs_joblog_finish(vs_joblog *l, vs_job_record *rec, vs_phase p);

/* Where to cut a full line of len bytes so that no UTF-8 sequence is split
 * (a trailing incomplete sequence moves to the next line). */
size_t vs_utf8_cut(const char *s, size_t len);

#endif
