/* The appliance child (privdrop.c): as root, it really runs as a uid of the
 * reserved range, without groups, without a way back, without the parent's
 * fds, and cannot open a root-only file; what it leaves running is killed;
 * the bound (deadline, cancel) ends it. */
#include "disk.h"
#include "fsutil.h"
#include "guard.h"
#include "privdrop.h"
#include "tests.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
        char secret[64];
        int closed_fd, kept_fd;
} probe_arg;

typedef struct {
        uint32_t uid, euid, gid, egid;
        int32_t ngroups, open_errno, setuid0, nnp, closed_errno, kept_ok, ppid_ok, pid, ppid;
} probe_report;

static int probe(void *arg, int chan)
{
        probe_arg *a = arg;
        probe_report r = { .uid = (uint32_t)getuid(), .euid = (uint32_t)geteuid(), .gid = (uint32_t)getgid(),
                           .egid = (uint32_t)getegid() };
        gid_t groups[8];
        int fd;

        r.ngroups = getgroups(8, groups);
        fd = open(a->secret, O_RDONLY | O_CLOEXEC);
        r.open_errno = fd < 0 ? errno : 0;
        r.setuid0 = setuid(0);
        r.nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        r.closed_errno = fcntl(a->closed_fd, F_GETFD) < 0 ? errno : 0;
        r.kept_ok = fcntl(a->kept_fd, F_GETFD) >= 0;
        r.ppid_ok = getppid() > 1;
        r.pid = (int32_t)getpid();
        r.ppid = (int32_t)getppid();
        return vs_chan_write(chan, 'P', &r, sizeof(r));
}

START_TEST(child_runs_unprivileged)
{
        char dir[] = "/tmp/vs-privdrop-XXXXXX";
        probe_arg a;
        probe_report r;
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        char type;
        size_t len;
        int fd, kept;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0711), 0);
        snprintf(a.secret, sizeof(a.secret), "%s/secret", dir);
        fd = open(a.secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "s", 1), 1);
        a.closed_fd = fd; /* open in the parent, not kept */
        kept = open("/dev/null", O_RDONLY | O_CLOEXEC);
        a.kept_fd = kept;
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        vs_child_opts o = { .id = &id, .keep_fds = &kept, .n_keep = 1 };
        ck_assert_int_eq(vs_child_start(&c, &o, probe, &a, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, &r, sizeof(r), &len, &err), 0);
        ck_assert_int_eq(type, 'P');
        ck_assert_uint_eq(len, sizeof(r));
        ck_assert_int_eq(vs_child_end(&c, &err), 0);
        if (geteuid() == 0) {
                ck_assert(id.drop);
                ck_assert_uint_ge(id.uid, VS_UID_BASE);
                ck_assert_uint_lt(id.uid, VS_UID_BASE + VS_UID_COUNT);
                ck_assert_uint_eq(r.uid, id.uid);
                ck_assert_uint_eq(r.euid, id.uid);
                ck_assert_uint_eq(r.gid, id.uid);
                ck_assert_uint_eq(r.egid, id.uid);
                ck_assert_int_eq(r.ngroups, 0);
                ck_assert_int_eq(r.open_errno, EACCES);
                ck_assert_int_eq(r.setuid0, -1);
        } else {
                /* Nothing to drop: the caller's own ids. */
                ck_assert(!id.drop);
                ck_assert_uint_eq(r.uid, getuid());
                ck_assert_int_eq(r.open_errno, 0);
        }
        ck_assert_int_eq(r.nnp, 1);
        ck_assert_int_eq(r.closed_errno, EBADF);
        ck_assert_int_eq(r.kept_ok, 1);
        if (id.drop) {
                /* The init of a PID namespace of its own: its parent is outside. */
                ck_assert_int_eq(r.pid, 1);
                ck_assert_int_eq(r.ppid, 0);
        } else
                ck_assert_int_eq(r.ppid_ok, 1);
        vs_identity_release(&id);
        close(fd);
        close(kept);
        ck_assert_int_eq(vs_rm_rf(dir), 0);
}
END_TEST

/* A process of the child's uid that left its process group and session. */
static int escapee(void *arg, int chan)
{
        pid_t pid;

        (void)arg;
        int fds[2];
        char self[16] = { 0 };

        if (pipe(fds) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                setsid();
                /* Its pid as the host sees it (/proc is the host's): in a
                 * PID namespace getpid() is not that one. */
                if (readlink("/proc/self", self, sizeof(self) - 1) < 0 || write(fds[1], self, sizeof(self)) < 0)
                        _exit(1);
                for (;;)
                        pause();
        }
        if (pid < 0 || read(fds[0], self, sizeof(self)) != (ssize_t)sizeof(self))
                return -1;
        int32_t p = (int32_t)atoi(self);
        char t, go[1];
        size_t n;
        /* Until the parent saw it alive: as the init of a PID namespace,
         * returning now would take it along before the check. */
        if (vs_chan_write(chan, 'P', &p, sizeof(p)) < 0 || vs_chan_read(chan, &t, go, sizeof(go), &n) < 0)
                return -1;
        return 0;
}

static bool alive(pid_t pid)
{
        char path[64], line[256];
        FILE *f;
        bool live = false;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "State:", 6) == 0)
                        live = !strchr(line, 'Z') && !strchr(line, 'X');
        fclose(f);
        return live;
}

START_TEST(sweep_kills_what_escaped)
{
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        int32_t pid = 0;
        char type;
        size_t len;

        if (geteuid() != 0)
                return; /* the sweep needs a uid of its own: root only (CI is root) */
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        vs_child_opts o = { .id = &id };
        ck_assert_int_eq(vs_child_start(&c, &o, escapee, NULL, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, &pid, sizeof(pid), &len, &err), 0);
        ck_assert_int_gt(pid, 1);
        ck_assert(alive(pid));
        ck_assert_int_eq(vs_child_send(&c, 'G', NULL, 0, &err), 0);
        ck_assert_int_eq(vs_child_end(&c, &err), 0);
        ck_assert(!alive(pid));
        vs_identity_release(&id);
}
END_TEST

static int sleeper(void *arg, int chan)
{
        (void)arg;
        (void)chan;
        sleep(60);
        return 0;
}

static int polls;
static bool cancel_after_3(void *userdata)
{
        (void)userdata;
        return ++polls > 3;
}

/* A process of the uid that stops whatever it can signal (a sweeper that
 * has setuid()ed to the uid, the old hang of vs_child_end). */
static int stopper(void *arg, int chan)
{
        pid_t pid;

        (void)arg;
        pid = fork();
        if (pid == 0) {
                setsid();
                for (;;)
                        kill(-1, SIGSTOP);
        }
        return pid < 0 ? -1 : vs_chan_write(chan, 'K', NULL, 0);
}

static void stop_uid_forever(uid_t uid)
{
        if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid(uid) < 0)
                _exit(1);
        setsid();
        for (;;)
                kill(-1, SIGSTOP);
}

START_TEST(sweep_is_bounded_against_stoppers)
{
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        char type, buf[8];
        size_t len;
        uint64_t t0;
        pid_t outside;
        int status;

        if (geteuid() != 0)
                return;
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        vs_bound b = { .deadline_ms = vs_mono_ms() + 3000 };
        vs_child_opts o = { .id = &id, .bound = &b };
        ck_assert_int_eq(vs_child_start(&c, &o, stopper, NULL, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, buf, sizeof(buf), &len, &err), 0);
        t0 = vs_mono_ms();
        ck_assert_int_eq(vs_child_end(&c, &err), 0);
        ck_assert_uint_lt(vs_mono_ms() - t0, 3000);

        /* The same stopper outside any namespace (as one left by a process
         * that died without its sweep): the sweepers it stops are killed and
         * the sweep redone, within bounds, until it is gone. */
        outside = fork();
        ck_assert_int_ge(outside, 0);
        if (outside == 0)
                stop_uid_forever(id.uid);
        usleep(50000);
        t0 = vs_mono_ms();
        ck_assert_int_eq(vs_identity_sweep(id.uid), 0);
        ck_assert_uint_lt(vs_mono_ms() - t0, 20000);
        ck_assert_int_eq(waitpid(outside, &status, 0), outside);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_int_eq(vs_identity_release(&id), 0);
}
END_TEST

/* A fork bomb of the uid stops at the process limit and dies with the phase. */
static int bomb(void *arg, int chan)
{
        (void)arg;
        pid_t p = fork();
        if (p == 0) {
                setsid();
                for (;;)
                        if (fork() == 0)
                                setsid();
        }
        usleep(300000);
        return vs_chan_write(chan, 'K', NULL, 0);
}

static unsigned count_uid(uid_t uid)
{
        char cmd[128], line[32] = { 0 };
        FILE *f;

        snprintf(cmd, sizeof(cmd), "ps -eo uid=,stat= | awk '$1==%u && $2 !~ /Z/' | wc -l", (unsigned)uid);
        f = popen(cmd, "r");
        if (!f)
                return 9999;
        if (!fgets(line, sizeof(line), f))
                line[0] = 0;
        pclose(f);
        return (unsigned)atoi(line);
}

START_TEST(fork_bomb_is_capped_and_dies)
{
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        char type, buf[8];
        size_t len;

        if (geteuid() != 0)
                return;
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        /* The bound is for ending the bomb, not a speed test: on a loaded host
         * 5 s was too short for the sweep to catch every forking process. */
        vs_bound b = { .deadline_ms = vs_mono_ms() + 20000 };
        vs_child_opts o = { .id = &id, .bound = &b };
        ck_assert_int_eq(vs_child_start(&c, &o, bomb, NULL, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, buf, sizeof(buf), &len, &err), 0);
        ck_assert_uint_le(count_uid(id.uid), VS_CHILD_NPROC);
        ck_assert_int_eq(vs_child_end(&c, &err), 0);
        ck_assert_uint_eq(count_uid(id.uid), 0);
        ck_assert_int_eq(vs_identity_release(&id), 0);
}
END_TEST

/* What the sweep cannot kill (here: effective uid X, real and saved root,
 * which a process of X may not signal) quarantines the slot: the release
 * says so, and the slot is never handed out again. */
START_TEST(unkillable_leftover_quarantines_the_slot)
{
        vs_identity id, other[VS_UID_COUNT];
        vs_error err = { 0 };
        size_t n = 0;
        pid_t p;
        int status;

        if (geteuid() != 0)
                return;
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        p = fork();
        ck_assert_int_ge(p, 0);
        if (p == 0) {
                if (setresuid(0, id.uid, 0) < 0)
                        _exit(1);
                for (;;)
                        pause();
        }
        usleep(50000);
        ck_assert_int_eq(vs_identity_sweep(id.uid), -1);
        ck_assert_int_eq(vs_identity_release(&id), -1);
        /* Every other free slot can be had; this one never. */
        while (n < VS_UID_COUNT && vs_identity_acquire(&other[n], &err) == 0) {
                ck_assert_uint_ne(other[n].uid, id.uid);
                n++;
        }
        ck_assert_uint_lt(n, VS_UID_COUNT);
        for (size_t i = 0; i < n; i++)
                vs_identity_release(&other[i]);
        kill(p, SIGKILL);
        ck_assert_int_eq(waitpid(p, &status, 0), p);
}
END_TEST

START_TEST(bound_ends_the_child)
{
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        char type, buf[16];
        size_t len;
        uint64_t t0 = vs_mono_ms();
        vs_bound deadline = { .deadline_ms = t0 + 300 };
        vs_bound cancel = { .cancelled = cancel_after_3 };

        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        vs_child_opts o = { .id = &id, .bound = &deadline };
        ck_assert_int_eq(vs_child_start(&c, &o, sleeper, NULL, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, buf, sizeof(buf), &len, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_TIMEOUT);
        ck_assert(c.timed_out && c.ended);
        ck_assert_uint_lt(vs_mono_ms() - t0, 2000);
        ck_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL);

        o.bound = &cancel;
        polls = 0;
        ck_assert_int_eq(vs_child_start(&c, &o, sleeper, NULL, &err), 0);
        ck_assert_int_eq(vs_child_end(&c, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_CANCELLED);
        ck_assert(c.cancelled && c.ended);
        vs_identity_release(&id);
}
END_TEST

static int big_frame(void *arg, int chan)
{
        static char data[VS_CHAN_MAX];

        (void)arg;
        return vs_chan_write(chan, 'd', data, sizeof(data));
}

static int hostile_error(void *arg, int chan)
{
        char msg[] = "\x07\x1b[2Jgone\nsecond line";

        (void)arg;
        msg[0] = (char)VS_ERR_CANCELLED; /* a kind a child may not report */
        return vs_chan_write(chan, 'X', msg, sizeof(msg) - 1);
}

START_TEST(child_frames_are_bounded)
{
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        char type, buf[1024];
        size_t len;

        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        vs_child_opts o = { .id = &id };
        ck_assert_int_eq(vs_child_start(&c, &o, big_frame, NULL, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, buf, sizeof(buf), &len, &err), -1);
        ck_assert_str_eq(err.msg, "the appliance child sent a 65536-byte frame (at most 1024)");
        ck_assert(c.ended);

        ck_assert_int_eq(vs_child_start(&c, &o, hostile_error, NULL, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, buf, sizeof(buf), &len, &err), 0);
        ck_assert_int_eq(type, 'X');
        ck_assert_int_eq(vs_child_error(buf, len, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
        ck_assert_str_eq(err.msg, "?[2Jgone second line");
        ck_assert_int_eq(vs_child_end(&c, &err), 0);
        vs_identity_release(&id);
}
END_TEST

START_TEST(uids_are_exclusive)
{
        vs_identity a, b;
        vs_error err = { 0 };

        if (geteuid() != 0)
                return; /* without root there is no range to hand out */
        ck_assert_int_eq(vs_identity_acquire(&a, &err), 0);
        ck_assert_int_eq(vs_identity_acquire(&b, &err), 0);
        ck_assert(a.drop && b.drop);
        ck_assert_uint_ne(a.uid, b.uid);
        vs_identity_release(&a);
        vs_identity_release(&a); /* twice: harmless */
        ck_assert_int_eq(a.lock_fd, -1);
        vs_identity_release(&b);
}
END_TEST

/* The guard's backstop reaches an appliance that is a grandchild (the
 * privdrop child's qemu), and nothing without the tag. */
START_TEST(guard_kills_tagged_grandchild)
{
        int p[2];
        pid_t mid, grand = 0;
        int status;

        ck_assert_int_eq(pipe(p), 0);
        mid = fork();
        ck_assert_int_ge(mid, 0);
        if (mid == 0) {
                pid_t g = fork();
                if (g == 0) {
                        execl("/bin/sh", "sh", "-c", "sleep 60; :", "vmsandbox.job=feedc0ffee00", (char *)NULL);
                        _exit(127);
                }
                if (write(p[1], &g, sizeof(g)) != sizeof(g))
                        _exit(1);
                while (waitpid(g, &status, 0) < 0)
                        ;
                _exit(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 1);
        }
        ck_assert_int_eq(read(p[0], &grand, sizeof(grand)), (ssize_t)sizeof(grand));
        /* until the exec has replaced the command line */
        for (int i = 0; i < 200; i++) {
                char path[64], cmd[256] = { 0 };
                FILE *f;
                snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)grand);
                f = fopen(path, "re");
                if (f) {
                        size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
                        fclose(f);
                        if (memmem(cmd, n, "vmsandbox.job=", 14))
                                break;
                }
                usleep(10000);
        }
        ck_assert_uint_eq(vs_kill_tagged_children("vmsandbox.job=0000deadbeef"), 0);
        ck_assert_uint_eq(vs_kill_tagged_children("vmsandbox.job=feedc0ffee00"), 1);
        ck_assert_int_eq(waitpid(mid, &status, 0), mid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        close(p[0]);
        close(p[1]);
}
END_TEST

/* A host file system without room for the job disk fails prepare at once,
 * in one line, before any appliance starts, and leaves nothing (the fault
 * scripts/faults host_full_prepare: the appliance used to pause on ENOSPC). */
START_TEST(prepare_fails_at_once_on_full_host)
{
        char dir[] = "/tmp/vs-full-XXXXXX", disk[64], dotdir[64], app[64], want[256];
        vs_job_inputs in = { .spec_json = "{}", .image_fd = -1, .workspace_fd = -1, .workspace_tar_fd = -1 };
        vs_error err = { 0 };
        uint64_t t0;

        if (geteuid() != 0)
                return; /* mounting a small tmpfs needs root (CI is root) */
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0711"), 0);
        snprintf(disk, sizeof(disk), "%s/job.img", dir);
        snprintf(dotdir, sizeof(dotdir), "%s/.appliance", dir);
        /* A stand-in fixed appliance: checked for, never booted (the disk
         * fails first), so no VM and no VM lock. */
        snprintf(app, sizeof(app), "%s/app", dir);
        ck_assert_int_eq(mkdir(app, 0755), 0);
        for (size_t i = 0; i < 4; i++) {
                char f[96];
                snprintf(f, sizeof(f), "%s/%s", app, (const char *[]){ "kernel", "initrd", "root", "README.fixed" }[i]);
                int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                ck_assert_int_ge(fd, 0);
                close(fd);
        }
        setenv("VMSANDBOX_APPLIANCE", app, 1);
        t0 = vs_mono_ms();
        ck_assert_int_eq(vs_disk_prepare(disk, 1ull << 30, &in, VS_ACCEL_TCG, NULL, &err), -1);
        unsetenv("VMSANDBOX_APPLIANCE");
        ck_assert_uint_lt(vs_mono_ms() - t0, 2000);
        snprintf(want, sizeof(want),
                 "the host file system of %s has no room for the 1G job disk: No space left on device", disk);
        ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
        ck_assert_str_eq(err.msg, want);
        ck_assert_ptr_null(strchr(err.msg, '\n'));
        ck_assert_int_eq(access(disk, F_OK), -1);
        ck_assert_int_eq(access(dotdir, F_OK), -1);
        ck_assert_int_eq(vs_rm_rf(app), 0);
        ck_assert_int_eq(umount(dir), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* A hard link the appliance child made to the job disk (which it may write
 * during prepare) fails the job. */
START_TEST(linked_job_disk_is_refused)
{
        char dir[] = "/tmp/vs-links-XXXXXX", disk[64], link_[64];
        vs_error err = { 0 };
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(disk, sizeof(disk), "%s/job.img", dir);
        snprintf(link_, sizeof(link_), "%s/kept", dir);
        fd = open(disk, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(vs_disk_check_links(fd, disk, &err), 0);
        ck_assert_int_eq(link(disk, link_), 0);
        ck_assert_int_eq(vs_disk_check_links(fd, disk, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_SANDBOX);
        ck_assert_ptr_nonnull(strstr(err.msg, "has 2 hard links after prepare"));
        close(fd);
        ck_assert_int_eq(vs_rm_rf(dir), 0);
}
END_TEST

/* Subordinate ids overlapping the range would let a user namespace of
 * someone's own the phase's uid: refused. */
START_TEST(subids_overlapping_the_range_are_refused)
{
        char path[] = "/tmp/vs-subuid-XXXXXX";
        vs_error err = { 0 };
        int fd = mkstemp(path);
        FILE *f;

        ck_assert_int_ge(fd, 0);
        f = fdopen(fd, "w");
        fprintf(f, "alice:100000:65536\n");
        fflush(f);
        ck_assert_int_eq(vs_identity_check_subids(path, &err), 0);
        fprintf(f, "bob:2099999990:11\n");
        fclose(f);
        ck_assert_int_eq(vs_identity_check_subids(path, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_SETUP);
        ck_assert_ptr_nonnull(strstr(err.msg, "gives ids 2099999990-2100000000, which overlap vmsandbox's range"));
        ck_assert_int_eq(vs_identity_check_subids("/nonexistent/subuid", &err), 0);
        unlink(path);
}
END_TEST

/* L4: what a phase's uid leaves in /tmp, /var/tmp and /dev/shm (libguestfs'
 * files, or a subverted child's) is gone once the slot is given back. */
static int litterer(void *arg, int chan)
{
        const char *tag = arg;
        char p[128];
        int fd;

        snprintf(p, sizeof(p), "/tmp/%s-d", tag);
        if (mkdir(p, 0700) < 0)
                return -1;
        snprintf(p, sizeof(p), "/tmp/%s-d/sub", tag);
        if (mkdir(p, 0700) < 0)
                return -1;
        snprintf(p, sizeof(p), "/tmp/%s-d/sub/file", tag);
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        close(fd);
        snprintf(p, sizeof(p), "/tmp/%s-l", tag);
        if (symlink("/etc/hostname", p) < 0)
                return -1;
        for (size_t i = 0; i < 3; i++) {
                snprintf(p, sizeof(p), "%s/%s-f", (const char *[]){ "/tmp", "/var/tmp", "/dev/shm" }[i], tag);
                fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -1;
                close(fd);
        }
        return vs_chan_write(chan, 'K', NULL, 0);
}

static unsigned count_owned(uid_t uid)
{
        static const char *const dirs[] = { "/tmp", "/var/tmp", "/dev/shm" };
        unsigned n = 0;

        for (size_t i = 0; i < 3; i++) {
                DIR *d = opendir(dirs[i]);
                struct dirent *e;
                if (!d)
                        continue;
                while ((e = readdir(d))) {
                        struct stat st;
                        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == uid)
                                n++;
                }
                closedir(d);
        }
        return n;
}

START_TEST(phase_files_in_tmp_are_removed)
{
        char tag[64], mine[96];
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        char type;
        size_t len;
        struct stat st;
        int fd;

        if (geteuid() != 0)
                return; /* nothing is dropped: the files are the caller's */
        snprintf(tag, sizeof(tag), "vs-l4-%d", (int)getpid());
        /* Root's file of the same prefix: not the uid's, kept. */
        snprintf(mine, sizeof(mine), "/tmp/%s-root", tag);
        fd = open(mine, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(stat("/etc/hostname", &st), 0);
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        ck_assert_uint_eq(count_owned(id.uid), 0);
        vs_child_opts o = { .id = &id };
        ck_assert_int_eq(vs_child_start(&c, &o, litterer, tag, &err), 0);
        ck_assert_int_eq(vs_child_recv(&c, &type, NULL, 0, &len, &err), 0);
        ck_assert_int_eq(type, 'K');
        ck_assert_int_eq(vs_child_end(&c, &err), 0);
        /* The directory, the link and the three files. */
        ck_assert_uint_eq(count_owned(id.uid), 5);
        uid_t uid = id.uid;
        ck_assert_int_eq(vs_identity_release(&id), 0);
        ck_assert_uint_eq(count_owned(uid), 0);
        ck_assert_int_eq(access(mine, F_OK), 0);
        ck_assert_int_eq(access("/etc/hostname", F_OK), 0); /* the link went, not its target */
        unlink(mine);
}
END_TEST

Suite *suite_privdrop(void)
{
        Suite *s = suite_create("privdrop");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, child_runs_unprivileged);
        tcase_add_test(tc, sweep_kills_what_escaped);
        tcase_add_test(tc, bound_ends_the_child);
        tcase_add_test(tc, sweep_is_bounded_against_stoppers);
        tcase_add_test(tc, fork_bomb_is_capped_and_dies);
        tcase_add_test(tc, unkillable_leftover_quarantines_the_slot);
        tcase_add_test(tc, child_frames_are_bounded);
        tcase_add_test(tc, uids_are_exclusive);
        tcase_add_test(tc, guard_kills_tagged_grandchild);
        tcase_add_test(tc, prepare_fails_at_once_on_full_host);
        tcase_add_test(tc, linked_job_disk_is_refused);
        tcase_add_test(tc, subids_overlapping_the_range_are_refused);
        tcase_add_test(tc, phase_files_in_tmp_are_removed);
        suite_add_tcase(s, tc);
        return s;
}
