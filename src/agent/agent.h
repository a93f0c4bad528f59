/* vmsandbox-agent: PID 1 of a job VM.  It prepares the guest, runs the
 * workflow through the preloaded Docker engine, writes /job/out/result.json
 * and powers the VM off.  Everything it reports is also untrusted by the host.
 *
 * The agent follows the host's conventions (src/common): a function that can
 * fail returns a negative value and fills a vs_error; only main.c reports
 * errors (into result.json and the progress channel); scope-bound cleanup;
 * allocations abort on out-of-memory; byte I/O through io.h. */
#ifndef VS_AGENT_H
#define VS_AGENT_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_LOG_PREFIX "vmsandbox-agent: "

/* channel.c: the progress port to the host */
int channel_open(vs_error *err);
/* Frames of at most VS_FRAME_MAX; after a failed write the channel is
 * closed (a half-written frame would desynchronise the stream). */
void channel_send(char type, const void *data, size_t len);
void channel_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void phase_mark(json_t *phases, const char *name, bool start);

/* system.c: guest set-up and power-off */
void system_mount_basics(void);
void system_load_modules(const char *const *mods);
int system_mount_job(vs_error *err);
void system_grow_root(void);
int system_network_up(bool nat, vs_error *err);
_Noreturn void system_poweroff(void);

/* jobdisk.c: the job disk's arrival (hot-plugged after boot, or there) */
#define JOBDISK_WAIT_DEFAULT_MS (600ull * 1000)   /* no bound on the command line */
#define JOBDISK_WAIT_MAX_MS (7ull * 24 * 3600 * 1000)
#define JOBDISK_POLL_MS 50
#define JOBDISK_LOG_MAX (16ull << 20)             /* dockerd.log kept from before the disk */
/* The bound of VS_CMDLINE_DISK_WAIT=SECONDS in a kernel command line. */
uint64_t jobdisk_wait_ms(const char *cmdline);
/* 1 and *ret_nat when the command line has VS_CMDLINE_NET=nat|none, else 0. */
int jobdisk_net(const char *cmdline, bool *ret_nat);
typedef struct {
        uint64_t wait_ms, waited_ms;
        bool net_known, nat;   /* the host named the job's network: start the engine early */
} jobdisk_boot;
/* From /proc/cmdline. */
void jobdisk_boot_read(jobdisk_boot *ret);
/* Waits, a JOBDISK_POLL_MS sleep at a time, until path exists (it must
 * then be a file of type, S_IFBLK for the disk) or timeout_ms passed;
 * *ret_waited_ms (may be NULL) gets how long it took. */
int jobdisk_wait(const char *path, mode_t type, uint64_t timeout_ms, uint64_t *ret_waited_ms, vs_error *err);
/* Before the engine starts without the disk: /job/out on the root file
 * system, remembered by fd; jobdisk_keep_log copies its dockerd.log (its
 * last JOBDISK_LOG_MAX bytes) onto the mounted job disk. */
int jobdisk_stage_log(vs_error *err);
void jobdisk_keep_log(void);
/* The last max bytes of src_dir/name into dest (created 0600, truncated);
 * no file: nothing done. */
int jobdisk_copy_tail(int src_dir, const char *name, const char *dest, uint64_t max, vs_error *err);

/* spawn.c: child processes.  Every child gets /dev/null as stdin and the
 * default signal mask; a failed fork is an error, never a pid. */
typedef struct {
        char *out;     /* captured stdout (NUL-terminated), or NULL */
        size_t out_len;
        int status;    /* exit code, or 128+signal (vs_exit_code) */
} spawn_result;

#define SPAWN_CAPTURE_MAX (1u << 20)

/* Runs argv to its end.  With capture, stdout is kept (the first
 * SPAWN_CAPTURE_MAX bytes; the rest is read and dropped) and stderr goes to
 * log_fd; without, both go to log_fd.  0 with *ret filled (free ret->out),
 * or -1 with err set when the child could not be run or waited for. */
int spawn_wait(char *const argv[], bool capture, int log_fd, spawn_result *ret, vs_error *err);
/* Starts argv with stdout and stderr on log_fd; *ret_pid is > 1. */
int spawn_bg(char *const argv[], int log_fd, pid_t *ret_pid, vs_error *err);
/* Runs argv, streaming its stdout and stderr to the host as frames. */
int spawn_stream(char *const argv[], int *ret_status, vs_error *err);
/* The same with stdin from in_fd, stdout streamed and stderr kept instead:
 * its last SPAWN_TAIL_MAX bytes in *ret_tail (NUL-terminated, malloc'd). */
#define SPAWN_TAIL_MAX 4096u
int spawn_stream_keep_err(char *const argv[], int in_fd, int *ret_status, char **ret_tail, vs_error *err);

/* docker_cli.c: docker's command lines and answers (pure; unit-tested) */
#define DOCKER "/usr/bin/docker"
#define DOCKER_CONTAINER "vmsandbox-job"
#define DOCKER_SOCK "/run/docker.sock"   /* the VM's own engine */
/* More than the host allows (256 env, 1024 args, each --env two words). */
#define DOCKER_ARGV_MAX 2048
#define DOCKER_BINDS_MAX 16 /* VS_BINDS_MAX: a container's binds, /job/binds/N */
/* argv of `docker create` for the job spec (a NULL-terminated strv); with
 * memory_kib > 0 the container is limited to it (no swap). */
int docker_create_argv(const json_t *spec, unsigned long memory_kib, char ***ret_argv, vs_error *err);
/* Memory kept out of the workflow container's limit for the kernel, dockerd,
 * containerd and the agent.  Without a limit, a workflow that allocates past
 * the VM's RAM drives the guest into reclaim thrashing before the kernel's
 * OOM killer acts (minutes under TCG); with one, the memory cgroup kills it
 * at once and the job ends with 137 and a clear error. */
#define DOCKER_ENGINE_RESERVE_KIB (160ul * 1024)
#define DOCKER_CONTAINER_MIN_KIB (64ul * 1024)
/* The container's limit for a guest with total_kib of RAM (0: unknown, no
 * limit). */
unsigned long docker_container_memory_kib(unsigned long total_kib);
#define DOCKER_INSPECT_EXIT "{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Error}}"
/* `docker inspect --format DOCKER_INSPECT_EXIT`: the exit code (0..255),
 * whether the memory cgroup killed it, and the engine's error text (NULL
 * when empty). */
int docker_parse_exit(const char *out, int *ret_exit, bool *ret_oom, char **ret_error, vs_error *err);
/* The first image `docker load -q` names ("Loaded image: X" or "Loaded
 * image ID: X"), or NULL. */
char *docker_parse_loaded(const char *out);
/* argv of the classic builder (`docker build`) for the spec's "build"
 * object, the context on stdin ("-"); nat: the build's RUN steps have the
 * VM's network, else none.  The image id goes to iidfile. */
#define DOCKER_BUILD_IIDFILE VS_JOB_MOUNT "/out/image.id"
int docker_build_argv(const json_t *build, bool nat, const char *iidfile, char ***ret_argv, vs_error *err);
/* The image id an --iidfile holds: "sha256:" and 64 lower-case hex digits
 * (a trailing newline allowed), or NULL. */
char *docker_parse_iid(const char *text);
/* Guest text (docker's stderr) as one JSON-safe message: trailing
 * newlines dropped, control bytes but \n and \t and bytes that are not
 * UTF-8 become '?' (malloc'd). */
char *docker_clean_text(const char *s, size_t len);
/* The spec's user, "UID" or "UID:GID" (numbers up to 2^31-1, as the host
 * checks them); UID alone means GID = UID. */
int docker_parse_user(const char *user, uid_t *ret_uid, gid_t *ret_gid, vs_error *err);

/* docker.c: the engine and the workflow's container */
int docker_start_engine(bool nat, pid_t *ret_pid, vs_error *err);
/* Stops dockerd cleanly so its state on disk is complete (preloading). */
int docker_stop_engine(pid_t pid, vs_error *err);
/* *ret_loaded: what docker load named (may be NULL). */
int docker_load(const char *tar, char **ret_loaded, vs_error *err);
/* *ret_exit: the workflow's exit code; *ret_run_error: the engine's error
 * text about the run (NULL when none). */
int docker_run(const json_t *spec, int *ret_exit, char **ret_run_error, vs_error *err);
int docker_save(const char *ref, const char *dest, vs_error *err);
/* Builds the spec's "build" from /job/in/context.tar: *ret_exit is the
 * builder's status, *ret_id the built image ("sha256:...") when it is 0,
 * *ret_build_error docker's error text when not (NULL when none). */
int docker_build(const json_t *spec, bool nat, int *ret_exit, char **ret_id, char **ret_build_error, vs_error *err);
void docker_describe(const char *ref, json_t *result);

#endif
