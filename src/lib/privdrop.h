/* Least privilege for the libguestfs work (prepare, collect): it runs in a
 * forked child that drops to a uid of its own for the phase, so that the
 * appliance's qemu, which parses what a guest wrote, is not root.
 *
 * Identities come from a reserved range (VS_UID_BASE .. + VS_UID_COUNT - 1,
 * no passwd entries); a slot is held with an flock on
 * VS_UID_LOCK_DIR/<uid>.lock, so concurrent jobs, in one process or in
 * several, never share a uid: a compromised appliance cannot signal, ptrace
 * or read another job's.  Before a slot is used and when it is given back,
 * every process still running as that uid is killed (kill(-1) from a
 * process of that uid), whatever process group or session it moved to.
 *
 * When vmsandbox is not root (a plain user's `vmsandbox run`) there is
 * nothing to drop: the child runs as the caller, with the same fd and
 * signal hygiene and the same deadline.
 *
 * The parent talks to the child over a socketpair of frames (type byte,
 * 4-byte big-endian length, payload of at most VS_CHAN_MAX): every read waits
 * with the phase's deadline and its cancel check, and a frame that
 * announces more is an error.  The child is at most as trusted as the guest
 * disk it reads. */
#ifndef VS_PRIVDROP_H
#define VS_PRIVDROP_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VS_UID_BASE 2100000000u
#define VS_UID_COUNT 256u
#define VS_UID_LOCK_DIR "/run/vmsandbox-uids"
#define VS_CHAN_MAX (64u << 10)
#define VS_CHILD_NPROC 256u  /* RLIMIT_NPROC of a dropped child (processes and threads) */
#define VS_CHILD_NOFILE 4096u

/* The phase's bound: the whole-job deadline and the caller's cancel. */
typedef struct {
        uint64_t deadline_ms;             /* vs_mono_ms(); 0: none */
        bool (*cancelled)(void *userdata);
        void *userdata;
} vs_bound;

typedef struct {
        bool drop;          /* false: not root, nothing to drop */
        uid_t uid;
        gid_t gid;
        int lock_fd;        /* holds the slot; -1 when !drop */
} vs_identity;

/* Refuses (VS_ERR_SETUP) a subordinate id file (/etc/subuid, /etc/subgid)
 * whose entries overlap the range; a missing file is fine. */
int vs_identity_check_subids(const char *path, vs_error *err);
/* Takes a free uid of the range (or, not root, none: drop = false). */
int vs_identity_acquire(vs_identity *ret, vs_error *err);
/* Kills whatever still runs as the uid and frees the slot; safe twice.
 * -1: something of the uid survived the sweep, and the slot is quarantined
 * (its lock is kept for the life of the process, never handed out again). */
int vs_identity_release(vs_identity *id);
/* Kills every process running as uid (not root's, never uid 0), with a
 * bounded number of rounds and a bounded wait for each sweeper; 0 when
 * /proc then shows no live process of the uid, else -1. */
int vs_identity_sweep(uid_t uid);

/* Removes what the uid owns at the top of /tmp, /var/tmp and /dev/shm (a
 * directory with all below it, without following a link); called by
 * acquire and release once the sweep found nothing of the uid running, so
 * nothing of a phase outlives it there.  -1: something could not be removed
 * or a directory was too large to list whole. */
int vs_identity_scrub(uid_t uid);
int vs_identity_scrub_dirs(uid_t uid, const char *const *dirs);

/* Makes an open file usable by the identity through its group only
 * (root:gid, mode) — or leaves it alone when nothing is dropped.
 * vs_identity_unshare_fd gives it back (root:root 0600). */
int vs_identity_share_fd(const vs_identity *id, int fd, mode_t mode, vs_error *err);
int vs_identity_unshare_fd(const vs_identity *id, int fd, vs_error *err);
/* Creates dir_fd/name as a private directory of the identity (0700) and
 * returns its fd; the parent removes it with vs_rm_rf_at. */
int vs_identity_mkdir(const vs_identity *id, int dir_fd, const char *name, vs_error *err);

typedef int (*vs_child_fn)(void *arg, int chan);

typedef struct {
        const vs_identity *id;
        const vs_bound *bound;          /* may be NULL */
        const int *keep_fds;            /* inherited fds the child keeps */
        size_t n_keep;
        const gid_t *extra_groups;      /* supplementary groups after the drop (e.g. kvm) */
        size_t n_extra;
} vs_child_opts;

typedef struct {
        pid_t pid;
        int pidfd, chan;
        const vs_identity *id;
        const vs_bound *bound;
        bool ns;            /* init of a PID namespace, under an intermediate */
        bool survivors;     /* the sweep after it failed */
        bool timed_out, cancelled, ended;
        int status;
} vs_child;

/* Forks.  The child: own process group, default signals (SIGPIPE ignored),
 * stdin/stdout/stderr on /dev/null, every other fd closed but keep_fds and
 * its end of the channel, parent-death signal SIGKILL; then
 * setgroups/setgid/setuid to the identity (each checked, and that root
 * cannot be regained), PR_SET_NO_NEW_PRIVS; then fn(arg, chan), and _exit
 * with 0 when fn returned 0, else 1.  Nothing but fn runs after the drop. */
int vs_child_start(vs_child *c, const vs_child_opts *o, vs_child_fn fn, void *arg, vs_error *err);

/* The helper program that the dropped child executes (vmsandbox-appliance,
 * helper.h): right after the drop, so that it starts with a fresh address
 * space, holding nothing of the parent's memory (in serve: the admin token,
 * client token hashes, every job's record), only the channel and the kept
 * fds, whose numbers its argv names, and envp. */
#define VS_HELPER_NAME "vmsandbox-appliance"
typedef struct {
        int fd;             /* the helper, from vs_helper_open */
        char **argv;        /* argv[0] first; "--chan N" is appended */
        char **envp;
} vs_exec;

/* Opens the helper (O_PATH): the path given to vs_helper_set_path (tests:
 * the build directory's), else VS_HELPER_NAME next to the running binary
 * (/proc/self/exe: a build directory), else in VS_LIBEXECDIR (an install);
 * never through PATH.  As root it must be root's and writable by root
 * only.  Returns the fd; *ret_path (may be NULL) gets its path. */
int vs_helper_open(char **ret_path, vs_error *err);
void vs_helper_set_path(const char *path);

/* vs_child_start, but the child executes x after the drop (its fds lose
 * FD_CLOEXEC; a failed exec is an error of vs_child_end). */
int vs_child_exec(vs_child *c, const vs_child_opts *o, const vs_exec *x, vs_error *err);

/* One frame from the child: waits within the bound.  *ret_len <= max; a
 * frame over max (or over VS_CHAN_MAX), EOF or the bound is an error
 * (VS_ERR_TIMEOUT, VS_ERR_CANCELLED or VS_ERR_SANDBOX). */
int vs_child_recv(vs_child *c, char *ret_type, void *buf, size_t max, size_t *ret_len, vs_error *err);
int vs_child_send(vs_child *c, char type, const void *data, size_t len, vs_error *err);

/* Waits for the child's exit within the bound (killing it past the bound);
 * 0 when it exited 0.  Always ends the child: its process group and, with
 * a drop, everything running as its uid. */
int vs_child_end(vs_child *c, vs_error *err);
/* Kills and reaps the child now (no error); safe on a child already ended. */
void vs_child_kill(vs_child *c);

/* Child side, blocking: a whole frame out; one frame in (-1 on EOF or a
 * frame over max). */
int vs_chan_write(int fd, char type, const void *data, size_t len);
int vs_chan_read(int fd, char *ret_type, void *buf, size_t max, size_t *ret_len);

/* The child's error, as a frame 'X': kind byte and message.  The parent maps
 * it back with vs_child_error (kind range-checked, text made printable and
 * capped). */
void vs_chan_write_error(int fd, const vs_error *e);
int vs_child_error(const void *data, size_t len, vs_error *err);

#endif
