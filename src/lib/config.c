#include "config.h"
#include "cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *vs_accel_name(vs_accel a)
{
        switch (a) {
        case VS_ACCEL_AUTO:
                return "auto";
        case VS_ACCEL_KVM:
                return "kvm";
        case VS_ACCEL_TCG:
                return "tcg";
        case VS_ACCEL_LAST:
                break;
        }
        return "invalid";
}

int vs_accel_parse(const char *s, vs_accel *ret)
{
        for (vs_accel a = 0; a < VS_ACCEL_LAST; a++)
                if (strcmp(s, vs_accel_name(a)) == 0) {
                        *ret = a;
                        return 0;
                }
        return -1;
}

static int replace(char **slot, const char *value, vs_error *err)
{
        char *copy = strdup(value);

        if (!copy)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "config");
        free(*slot);
        *slot = copy;
        return 0;
}

const char *vs_job_disk_name(vs_job_disk_mode m)
{
        switch (m) {
        case VS_JOB_DISK_HOTPLUG:
                return "hotplug";
        case VS_JOB_DISK_BOOT:
                return "boot";
        case VS_JOB_DISK_LAST:
                break;
        }
        return "?";
}

int vs_config_set(vs_config *c, const char *key, const char *value, vs_error *err)
{
        if (strcmp(key, "uri") == 0)
                return replace(&c->uri, value, err);
        if (strcmp(key, "image") == 0)
                return replace(&c->image, value, err);
        if (strcmp(key, "state_dir") == 0)
                return replace(&c->state_dir, value, err);
        if (strcmp(key, "accel") == 0) {
                if (vs_accel_parse(value, &c->accel) < 0)
                        return vs_error_set(err, VS_ERR_USAGE, "accel must be auto, kvm or tcg, not \"%s\"", value);
                return 0;
        }
        if (strcmp(key, "job_disk") == 0) {
                for (vs_job_disk_mode m = 0; m < VS_JOB_DISK_LAST; m++)
                        if (strcmp(value, vs_job_disk_name(m)) == 0) {
                                c->job_disk = m;
                                return 0;
                        }
                return vs_error_set(err, VS_ERR_USAGE, "job_disk must be hotplug or boot, not \"%s\"", value);
        }
        return vs_error_set(err, VS_ERR_USAGE, "unknown setting \"%s\"", key);
}

static char *trim(char *s)
{
        char *end;

        while (isspace((unsigned char)*s))
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return s;
}

/* "key = value" lines; '#' starts a comment. */
static int config_read_file(vs_config *c, const char *path, int must_exist, vs_error *err)
{
        FILE *f = fopen(path, "re");
        char line[4096];
        unsigned lineno = 0;
        int r = 0;

        if (!f) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                return vs_error_errno(err, VS_ERR_SETUP, errno, "cannot read config %s", path);
        }
        while (r == 0 && fgets(line, sizeof(line), f)) {
                char *s = line, *eq;

                lineno++;
                if (strchr(s, '#'))
                        *strchr(s, '#') = '\0';
                s = trim(s);
                if (!*s)
                        continue;
                eq = strchr(s, '=');
                if (!eq) {
                        r = vs_error_set(err, VS_ERR_SETUP, "%s:%u: expected key = value", path, lineno);
                        break;
                }
                *eq = '\0';
                r = vs_config_set(c, trim(s), trim(eq + 1), err);
                if (r < 0)
                        vs_error_prefix(err, "%s:%u", path, lineno);
        }
        fclose(f);
        return r;
}

int vs_config_load(vs_config *ret, vs_error *err)
{
        static const struct {
                const char *env, *key;
        } envs[] = {
                { "VMSANDBOX_URI", "uri" },
                { "VMSANDBOX_IMAGE", "image" },
                { "VMSANDBOX_STATE_DIR", "state_dir" },
                { "VMSANDBOX_ACCEL", "accel" },
                { "VMSANDBOX_JOB_DISK", "job_disk" },
        };
        vs_config c = { .accel = VS_ACCEL_AUTO };
        const char *file = getenv("VMSANDBOX_CONFIG");
        int r;

        r = replace(&c.uri, VS_DEFAULT_URI, err);
        if (r == 0)
                r = replace(&c.image, VS_DEFAULT_IMAGE, err);
        if (r == 0)
                r = replace(&c.state_dir, VS_DEFAULT_STATE, err);
        if (r == 0)
                r = config_read_file(&c, file ? file : VS_DEFAULT_CONFIG, file != NULL, err);
        for (size_t i = 0; r == 0 && i < sizeof(envs) / sizeof(envs[0]); i++) {
                const char *v = getenv(envs[i].env);
                if (v && *v && vs_config_set(&c, envs[i].key, v, err) < 0) {
                        vs_error_prefix(err, "$%s", envs[i].env);
                        r = -1;
                }
        }
        if (r < 0) {
                vs_config_clear(&c);
                return -1;
        }
        *ret = c;
        return 0;
}

void vs_config_clear(vs_config *c)
{
        free(c->uri);
        free(c->image);
        free(c->state_dir);
        c->uri = c->image = c->state_dir = NULL;
}

vs_accel vs_accel_resolve(vs_accel want, char *why, size_t why_len)
{
        int hw = access("/sys/module/kvm_intel", F_OK) == 0 || access("/sys/module/kvm_amd", F_OK) == 0;
        _cleanup_close_ int fd = -1;

        switch (want) {
        case VS_ACCEL_KVM:
                snprintf(why, why_len, "kvm was asked for");
                return VS_ACCEL_KVM;
        case VS_ACCEL_TCG:
                snprintf(why, why_len, "tcg was asked for");
                return VS_ACCEL_TCG;
        case VS_ACCEL_AUTO:
        case VS_ACCEL_LAST:
                break;
        }
        /* A /dev/kvm without kvm_intel/kvm_amd (e.g. a paravirtual PVM backend)
         * cannot boot stock guest kernels: it fails with emulation errors. */
        if (!hw) {
                snprintf(why, why_len, "no hardware KVM module (kvm_intel/kvm_amd) is loaded");
                return VS_ACCEL_TCG;
        }
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, why_len, "/dev/kvm cannot be opened: %s", strerror(errno));
                return VS_ACCEL_TCG;
        }
        snprintf(why, why_len, "hardware KVM is loaded and /dev/kvm is usable");
        return VS_ACCEL_KVM;
}
