/* libvirt domain XML for one job VM.  Pure: no libvirt calls, golden-tested. */
#ifndef VS_DOMAIN_XML_H
#define VS_DOMAIN_XML_H

#include "config.h"
#include "error.h"

#include <stdbool.h>
#include <stdint.h>

#define VS_METADATA_NS "https://vmsandbox.dev/xmlns/job/1"
#define VS_DOMAIN_PREFIX "vmsandbox-"

typedef struct {
        const char *job_id;
        vs_accel accel;            /* KVM or TCG, already resolved */
        uint64_t memory;           /* bytes */
        unsigned cpus;
        const char *kernel, *initrd, *cmdline;
        const char *root_disk;     /* qcow2 overlay on the base image */
        const char *job_disk;      /* raw; NULL: attached later (vs_job_disk_xml) */
        const char *channel;       /* unix socket path for the progress port */
        const char *console_log;   /* serial console file */
        bool network;
} vs_domain_def;

/* Returns malloc'd XML, or NULL with err set. */
char *vs_domain_xml(const vs_domain_def *d, vs_error *err);
/* The raw job disk at path as one <disk> element (vdb), to hot-plug into
 * the running domain; malloc'd, or NULL with err set. */
char *vs_job_disk_xml(const char *path, vs_error *err);

#endif
