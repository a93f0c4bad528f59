#include "helper.h"
#include "alloc.h"
#include "cleanup.h"
#include "collect.h"
#include "config.h"
#include "disk.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* XDG_RUNTIME_DIR holds libguestfs' sockets: sun_path has 108 bytes. */
#define SOCKDIR_MAX 64
#define ENV_MAX 40
#define FD_MAX 65535

static const char *const role_names[VS_HELPER_LAST] = {
        [VS_HELPER_PREPARE] = "prepare",
        [VS_HELPER_COLLECT] = "collect",
        [VS_HELPER_SELFTEST] = "selftest",
};

void vs_helper_args_init(vs_helper_args *a, vs_helper_role role)
{
        *a = (vs_helper_args){ .role = role, .image_fd = -1, .ws_pipe = -1, .ws_tar_fd = -1, .context_fd = -1, .chan = -1 };
}

static void push(char ***v, const char *s)
{
        if (vs_strv_push(v, s) < 0)
                abort(); /* out of memory: the policy (alloc.h) */
}

static void push_fd(char ***v, const char *opt, int fd)
{
        char n[16];

        if (fd < 0)
                return;
        snprintf(n, sizeof(n), "%d", fd);
        push(v, opt);
        push(v, n);
}

char **vs_helper_argv(const vs_helper_args *a)
{
        char **v = NULL;

        push(&v, VS_HELPER_NAME);
        push(&v, role_names[a->role]);
        push(&v, "--accel");
        push(&v, vs_accel_name(a->app.accel));
        push(&v, "--tmpdir");
        push(&v, a->app.tmpdir);
        if (a->app.appliance) {
                push(&v, "--appliance");
                push(&v, a->app.appliance);
        }
        if (a->app.job_id) {
                push(&v, "--job");
                push(&v, a->app.job_id);
        }
        if (a->disk) {
                push(&v, "--disk");
                push(&v, a->disk);
        }
        push_fd(&v, "--image", a->image_fd);
        for (size_t i = 0; i < a->n_preloads; i++)
                push_fd(&v, "--preload", a->preload_fds[i]);
        push_fd(&v, "--ws-pipe", a->ws_pipe);
        push_fd(&v, "--ws-tar", a->ws_tar_fd);
        for (size_t i = 0; i < a->n_binds; i++)
                push_fd(&v, a->bind_files[i] ? "--bind-file" : "--bind-dir", a->bind_fds[i]);
        push_fd(&v, "--context", a->context_fd);
        for (size_t i = 0; i < a->n_build_images; i++)
                push_fd(&v, "--build-image", a->build_image_fds[i]);
        return v;
}

char **vs_helper_env(bool drop, const char *tmpdir)
{
        extern char **environ;
        char **v = NULL;
        size_t n = 0;

        /* Not the caller's variables (secrets qemu would inherit): only
         * what libguestfs needs. */
        if (drop)
                push(&v, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        for (char **e = environ; e && *e && n < ENV_MAX; e++)
                if (strncmp(*e, "LIBGUESTFS_", 11) == 0 || (!drop && strncmp(*e, "PATH=", 5) == 0)) {
                        push(&v, *e);
                        n++;
                }
        /* The kernel setup-host unpacked: what supermin builds libguestfs'
         * own appliance with when there is no fixed one (a non-root run);
         * else supermin would look for one in /boot. */
        vs_appliance_kernel k;
        vs_error kerr = { 0 };
        if (vs_appliance_kernel_find(&k, &kerr) > 0) {
                _cleanup_free_ char *kv = vs_xasprintf("SUPERMIN_KERNEL=%s", k.kernel);
                _cleanup_free_ char *vv = vs_xasprintf("SUPERMIN_KERNEL_VERSION=%s", k.version);
                _cleanup_free_ char *mv = vs_xasprintf("SUPERMIN_MODULES=%s", k.modules);
                push(&v, kv);
                push(&v, vv);
                push(&v, mv);
                vs_appliance_kernel_clear(&k);
        }
        if (tmpdir) {
                _cleanup_free_ char *t = vs_xasprintf("TMPDIR=%s", tmpdir);
                push(&v, t);
                if (strlen(tmpdir) <= SOCKDIR_MAX) {
                        _cleanup_free_ char *x = vs_xasprintf("XDG_RUNTIME_DIR=%s", tmpdir);
                        push(&v, x);
                }
        }
        return v;
}

int vs_helper_start(vs_child *c, const vs_child_opts *o, const vs_helper_args *a, vs_error *err)
{
        _cleanup_close_ int fd = vs_helper_open(NULL, err);
        char **argv, **envp;
        int r;

        if (fd < 0) {
                *c = (vs_child){ .pid = -1, .pidfd = -1, .chan = -1, .id = o->id, .ended = true };
                return -1;
        }
        argv = vs_helper_argv(a);
        envp = vs_helper_env(o->id->drop, a->app.tmpdir);
        vs_exec x = { .fd = fd, .argv = argv, .envp = envp };
        r = vs_child_exec(c, o, &x, err);
        vs_strv_free(argv);
        vs_strv_free(envp);
        return r;
}

/* ---- the helper's side ------------------------------------------------- */

static int parse_fd(const char *opt, const char *s, int *ret, vs_error *err)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 3 || v > FD_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "%s wants a descriptor number above 2, not \"%s\"", opt, s);
        if (fcntl((int)v, F_GETFD) < 0)
                return vs_error_set(err, VS_ERR_USAGE, "%s %ld is not an open descriptor", opt, v);
        *ret = (int)v;
        return 0;
}

int vs_helper_parse(int argc, char **argv, vs_helper_args *ret, vs_error *err)
{
        vs_helper_args a;
        bool have_accel = false;
        int i;

        if (argc < 2)
                return vs_error_set(err, VS_ERR_USAGE, "usage: " VS_HELPER_NAME " prepare|collect|selftest OPTIONS");
        for (i = 0; i < VS_HELPER_LAST; i++)
                if (strcmp(argv[1], role_names[i]) == 0)
                        break;
        if (i == VS_HELPER_LAST)
                return vs_error_set(err, VS_ERR_USAGE, "unknown role \"%s\"", argv[1]);
        vs_helper_args_init(&a, (vs_helper_role)i);
        for (i = 2; i < argc; i += 2) {
                const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                int r = 0;

                if (!v)
                        return vs_error_set(err, VS_ERR_USAGE, "%s wants a value", o);
                if (strcmp(o, "--accel") == 0) {
                        have_accel = true;
                        if (vs_accel_parse(v, &a.app.accel) < 0 || a.app.accel == VS_ACCEL_AUTO)
                                return vs_error_set(err, VS_ERR_USAGE, "--accel is kvm or tcg, not \"%s\"", v);
                } else if (strcmp(o, "--tmpdir") == 0)
                        a.app.tmpdir = v;
                else if (strcmp(o, "--appliance") == 0)
                        a.app.appliance = v;
                else if (strcmp(o, "--job") == 0)
                        a.app.job_id = v;
                else if (strcmp(o, "--disk") == 0)
                        a.disk = v;
                else if (strcmp(o, "--chan") == 0)
                        r = parse_fd(o, v, &a.chan, err);
                else if (strcmp(o, "--image") == 0)
                        r = parse_fd(o, v, &a.image_fd, err);
                else if (strcmp(o, "--ws-pipe") == 0)
                        r = parse_fd(o, v, &a.ws_pipe, err);
                else if (strcmp(o, "--ws-tar") == 0)
                        r = parse_fd(o, v, &a.ws_tar_fd, err);
                else if (strcmp(o, "--bind-dir") == 0 || strcmp(o, "--bind-file") == 0) {
                        if (a.n_binds >= VS_BINDS_MAX)
                                return vs_error_set(err, VS_ERR_USAGE, "at most %d binds", VS_BINDS_MAX);
                        a.bind_files[a.n_binds] = o[7] == 'f';
                        r = parse_fd(o, v, &a.bind_fds[a.n_binds++], err);
                } else if (strcmp(o, "--context") == 0)
                        r = parse_fd(o, v, &a.context_fd, err);
                else if (strcmp(o, "--build-image") == 0) {
                        if (a.n_build_images >= VS_PRELOAD_MAX)
                                return vs_error_set(err, VS_ERR_USAGE, "at most %d --build-image", VS_PRELOAD_MAX);
                        r = parse_fd(o, v, &a.build_image_fds[a.n_build_images++], err);
                } else if (strcmp(o, "--preload") == 0) {
                        if (a.n_preloads >= VS_PRELOAD_MAX)
                                return vs_error_set(err, VS_ERR_USAGE, "at most %d --preload", VS_PRELOAD_MAX);
                        r = parse_fd(o, v, &a.preload_fds[a.n_preloads++], err);
                } else
                        return vs_error_set(err, VS_ERR_USAGE, "unknown option \"%s\"", o);
                if (r < 0)
                        return -1;
        }
        if (a.chan < 0 || !a.app.tmpdir || !have_accel)
                return vs_error_set(err, VS_ERR_USAGE, "--chan, --tmpdir and --accel are required");
        if (a.role != VS_HELPER_SELFTEST && !a.disk)
                return vs_error_set(err, VS_ERR_USAGE, "%s needs --disk", role_names[a.role]);
        *ret = a;
        return 0;
}

int vs_helper_main(int argc, char **argv)
{
        vs_helper_args a;
        vs_error err = { 0 };
        int r = -1;

        /* As before the exec: the appliance's qemu (same uid) cannot ptrace
         * this process, which holds the channel to the parent. */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (vs_helper_parse(argc, argv, &a, &err) < 0) {
                fprintf(stderr, VS_HELPER_NAME ": %s\n", err.msg);
                return 2;
        }
        switch (a.role) {
        case VS_HELPER_PREPARE:
                r = vs_disk_prepare_serve(&a);
                break;
        case VS_HELPER_COLLECT: {
                vs_collect_child_arg c = { .disk = a.disk, .appliance = &a.app };
                r = vs_collect_serve(&c, a.chan);
                break;
        }
        case VS_HELPER_SELFTEST:
                r = vs_disk_selftest_serve(&a);
                break;
        case VS_HELPER_LAST:
                break;
        }
        return r == 0 ? 0 : 1;
}
