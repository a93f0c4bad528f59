#include "gc.h"
#include "alloc.h"
#include "cleanup.h"
#include "domain.h"
#include "domain_xml.h"
#include "fsutil.h"
#include "jobdir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* 1: the owner of jobs/<id> is dead (lock free or directory gone), and the
 * lock stays held in *ret_fd until the caller is done; 0: alive; */
static int owner_dead(const char *jobs, const char *id, int *ret_fd)
{
        _cleanup_free_ char *lock = vs_xasprintf("%s/%s/lock", jobs, id);
        int fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        *ret_fd = -1;
        if (fd < 0)
                return errno == ENOENT ? 1 : 0;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return 0;
        }
        *ret_fd = fd;
        return 1;
}

static bool is_job_id(const char *s)
{
        size_t n = strspn(s, "0123456789abcdef");

        return n == 12 && s[n] == '\0';
}

static void gc_domain(virDomainPtr dom, const char *jobs, vs_gc_stats *st)
{
        const char *name = virDomainGetName(dom);
        _cleanup_free_ char *meta = NULL, *xml = NULL, *ref = NULL;
        const char *id;
        int lock = -1;

        if (!name || strncmp(name, VS_DOMAIN_PREFIX, strlen(VS_DOMAIN_PREFIX)) != 0)
                return;
        id = name + strlen(VS_DOMAIN_PREFIX);
        meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VS_METADATA_NS, 0);
        if (!meta || !is_job_id(id))
                return;
        xml = virDomainGetXMLDesc(dom, 0);
        ref = vs_xasprintf("%s/%s/", jobs, id);
        /* A domain of another state directory is none of our business. */
        if (!xml || !strstr(xml, ref) || owner_dead(jobs, id, &lock) != 1)
                return;
        if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) == 0)
                st->domains++;
        if (lock >= 0)
                close(lock);
}

static int gc_domains(const char *uri, const char *jobs, vs_gc_stats *st, vs_error *err)
{
        _cleanup_connect_ virConnectPtr conn = NULL;
        virDomainPtr *doms = NULL;
        int n;

        if (vs_libvirt_connect(uri, &conn, err) < 0)
                return -1;
        n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0)
                return vs_error_set(err, VS_ERR_SETUP, "cannot list libvirt domains");
        for (int i = 0; i < n; i++) {
                gc_domain(doms[i], jobs, st);
                virDomainFree(doms[i]);
        }
        free(doms);
        return 0;
}

int vs_gc(const char *uri, const char *state_dir, vs_gc_stats *ret_stats, vs_error *err)
{
        _cleanup_free_ char *jobs = vs_xasprintf("%s/jobs", state_dir);
        vs_gc_stats st = { 0 };
        int r = 0;

        /* Domains first: a directory is removed only once nothing runs on it. */
        if (uri)
                r = gc_domains(uri, jobs, &st, err);
        vs_jobdir_gc_counted(state_dir, &st.dirs, &st.failed);
        *ret_stats = st;
        return r;
}
