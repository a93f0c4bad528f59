/* streams.log (streamlog.h): the record format, the writer and its bounds,
 * the hostile-file reader, the tail from the end (checked against a forward
 * count on many files), and the service's readers (service_streams.h) with
 * the fake runner: filters, follows, attach before start, ends. */
#include "fake_runner.h"
#include "fsutil.h"
#include "service.h"
#include "service_int.h"
#include "service_streams.h"
#include "streamlog.h"
#include "tests.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void setup(void)
{
        snprintf(dir, sizeof(dir), "/tmp/vs-streams-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        fake_reset();
}

static void teardown(void)
{
        vs_rm_rf(dir);
}

static char *path_in(const char *name)
{
        static char p[128];

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return p;
}

static void put_record(FILE *f, unsigned stream, const char *data, size_t len, int64_t t)
{
        unsigned char h[VS_STREAM_HEADER];

        vs_stream_header_encode(&(vs_stream_header){ stream, (uint32_t)len, t }, h);
        ck_assert_uint_eq(fwrite(h, 1, sizeof(h), f), sizeof(h));
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
}

static int open_ro(const char *p)
{
        int fd = open(p, O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        return fd;
}

static uint64_t file_size(const char *p)
{
        struct stat st;

        ck_assert_int_eq(stat(p, &st), 0);
        return (uint64_t)st.st_size;
}

/* ---- the format ------------------------------------------------------------ */

START_TEST(header_bytes_exact)
{
        unsigned char h[VS_STREAM_HEADER];
        const unsigned char want[VS_STREAM_HEADER] = { 2, 0, 0, 0, 0x00, 0x01, 0x00, 0x00,
                                                       0x18, 0x7c, 0x3e, 0x6e, 0x1c, 0x2b, 0x4a, 0x15 };
        vs_stream_header p;

        vs_stream_header_encode(&(vs_stream_header){ 2, 65536, 0x187c3e6e1c2b4a15 }, h);
        ck_assert_mem_eq(h, want, sizeof(want));
        ck_assert_int_eq(vs_stream_header_parse(h, &p), 0);
        ck_assert_uint_eq(p.stream, 2);
        ck_assert_uint_eq(p.len, 65536);
        ck_assert(p.time_ns == 0x187c3e6e1c2b4a15);
}
END_TEST

START_TEST(header_rules)
{
        unsigned char h[VS_STREAM_HEADER];
        vs_stream_header p = { 9, 9, 9 };

        vs_stream_header_encode(&(vs_stream_header){ 1, 1, INT64_MAX }, h);
        ck_assert_int_eq(vs_stream_header_parse(h, &p), 0);
        ck_assert(p.time_ns == INT64_MAX);
        for (unsigned s = 0; s < 256; s++) {
                h[0] = (unsigned char)s;
                ck_assert_int_eq(vs_stream_header_parse(h, &p), s == 1 || s == 2 ? 0 : -1);
        }
        h[0] = 1;
        for (int i = 1; i <= 3; i++) {
                h[i] = 1;
                ck_assert_int_eq(vs_stream_header_parse(h, &p), -1);
                h[i] = 0;
        }
        memcpy(h + 4, "\x00\x00\x00\x00", 4); /* length 0 */
        ck_assert_int_eq(vs_stream_header_parse(h, &p), -1);
        memcpy(h + 4, "\x00\x01\x00\x01", 4); /* 65537 */
        ck_assert_int_eq(vs_stream_header_parse(h, &p), -1);
        memcpy(h + 4, "\xff\xff\xff\xff", 4);
        ck_assert_int_eq(vs_stream_header_parse(h, &p), -1);
        memcpy(h + 4, "\x00\x00\x00\x01", 4);
        h[8] = 0x80; /* time >= 2^63 */
        ck_assert_int_eq(vs_stream_header_parse(h, &p), -1);
        ck_assert_uint_eq(p.stream, 2); /* the last valid parse (stream 2); refusals leave it */
}
END_TEST

START_TEST(cursor_reads_whole_records)
{
        FILE *f = fopen(path_in("s.log"), "w");
        char *big = malloc(VS_STREAM_RECORD_MAX), *abc = malloc(VS_STREAM_RECORD_MAX);
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        int fd;

        memset(big, 'x', VS_STREAM_RECORD_MAX);
        big[VS_STREAM_RECORD_MAX - 1] = 'y';
        put_record(f, 1, "a", 1, 10);
        put_record(f, 2, big, VS_STREAM_RECORD_MAX, 20);
        put_record(f, 1, "hello", 5, 30);
        for (size_t i = 0; i < VS_STREAM_RECORD_MAX; i++)
                abc[i] = (char)('a' + i % 26);
        put_record(f, 2, abc, VS_STREAM_RECORD_MAX, 40); /* crosses the end of the first buffer-full */
        fclose(f);
        fd = open_ro(path_in("s.log"));
        vs_stream_cursor_init(&c, fd, 0, file_size(path_in("s.log")));
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 1 && h.len == 1 && h.time_ns == 10 && d[0] == 'a');
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 2 && h.len == VS_STREAM_RECORD_MAX && h.time_ns == 20);
        ck_assert_mem_eq(d, big, VS_STREAM_RECORD_MAX);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 1 && h.len == 5 && h.time_ns == 30);
        ck_assert_mem_eq(d, "hello", 5);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 2 && h.len == VS_STREAM_RECORD_MAX && h.time_ns == 40);
        ck_assert_mem_eq(d, abc, VS_STREAM_RECORD_MAX);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 0);
        ck_assert_uint_eq(c.pos, 4 * 16 + 1 + 2 * VS_STREAM_RECORD_MAX + 5);
        vs_stream_cursor_clear(&c);
        close(fd);
        free(big);
        free(abc);
}
END_TEST

/* Every way a file can end a stream early: -1, and the place stays. */
START_TEST(cursor_stops_at_damage)
{
        FILE *f = fopen(path_in("s.log"), "w");
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        int fd;

        put_record(f, 1, "one", 3, 1);
        put_record(f, 2, "two!", 4, 2);
        fclose(f);
        fd = open_ro(path_in("s.log"));
        /* end inside the second header, inside its data */
        for (uint64_t end = 19 + 1; end < 19 + 16 + 4; end++) {
                vs_stream_cursor_init(&c, fd, 0, end);
                ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
                ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), -1);
                ck_assert_uint_eq(c.pos, 19);
                ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), -1);
                vs_stream_cursor_clear(&c);
        }
        /* the file shorter than the end said */
        vs_stream_cursor_init(&c, fd, 0, 40);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), -1);
        ck_assert_uint_eq(c.pos, 39);
        vs_stream_cursor_clear(&c);
        close(fd);
        /* a bad stream byte in the second header */
        fd = open(path_in("s.log"), O_RDWR);
        ck_assert_int_eq(pwrite(fd, "\x03", 1, 19), 1);
        vs_stream_cursor_init(&c, fd, 0, 39);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), -1);
        vs_stream_cursor_clear(&c);
        close(fd);
}
END_TEST

/* ---- the writer ------------------------------------------------------------ */

START_TEST(writer_records_and_mode)
{
        vs_streamlog l;
        char *big = malloc(70000);
        vs_stream_cursor c;
        vs_stream_header h;
        const unsigned char *d;
        struct stat st;
        int fd;

        memset(big, 'b', 70000);
        vs_streamlog_init(&l, path_in("streams.log"), 1 << 20);
        ck_assert_uint_eq(l.size, 0);
        ck_assert(!vs_streamlog_append(&l, 1, "out1\n", 5, 1000));
        ck_assert(!vs_streamlog_append(&l, 2, "err1\n", 5, 900)); /* the clock stepped back */
        ck_assert(!vs_streamlog_append(&l, 2, big, 70000, 2000));
        ck_assert(!vs_streamlog_append(&l, 7, "?", 1, 3000)); /* an unknown stream is stdout */
        vs_streamlog_finish(&l);
        ck_assert_uint_eq(l.size, 5 * 16 + 5 + 5 + 70000 + 1);
        ck_assert_int_eq(stat(path_in("streams.log"), &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_uint_eq((uint64_t)st.st_size, l.size);
        ck_assert_uint_eq(l.cut, 0);
        fd = open_ro(path_in("streams.log"));
        vs_stream_cursor_init(&c, fd, 0, l.size);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 1 && h.len == 5 && h.time_ns == 1000);
        ck_assert_mem_eq(d, "out1\n", 5);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 2 && h.len == 5 && h.time_ns == 1000);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 2 && h.len == 65536 && h.time_ns == 2000);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 2 && h.len == 70000 - 65536 && h.time_ns == 2000);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
        ck_assert(h.stream == 1 && h.len == 1 && h.time_ns == 3000);
        ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 0);
        vs_stream_cursor_clear(&c);
        close(fd);
        vs_streamlog_clear(&l);
        /* A second writer (the next process) knows the size. */
        vs_streamlog_init(&l, path_in("streams.log"), 1 << 20);
        ck_assert_uint_eq(l.size, (uint64_t)st.st_size);
        vs_streamlog_clear(&l);
        free(big);
}
END_TEST

/* A record that does not fit is not written, nor anything after it; the
 * streams that lost bytes are noted; the call that cut says so once. */
START_TEST(writer_limit_cuts)
{
        vs_streamlog l;

        vs_streamlog_init(&l, path_in("streams.log"), 16 + 10 + 16 + 5);
        ck_assert(!vs_streamlog_append(&l, 1, "0123456789", 10, 1));
        ck_assert(!vs_streamlog_append(&l, 2, "abcde", 5, 2)); /* exactly fills it */
        ck_assert_uint_eq(l.size, 47);
        ck_assert(!l.full);
        ck_assert(vs_streamlog_append(&l, 2, "x", 1, 3));
        ck_assert_uint_eq(l.cut, 1u << 2);
        ck_assert(!vs_streamlog_append(&l, 1, "y", 1, 4));
        ck_assert_uint_eq(l.cut, 1u << 1 | 1u << 2);
        ck_assert_uint_eq(l.size, 47);
        vs_streamlog_finish(&l);
        ck_assert_uint_eq(file_size(path_in("streams.log")), 47);
        vs_streamlog_clear(&l);

        /* A record larger than the room left: not written in part. */
        vs_streamlog_init(&l, path_in("b.log"), 16 + 4);
        ck_assert(vs_streamlog_append(&l, 1, "12345", 5, 1));
        ck_assert_uint_eq(l.size, 0);
        ck_assert_int_eq(access(path_in("b.log"), F_OK), -1);
        vs_streamlog_clear(&l);
}
END_TEST

/* The writer's index and the walk of a file it did not write agree. */
START_TEST(index_of_writer_and_walk_agree)
{
        vs_streamlog w, r;
        char chunk[3000];

        memset(chunk, 'q', sizeof(chunk));
        vs_streamlog_init(&w, path_in("streams.log"), 64 << 20);
        for (unsigned i = 0; i < 200; i++)
                vs_streamlog_append(&w, 1 + i % 2, chunk, 1 + (i * 7919) % sizeof(chunk), i);
        vs_streamlog_append(&w, 1, chunk, 1, 1000); /* a long one, over several steps */
        for (unsigned i = 0; i < 3; i++)
                vs_streamlog_append(&w, 2, (char[65536]){ 0 }, 65536, 1001);
        vs_streamlog_finish(&w);
        ck_assert_uint_eq(w.indexed, w.size);
        ck_assert_uint_eq(w.nindex, (w.size - (16 + 65536)) / VS_STREAM_INDEX_STEP + 1); /* up to the last record's start */
        ck_assert_uint_eq(w.index[0], 0);
        vs_streamlog_init(&r, path_in("streams.log"), 64 << 20);
        ck_assert_uint_eq(r.nindex, 0);
        vs_streamlog_index(&r);
        ck_assert(!r.corrupt);
        ck_assert_uint_eq(r.indexed, w.size);
        ck_assert_uint_eq(r.nindex, w.nindex);
        ck_assert_mem_eq(r.index, w.index, w.nindex * sizeof(*w.index));
        for (size_t k = 1; k < w.nindex; k++)
                ck_assert_uint_ge(w.index[k], k * VS_STREAM_INDEX_STEP);
        vs_streamlog_clear(&r);
        vs_streamlog_clear(&w);
}
END_TEST

START_TEST(index_walk_stops_at_corruption)
{
        FILE *f = fopen(path_in("streams.log"), "w");
        vs_streamlog l;

        put_record(f, 1, "ok\n", 3, 1);
        fwrite("\x01\x00\x00\x01\x00\x00\x00\x01", 1, 8, f); /* padding not zero */
        fwrite("\0\0\0\0\0\0\0\0x", 1, 9, f);
        fclose(f);
        vs_streamlog_init(&l, path_in("streams.log"), 1 << 20);
        vs_streamlog_index(&l);
        ck_assert(l.corrupt);
        ck_assert_uint_eq(l.indexed, 19);
        ck_assert_uint_eq(l.nindex, 1);
        vs_streamlog_clear(&l);
}
END_TEST

/* ---- the tail -------------------------------------------------------------- */

typedef struct {
        unsigned stream;
        char *data;
        size_t len;
} rec;

/* Where the last n lines of the matched text begin, counted forward over
 * every byte: the reference the indexed tail must agree with. */
static void tail_forward(const rec *v, size_t nv, unsigned mask, size_t n, size_t *ret_rec, size_t *ret_skip)
{
        size_t total = 0, nl = 0, want, seen = 0;
        bool last_nl = false;

        for (size_t i = 0; i < nv; i++)
                if (mask & (1u << v[i].stream)) {
                        for (size_t k = 0; k < v[i].len; k++)
                                nl += v[i].data[k] == '\n';
                        total += v[i].len;
                        last_nl = v[i].data[v[i].len - 1] == '\n';
                }
        want = n + (last_nl ? 1 : 0);
        *ret_rec = 0;
        *ret_skip = 0;
        if (n == 0) {
                *ret_rec = nv;
                return;
        }
        if (nl < want)
                return;
        /* the start is after newline number nl - want + 1 */
        for (size_t i = 0; i < nv; i++) {
                if (!(mask & (1u << v[i].stream)))
                        continue;
                for (size_t k = 0; k < v[i].len; k++)
                        if (v[i].data[k] == '\n' && ++seen == nl - want + 1) {
                                *ret_rec = k + 1 == v[i].len ? i + 1 : i;
                                *ret_skip = k + 1 == v[i].len ? 0 : k + 1;
                                return;
                        }
        }
        (void)total;
}

START_TEST(tail_small_cases_exact)
{
        vs_streamlog l;
        uint64_t pos;
        size_t skip;
        int fd;
        vs_stream_filter both = { 1u << 1 | 1u << 2, 0, 0 }, out = { 1u << 1, 0, 0 }, err = { 1u << 2, 0, 0 };

        vs_streamlog_init(&l, path_in("streams.log"), 1 << 20);
        vs_streamlog_append(&l, 1, "a\nb", 3, 1);   /* @0, 19 bytes */
        vs_streamlog_append(&l, 2, "E1\n", 3, 2);   /* @19 */
        vs_streamlog_append(&l, 1, "c\n", 2, 3);    /* @38 */
        vs_streamlog_append(&l, 2, "E2", 2, 4);     /* @56, ends the text without \n */
        vs_streamlog_finish(&l);
        fd = open_ro(path_in("streams.log"));
#define TAIL(f, n, p, s)                                                                                      \
        do {                                                                                                  \
                ck_assert_int_eq(vs_stream_tail_start(fd, l.index, l.nindex, l.size, &(f), (n), &pos, &skip), 0); \
                ck_assert_uint_eq(pos, (p));                                                                  \
                ck_assert_uint_eq(skip, (s));                                                                 \
        } while (0)
        TAIL(both, 0, 74, 0);
        TAIL(both, 1, 56, 0);  /* "E2" */
        TAIL(both, 2, 38, 0);  /* "c\n" "E2" */
        TAIL(both, 3, 0, 2);   /* "b" "E1\n" ... */
        TAIL(both, 4, 0, 0);
        TAIL(both, 99, 0, 0);
        TAIL(out, 1, 0, 2);    /* stdout: "a\nb" "c\n": "bc\n" (the final \n starts no line) */
        TAIL(out, 2, 0, 0);
        TAIL(out, 3, 0, 0);
        TAIL(err, 1, 38, 0);   /* "E2": after the record that ends "E1\n" (the reader skips "c\n") */
        TAIL(err, 2, 0, 0);
        {
                vs_stream_filter late = { 1u << 1 | 1u << 2, 3, 0 }, early = { 1u << 1 | 1u << 2, 0, 2 };
                TAIL(late, 1, 56, 0);
                TAIL(late, 2, 0, 0);   /* "c\n" "E2" are all there is from time 3 on */
                TAIL(early, 1, 0, 2);  /* up to time 2: "a\nb" "E1\n": "bE1\n" */
        }
#undef TAIL
        close(fd);
        vs_streamlog_clear(&l);
}
END_TEST

/* Files over many index steps, tails of every size: the indexed tail
 * equals the forward count. */
START_TEST(tail_matches_forward_count)
{
        unsigned seed = 12345;
        char *buf = malloc(VS_STREAM_RECORD_MAX);

        for (int round = 0; round < 6; round++) {
                vs_streamlog l;
                rec v[400];
                size_t nv = 0;
                uint64_t offs[401], pos;
                int fd;
                char name[16];

                snprintf(name, sizeof(name), "t%d.log", round);
                vs_streamlog_init(&l, path_in(name), 64 << 20);
                while (nv < sizeof(v) / sizeof(v[0])) {
                        size_t len;
                        seed = seed * 1103515245 + 12345;
                        /* mostly short records, some near the maximum, sparse newlines */
                        len = (seed >> 8) % 7 == 0 ? 60000 + (seed >> 4) % 5537 : 1 + (seed >> 4) % 300;
                        for (size_t k = 0; k < len; k++) {
                                seed = seed * 1103515245 + 12345;
                                buf[k] = (seed >> 16) % (round % 2 ? 400 : 40) == 0 ? '\n' : 'a' + (char)((seed >> 20) % 26);
                        }
                        v[nv].stream = 1 + ((seed >> 12) % 3 == 0);
                        v[nv].data = malloc(len);
                        memcpy(v[nv].data, buf, len);
                        v[nv].len = len;
                        offs[nv] = l.size;
                        vs_streamlog_append(&l, v[nv].stream, buf, len, (int64_t)nv);
                        nv++;
                }
                offs[nv] = l.size;
                vs_streamlog_finish(&l);
                ck_assert_uint_gt(l.nindex, 50);
                fd = open_ro(path_in(name));
                for (unsigned mask = 2; mask <= 6; mask += 2) {
                        for (size_t n = 0; n < 700; n += 1 + n / 8) {
                                vs_stream_filter f = { mask, 0, 0 };
                                size_t want_rec, want_skip, skip;
                                tail_forward(v, nv, mask, n, &want_rec, &want_skip);
                                ck_assert_int_eq(vs_stream_tail_start(fd, l.index, l.nindex, l.size, &f, n, &pos, &skip), 0);
                                ck_assert_msg(pos == offs[want_rec] && skip == want_skip,
                                              "round %d mask %u tail %zu: at %llu+%zu, want %llu+%zu", round, mask, n,
                                              (unsigned long long)pos, skip, (unsigned long long)offs[want_rec],
                                              want_skip);
                        }
                }
                close(fd);
                for (size_t i = 0; i < nv; i++)
                        free(v[i].data);
                vs_streamlog_clear(&l);
        }
        free(buf);
}
END_TEST

/* ---- the service's readers -------------------------------------------------- */

static vs_config cfg;

static vs_service *svc_open_with(uint64_t follow_created_ms, unsigned job_follows)
{
        vs_service_opts o = { .cfg = &cfg, .max_jobs = 2, .memory_budget = 64ull << 30, .max_upload = 1 << 20,
                              .run = fake_run, .follow_created_ms = follow_created_ms, .job_follows = job_follows };
        vs_error err = { 0 };
        vs_service *s = NULL;

        cfg = (vs_config){ .state_dir = dir };
        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);
        return s;
}

static void svc_close(vs_service *s)
{
        fake_release("*");
        vs_service_drain(s, 0);
        vs_service_free(s);
}

static void job(vs_service *s, const char *name, char id[13], const char *const *ops)
{
        json_t *cmd = json_pack("[s]", "fake");
        json_t *spec;
        vs_error err = { 0 };

        for (; *ops; ops++)
                json_array_append_new(cmd, json_string(*ops));
        spec = json_pack("{s:s, s:s, s:{s:s}, s:o}", "tag", "fake:1", "memory", "256M", "env", "NAME", name, "cmd", cmd);
        ck_assert_msg(vs_service_create(s, "docker:a", spec, id, &err) == 0, "%s", err.msg);
        json_decref(spec);
}

#define JOB(s, name, id, ...) job(s, name, id, (const char *const[]){ __VA_ARGS__, NULL })

static void start(vs_service *s, const char *id)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_service_start(s, "docker:a", id, &err) == 0, "%s", err.msg);
}

static void wait_done(vs_service *s, const char *id)
{
        vs_error err = { 0 };

        ck_assert_msg(vs_service_wait(s, "docker:a", id, 60000, &err) == 1, "%s", err.msg);
}

static vs_streams_reader *reader(vs_service *s, const char *id, unsigned mask, bool follow, long long tail)
{
        vs_streams_opts o = { .filter = { mask, 0, 0 }, .follow = follow, .tail = tail };
        vs_streams_reader *r = NULL;
        vs_error err = { 0 };

        ck_assert_msg(vs_service_streams_open(s, "docker:a", id, &o, &r, &err) == 0, "%s", err.msg);
        return r;
}

/* Everything the reader hands out as "S:bytes|" per record, and its end. */
static char *drain(vs_service *s, vs_streams_reader *r)
{
        char *out = calloc(1, 1);
        size_t len = 0;
        vs_streams_chunk c;

        while (vs_service_streams_next(s, r, &c) == 1) {
                out = realloc(out, len + c.len + 4);
                len += (size_t)sprintf(out + len, "%u:", c.stream);
                memcpy(out + len, c.data, c.len);
                len += c.len;
                out[len++] = '|';
                out[len] = '\0';
        }
        return out;
}

#define ALL (1u << VS_STREAM_STDOUT | 1u << VS_STREAM_STDERR)

#define ck_drain(s, r, want, end)                                               \
        do {                                                                    \
                char *got_ = drain(s, r);                                       \
                ck_assert_str_eq(got_, want);                                   \
                ck_assert_str_eq(vs_streams_end_name(vs_service_streams_end(r)), end); \
                free(got_);                                                     \
        } while (0)

START_TEST(reader_of_finished_job)
{
        vs_service *s = svc_open_with(0, 0);
        char id[13], p[256], *log;
        size_t n;
        vs_error err = { 0 };
        vs_streams_reader *r;

        JOB(s, "x", id, "out:out1\n", "err:err1\n", "out:out2\nout3", "exit:3");
        start(s, id);
        wait_done(s, id);
        r = reader(s, id, ALL, false, -1);
        ck_drain(s, r, "1:out1\n|2:err1\n|1:out2\nout3|", "finished");
        vs_service_streams_close(s, r);
        r = reader(s, id, 1u << VS_STREAM_STDERR, true, -1);
        ck_drain(s, r, "2:err1\n|", "finished");
        vs_service_streams_close(s, r);
        r = reader(s, id, ALL, false, 2);
        ck_drain(s, r, "1:out2\nout3|", "finished");
        vs_service_streams_close(s, r);
        r = reader(s, id, 1u << VS_STREAM_STDOUT, false, 2);
        ck_drain(s, r, "1:out2\nout3|", "finished");
        vs_service_streams_close(s, r);
        r = reader(s, id, 1u << VS_STREAM_STDOUT, false, 1);
        ck_drain(s, r, "1:out3|", "finished"); /* inside a record */
        vs_service_streams_close(s, r);
        r = reader(s, id, ALL, false, 3);
        ck_drain(s, r, "2:err1\n|1:out2\nout3|", "finished");
        vs_service_streams_close(s, r);
        r = reader(s, id, ALL, false, 0);
        ck_drain(s, r, "", "finished");
        vs_service_streams_close(s, r);
        /* The job API's output.log is as before: both streams' bytes. */
        snprintf(p, sizeof(p), "%s/server/jobs/%s/output.log", dir, id);
        ck_assert_int_eq(vs_read_file(p, 1000, &log, &n, &err), 0);
        ck_assert_str_eq(log, "out1\nerr1\nout2\nout3");
        free(log);
        snprintf(p, sizeof(p), "%s/server/jobs/%s/streams.log", dir, id);
        ck_assert_uint_eq(file_size(p), 3 * 16 + 5 + 5 + 9);
        /* Another tenant does not see it; no stream at all is bad input. */
        {
                vs_streams_opts o = { .filter = { ALL, 0, 0 }, .tail = -1 };
                ck_assert_int_eq(vs_service_streams_open(s, "docker:b", id, &o, &r, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
                o.filter.streams = 0;
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        }
        svc_close(s);
}
END_TEST

START_TEST(reader_since_until)
{
        vs_service *s = svc_open_with(0, 0);
        char id[13];
        vs_streams_reader *r;
        vs_error err = { 0 };
        int64_t t0 = vs_stream_now_ns(), t1;

        JOB(s, "x", id, "out:early\n", "sleep:30", "err:late\n");
        start(s, id);
        wait_done(s, id);
        t1 = vs_stream_now_ns();
        {
                vs_streams_opts o = { .filter = { ALL, t1 + 1000000000, 0 }, .tail = -1 };
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
                ck_drain(s, r, "", "finished");
                vs_service_streams_close(s, r);
                o.filter = (vs_stream_filter){ ALL, 0, t0 - 1 };
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
                ck_drain(s, r, "", "until");
                vs_service_streams_close(s, r);
                o.filter = (vs_stream_filter){ ALL, t0, t1 };
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
                ck_drain(s, r, "1:early\n|2:late\n|", "finished");
                vs_service_streams_close(s, r);
        }
        /* the record times split the two: since the second's time */
        {
                char p[256];
                vs_streamlog l;
                int fd;
                vs_stream_cursor c;
                vs_stream_header h;
                const unsigned char *d;
                vs_streams_opts o = { .filter = { ALL, 0, 0 }, .tail = -1 };

                snprintf(p, sizeof(p), "%s/server/jobs/%s/streams.log", dir, id);
                vs_streamlog_init(&l, p, 1 << 20);
                fd = open_ro(p);
                vs_stream_cursor_init(&c, fd, 0, l.size);
                ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
                ck_assert_int_eq(vs_stream_cursor_next(&c, &h, &d), 1);
                ck_assert(h.time_ns >= t0 + 30000000);
                o.filter.since_ns = h.time_ns;
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
                ck_drain(s, r, "2:late\n|", "finished");
                vs_service_streams_close(s, r);
                o.filter = (vs_stream_filter){ ALL, 0, h.time_ns - 1 };
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
                ck_drain(s, r, "1:early\n|", "until");
                vs_service_streams_close(s, r);
                vs_stream_cursor_clear(&c);
                close(fd);
                vs_streamlog_clear(&l);
        }
        svc_close(s);
}
END_TEST

typedef struct {
        vs_service *s;
        vs_streams_reader *r;
        char *got;
} drain_arg;

static void *drain_thread(void *p)
{
        drain_arg *a = p;

        a->got = drain(a->s, a->r);
        return NULL;
}

static double wall(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Attach before start: the follow waits (sleeping) for the start, then
 * gets everything until the job ends. */
START_TEST(follow_from_before_start_to_end)
{
        vs_service *s = svc_open_with(0, 0);
        char id[13];
        drain_arg a = { s, NULL, NULL };
        pthread_t t;

        JOB(s, "f", id, "out:one\n", "block", "err:two\n", "exit:3");
        a.r = reader(s, id, ALL, true, -1);
        ck_assert_int_eq(pthread_create(&t, NULL, drain_thread, &a), 0);
        usleep(300000);
        start(s, id);
        fake_wait_blocked(1);
        usleep(100000);
        fake_release("f");
        pthread_join(t, NULL);
        ck_assert_str_eq(a.got, "1:one\n|2:two\n|");
        ck_assert_str_eq(vs_streams_end_name(vs_service_streams_end(a.r)), "finished");
        free(a.got);
        vs_service_streams_close(s, a.r);
        svc_close(s);
}
END_TEST

/* A follow of a job nobody starts sleeps (few wake-ups, no CPU) and ends
 * after follow_created_ms; "only new" skips what was there. */
START_TEST(follow_of_created_job_sleeps_then_ends)
{
        vs_service *s = svc_open_with(700, 0);
        char id[13];
        vs_streams_reader *r;
        double w0, c0;

        JOB(s, "idle", id, "out:x\n");
        r = reader(s, id, ALL, true, -1);
        w0 = wall();
        c0 = cpu();
        ck_drain(s, r, "", "not-started");
        ck_assert_msg(wall() - w0 >= 0.65 && wall() - w0 < 1.5, "ended after %.2f s", wall() - w0);
        ck_assert_msg(cpu() - c0 < 0.05, "%.3f s of CPU while sleeping", cpu() - c0);
        vs_service_streams_close(s, r);
        svc_close(s);
}
END_TEST

static int gone_calls;

static bool gone_after_two(void *u)
{
        (void)u;
        return ++gone_calls >= 2;
}

/* A reader that went away is noticed within two waits; deleting the job
 * ends a follow; follows are counted per job. */
START_TEST(follow_ends_when_gone_deleted_or_over_limit)
{
        vs_service *s = svc_open_with(0, 2);
        char id[13], idle[13];
        vs_streams_opts o = { .filter = { ALL, 0, 0 }, .follow = true, .tail = -1, .gone = gone_after_two };
        vs_streams_reader *r, *r2, *r3;
        vs_error err = { 0 };
        drain_arg a = { s, NULL, NULL };
        pthread_t t;
        double w0;

        JOB(s, "g", id, "out:a\n", "block");
        start(s, id);
        fake_wait_blocked(1);
        gone_calls = 0;
        ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
        w0 = wall();
        ck_drain(s, r, "1:a\n|", "gone");
        ck_assert_int_eq(gone_calls, 2);
        ck_assert_msg(wall() - w0 < 1.5, "%.2f s to notice", wall() - w0);
        /* two follows at once, the third is refused */
        r2 = reader(s, id, ALL, true, 0);
        ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r3, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_LIMIT);
        vs_service_streams_close(s, r);
        vs_service_streams_close(s, r2);
        /* a follow of a job that is deleted (never started: no cancel first) */
        JOB(s, "idle", idle, "out:x\n");
        r2 = reader(s, idle, ALL, true, -1);
        a.r = r2;
        ck_assert_int_eq(pthread_create(&t, NULL, drain_thread, &a), 0);
        usleep(200000);
        ck_assert_int_eq(vs_service_delete(s, "docker:a", idle, &err), 0);
        pthread_join(t, NULL);
        ck_assert_str_eq(a.got, "");
        ck_assert_str_eq(vs_streams_end_name(vs_service_streams_end(r2)), "deleted");
        free(a.got);
        vs_service_streams_close(s, r2);
        svc_close(s);
}
END_TEST

typedef struct {
        sjob *j;
        volatile bool stop;
} storm_arg;

/* Wakes the job's waiters every 50 ms with nothing new for them (as
 * broadcasts for other readers, state changes of others, do). */
static void *storm_thread(void *p)
{
        storm_arg *a = p;

        for (int i = 0; i < 100 && !a->stop; i++) {
                pthread_mutex_lock(&a->j->lock);
                pthread_cond_broadcast(&a->j->cond);
                pthread_mutex_unlock(&a->j->lock);
                usleep(50000);
        }
        return NULL;
}

/* Wake-ups that bring nothing do not put off the reader's look at its
 * client: each wait keeps its deadline (it was set anew on every wake-up,
 * and a reader that went away was noticed only once they stopped). */
START_TEST(follow_gone_noticed_under_wakeups)
{
        vs_service *s = svc_open_with(0, 2);
        char id[13];
        vs_streams_opts o = { .filter = { ALL, 0, 0 }, .follow = true, .tail = -1, .gone = gone_after_two };
        vs_streams_reader *r;
        vs_error err = { 0 };
        storm_arg a = { NULL, false };
        pthread_t t;
        double w0;

        JOB(s, "w", id, "out:a\n", "block");
        start(s, id);
        fake_wait_blocked(1);
        a.j = job_get(s, "docker:a", id, &err);
        ck_assert_ptr_nonnull(a.j);
        gone_calls = 0;
        ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), 0);
        ck_assert_int_eq(pthread_create(&t, NULL, storm_thread, &a), 0);
        w0 = wall();
        ck_drain(s, r, "1:a\n|", "gone");
        ck_assert_msg(wall() - w0 < 1.5, "%.2f s to notice", wall() - w0);
        ck_assert_int_eq(gone_calls, 2);
        a.stop = true;
        pthread_join(t, NULL);
        job_unref(a.j);
        vs_service_streams_close(s, r);
        svc_close(s);
}
END_TEST

/* A follow opened before the start reads every record even when the job
 * is removed right after it ended (AutoRemove) before the reader looked. */
START_TEST(follow_reads_all_of_a_removed_job)
{
        vs_service *s = svc_open_with(0, 0);
        char id[13];
        vs_streams_reader *r;
        vs_error err = { 0 };

        JOB(s, "rm", id, "out:one\n", "err:two\n", "rep:3:414243");
        r = reader(s, id, ALL, true, -1);
        start(s, id);
        wait_done(s, id);
        ck_assert_int_eq(vs_service_delete(s, "docker:a", id, &err), 0);
        ck_drain(s, r, "1:one\n|2:two\n|1:ABC|1:ABC|1:ABC|", "deleted");
        vs_service_streams_close(s, r);
        /* a reader opened after the removal finds nothing */
        {
                vs_streams_opts o = { .filter = { ALL, 0, 0 }, .tail = -1 };
                ck_assert_int_eq(vs_service_streams_open(s, "docker:a", id, &o, &r, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        }
        svc_close(s);
}
END_TEST

/* A damaged file ends the stream at the damage; a tail of it too. */
START_TEST(reader_of_corrupt_file)
{
        vs_service *s = svc_open_with(0, 0);
        char id[13], p[256];
        vs_streams_reader *r;
        int fd;

        JOB(s, "c", id, "out:good\n", "err:bad\n", "out:never\n");
        start(s, id);
        wait_done(s, id);
        snprintf(p, sizeof(p), "%s/server/jobs/%s/streams.log", dir, id);
        fd = open(p, O_RDWR);
        ck_assert_int_eq(pwrite(fd, "\x09", 1, 16 + 5 + 1), 1); /* the second header's padding */
        close(fd);
        r = reader(s, id, ALL, false, -1);
        ck_drain(s, r, "1:good\n|", "corrupt");
        vs_service_streams_close(s, r);
        /* truncated behind the service's back */
        ck_assert_int_eq(truncate(p, 10), 0);
        r = reader(s, id, ALL, true, -1);
        ck_drain(s, r, "", "corrupt");
        vs_service_streams_close(s, r);
        svc_close(s);
}
END_TEST

/* A job of a previous process: the tail indexes its file once. */
START_TEST(tail_after_restart)
{
        vs_service *s = svc_open_with(0, 0);
        char id[13];
        vs_streams_reader *r;

        JOB(s, "r", id, "rep:10000:6c696e650a", "err:last\n"); /* "line\n" x 10000: 4 index steps */
        start(s, id);
        wait_done(s, id);
        svc_close(s);
        s = svc_open_with(0, 0);
        r = reader(s, id, ALL, false, 2);
        ck_drain(s, r, "1:line\n|2:last\n|", "finished");
        vs_service_streams_close(s, r);
        r = reader(s, id, 1u << VS_STREAM_STDOUT, false, 1);
        ck_drain(s, r, "1:line\n|", "finished");
        vs_service_streams_close(s, r);
        svc_close(s);
}
END_TEST

Suite *suite_streams(void)
{
        Suite *s = suite_create("streams");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, header_bytes_exact);
        tcase_add_test(tc, header_rules);
        tcase_add_test(tc, cursor_reads_whole_records);
        tcase_add_test(tc, cursor_stops_at_damage);
        tcase_add_test(tc, writer_records_and_mode);
        tcase_add_test(tc, writer_limit_cuts);
        tcase_add_test(tc, index_of_writer_and_walk_agree);
        tcase_add_test(tc, index_walk_stops_at_corruption);
        tcase_add_test(tc, tail_small_cases_exact);
        tcase_add_test(tc, tail_matches_forward_count);
        tcase_add_test(tc, reader_of_finished_job);
        tcase_add_test(tc, reader_since_until);
        tcase_add_test(tc, follow_from_before_start_to_end);
        tcase_add_test(tc, follow_of_created_job_sleeps_then_ends);
        tcase_add_test(tc, follow_ends_when_gone_deleted_or_over_limit);
        tcase_add_test(tc, follow_gone_noticed_under_wakeups);
        tcase_add_test(tc, follow_reads_all_of_a_removed_job);
        tcase_add_test(tc, reader_of_corrupt_file);
        tcase_add_test(tc, tail_after_restart);
        suite_add_tcase(s, tc);
        return s;
}
