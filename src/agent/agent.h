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

/* engine_http.c: HTTP/1.1 on the engine's unix socket, one request per
 * connection, every answer bounded. */
#define ENGINE_LENGTH_MAX (1ull << 40) /* a Content-Length */
#define ENGINE_CHUNK_MAX (1ull << 30)  /* a chunk's size */
#define ENGINE_TRAILERS_MAX 32
typedef enum {
        ENGINE_BODY_NONE,    /* 1xx but 101, 204, 304 */
        ENGINE_BODY_LENGTH,  /* Content-Length */
        ENGINE_BODY_CHUNKED, /* Transfer-Encoding: chunked */
        ENGINE_BODY_CLOSE,   /* to the end of the stream (also 101's hijacked stream) */
        ENGINE_BODY_LAST
} engine_body_mode;
typedef struct {
        int status;
        engine_body_mode mode;
        uint64_t length;
} engine_head;
typedef struct {
        int fd;
        unsigned timeout_s;
        char buf[16384]; /* also the bound of a head */
        size_t pos, len;
        engine_body_mode mode;
        uint64_t left; /* LENGTH: the body's bytes left; CHUNKED: this chunk's */
        bool chunks_done;
} engine_conn;
void engine_conn_init(engine_conn *c, int fd);
void engine_conn_close(engine_conn *c);
/* timeout_s bounds each read and write (0: none). */
int engine_connect(engine_conn *c, const char *sock, unsigned timeout_s, vs_error *err);
/* length < 0: no body; upgrade: "Upgrade: tcp" (attach), else
 * "Connection: close". */
int engine_send_head(engine_conn *c, const char *method, const char *path, const char *ctype, long long length,
                     bool upgrade, vs_error *err);
int engine_send(engine_conn *c, const void *data, size_t len, vs_error *err);
/* len bytes of fd as the body. */
int engine_send_fd(engine_conn *c, int fd, uint64_t len, vs_error *err);
/* The status line and the headers that frame the body (pure). */
int engine_parse_head(const char *head, size_t len, engine_head *ret, vs_error *err);
int engine_read_head(engine_conn *c, int *ret_status, vs_error *err);
/* The body's next bytes: > 0, 0 at its end, -1 on error. */
ssize_t engine_read_body(engine_conn *c, void *dst, size_t cap, vs_error *err);
/* The whole body (NUL-terminated), an error past max bytes. */
int engine_read_all(engine_conn *c, size_t max, char **ret, size_t *ret_len, vs_error *err);

/* engine_api.c: the Engine API's requests and answers (pure; unit-tested) */
#define DOCKER_CONTAINER "vmsandbox-job"
#define DOCKER_SOCK "/run/docker.sock"   /* the VM's own engine */
/* More than the host allows (256 env, 1024 args). */
#define ENGINE_WORDS_MAX 2047
#define DOCKER_BINDS_MAX 16 /* VS_BINDS_MAX: a container's binds, /job/binds/N */
#define ENGINE_ANSWER_MAX (1u << 20)    /* a JSON answer */
#define ENGINE_MESSAGE_MAX 65536        /* an error text in it */
#define ENGINE_MSG_LINE_MAX (1 << 20)   /* a line of a JSON message stream */
#define ENGINE_MUX_FRAME_MAX (1u << 20) /* a frame of the attach stream */
#define ENGINE_DIGESTS_MAX 64
#define ENGINE_REF_MAX 512
/* The body of POST /containers/create for the job spec: Image, Cmd,
 * Entrypoint, Env, User, WorkingDir, Hostname, Tty, HostConfig (Mounts,
 * NetworkMode, and with memory_kib > 0 Memory = MemorySwap: no swap);
 * NULL with err set. */
char *engine_create_body(const json_t *spec, unsigned long memory_kib, vs_error *err);
/* /images/REF/WHAT, REF percent-encoded but '/' and ':'. */
char *engine_image_path(const char *ref, const char *what);
/* POST /build's path and query for the spec's "build" object (the classic
 * builder; without nat, networkmode=none). */
char *engine_build_path(const json_t *build, bool nat, vs_error *err);
/* The engine's {"message"} of an error answer, cleaned; else the status. */
char *engine_error_message(int status, const char *body, size_t len);
/* GET /containers/X/json: State.ExitCode (0..255), OOMKilled, Error (NULL
 * when empty). */
int engine_parse_container(const char *body, size_t len, int *ret_exit, bool *ret_oom, char **ret_error, vs_error *err);
/* GET /images/X/json: Id ("sha256:" + 64 hex) and RepoDigests (strings);
 * -1 when it is not such a record. */
int engine_parse_image(const char *body, size_t len, char **ret_id, json_t **ret_digests);
/* GET /version: its Version, NULL when absent or odd. */
char *engine_parse_version(const char *body, size_t len);
/* One message of a JSON message stream (load, build). */
typedef struct {
        char *stream; /* output text, or NULL */
        char *error;  /* the error, cleaned, or NULL */
        int code;     /* with error: errorDetail.code if 1..255, else 1 */
        char *aux_id; /* aux.ID, a checked image id, or NULL */
} engine_msg;
int engine_parse_msg(const char *line, size_t len, engine_msg *ret, vs_error *err);
void engine_msg_clear(engine_msg *m);
/* Lines of a stream, each at most ENGINE_MSG_LINE_MAX, empty ones skipped. */
typedef int (*engine_line_fn)(void *ud, const char *line, size_t len, vs_error *err);
typedef struct {
        char *buf;
        size_t len, cap;
} engine_lines;
int engine_lines_feed(engine_lines *l, const char *data, size_t n, engine_line_fn fn, void *ud, vs_error *err);
/* A last line without its newline. */
int engine_lines_end(engine_lines *l, engine_line_fn fn, void *ud, vs_error *err);
void engine_lines_clear(engine_lines *l);
/* The attach stream's 8-byte-header frames, as they come. */
typedef void (*engine_out_fn)(void *ud, char frame_type, const char *data, size_t len);
typedef struct {
        unsigned char hdr[8];
        size_t hlen;
        uint32_t left;
        int stream;
} engine_mux;
int engine_mux_feed(engine_mux *m, const char *data, size_t n, engine_out_fn fn, void *ud, vs_error *err);
/* An error when the stream ended inside a frame. */
int engine_mux_end(const engine_mux *m, vs_error *err);
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
/* The first image a load's output names ("Loaded image: X" or "Loaded
 * image ID: X"), or NULL. */
char *docker_parse_loaded(const char *out);
/* An image id: "sha256:" and 64 lower-case hex digits (a trailing newline
 * allowed), or NULL. */
char *docker_parse_iid(const char *text);
/* Guest text (an engine message) as one JSON-safe message: trailing
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
