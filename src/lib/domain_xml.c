#include "domain_xml.h"
#include "protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static void put_escaped(FILE *f, const char *s)
{
        for (; *s; s++) {
                switch (*s) {
                case '&':
                        fputs("&amp;", f);
                        break;
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                case '\'':
                        fputs("&apos;", f);
                        break;
                case '"':
                        fputs("&quot;", f);
                        break;
                default:
                        fputc(*s, f);
                }
        }
}

/* Prints fmt, where each %s is replaced by the next argument XML-escaped. */
static void put(FILE *f, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        for (const char *p = fmt; *p; p++) {
                if (p[0] == '%' && p[1] == 's') {
                        put_escaped(f, va_arg(ap, const char *));
                        p++;
                } else
                        fputc(*p, f);
        }
        va_end(ap);
}

static void put_disk(FILE *f, const char *format, const char *path, const char *dev)
{
        /* The format is always explicit: a guest-written raw disk must never be
         * probed as qcow2 (a probed header could name a host file as backing). */
        put(f, "    <disk type='file' device='disk'>\n");
        put(f, "      <driver name='qemu' type='%s' cache='unsafe' discard='unmap'/>\n", format);
        put(f, "      <source file='%s'/>\n", path);
        put(f, "      <target dev='%s' bus='virtio'/>\n", dev);
        put(f, "    </disk>\n");
}

static void put_devices(FILE *f, const vs_domain_def *d)
{
        put(f, "  <devices>\n");
        put_disk(f, "qcow2", d->root_disk, "vda");
        /* Without a job disk here, it comes later by hot-plug (vs_job_disk_xml). */
        if (d->job_disk)
                put_disk(f, "raw", d->job_disk, "vdb");
        if (d->network) {
                /* User-mode networking: outbound NAT only, nothing reaches the guest. */
                put(f, "    <interface type='user'>\n      <model type='virtio'/>\n    </interface>\n");
        }
        put(f, "    <serial type='file'>\n      <source path='%s'/>\n      <target port='0'/>\n    </serial>\n",
            d->console_log);
        put(f, "    <channel type='unix'>\n      <source mode='bind' path='%s'/>\n", d->channel);
        put(f, "      <target type='virtio' name='" VS_CHANNEL_NAME "'/>\n    </channel>\n");
        put(f, "    <controller type='usb' model='none'/>\n");
        put(f, "    <memballoon model='none'/>\n");
        put(f, "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n");
        put(f, "  </devices>\n");
}

/* *buf is open_memstream's: only valid after the fclose. */
static char *memstream_close(FILE *f, char **buf, vs_error *err)
{
        if (fclose(f) != 0) {
                free(*buf);
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "domain xml");
                return NULL;
        }
        return *buf;
}

/* The job disk as a device of the running domain: the same element as at
 * boot (raw, never probed; vdb), for virDomainAttachDeviceFlags.  The
 * domain's machine is QEMU's default, pc (i440fx): its root bus takes
 * virtio-blk by ACPI PCI hot-plug, no spare controller needed. */
char *vs_job_disk_xml(const char *path, vs_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "job disk xml");
                return NULL;
        }
        put_disk(f, "raw", path, "vdb");
        return memstream_close(f, &buf, err);
}

char *vs_domain_xml(const vs_domain_def *d, vs_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f) {
                vs_error_errno(err, VS_ERR_SANDBOX, errno, "domain xml");
                return NULL;
        }
        fprintf(f, "<domain type='%s'>\n", d->accel == VS_ACCEL_KVM ? "kvm" : "qemu");
        put(f, "  <name>" VS_DOMAIN_PREFIX "%s</name>\n", d->job_id);
        put(f, "  <metadata>\n    <vmsandbox:job xmlns:vmsandbox='" VS_METADATA_NS "' id='%s'/>\n  </metadata>\n",
            d->job_id);
        fprintf(f, "  <memory unit='KiB'>%llu</memory>\n", (unsigned long long)(d->memory >> 10));
        fprintf(f, "  <vcpu>%u</vcpu>\n", d->cpus);
        put(f, "  <os>\n    <type arch='x86_64'>hvm</type>\n");
        put(f, "    <kernel>%s</kernel>\n    <initrd>%s</initrd>\n    <cmdline>%s</cmdline>\n", d->kernel, d->initrd,
            d->cmdline);
        put(f, "  </os>\n  <features>\n    <acpi/>\n  </features>\n");
        if (d->accel == VS_ACCEL_KVM)
                put(f, "  <cpu mode='host-passthrough'/>\n");
        put(f, "  <clock offset='utc'/>\n");
        put(f, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n");
        put_devices(f, d);
        put(f, "</domain>\n");
        return memstream_close(f, &buf, err);
}
