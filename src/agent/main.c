/* vmsandbox-agent: the init of a job VM (see agent.h).  The only file that
 * reports errors: into result.json and over the progress channel. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "io.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static uid_t chown_uid;
static gid_t chown_gid;
static unsigned chown_failed;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        if (lchown(path, chown_uid, chown_gid) < 0)
                chown_failed++;
        return 0;
}

/* With --user, the workflow must be able to write its own workspace and
 * binds (a ro bind is mounted read-only and never goes back: its copy is
 * handed over too, so that the user can read it as the host's owner could). */
static void tree_chown(const char *user, const char *path)
{
        vs_error err = { 0 };

        if (docker_parse_user(user, &chown_uid, &chown_gid, &err) < 0) {
                channel_log("%s; the workspace keeps its owner", err.msg);
                return;
        }
        chown_failed = 0;
        if (nftw(path, chown_one, 32, FTW_PHYS) != 0 || chown_failed)
                channel_log("%s could not be handed to %s whole (%u entries failed)", path, user, chown_failed);
}

static void workspace_chown(const char *user, const json_t *spec)
{
        const json_t *binds = json_object_get(spec, "binds");

        if (json_is_true(json_object_get(spec, "workspace")))
                tree_chown(user, VS_JOB_MOUNT "/workspace");
        for (size_t i = 0; json_is_array(binds) && i < json_array_size(binds) && i < DOCKER_BINDS_MAX; i++) {
                char path[64];
                snprintf(path, sizeof(path), VS_JOB_MOUNT "/binds/%zu", i);
                tree_chown(user, path);
        }
}

static void write_result(json_t *result)
{
        _cleanup_free_ char *text = json_dumps(result, JSON_INDENT(2));
        vs_error err = { 0 };

        if (!text)
                vs_oom(); /* every string in result is valid UTF-8 (jansson checked it on the way in) */
        if (vs_write_file_atomic(VS_JOB_MOUNT "/out/result.json", text, strlen(text), 0600, &err) < 0)
                channel_log("%s", err.msg);
}

static int fail(json_t *result, const char *stage, const vs_error *err)
{
        channel_log("%s: %s", stage, err->msg);
        json_object_set_new(result, "state", json_string("error"));
        json_object_set_new(result, "error", json_sprintf("%s: %s", stage, err->msg));
        return -1;
}

static void kernel_release(json_t *result)
{
        struct utsname u;

        if (uname(&u) == 0)
                json_object_set_new(result, "kernel", json_string(u.release));
}

static bool spec_nat(const json_t *spec)
{
        const char *net = json_string_value(json_object_get(spec, "network"));

        return net && strcmp(net, "nat") == 0;
}

/* Modules, root fs, network and the engine: what a job needs before its
 * image.  Done early (worker, before the job disk is there) when the host
 * said on the kernel command line which network the job has; the spec must
 * then say the same. */
static int guest_setup(bool nat, json_t *result)
{
        static const char *const base_mods[] = { "overlay", "virtio_rng", NULL };
        static const char *const net_mods[] = { "virtio_net", "bridge", "br_netfilter", "veth", "nf_nat",
                                                "xt_MASQUERADE", "xt_addrtype", "xt_conntrack", NULL };
        json_t *phases = json_object_get(result, "phases");
        vs_error err = { 0 };
        pid_t engine;

        system_load_modules(base_mods);
        if (nat)
                system_load_modules(net_mods);
        system_grow_root();
        if (system_network_up(nat, &err) < 0) {
                if (nat)
                        return fail(result, "network", &err);
                channel_log("network: %s", err.msg); /* loopback only: the job goes on */
        }
        phase_mark(phases, "engine-ready", true);
        if (docker_start_engine(nat, &engine, &err) < 0)
                return fail(result, "engine-ready", &err);
        phase_mark(phases, "engine-ready", false);
        return 0;
}

/* early: 1 when guest_setup ran before the disk came with the network
 * the host named (early_nat), 0 when it did not run yet, -1 when it failed
 * (result says why). */
static int job_setup(const json_t *spec, json_t *result, int early, bool early_nat)
{
        vs_error err = { 0 };

        if (early < 0)
                return -1;
        if (early == 0)
                return guest_setup(spec_nat(spec), result);
        if (spec_nat(spec) != early_nat) {
                vs_error_set(&err, VS_ERR_SANDBOX, "the network on the kernel command line (%s) is not the spec's",
                             early_nat ? "nat" : "none");
                return fail(result, "spec", &err);
        }
        return 0;
}

static int run_job(const json_t *spec, json_t *result, int early, bool early_nat)
{
        json_t *phases = json_object_get(result, "phases");
        const char *ref = json_string_value(json_object_get(spec, "ref"));
        const char *user = json_string_value(json_object_get(spec, "user"));
        _cleanup_free_ char *loaded = NULL, *run_error = NULL;
        vs_error err = { 0 };
        int exit_code = -1;

        if (job_setup(spec, result, early, early_nat) < 0)
                return -1;
        if (user)
                workspace_chown(user, spec);

        if (json_is_true(json_object_get(spec, "load"))) {
                phase_mark(phases, "load", true);
                if (docker_load(VS_JOB_MOUNT "/in/image.tar", &loaded, &err) < 0)
                        return fail(result, "load", &err);
                phase_mark(phases, "load", false);
        }
        docker_describe(ref, result);
        if (!json_object_get(result, "image_id")) {
                vs_error_set(&err, VS_ERR_INPUT, "image %s is neither in the archive nor preloaded in the base image", ref);
                return fail(result, "load", &err);
        }

        phase_mark(phases, "run", true);
        if (docker_run(spec, &exit_code, &run_error, &err) < 0)
                return fail(result, "run", &err);
        phase_mark(phases, "run", false);
        json_object_set_new(result, "exit_code", json_integer(exit_code));
        if (run_error)
                json_object_set_new(result, "run_error", json_string(run_error));
        json_object_set_new(result, "state", json_string("ran"));

        if (json_is_true(json_object_get(spec, "export_image"))) {
                phase_mark(phases, "save", true);
                if (docker_save(ref, VS_JOB_MOUNT "/out/image.tar", &err) < 0)
                        return fail(result, "save", &err);
                phase_mark(phases, "save", false);
        }
        return 0;
}

/* A build (the Docker socket's POST /build): the FROM images the host
 * injected are loaded, the classic builder runs on the context, and the
 * image it built is saved for the host's store. */
#define BUILD_IMAGES_MAX 32

static int run_build(const json_t *spec, json_t *result, int early, bool early_nat)
{
        json_t *phases = json_object_get(result, "phases");
        json_t *nimages = json_object_get(spec, "images");
        bool nat = spec_nat(spec);
        _cleanup_free_ char *id = NULL, *build_error = NULL;
        vs_error err = { 0 };
        int exit_code = -1;

        if (!json_is_integer(nimages) || json_integer_value(nimages) < 0 ||
            json_integer_value(nimages) > BUILD_IMAGES_MAX) {
                vs_error_set(&err, VS_ERR_INPUT, "images is not a count from 0 to %d", BUILD_IMAGES_MAX);
                return fail(result, "spec", &err);
        }
        if (job_setup(spec, result, early, early_nat) < 0)
                return -1;

        phase_mark(phases, "load", true);
        for (json_int_t i = 0; i < json_integer_value(nimages); i++) {
                _cleanup_free_ char *path = vs_xasprintf(VS_JOB_MOUNT "/in/images/%d.tar", (int)i);
                _cleanup_free_ char *loaded = NULL;

                if (docker_load(path, &loaded, &err) < 0)
                        return fail(result, "load", &err);
                channel_log("loaded %s", loaded ? loaded : path);
        }
        phase_mark(phases, "load", false);

        phase_mark(phases, "run", true);
        if (docker_build(spec, nat, &exit_code, &id, &build_error, &err) < 0)
                return fail(result, "run", &err);
        phase_mark(phases, "run", false);
        json_object_set_new(result, "exit_code", json_integer(exit_code));
        if (build_error && exit_code != 0)
                json_object_set_new(result, "run_error", vs_xjson(json_string(build_error)));
        else if (build_error)
                channel_log("docker build: %s", build_error);
        if (id)
                json_object_set_new(result, "image_id", vs_xjson(json_string(id)));
        json_object_set_new(result, "state", json_string("ran"));
        if (!id)
                return 0;
        phase_mark(phases, "save", true);
        if (docker_save(id, VS_JOB_MOUNT "/out/image.tar", &err) < 0)
                return fail(result, "save", &err);
        phase_mark(phases, "save", false);
        return 0;
}

/* Admin mode (build-base-image --preload): load archives into the engine of
 * the base image itself, then stop the engine cleanly and power off. */
static int run_preload(const json_t *spec, json_t *result)
{
        static const char *const mods[] = { "overlay", "virtio_rng", NULL };
        json_t *phases = json_object_get(result, "phases");
        const json_t *names = json_object_get(spec, "preload"), *name;
        vs_error err = { 0 };
        size_t i;
        pid_t engine;

        system_load_modules(mods);
        system_grow_root();
        if (system_network_up(false, &err) < 0)
                channel_log("network: %s", err.msg);
        phase_mark(phases, "engine-ready", true);
        if (docker_start_engine(false, &engine, &err) < 0)
                return fail(result, "engine-ready", &err);
        phase_mark(phases, "engine-ready", false);
        phase_mark(phases, "load", true);
        json_array_foreach(names, i, name) {
                const char *n = json_string_value(name);
                _cleanup_free_ char *path = NULL, *loaded = NULL;

                if (!n || strchr(n, '/') || n[0] == '.' || strlen(n) > 255) {
                        vs_error_set(&err, VS_ERR_INPUT, "bad archive name in spec");
                        return fail(result, "load", &err);
                }
                path = vs_xasprintf(VS_JOB_MOUNT "/in/%s", n);
                if (docker_load(path, &loaded, &err) < 0)
                        return fail(result, "load", &err);
                channel_log("preloaded %s", loaded ? loaded : n);
        }
        phase_mark(phases, "load", false);
        if (docker_stop_engine(engine, &err) < 0)
                return fail(result, "load", &err);
        json_object_set_new(result, "state", json_string("preloaded"));
        return 0;
}

static json_t *read_spec(json_t *result)
{
        json_error_t jerr;
        json_t *spec = json_load_file(VS_JOB_MOUNT "/spec.json", JSON_REJECT_DUPLICATES, &jerr);
        vs_error err = { 0 };

        if (!spec)
                vs_error_set(&err, VS_ERR_INPUT, "%s", jerr.text);
        else if (!json_is_string(json_object_get(spec, "ref")) && !json_is_array(json_object_get(spec, "preload")) &&
                 !json_is_object(json_object_get(spec, "build")))
                vs_error_set(&err, VS_ERR_INPUT, "no image reference");
        else
                return spec;
        fail(result, "spec", &err);
        json_decref(spec);
        return NULL;
}

static int worker(void)
{
        _cleanup_json_ json_t *result = vs_xjson(json_pack("{s:s, s:{}}", "state", "error", "phases"));
        _cleanup_json_ json_t *spec = NULL;
        vs_error err = { 0 };
        jobdisk_boot boot;
        int r = -1, early = 0;

        if (channel_open(&err) < 0)
                fprintf(stderr, AGENT_LOG_PREFIX "%s; running without live output\n", err.msg);
        channel_log("guest up");
        kernel_release(result);
        jobdisk_boot_read(&boot);
        /* The disk comes later (hot-plug): the engine starts meanwhile. */
        if (boot.net_known)
                early = jobdisk_stage_log(&err) < 0 ? (channel_log("%s", err.msg), 0)
                                                   : guest_setup(boot.nat, result) < 0 ? -1 : 1;
        if (jobdisk_wait(VS_JOB_DEV, S_IFBLK, boot.wait_ms, &boot.waited_ms, &err) < 0 ||
            system_mount_job(&err) < 0) {
                channel_log("%s; powering off", err.msg);
                return 1;
        }
        if (boot.waited_ms)
                channel_log("job disk attached after %llu ms", (unsigned long long)boot.waited_ms);
        spec = read_spec(result);
        if (spec && json_is_array(json_object_get(spec, "preload")))
                r = run_preload(spec, result);
        else if (spec && json_is_object(json_object_get(spec, "build")))
                r = run_build(spec, result, early, boot.nat);
        else if (spec)
                r = run_job(spec, result, early, boot.nat);
        jobdisk_keep_log();
        write_result(result);
        return r < 0 ? 1 : 0;
}

/* PID 1 reaps every orphan (containerd shims daemonize) while the worker
 * child does the job; when the worker ends, the VM powers off.  Without a
 * worker (fork failed) nothing can run: the host finds no result.json and
 * reports that. */
int main(void)
{
        static const char *const early[] = { "virtio_console", NULL };
        pid_t pid;

        system_mount_basics();
        system_load_modules(early);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, AGENT_LOG_PREFIX "cannot start the worker: %s; powering off\n", strerror(errno));
                system_poweroff();
        }
        if (pid == 0)
                _exit(worker());
        for (;;) {
                int status;
                pid_t done = wait(&status);

                if (done == pid || (done < 0 && errno == ECHILD))
                        break;
        }
        system_poweroff();
}
