/* Containers of the Docker-compatible socket (docs/docker-api.md): the
 * Engine API's create body mapped onto a job spec and the container's
 * Docker facts (record.h's vs_container).  Pure: no I/O, no service.
 *
 * The body is parsed here, at the edge, field by field into typed data;
 * unknown fields are ignored (as Docker does), known ones of the wrong type
 * and values vmsandbox cannot honour are VS_ERR_INPUT naming the field or
 * the value (the HTTP layer answers 400). */
#ifndef VS_CONTAINER_H
#define VS_CONTAINER_H

#include "error.h"
#include "record.h"
#include "spec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What the agent keeps of the VM's memory for itself and the engine
 * (DOCKER_ENGINE_RESERVE_KIB): a container with Memory M gets a VM of
 * M + this, so that the workflow has about M. */
#define VS_CONTAINER_RESERVE (160ull << 20)
/* Finished containers whose job AutoRemove deleted, remembered for their
 * waiters (vs_service_container_wait). */
#define VS_CONTAINER_TOMBSTONES 256

typedef struct {
        char *const *roots;       /* --allow-root directories; a bind must be below one (by its letters) */
        bool allow_network;       /* bridge/default become nat (else none) */
        uint64_t default_memory;  /* VM memory without Memory; 0: the spec's default (1 GiB) */
        uint64_t max_disk;        /* 0: the spec's default disk is kept */
        uint64_t timeout_ms;      /* 0: VS_TIMEOUT_MAX_MS (Docker containers have no time limit) */
} vs_container_policy;

/* The body of POST /containers/create into ret_spec (the image is left
 * unset: the caller resolves Image) and *ret_c (name and image_id left
 * for the caller).  Mapping (docs/docker-api.md "Containers"):
 *   Memory (HostConfig's, else top level)  VM RAM = max(Memory + 160 MiB, VS_MEMORY_MIN),
 *                                          rounded up to MiB; 0: default_memory
 *   NanoCpus                               vCPUs = ceil(NanoCpus / 1e9); none: 1
 *   CpuShares                              kept for inspect; a relative weight has no
 *                                          meaning between VMs: 1 vCPU
 *   NetworkDisabled, NetworkMode none      network none
 *   NetworkMode "", default, bridge        nat when allow_network, else none
 *   Binds / Mounts (type bind)             binds below a root: the spec's binds (copied
 *                                          in, written back when rw; no target twice,
 *                                          no two overlapping rw sources); a bind of
 *                                          /var/run/docker.sock: the VM's own engine
 *   Hostname, Tty                          the spec's (the guest's --hostname, --tty)
 *   Env, User (numeric), WorkingDir, Cmd, Entrypoint  the spec's
 *   Labels, Tty, OpenStdin, Hostname, AutoRemove      the facts too
 * HostConfig's fields win over the same fields at the top level (where
 * dockerode's callers put them); the top level fills in what HostConfig
 * leaves 0 or absent, as moby's create handler does. */
int vs_container_from_docker(json_t *body, const vs_container_policy *p, vs_spec *ret_spec, vs_container **ret_c,
                             vs_error *err);

/* One Binds entry "HOST:CONTAINER[:OPTIONS]" checked: both absolute, the
 * options ro, rw and the ones that do not change a copy (z, Z, propagation,
 * nocopy, consistent, cached, delegated).  ret_host/ret_target malloc'd. */
int vs_container_parse_bind(const char *bind, char **ret_host, char **ret_target, bool *ret_rw, vs_error *err);

/* Docker's view of a job's state: "created", "running" (a queued container
 * was started: it is running for Docker) or "exited". */
const char *vs_container_status(vs_job_state st);
/* The exit code Docker reports for a finished container: the workflow's;
 * 137 for one that was killed, stopped or ran out of time (SIGKILL, as
 * Docker reports a killed container); 125 when the sandbox failed before
 * the workflow gave one (*ret_failed then: the job's error is the
 * reason).  0 for one that has not finished. */
int vs_container_exit_code(vs_job_state st, int exit_code, bool *ret_failed);

/* GET /containers/json's filters (Docker's JSON, either form): the
 * values of one key are alternatives, keys all apply.  name: a substring
 * of the name; id: a prefix of the id; label: KEY or KEY=VALUE; status:
 * one of Docker's states.  INPUT for another key or state. */
#define VS_CONTAINER_FILTER_VALUES 64
typedef struct {
        char **name, **id, **label, **status; /* NULL: no such filter */
} vs_container_filters;

int vs_container_filters_parse(json_t *filters, vs_container_filters *ret, vs_error *err);
void vs_container_filters_clear(vs_container_filters *f);
bool vs_container_filters_match(const vs_container_filters *f, const char *id, const vs_container *c, vs_job_state st);

/* An age as `docker ps` words it ("Less than a second", "5 seconds",
 * "About a minute", "3 hours", "2 days", ...). */
void vs_container_human_duration(int64_t seconds, char *buf, size_t len);

#endif
