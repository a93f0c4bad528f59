#include "tokens.h"
#include "alloc.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jsonload.h"
#include "sha256.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

typedef struct {
        char id[13];
        char hash[65];
        int64_t created_ms;
} token_entry;

struct vs_tokens {
        pthread_mutex_t lock;
        char *path;
        token_entry *v;
        size_t n;
};

bool vs_secure_equal(const void *a, const void *b, size_t n)
{
        const volatile unsigned char *x = a, *y = b;
        unsigned char diff = 0;

        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char)(x[i] ^ y[i]);
        return diff == 0;
}

static void hash_token(const char *token, size_t len, char hex[65])
{
        vs_sha256 c;

        vs_sha256_init(&c);
        vs_sha256_update(&c, token, len);
        vs_sha256_final_hex(&c, hex);
}

static int load(vs_tokens *t, vs_error *err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *j = NULL;
        json_t *e;
        size_t len, i;

        if (vs_read_file(t->path, 1u << 20, &text, &len, err) < 0)
                return err->errno_value == ENOENT ? 0 : -1;
        j = vs_json_load_bounded(text, len, 1u << 20, 4, VS_ERR_SETUP, err);
        if (!j)
                return -1;
        json_array_foreach(json_object_get(j, "tokens"), i, e)
        {
                const char *id = json_string_value(json_object_get(e, "id"));
                const char *hash = json_string_value(json_object_get(e, "sha256"));
                if (!id || !vs_store_id_valid(id) || !hash || strlen(hash) != 64 || t->n >= VS_TOKENS_MAX)
                        continue;
                t->v = vs_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
                memcpy(t->v[t->n].id, id, 13);
                memcpy(t->v[t->n].hash, hash, 65);
                t->v[t->n].created_ms = json_integer_value(json_object_get(e, "created_ms"));
                t->n++;
        }
        return 0;
}

static int save_locked(vs_tokens *t, vs_error *err)
{
        _cleanup_json_ json_t *j = vs_xjson(json_pack("{s:[]}", "tokens"));
        _cleanup_free_ char *text = NULL;

        for (size_t i = 0; i < t->n; i++)
                json_array_append_new(json_object_get(j, "tokens"),
                                      vs_xjson(json_pack("{s:s, s:s, s:I}", "id", t->v[i].id, "sha256", t->v[i].hash,
                                                         "created_ms", (json_int_t)t->v[i].created_ms)));
        text = json_dumps(j, JSON_INDENT(2));
        if (!text)
                vs_oom();
        return vs_write_file_atomic(t->path, text, strlen(text), 0600, err);
}

int vs_tokens_open(const char *state_dir, vs_tokens **ret, vs_error *err)
{
        vs_tokens *t = vs_xcalloc(1, sizeof(*t));
        _cleanup_free_ char *dir = vs_xasprintf("%s/server", state_dir);

        pthread_mutex_init(&t->lock, NULL);
        t->path = vs_xasprintf("%s/tokens.json", dir);
        if (vs_mkdir_p(dir, 0700, err) < 0 || load(t, err) < 0) {
                vs_tokens_free(t);
                return -1;
        }
        *ret = t;
        return 0;
}

void vs_tokens_free(vs_tokens *t)
{
        if (!t)
                return;
        pthread_mutex_destroy(&t->lock);
        free(t->v);
        free(t->path);
        free(t);
}

int vs_tokens_create(vs_tokens *t, char ret_token[VS_TOKEN_LEN + 1], char ret_id[13], vs_error *err)
{
        unsigned char raw[VS_TOKEN_LEN / 2];
        char token[VS_TOKEN_LEN + 1];
        token_entry e = { .created_ms = (int64_t)vs_now_ms() };
        int r;

        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "getrandom");
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(token + 2 * i, 3, "%02x", raw[i]);
        if (vs_random_id(e.id, err) < 0)
                return -1;
        hash_token(token, VS_TOKEN_LEN, e.hash);
        pthread_mutex_lock(&t->lock);
        if (t->n >= VS_TOKENS_MAX) {
                pthread_mutex_unlock(&t->lock);
                return vs_error_set(err, VS_ERR_CONFLICT, "there are already %d client tokens", VS_TOKENS_MAX);
        }
        t->v = vs_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
        t->v[t->n++] = e;
        r = save_locked(t, err);
        if (r < 0)
                t->n--;
        pthread_mutex_unlock(&t->lock);
        if (r < 0)
                return -1;
        memcpy(ret_token, token, sizeof(token));
        memcpy(ret_id, e.id, 13);
        return 0;
}

int vs_tokens_revoke(vs_tokens *t, const char *id, vs_error *err)
{
        int r = vs_error_set(err, VS_ERR_NOT_FOUND, "no token %.64s", id);

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->v[i].id, id) == 0) {
                        token_entry saved = t->v[i];
                        memmove(t->v + i, t->v + i + 1, (t->n - i - 1) * sizeof(*t->v));
                        t->n--;
                        r = save_locked(t, err);
                        if (r < 0) { /* keep memory and file in step */
                                memmove(t->v + i + 1, t->v + i, (t->n - i) * sizeof(*t->v));
                                t->v[i] = saved;
                                t->n++;
                        }
                        break;
                }
        pthread_mutex_unlock(&t->lock);
        return r;
}

bool vs_tokens_lookup(vs_tokens *t, const char *token, size_t len, char ret_id[13])
{
        char hash[65];
        bool found = false;

        if (len != VS_TOKEN_LEN)
                return false;
        hash_token(token, len, hash);
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++)
                if (vs_secure_equal(hash, t->v[i].hash, 64) && !found) {
                        memcpy(ret_id, t->v[i].id, 13);
                        found = true;
                }
        pthread_mutex_unlock(&t->lock);
        return found;
}

json_t *vs_tokens_list(vs_tokens *t)
{
        json_t *list = vs_xjson(json_array());

        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < t->n; i++)
                json_array_append_new(list, vs_xjson(json_pack("{s:s, s:I}", "id", t->v[i].id, "created_ms",
                                                               (json_int_t)t->v[i].created_ms)));
        pthread_mutex_unlock(&t->lock);
        return list;
}
