#include "jobdir.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *path_join(const char *a, const char *b)
{
        char *p = NULL;

        return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

#define TMP_PREFIX ".tmp-"
/* A ".tmp-" directory is one being set up (its lock is not flock-ed yet):
 * only one this old is a crashed set-up's. */
#define TMP_STALE_SEC (10 * 60)

static bool stale_tmp(int dfd, const char *name)
{
        struct stat st;

        return strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
               fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
               st.st_mtime + TMP_STALE_SEC < time(NULL);
}

/* A directory whose "lock" nobody holds belongs to a dead owner.  A job
 * directory appears under its name only once its lock is held (it is set up
 * as ".tmp-ID" and renamed), so a free lock cannot be a new owner's.  Other
 * names starting with '.' are skipped; nothing is followed (O_NOFOLLOW,
 * fd-relative removal). */
static void gc_stale(const char *jobs_dir, unsigned *ret_removed, unsigned *ret_failed)
{
        _cleanup_closedir_ DIR *d = opendir(jobs_dir);
        struct dirent *e;

        if (!d)
                return;
        while ((e = readdir(d))) {
                _cleanup_free_ char *lock = NULL;
                _cleanup_close_ int fd = -1;

                bool tmp = e->d_name[0] == '.';

                if (tmp && !stale_tmp(dirfd(d), e->d_name))
                        continue;
                lock = vs_xasprintf("%s/lock", e->d_name);
                fd = openat(dirfd(d), lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                /* an old set-up may have died before it made its lock */
                if ((fd < 0 && !tmp) || (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0))
                        continue;
                if (vs_rm_rf_at(dirfd(d), e->d_name) == 0) {
                        if (ret_removed)
                                (*ret_removed)++;
                } else if (ret_failed)
                        (*ret_failed)++;
        }
}

int vs_jobdir_create(const char *state_dir, const char *id, vs_jobdir *ret, vs_error *err)
{
        _cleanup_free_ char *jobs = path_join(state_dir, "jobs");
        _cleanup_free_ char *lock = NULL, *tmp = NULL;
        vs_jobdir d = { .lock_fd = -1 };

        if (!jobs || vs_mkdir_p(jobs, 0711, err) < 0)
                return -1;
        snprintf(d.id, sizeof(d.id), "%s", id);
        gc_stale(jobs, NULL, NULL);
        d.dir = path_join(jobs, d.id);
        if (!d.dir)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "job dir");
        /* 0711: QEMU (libvirt-qemu) opens the disks, the console log and the
         * channel by name but cannot list the directory; every file in it is
         * 0600 (libvirt chowns the disks to libvirt-qemu for the VM's life).
         * chmod: the umask (077 in vmsandbox) must not take the x bits. */
        tmp = vs_xasprintf("%s/" TMP_PREFIX "%s", jobs, d.id);
        if (mkdir(tmp, 0700) < 0 || chmod(tmp, 0711) < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "cannot create %s", tmp);
                rmdir(tmp);
                free(d.dir);
                return -1;
        }
        /* The lock is held before the directory has its name: a concurrent
         * gc_stale never sees a job directory with a free lock that is not
         * a dead owner's. */
        lock = path_join(tmp, "lock");
        d.lock_fd = lock ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
        if (d.lock_fd < 0 || flock(d.lock_fd, LOCK_EX) < 0 || rename(tmp, d.dir) < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno ? errno : ENOMEM, "cannot set up %s", d.dir);
                vs_rm_rf(tmp);
                if (d.lock_fd >= 0)
                        close(d.lock_fd);
                free(d.dir);
                return -1;
        }
        d.root_disk = path_join(d.dir, "root.qcow2");
        d.job_disk = path_join(d.dir, "job.img");
        d.channel = path_join(d.dir, "progress.sock");
        d.console = path_join(d.dir, "console.log");
        if (!d.root_disk || !d.job_disk || !d.channel || !d.console) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno ? errno : ENOMEM, "cannot set up %s", d.dir);
                vs_jobdir_remove(&d);
                return -1;
        }
        *ret = d;
        return 0;
}

void vs_jobdir_gc(const char *state_dir)
{
        vs_jobdir_gc_counted(state_dir, NULL, NULL);
}

void vs_jobdir_gc_counted(const char *state_dir, unsigned *ret_removed, unsigned *ret_failed)
{
        _cleanup_free_ char *jobs = path_join(state_dir, "jobs");

        if (jobs)
                gc_stale(jobs, ret_removed, ret_failed);
}

void vs_jobdir_remove(vs_jobdir *d)
{
        if (d->dir)
                vs_rm_rf(d->dir);
        if (d->lock_fd >= 0)
                close(d->lock_fd);
        free(d->dir);
        free(d->root_disk);
        free(d->job_disk);
        free(d->channel);
        free(d->console);
        *d = (vs_jobdir){ .lock_fd = -1 };
}
