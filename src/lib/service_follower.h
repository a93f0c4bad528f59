/* Private to service*.c: the follower core that the job API's log follow
 * (output.log, service_follow.c) and the Docker socket's streams
 * (streams.log, service_streams.c) share.  A follower holds a reference to
 * its job and, when it follows, counts against job_follows and
 * owner_follows.  It sleeps on the job's condition variable (output, state
 * changes, removal and shutdown broadcast it), never longer than
 * VS_FOLLOW_WAIT_MS at a time, and ends when the job ends, is deleted, the
 * service stops before the job ran, the job stays created past
 * follow_created_ms, the clock passes until_ns, or the reader went away. */
#ifndef VS_SERVICE_FOLLOWER_H
#define VS_SERVICE_FOLLOWER_H

#include "service_int.h"

#include <time.h>

typedef enum {
        SVC_FOLLOW_MORE,        /* there are bytes past the reader's offset */
        SVC_FOLLOW_WAITED,      /* VS_FOLLOW_WAIT_MS passed with nothing new (only without a gone hook) */
        SVC_FOLLOW_READ,        /* not a follow: all there was is read */
        SVC_FOLLOW_FINISHED,    /* the job finished and all it wrote is read */
        SVC_FOLLOW_DELETED,     /* the job was deleted */
        SVC_FOLLOW_STOPPING,    /* the service stops and the job does not run */
        SVC_FOLLOW_NOT_STARTED, /* a follow of a job that stayed created until created_until_ms */
        SVC_FOLLOW_UNTIL,       /* the clock went past until_ns */
        SVC_FOLLOW_GONE,        /* the gone hook said the reader went away */
} svc_follow_state;

typedef struct {
        sjob *j;                   /* a reference */
        sowner *acct;              /* a follow's account (counted); NULL otherwise */
        bool follow;               /* wait for more until the job ends */
        /* The reader keeps the file open: what was written before a removal
         * is still read (else a removal ends the reader at once). */
        bool reads_after_removal;
        uint64_t created_until_ms; /* monotonic: a follow of a job still created then ends; 0: never */
        int64_t until_ns;          /* wall clock (vs_stream_now_ns): a follow ends past it; 0: never */
        /* Asked after every VS_FOLLOW_WAIT_MS of waiting (and by
         * svc_follower_gone); true ends the reader.  NULL: the wait
         * returns SVC_FOLLOW_WAITED instead, for the caller to look. */
        bool (*gone)(void *userdata);
        void *userdata;
        uint64_t gone_checked_ms;  /* monotonic: when gone was last asked */
} svc_follower;

/* ts = the realtime clock + ms (pthread_cond_timedwait's deadline). */
void svc_deadline_in(struct timespec *ts, uint64_t ms);

/* Finds id for owner and takes a reference; a follow is counted (LIMIT
 * beyond job_follows or owner_follows) and gets its created_until_ms.
 * The other fields are zero. */
int svc_follower_open(vs_service *s, const char *owner, const char *id, bool follow, svc_follower *f,
                      vs_error *err);
void svc_follower_close(vs_service *s, svc_follower *f);

/* Asks f->gone, at most every VS_FOLLOW_WAIT_MS unless now (it may poll a
 * socket).  False without a hook. */
bool svc_follower_gone(svc_follower *f, bool now);

/* Under f->j->lock (released only while it sleeps and while it asks the
 * gone hook): waits until *size (a size the writer commits under the lock)
 * passes offset or the follower ends. */
svc_follow_state svc_follower_wait_locked(vs_service *s, svc_follower *f, const uint64_t *size, uint64_t offset);

#endif
