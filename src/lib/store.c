#include "store.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jsonload.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int vs_store_init(const char *state_dir, char **ret_root, vs_error *err)
{
        _cleanup_free_ char *root = vs_xasprintf("%s/server/jobs", state_dir);

        if (vs_mkdir_p(root, 0700, err) < 0)
                return -1;
        *ret_root = TAKE_PTR(root);
        return 0;
}

int vs_store_save(const char *job_dir, json_t *record, vs_error *err)
{
        _cleanup_free_ char *path = vs_xasprintf("%s/job.json", job_dir);
        _cleanup_free_ char *text = json_dumps(record, JSON_INDENT(2));

        /* Records hold only sanitised text (record.c), so this fails only
         * on OOM. */
        if (!text)
                return vs_error_set(err, VS_ERR_SANDBOX, "job record %s cannot be serialised", path);
        if (strlen(text) > VS_JOB_RECORD_MAX)
                return vs_error_set(err, VS_ERR_SANDBOX, "job record %s is over %u bytes", path, VS_JOB_RECORD_MAX);
        return vs_write_file_atomic(path, text, strlen(text), 0600, err);
}

json_t *vs_store_load(const char *job_dir, vs_error *err)
{
        _cleanup_free_ char *path = vs_xasprintf("%s/job.json", job_dir), *text = NULL;
        size_t len;
        json_t *j;

        if (vs_read_file(path, VS_JOB_RECORD_MAX, &text, &len, err) < 0)
                return NULL;
        j = vs_json_load_bounded(text, len, VS_JOB_RECORD_MAX, VS_JSON_DEPTH_MAX, VS_ERR_SANDBOX, err);
        if (j && !json_is_object(j)) {
                json_decref(j);
                vs_error_set(err, VS_ERR_SANDBOX, "%s: not a JSON object", path);
                return NULL;
        }
        if (!j)
                vs_error_prefix(err, "%s", path);
        return j;
}

int vs_store_id_valid(const char *id)
{
        if (strlen(id) != 12)
                return 0;
        for (const char *p = id; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return 0;
        return 1;
}

int vs_store_each(const char *root, void (*fn)(void *userdata, const char *id), void *userdata)
{
        _cleanup_closedir_ DIR *d = opendir(root);
        struct dirent *e;

        if (!d)
                return -1;
        while ((e = readdir(d)))
                if (vs_store_id_valid(e->d_name))
                        fn(userdata, e->d_name);
        return 0;
}
