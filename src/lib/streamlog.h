/* streams.log: a job's output with its stream and time, next to output.log
 * (which keeps the bytes alone, as the job API serves them).  The Docker
 * socket's logs and attach read it.
 *
 * The file is a sequence of records: a 16-byte header
 *   u8 stream (1 stdout, 2 stderr), 3 zero bytes, u32 BE length,
 *   u64 BE unix time in nanoseconds
 * and length bytes (1..VS_STREAM_RECORD_MAX).  Times never go backwards
 * within a file (the writer keeps the latest).  The writer is not locked:
 * its owner (one job, under the job's lock) serialises calls.
 *
 * The file is read as hostile input: a header that breaks any rule above,
 * or a record cut short, ends the stream there. */
#ifndef VS_STREAMLOG_H
#define VS_STREAMLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VS_STREAM_STDOUT 1
#define VS_STREAM_STDERR 2
#define VS_STREAM_HEADER 16
#define VS_STREAM_RECORD_MAX (64u << 10)
/* The writer notes where the first record at or after every multiple of
 * this many bytes starts, so that the end of the file can be read without
 * parsing it all. */
#define VS_STREAM_INDEX_STEP (64u << 10)

typedef struct {
        unsigned stream;  /* VS_STREAM_STDOUT or VS_STREAM_STDERR */
        uint32_t len;     /* 1..VS_STREAM_RECORD_MAX */
        int64_t time_ns;  /* unix time, >= 0 */
} vs_stream_header;

/* Wall-clock nanoseconds since the epoch: a record's time. */
int64_t vs_stream_now_ns(void);

void vs_stream_header_encode(const vs_stream_header *h, unsigned char out[VS_STREAM_HEADER]);
/* 0 and *ret when in is a valid header; -1 otherwise (*ret untouched). */
int vs_stream_header_parse(const unsigned char in[VS_STREAM_HEADER], vs_stream_header *ret);

/* ---- reading ------------------------------------------------------------- */

/* Reads whole records of fd from pos up to end (which a follower may
 * raise), through one buffer: two records always fit in it. */
typedef struct {
        int fd;
        uint64_t pos;       /* file offset of the next record */
        uint64_t end;       /* bytes of the file that count */
        unsigned char *buf;
        uint64_t buf_off;   /* file offset of buf[0] */
        size_t buf_len;
} vs_stream_cursor;

void vs_stream_cursor_init(vs_stream_cursor *c, int fd, uint64_t pos, uint64_t end);
void vs_stream_cursor_clear(vs_stream_cursor *c);
/* 1: the record at pos (*ret_data valid until the next call; pos moves past
 * it); 0: pos is end; -1: the record is corrupt, reaches past end or the
 * file is shorter: the stream ends here (pos stays). */
int vs_stream_cursor_next(vs_stream_cursor *c, vs_stream_header *ret_h, const unsigned char **ret_data);

/* Which records a reader wants: streams is a mask of 1 << VS_STREAM_*;
 * since_ns and until_ns (0: no bound) include their ends, as Docker's. */
typedef struct {
        unsigned streams;
        int64_t since_ns;
        int64_t until_ns;
} vs_stream_filter;

bool vs_stream_filter_match(const vs_stream_filter *f, const vs_stream_header *h);

/* Where the last max_lines lines of the records f matches begin, in
 * fd[0..end): the offset of the record (*ret_pos) and how many of its
 * bytes to skip (*ret_skip).  The matched records' bytes count as one text:
 * a \n ends a line, a last line without one counts, a \n that ends the text
 * starts no line.  index (as vs_streamlog keeps it, valid up to end) lets it
 * read from the end: time and memory are bounded by max_lines (and by the
 * bytes of records f does not match between them), not by the file's size.
 * -1: a corrupt record within [0, end). */
int vs_stream_tail_start(int fd, const uint32_t *index, size_t nindex, uint64_t end, const vs_stream_filter *f,
                         size_t max_lines, uint64_t *ret_pos, size_t *ret_skip);

/* ---- writing ------------------------------------------------------------- */

typedef struct {
        char *path;          /* streams.log */
        int fd;              /* open for append while the job runs; -1 otherwise */
        uint64_t size;       /* bytes of whole records in the file */
        uint64_t limit;      /* bytes kept at most (headers included) */
        int64_t last_ns;     /* the latest record's time */
        bool full;           /* a record did not fit or could not be written: no more are */
        unsigned cut;        /* mask of 1 << stream: the streams that lost output */
        /* index[k]: the offset of the first record at or after k * VS_STREAM_INDEX_STEP,
         * for the records below indexed (the whole file once vs_streamlog_index ran,
         * and then kept by every append). */
        uint32_t *index;
        size_t nindex, cap;
        uint64_t indexed;
        bool corrupt;        /* the walk found a corrupt record at indexed */
} vs_streamlog;

/* Knows the path; the size is the file's (0 when missing). limit is capped
 * at 4 GiB - 1 (the index holds 32-bit offsets). */
void vs_streamlog_init(vs_streamlog *l, const char *path, uint64_t limit);
void vs_streamlog_clear(vs_streamlog *l);
/* Appends data as records (of VS_STREAM_RECORD_MAX bytes at most) of
 * stream at time now_ns; the file is created 0600 at the first write.  A
 * record that does not fit below the limit is not written, nor is any
 * after it (the streams are cut there: l->cut); a failed write is undone.
 * Returns true when this call cut the file (the first time only). */
bool vs_streamlog_append(vs_streamlog *l, unsigned stream, const void *data, size_t len, int64_t now_ns);
/* The end of the run: the file is closed. */
void vs_streamlog_finish(vs_streamlog *l);
/* Completes the index up to size by walking the records not indexed yet
 * (a file of a previous process: once, bounded by the limit); a corrupt
 * record stops it (l->corrupt). */
void vs_streamlog_index(vs_streamlog *l);

#endif
