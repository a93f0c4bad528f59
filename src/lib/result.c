#include "result.h"
#include "alloc.h"
#include "fsutil.h"
#include "jsonload.h"
#include "protocol.h"
#include "text.h"

#include <string.h>

#define GUEST_STRING_MAX 4096
#define GUEST_DIGESTS_MAX 64

const char *vs_phase_name(vs_phase p)
{
        switch (p) {
        case VS_PHASE_VALIDATE:
                return "validate";
        case VS_PHASE_PREPARE:
                return "prepare";
        case VS_PHASE_BOOT:
                return "boot";
        case VS_PHASE_WAIT:
                return "wait";
        case VS_PHASE_COLLECT:
                return "collect";
        case VS_PHASE_CLEANUP:
                return "cleanup";
        case VS_PHASE_LAST:
                break;
        }
        return "invalid";
}

const char *vs_status_name(vs_status s)
{
        switch (s) {
        case VS_STATUS_SUCCESS:
                return "success";
        case VS_STATUS_FAILURE:
                return "failure";
        case VS_STATUS_TIMEOUT:
                return "timeout";
        case VS_STATUS_CANCELLED:
                return "cancelled";
        case VS_STATUS_ERROR:
                return "error";
        case VS_STATUS_LAST:
                break;
        }
        return "invalid";
}

json_t *vs_result_new(const char *job_id)
{
        return json_pack("{s:s, s:s, s:n, s:n, s:{}, s:{}}", "job_id", job_id, "status", "error", "exit_code",
                         "error", "phases", "guest");
}

void vs_result_phase(json_t *result, vs_phase p, int start)
{
        json_t *phases = json_object_get(result, "phases");
        json_t *ph = json_object_get(phases, vs_phase_name(p));
        uint64_t now = vs_now_ms();

        if (!ph) {
                ph = json_object();
                json_object_set_new(phases, vs_phase_name(p), ph);
        }
        json_object_set_new(ph, start ? "start_ms" : "end_ms", json_integer((json_int_t)now));
        if (!start) {
                json_int_t s = json_integer_value(json_object_get(ph, "start_ms"));
                json_object_set_new(ph, "duration_ms", json_integer((json_int_t)now - s));
        }
}

void vs_result_set_status(json_t *result, vs_status s, int exit_code, const char *error)
{
        json_object_set_new(result, "status", json_string(vs_status_name(s)));
        json_object_set_new(result, "exit_code", exit_code >= 0 ? json_integer(exit_code) : json_null());
        /* error texts quote names from archives and guests: never invalid UTF-8 here. */
        json_object_set_new(result, "error", error ? vs_json_text(error, strlen(error), GUEST_STRING_MAX) : json_null());
}

/* A guest string, capped at GUEST_STRING_MAX bytes on a character boundary. */
static void copy_string(json_t *dst, const char *key, json_t *src)
{
        json_t *v = json_object_get(src, key);

        if (json_is_string(v))
                json_object_set_new(dst, key, vs_json_text(json_string_value(v), json_string_length(v), GUEST_STRING_MAX));
}

static void copy_phases(json_t *dst, json_t *src)
{
        static const char *const names[] = { VS_GUEST_PHASES_LIST };
        json_t *phases = json_object();

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                json_t *p = json_object_get(src, names[i]);
                json_t *s = json_object_get(p, "start_ms"), *e = json_object_get(p, "end_ms");
                json_t *out;

                /* Times are non-negative and end >= start: end - start cannot overflow. */
                if (!json_is_integer(s) || json_integer_value(s) < 0)
                        continue;
                out = json_pack("{s:O}", "start_ms", s);
                if (json_is_integer(e) && json_integer_value(e) >= json_integer_value(s)) {
                        json_object_set(out, "end_ms", e);
                        json_object_set_new(out, "duration_ms",
                                            json_integer(json_integer_value(e) - json_integer_value(s)));
                }
                json_object_set_new(phases, names[i], out);
        }
        json_object_set_new(dst, "phases", phases);
}

int vs_result_merge_guest(json_t *result, const char *text, size_t len, int *ret_exit_code)
{
        vs_error err;
        json_t *g = vs_json_load_bounded(text, len, VS_RESULT_MAX, VS_JSON_DEPTH_MAX, VS_ERR_SANDBOX, &err);
        json_t *guest = json_object_get(result, "guest");
        json_t *ec, *digests;
        int ran = 0;

        if (!json_is_object(g)) {
                json_decref(g);
                return -1;
        }
        copy_string(guest, "state", g);
        copy_string(guest, "error", g);
        copy_string(guest, "run_error", g);
        copy_string(guest, "kernel", g);
        copy_string(guest, "docker_version", g);
        copy_string(guest, "image_id", g);
        copy_phases(guest, json_object_get(g, "phases"));
        digests = json_object_get(g, "repo_digests");
        if (json_is_array(digests) && json_array_size(digests) <= GUEST_DIGESTS_MAX) {
                json_t *out = json_array(), *v;
                size_t i;
                json_array_foreach(digests, i, v) if (json_is_string(v) && json_string_length(v) <= 512)
                        json_array_append_new(out, vs_json_text(json_string_value(v), json_string_length(v), 512));
                json_object_set_new(guest, "repo_digests", out);
        }
        ec = json_object_get(g, "exit_code");
        if (json_is_integer(ec) && json_integer_value(ec) >= 0 && json_integer_value(ec) <= 255 &&
            json_is_string(json_object_get(g, "state")) && strcmp(json_string_value(json_object_get(g, "state")), "ran") == 0) {
                *ret_exit_code = (int)json_integer_value(ec);
                ran = 1;
        }
        json_decref(g);
        return ran;
}
