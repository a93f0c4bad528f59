/* Host configuration: where things live and how VMs are accelerated.
 * Precedence: built-in defaults < config file < environment < flags. */
#ifndef VS_CONFIG_H
#define VS_CONFIG_H

#include "error.h"

#include <stddef.h>

typedef enum {
        VS_ACCEL_AUTO,
        VS_ACCEL_KVM,
        VS_ACCEL_TCG,
        VS_ACCEL_LAST
} vs_accel;

/* How a job VM gets its job disk: hot-plugged once prepare has filled it,
 * the VM booting meanwhile (the default), or attached at boot after
 * prepare (the sequential way, for hosts where hot-plug fails). */
typedef enum {
        VS_JOB_DISK_HOTPLUG,
        VS_JOB_DISK_BOOT,
        VS_JOB_DISK_LAST
} vs_job_disk_mode;

#define VS_DEFAULT_URI "qemu:///system"
#define VS_DEFAULT_IMAGE "/var/lib/vmsandbox/images/default"
#define VS_DEFAULT_STATE "/var/lib/vmsandbox"
#define VS_DEFAULT_CONFIG "/etc/vmsandbox/vmsandbox.conf"

typedef struct {
        char *uri;        /* libvirt connection */
        char *image;      /* base image directory (a symlink switched on rebuild) */
        char *state_dir;  /* jobs/ lives below it */
        vs_accel accel;
        vs_job_disk_mode job_disk;
} vs_config;

/* Loads defaults, then the file named by $VMSANDBOX_CONFIG (or the default
 * path, if present), then $VMSANDBOX_URI, $VMSANDBOX_IMAGE,
 * $VMSANDBOX_STATE_DIR, $VMSANDBOX_ACCEL and $VMSANDBOX_JOB_DISK. */
int vs_config_load(vs_config *ret, vs_error *err);
void vs_config_clear(vs_config *c);
int vs_config_set(vs_config *c, const char *key, const char *value, vs_error *err);

const char *vs_accel_name(vs_accel a);
int vs_accel_parse(const char *s, vs_accel *ret);
const char *vs_job_disk_name(vs_job_disk_mode m);

/* Resolves AUTO: KVM only when a hardware KVM module (kvm_intel/kvm_amd) is
 * loaded and /dev/kvm opens read-write.  why gets a one-line reason. */
vs_accel vs_accel_resolve(vs_accel want, char *why, size_t why_len);

#endif
