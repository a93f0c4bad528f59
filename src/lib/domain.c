#include "domain.h"
#include "cleanup.h"
#include "domain_xml.h"
#include "fsutil.h"
#include "strv.h"

#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* libvirt prints errors to stderr by default; the library must not. */
static void quiet(void *userdata, virErrorPtr e)
{
        (void)userdata, (void)e;
}

static const char *last_error(void)
{
        const char *m = virGetLastErrorMessage();

        return m ? m : "unknown libvirt error";
}

void vs_connect_closep(virConnectPtr *c)
{
        if (*c) {
                virConnectClose(*c);
                *c = NULL;
        }
}

void vs_domain_freep(virDomainPtr *d)
{
        if (*d) {
                virDomainFree(*d);
                *d = NULL;
        }
}

int vs_libvirt_connect(const char *uri, virConnectPtr *ret, vs_error *err)
{
        virConnectPtr c;

        virSetErrorFunc(NULL, quiet);
        c = virConnectOpen(uri);
        if (!c)
                return vs_error_set(err, VS_ERR_SETUP,
                                    "cannot connect to libvirt at %s (%s); start it with: systemctl start libvirtd (without systemd: virtlogd -d && libvirtd -d)",
                                    uri, last_error());
        *ret = c;
        return 0;
}

int vs_domain_start(virConnectPtr conn, const char *xml, virDomainPtr *ret, vs_error *err)
{
        virDomainPtr d = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_AUTODESTROY);

        if (!d)
                return vs_error_set(err, VS_ERR_SANDBOX, "cannot start the job VM: %s", last_error());
        *ret = d;
        return 0;
}

int vs_domain_attach_disk(virDomainPtr dom, const char *path, vs_error *err)
{
        _cleanup_free_ char *xml = vs_job_disk_xml(path, err);

        if (!xml)
                return -1;
        /* LIVE only: the domain is transient, there is no config to change. */
        if (virDomainAttachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
                return vs_error_set(err, VS_ERR_SANDBOX, "cannot hot-plug the job disk into the job VM: %s",
                                    last_error());
        return 0;
}

int vs_domain_running(virDomainPtr dom)
{
        int r = virDomainIsActive(dom);
        virErrorPtr e;

        if (r >= 0)
                return r == 1;
        /* A transient domain that powered off is gone: "no domain" means
         * "not running"; any other failure is libvirtd's, not the VM's. */
        e = virGetLastError();
        return e && e->code == VIR_ERR_NO_DOMAIN ? 0 : -1;
}

int vs_domain_destroy_by_name(const char *uri, const char *name, unsigned wait_ms, vs_error *err)
{
        uint64_t until = vs_mono_ms() + wait_ms;
        virConnectPtr conn = NULL;
        virDomainPtr d;
        int r = 0;

        for (;;) {
                vs_error e = { 0 };

                if (vs_libvirt_connect(uri, &conn, &e) == 0)
                        break;
                if (vs_mono_ms() >= until)
                        return vs_error_set(err, VS_ERR_SANDBOX,
                                            "libvirtd is not back, so the job VM %s may still run: "
                                            "run 'vmsandbox gc' once libvirtd is up",
                                            name);
                usleep(500 * 1000);
        }
        d = virDomainLookupByName(conn, name);
        if (d) {
                if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0)
                        r = vs_error_set(err, VS_ERR_SANDBOX, "cannot destroy the job VM %s: %s", name, last_error());
                virDomainFree(d);
        }
        virConnectClose(conn);
        return r;
}

void vs_domain_kill(virDomainPtr dom)
{
        if (dom && virDomainIsActive(dom) == 1)
                virDomainDestroy(dom);
}

int vs_domain_list_ours(virConnectPtr conn, char ***ret_names, vs_error *err)
{
        virDomainPtr *doms = NULL;
        char **names = NULL;
        int n = virConnectListAllDomains(conn, &doms, 0);

        if (n < 0)
                return vs_error_set(err, VS_ERR_SETUP, "cannot list domains: %s", last_error());
        for (int i = 0; i < n; i++) {
                char *meta = virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, VS_METADATA_NS, 0);
                if (meta)
                        vs_strv_push(&names, virDomainGetName(doms[i]));
                free(meta);
                virDomainFree(doms[i]);
        }
        free(doms);
        *ret_names = names;
        return n;
}
