/* The appliance helper (helper.c, privdrop.c vs_child_exec): the dropped
 * child of prepare starts with a fresh address space.  A marker planted in
 * this process's heap and environment (as serve holds its admin token) is
 * found in a plain forked child (the checker works: that was the design
 * before) and is absent from the helper that vs_disk_prepare runs; the
 * helper has only the fds and environment it needs. */
#include "alloc.h"
#include "cleanup.h"
#include "strv.h"
#include "disk.h"
#include "fsutil.h"
#include "helper.h"
#include "privdrop.h"
#include "tests.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCAN_MAX (8ull << 30)

/* Every descendant of this process, breadth first (at most 64). */
static size_t descendants(pid_t *out, size_t max)
{
        size_t n = 0, next = 0;
        pid_t self = getpid();
        pid_t cur = self;

        for (;;) {
                char path[64], buf[4096];
                FILE *f;

                snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)cur, (int)cur);
                f = fopen(path, "re");
                if (f) {
                        size_t got = fread(buf, 1, sizeof(buf) - 1, f);
                        char *p = buf, *end;
                        buf[got] = '\0';
                        fclose(f);
                        for (long v; n < max && (v = strtol(p, &end, 10), end != p); p = end)
                                out[n++] = (pid_t)v;
                }
                if (next >= n)
                        return n;
                cur = out[next++];
        }
}

static uid_t uid_of(pid_t pid)
{
        char path[64], line[256];
        unsigned r = 0, e;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Uid: %u %u", &r, &e) == 2)
                        break;
        fclose(f);
        return (uid_t)r;
}

/* The descendant running as uid (the dropped child, the only one). */
static pid_t find_dropped(uid_t uid)
{
        pid_t pids[64];

        for (int tries = 0; tries < 500; tries++) {
                size_t n = descendants(pids, 64);
                for (size_t i = 0; i < n; i++)
                        if (uid_of(pids[i]) == uid)
                                return pids[i];
                usleep(10000);
        }
        return -1;
}

static bool exe_is(pid_t pid, const char *want)
{
        char path[64], got[4096];
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
        n = readlink(path, got, sizeof(got) - 1);
        if (n < 0)
                return false;
        got[n] = '\0';
        return strcmp(got, want) == 0;
}

/* True when needle is anywhere in pid's readable memory (every mapping of
 * /proc/PID/maps with 'r', read through /proc/PID/mem; a chunk boundary
 * is overlapped by the needle's length). */
/* True once pid's maps hold a library named like lib: right after the exec
 * only the loader is mapped, and a scan then reads a few hundred KiB. */
static bool maps_hold(pid_t pid, const char *lib)
{
        char path[64], line[1024];
        bool found = false;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, lib) != NULL;
        fclose(f);
        return found;
}

static bool memory_contains(pid_t pid, const char *needle, uint64_t *ret_scanned)
{
        char path[64], line[512];
        size_t nl = strlen(needle), chunk = 1u << 20;
        _cleanup_free_ char *buf = vs_xmalloc(chunk + nl);
        uint64_t scanned = 0;
        bool found = false;
        FILE *maps;
        int mem;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        maps = fopen(path, "re");
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
        mem = open(path, O_RDONLY | O_CLOEXEC);
        *ret_scanned = 0;
        if (!maps || mem < 0) {
                /* Gone already: nothing scanned (the caller checks). */
                if (maps)
                        fclose(maps);
                if (mem >= 0)
                        close(mem);
                return false;
        }
        while (!found && fgets(line, sizeof(line), maps)) {
                unsigned long long lo, hi;
                char perms[8];

                if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
                        continue;
                /* A mapping over 1 GiB is a sanitizer's reserved shadow (of
                 * zero pages, terabytes of it in an ASan build), not data. */
                if (hi - lo > (1ull << 30))
                        continue;
                for (unsigned long long at = lo; at < hi && !found && scanned < SCAN_MAX;) {
                        size_t want = hi - at < chunk + nl ? (size_t)(hi - at) : chunk + nl;
                        ssize_t got = pread(mem, buf, want, (off_t)at);
                        if (got <= 0)
                                break; /* [vvar] and the like */
                        scanned += (uint64_t)got;
                        found = memmem(buf, (size_t)got, needle, nl) != NULL;
                        if ((size_t)got <= nl)
                                break;
                        at += (unsigned long long)got - nl;
                }
        }
        fclose(maps);
        close(mem);
        *ret_scanned = scanned;
        return found;
}

static void make_marker(char *buf, size_t len, const char *what)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(buf, len, "vs-h3-%s-%08lx%08lx%06x", what, (unsigned long)ts.tv_nsec, (unsigned long)ts.tv_sec,
                 (unsigned)getpid());
}

/* ---- the control: a plain fork holds the parent's memory --------------- */

static int blocker(void *arg, int chan)
{
        char type, b[8];
        size_t len;

        (void)arg;
        return vs_chan_read(chan, &type, b, sizeof(b), &len);
}

START_TEST(forked_child_holds_parent_memory)
{
        char marker[64];
        _cleanup_free_ char *heap = NULL;
        vs_identity id;
        vs_child c;
        vs_error err = { 0 };
        uint64_t scanned;
        pid_t pid;

        if (geteuid() != 0)
                return; /* the drop and /proc/PID/mem of another uid need root (CI is root) */
        make_marker(marker, sizeof(marker), "heap");
        heap = vs_xstrdup(marker);
        ck_assert_int_eq(vs_identity_acquire(&id, &err), 0);
        vs_child_opts o = { .id = &id };
        ck_assert_int_eq(vs_child_start(&c, &o, blocker, NULL, &err), 0);
        pid = find_dropped(id.uid);
        ck_assert_int_gt(pid, 1);
        ck_assert(memory_contains(pid, heap, &scanned));
        vs_child_kill(&c);
        ck_assert_int_eq(vs_identity_release(&id), 0);
}
END_TEST

/* ---- prepare's real child ---------------------------------------------- */

typedef struct {
        char heap_marker[64], env_marker[64], spec_marker[64];
        const char *helper;
        bool probed, exec_seen, in_memory, env_in_memory;
        uint64_t scanned;
        char env_names[512];   /* the names of its environment, in its order */
        char tmpdir[256], xdg[256];
        int nfds, fds[8];
        char cmdline[4096];
        size_t cmdline_len;
} probe_state;

static void read_env_names(pid_t pid, probe_state *st)
{
        char path[64], buf[8192];
        size_t n = 0, len = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
        f = fopen(path, "re");
        st->env_names[0] = '\0';
        if (!f)
                return;
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        st->env_names[0] = '\0';
        for (size_t at = 0; at < n; at += strlen(buf + at) + 1) {
                const char *eq = memchr(buf + at, '=', n - at);
                size_t nl = eq ? (size_t)(eq - (buf + at)) : 0;
                if (eq && strncmp(buf + at, "TMPDIR=", 7) == 0)
                        snprintf(st->tmpdir, sizeof(st->tmpdir), "%s", buf + at + 7);
                if (eq && strncmp(buf + at, "XDG_RUNTIME_DIR=", 16) == 0)
                        snprintf(st->xdg, sizeof(st->xdg), "%s", buf + at + 16);
                if (len + nl + 2 < sizeof(st->env_names)) {
                        memcpy(st->env_names + len, buf + at, nl);
                        len += nl;
                        st->env_names[len++] = ' ';
                        st->env_names[len] = '\0';
                }
        }
}

static void read_fds(pid_t pid, probe_state *st)
{
        char path[64];
        DIR *d;
        struct dirent *e;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        d = opendir(path);
        st->nfds = 0;
        if (!d)
                return;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && st->nfds < 8)
                        st->fds[st->nfds++] = atoi(e->d_name);
        closedir(d);
}

static void read_cmdline(pid_t pid, probe_state *st)
{
        char path[64];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return;
        st->cmdline_len = fread(st->cmdline, 1, sizeof(st->cmdline) - 1, f);
        fclose(f);
        st->cmdline[st->cmdline_len] = '\0';
}

/* The bound's cancel check, called by the parent while it waits to send
 * the spec: probes the helper (once it has executed), then cancels. */
static bool probe_then_cancel(void *userdata)
{
        probe_state *st = userdata;
        pid_t pid = -1;

        if (st->probed)
                return true;
        st->probed = true;
        for (int tries = 0; tries < 500; tries++) {
                pid_t pids[64];
                size_t n = descendants(pids, 64);
                for (size_t i = 0; i < n && pid < 0; i++)
                        if (uid_of(pids[i]) >= VS_UID_BASE && uid_of(pids[i]) < VS_UID_BASE + VS_UID_COUNT)
                                pid = pids[i];
                if (pid > 0 && exe_is(pid, st->helper)) {
                        st->exec_seen = true;
                        break;
                }
                usleep(10000);
        }
        if (pid < 0)
                return true;
        /* The helper is dynamically linked: scan once libguestfs is in. */
        for (int tries = 0; st->exec_seen && tries < 500 && !maps_hold(pid, "libguestfs.so"); tries++)
                usleep(10000);
        /* Scanned even when no exec was seen (the design before): the
         * assertions below then fail on what was found. */
        st->in_memory = memory_contains(pid, st->heap_marker, &st->scanned);
        uint64_t s2;
        st->env_in_memory = memory_contains(pid, st->env_marker, &s2);
        read_env_names(pid, st);
        read_fds(pid, st);
        read_cmdline(pid, st);
        return true;
}

static void stand_in_appliance(const char *app)
{
        ck_assert_int_eq(mkdir(app, 0755), 0);
        for (size_t i = 0; i < 4; i++) {
                char f[128];
                snprintf(f, sizeof(f), "%s/%s", app, (const char *[]){ "kernel", "initrd", "root", "README.fixed" }[i]);
                int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                ck_assert_int_ge(fd, 0);
                close(fd);
        }
}

START_TEST(prepare_child_has_a_fresh_address_space)
{
        char dir[] = "/tmp/vs-helper-XXXXXX", disk[64], app[64], spec[160], helper[4096], want_tmp[96];
        _cleanup_free_ char *heap = NULL;
        probe_state st = { 0 };
        vs_bound b = { .cancelled = probe_then_cancel, .userdata = &st };
        vs_error err = { 0 };
        vs_job_inputs in = { .spec_json = spec, .image_fd = -1, .workspace_fd = -1, .workspace_tar_fd = -1 };
        char chan_arg[16] = "";
        const char *p;

        if (geteuid() != 0)
                return; /* the drop and /proc/PID/mem of another uid need root (CI is root) */
        ck_assert_ptr_nonnull(realpath(VS_HELPER_PATH, helper));
        st.helper = helper;
        make_marker(st.heap_marker, sizeof(st.heap_marker), "heap");
        make_marker(st.env_marker, sizeof(st.env_marker), "env");
        make_marker(st.spec_marker, sizeof(st.spec_marker), "spec");
        /* serve's admin token lives like this: on the heap, and in its
         * environment when given as VMSANDBOX_TOKEN. */
        heap = vs_xstrdup(st.heap_marker);
        setenv("VS_TEST_SECRET", st.env_marker, 1);
        setenv("LIBGUESTFS_TEST_KEEP", "1", 1);
        snprintf(spec, sizeof(spec), "{\"env\":{\"SECRET\":\"%s\"}}", st.spec_marker);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0711), 0);
        snprintf(disk, sizeof(disk), "%s/job.img", dir);
        snprintf(app, sizeof(app), "%s/app", dir);
        stand_in_appliance(app); /* checked for, never booted: the phase is cancelled first */
        setenv("VMSANDBOX_APPLIANCE", app, 1);
        /* No unpacked appliance kernel (setup-host makes one on a host
         * whose /boot lacks its own): its SUPERMIN_* variables would join
         * the environment checked below (appliance_kernel_in_env tests
         * those). */
        snprintf(want_tmp, sizeof(want_tmp), "%s/no-appliance-kernel", dir);
        setenv("VMSANDBOX_APPLIANCE_KERNEL", want_tmp, 1);
        ck_assert_int_eq(vs_disk_prepare(disk, 1u << 20, &in, VS_ACCEL_TCG, &b, &err), -1);
        unsetenv("VMSANDBOX_APPLIANCE_KERNEL");
        unsetenv("VMSANDBOX_APPLIANCE");
        unsetenv("VS_TEST_SECRET");
        unsetenv("LIBGUESTFS_TEST_KEEP");
        if (getenv("VS_TEST_VERBOSE"))
                fprintf(stderr, "scanned %llu bytes; env: %s; fds %d; err %s\n", (unsigned long long)st.scanned,
                        st.env_names, st.nfds, err.msg);
        ck_assert_int_eq(err.kind, VS_ERR_CANCELLED);
        ck_assert(st.probed);
        ck_assert_msg(st.exec_seen, "the prepare child never executed %s", helper);
        /* The whole image was read (some MiB), and no marker is in it. */
        ck_assert_uint_gt(st.scanned, 1u << 20);
        ck_assert(!st.in_memory);
        ck_assert(!st.env_in_memory);
        /* Its environment: exactly what libguestfs needs. */
        ck_assert_str_eq(st.env_names, "PATH LIBGUESTFS_TEST_KEEP TMPDIR XDG_RUNTIME_DIR ");
        /* Its temporary files go to the phase's private directory. */
        snprintf(want_tmp, sizeof(want_tmp), "%s/.appliance", dir);
        ck_assert_str_eq(st.tmpdir, want_tmp);
        ck_assert_str_eq(st.xdg, want_tmp);
        ck_assert_int_eq(access(want_tmp, F_OK), -1); /* removed with the phase */
        /* argv: the role and settings, no spec; "--chan N" last. */
        ck_assert_str_eq(st.cmdline, VS_HELPER_NAME);
        ck_assert_ptr_null(memmem(st.cmdline, st.cmdline_len, st.spec_marker, strlen(st.spec_marker)));
        p = st.cmdline + strlen(st.cmdline) + 1;
        ck_assert_str_eq(p, "prepare");
        for (size_t at = 0; at < st.cmdline_len; at += strlen(st.cmdline + at) + 1)
                if (strcmp(st.cmdline + at, "--chan") == 0)
                        snprintf(chan_arg, sizeof(chan_arg), "%s", st.cmdline + at + 7);
        ck_assert_str_ne(chan_arg, "");
        /* Its fds: stdio (on /dev/null) and the channel, nothing else. */
        ck_assert_int_eq(st.nfds, 4);
        for (int i = 0; i < 4; i++) {
                int fd = st.fds[i];
                ck_assert(fd == 0 || fd == 1 || fd == 2 || fd == atoi(chan_arg));
        }
        ck_assert_int_eq(access(disk, F_OK), 0); /* the pipeline's cleanup removes it, not prepare */
        ck_assert_int_eq(vs_rm_rf(dir), 0);
}
END_TEST

/* ---- argv ⇄ parse -------------------------------------------------------- */

START_TEST(args_round_trip)
{
        vs_helper_args a, b;
        vs_error err = { 0 };
        int fds[2];
        char **argv;
        int argc = 0;
        char chan[16];

        ck_assert_int_eq(pipe(fds), 0);
        vs_helper_args_init(&a, VS_HELPER_PREPARE);
        a.app = (vs_appliance){ .accel = VS_ACCEL_KVM, .job_id = "0123456789ab", .tmpdir = "/j/.appliance",
                                .appliance = "/var/lib/vmsandbox/appliance" };
        a.disk = "/j/job.img";
        a.image_fd = fds[0];
        a.preload_fds[0] = fds[1];
        a.n_preloads = 1;
        argv = vs_helper_argv(&a);
        while (argv[argc])
                argc++;
        snprintf(chan, sizeof(chan), "%d", fds[1]);
        ck_assert_int_eq(vs_strv_push(&argv, "--chan"), 0);
        ck_assert_int_eq(vs_strv_push(&argv, chan), 0);
        ck_assert_int_eq(vs_helper_parse(argc + 2, argv, &b, &err), 0);
        ck_assert_int_eq(b.role, VS_HELPER_PREPARE);
        ck_assert_int_eq(b.app.accel, VS_ACCEL_KVM);
        ck_assert_str_eq(b.app.job_id, "0123456789ab");
        ck_assert_str_eq(b.app.tmpdir, "/j/.appliance");
        ck_assert_str_eq(b.app.appliance, "/var/lib/vmsandbox/appliance");
        ck_assert_str_eq(b.disk, "/j/job.img");
        ck_assert_int_eq(b.image_fd, fds[0]);
        ck_assert_uint_eq(b.n_preloads, 1);
        ck_assert_int_eq(b.preload_fds[0], fds[1]);
        ck_assert_int_eq(b.ws_pipe, -1);
        ck_assert_int_eq(b.ws_tar_fd, -1);
        ck_assert_int_eq(b.chan, fds[1]);
        vs_strv_free(argv);

        /* Refusals: a closed fd, a low fd, a missing value, an unknown role. */
        char *bad1[] = { "h", "collect", "--accel", "tcg", "--tmpdir", "/t", "--disk", "/d", "--chan", "999", NULL };
        ck_assert_int_eq(vs_helper_parse(10, bad1, &b, &err), -1);
        ck_assert_str_eq(err.msg, "--chan 999 is not an open descriptor");
        char *bad2[] = { "h", "collect", "--accel", "tcg", "--tmpdir", "/t", "--disk", "/d", "--chan", "1", NULL };
        ck_assert_int_eq(vs_helper_parse(10, bad2, &b, &err), -1);
        ck_assert_str_eq(err.msg, "--chan wants a descriptor number above 2, not \"1\"");
        char *bad3[] = { "h", "selftest", "--accel", NULL };
        ck_assert_int_eq(vs_helper_parse(3, bad3, &b, &err), -1);
        ck_assert_str_eq(err.msg, "--accel wants a value");
        char *bad4[] = { "h", "shell", NULL };
        ck_assert_int_eq(vs_helper_parse(2, bad4, &b, &err), -1);
        ck_assert_str_eq(err.msg, "unknown role \"shell\"");
        char *bad5[] = { "h", "collect", "--accel", "tcg", "--tmpdir", "/t", "--chan", chan, NULL };
        ck_assert_int_eq(vs_helper_parse(8, bad5, &b, &err), -1);
        ck_assert_str_eq(err.msg, "collect needs --disk");
        close(fds[0]);
        close(fds[1]);
}
END_TEST

/* A helper that is not root's, or writable by others, is refused. */
START_TEST(helper_must_be_roots)
{
        char dir[] = "/tmp/vs-helperfile-XXXXXX", path[64];
        vs_error err = { 0 };
        int fd;

        if (geteuid() != 0)
                return;
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/" VS_HELPER_NAME, dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0777);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(chmod(path, 0757), 0);
        vs_helper_set_path(path);
        ck_assert_int_eq(vs_helper_open(NULL, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_SETUP);
        ck_assert_ptr_nonnull(strstr(err.msg, "must be owned by root and writable by root only"));
        ck_assert_int_eq(chmod(path, 0755), 0);
        fd = vs_helper_open(NULL, &err);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(chmod(path, 0754), 0);
        ck_assert_int_eq(vs_helper_open(NULL, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "is not a program every uid may run"));
        unlink(path);
        ck_assert_int_eq(vs_helper_open(NULL, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
        vs_helper_set_path(VS_HELPER_PATH);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- the appliance kernel setup-host unpacked ------------------------------ */

static void put(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* The variables supermin reads, in order, from env ("" when none). */
static char *supermin_vars(char **env)
{
        char *out = vs_xstrdup("");

        for (char **e = env; e && *e; e++)
                if (strncmp(*e, "SUPERMIN_", 9) == 0) {
                        char *n = vs_xasprintf("%s%s%s", out, *out ? " " : "", *e);
                        free(out);
                        out = n;
                }
        return out;
}

/* The helper's environment names the unpacked kernel to supermin when the
 * directory is complete, nothing when it is absent, and nothing (with the
 * reason) when it is broken; a caller's own SUPERMIN_* never passes. */
START_TEST(appliance_kernel_in_env)
{
        char dir[] = "/tmp/vs-appkernel-XXXXXX", path[256], want[1024];
        vs_appliance_kernel k;
        vs_error err = { 0 };
        char **env, *vars;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/ak", dir);
        setenv("VMSANDBOX_APPLIANCE_KERNEL", path, 1);
        setenv("SUPERMIN_KERNEL", "/caller/vmlinuz", 1);

        /* absent */
        ck_assert_int_eq(vs_appliance_kernel_find(&k, &err), 0);
        env = vs_helper_env(true, "/t");
        vars = supermin_vars(env);
        ck_assert_str_eq(vars, "");
        free(vars);
        vs_strv_free(env);

        /* complete */
        snprintf(path, sizeof(path), "%s/ak/root/boot", dir);
        ck_assert_int_eq(vs_mkdir_p(path, 0755, &err), 0);
        snprintf(path, sizeof(path), "%s/ak/root/lib/modules/6.1.0-57-cloud-amd64", dir);
        ck_assert_int_eq(vs_mkdir_p(path, 0755, &err), 0);
        snprintf(path, sizeof(path), "%s/ak/root/lib/modules/6.1.0-57-cloud-amd64/modules.dep", dir);
        put(path, "");
        snprintf(path, sizeof(path), "%s/ak/root/boot/vmlinuz-6.1.0-57-cloud-amd64", dir);
        put(path, "kernel");
        snprintf(path, sizeof(path), "%s/ak/version", dir);
        put(path, "6.1.0-57-cloud-amd64\n");
        ck_assert_int_eq(vs_appliance_kernel_find(&k, &err), 1);
        ck_assert_str_eq(k.version, "6.1.0-57-cloud-amd64");
        vs_appliance_kernel_clear(&k);
        env = vs_helper_env(true, "/t");
        vars = supermin_vars(env);
        snprintf(want, sizeof(want),
                 "SUPERMIN_KERNEL=%s/ak/root/boot/vmlinuz-6.1.0-57-cloud-amd64 SUPERMIN_KERNEL_VERSION=6.1.0-57-cloud-amd64 "
                 "SUPERMIN_MODULES=%s/ak/root/lib/modules/6.1.0-57-cloud-amd64",
                 dir, dir);
        ck_assert_str_eq(vars, want);
        free(vars);
        vs_strv_free(env);

        /* broken: a release that climbs out, then a missing modules.dep */
        snprintf(path, sizeof(path), "%s/ak/version", dir);
        put(path, "../../etc\n");
        ck_assert_int_eq(vs_appliance_kernel_find(&k, &err), -1);
        snprintf(want, sizeof(want), "the appliance kernel in %s/ak (run scripts/setup-host again): %s/ak/version: not a kernel release",
                 dir, dir);
        ck_assert_str_eq(err.msg, want);
        env = vs_helper_env(false, NULL);
        vars = supermin_vars(env);
        ck_assert_str_eq(vars, "");
        free(vars);
        vs_strv_free(env);
        put(path, "6.1.0-57-cloud-amd64\n");
        snprintf(path, sizeof(path), "%s/ak/root/lib/modules/6.1.0-57-cloud-amd64/modules.dep", dir);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(vs_appliance_kernel_find(&k, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "modules.dep: No such file or directory"));

        unsetenv("VMSANDBOX_APPLIANCE_KERNEL");
        unsetenv("SUPERMIN_KERNEL");
        ck_assert_int_eq(vs_rm_rf(dir), 0);
}
END_TEST

Suite *suite_helper(void)
{
        Suite *s = suite_create("helper");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, forked_child_holds_parent_memory);
        tcase_add_test(tc, prepare_child_has_a_fresh_address_space);
        tcase_add_test(tc, args_round_trip);
        tcase_add_test(tc, helper_must_be_roots);
        tcase_add_test(tc, appliance_kernel_in_env);
        suite_add_tcase(s, tc);
        return s;
}
