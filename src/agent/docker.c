/* The Docker engine in the guest and the workflow's container. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"
#include "clock.h"
#include "io.h"
#include "proc.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DOCKERD "/usr/sbin/dockerd"
#define ENGINE_WAIT_MS (300u * 1000u)
#define ENGINE_STOP_MS (120u * 1000u)
#define PING_TIMEOUT_S 2

/* One GET /_ping.  The socket has send and receive timeouts: a dockerd that
 * accepts connections (the kernel does, from listen() on) but does not
 * answer yet must not hold the start-up loop past its deadline. */
static bool engine_ping(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = DOCKER_SOCK };
        static const char req[] = "GET /_ping HTTP/1.0\r\n\r\n";
        struct timeval tv = { .tv_sec = PING_TIMEOUT_S };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char buf[256];
        ssize_t n;

        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return false;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || vs_write_full(fd, req, sizeof(req) - 1) < 0)
                return false;
        /* HTTP/1.0: the engine closes after its answer; the status line is
         * in the first bytes. */
        n = vs_read_full(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") != NULL;
}

int docker_start_engine(bool nat, pid_t *ret_pid, vs_error *err)
{
        char *none[] = { DOCKERD, "--host", "unix://" DOCKER_SOCK, "--iptables=false", "--ip6tables=false",
                         "--bridge=none", "--ip-masq=false", "--log-level=warn", NULL };
        char *withnet[] = { DOCKERD, "--host", "unix://" DOCKER_SOCK, "--log-level=warn", NULL };
        _cleanup_close_ int log = open(VS_JOB_MOUNT "/out/dockerd.log",
                                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        uint64_t deadline = vs_mono_ms() + ENGINE_WAIT_MS;
        pid_t pid;

        if (log < 0)
                channel_log("cannot create dockerd.log (%s); dockerd logs to the console", strerror(errno));
        if (spawn_bg(nat ? withnet : none, log >= 0 ? log : STDERR_FILENO, &pid, err) < 0)
                return -1;
        while (vs_mono_ms() < deadline) {
                int status, r;

                if (engine_ping()) {
                        *ret_pid = pid;
                        return 0;
                }
                r = vs_poll_pid(pid, &status);
                if (r < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for dockerd");
                if (r > 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "dockerd exited during start-up with status %d (see dockerd.log)",
                                            vs_exit_code(status));
                poll(NULL, 0, 100);
        }
        /* Left running: the VM powers off after the error is recorded. */
        return vs_error_set(err, VS_ERR_SANDBOX, "dockerd did not answer within %u s", ENGINE_WAIT_MS / 1000);
}

int docker_stop_engine(pid_t pid, vs_error *err)
{
        uint64_t deadline = vs_mono_ms() + ENGINE_STOP_MS;
        int status, r;

        if (vs_kill_pid(pid, SIGTERM) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot stop dockerd (pid %d)", (int)pid);
        while (vs_mono_ms() < deadline) {
                r = vs_poll_pid(pid, &status);
                if (r < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "waiting for dockerd to stop");
                if (r > 0)
                        return 0;
                poll(NULL, 0, 100);
        }
        if (vs_kill_pid(pid, SIGKILL) == 0)
                vs_wait_pid(pid, &status);
        return vs_error_set(err, VS_ERR_SANDBOX, "dockerd did not stop within %u s (killed)", ENGINE_STOP_MS / 1000);
}

/* Runs argv and requires exit status 0.  stdout is captured (bounded) and
 * kept in *ret_out when asked for, else dropped (docker create prints the
 * container's id); stderr goes to the console. */
static int docker_cmd(char *const argv[], char **ret_out, vs_error *err)
{
        spawn_result r;

        if (spawn_wait(argv, true, STDERR_FILENO, &r, err) < 0)
                return -1;
        if (r.status != 0) {
                free(r.out);
                return vs_error_set(err, VS_ERR_SANDBOX, "docker %s failed with status %d", argv[1], r.status);
        }
        if (ret_out)
                *ret_out = r.out;
        else
                free(r.out);
        return 0;
}

int docker_load(const char *tar, char **ret_loaded, vs_error *err)
{
        char *argv[] = { DOCKER, "load", "-q", "-i", (char *)tar, NULL };
        _cleanup_free_ char *out = NULL;

        if (docker_cmd(argv, &out, err) < 0)
                return -1;
        *ret_loaded = docker_parse_loaded(out);
        return 0;
}

/* The workflow container's memory limit, from the guest's MemTotal. */
static unsigned long container_memory_kib(void)
{
        char line[256];
        unsigned long total = 0;
        FILE *f = fopen("/proc/meminfo", "re");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemTotal: %lu kB", &total) == 1)
                        break;
        fclose(f);
        return docker_container_memory_kib(total);
}

/* Exit code and error text of the finished container, from the engine. */
static int container_exit(int *ret_exit, char **ret_run_error, vs_error *err)
{
        char *argv[] = { DOCKER, "inspect", "--format", DOCKER_INSPECT_EXIT, DOCKER_CONTAINER, NULL };
        _cleanup_free_ char *out = NULL;
        bool oom;

        if (docker_cmd(argv, &out, err) < 0) {
                vs_error_prefix(err, "the finished container");
                return -1;
        }
        if (docker_parse_exit(out, ret_exit, &oom, ret_run_error, err) < 0)
                return -1;
        if (oom) {
                free(*ret_run_error);
                *ret_run_error = vs_xasprintf("the workflow ran out of memory: its limit is %lu MiB of the VM's RAM "
                                              "(--memory)", container_memory_kib() / 1024);
        }
        return 0;
}

int docker_run(const json_t *spec, int *ret_exit, char **ret_run_error, vs_error *err)
{
        char *start[] = { DOCKER, "start", "--attach", DOCKER_CONTAINER, NULL };
        _cleanup_strv_ char **create = NULL;
        int status;

        if (docker_create_argv(spec, container_memory_kib(), &create, err) < 0 || docker_cmd(create, NULL, err) < 0)
                return -1;
        /* start's own status is the workflow's or docker's; the engine's
         * record of the container says which (container_exit). */
        if (spawn_stream(start, &status, err) < 0)
                return -1;
        return container_exit(ret_exit, ret_run_error, err);
}

int docker_save(const char *ref, const char *dest, vs_error *err)
{
        char *argv[] = { DOCKER, "save", "-o", (char *)dest, (char *)ref, NULL };

        return docker_cmd(argv, NULL, err);
}

/* DOCKER_BUILDKIT=0: the classic builder, whose output the host turns back
 * into the Engine API's JSON lines (docs/docker-api.md).  The context is
 * the uploaded tar on stdin; the image id comes from --iidfile. */
int docker_build(const json_t *spec, bool nat, int *ret_exit, char **ret_id, char **ret_build_error, vs_error *err)
{
        _cleanup_strv_ char **argv = NULL;
        _cleanup_free_ char *tail = NULL, *iid = NULL;
        _cleanup_close_ int ctx = -1;
        size_t iid_len = 0;
        int status;

        if (docker_build_argv(json_object_get(spec, "build"), nat, DOCKER_BUILD_IIDFILE, &argv, err) < 0)
                return -1;
        ctx = open(VS_JOB_MOUNT "/in/context.tar", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (ctx < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "the build context");
        unlink(DOCKER_BUILD_IIDFILE);
        setenv("DOCKER_BUILDKIT", "0", 1);
        if (spawn_stream_keep_err(argv, ctx, &status, &tail, err) < 0)
                return -1;
        *ret_exit = status;
        *ret_id = NULL;
        *ret_build_error = tail[0] ? docker_clean_text(tail, strlen(tail)) : NULL;
        if (status != 0)
                return 0;
        if (vs_read_file(DOCKER_BUILD_IIDFILE, 256, &iid, &iid_len, err) < 0) {
                vs_error_prefix(err, "the built image's id");
                return -1;
        }
        *ret_id = docker_parse_iid(iid);
        if (!*ret_id)
                return vs_error_set(err, VS_ERR_SANDBOX, "docker build wrote no image id");
        return 0;
}

/* The first line of argv's stdout, or NULL when it fails (an image that is
 * not there is an answer, not an error: the caller reports it). */
static char *first_line(char *const argv[])
{
        vs_error err = { 0 };
        char *out = NULL;

        if (docker_cmd(argv, &out, &err) < 0)
                return NULL;
        out[strcspn(out, "\n")] = '\0';
        return out;
}

void docker_describe(const char *ref, json_t *result)
{
        char *version[] = { DOCKER, "version", "--format", "{{.Server.Version}}", NULL };
        char *inspect[] = { DOCKER, "image", "inspect", "--format", "{{json .}}", (char *)ref, NULL };
        _cleanup_free_ char *v = first_line(version);
        _cleanup_free_ char *img = first_line(inspect);
        _cleanup_json_ json_t *j = img ? json_loads(img, 0, NULL) : NULL;

        if (v)
                json_object_set_new(result, "docker_version", json_string(v));
        if (j) {
                json_object_set(result, "image_id", json_object_get(j, "Id"));
                json_object_set(result, "repo_digests", json_object_get(j, "RepoDigests"));
        }
}
