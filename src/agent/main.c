/* vmsandbox-agent: the init of a job VM (see agent.h). */
#include "agent.h"
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

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        lchown(path, chown_uid, chown_gid);
        return 0;
}

/* With --user, the workflow must be able to write its own workspace. */
static void workspace_chown(const char *user)
{
        char *end;

        chown_uid = (uid_t)strtoul(user, &end, 10);
        chown_gid = *end == ':' ? (gid_t)strtoul(end + 1, NULL, 10) : (gid_t)chown_uid;
        nftw(VS_JOB_MOUNT "/workspace", chown_one, 32, FTW_PHYS);
}

static void write_result(json_t *result)
{
        const char *tmp = VS_JOB_MOUNT "/out/result.json.tmp";

        if (json_dump_file(result, tmp, JSON_INDENT(2)) == 0)
                rename(tmp, VS_JOB_MOUNT "/out/result.json");
        else
                channel_log("cannot write result.json");
}

static void fail(json_t *result, const char *stage, const char *msg)
{
        channel_log("%s: %s", stage, msg);
        json_object_set_new(result, "state", json_string("error"));
        json_object_set_new(result, "error", json_sprintf("%s: %s", stage, msg));
}

static void kernel_release(json_t *result)
{
        struct utsname u;

        if (uname(&u) == 0)
                json_object_set_new(result, "kernel", json_string(u.release));
}

static int run_job(json_t *spec, json_t *result)
{
        static const char *const base_mods[] = { "overlay", "virtio_rng", NULL };
        static const char *const net_mods[] = { "virtio_net", "bridge", "br_netfilter", "veth", "nf_nat",
                                                "xt_MASQUERADE", "xt_addrtype", "xt_conntrack", NULL };
        json_t *phases = json_object_get(result, "phases");
        int nat = strcmp(json_string_value(json_object_get(spec, "network")) ?: "none", "nat") == 0;
        const char *ref = json_string_value(json_object_get(spec, "ref"));
        char err[1024] = "", loaded[512];
        int exit_code = -1;
        pid_t engine;

        system_load_modules(base_mods);
        if (nat)
                system_load_modules(net_mods);
        system_grow_root();
        if (system_network_up(nat) < 0 && nat)
                return fail(result, "network", "cannot configure the network interface"), -1;
        if (json_string_value(json_object_get(spec, "user")) && json_is_true(json_object_get(spec, "workspace")))
                workspace_chown(json_string_value(json_object_get(spec, "user")));

        phase_mark(phases, "engine-ready", 1);
        if (docker_start_engine(nat, &engine, err, sizeof(err)) < 0)
                return fail(result, "engine-ready", err), -1;
        phase_mark(phases, "engine-ready", 0);

        if (json_is_true(json_object_get(spec, "load"))) {
                phase_mark(phases, "load", 1);
                if (docker_load(VS_JOB_MOUNT "/in/image.tar", loaded, sizeof(loaded), err, sizeof(err)) < 0)
                        return fail(result, "load", err), -1;
                phase_mark(phases, "load", 0);
        }
        docker_describe(ref, result);
        if (!json_object_get(result, "image_id")) {
                snprintf(err, sizeof(err), "image %s is neither in the archive nor preloaded in the base image", ref);
                return fail(result, "load", err), -1;
        }

        phase_mark(phases, "run", 1);
        if (docker_run(spec, &exit_code, err, sizeof(err)) < 0)
                return fail(result, "run", err), -1;
        phase_mark(phases, "run", 0);
        json_object_set_new(result, "exit_code", json_integer(exit_code));
        if (err[0])
                json_object_set_new(result, "run_error", json_string(err));
        json_object_set_new(result, "state", json_string("ran"));

        if (json_is_true(json_object_get(spec, "export_image"))) {
                phase_mark(phases, "save", 1);
                if (docker_save(ref, VS_JOB_MOUNT "/out/image.tar", err, sizeof(err)) < 0)
                        return fail(result, "save", err), -1;
                phase_mark(phases, "save", 0);
        }
        return 0;
}

/* Admin mode (build-base-image --preload): load archives into the engine of
 * the base image itself, then stop the engine cleanly and power off. */
static int run_preload(json_t *spec, json_t *result)
{
        static const char *const mods[] = { "overlay", "virtio_rng", NULL };
        json_t *phases = json_object_get(result, "phases");
        json_t *names = json_object_get(spec, "preload");
        json_t *name;
        char err[1024] = "", loaded[512], path[512];
        size_t i;
        pid_t engine;

        system_load_modules(mods);
        system_grow_root();
        system_network_up(0);
        phase_mark(phases, "engine-ready", 1);
        if (docker_start_engine(0, &engine, err, sizeof(err)) < 0)
                return fail(result, "engine-ready", err), -1;
        phase_mark(phases, "engine-ready", 0);
        phase_mark(phases, "load", 1);
        json_array_foreach(names, i, name) {
                const char *n = json_string_value(name);
                if (!n || strchr(n, '/') || n[0] == '.')
                        return fail(result, "load", "bad archive name in spec"), -1;
                snprintf(path, sizeof(path), VS_JOB_MOUNT "/in/%s", n);
                if (docker_load(path, loaded, sizeof(loaded), err, sizeof(err)) < 0)
                        return fail(result, "load", err), -1;
                channel_log("preloaded %s", loaded);
        }
        phase_mark(phases, "load", 0);
        if (docker_stop_engine(engine) < 0)
                return fail(result, "load", "dockerd did not stop cleanly"), -1;
        json_object_set_new(result, "state", json_string("preloaded"));
        return 0;
}

static json_t *read_spec(json_t *result)
{
        json_error_t jerr;
        json_t *spec = json_load_file(VS_JOB_MOUNT "/spec.json", JSON_REJECT_DUPLICATES, &jerr);

        if (!spec || (!json_is_string(json_object_get(spec, "ref")) && !json_is_array(json_object_get(spec, "preload")))) {
                fail(result, "spec", spec ? "no image reference" : jerr.text);
                json_decref(spec);
                return NULL;
        }
        return spec;
}

static int worker(void)
{
        json_t *result = json_pack("{s:s, s:{}}", "state", "error", "phases");
        json_t *spec;
        int r = -1;

        if (channel_open() < 0)
                fprintf(stderr, AGENT_LOG_PREFIX "no progress channel; running without live output\n");
        channel_log("guest up");
        kernel_release(result);
        if (system_mount_job() < 0) {
                channel_log("cannot mount the job disk");
                return 1;
        }
        spec = read_spec(result);
        if (spec && json_is_array(json_object_get(spec, "preload")))
                r = run_preload(spec, result);
        else if (spec)
                r = run_job(spec, result);
        write_result(result);
        json_decref(spec);
        json_decref(result);
        return r < 0 ? 1 : 0;
}

/* PID 1 reaps every orphan (containerd shims daemonize) while the worker
 * child does the job; when the worker ends, the VM powers off. */
int main(void)
{
        pid_t pid;

        system_mount_basics();
        static const char *const early[] = { "virtio_console", NULL };
        system_load_modules(early);
        pid = fork();
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
