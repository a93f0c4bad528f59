/* A job's output by stream (streams.log, streamlog.h), as the Docker
 * socket's logs and attach read it: whole records, filtered by stream and
 * time, from the start, from the last lines or from now on, followed or
 * not.  The job API's output.log and its readers (service.h) are apart. */
#ifndef VS_SERVICE_STREAMS_H
#define VS_SERVICE_STREAMS_H

#include "service.h"
#include "streamlog.h"

typedef enum {
        VS_STREAMS_END_NONE,        /* not ended yet */
        VS_STREAMS_END_READ,        /* not following: all there was is read */
        VS_STREAMS_END_FINISHED,    /* the job finished and all it wrote is read */
        VS_STREAMS_END_DELETED,     /* the job was deleted */
        VS_STREAMS_END_STOPPING,    /* the service stops and the job does not run */
        VS_STREAMS_END_NOT_STARTED, /* followed a job that stayed created for follow_created_ms */
        VS_STREAMS_END_UNTIL,       /* a record, or the clock, went past until */
        VS_STREAMS_END_CORRUPT,     /* a corrupt or truncated record: nothing after it is read */
        VS_STREAMS_END_GONE,        /* the reader went away (opts.gone) */
        VS_STREAMS_END_LAST
} vs_streams_end;

typedef struct {
        vs_stream_filter filter;    /* streams (at least one), since_ns, until_ns */
        bool follow;                /* wait for more until the job ends */
        bool only_new;              /* start at the end: what comes from now on */
        long long tail;             /* >= 0: start at the last tail lines (of what filter matches); < 0: all */
        /* Asked at least every VS_FOLLOW_WAIT_MS while a follow waits or
         * skips records: true ends the reader (GONE).  May be NULL. */
        bool (*gone)(void *userdata);
        void *userdata;
} vs_streams_opts;

typedef struct {
        unsigned stream;            /* VS_STREAM_STDOUT or VS_STREAM_STDERR */
        int64_t time_ns;            /* when the record was written */
        const unsigned char *data;  /* valid until the next call */
        size_t len;                 /* >= 1 */
} vs_streams_chunk;

typedef struct vs_streams_reader vs_streams_reader;

/* Opens id for owner.  A follow counts against job_follows and
 * owner_follows (LIMIT beyond), as a log follow does; it ends when the job
 * ends, is deleted, or the service stops before the job ran, and when the
 * job stays created for follow_created_ms (attach before start waits for
 * the start that long).  tail reads from the end of the file: bounded by
 * tail, not by the file's size (a file of a previous process is walked
 * once to index it).  The reader opens the file at once (making it, empty,
 * when the job has not written yet) and keeps it: a job removed right after
 * it ended is still read to its end (then DELETED). */
int vs_service_streams_open(vs_service *s, const char *owner, const char *id, const vs_streams_opts *o,
                            vs_streams_reader **ret, vs_error *err);
/* 1 and the next record the filter matches (the first one after a tail
 * may begin inside a record: its lines only); sleeps while a follow has
 * nothing new.  0 at the end (vs_service_streams_end says which). */
int vs_service_streams_next(vs_service *s, vs_streams_reader *r, vs_streams_chunk *ret);
vs_streams_end vs_service_streams_end(const vs_streams_reader *r);
/* The streams (mask of 1 << VS_STREAM_*) that lost output at the size
 * limit, as known when the reader last looked. */
unsigned vs_service_streams_cut(const vs_streams_reader *r);
void vs_service_streams_close(vs_service *s, vs_streams_reader *r);

const char *vs_streams_end_name(vs_streams_end e);

#endif
