#include "privdrop.h"
#include "cleanup.h"
#include "alloc.h"
#include "fsutil.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sched.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100
#define SWEEP_ROUNDS 50
#define SWEEPER_MS 1000
#define END_MS 5000
#define CHILD_MSG_MAX 400
#define SCRUB_MAX 100000

/* Exit codes of a child that could not set itself up (fn never ran). */
enum { EXIT_EXEC = 124, EXIT_SETUP = 125, EXIT_DROP = 126, EXIT_NNP = 127 };

/* ---- identities -------------------------------------------------------- */

static bool name_exists(uid_t uid)
{
        char buf[16384];
        struct passwd pw, *pwr = NULL;
        struct group gr, *grr = NULL;

        /* A uid or gid of the range that has an entry is someone's: skipped. */
        getpwuid_r(uid, &pw, buf, sizeof(buf), &pwr);
        if (pwr)
                return true;
        getgrgid_r((gid_t)uid, &gr, buf, sizeof(buf), &grr);
        return grr != NULL;
}

/* A live (not zombie) process whose real, effective or saved uid is uid. */
static bool uid_has_processes(uid_t uid)
{
        _cleanup_closedir_ DIR *d = opendir("/proc");
        struct dirent *e;

        if (!d)
                return true; /* cannot tell: sweep */
        while ((e = readdir(d))) {
                char path[300], line[256];
                _cleanup_fclose_ FILE *f = NULL;
                unsigned r, ef, s;
                bool zombie = false, match = false;

                if (e->d_name[0] < '1' || e->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        if (strncmp(line, "State:", 6) == 0)
                                zombie = strchr(line, 'Z') != NULL || strchr(line, 'X') != NULL;
                        else if (sscanf(line, "Uid: %u %u %u", &r, &ef, &s) == 3)
                                match = r == uid || ef == uid || s == uid;
                }
                if (match && !zombie)
                        return true;
        }
        return false;
}

static void wait_pid(pid_t pid, int *ret_status)
{
        int status = 0;

        /* pid > 0: a child of ours, from a successful fork, known to have
         * exited (waitid said so) or not signalable by anyone but root. */
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = -1;
                        break;
                }
        if (ret_status)
                *ret_status = status;
}

static void nap_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

        nanosleep(&ts, NULL);
}

/* Reaps pid within ms; a stopped or late pid gets SIGKILL (once) and the
 * rest of the time.  0: reaped; -1: still there (left unreaped). */
static int reap_within(pid_t pid, long ms, int *ret_status)
{
        uint64_t end = vs_mono_ms() + (uint64_t)ms;
        bool killed = false;

        for (;;) {
                int status;
                pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);

                if (r == pid && !WIFSTOPPED(status)) {
                        if (ret_status)
                                *ret_status = status;
                        return 0;
                }
                if (r < 0 && errno != EINTR)
                        return errno == ECHILD ? 0 : -1;
                if ((r == pid || vs_mono_ms() >= end) && !killed) {
                        /* Stopped (a process of the uid can signal a sweeper
                         * of that uid) or late: it goes, the round is redone. */
                        kill(pid, SIGKILL);
                        killed = true;
                        end = vs_mono_ms() + (uint64_t)ms;
                } else if (vs_mono_ms() >= end)
                        return -1;
                nap_ms(2);
        }
}

/* kill(-1) from a process of uid reaches every process of that uid, in any
 * process group or session (and not the sender itself); a process that
 * forks while being killed is caught by the next round.  Every wait is
 * bounded, and the answer is what /proc says at the end. */
int vs_identity_sweep(uid_t uid)
{
        if (uid == 0 || geteuid() != 0)
                return 0;
        for (int round = 0; round < SWEEP_ROUNDS; round++) {
                pid_t pid;

                if (!uid_has_processes(uid))
                        return 0;
                if (round > 0)
                        nap_ms(10);
                pid = fork();
                if (pid < 0)
                        continue; /* e.g. the task limit: the next round may fork */
                if (pid == 0) {
                        /* Only async-signal-safe calls: the parent may have
                         * threads.  No fd of the parent (other jobs' slot
                         * locks) goes along into a process the uid can stop. */
                        if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
                                for (int fd = 3; fd < 65536; fd++)
                                        close(fd);
                        if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0)
                                _exit(1);
                        for (int i = 0; i < 10 && kill(-1, SIGKILL) == 0; i++)
                                ;
                        _exit(0);
                }
                reap_within(pid, SWEEPER_MS, NULL);
        }
        return uid_has_processes(uid) ? -1 : 0;
}

/* World-writable directories where a uid without a home can leave files
 * (sticky: only it, or root, can remove them). */
static const char *const scrub_dirs[] = { "/tmp", "/var/tmp", "/dev/shm", NULL };

int vs_identity_scrub_dirs(uid_t uid, const char *const *dirs)
{
        int r = 0;

        if (uid == 0)
                return -1;
        for (size_t d = 0; dirs[d]; d++) {
                _cleanup_close_ int fd = open(dirs[d], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_closedir_ DIR *dir = NULL;
                _cleanup_free_ char *names = NULL;
                size_t used = 0, cap = 0;
                struct dirent *e;
                int lfd;

                if (fd < 0)
                        continue; /* no such directory here */
                /* A listing of its own (not the fd: unlinkat uses that). */
                lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                dir = lfd >= 0 ? fdopendir(lfd) : NULL;
                if (!dir) {
                        vs_safe_close(lfd);
                        r = -1;
                        continue;
                }
                /* Names first, removal after: the listing is not changed under
                 * readdir.  Bounded: a directory of more entries is scanned in
                 * its first SCRUB_MAX only (and the answer is -1). */
                for (size_t n = 0; (e = readdir(dir)); n++) {
                        struct stat st;
                        size_t len = strlen(e->d_name) + 1;

                        if (n >= SCRUB_MAX) {
                                r = -1;
                                break;
                        }
                        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                                continue;
                        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != uid)
                                continue;
                        if (used + len > cap) {
                                cap = cap ? 2 * cap + len : 4096 + len;
                                names = vs_xrealloc(names, cap);
                        }
                        memcpy(names + used, e->d_name, len);
                        used += len;
                }
                for (size_t off = 0; off < used; off += strlen(names + off) + 1)
                        if (vs_rm_rf_at(fd, names + off) < 0)
                                r = -1;
        }
        return r;
}

int vs_identity_scrub(uid_t uid)
{
        return vs_identity_scrub_dirs(uid, scrub_dirs);
}

int vs_identity_check_subids(const char *path, vs_error *err)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[512];

        if (!f)
                return errno == ENOENT ? 0 : vs_error_errno(err, VS_ERR_SETUP, errno, "cannot read %s", path);
        for (int n = 0; n < 100000 && fgets(line, sizeof(line), f); n++) {
                char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *end;
                unsigned long long start, count;

                if (!c2)
                        continue;
                errno = 0;
                start = strtoull(c1 + 1, &end, 10);
                if (errno || end != c2)
                        continue;
                count = strtoull(c2 + 1, &end, 10);
                if (errno)
                        continue;
                /* [start, start + count) against the range. */
                if (count > 0 && start < (unsigned long long)VS_UID_BASE + VS_UID_COUNT &&
                    start + count > (unsigned long long)VS_UID_BASE)
                        return vs_error_set(err, VS_ERR_SETUP,
                                            "%s gives ids %llu-%llu, which overlap vmsandbox's range %u-%u: move them",
                                            path, start, start + count - 1, VS_UID_BASE, VS_UID_BASE + VS_UID_COUNT - 1);
        }
        return 0;
}

int vs_identity_acquire(vs_identity *ret, vs_error *err)
{
        _cleanup_close_ int dir = -1;
        struct stat st;
        unsigned start;

        if (geteuid() != 0) {
                *ret = (vs_identity){ .drop = false, .uid = getuid(), .gid = getgid(), .lock_fd = -1 };
                return 0;
        }
        if (mkdir(VS_UID_LOCK_DIR, 0700) < 0 && errno != EEXIST)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot create %s", VS_UID_LOCK_DIR);
        dir = open(VS_UID_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0 || fstat(dir, &st) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot open %s", VS_UID_LOCK_DIR);
        /* Whoever can write here could hand two jobs one uid. */
        if (st.st_uid != 0 || (st.st_mode & 022))
                return vs_error_set(err, VS_ERR_SETUP, "%s must be owned by root and not writable by others",
                                    VS_UID_LOCK_DIR);
        /* A user namespace of someone's could map these ids: theirs then. */
        if (vs_identity_check_subids("/etc/subuid", err) < 0 || vs_identity_check_subids("/etc/subgid", err) < 0)
                return -1;
        start = (unsigned)getpid() + (unsigned)vs_mono_ms();
        for (unsigned i = 0; i < VS_UID_COUNT; i++) {
                uid_t uid = VS_UID_BASE + (start + i) % VS_UID_COUNT;
                char name[32];
                int fd;

                if (name_exists(uid))
                        continue;
                snprintf(name, sizeof(name), "%u.lock", (unsigned)uid);
                fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot open %s/%s", VS_UID_LOCK_DIR, name);
                /* flock: per open file description, so two jobs of one
                 * process exclude each other too. */
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        close(fd);
                        continue;
                }
                /* Whatever a previous holder that died left running goes;
                 * what cannot be made to go keeps the slot (quarantined). */
                if (vs_identity_sweep(uid) < 0)
                        continue;
                vs_identity_scrub(uid);
                *ret = (vs_identity){ .drop = true, .uid = uid, .gid = (gid_t)uid, .lock_fd = fd };
                return 0;
        }
        return vs_error_set(err, VS_ERR_SANDBOX, "all %u uids of vmsandbox's range %u-%u are in use", VS_UID_COUNT,
                            VS_UID_BASE, VS_UID_BASE + VS_UID_COUNT - 1);
}

int vs_identity_release(vs_identity *id)
{
        int r = 0;

        if (id->drop && id->lock_fd >= 0) {
                if (vs_identity_sweep(id->uid) < 0) {
                        /* Something of the uid survived: the slot is never
                         * handed out again by this process (the lock is
                         * kept), and another process sweeps before use. */
                        r = -1;
                } else {
                        /* Nothing of the uid runs any more: what it left in
                         * /tmp, /var/tmp and /dev/shm (libguestfs' or a
                         * subverted child's files) goes before the slot is
                         * free for the next phase. */
                        vs_identity_scrub(id->uid);
                        close(id->lock_fd);
                }
        }
        id->lock_fd = -1;
        id->drop = false;
        return r;
}

int vs_identity_share_fd(const vs_identity *id, int fd, mode_t mode, vs_error *err)
{
        if (!id->drop)
                return 0;
        if (fchown(fd, 0, id->gid) < 0 || fchmod(fd, mode) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot share a job file with uid %u",
                                      (unsigned)id->uid);
        return 0;
}

int vs_identity_unshare_fd(const vs_identity *id, int fd, vs_error *err)
{
        if (!id->drop)
                return 0;
        if (fchmod(fd, 0600) < 0 || fchown(fd, 0, 0) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot take a job file back from uid %u",
                                      (unsigned)id->uid);
        return 0;
}

int vs_identity_mkdir(const vs_identity *id, int dir_fd, const char *name, vs_error *err)
{
        int fd;

        if (mkdirat(dir_fd, name, 0700) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", name);
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || (id->drop && fchown(fd, id->uid, id->gid) < 0)) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                unlinkat(dir_fd, name, AT_REMOVEDIR);
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot set up %s", name);
        }
        return fd;
}

/* ---- frames ------------------------------------------------------------ */

static int write_all(int fd, const void *data, size_t len)
{
        const char *p = data;

        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int read_all(int fd, void *data, size_t len)
{
        char *p = data;

        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static void put_header(unsigned char h[5], char type, size_t len)
{
        h[0] = (unsigned char)type;
        h[1] = (unsigned char)(len >> 24);
        h[2] = (unsigned char)(len >> 16);
        h[3] = (unsigned char)(len >> 8);
        h[4] = (unsigned char)len;
}

static size_t get_len(const unsigned char h[5])
{
        return (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | (size_t)h[4];
}

int vs_chan_write(int fd, char type, const void *data, size_t len)
{
        unsigned char h[5];

        if (len > VS_CHAN_MAX)
                return -1;
        put_header(h, type, len);
        return write_all(fd, h, sizeof(h)) < 0 || write_all(fd, data, len) < 0 ? -1 : 0;
}

int vs_chan_read(int fd, char *ret_type, void *buf, size_t max, size_t *ret_len)
{
        unsigned char h[5];
        size_t len;

        if (read_all(fd, h, sizeof(h)) < 0)
                return -1;
        len = get_len(h);
        if (len > max || len > VS_CHAN_MAX || read_all(fd, buf, len) < 0)
                return -1;
        *ret_type = (char)h[0];
        *ret_len = len;
        return 0;
}

void vs_chan_write_error(int fd, const vs_error *e)
{
        char buf[1 + sizeof(e->msg)];
        size_t n = strnlen(e->msg, sizeof(e->msg));

        buf[0] = (char)e->kind;
        memcpy(buf + 1, e->msg, n);
        vs_chan_write(fd, 'X', buf, n + 1);
}

int vs_child_error(const void *data, size_t len, vs_error *err)
{
        const unsigned char *d = data;
        vs_error_kind kind = len > 0 ? (vs_error_kind)d[0] : VS_ERR_SANDBOX;
        _cleanup_free_ char *text = NULL;

        /* Only the kinds a child has reason to report; anything else is a
         * sandbox failure. */
        if (kind != VS_ERR_INPUT && kind != VS_ERR_SETUP)
                kind = VS_ERR_SANDBOX;
        text = vs_text_for_terminal(len > 0 ? (const char *)d + 1 : "", len > 0 ? len - 1 : 0, CHILD_MSG_MAX, NULL);
        for (char *p = text; *p; p++)
                if (*p == '\n' || *p == '\t')
                        *p = ' ';
        return vs_error_set(err, kind, "%s", *text ? text : "the appliance child failed");
}

/* ---- the child --------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;

        return (x > y) - (x < y);
}

static void close_from(int lo, int hi)
{
        if (lo > hi)
                return;
        if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0) == 0)
                return;
        for (int fd = lo; fd <= hi && fd < 65536; fd++)
                close(fd);
}

/* Every fd but 0-2 and keep[0..n) (sorted, all > 2) is closed. */
static void close_others(int *keep, size_t n)
{
        int next = 3;

        qsort(keep, n, sizeof(int), cmp_int);
        for (size_t i = 0; i < n; i++) {
                close_from(next, keep[i] - 1);
                next = keep[i] + 1;
        }
        close_from(next, ~0U >> 1);
}

static void reset_signals(void)
{
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        for (int sig = 1; sig < NSIG; sig++)
                sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP and the reserved ones refuse: fine */
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
}

static int drop_to(const vs_identity *id, const gid_t *groups, size_t n)
{
        if (!id->drop)
                return 0;
        if (setgroups(n, groups) < 0 || setgid(id->gid) < 0 || setuid(id->uid) < 0)
                return -1;
        /* Paranoia: all of real, effective and saved are the new ids, and
         * root cannot be had back. */
        if (getuid() != id->uid || geteuid() != id->uid || getgid() != id->gid || getegid() != id->gid)
                return -1;
        if (setuid(0) == 0 || setgid(0) == 0)
                return -1;
        return 0;
}

/* The child's environment: only what libguestfs needs, pointing into the
 * inherited strings (no allocation after fork).  Not the caller's secrets,
 * which qemu would otherwise inherit too. */
static void minimal_env(bool drop)
{
        extern char **environ;
        static char *env[40];
        static char fixed_path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        size_t n = 0;

        if (drop)
                env[n++] = fixed_path;
        for (char **e = environ; e && *e && n + 1 < sizeof(env) / sizeof(env[0]); e++)
                if (strncmp(*e, "LIBGUESTFS_", 11) == 0 || (!drop && strncmp(*e, "PATH=", 5) == 0))
                        env[n++] = *e;
        env[n] = NULL;
        environ = env;
}

/* Caps for the dropped uid (counted over the uid, which is the phase's
 * alone): a fork bomb ends at NPROC processes and threads. */
static int set_limits(void)
{
        struct rlimit nproc = { VS_CHILD_NPROC, VS_CHILD_NPROC }, nofile;

        if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
                return -1;
        if (nofile.rlim_max == RLIM_INFINITY || nofile.rlim_max > VS_CHILD_NOFILE)
                nofile.rlim_max = VS_CHILD_NOFILE;
        if (nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > nofile.rlim_max)
                nofile.rlim_cur = nofile.rlim_max;
        return setrlimit(RLIMIT_NPROC, &nproc) < 0 || setrlimit(RLIMIT_NOFILE, &nofile) < 0 ? -1 : 0;
}

/* alive_fd >= 0: the read end of a pipe whose write end only the child's
 * parent (the namespace's intermediate) holds; else parent is checked. */
static _Noreturn void child_main(const vs_child_opts *o, int chan, pid_t parent, int alive_fd, vs_child_fn fn, void *arg,
                                  const vs_exec *x)
{
        int keep[64];
        size_t n = 0;
        int null;

        if (setpgid(0, 0) < 0)
                _exit(EXIT_SETUP);
        reset_signals();
        if (o->n_keep + 3 > sizeof(keep) / sizeof(keep[0]) || chan <= 2)
                _exit(EXIT_SETUP);
        keep[n++] = chan;
        if (alive_fd >= 0)
                keep[n++] = alive_fd;
        if (x && x->fd > 2)
                keep[n++] = x->fd; /* O_CLOEXEC: gone at the exec */
        for (size_t i = 0; i < o->n_keep; i++) {
                if (o->keep_fds[i] <= 2)
                        _exit(EXIT_SETUP);
                keep[n++] = o->keep_fds[i];
        }
        /* Nothing the child or qemu prints reaches the caller's terminal. */
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                _exit(EXIT_SETUP);
        close_others(keep, n);
        if (chdir("/") < 0)
                _exit(EXIT_SETUP);
        if (!x)
                minimal_env(o->id->drop);
        if (o->id->drop && set_limits() < 0)
                _exit(EXIT_SETUP);
        if (drop_to(o->id, o->extra_groups, o->n_extra) < 0)
                _exit(EXIT_DROP);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(EXIT_NNP);
        /* After the drop: a change of credentials clears the setting.  A
         * parent that died before this line is seen by getppid (or, in a
         * namespace, where the parent has no pid, by the pipe's EOF). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                _exit(EXIT_SETUP);
        if (alive_fd >= 0) {
                struct pollfd p = { .fd = alive_fd, .events = POLLIN };
                if (poll(&p, 1, 0) != 0)
                        _exit(EXIT_SETUP);
                close(alive_fd);
        } else if (getppid() != parent)
                _exit(EXIT_SETUP);
        if (x) {
                /* A fresh address space: nothing of the parent's memory (in
                 * serve: the admin token, client token hashes, every job's
                 * record and env values) survives into the process that the
                 * appliance may subvert; only the channel and the kept fds
                 * (their numbers are in argv) go along, and x->envp. */
                if (fcntl(chan, F_SETFD, 0) < 0)
                        _exit(EXIT_EXEC);
                for (size_t i = 0; i < o->n_keep; i++)
                        if (fcntl(o->keep_fds[i], F_SETFD, 0) < 0)
                                _exit(EXIT_EXEC);
                syscall(SYS_execveat, x->fd, "", x->argv, x->envp, AT_EMPTY_PATH);
                _exit(EXIT_EXEC);
        }
        _exit(fn(arg, chan) == 0 ? 0 : 1);
}

static volatile sig_atomic_t init_pid;

static void on_term(int sig)
{
        (void)sig;
        if (init_pid > 0)
                kill((pid_t)init_pid, SIGKILL);
        else
                init_pid = -1; /* before the fork: none is made */
}

/* As root: the child is the init of a new PID (and IPC) namespace, forked
 * by this intermediate, which stays root (no process of the uid can stop or
 * kill it), holds no fd of the parent, and ends with the child: when the
 * init dies the kernel kills every process of the namespace and waits for
 * them, so nothing of the phase (setsid or not) outlives the wait below.
 * SIGTERM from the parent kills the init; the intermediate's exit mirrors
 * the init's.  Entered with every signal blocked. */
static _Noreturn void intermediate_main(const vs_child_opts *o, int chan, pid_t parent, vs_child_fn fn, void *arg,
                                         const vs_exec *x)
{
        struct sigaction sa = { .sa_handler = SIG_DFL };
        int keep[64], alive[2], status;
        size_t n = 0;
        pid_t pid;
        sigset_t none;

        if (setpgid(0, 0) < 0)
                _exit(EXIT_SETUP);
        for (int sig = 1; sig < NSIG; sig++)
                sigaction(sig, &sa, NULL);
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
                _exit(EXIT_SETUP);
        if (o->n_keep + 2 > sizeof(keep) / sizeof(keep[0]) || chan <= 2)
                _exit(EXIT_SETUP);
        keep[n++] = chan;
        if (x && x->fd > 2)
                keep[n++] = x->fd;
        for (size_t i = 0; i < o->n_keep; i++) {
                if (o->keep_fds[i] <= 2)
                        _exit(EXIT_SETUP);
                keep[n++] = o->keep_fds[i];
        }
        close_others(keep, n); /* other jobs' slot locks go now */
        if (pipe2(alive, O_CLOEXEC) < 0 || alive[0] <= 2 || alive[1] <= 2)
                _exit(EXIT_SETUP);
        if (unshare(CLONE_NEWPID | CLONE_NEWIPC) < 0)
                _exit(EXIT_SETUP);
        pid = fork();
        if (pid < 0)
                _exit(EXIT_SETUP);
        if (pid == 0) {
                close(alive[1]);
                child_main(o, chan, 0, alive[0], fn, arg, x);
        }
        if (init_pid < 0)
                kill(pid, SIGKILL); /* SIGTERM came before the fork */
        init_pid = pid;
        close_others(&alive[1], 1);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        _exit(EXIT_SETUP);
        if (WIFEXITED(status))
                _exit(WEXITSTATUS(status));
        if (WIFSIGNALED(status)) {
                sa.sa_handler = SIG_DFL;
                sigaction(WTERMSIG(status), &sa, NULL);
                kill(getpid(), WTERMSIG(status));
        }
        _exit(EXIT_SETUP);
}

static int child_start(vs_child *c, const vs_child_opts *o, vs_child_fn fn, void *arg, const vs_exec *x,
                       char chan_arg[16], vs_error *err)
{
        pid_t parent = getpid();
        bool ns = o->id->drop;
        sigset_t all, old;
        int sv[2];
        pid_t pid;

        *c = (vs_child){ .pid = -1, .pidfd = -1, .chan = -1, .id = o->id, .bound = o->bound, .ended = true, .ns = ns };
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot make the appliance channel");
        if (chan_arg)
                snprintf(chan_arg, 16, "%d", sv[1]);
        /* The intermediate starts with every signal blocked, so that a
         * SIGTERM of ours finds its handler. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                if (ns)
                        intermediate_main(o, sv[1], parent, fn, arg, x);
                child_main(o, sv[1], parent, -1, fn, arg, x);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid < 0) {
                int e = errno;
                close(sv[0]);
                close(sv[1]);
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot fork the appliance child");
        }
        close(sv[1]);
        /* Both sides set the group, so a kill right after the fork finds it. */
        setpgid(pid, pid);
        c->pid = pid;
        c->chan = sv[0];
        c->ended = false;
        /* The child is not reaped before vs_child_end/kill: its pid (and
         * process group id) cannot be recycled meanwhile. */
        c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        return 0;
}

int vs_child_start(vs_child *c, const vs_child_opts *o, vs_child_fn fn, void *arg, vs_error *err)
{
        return child_start(c, o, fn, arg, NULL, NULL, err);
}

int vs_child_exec(vs_child *c, const vs_child_opts *o, const vs_exec *x, vs_error *err)
{
        _cleanup_free_ char **argv = NULL;
        char chan_arg[16] = "";
        size_t n = 0;

        while (x->argv[n])
                n++;
        /* "--chan N" last: N is the child's end of the socketpair, known
         * once child_start made it (the number stays across the exec). */
        argv = vs_xmalloc((n + 3) * sizeof(char *));
        memcpy(argv, x->argv, n * sizeof(char *));
        argv[n] = "--chan";
        argv[n + 1] = chan_arg;
        argv[n + 2] = NULL;
        vs_exec full = { .fd = x->fd, .argv = argv, .envp = x->envp };
        return child_start(c, o, NULL, NULL, &full, chan_arg, err);
}

/* After the child's exit: the sweep of its uid, whose failure is recorded. */
static void sweep_after(vs_child *c)
{
        if (c->id->drop && vs_identity_sweep(c->id->uid) < 0)
                c->survivors = true;
}

static void child_signal(vs_child *c, int sig)
{
        if (c->pidfd >= 0)
                syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0);
        else
                kill(c->pid, sig);
}

void vs_child_kill(vs_child *c)
{
        if (c->ended)
                return;
        if (c->ns) {
                /* The intermediate kills the namespace's init and exits once
                 * the namespace is empty; past END_MS it is killed itself
                 * (and the init with it, by its parent-death signal). */
                child_signal(c, SIGTERM);
        } else {
                /* The group first (qemu is in it), while the unreaped child
                 * keeps its id ours; then the child. */
                killpg(c->pid, SIGKILL);
                child_signal(c, SIGKILL);
        }
        if (reap_within(c->pid, END_MS, &c->status) < 0)
                c->status = -1;
        sweep_after(c);
        if (c->pidfd >= 0)
                close(c->pidfd);
        if (c->chan >= 0)
                close(c->chan);
        c->pidfd = c->chan = -1;
        c->ended = true;
}

/* 0 when the bound still holds; else kills the child and fills err. */
static int check_bound(vs_child *c, vs_error *err)
{
        const vs_bound *b = c->bound;

        if (b && b->cancelled && b->cancelled(b->userdata)) {
                c->cancelled = true;
                vs_child_kill(c);
                return vs_error_set(err, VS_ERR_CANCELLED, "cancelled");
        }
        if (b && b->deadline_ms && vs_mono_ms() >= b->deadline_ms) {
                c->timed_out = true;
                vs_child_kill(c);
                return vs_error_set(err, VS_ERR_TIMEOUT, "the job's deadline passed");
        }
        return 0;
}

static int poll_ms(const vs_child *c)
{
        uint64_t now = vs_mono_ms();

        if (c->bound && c->bound->deadline_ms && c->bound->deadline_ms > now &&
            c->bound->deadline_ms - now < POLL_MS)
                return (int)(c->bound->deadline_ms - now);
        return POLL_MS;
}

/* Waits until fd is ready for events, within the bound. */
static int wait_fd(vs_child *c, int fd, short events, vs_error *err)
{
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int r;

                if (check_bound(c, err) < 0)
                        return -1;
                r = poll(&p, 1, poll_ms(c));
                if (r < 0 && errno != EINTR)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for the appliance child");
                if (r > 0)
                        return 0;
        }
}

static int recv_all(vs_child *c, void *data, size_t len, vs_error *err)
{
        char *p = data;

        while (len > 0) {
                ssize_t n;

                if (c->ended)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child has ended");
                if (wait_fd(c, c->chan, POLLIN, err) < 0)
                        return -1;
                n = read(c->chan, p, len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "reading from the appliance child");
                /* EOF: the child is ending; its exit says why. */
                if (n == 0)
                        return vs_child_end(c, err) < 0 ? -1
                                                        : vs_error_set(err, VS_ERR_SANDBOX, "the appliance child ended early");
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int vs_child_recv(vs_child *c, char *ret_type, void *buf, size_t max, size_t *ret_len, vs_error *err)
{
        unsigned char h[5];
        size_t len;

        if (recv_all(c, h, sizeof(h), err) < 0)
                return -1;
        len = get_len(h);
        if (len > max || len > VS_CHAN_MAX) {
                vs_child_kill(c);
                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child sent a %zu-byte frame (at most %zu)", len,
                                    max < VS_CHAN_MAX ? max : (size_t)VS_CHAN_MAX);
        }
        if (recv_all(c, buf, len, err) < 0)
                return -1;
        *ret_type = (char)h[0];
        *ret_len = len;
        return 0;
}

int vs_child_send(vs_child *c, char type, const void *data, size_t len, vs_error *err)
{
        unsigned char h[5];
        const char *parts[2] = { (const char *)h, data };
        size_t lens[2] = { sizeof(h), len };

        if (len > VS_CHAN_MAX)
                return vs_error_set(err, VS_ERR_SANDBOX, "request too large");
        put_header(h, type, len);
        for (int i = 0; i < 2; i++) {
                const char *p = parts[i];
                size_t left = lens[i];

                while (left > 0) {
                        ssize_t n;

                        if (c->ended)
                                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child has ended");
                        if (wait_fd(c, c->chan, POLLOUT, err) < 0)
                                return -1;
                        n = send(c->chan, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n < 0)
                                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "writing to the appliance child");
                        p += n;
                        left -= (size_t)n;
                }
        }
        return 0;
}

int vs_child_end(vs_child *c, vs_error *err)
{
        int status;

        if (c->ended)
                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child was stopped");
        for (;;) {
                siginfo_t si = { .si_pid = 0 };

                if (c->pidfd >= 0 && wait_fd(c, c->pidfd, POLLIN, err) < 0)
                        return -1;
                if (c->pidfd < 0 && check_bound(c, err) < 0)
                        return -1;
                /* WNOWAIT: exited but not reaped, so its group id is still
                 * ours for the killpg below. */
                if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno != EINTR)
                        break;
                if (si.si_pid == c->pid)
                        break;
                if (c->pidfd < 0) {
                        struct timespec ts = { 0, 20 * 1000000 };
                        nanosleep(&ts, NULL);
                }
        }
        /* Whatever the child left in its group (a qemu it did not reap) goes
         * with it (in a namespace, the kernel has killed it already); with a
         * drop, the sweep checks the rest of its uid. */
        if (!c->ns)
                killpg(c->pid, SIGKILL);
        wait_pid(c->pid, &status);
        c->status = status;
        sweep_after(c);
        if (c->pidfd >= 0)
                close(c->pidfd);
        close(c->chan);
        c->pidfd = c->chan = -1;
        c->ended = true;
        if (c->survivors)
                return vs_error_set(err, VS_ERR_SANDBOX,
                                    "processes of uid %u outlived the appliance child and could not be killed",
                                    (unsigned)c->id->uid);
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_DROP)
                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child could not drop to uid %u",
                                    (unsigned)c->id->uid);
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_EXEC)
                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child could not execute " VS_HELPER_NAME);
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) >= EXIT_SETUP)
                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child could not set itself up (exit %d)",
                                    WEXITSTATUS(status));
        if (status != -1 && WIFSIGNALED(status))
                return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child died of signal %d", WTERMSIG(status));
        return vs_error_set(err, VS_ERR_SANDBOX, "the appliance child failed");
}

/* ---- the helper -------------------------------------------------------- */

static const char *helper_path_set;

void vs_helper_set_path(const char *path)
{
        helper_path_set = path;
}

/* An executable regular file; as root, root's and writable by no one else
 * (whoever could replace it would run as the phase's uid with its fds).
 * 0: *ret_fd is it; 1: there is no such file; -1: err. */
static int open_checked(const char *path, int *ret_fd, vs_error *err)
{
        _cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
        struct stat st;

        if (fd < 0 && errno == ENOENT)
                return 1;
        if (fd < 0 || fstat(fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot open %s", path);
        if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXOTH))
                return vs_error_set(err, VS_ERR_SETUP, "%s is not a program every uid may run", path);
        if (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 022)))
                return vs_error_set(err, VS_ERR_SETUP, "%s must be owned by root and writable by root only", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vs_helper_open(char **ret_path, vs_error *err)
{
        char self[PATH_MAX];
        const char *fixed = VS_LIBEXECDIR "/" VS_HELPER_NAME;
        _cleanup_free_ char *path = NULL;
        ssize_t n;
        int fd = -1, r;

        if (helper_path_set) {
                r = open_checked(helper_path_set, &fd, err);
                if (r > 0)
                        return vs_error_errno(err, VS_ERR_SETUP, ENOENT, "cannot open %s", helper_path_set);
                path = vs_xstrdup(helper_path_set);
        } else {
                /* Next to the running binary (a build directory), then the
                 * fixed libexec directory of an install; never a PATH search. */
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                r = 1;
                if (n > 0) {
                        self[n] = '\0';
                        if (strrchr(self, '/'))
                                *strrchr(self, '/') = '\0';
                        path = vs_xasprintf("%s/" VS_HELPER_NAME, self);
                        r = open_checked(path, &fd, err);
                }
                /* An install under another prefix (scripts/install-service
                 * with VMSANDBOX_PREFIX): PREFIX/bin/vmsandbox finds
                 * PREFIX/libexec/vmsandbox/. */
                if (r > 0 && n > 0) {
                        free(path);
                        path = vs_xasprintf("%s/../libexec/vmsandbox/" VS_HELPER_NAME, self);
                        r = open_checked(path, &fd, err);
                }
                if (r > 0) {
                        free(path);
                        path = vs_xstrdup(fixed);
                        r = open_checked(path, &fd, err);
                }
                if (r > 0)
                        return vs_error_set(err, VS_ERR_SETUP,
                                            "no %s next to the vmsandbox binary, in ../libexec/vmsandbox from it, nor in %s "
                                            "(cmake --install puts it there)",
                                            VS_HELPER_NAME, VS_LIBEXECDIR);
        }
        if (r < 0)
                return -1;
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return fd;
}
