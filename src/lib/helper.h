/* vmsandbox-appliance: the program that the dropped child of every
 * appliance phase (prepare, collect, doctor's self-test) executes right
 * after the drop (privdrop.h, vs_child_exec).  It starts with a fresh
 * address space: nothing of the parent's memory — in serve, the admin
 * token, client token hashes, every job's record and env values — is in
 * the process that libguestfs' appliance could subvert.  It gets only what
 * the phase needs: descriptor numbers and non-secret settings in argv, a
 * minimal environment, and the rest (the job spec, which holds env values)
 * over the channel.
 *
 *   vmsandbox-appliance ROLE --accel kvm|tcg --tmpdir DIR [--appliance DIR]
 *       [--job ID] [--disk PATH] [--image FD] [--preload FD]... [--ws-pipe FD]
 *       [--ws-tar FD] [--bind-dir FD | --bind-file FD]... [--context FD [--build-image FD]...]
 *       --chan FD
 *
 * ROLE is prepare (the spec comes as 'J' frames, an empty one last; then
 * the child answers 'K' or 'X'), collect (the frames of collect.h) or
 * selftest ('K' or 'X'). */
#ifndef VS_HELPER_H
#define VS_HELPER_H

#include "disk.h"
#include "error.h"
#include "privdrop.h"
#include "spec.h"

#include <stdbool.h>
#include <stddef.h>

#define VS_HELPER_SPEC_MAX (64u << 20)

typedef enum {
        VS_HELPER_PREPARE,
        VS_HELPER_COLLECT,
        VS_HELPER_SELFTEST,
        VS_HELPER_LAST
} vs_helper_role;

typedef struct {
        vs_helper_role role;
        vs_appliance app;                /* accel, job id, tmpdir, fixed appliance */
        const char *disk;                /* prepare, collect */
        int image_fd, ws_pipe, ws_tar_fd; /* prepare; -1: none */
        int preload_fds[VS_PRELOAD_MAX];
        size_t n_preloads;
        int context_fd;                  /* prepare of a build: the context tar; -1: not a build */
        int build_image_fds[VS_PRELOAD_MAX]; /* its FROM images */
        size_t n_build_images;
        int bind_fds[VS_BINDS_MAX];      /* prepare: /binds/N from a tar pipe (a directory) or a file */
        bool bind_files[VS_BINDS_MAX];
        size_t n_binds;
        int chan;                        /* the helper's side; -1 in the parent */
} vs_helper_args;

/* An args with every fd -1. */
void vs_helper_args_init(vs_helper_args *a, vs_helper_role role);

/* Parent side: the helper's argv (without "--chan N") and environment: PATH
 * (fixed when dropping, else the caller's), the caller's LIBGUESTFS_*,
 * SUPERMIN_KERNEL, _KERNEL_VERSION and _MODULES when setup-host unpacked an
 * appliance kernel (vs_appliance_kernel_find), TMPDIR and XDG_RUNTIME_DIR (the phase's private directory; the latter only
 * when short enough for a socket path). */
char **vs_helper_argv(const vs_helper_args *a);
char **vs_helper_env(bool drop, const char *tmpdir);
/* Starts the phase's child as the helper (privdrop.h's opts: identity,
 * bound, the fds of a that it keeps, groups). */
int vs_helper_start(vs_child *c, const vs_child_opts *o, const vs_helper_args *a, vs_error *err);

/* Helper side.  Strings of ret point into argv; every fd must be open. */
int vs_helper_parse(int argc, char **argv, vs_helper_args *ret, vs_error *err);
int vs_helper_main(int argc, char **argv);
/* The roles (disk.c, collect_child.c): 0 when done and reported. */
int vs_disk_prepare_serve(const vs_helper_args *a);
int vs_disk_selftest_serve(const vs_helper_args *a);

#endif
