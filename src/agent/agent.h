/* vmsandbox-agent: PID 1 of a job VM.  It prepares the guest, runs the
 * workflow through the preloaded Docker engine, writes /job/out/result.json
 * and powers the VM off.  Everything it reports is also untrusted by the host. */
#ifndef VS_AGENT_H
#define VS_AGENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_LOG_PREFIX "vmsandbox-agent: "

/* channel.c: the progress port to the host */
int channel_open(void);
void channel_send(char type, const void *data, size_t len);
void channel_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ms(void);
void phase_mark(json_t *phases, const char *name, int start);

/* system.c: guest set-up and power-off */
void system_mount_basics(void);
void system_load_modules(const char *const *mods);
int system_mount_job(void);
void system_grow_root(void);
int system_network_up(int nat);
void system_poweroff(void) __attribute__((noreturn));

/* spawn.c: child processes */
typedef struct {
        char *out;     /* captured stdout (NUL-terminated), or NULL */
        size_t out_len;
        int status;    /* exit code, or 128+signal */
} spawn_result;

/* Runs argv; stdout captured (bounded) when capture is set, else to the log fd. */
int spawn_wait(char *const argv[], int capture, int log_fd, spawn_result *ret);
pid_t spawn_bg(char *const argv[], int log_fd);
/* Runs argv, streaming stdout/stderr as frames and into the given files. */
int spawn_stream(char *const argv[], int *ret_status);

/* docker.c */
int docker_start_engine(int nat, pid_t *ret_pid, char *err, size_t errlen);
/* Stops dockerd cleanly so its state on disk is complete (preloading). */
int docker_stop_engine(pid_t pid);
int docker_load(const char *tar, char *loaded, size_t len, char *err, size_t errlen);
int docker_run(json_t *spec, int *ret_exit, char *err, size_t errlen);
int docker_save(const char *ref, const char *dest, char *err, size_t errlen);
void docker_describe(const char *ref, json_t *result);

#endif
