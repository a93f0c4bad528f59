#include "agent.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DOCKER "/usr/bin/docker"
#define DOCKERD "/usr/sbin/dockerd"
#define DOCKER_SOCK "/run/docker.sock"
#define ENGINE_WAIT_MS (300u * 1000u)
#define CONTAINER "vmsandbox-job"
/* Memory kept out of the workflow container's limit for the kernel, dockerd,
 * containerd and the agent.  Without a limit, a workflow that allocates past
 * the VM's RAM drives the guest into reclaim thrashing before the kernel's
 * OOM killer acts (minutes under TCG); with one, the memory cgroup kills it
 * at once and the job ends with 137 and a clear error. */
#define ENGINE_RESERVE_KIB (160u * 1024u)
#define CONTAINER_MIN_KIB (64u * 1024u)

static int engine_ping(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = DOCKER_SOCK };
        static const char req[] = "GET /_ping HTTP/1.0\r\n\r\n";
        char buf[256] = "";
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ssize_t n = -1;

        if (fd < 0)
                return 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, req, sizeof(req) - 1) > 0)
                n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0)
                buf[n] = '\0';
        return n > 0 && strstr(buf, " 200 ") != NULL;
}

int docker_start_engine(int nat, pid_t *ret_pid, char *err, size_t errlen)
{
        char *none[] = { DOCKERD, "--host", "unix://" DOCKER_SOCK, "--iptables=false", "--ip6tables=false",
                         "--bridge=none", "--ip-masq=false", "--log-level=warn", NULL };
        char *withnet[] = { DOCKERD, "--host", "unix://" DOCKER_SOCK, "--log-level=warn", NULL };
        int log = open(VS_JOB_MOUNT "/out/dockerd.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        pid_t pid = spawn_bg(nat ? withnet : none, log >= 0 ? log : STDERR_FILENO);
        uint64_t deadline = now_ms() + ENGINE_WAIT_MS;

        if (log >= 0)
                close(log);
        if (pid < 0) {
                snprintf(err, errlen, "cannot start dockerd: %s", strerror(errno));
                return -1;
        }
        while (now_ms() < deadline) {
                int status;

                if (engine_ping()) {
                        *ret_pid = pid;
                        return 0;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        snprintf(err, errlen, "dockerd exited during start-up (see dockerd.log)");
                        return -1;
                }
                poll(NULL, 0, 100);
        }
        snprintf(err, errlen, "dockerd did not answer within %u s", ENGINE_WAIT_MS / 1000);
        return -1;
}

int docker_stop_engine(pid_t pid)
{
        uint64_t deadline = now_ms() + 120000;
        int status;

        kill(pid, SIGTERM);
        while (now_ms() < deadline) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return 0;
                poll(NULL, 0, 100);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

int docker_load(const char *tar, char *loaded, size_t len, char *err, size_t errlen)
{
        char *argv[] = { DOCKER, "load", "-q", "-i", (char *)tar, NULL };
        spawn_result r;
        char *line;

        if (spawn_wait(argv, 1, STDERR_FILENO, &r) < 0) {
                snprintf(err, errlen, "cannot run docker load: %s", strerror(errno));
                return -1;
        }
        if (r.status != 0) {
                snprintf(err, errlen, "docker load failed with status %d", r.status);
                free(r.out);
                return -1;
        }
        loaded[0] = '\0';
        for (line = strtok(r.out ? r.out : "", "\n"); line; line = strtok(NULL, "\n")) {
                const char *v = NULL;
                if (strncmp(line, "Loaded image: ", 14) == 0)
                        v = line + 14;
                else if (strncmp(line, "Loaded image ID: ", 17) == 0)
                        v = line + 17;
                if (v && !loaded[0])
                        snprintf(loaded, len, "%s", v);
        }
        free(r.out);
        return 0;
}

static void push(char **argv, size_t *n, size_t max, const char *s)
{
        if (*n + 1 < max)
                argv[(*n)++] = (char *)s;
        argv[*n] = NULL;
}

/* The container's memory limit in KiB: the guest's MemTotal minus the
 * engine's reserve (at least CONTAINER_MIN_KIB); 0 when unknown. */
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
        if (total == 0)
                return 0;
        return total > ENGINE_RESERVE_KIB + CONTAINER_MIN_KIB ? total - ENGINE_RESERVE_KIB : CONTAINER_MIN_KIB;
}

/* docker create, then start -a: the split tells "the engine could not create
 * the container" (an error) from "the workflow exited 125" (its exit code). */
static int create_container(json_t *spec, char *err, size_t errlen)
{
        enum { MAX = 2 * 256 + 1024 + 32 };
        static char *argv[MAX];
        static char mount[2048], netarg[64], memarg[64], swaparg[64];
        unsigned long mem_kib = container_memory_kib();
        size_t n = 0, i;
        json_t *v;
        spawn_result r;
        const char *user = json_string_value(json_object_get(spec, "user"));
        const char *workdir = json_string_value(json_object_get(spec, "workdir"));
        int nat = strcmp(json_string_value(json_object_get(spec, "network")) ?: "none", "nat") == 0;

        push(argv, &n, MAX, DOCKER);
        push(argv, &n, MAX, "create");
        push(argv, &n, MAX, "--name=" CONTAINER);
        snprintf(netarg, sizeof(netarg), "--network=%s", nat ? "bridge" : "none");
        push(argv, &n, MAX, netarg);
        if (mem_kib) {
                /* swap equal to memory: no swap for the container */
                snprintf(memarg, sizeof(memarg), "--memory=%luk", mem_kib);
                snprintf(swaparg, sizeof(swaparg), "--memory-swap=%luk", mem_kib);
                push(argv, &n, MAX, memarg);
                push(argv, &n, MAX, swaparg);
        }
        if (user) {
                push(argv, &n, MAX, "--user");
                push(argv, &n, MAX, user);
        }
        if (workdir) {
                push(argv, &n, MAX, "--workdir");
                push(argv, &n, MAX, workdir);
        }
        json_array_foreach(json_object_get(spec, "env"), i, v) {
                push(argv, &n, MAX, "--env");
                push(argv, &n, MAX, json_string_value(v));
        }
        if (json_is_true(json_object_get(spec, "workspace"))) {
                snprintf(mount, sizeof(mount), "type=bind,source=" VS_JOB_MOUNT "/workspace,target=%s",
                         json_string_value(json_object_get(spec, "mount_at")));
                push(argv, &n, MAX, "--mount");
                push(argv, &n, MAX, mount);
        }
        push(argv, &n, MAX, "--");
        push(argv, &n, MAX, json_string_value(json_object_get(spec, "ref")));
        json_array_foreach(json_object_get(spec, "cmd"), i, v)
                push(argv, &n, MAX, json_string_value(v));

        if (spawn_wait(argv, 1, STDERR_FILENO, &r) < 0 || r.status != 0) {
                snprintf(err, errlen, "docker create failed with status %d", r.status);
                free(r.out);
                return -1;
        }
        free(r.out);
        return 0;
}

/* Exit code and error text of the finished container, from the engine. */
static int container_exit(int *ret_exit, char *err, size_t errlen)
{
        char *argv[] = { DOCKER, "inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}} {{.State.Error}}",
                         CONTAINER, NULL };
        spawn_result r;
        char *oom, *space;

        if (spawn_wait(argv, 1, STDERR_FILENO, &r) < 0 || r.status != 0 || !r.out) {
                free(r.out);
                snprintf(err, errlen, "docker inspect of the finished container failed");
                return -1;
        }
        *ret_exit = atoi(r.out);
        oom = strchr(r.out, ' ');
        space = oom ? strchr(oom + 1, ' ') : NULL;
        if (oom && strncmp(oom + 1, "true", 4) == 0) {
                unsigned long kib = container_memory_kib();
                snprintf(err, errlen, "the workflow ran out of memory: its limit is %lu MiB of the VM's RAM (--memory)",
                         kib / 1024);
        } else if (space && space[1] && space[1] != '\n') {
                space[strcspn(space, "\n")] = '\0';
                snprintf(err, errlen, "%s", space + 1);
        }
        free(r.out);
        return 0;
}

int docker_run(json_t *spec, int *ret_exit, char *err, size_t errlen)
{
        char *argv[] = { DOCKER, "start", "--attach", CONTAINER, NULL };
        int status;

        if (create_container(spec, err, errlen) < 0)
                return -1;
        if (spawn_stream(argv, &status) < 0) {
                snprintf(err, errlen, "cannot run docker start: %s", strerror(errno));
                return -1;
        }
        return container_exit(ret_exit, err, errlen);
}

int docker_save(const char *ref, const char *dest, char *err, size_t errlen)
{
        char *argv[] = { DOCKER, "save", "-o", (char *)dest, (char *)ref, NULL };
        spawn_result r;

        if (spawn_wait(argv, 0, STDERR_FILENO, &r) < 0 || r.status != 0) {
                snprintf(err, errlen, "docker save failed with status %d", r.status);
                return -1;
        }
        return 0;
}

static char *capture(char *const argv[])
{
        spawn_result r;

        if (spawn_wait(argv, 1, STDERR_FILENO, &r) < 0 || r.status != 0) {
                free(r.out);
                return NULL;
        }
        if (r.out)
                r.out[strcspn(r.out, "\n")] = '\0';
        return r.out;
}

void docker_describe(const char *ref, json_t *result)
{
        char *version[] = { DOCKER, "version", "--format", "{{.Server.Version}}", NULL };
        char *inspect[] = { DOCKER, "image", "inspect", "--format", "{{json .}}", (char *)ref, NULL };
        char *v = capture(version);
        char *img = capture(inspect);
        json_t *j = img ? json_loads(img, 0, NULL) : NULL;

        if (v)
                json_object_set_new(result, "docker_version", json_string(v));
        if (j) {
                json_object_set(result, "image_id", json_object_get(j, "Id"));
                json_object_set(result, "repo_digests", json_object_get(j, "RepoDigests"));
                json_decref(j);
        }
        free(v);
        free(img);
}
