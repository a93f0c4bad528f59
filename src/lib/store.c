#include "store.h"
#include "cleanup.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int vs_store_init(const char *state_dir, char **ret_root, vs_error *err)
{
        char *root = NULL;

        if (asprintf(&root, "%s/server/jobs", state_dir) < 0)
                return vs_error_errno(err, VS_ERR_SETUP, ENOMEM, "store");
        if (vs_mkdir_p(root, 0700, err) < 0) {
                free(root);
                return -1;
        }
        *ret_root = root;
        return 0;
}

int vs_store_save(const char *job_dir, json_t *record, vs_error *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *text = json_dumps(record, JSON_INDENT(2));

        if (!text || asprintf(&path, "%s/job.json", job_dir) < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "job record");
        return vs_write_file_atomic(path, text, strlen(text), 0600, err);
}

json_t *vs_store_load(const char *job_dir, vs_error *err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_error_t jerr;
        size_t len;
        json_t *j;

        if (asprintf(&path, "%s/job.json", job_dir) < 0) {
                vs_error_errno(err, VS_ERR_SANDBOX, ENOMEM, "job record");
                return NULL;
        }
        if (vs_read_file(path, VS_JOB_RECORD_MAX, &text, &len, err) < 0)
                return NULL;
        j = json_loadb(text, len, 0, &jerr);
        if (!json_is_object(j)) {
                json_decref(j);
                vs_error_set(err, VS_ERR_SANDBOX, "%s: %s", path, jerr.text);
                return NULL;
        }
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
        DIR *d = opendir(root);
        struct dirent *e;

        if (!d)
                return -1;
        while ((e = readdir(d)))
                if (vs_store_id_valid(e->d_name))
                        fn(userdata, e->d_name);
        closedir(d);
        return 0;
}
