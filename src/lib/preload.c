#include "preload.h"
#include "archive.h"
#include "cleanup.h"
#include "collect.h"
#include "disk.h"
#include "fsutil.h"
#include "domain_xml.h"
#include "jobdir.h"
#include "protocol.h"
#include "spec.h"
#include "watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PRELOAD_MEMORY (2ull << 30)

static int check_archives(char *const *archives, uint64_t *ret_bytes, vs_error *err)
{
        uint64_t total = 0;

        if (!archives || !archives[0])
                return vs_error_set(err, VS_ERR_USAGE, "no archives to preload");
        for (size_t i = 0; archives[i]; i++) {
                vs_archive_info info;

                if (vs_archive_inspect(archives[i], &info, err) < 0)
                        return -1;
                total += info.size;
                vs_archive_info_clear(&info);
        }
        *ret_bytes = total;
        return 0;
}

static char *preload_spec(char *const *archives)
{
        json_t *names = json_array(), *spec;
        char *text;

        for (size_t i = 0; archives[i]; i++)
                json_array_append_new(names, json_sprintf("preload-%zu.tar", i));
        spec = json_pack("{s:o, s:s}", "preload", names, "network", "none");
        text = json_dumps(spec, JSON_COMPACT);
        json_decref(spec);
        return text;
}

static int read_verdict(const vs_jobdir *d, vs_accel accel, const vs_bound *b, vs_error *err)
{
        _cleanup_collect_ vs_collect_src *g = NULL;
        _cleanup_free_ char *text = NULL;
        json_t *res;
        int ok;

        if (vs_collect_open(d->job_disk, accel, d->id, b, &g, err) < 0)
                return -1;
        if (vs_collect_read(g, "/out/result.json", VS_RESULT_MAX, &text, NULL, err) < 0 ||
            vs_collect_close(TAKE_PTR(g), err) < 0)
                return -1;
        res = text ? json_loads(text, 0, NULL) : NULL;
        ok = json_is_string(json_object_get(res, "state")) &&
             strcmp(json_string_value(json_object_get(res, "state")), "preloaded") == 0;
        if (!ok)
                vs_error_set(err, VS_ERR_SANDBOX, "preloading failed: %s",
                             json_string_value(json_object_get(res, "error")) ?: "no result from the guest");
        json_decref(res);
        return ok ? 0 : -1;
}

static int preload_run(const vs_preload_opts *o, vs_accel accel, vs_jobdir *d,
                       virConnectPtr conn, vs_error *err)
{
        _cleanup_free_ char *spec = preload_spec(o->archives);
        _cleanup_free_ char *xml = NULL;
        _cleanup_domain_ virDomainPtr dom = NULL;
        vs_job_inputs in = { .job_id = d->id, .spec_json = spec, .image_fd = -1, .preloads = o->archives,
                             .workspace_fd = -1, .workspace_tar_fd = -1 };
        vs_domain_def def = { .job_id = d->id, .accel = accel, .memory = PRELOAD_MEMORY, .cpus = 1,
                              .kernel = o->kernel, .initrd = o->initrd, .cmdline = o->cmdline,
                              .root_disk = o->root, .job_disk = d->job_disk, .channel = d->channel,
                              .console_log = d->console };
        vs_watch w = { .channel = d->channel, .timeout_ms = o->timeout_ms, .events = o->events };
        /* The whole preload's bound, the appliance phases included (a hung
         * appliance child would otherwise block preload for good). */
        vs_bound bound = { .deadline_ms = vs_mono_ms() + o->timeout_ms };
        uint64_t bytes = 0;
        int r;

        if (!spec || check_archives(o->archives, &bytes, err) < 0)
                return -1;
        if (vs_disk_prepare(d->job_disk, bytes + (256ull << 20), &in, accel, &bound, err) < 0)
                return -1;
        xml = vs_domain_xml(&def, err);
        if (!xml || vs_domain_start(conn, xml, &dom, err) < 0)
                return -1;
        w.dom = dom;
        w.deadline_ms = bound.deadline_ms; /* one deadline for the whole preload */
        r = vs_watch_run(&w, err);
        vs_domain_kill(dom);
        if (r < 0)
                return -1;
        if (w.lost)
                return vs_error_set(err, VS_ERR_SANDBOX,
                                    "lost the connection to libvirtd while preloading (was it restarted?); "
                                    "run 'vmsandbox gc' once it is back");
        if (w.timed_out || w.cancelled)
                return vs_error_set(err, w.timed_out ? VS_ERR_TIMEOUT : VS_ERR_CANCELLED, "preloading %s",
                                    w.timed_out ? "timed out" : "was cancelled");
        return read_verdict(d, accel, &bound, err);
}

int vs_preload(const vs_config *cfg, const vs_preload_opts *o, vs_error *err)
{
        _cleanup_connect_ virConnectPtr conn = NULL;
        vs_jobdir d = { .lock_fd = -1 };
        char why[256], id[13];
        vs_accel accel = vs_accel_resolve(cfg->accel, why, sizeof(why));
        int r;

        /* As run's: 0 is not "no deadline". */
        if (o->timeout_ms < VS_TIMEOUT_MIN_MS || o->timeout_ms > VS_TIMEOUT_MAX_MS)
                return vs_error_set(err, VS_ERR_USAGE, "--timeout must be between 1s and 7 days");
        if (vs_random_id(id, err) < 0 || vs_libvirt_connect(cfg->uri, &conn, err) < 0)
                return -1;
        if (vs_jobdir_create(cfg->state_dir, id, &d, err) < 0)
                return -1;
        r = preload_run(o, accel, &d, conn, err);
        /* The deadline may pass in an appliance phase too: say so as the
         * watch does. */
        if (r < 0 && err->kind == VS_ERR_TIMEOUT && strncmp(err->msg, "preloading", 10) != 0)
                vs_error_prefix(err, "preloading timed out");
        vs_jobdir_remove(&d);
        return r;
}
