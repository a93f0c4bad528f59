/* The job spec: what one workflow run asks for, with its limits. */
#ifndef VS_SPEC_H
#define VS_SPEC_H

#include "build.h"
#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
        VS_NETWORK_NONE,
        VS_NETWORK_NAT,
        VS_NETWORK_LAST
} vs_network;

/* Bounds on everything a user controls. */
#define VS_MEMORY_MIN (256ull << 20)
#define VS_MEMORY_MAX (256ull << 30)
#define VS_CPUS_MAX 64u
#define VS_DISK_MIN (256ull << 20)
#define VS_DISK_MAX (2ull << 40)
#define VS_TIMEOUT_MIN_MS 1000ull
#define VS_TIMEOUT_MAX_MS (7ull * 24 * 3600 * 1000)
#define VS_ENV_MAX 256
#define VS_ARGS_MAX 1024
#define VS_STRING_MAX 32768
#define VS_PATH_MAX 1024
/* A container's binds (docs/docker-api.md): how many, and their bytes
 * together (each is copied into the job disk and, rw, back). */
#define VS_BINDS_MAX 16
#define VS_BINDS_BYTES_MAX (16ull << 30)
#define VS_HOSTNAME_MAX 255

/* One bind of a container: a host directory or file copied in to target
 * before the run and, rw, written back after it.  dev/ino: the identity
 * the host path had when the container was created (0/0: not pinned); the
 * run refuses a path that is another file by then. */
typedef struct {
        char *host;
        char *target;
        bool rw;
        uint64_t dev, ino;
} vs_bind;

typedef struct {
        char *image;          /* host path of the docker-archive tar; NULL: run a
                                 preloaded image of the base image named by tag */
        char *tag;            /* NULL: the archive's only tag */
        char *workspace;      /* host directory or NULL */
        char *mount_at;       /* guest path of the workspace, default /erc */
        uint64_t memory;      /* bytes */
        unsigned cpus;
        uint64_t disk;        /* bytes of job scratch space */
        uint64_t timeout_ms;
        vs_network network;
        char **env;           /* "KEY=VALUE", NULL-terminated */
        char *user;           /* "UID[:GID]" or NULL */
        char *workdir;        /* NULL: the image's own */
        bool export_image;
        char **cmd;           /* NULL: the image's own entrypoint/cmd */
        vs_build *build;      /* an image build (build.h): no image, tag or cmd; NULL: a run */
        /* NULL: the image's own entrypoint; an empty vector (a lone NULL)
         * resets it (Docker's `--entrypoint ""`).  Set, it replaces the
         * image's entrypoint and its cmd (as Docker does): the container
         * runs entrypoint + cmd. */
        char **entrypoint;
        char *docker_socket;  /* guest path where the container gets the VM's own engine socket; NULL: none */
        vs_bind *binds;       /* a container's binds (besides the workspace), n_binds of them */
        size_t n_binds;
        char *hostname;       /* the container's hostname in the VM's engine; NULL: the engine's */
        bool tty;             /* the container gets a terminal (its output one raw stream) */
} vs_spec;

void vs_spec_init(vs_spec *s);
void vs_spec_clear(vs_spec *s);

/* Checks every field against its bounds; the error names the field. */
int vs_spec_validate(const vs_spec *s, vs_error *err);
/* The parts of it for the binds (no container path twice: "Duplicate
 * mount point: T") and the hostname. */
int vs_spec_validate_binds(const vs_spec *s, vs_error *err);
int vs_spec_validate_hostname(const vs_spec *s, vs_error *err);

/* Adds one "KEY=VALUE" (validated) / one command argument. */
int vs_spec_add_env(vs_spec *s, const char *kv, vs_error *err);
int vs_spec_add_arg(vs_spec *s, const char *arg, vs_error *err);
/* Sets the entrypoint (empty: reset); at most VS_ARGS_MAX words of
 * VS_STRING_MAX bytes. */
int vs_spec_set_entrypoint(vs_spec *s, char *const *words, size_t n, vs_error *err);

/* Appends a bind (copied); at most VS_BINDS_MAX. */
int vs_spec_add_bind(vs_spec *s, const char *host, const char *target, bool rw, vs_error *err);

const char *vs_network_name(vs_network n);
int vs_network_parse(const char *s, vs_network *ret);

/* Builds a spec from JSON (the HTTP API's shape): unknown fields, wrong types
 * and unparsable values are errors naming the field; limits are checked later
 * by vs_spec_validate. */
int vs_spec_from_json(json_t *obj, vs_spec *ret, vs_error *err);

/* The API JSON of a spec (the inverse of vs_spec_from_json). */
json_t *vs_spec_to_json(const vs_spec *s);

/* The JSON the guest agent reads: what to run, with the resolved image ref. */
json_t *vs_spec_guest_json(const vs_spec *s, const char *ref);

#endif
