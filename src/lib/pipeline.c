#include "pipeline.h"
#include "alloc.h"
#include "cleanup.h"
#include "collect.h"
#include "disk.h"
#include "domain_xml.h"
#include "fsutil.h"
#include "job.h"
#include "parse.h"
#include "qemuaccess.h"
#include "strv.h"
#include "tar.h"
#include "text.h"
#include "workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define WORKSPACE_MAX_ENTRIES 200000ull
#define DOCKERD_LOG_MAX (8u << 20)
/* How long a lost libvirtd gets to come back so that our VM can be destroyed. */
#define LIBVIRT_BACK_MS (60u * 1000u)

static void event_phase(vs_job *job, vs_phase p, bool start)
{
        const vs_events *ev = job->opts->events;

        vs_result_phase(job->result, p, start);
        if (ev && ev->phase)
                ev->phase(ev->userdata, vs_phase_name(p), false, start);
}

static char *path_join(const char *a, const char *b)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* ---- validate ---------------------------------------------------------- */

/* "/proc/self/fd/N" of an fd this process holds: the same open file for
 * libraries that take a path (libguestfs, the archive reader). */
static void fd_path(char buf[32], int fd)
{
        snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static int open_workspace_tar(vs_job *job, vs_error *err)
{
        struct stat st;

        job->workspace_tar_fd = open(job->opts->workspace_tar, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (job->workspace_tar_fd < 0 || fstat(job->workspace_tar_fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "workspace archive");
        if (!S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_INPUT, "workspace archive is not a regular file");
        fd_path(job->workspace_tar_path, job->workspace_tar_fd);
        job->workspace_bytes = (uint64_t)st.st_size;
        job->has_workspace = true;
        return 0;
}

/* The workspace directory is opened once, here; the copy-in (tar in the
 * directory fd) and the write-back (vs_workspace_sync_fd) use only the fd.
 * With opts->workspace_root (the service's --allow-root), the open itself is
 * confined below the root by openat2 (vs_open_beneath). */
static int check_workspace(vs_job *job, vs_error *err)
{
        const char *ws = job->spec->workspace;
        struct stat root;
        uint64_t entries;

        if (job->opts->workspace_tar)
                return open_workspace_tar(job, err);
        if (!ws)
                return 0;
        job->has_workspace = true;
        if (job->opts->workspace_root)
                job->workspace_fd = vs_open_beneath(job->opts->workspace_root, ws, O_RDONLY | O_DIRECTORY, err);
        else if ((job->workspace_fd = open(ws, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                if (errno == ENOTDIR)
                        vs_error_set(err, VS_ERR_INPUT, "workspace %s is not a directory", ws);
                else
                        vs_error_errno(err, VS_ERR_INPUT, errno, "workspace %s", ws);
        }
        if (job->workspace_fd < 0)
                return -1;
        if (fstat(job->workspace_fd, &job->workspace_st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "workspace %s", ws);
        if (stat("/", &root) == 0 && root.st_dev == job->workspace_st.st_dev && root.st_ino == job->workspace_st.st_ino)
                return vs_error_set(err, VS_ERR_INPUT, "workspace must not be /");
        if (vs_tree_size_fd(job->workspace_fd, WORKSPACE_MAX_ENTRIES, &job->workspace_bytes, &entries, err) < 0) {
                vs_error_prefix(err, "workspace %s", ws);
                return -1;
        }
        if (entries > WORKSPACE_MAX_ENTRIES)
                return vs_error_set(err, VS_ERR_INPUT, "workspace has more than %llu entries", WORKSPACE_MAX_ENTRIES);
        return 0;
}

/* A container's binds: each opened below its root (vs_bind_open: a
 * directory or a regular file, the one pinned at create), sized; the
 * copy-in and the write-back use only the fds. */
static int open_binds(vs_job *job, vs_error *err)
{
        uint64_t entries = 0;

        for (size_t i = 0; i < job->spec->n_binds; i++) {
                const vs_bind *b = &job->spec->binds[i];
                const char *root = job->opts->bind_roots ? job->opts->bind_roots[i] : "/";
                uint64_t n;

                if (vs_bind_open(root, b, WORKSPACE_MAX_ENTRIES - entries, &job->binds[i].fd, &job->binds[i].st,
                                 &job->binds[i].bytes, &n, err) < 0)
                        return -1;
                job->n_binds = i + 1;
                job->binds_bytes += job->binds[i].bytes;
                entries += n;
                if (entries > WORKSPACE_MAX_ENTRIES)
                        return vs_error_set(err, VS_ERR_INPUT, "binds: more than %llu entries together", WORKSPACE_MAX_ENTRIES);
        }
        if (job->binds_bytes > VS_BINDS_BYTES_MAX)
                return vs_error_set(err, VS_ERR_INPUT, "binds: more than 16 GiB together");
        return 0;
}

/* The image archive is opened once; inspection and the upload read it
 * through /proc/self/fd/N. */
static int open_image(vs_job *job, vs_error *err)
{
        const char *img = job->spec->image;
        struct stat st;

        /* O_NONBLOCK: a FIFO (or device) named as the image must not block
         * the open; it is refused by type, then the flag is dropped. */
        if (job->opts->image_root)
                job->image_fd = vs_open_beneath(job->opts->image_root, img, O_RDONLY | O_NONBLOCK, err);
        else if ((job->image_fd = open(img, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
                vs_error_errno(err, VS_ERR_INPUT, errno, "cannot open image %s", img);
        if (job->image_fd < 0)
                return -1;
        if (fstat(job->image_fd, &st) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot stat image %s", img);
        if (!S_ISREG(st.st_mode))
                return vs_error_set(err, VS_ERR_INPUT, "image %s is not a regular file", img);
        if (fcntl(job->image_fd, F_SETFL, fcntl(job->image_fd, F_GETFL) & ~O_NONBLOCK) < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "image %s", img);
        fd_path(job->image_path, job->image_fd);
        if (vs_archive_inspect(job->image_path, &job->archive, err) < 0) {
                /* Messages name the fd path; the user knows the file by its name. */
                char *at = strstr(err->msg, job->image_path);
                if (at) {
                        _cleanup_free_ char *rest = vs_xstrdup(at + strlen(job->image_path));
                        *at = '\0';
                        _cleanup_free_ char *head = vs_xstrdup(err->msg);
                        snprintf(err->msg, sizeof(err->msg), "%s%s%s", head, img, rest);
                }
                return -1;
        }
        return 0;
}

/* A build's inputs, opened once like the others: the context (a tar with
 * safe names: vs_tar_check, as the service checked it at upload) and the
 * FROM images' archives (the host store's blobs). */
static int open_regular(const char *path, const char *what, uint64_t *ret_size, vs_error *err)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);

        if (fd < 0)
                return vs_error_errno(err, VS_ERR_INPUT, errno, "cannot open the build's %s", what);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return vs_error_set(err, VS_ERR_INPUT, "the build's %s is not a regular file", what);
        }
        *ret_size = (uint64_t)st.st_size;
        return fd;
}

static int open_build(vs_job *job, vs_error *err)
{
        char *const *images = job->opts->build_images;
        uint64_t size;

        if (!job->opts->build_context)
                return vs_error_set(err, VS_ERR_USAGE, "a build needs its context");
        if (vs_strv_length(images) > VS_BUILD_IMAGES_MAX)
                return vs_error_set(err, VS_ERR_USAGE, "a build takes at most %d FROM images", VS_BUILD_IMAGES_MAX);
        job->context_fd = open_regular(job->opts->build_context, "context", &job->context_bytes, err);
        if (job->context_fd < 0)
                return -1;
        if (vs_tar_check(job->context_fd, 0, job->context_bytes, err) < 0) {
                vs_error_prefix(err, "build context");
                return -1;
        }
        for (size_t i = 0; images && images[i]; i++) {
                int fd = open_regular(images[i], "FROM image", &size, err);
                if (fd < 0)
                        return -1;
                job->image_fds[job->n_images++] = fd;
                job->images_bytes += size;
        }
        return 0;
}

/* The job disk holds the archive, the workspace and what comes back (the
 * workspace again, an exported image): all of it must fit in --disk. */
static int check_disk_budget(vs_job *job, vs_error *err)
{
        uint64_t need = job->archive.size + 2 * job->workspace_bytes + 2 * job->binds_bytes + (64ull << 20);
        char a[32], b[32];

        if (job->spec->export_image)
                need += job->archive.size;
        /* A build: the context, the images as archives and loaded; what it
         * builds must fit in the rest. */
        need += job->context_bytes + 2 * job->images_bytes;
        if (need > job->spec->disk)
                return vs_error_set(err, VS_ERR_USAGE, "--disk %s is too small for this job: it needs at least %s",
                                    vs_format_size(job->spec->disk, a, sizeof(a)), vs_format_size(need, b, sizeof(b)));
        return 0;
}

static int check_out_dir(vs_job *job, vs_error *err)
{
        const char *out = job->opts->out_dir;
        DIR *d;
        struct dirent *e;
        int entries = 0;

        if (!out) {
                if (job->spec->export_image || job->spec->build)
                        return vs_error_set(err, VS_ERR_USAGE, "%s needs --out DIR",
                                            job->spec->build ? "a build" : "--export-image");
                return 0;
        }
        d = opendir(out);
        if (!d)
                return errno == ENOENT ? 0 : vs_error_errno(err, VS_ERR_USAGE, errno, "--out %s", out);
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        entries++;
        closedir(d);
        if (entries)
                return vs_error_set(err, VS_ERR_USAGE, "--out %s exists and is not empty", out);
        return 0;
}

static int job_validate(vs_job *job, vs_error *err)
{
        const vs_spec *s = job->spec;

        if (vs_spec_validate(s, err) < 0)
                return -1;
        job->accel = vs_accel_resolve(job->cfg->accel, job->accel_why, sizeof(job->accel_why));
        /* Measured: with two or more vCPUs under TCG, runc in the guest soft-locks. */
        if (job->accel == VS_ACCEL_TCG && s->cpus > 1)
                return vs_error_set(err, VS_ERR_USAGE, "--cpus %u needs KVM; under TCG (%s) guests run with 1 vCPU",
                                    s->cpus, job->accel_why);
        if (check_out_dir(job, err) < 0 || check_workspace(job, err) < 0 || open_binds(job, err) < 0)
                return -1;
        if (s->build) {
                if (open_build(job, err) < 0)
                        return -1;
        } else if (!s->image) {
                /* A preloaded image: the guest engine already has it. */
                job->ref = strdup(s->tag);
                if (!job->ref)
                        return vs_error_errno(err, VS_ERR_USAGE, ENOMEM, "tag");
        } else if (open_image(job, err) < 0 ||
                   vs_archive_pick(&job->archive, s->tag, &job->ref, &job->image_id, err) < 0)
                return -1;
        if (check_disk_budget(job, err) < 0)
                return -1;
        if (vs_base_image_open(job->cfg->image, &job->base, err) < 0)
                return -1;
        /* Fails here, naming the directory, rather than at boot for libvirt. */
        if (vs_check_qemu_access("--state-dir", job->cfg->state_dir, err) < 0 ||
            vs_check_qemu_access("base image", job->base.dir, err) < 0)
                return -1;
        return vs_libvirt_connect(job->cfg->uri, &job->conn, err);
}

/* ---- prepare ----------------------------------------------------------- */

/* Output is staged in a hidden sibling of --out and renamed at the end. */
static int make_out_tmp(vs_job *job, vs_error *err)
{
        _cleanup_free_ char *copy = NULL, *copy2 = NULL;
        const char *out = job->opts->out_dir;

        if (!out) {
                job->ws_stage = path_join(job->dir.dir, "workspace");
                return job->ws_stage ? 0 : vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "out");
        }
        copy = strdup(out);
        copy2 = strdup(out);
        if (!copy || !copy2 || asprintf(&job->out_tmp, "%s/.%s.vmsandbox-XXXXXX", dirname(copy), basename(copy2)) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "out");
        if (!mkdtemp(job->out_tmp)) {
                int e = errno;
                free(job->out_tmp);
                job->out_tmp = NULL;
                return vs_error_errno(err, VS_ERR_USAGE, e, "cannot create output beside %s", out);
        }
        /* mkdtemp made it 0700, and so it stays: workflow output and logs may
         * hold secrets; the user widens it if they want. */
        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *p = path_join(job->out_tmp, i ? "stderr.log" : "stdout.log");
                job->logs[i] = NULL;
                if (p) {
                        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                        job->logs[i] = fd >= 0 ? fdopen(fd, "w") : NULL;
                        if (fd >= 0 && !job->logs[i])
                                close(fd);
                }
                if (!job->logs[i])
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create output logs");
        }
        job->ws_stage = path_join(job->out_tmp, "workspace");
        return job->ws_stage ? 0 : vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "out");
}

/* libguestfs (prepare, collect) runs in an unprivileged child (privdrop.h)
 * bounded by the whole-job deadline and the caller's cancel. */
static vs_bound job_bound(const vs_job *job)
{
        const vs_events *ev = job->opts->events;

        return (vs_bound){ .deadline_ms = job->deadline_ms,
                           .cancelled = ev ? ev->cancelled : NULL,
                           .userdata = ev ? ev->userdata : NULL };
}

/* The job directory, the staged output and the root overlay: what the VM
 * needs to boot. */
static int prepare_dirs(vs_job *job, vs_error *err)
{
        if (vs_jobdir_create(job->cfg->state_dir, job->id, &job->dir, err) < 0 || make_out_tmp(job, err) < 0)
                return -1;
        return vs_disk_create_overlay(job->dir.root_disk, job->base.root, job->base.root_bytes + job->spec->disk, err);
}

/* The job disk, made and filled by the appliance child within bound; when
 * this returns the child is gone and the disk closed. */
static int prepare_job_disk(vs_job *job, const vs_bound *bound, vs_error *err)
{
        _cleanup_free_ char *spec_text = NULL;
        vs_build_inputs build = { .context_fd = job->context_fd, .image_fds = job->image_fds,
                                  .n_images = job->n_images };
        json_t *guest;
        vs_job_inputs in;
        int bind_fds[VS_BINDS_MAX];
        bool bind_files[VS_BINDS_MAX];

        guest = vs_spec_guest_json(job->spec, job->ref);
        json_object_set_new(guest, "workspace", json_boolean(job->has_workspace));
        json_object_set_new(guest, "load", json_boolean(job->spec->image != NULL));
        if (job->n_binds) {
                json_t *a = json_array();
                for (size_t i = 0; i < job->n_binds; i++) {
                        bind_fds[i] = job->binds[i].fd;
                        bind_files[i] = S_ISREG(job->binds[i].st.st_mode);
                        json_array_append_new(a, json_pack("{s:s, s:b, s:b}", "target", job->spec->binds[i].target, "ro",
                                                           !job->spec->binds[i].rw, "file", bind_files[i]));
                }
                json_object_set_new(guest, "binds", a);
        }
        if (job->spec->build)
                json_object_set_new(guest, "images", json_integer((json_int_t)job->n_images));
        spec_text = json_dumps(guest, JSON_COMPACT);
        json_decref(guest);
        if (!spec_text)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "spec");
        in = (vs_job_inputs){ .job_id = job->id,
                              .spec_json = spec_text,
                              .image_fd = job->image_fd,
                              .workspace_fd = job->workspace_fd,
                              .workspace_tar_fd = job->workspace_tar_fd,
                              .bind_fds = bind_fds,
                              .bind_files = bind_files,
                              .n_binds = job->n_binds,
                              .build = job->spec->build ? &build : NULL };
        return vs_disk_prepare(job->dir.job_disk, job->spec->disk, &in, job->accel, bound, err);
}

/* Sequential (job_disk = boot): prepare whole, then boot. */
static int job_prepare(vs_job *job, vs_error *err)
{
        vs_bound bound = job_bound(job);

        if (prepare_dirs(job, err) < 0)
                return -1;
        return prepare_job_disk(job, &bound, err);
}

/* ---- boot -------------------------------------------------------------- */

/* The agent waits this long for a hot-plugged job disk (its kernel command
 * line, protocol.h): what is left of the job's bound, at least a second. */
static char *boot_cmdline(const vs_job *job, bool with_disk)
{
        uint64_t now = vs_mono_ms();
        uint64_t left = job->deadline_ms > now ? job->deadline_ms - now : 0;

        if (with_disk)
                return vs_xasprintf("%s " VS_CMDLINE_DISK_WAIT "=%llu", job->base.cmdline,
                                    (unsigned long long)(left / 1000 + 1));
        /* Hot-plugged: the network too, so that the engine starts before
         * the disk holding the spec comes. */
        return vs_xasprintf("%s " VS_CMDLINE_DISK_WAIT "=%llu " VS_CMDLINE_NET "=%s", job->base.cmdline,
                            (unsigned long long)(left / 1000 + 1),
                            job->spec->network == VS_NETWORK_NAT ? "nat" : "none");
}

/* Starts the domain; with_disk false, without its job disk (it comes by
 * vs_domain_attach_disk once prepare is done). */
static int start_domain(vs_job *job, bool with_disk, vs_error *err)
{
        _cleanup_free_ char *cmdline = boot_cmdline(job, with_disk);
        vs_domain_def def = {
                .job_id = job->dir.id,
                .accel = job->accel,
                .memory = job->spec->memory,
                .cpus = job->spec->cpus,
                .kernel = job->base.kernel,
                .initrd = job->base.initrd,
                .cmdline = cmdline,
                .root_disk = job->dir.root_disk,
                .job_disk = with_disk ? job->dir.job_disk : NULL,
                .channel = job->dir.channel,
                .console_log = job->dir.console,
                .network = job->spec->network == VS_NETWORK_NAT,
        };
        _cleanup_free_ char *xml = vs_domain_xml(&def, err);

        if (!xml)
                return -1;
        return vs_domain_start(job->conn, xml, &job->dom, err);
}

static int job_boot(vs_job *job, vs_error *err)
{
        return start_domain(job, true, err);
}

/* ---- wait -------------------------------------------------------------- */

static void save_output(void *userdata, int stream, const char *data, size_t len)
{
        vs_job *job = userdata;
        FILE *f = job->logs[stream - 1];
        uint64_t *done = &job->logged[stream - 1];
        uint64_t limit = job->opts->log_limit;

        if (!f || *done >= limit)
                return;
        if (len > limit - *done) {
                fwrite(data, 1, (size_t)(limit - *done), f);
                fprintf(f, "\n[vmsandbox: output truncated at %llu bytes]\n", (unsigned long long)limit);
                *done = limit;
                return;
        }
        fwrite(data, 1, len, f);
        *done += len;
}

/* libvirtd stopped answering mid-run (restarted, say): its autodestroy of
 * our domain went with the old connection, so a new one finds the VM by
 * name and destroys it. */
static int lost_libvirt(vs_job *job, vs_error *err)
{
        _cleanup_free_ char *name = vs_xasprintf(VS_DOMAIN_PREFIX "%s", job->dir.id);
        vs_error e = { 0 };

        vs_domain_freep(&job->dom);
        vs_connect_closep(&job->conn);
        if (vs_domain_destroy_by_name(job->cfg->uri, name, LIBVIRT_BACK_MS, &e) < 0)
                return vs_error_set(err, VS_ERR_SANDBOX,
                                    "lost the connection to libvirtd during the run (was it restarted?); %s", e.msg);
        return vs_error_set(err, VS_ERR_SANDBOX,
                            "lost the connection to libvirtd during the run (was it restarted?); the job VM was destroyed");
}

static int job_wait(vs_job *job, vs_error *err)
{
        job->watch = (vs_watch){ .dom = job->dom,
                                 .channel = job->channel_fd >= 0 ? NULL : job->dir.channel,
                                 .channel_fd = job->channel_fd,
                                 .deadline_ms = job->deadline_ms,
                                 .events = job->opts->events,
                                 .save = save_output,
                                 .save_userdata = job };
        if (vs_watch_run(&job->watch, err) < 0)
                return -1;
        if (job->watch.lost)
                return lost_libvirt(job, err);
        job->timed_out = job->watch.timed_out;
        job->cancelled = job->watch.cancelled;
        if (job->timed_out)
                job->timeout_phase = VS_PHASE_WAIT;
        return 0;
}

/* ---- collect ----------------------------------------------------------- */

/* The rw binds, collected whole, into the directories (or files) opened
 * at validation; ro binds are never written.  The result lists each. */
static int write_back_binds(vs_job *job, vs_error *err)
{
        json_t *a;

        if (!job->ran || job->n_binds == 0)
                return 0;
        a = json_array();
        json_object_set_new(job->result, "binds", a);
        for (size_t i = 0; i < job->n_binds; i++) {
                const vs_bind *b = &job->spec->binds[i];
                vs_sync_stats st = { 0 };
                struct stat now;

                if (!b->rw || !job->binds[i].stage) {
                        json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "host", b->host, "target", b->target,
                                                           "written_back", false));
                        continue;
                }
                if (fstat(job->binds[i].fd, &now) < 0 || now.st_dev != job->binds[i].st.st_dev ||
                    now.st_ino != job->binds[i].st.st_ino)
                        return vs_error_set(err, VS_ERR_SANDBOX, "bind source %s changed identity during the run", b->host);
                if (S_ISREG(now.st_mode) ? vs_bind_write_file(job->binds[i].stage, job->binds[i].fd, err)
                                         : vs_workspace_sync_fd(job->binds[i].stage, job->binds[i].fd, &st, err)) {
                        vs_error_prefix(err, "writing back the bind of %s", b->host);
                        return -1;
                }
                json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:I, s:I, s:I}", "host", b->host, "target",
                                                   b->target, "written_back", true, "written", (json_int_t)st.written,
                                                   "deleted", (json_int_t)st.deleted, "unchanged",
                                                   (json_int_t)st.unchanged));
        }
        return 0;
}

/* With write_back, the workspace as the workflow left it replaces the
 * user's directory, once it has been collected whole (into --out's
 * workspace/ too when there is one: a container of an older record's rw bind). */
static int write_back(vs_job *job, vs_error *err)
{
        vs_sync_stats st;
        struct stat now;

        if (write_back_binds(job, err) < 0)
                return -1;
        /* Nothing to write back when the workflow did not run (the guest
         * failed before it): the user's directory stays as it was. */
        if (!job->opts->write_back || job->workspace_fd < 0 || !job->ran)
                return 0;
        /* The fd opened at validation: the same directory, wherever its name
         * points now. */
        if (fstat(job->workspace_fd, &now) < 0 || now.st_dev != job->workspace_st.st_dev ||
            now.st_ino != job->workspace_st.st_ino)
                return vs_error_set(err, VS_ERR_SANDBOX, "workspace %s changed identity during the run",
                                    job->spec->workspace);
        if (vs_workspace_sync_fd(job->ws_stage, job->workspace_fd, &st, err) < 0)
                return -1;
        json_object_set_new(json_object_get(job->result, "workspace"), "written_back",
                            json_pack("{s:s, s:I, s:I, s:I}", "dir", job->spec->workspace, "written",
                                      (json_int_t)st.written, "deleted", (json_int_t)st.deleted, "unchanged",
                                      (json_int_t)st.unchanged));
        return 0;
}

/* What is left of *left after a collect took bytes and entries. */
static void limits_take(vs_collect_limits *left, uint64_t bytes, uint64_t entries)
{
        left->max_bytes = bytes < left->max_bytes ? left->max_bytes - bytes : 0;
        left->max_entries = entries < left->max_entries ? left->max_entries - entries : 0;
}

/* The rw binds as the workflow left them, each into a stage of the job
 * directory (/binds/N of the job disk: a tree, or one file).  They share
 * *left with each other and with the workspace: a guest cannot make each
 * of 16 binds as big as the job disk (sparse files read back dense). */
static int collect_binds(vs_job *job, vs_collect_src *g, vs_collect_limits *left, vs_error *err)
{
        for (size_t i = 0; i < job->n_binds; i++) {
                char remote[32], name[32];
                vs_collect_stats stats;
                bool present;

                if (!job->spec->binds[i].rw)
                        continue;
                snprintf(remote, sizeof(remote), "/binds/%zu", i);
                snprintf(name, sizeof(name), "bind-%zu", i);
                job->binds[i].stage = path_join(job->dir.dir, name);
                if (!job->binds[i].stage)
                        return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "binds");
                if (S_ISREG(job->binds[i].st.st_mode)) {
                        struct stat st;

                        if (vs_collect_file(g, remote, job->binds[i].stage, left->max_bytes, &present, err) < 0)
                                return -1;
                        if (!present)
                                return vs_error_set(err, VS_ERR_SANDBOX, "the bound file %s is gone from the job disk",
                                                    job->spec->binds[i].target);
                        if (stat(job->binds[i].stage, &st) < 0)
                                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot read %s", job->binds[i].stage);
                        limits_take(left, (uint64_t)st.st_size, 1);
                        continue;
                }
                if (mkdir(job->binds[i].stage, 0700) < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", job->binds[i].stage);
                if (vs_collect_tree(g, remote, job->binds[i].stage, left, &stats, err) < 0)
                        return -1;
                limits_take(left, stats.bytes, stats.files + stats.dirs + stats.links);
        }
        return 0;
}

static int collect_outputs(vs_job *job, vs_collect_src *g, vs_error *err)
{
        vs_collect_limits lim = { .max_bytes = job->spec->disk, .max_entries = WORKSPACE_MAX_ENTRIES };
        vs_collect_stats stats;
        bool present;
        uint64_t log_bytes;

        if (job->out_tmp) {
                _cleanup_free_ char *log = path_join(job->out_tmp, "dockerd.log");
                _cleanup_free_ char *img = path_join(job->out_tmp, "image.tar");

                /* A chatty engine does not fail the job: its log keeps its end. */
                if (vs_collect_file_tail(g, "/out/dockerd.log", log, DOCKERD_LOG_MAX, &log_bytes, err) < 0)
                        return -1;
                if ((job->spec->export_image || job->spec->build) && job->ran) {
                        if (vs_collect_file(g, "/out/image.tar", img, job->spec->disk, &present, err) < 0)
                                return -1;
                        if (present)
                                json_object_set_new(job->result, "exported_image", json_string("image.tar"));
                }
        }
        if (!job->ran)
                return 0;
        if (collect_binds(job, g, &lim, err) < 0)
                return -1;
        if (!job->has_workspace)
                return 0;
        if (mkdir(job->ws_stage, 0700) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", job->ws_stage);
        if (vs_collect_tree(g, "/workspace", job->ws_stage, &lim, &stats, err) < 0)
                return -1;
        json_object_set_new(job->result, "workspace",
                            json_pack("{s:I, s:I, s:I, s:I}", "files", (json_int_t)stats.files, "dirs",
                                      (json_int_t)stats.dirs, "links", (json_int_t)stats.links, "bytes",
                                      (json_int_t)stats.bytes));
        return 0;
}

static int job_collect(vs_job *job, vs_error *err)
{
        _cleanup_collect_ vs_collect_src *g = NULL;
        _cleanup_free_ char *text = NULL;
        vs_bound bound = job_bound(job);
        size_t len = 0;
        int ran;

        if (vs_collect_open(job->dir.job_disk, job->accel, job->id, &bound, &g, err) < 0)
                return -1;
        if (vs_collect_read(g, "/out/result.json", VS_RESULT_MAX, &text, &len, err) < 0)
                return -1;
        if (text) {
                ran = vs_result_merge_guest(job->result, text, len, &job->exit_code);
                job->ran = ran == 1 && !job->timed_out && !job->cancelled;
        }
        if (!job->image_id) /* a preloaded image: the guest engine knows its id */
                json_object_set(json_object_get(job->result, "image"), "id",
                                json_object_get(json_object_get(job->result, "guest"), "image_id"));
        if (collect_outputs(job, g, err) < 0 || vs_collect_close(TAKE_PTR(g), err) < 0)
                return -1;
        /* The appliance is gone before the user's directory is touched. */
        return write_back(job, err);
}

/* ---- verdict, output, cleanup ------------------------------------------ */

/* What the guest was doing, in words, for the timeout message. */
static const char *guest_doing(const char *phase)
{
        static const struct {
                const char *phase, *what;
        } table[] = {
                { "engine-ready", "starting the Docker engine" },
                { "load", "loading the image" },
                { "run", "running the workflow" },
                { "save", "saving the image for --export-image" },
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(phase, table[i].phase) == 0)
                        return table[i].what;
        return "?";
}

static void format_ms(uint64_t ms, char *buf, size_t len)
{
        if (ms % 3600000 == 0)
                snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
        else if (ms % 60000 == 0)
                snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
        else if (ms % 1000 == 0)
                snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
        else
                snprintf(buf, len, "%llums", (unsigned long long)ms);
}

char *vs_timeout_message(uint64_t timeout_ms, vs_phase phase, const char *gp)
{
        char t[32], where[160];

        format_ms(timeout_ms, t, sizeof(t));
        switch (phase) {
        case VS_PHASE_PREPARE:
                snprintf(where, sizeof(where), "while preparing the job disk (copying the image and workspace in)");
                break;
        case VS_PHASE_BOOT:
                snprintf(where, sizeof(where), "while starting the VM");
                break;
        case VS_PHASE_WAIT:
                if (gp)
                        snprintf(where, sizeof(where), "while the guest was in %s (%s)", gp, guest_doing(gp));
                else
                        snprintf(where, sizeof(where), "before the guest reported a phase (booting: see console_tail)");
                break;
        case VS_PHASE_COLLECT:
                snprintf(where, sizeof(where), "while collecting the outputs from the job disk");
                break;
        case VS_PHASE_VALIDATE:
        case VS_PHASE_CLEANUP:
        case VS_PHASE_LAST:
                snprintf(where, sizeof(where), "in %s", vs_phase_name(phase));
                break;
        }
        return vs_xasprintf("the job ran past --timeout %s %s; raise --timeout", t, where);
}

static char *timeout_message(vs_job *job)
{
        return vs_timeout_message(job->spec->timeout_ms, job->timeout_phase, vs_guest_phase_name(job->watch.guest_current));
}

#define CONSOLE_TAIL_MAX 4096

/* The last 4 KiB of the VM's console into the result: the console log itself
 * goes with the job directory at cleanup. */
static void record_console_tail(vs_job *job)
{
        _cleanup_close_ int fd = job->dir.console ? open(job->dir.console, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
        char buf[CONSOLE_TAIL_MAX];
        off_t end, from;
        ssize_t n;

        if (fd < 0)
                return;
        end = lseek(fd, 0, SEEK_END);
        from = end > CONSOLE_TAIL_MAX ? end - CONSOLE_TAIL_MAX : 0;
        n = end > 0 ? pread(fd, buf, sizeof(buf), from) : 0;
        if (n > 0)
                json_object_set_new(job->result, "console_tail", vs_json_text(buf, (size_t)n, CONSOLE_TAIL_MAX));
}

static int job_verdict(vs_job *job, vs_error *err)
{
        const char *guest_err = json_string_value(json_object_get(json_object_get(job->result, "guest"), "error"));

        if (job->timed_out) {
                _cleanup_free_ char *msg = timeout_message(job);
                vs_result_set_status(job->result, VS_STATUS_TIMEOUT, -1, msg);
                return 0;
        }
        if (job->cancelled) {
                vs_result_set_status(job->result, VS_STATUS_CANCELLED, -1, "the job was cancelled");
                return 0;
        }
        if (job->ran) {
                vs_result_set_status(job->result, job->exit_code == 0 ? VS_STATUS_SUCCESS : VS_STATUS_FAILURE,
                                     job->exit_code, NULL);
                return 0;
        }
        record_console_tail(job);
        return vs_error_set(err, VS_ERR_SANDBOX, "the workflow did not run: %s",
                            guest_err ? guest_err : "the guest powered off without a result (see console_tail)");
}

/* After a timeout or cancel nothing is read from the job disk: what the
 * guest reported live (its phases, the one it was in) and the tail of the
 * console log are what a user has to tell "still loading a 650 MB image"
 * from "my script hangs". */
static void record_live_guest(vs_job *job)
{
        json_t *guest = json_object_get(job->result, "guest");
        json_t *phases = json_object();
        const char *cur = vs_guest_phase_name(job->watch.guest_current);

        for (int i = 0; i < VS_GUEST_PHASE_COUNT; i++) {
                const vs_guest_phase_seen *p = &job->watch.guest[i];
                json_t *o;

                if (!p->start_ms)
                        continue;
                o = vs_xjson(json_pack("{s:I}", "start_ms", (json_int_t)p->start_ms));
                if (p->end_ms)
                        json_object_set_new(o, "end_ms", json_integer((json_int_t)p->end_ms));
                json_object_set_new(o, "duration_ms",
                                    json_integer((json_int_t)((p->end_ms ? p->end_ms : vs_now_ms()) - p->start_ms)));
                json_object_set_new(phases, vs_guest_phase_name(i), o);
        }
        json_object_set_new(guest, "phases", phases);
        json_object_set_new(guest, "phase", cur ? json_string(cur) : json_null());
        json_object_set_new(guest, "source", json_string("live"));
        record_console_tail(job);
}

static void record_provenance(vs_job *job)
{
        json_t *env_names = json_array();
        const vs_spec *s = job->spec;

        for (size_t i = 0; s->env && s->env[i]; i++)
                json_array_append_new(env_names, json_stringn(s->env[i], strcspn(s->env[i], "=")));
        json_object_set_new(job->result, "image",
                            json_pack("{s:s?, s:s?, s:I, s:s?, s:s?, s:b}", "archive", s->image, "archive_sha256",
                                      s->image ? job->archive.sha256 : NULL, "archive_bytes",
                                      (json_int_t)job->archive.size, "ref", job->ref, "id", job->image_id,
                                      "preloaded", s->image == NULL && !s->build));
        if (s->build) {
                json_t *b = vs_build_to_json(s->build);
                /* Build argument values may be secrets: their names only. */
                json_t *names = vs_xjson(json_array());
                const char *k;
                json_t *v;
                json_object_foreach(json_object_get(b, "buildargs"), k, v)
                        json_array_append_new(names, vs_xjson(json_string(k)));
                json_object_set_new(b, "buildargs", names);
                json_object_set_new(b, "context_bytes", json_integer((json_int_t)job->context_bytes));
                json_object_set_new(b, "from_images", json_integer((json_int_t)job->n_images));
                json_object_set_new(job->result, "build", b);
        }
        json_object_set_new(job->result, "base_image",
                            json_pack("{s:s, s:s, s:O*}", "dir", job->base.dir, "manifest_sha256",
                                      job->base.manifest_sha256, "packages",
                                      json_object_get(job->base.manifest, "packages")));
        json_object_set_new(job->result, "limits",
                            json_pack("{s:I, s:i, s:I, s:I, s:s, s:s, s:s}", "memory_bytes", (json_int_t)s->memory,
                                      "cpus", (int)s->cpus, "disk_bytes", (json_int_t)s->disk, "timeout_ms",
                                      (json_int_t)s->timeout_ms, "network", vs_network_name(s->network), "accel",
                                      vs_accel_name(job->accel), "accel_reason", job->accel_why));
        json_object_set_new(job->result, "command", json_pack("{s:o, s:o, s:s?, s:s?, s:s}", "argv",
                                                              s->cmd ? json_array() : json_null(), "env_names",
                                                              env_names, "user", s->user, "workdir", s->workdir,
                                                              "mount_at", s->mount_at ? s->mount_at : "/erc"));
        for (size_t i = 0; s->cmd && s->cmd[i]; i++)
                json_array_append_new(json_object_get(json_object_get(job->result, "command"), "argv"),
                                      json_string(s->cmd[i]));
        json_object_set_new(job->result, "vmsandbox_version", json_string(VS_VERSION));
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void job_cleanup(vs_job *job)
{
        close_fd(&job->channel_fd);
        vs_domain_kill(job->dom);
        vs_domain_freep(&job->dom);
        vs_connect_closep(&job->conn);
        for (int i = 0; i < 2; i++)
                if (job->logs[i]) {
                        fclose(job->logs[i]);
                        job->logs[i] = NULL;
                }
        vs_jobdir_remove(&job->dir);
}

/* Writes result.json and moves the staged output into place. */
static int job_publish(vs_job *job, vs_error *err)
{
        _cleanup_free_ char *text = json_dumps(job->result, JSON_INDENT(2));
        _cleanup_free_ char *path = NULL;

        if (!job->out_tmp)
                return 0;
        path = path_join(job->out_tmp, "result.json");
        if (!text || !path || vs_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
                return -1;
        rmdir(job->opts->out_dir); /* an existing empty --out is replaced */
        if (rename(job->out_tmp, job->opts->out_dir) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot move output into %s", job->opts->out_dir);
        free(job->out_tmp);
        job->out_tmp = NULL;
        return 0;
}

static void job_free(vs_job *job)
{
        if (job->out_tmp)
                vs_rm_rf(job->out_tmp);
        free(job->out_tmp);
        free(job->ws_stage);
        for (size_t i = 0; i < job->n_binds; i++) {
                close_fd(&job->binds[i].fd);
                free(job->binds[i].stage);
        }
        close_fd(&job->workspace_fd);
        close_fd(&job->workspace_tar_fd);
        close_fd(&job->image_fd);
        close_fd(&job->context_fd);
        for (size_t i = 0; i < job->n_images; i++)
                close_fd(&job->image_fds[i]);
        free(job->ref);
        free(job->image_id);
        vs_archive_info_clear(&job->archive);
        vs_base_image_clear(&job->base);
}

static int run_phase(vs_job *job, vs_phase p, int (*fn)(vs_job *, vs_error *), vs_error *err)
{
        int r;

        event_phase(job, p, true);
        r = fn(job, err);
        event_phase(job, p, false);
        /* Validation errors already name the flag or file at fault. */
        if (r < 0 && p != VS_PHASE_VALIDATE)
                vs_error_prefix(err, "%s", vs_phase_name(p));
        return r;
}

/* A phase that failed after the deadline failed because of it (the guard
 * killed its appliance): that is a timeout, not a sandbox failure. */
static int bounded_phase(vs_job *job, vs_phase p, int (*fn)(vs_job *, vs_error *), vs_error *err)
{
        int r = run_phase(job, p, fn, err);

        /* Outputs collected in time stand, even if the clock ran out just after. */
        if (!job->timed_out && vs_guard_fired(&job->guard) && (r < 0 || p != VS_PHASE_COLLECT)) {
                job->timed_out = true;
                job->timeout_phase = p;
                return 0;
        }
        return r;
}

/* ---- prepare and boot, overlapped (job_disk = hotplug) ------------------ */

/* The progress channel, connected as soon as the domain runs: a guest
 * writing to a port with no host end blocks, and the agent must get on
 * with its engine while the disk is prepared.  What it sends waits in the
 * socket (a few frames) until the watch reads it. */
static int channel_preconnect(vs_job *job, vs_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(job->dir.channel) >= sizeof(sa.sun_path))
                return vs_error_set(err, VS_ERR_SANDBOX, "channel path %s is too long", job->dir.channel);
        strcpy(sa.sun_path, job->dir.channel);
        for (int i = 0; i < 50; i++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

                if (fd < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "socket");
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        job->channel_fd = fd;
                        return 0;
                }
                close(fd);
                poll(NULL, 0, 100);
        }
        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot connect to the progress channel %s", job->dir.channel);
}

/* The prepare child's bound while the VM boots: the job's cancel, and the
 * VM itself (a VM that died, or a libvirtd that cannot tell, ends the
 * appliance: nothing waits for a disk no one will read). */
static bool overlap_stop(void *userdata)
{
        vs_job *job = userdata;
        const vs_events *ev = job->opts->events;
        int running;

        if (ev && ev->cancelled && ev->cancelled(ev->userdata))
                return true;
        running = vs_domain_running(job->dom);
        if (running == 1)
                return false;
        job->vm_gone = running == 0 ? VS_VM_GONE_STOPPED : VS_VM_GONE_LOST;
        return true;
}

static void timeout_at(vs_job *job, vs_phase p)
{
        if (!job->timed_out && vs_guard_fired(&job->guard)) {
                job->timed_out = true;
                job->timeout_phase = p;
        }
}

/* Waits until the agent has written to the progress channel (poll, nothing
 * read: the watch reads it later), i.e. the guest runs its own root file
 * system.  Before that the initramfs may not have bound the root disk yet,
 * and a disk plugged then can be probed first and take /dev/vda, so that
 * the guest boots the job disk as its root.  Bounded by the job's deadline,
 * its cancel and the VM's life: 1 when the agent is up, 0 when the deadline
 * passed, -1 with err on a cancel or when the VM is gone. */
static int wait_agent_up(vs_job *job, vs_error *err)
{
        for (;;) {
                struct pollfd p = { .fd = job->channel_fd, .events = POLLIN };
                int n = poll(&p, 1, 100);

                if (n > 0 && (p.revents & POLLIN))
                        return 1;
                if (n < 0 && errno != EINTR)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "poll on the progress channel");
                if (vs_guard_fired(&job->guard))
                        return 0;
                if (overlap_stop(job)) {
                        if (job->vm_gone == VS_VM_GONE_NO)
                                return vs_error_set(err, VS_ERR_CANCELLED, "cancelled");
                        if (job->vm_gone == VS_VM_GONE_LOST)
                                return lost_libvirt(job, err);
                        record_console_tail(job);
                        return vs_error_set(err, VS_ERR_SANDBOX,
                                            "the job VM stopped before its agent started (see console_tail)");
                }
                if (n > 0)          /* POLLHUP or POLLERR with the VM running: do not spin */
                        poll(NULL, 0, 100);
        }
}

/* Prepare and boot at once: the domain starts without its job disk, the
 * appliance fills the disk meanwhile (one core each under TCG), and once
 * the appliance child is gone and the disk closed (never two writers) the
 * disk is hot-plugged; the agent waits for it (agent/jobdisk.c).  Both
 * phases are recorded with their own start and end: prepare from the job
 * directory to the filled disk, boot from the domain's start to the
 * attached disk.  A failure in either destroys the domain at cleanup. */
static int job_prepare_and_boot(vs_job *job, vs_error *err)
{
        vs_bound bound = { .deadline_ms = job->deadline_ms, .cancelled = overlap_stop, .userdata = job };
        bool booting = false;
        int r;

        event_phase(job, VS_PHASE_PREPARE, true);
        r = prepare_dirs(job, err);
        if (r == 0) {
                event_phase(job, VS_PHASE_BOOT, true);
                booting = true;
                r = start_domain(job, false, err);
                if (r == 0)
                        r = channel_preconnect(job, err);
                if (r < 0)
                        vs_error_prefix(err, "boot");
        }
        if (r == 0 && (r = prepare_job_disk(job, &bound, err)) < 0) {
                if (job->vm_gone == VS_VM_GONE_LOST)
                        lost_libvirt(job, err);
                else if (job->vm_gone == VS_VM_GONE_STOPPED) {
                        vs_error_set(err, VS_ERR_SANDBOX,
                                     "the job VM stopped while its job disk was being prepared (see console_tail)");
                        record_console_tail(job);
                }
                vs_error_prefix(err, "prepare");
        } else if (r < 0 && !booting)
                vs_error_prefix(err, "prepare");
        event_phase(job, VS_PHASE_PREPARE, false);
        timeout_at(job, VS_PHASE_PREPARE);
        if (r == 0 && !job->timed_out) {
                r = wait_agent_up(job, err);
                if (r == 1)   /* else 0: the deadline passed, timeout_at below sees it */
                        r = vs_domain_attach_disk(job->dom, job->dir.job_disk, err);
                if (r < 0)
                        vs_error_prefix(err, "boot");
        }
        if (booting)
                event_phase(job, VS_PHASE_BOOT, false);
        timeout_at(job, VS_PHASE_BOOT);
        return job->timed_out ? 0 : r;
}

/* The old way, one after the other (job_disk = boot). */
static int job_prepare_then_boot(vs_job *job, vs_error *err)
{
        int r = bounded_phase(job, VS_PHASE_PREPARE, job_prepare, err);

        if (r == 0 && !job->timed_out)
                r = bounded_phase(job, VS_PHASE_BOOT, job_boot, err);
        return r;
}

int vs_job_run(const vs_config *cfg, const vs_spec *spec, const vs_run_opts *opts, json_t **ret_result, vs_error *err)
{
        vs_job job = { .cfg = cfg, .spec = spec, .opts = opts, .dir = { .lock_fd = -1 }, .exit_code = -1,
                       .workspace_fd = -1, .workspace_tar_fd = -1, .image_fd = -1, .context_fd = -1,
                       .channel_fd = -1 };
        int r;

        job.watch.guest_current = -1;
        if (vs_random_id(job.id, err) < 0)
                return -1;
        job.result = vs_result_new(job.id);
        r = run_phase(&job, VS_PHASE_VALIDATE, job_validate, err);
        if (r == 0) {
                record_provenance(&job);
                job.deadline_ms = vs_mono_ms() + spec->timeout_ms;
                r = vs_guard_start(&job.guard, job.id, job.deadline_ms, err);
        }
        if (r == 0)
                r = cfg->job_disk == VS_JOB_DISK_BOOT ? job_prepare_then_boot(&job, err)
                                                      : job_prepare_and_boot(&job, err);
        if (r == 0 && !job.timed_out)
                r = run_phase(&job, VS_PHASE_WAIT, job_wait, err);
        /* After a timeout or a cancel the disk is left as the VM was stopped:
         * nothing is collected from it. */
        if (r == 0 && !job.timed_out && !job.cancelled)
                r = bounded_phase(&job, VS_PHASE_COLLECT, job_collect, err);
        if (r == 0 && (job.timed_out || job.cancelled))
                record_live_guest(&job);
        if (r == 0)
                r = job_verdict(&job, err);
        vs_guard_stop(&job.guard);
        /* Ctrl-C reaches libguestfs' appliance too: a phase that failed while a
         * cancel was asked for is a cancel, not a sandbox failure. */
        if (r < 0 && err->kind == VS_ERR_SANDBOX && opts->events && opts->events->cancelled &&
            opts->events->cancelled(opts->events->userdata))
                vs_error_set(err, VS_ERR_CANCELLED, "cancelled");
        event_phase(&job, VS_PHASE_CLEANUP, true);
        job_cleanup(&job);
        event_phase(&job, VS_PHASE_CLEANUP, false);
        if (r < 0)
                vs_result_set_status(job.result, err->kind == VS_ERR_CANCELLED ? VS_STATUS_CANCELLED : VS_STATUS_ERROR,
                                     -1, err->msg);
        if (job.out_tmp && job_publish(&job, err) < 0)
                r = -1;
        job_free(&job);
        *ret_result = job.result;
        return r;
}
