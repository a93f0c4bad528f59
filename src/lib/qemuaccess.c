#include "qemuaccess.h"
#include "alloc.h"
#include "cleanup.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PREFIXES 200
#define MAX_GROUPS 64

/* The prefixes "/", "/a", "/a/b", ... of path (all but the first malloc'd). */
static int split_prefixes(const char *path, char *prefix[MAX_PREFIXES])
{
        size_t len = strlen(path);
        int n = 0;

        prefix[n++] = "/";
        for (size_t i = 1; i <= len && n < MAX_PREFIXES; i++)
                if ((path[i] == '/' || path[i] == '\0') && path[i - 1] != '/')
                        prefix[n++] = vs_xstrndup(path, i);
        return n;
}

int vs_check_qemu_access(const char *what, const char *path, vs_error *err)
{
        struct passwd *pw;
        gid_t groups[MAX_GROUPS];
        int ngroups = MAX_GROUPS, n, status;
        char *prefix[MAX_PREFIXES];
        uid_t uid;
        gid_t gid;
        pid_t pid;
        struct stat st;
        int bad;

        if (geteuid() != 0 || path[0] != '/' || !(pw = getpwnam(VS_QEMU_USER)))
                return 0;
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (getgrouplist(VS_QEMU_USER, gid, groups, &ngroups) < 0)
                ngroups = 0;
        n = split_prefixes(path, prefix);
        pid = fork();
        if (pid < 0) {
                int e = errno;
                for (int i = 1; i < n; i++)
                        free(prefix[i]);
                return vs_error_errno(err, VS_ERR_SETUP, e, "cannot check %s %s", what, path);
        }
        if (pid == 0) {
                /* Only async-signal-safe calls here. */
                if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
                        _exit(255);
                for (int i = 0; i < n; i++)
                        if (access(prefix[i], X_OK) < 0 && errno != ENOENT)
                                _exit(i + 1);
                _exit(0);
        }
        bad = 255;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = -1;
                        break;
                }
        if (status != -1 && WIFEXITED(status))
                bad = WEXITSTATUS(status);
        if (bad == 0 || bad == 255) {
                for (int i = 1; i < n; i++)
                        free(prefix[i]);
                return bad == 0 ? 0 : vs_error_set(err, VS_ERR_SETUP, "cannot check %s %s as %s", what, path, VS_QEMU_USER);
        }
        st.st_mode = 0;
        stat(prefix[bad - 1], &st);
        vs_error_set(err, VS_ERR_SETUP,
                     "%s %s: QEMU (user %s, uid %u) cannot reach it: %s is mode %04o, owner %u; fix: chmod o+x %s "
                     "(or choose a directory below one QEMU can traverse)",
                     what, path, VS_QEMU_USER, (unsigned)uid, prefix[bad - 1], (unsigned)(st.st_mode & 07777),
                     (unsigned)st.st_uid, prefix[bad - 1]);
        for (int i = 1; i < n; i++)
                free(prefix[i]);
        return -1;
}
