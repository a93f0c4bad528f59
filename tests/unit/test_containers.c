/* Containers of the Docker socket: the create body's mapping onto a spec
 * (container.c), the facts in the job record (record.c), and the service's
 * containers with the fake runner and fake images (no VM). */
#include "container.h"
#include "fake_images.h"
#include "fake_runner.h"
#include "fsutil.h"
#include "service.h"
#include "service_int.h"
#include "store.h"
#include "strv.h"
#include "tests.h"
#include "workspace.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1ull << 20)

static char *const test_roots[] = { (char *)"/roots", NULL };

static json_t *body_of(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

        ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, jerr.text);
        return j;
}

/* Maps text; the spec and facts go to the caller. */
static void map_ok(const char *text, const vs_container_policy *p, vs_spec *spec, vs_container **c)
{
        json_t *b = body_of(text);
        vs_error err = { 0 };

        ck_assert_msg(vs_container_from_docker(b, p, spec, c, &err) == 0, "%s: %s", text, err.msg);
        json_decref(b);
}

static void map_fails(const char *text, const vs_container_policy *p, const char *msg)
{
        json_t *b = body_of(text);
        vs_error err = { 0 };
        vs_spec spec;
        vs_container *c = (vs_container *)"untouched";

        ck_assert_msg(vs_container_from_docker(b, p, &spec, &c, &err) == -1, "%s was accepted", text);
        ck_assert_str_eq(err.msg, msg);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_ptr_eq(c, (vs_container *)"untouched");
        json_decref(b);
}

static const vs_container_policy policy = { .roots = test_roots };

START_TEST(map_minimal)
{
        vs_spec s;
        vs_container *c;

        map_ok("{\"Image\": \"alpine\", \"Unknown\": {\"x\": [1]}, \"Volumes\": {}}", &policy, &s, &c);
        ck_assert_uint_eq(s.memory, 1ull << 30);
        ck_assert_uint_eq(s.cpus, 1);
        ck_assert_uint_eq(s.disk, 4ull << 30);
        ck_assert_uint_eq(s.timeout_ms, VS_TIMEOUT_MAX_MS);
        ck_assert_int_eq(s.network, VS_NETWORK_NONE);
        ck_assert_ptr_null(s.image);
        ck_assert_ptr_null(s.tag);
        ck_assert_ptr_null(s.workspace);
        ck_assert_ptr_null(s.mount_at);
        ck_assert_ptr_null(s.cmd);
        ck_assert_ptr_null(s.entrypoint);
        ck_assert_ptr_null(s.user);
        ck_assert_ptr_null(s.workdir);
        ck_assert_ptr_null(s.env);
        ck_assert_str_eq(c->image, "alpine");
        ck_assert_ptr_null(c->name);
        ck_assert_str_eq(c->image_id, "");
        ck_assert(!c->tty && !c->open_stdin && !c->auto_remove && !c->bind_rw);
        ck_assert_ptr_null(c->cmd);
        ck_assert_ptr_null(c->labels);
        ck_assert_ptr_null(c->binds);
        ck_assert_ptr_null(c->network_mode);
        ck_assert_int_eq(c->memory, 0);
        vs_spec_clear(&s);
        vs_container_free(c);
}
END_TEST

/* VM RAM = max(Memory + 160 MiB, 256 MiB), rounded up to MiB; HostConfig's
 * Memory wins over the top level's, which fills in a 0. */
START_TEST(map_memory)
{
        static const struct {
                const char *body;
                uint64_t vm;
                int64_t given;
        } cases[] = {
                { "{\"Image\":\"x\",\"Memory\":536870912}", 672 * MIB, 536870912 },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Memory\":104857600}}", 260 * MIB, 104857600 },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Memory\":52428800}}", 256 * MIB, 52428800 },
                { "{\"Image\":\"x\",\"Memory\":1}", 256 * MIB, 1 },
                { "{\"Image\":\"x\",\"Memory\":1000000000}", 1114 * MIB, 1000000000 },
                { "{\"Image\":\"x\",\"Memory\":2147483648,\"HostConfig\":{\"Memory\":536870912}}", 672 * MIB, 536870912 },
                { "{\"Image\":\"x\",\"Memory\":536870912,\"HostConfig\":{\"Memory\":0}}", 672 * MIB, 536870912 },
                { "{\"Image\":\"x\",\"Memory\":null,\"MemorySwap\":-1}", 1ull << 30, 0 },
        };
        vs_container_policy p = policy;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vs_spec s;
                vs_container *c;

                map_ok(cases[i].body, &p, &s, &c);
                ck_assert_msg(s.memory == cases[i].vm, "case %zu: %llu", i, (unsigned long long)s.memory);
                ck_assert_int_eq(c->memory, cases[i].given);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
        p.default_memory = 2ull << 30;
        {
                vs_spec s;
                vs_container *c;
                map_ok("{\"Image\":\"x\"}", &p, &s, &c);
                ck_assert_uint_eq(s.memory, 2ull << 30);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
        map_fails("{\"Image\":\"x\",\"Memory\":-5}", &policy, "Memory must not be negative");
        map_fails("{\"Image\":\"x\",\"HostConfig\":{\"Memory\":\"1g\"}}", &policy, "HostConfig.Memory must be an integer");
        map_fails("{\"Image\":\"x\",\"Memory\":274710134785}", &policy,
                  "Memory 274710134785 is over the maximum of 274710134784 bytes");
        {
                vs_spec s;
                vs_container *c;
                map_ok("{\"Image\":\"x\",\"Memory\":274710134784}", &policy, &s, &c);
                ck_assert_uint_eq(s.memory, VS_MEMORY_MAX);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
}
END_TEST

/* vCPUs = ceil(NanoCpus / 1e9); CpuShares is kept but gives 1 vCPU. */
START_TEST(map_cpus)
{
        static const struct {
                const char *body;
                unsigned cpus;
        } cases[] = {
                { "{\"Image\":\"x\",\"HostConfig\":{\"NanoCpus\":1500000000}}", 2 },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NanoCpus\":1000000000}}", 1 },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NanoCpus\":500000000}}", 1 },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NanoCpus\":64000000000}}", 64 },
                { "{\"Image\":\"x\",\"CpuShares\":2048}", 1 },
                { "{\"Image\":\"x\",\"HostConfig\":{\"CpuShares\":512}}", 1 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vs_spec s;
                vs_container *c;

                map_ok(cases[i].body, &policy, &s, &c);
                ck_assert_msg(s.cpus == cases[i].cpus, "case %zu: %u", i, s.cpus);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
        {
                vs_spec s;
                vs_container *c;
                map_ok("{\"Image\":\"x\",\"CpuShares\":2048,\"HostConfig\":{\"NanoCpus\":3000000000}}", &policy, &s, &c);
                ck_assert_int_eq(c->cpu_shares, 2048);
                ck_assert_int_eq(c->nano_cpus, 3000000000);
                ck_assert_uint_eq(s.cpus, 3);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
        map_fails("{\"Image\":\"x\",\"HostConfig\":{\"NanoCpus\":64000000001}}", &policy, "NanoCpus 64000000001 is over 64 CPUs");
        map_fails("{\"Image\":\"x\",\"CpuShares\":-1}", &policy, "CpuShares must not be negative");
}
END_TEST

START_TEST(map_network)
{
        static const struct {
                const char *body;
                bool allow;
                vs_network net;
        } cases[] = {
                { "{\"Image\":\"x\"}", false, VS_NETWORK_NONE },
                { "{\"Image\":\"x\"}", true, VS_NETWORK_NAT },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NetworkMode\":\"bridge\"}}", false, VS_NETWORK_NONE },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NetworkMode\":\"bridge\"}}", true, VS_NETWORK_NAT },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NetworkMode\":\"default\"}}", true, VS_NETWORK_NAT },
                { "{\"Image\":\"x\",\"HostConfig\":{\"NetworkMode\":\"none\"}}", true, VS_NETWORK_NONE },
                { "{\"Image\":\"x\",\"NetworkDisabled\":true}", true, VS_NETWORK_NONE },
                { "{\"Image\":\"x\",\"NetworkDisabled\":true,\"HostConfig\":{\"NetworkMode\":\"bridge\"}}", true,
                  VS_NETWORK_NONE },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vs_container_policy p = policy;
                vs_spec s;
                vs_container *c;

                p.allow_network = cases[i].allow;
                map_ok(cases[i].body, &p, &s, &c);
                ck_assert_msg(s.network == cases[i].net, "case %zu", i);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
        map_fails("{\"Image\":\"x\",\"HostConfig\":{\"NetworkMode\":\"host\"}}", &policy,
                  "NetworkMode \"host\" is not supported: a container's VM has network none, or bridge (NAT) when the "
                  "service allows it");
        map_fails("{\"Image\":\"x\",\"NetworkDisabled\":\"yes\"}", &policy, "NetworkDisabled must be true or false");
}
END_TEST

START_TEST(map_binds)
{
        static const struct {
                const char *body, *ws, *at, *bind;
                bool rw;
        } cases[] = {
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/erc\"]}}", "/roots/ws", "/erc", "/roots/ws:/erc", true },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/erc:ro\"]}}", "/roots/ws", "/erc", "/roots/ws:/erc:ro", false },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/data:rw,z\"]}}", "/roots/ws", "/data", "/roots/ws:/data:rw,z", true },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots:/erc:Z,ro\"]}}", "/roots", "/erc", "/roots:/erc:Z,ro", false },
                { "{\"Image\":\"x\",\"Binds\":[\"/roots/a/b:/erc\"]}", "/roots/a/b", "/erc", "/roots/a/b:/erc", true },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/roots/ws\",\"Target\":\"/data\","
                  "\"ReadOnly\":true}]}}", "/roots/ws", "/data", "/roots/ws:/data:ro", false },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/roots/ws\",\"Target\":\"/data\"}]}}",
                  "/roots/ws", "/data", "/roots/ws:/data", true },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vs_spec s;
                vs_container *c;

                map_ok(cases[i].body, &policy, &s, &c);
                /* A container's binds are the spec's binds, never its workspace. */
                ck_assert_ptr_null(s.workspace);
                ck_assert_ptr_null(s.mount_at);
                ck_assert_uint_eq(s.n_binds, 1);
                ck_assert_str_eq(s.binds[0].host, cases[i].ws);
                ck_assert_str_eq(s.binds[0].target, cases[i].at);
                ck_assert_msg(s.binds[0].rw == cases[i].rw, "case %zu", i);
                ck_assert_str_eq(c->binds[0], cases[i].bind);
                ck_assert_ptr_null(c->binds[1]);
                ck_assert(!c->bind_rw);
                vs_spec_clear(&s);
                vs_container_free(c);
        }
}
END_TEST

/* dockerd (Go's encoding/json) takes keys case-insensitively: stevedore
 * sends containerit's host_config as written, {"binds": [...]}. */
START_TEST(map_keys_any_case)
{
        vs_spec s;
        vs_container *c;

        map_ok("{\"image\":\"x\",\"cmd\":[\"sh\"],\"hostconfig\":{\"binds\":[\"/roots/ws:/data\"],\"MEMORY\":104857600},"
               "\"Labels\":{\"k\":\"v\"},\"tty\":true}",
               &policy, &s, &c);
        ck_assert_uint_eq(s.n_binds, 1);
        ck_assert_str_eq(s.binds[0].host, "/roots/ws");
        ck_assert_str_eq(s.binds[0].target, "/data");
        ck_assert_str_eq(c->binds[0], "/roots/ws:/data");
        ck_assert_str_eq(s.cmd[0], "sh");
        ck_assert_uint_eq(s.memory, 260 * MIB);
        ck_assert(c->tty);
        vs_spec_clear(&s);
        vs_container_free(c);
        map_ok("{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"type\":\"bind\",\"source\":\"/roots/ws\",\"target\":\"/m\","
               "\"readonly\":true}]}}",
               &policy, &s, &c);
        ck_assert_str_eq(c->binds[0], "/roots/ws:/m:ro");
        vs_spec_clear(&s);
        vs_container_free(c);
        map_fails("{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\"],\"binds\":[\"/etc:/a\"]}}", &policy,
                  "HostConfig.Binds is given twice, as \"Binds\" and \"binds\"");
        map_fails("{\"image\":\"x\",\"Image\":\"y\"}", &policy, "Image is given twice, as \"image\" and \"Image\"");
}
END_TEST

/* Hostname and Tty reach the spec (the guest's docker run gets them). */
START_TEST(map_hostname_tty)
{
        vs_spec s;
        vs_container *c;

        map_ok("{\"Image\":\"x\",\"Hostname\":\"build-1.lab\",\"Tty\":true}", &policy, &s, &c);
        ck_assert_str_eq(s.hostname, "build-1.lab");
        ck_assert(s.tty);
        ck_assert(c->tty);
        ck_assert_str_eq(c->hostname, "build-1.lab");
        vs_spec_clear(&s);
        vs_container_free(c);
        map_ok("{\"Image\":\"x\",\"Hostname\":\"\"}", &policy, &s, &c);
        ck_assert_ptr_null(s.hostname);
        ck_assert(!s.tty);
        vs_spec_clear(&s);
        vs_container_free(c);
        map_fails("{\"Image\":\"x\",\"Hostname\":\"a b\"}", &policy, "Hostname \"a b\": letters, digits, '.', '-' and '_' only");
        map_fails("{\"Image\":\"x\",\"Hostname\":\"-x\"}", &policy, "Hostname \"-x\": letters, digits, '.', '-' and '_' only");
}
END_TEST

/* Several binds, in order, Binds then Mounts: o2r-muncher's shape (its
 * payload rw at /erc, substitution files ro inside it, containerit's
 * Docker socket). */
START_TEST(map_binds_several)
{
        vs_spec s;
        vs_container *c;

        map_ok("{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/job:/erc:rw\",\"/roots/job/sub/a.csv:/erc/data/a.csv:ro\","
               "\"/var/run/docker.sock:/var/run/docker.sock\",\"/roots/in:/in:ro\"],\"Mounts\":[{\"Type\":\"bind\","
               "\"Source\":\"/roots/out\",\"Target\":\"/out\"}]}}",
               &policy, &s, &c);
        ck_assert_uint_eq(s.n_binds, 4);
        ck_assert_str_eq(s.binds[0].host, "/roots/job");
        ck_assert_str_eq(s.binds[0].target, "/erc");
        ck_assert(s.binds[0].rw);
        ck_assert_str_eq(s.binds[1].host, "/roots/job/sub/a.csv");
        ck_assert_str_eq(s.binds[1].target, "/erc/data/a.csv");
        ck_assert(!s.binds[1].rw);
        ck_assert_str_eq(s.binds[2].host, "/roots/in");
        ck_assert(!s.binds[2].rw);
        ck_assert_str_eq(s.binds[3].host, "/roots/out");
        ck_assert_str_eq(s.binds[3].target, "/out");
        ck_assert(s.binds[3].rw);
        ck_assert_str_eq(s.docker_socket, "/var/run/docker.sock");
        ck_assert_uint_eq(vs_strv_length(c->binds), 5);
        ck_assert_str_eq(c->binds[4], "/roots/out:/out");
        /* It is a spec the pipeline takes. */
        {
                vs_error err = { 0 };
                json_t *j = vs_spec_to_json(&s);
                vs_spec back;

                s.image = strdup("x.tar");
                ck_assert_msg(vs_spec_validate(&s, &err) == 0, "%s", err.msg);
                ck_assert_int_eq(vs_spec_from_json(j, &back, &err), 0);
                ck_assert_uint_eq(back.n_binds, 4);
                ck_assert_str_eq(back.binds[1].target, "/erc/data/a.csv");
                ck_assert(!back.binds[1].rw && back.binds[3].rw);
                vs_spec_clear(&back);
                json_decref(j);
        }
        vs_spec_clear(&s);
        vs_container_free(c);
}
END_TEST

/* A bind of Docker's socket is the VM's own engine, not a workspace. */
START_TEST(map_engine_socket)
{
        vs_spec s;
        vs_container *c;

        map_ok("{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\","
               "\"/roots/ws:/erc\"]}}", &policy, &s, &c);
        ck_assert_str_eq(s.docker_socket, "/var/run/docker.sock");
        ck_assert_ptr_null(s.workspace);
        ck_assert_uint_eq(s.n_binds, 1);
        ck_assert_str_eq(s.binds[0].host, "/roots/ws");
        ck_assert_str_eq(s.binds[0].target, "/erc");
        ck_assert_str_eq(c->binds[0], "/var/run/docker.sock:/var/run/docker.sock");
        ck_assert_str_eq(c->binds[1], "/roots/ws:/erc");
        vs_spec_clear(&s);
        vs_container_free(c);
        map_ok("{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/run/docker.sock\","
               "\"Target\":\"/docker.sock\"}]}}", &policy, &s, &c);
        ck_assert_str_eq(s.docker_socket, "/docker.sock");
        ck_assert_ptr_null(s.workspace);
        ck_assert(!c->bind_rw);
        vs_spec_clear(&s);
        vs_container_free(c);
        map_fails("{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/a\",\"/run/docker.sock:/b\"]}}",
                  &policy, "more than one bind of the Docker socket (/run/docker.sock:/b)");
        map_fails("{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/\"]}}", &policy,
                  "bind /var/run/docker.sock:/: the container path must not be / or have ','");
}
END_TEST

START_TEST(map_binds_refused)
{
        static const struct {
                const char *body, *msg;
        } cases[] = {
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/etc:/erc\"]}}",
                  "bind source /etc is not below an allowed root (--allow-root)" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/rootsx/ws:/erc\"]}}",
                  "bind source /rootsx/ws is not below an allowed root (--allow-root)" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\",\"/roots/b:/a\"]}}",
                  "Duplicate mount point: /a" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\"],\"Mounts\":[{\"Type\":\"bind\",\"Source\":"
                  "\"/roots/b\",\"Target\":\"/a/\",\"ReadOnly\":true}]}}",
                  "Duplicate mount point: /a/" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a/\",\"/roots/b:/a:ro\"]}}",
                  "Duplicate mount point: /a" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/s\",\"/roots/b:/s\"]}}",
                  "Duplicate mount point: /s" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\",\"/roots/a/b:/b\"]}}",
                  "binds of /roots/a and /roots/a/b: two rw binds of overlapping host directories would write back over "
                  "each other" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\",\"/roots//a:/b\"]}}",
                  "binds of /roots/a and /roots//a: two rw binds of overlapping host directories would write back over "
                  "each other" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots//a/:/a\",\"/roots/a//f:/b\"]}}",
                  "binds of /roots//a/ and /roots/a//f: two rw binds of overlapping host directories would write back over "
                  "each other" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a/b/:/b\",\"/roots/a:/a\"]}}",
                  "binds of /roots/a/b/ and /roots/a: two rw binds of overlapping host directories would write back over "
                  "each other" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\",\"/roots/c:/c\",\"/etc/x:/x:ro\"]}}",
                  "bind source /etc/x is not below an allowed root (--allow-root)" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\\\"b\"]}}",
                  "bind /a\"b: the container path must be absolute, not /, without '.', '..', ':', ',' or '\"'" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a/../etc\"]}}",
                  "bind /a/../etc: the container path must be absolute, not /, without '.', '..', ':', ',' or '\"'" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/a:/a\",\"/roots/c:/a/.\"]}}",
                  "bind /a/.: the container path must be absolute, not /, without '.', '..', ':', ',' or '\"'" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"vol:/data\"]}}",
                  "bind vol:/data: named volumes are not supported, the source must be an absolute host path" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:data\"]}}",
                  "bind /roots/ws:data: the container path must be absolute" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/erc:rx\"]}}",
                  "invalid mode: rx (in the bind /roots/ws:/erc:rx)" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/erc:ro,rw\"]}}",
                  "invalid mode: ro,rw (in the bind /roots/ws:/erc:ro,rw)" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws\"]}}",
                  "invalid bind /roots/ws: expected HOST:CONTAINER[:ro|rw]" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/a:ro:x\"]}}",
                  "invalid bind /roots/ws:/a:ro:x: expected HOST:CONTAINER[:ro|rw]" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[\"/roots/ws:/\"]}}",
                  "bind /roots/ws:/: the container path must not be /" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/v\"}]}}",
                  "HostConfig.Mounts[0]: type \"volume\" is not supported (only bind: a host directory copied in)" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Target\":\"/v\"}]}}",
                  "HostConfig.Mounts[0]: a bind needs a Source and a Target without ':'" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Mounts\":{}}}", "HostConfig.Mounts must be an array" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"Binds\":[5]}}",
                  "HostConfig.Binds[0] must be a string of valid UTF-8 text of at most 32768 bytes" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                map_fails(cases[i].body, &policy, cases[i].msg);
}
END_TEST

START_TEST(map_config)
{
        vs_spec s;
        vs_container *c;

        map_ok("{\"Image\":\"r/x:1\",\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Entrypoint\":[\"/bin/tini\",\"--\"],"
               "\"Env\":[\"A=1\",\"B=two words\"],\"User\":\"1000:100\",\"WorkingDir\":\"/w\",\"Hostname\":\"h1\","
               "\"Labels\":{\"a\":\"1\",\"b\":\"\"},\"Tty\":true,\"OpenStdin\":true,\"HostConfig\":{\"AutoRemove\":true}}",
               &policy, &s, &c);
        ck_assert_str_eq(s.cmd[0], "sh");
        ck_assert_str_eq(s.cmd[2], "echo hi");
        ck_assert_ptr_null(s.cmd[3]);
        ck_assert_str_eq(s.entrypoint[0], "/bin/tini");
        ck_assert_str_eq(s.entrypoint[1], "--");
        ck_assert_ptr_null(s.entrypoint[2]);
        ck_assert_str_eq(s.env[0], "A=1");
        ck_assert_str_eq(s.env[1], "B=two words");
        ck_assert_ptr_null(s.env[2]);
        ck_assert_str_eq(s.user, "1000:100");
        ck_assert_str_eq(s.workdir, "/w");
        ck_assert_str_eq(c->image, "r/x:1");
        ck_assert_str_eq(c->hostname, "h1");
        ck_assert_str_eq(c->labels[0], "a");
        ck_assert_str_eq(c->labels[1], "1");
        ck_assert_str_eq(c->labels[2], "b");
        ck_assert_str_eq(c->labels[3], "");
        ck_assert_ptr_null(c->labels[4]);
        ck_assert(c->tty && c->open_stdin && c->auto_remove);
        ck_assert_str_eq(c->cmd[1], "-c");
        ck_assert_str_eq(c->entrypoint[0], "/bin/tini");
        ck_assert_str_eq(c->env[1], "B=two words");
        ck_assert_str_eq(c->user, "1000:100");
        ck_assert_str_eq(c->working_dir, "/w");
        vs_spec_clear(&s);
        vs_container_free(c);

        /* Docker's string slices: a string is one word; [] of Cmd is the
         * image's; an empty Entrypoint (or [""]) resets the image's. */
        map_ok("{\"Image\":\"x\",\"Cmd\":\"echo hi\",\"Entrypoint\":[],\"User\":\"\",\"WorkingDir\":\"\",\"AutoRemove\":true}",
               &policy, &s, &c);
        ck_assert_str_eq(s.cmd[0], "echo hi");
        ck_assert_ptr_null(s.cmd[1]);
        ck_assert_ptr_nonnull(s.entrypoint);
        ck_assert_ptr_null(s.entrypoint[0]);
        ck_assert_ptr_null(s.user);
        ck_assert_ptr_null(s.workdir);
        ck_assert(c->auto_remove);
        vs_spec_clear(&s);
        vs_container_free(c);
        map_ok("{\"Image\":\"x\",\"Cmd\":[],\"Entrypoint\":[\"\"]}", &policy, &s, &c);
        ck_assert_ptr_null(s.cmd);
        ck_assert_str_eq(s.entrypoint[0], "");
        ck_assert_ptr_null(s.entrypoint[1]);
        ck_assert_ptr_nonnull(c->cmd);
        ck_assert_ptr_null(c->cmd[0]);
        vs_spec_clear(&s);
        vs_container_free(c);
        map_ok("{\"Image\":\"x\",\"User\":\"0\"}", &policy, &s, &c);
        ck_assert_str_eq(s.user, "0");
        vs_spec_clear(&s);
        vs_container_free(c);
}
END_TEST

START_TEST(map_config_refused)
{
        static const struct {
                const char *body, *msg;
        } cases[] = {
                { "[1]", "the container config must be a JSON object" },
                { "{}", "Image is required" },
                { "{\"Image\":\"\"}", "Image is required" },
                { "{\"Image\":5}", "Image must be a string" },
                { "{\"Image\":\"x\",\"Cmd\":{}}", "Cmd must be an array of strings" },
                { "{\"Image\":\"x\",\"Entrypoint\":[1]}", "Entrypoint[0] must be a string of valid UTF-8 text of at most 32768 bytes" },
                { "{\"Image\":\"x\",\"Env\":[\"1A=x\"]}", "Env \"1A=x\": expected KEY=VALUE with KEY of letters, digits and _" },
                { "{\"Image\":\"x\",\"Env\":[\"NOVALUE\"]}", "Env \"NOVALUE\": expected KEY=VALUE with KEY of letters, digits and _" },
                { "{\"Image\":\"x\",\"User\":\"alice\"}", "User \"alice\": vmsandbox runs a container as a numeric UID or UID:GID" },
                { "{\"Image\":\"x\",\"User\":\"1000:\"}", "User \"1000:\": vmsandbox runs a container as a numeric UID or UID:GID" },
                { "{\"Image\":\"x\",\"User\":\"1000:staff\"}", "User \"1000:staff\": vmsandbox runs a container as a numeric UID or UID:GID" },
                { "{\"Image\":\"x\",\"WorkingDir\":\"rel\"}", "WorkingDir \"rel\" must be an absolute path" },
                { "{\"Image\":\"x\",\"Labels\":{\"a\":1}}", "Labels: \"a\" must have a string value of valid UTF-8 text" },
                { "{\"Image\":\"x\",\"Labels\":[\"a\"]}", "Labels must be an object of strings" },
                { "{\"Image\":\"x\",\"Tty\":\"yes\"}", "Tty must be true or false" },
                { "{\"Image\":\"x\",\"HostConfig\":[]}", "HostConfig must be an object" },
                { "{\"Image\":\"x\",\"HostConfig\":{\"AutoRemove\":1}}", "HostConfig.AutoRemove must be true or false" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                map_fails(cases[i].body, &policy, cases[i].msg);
}
END_TEST

/* Bounds: a list one past its limit is refused, at its limit accepted. */
START_TEST(map_bounds)
{
        json_t *b = body_of("{\"Image\":\"x\",\"Labels\":{},\"Env\":[]}");
        vs_error err = { 0 };
        vs_spec s;
        vs_container *c;

        for (int i = 0; i < VS_CONTAINER_LABELS_MAX; i++) {
                char k[16];
                snprintf(k, sizeof(k), "k%d", i);
                json_object_set_new(json_object_get(b, "Labels"), k, json_string("v"));
        }
        for (int i = 0; i < VS_CONTAINER_ENV_MAX; i++)
                json_array_append_new(json_object_get(b, "Env"), json_string("A=1"));
        ck_assert_int_eq(vs_container_from_docker(b, &policy, &s, &c, &err), 0);
        ck_assert_uint_eq(vs_strv_length(c->labels), 2 * VS_CONTAINER_LABELS_MAX);
        vs_spec_clear(&s);
        vs_container_free(c);
        json_object_set_new(json_object_get(b, "Labels"), "one-more", json_string("v"));
        ck_assert_int_eq(vs_container_from_docker(b, &policy, &s, &c, &err), -1);
        ck_assert_str_eq(err.msg, "Labels has more than 256 entries");
        json_object_del(json_object_get(b, "Labels"), "one-more");
        json_array_append_new(json_object_get(b, "Env"), json_string("A=1"));
        ck_assert_int_eq(vs_container_from_docker(b, &policy, &s, &c, &err), -1);
        ck_assert_str_eq(err.msg, "Env has more than 256 entries");
        json_object_set_new(b, "Env", json_stringn_nocheck("\xff", 1));
        ck_assert_int_eq(vs_container_from_docker(b, &policy, &s, &c, &err), -1);
        ck_assert_str_eq(err.msg, "Env must be a string of valid UTF-8 text of at most 32768 bytes");
        json_decref(b);
}
END_TEST

START_TEST(status_and_exit_codes)
{
        static const struct {
                vs_job_state st;
                int exit_code;
                const char *status;
                int code;
                bool failed;
        } cases[] = {
                { VS_JOB_CREATED, -1, "created", 0, false },   { VS_JOB_QUEUED, -1, "running", 0, false },
                { VS_JOB_RUNNING, -1, "running", 0, false },   { VS_JOB_SUCCESS, 0, "exited", 0, false },
                { VS_JOB_FAILURE, 3, "exited", 3, false },     { VS_JOB_FAILURE, 255, "exited", 255, false },
                { VS_JOB_TIMEOUT, -1, "exited", 137, false },  { VS_JOB_CANCELLED, -1, "exited", 137, false },
                { VS_JOB_CANCELLED, 0, "exited", 137, false }, { VS_JOB_ERROR, -1, "exited", 125, true },
                { VS_JOB_ERROR, 2, "exited", 2, false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool failed = !cases[i].failed;
                ck_assert_str_eq(vs_container_status(cases[i].st), cases[i].status);
                ck_assert_int_eq(vs_container_exit_code(cases[i].st, cases[i].exit_code, &failed), cases[i].code);
                ck_assert_msg(failed == cases[i].failed, "case %zu", i);
        }
}
END_TEST

/* ---- the facts in the record ---------------------------------------------------- */

static vs_container *full_facts(void)
{
        vs_container *c;
        vs_spec s;

        map_ok("{\"Image\":\"r/x:1\",\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Entrypoint\":[],"
               "\"Env\":[\"A=1\"],\"User\":\"1000:100\",\"WorkingDir\":\"/w\",\"Hostname\":\"h1\","
               "\"Labels\":{\"a\":\"1\",\"b\":\"\"},\"Tty\":true,\"HostConfig\":{\"AutoRemove\":true,\"Memory\":5,"
               "\"NanoCpus\":6,\"CpuShares\":7,\"NetworkMode\":\"none\",\"Binds\":[\"/roots/ws:/erc:rw\"]}}",
               &policy, &s, &c);
        vs_spec_clear(&s);
        c->bind_rw = true; /* as a record of a one-bind container made before several binds has it */
        c->name = strdup("web-1");
        snprintf(c->image_id, sizeof(c->image_id), "sha256:%064d", 0);
        return c;
}

static void facts_equal(const vs_container *a, const vs_container *b)
{
        json_t *x = vs_container_to_json(a), *y = vs_container_to_json(b);

        ck_assert(json_equal(x, y));
        json_decref(x);
        json_decref(y);
        ck_assert_str_eq(a->name, b->name);
        ck_assert_str_eq(a->image_id, b->image_id);
        ck_assert_ptr_nonnull(b->entrypoint);
        ck_assert_ptr_null(b->entrypoint[0]);
        ck_assert_str_eq(b->labels[3], "");
        ck_assert_int_eq(b->memory, 5);
        ck_assert_int_eq(b->nano_cpus, 6);
        ck_assert_int_eq(b->cpu_shares, 7);
        ck_assert_str_eq(b->network_mode, "none");
        ck_assert_str_eq(b->binds[0], "/roots/ws:/erc:rw");
        ck_assert(b->bind_rw && b->tty && b->auto_remove && !b->open_stdin);
}

START_TEST(facts_round_trip)
{
        vs_container *c = full_facts(), *back = NULL, *copy = vs_container_copy(c);
        json_t *j = vs_container_to_json(c);
        vs_error err = { 0 };
        vs_job_record r, r2;
        json_t *rec;

        ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "web-1");
        ck_assert_int_eq(vs_container_from_json(j, &back, &err), 0);
        facts_equal(c, back);
        facts_equal(c, copy);
        vs_container_free(back);
        vs_container_free(copy);
        json_decref(j);

        /* Through a whole record, as job.json stores it. */
        vs_record_init(&r, "0123456789ab", "docker:a", json_object(), 1);
        r.container = c;
        rec = vs_record_to_json(&r, -1);
        ck_assert_int_eq(vs_record_from_json(rec, &r2, &err), 0);
        facts_equal(c, r2.container);
        json_decref(rec);
        vs_record_clear(&r2);
        vs_record_clear(&r);

        /* A job of the job API has none. */
        vs_record_init(&r, "0123456789ab", NULL, json_object(), 1);
        rec = vs_record_to_json(&r, -1);
        ck_assert(json_is_null(json_object_get(rec, "container")));
        ck_assert_int_eq(vs_record_from_json(rec, &r2, &err), 0);
        ck_assert_ptr_null(r2.container);
        json_decref(rec);
        vs_record_clear(&r2);
        vs_record_clear(&r);
}
END_TEST

/* A stored record is the previous process's or a tamperer's: every field
 * is checked and the record refused, naming it. */
START_TEST(facts_hostile)
{
        static const struct {
                const char *key, *value, *msg;
        } cases[] = {
                { "name", "\"../x\"", "job record: container.name is not a container name" },
                { "name", "\"a\"", "job record: container.name is not a container name" },
                { "name", "5", "job record: container.name is not a string" },
                { "name", "null", "job record: container.name is missing" },
                { "image", "null", "job record: container.image is missing" },
                { "image_id", "\"sha256:XYZ\"", "job record: container.image_id is not an image id" },
                { "cmd", "[1]", "job record: container.cmd has an entry that is not a string of valid UTF-8 text" },
                { "cmd", "\"sh\"", "job record: container.cmd is not an array" },
                { "labels", "[]", "job record: container.labels is not an object" },
                { "labels", "{\"a\":2}", "job record: container.labels has an entry that is not a string of valid UTF-8 text" },
                { "memory", "-1", "job record: container.memory is not a count of 0 or more" },
                { "memory", "\"1g\"", "job record: container.memory is not a count of 0 or more" },
                { "tty", "\"yes\"", "job record: container.tty is not true or false" },
                { "binds", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]",
                  "job record: container.binds has too many entries" },
        };
        vs_container *c = full_facts();

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *j = vs_container_to_json(c), *rec;
                vs_container *back = (vs_container *)"untouched";
                vs_job_record r = { 0 };
                vs_error err = { 0 };

                json_object_set_new(j, cases[i].key, body_of(cases[i].value));
                ck_assert_int_eq(vs_container_from_json(j, &back, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                ck_assert_ptr_eq(back, (vs_container *)"untouched");
                rec = json_pack("{s:s, s:{}, s:O}", "id", "0123456789ab", "spec", "container", j);
                ck_assert_int_eq(vs_record_from_json(rec, &r, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                json_decref(rec);
                json_decref(j);
        }
        {
                json_t *j = vs_container_to_json(c), *labels = json_object();
                vs_container *back;
                vs_error err = { 0 };

                json_object_set_new(j, "image", json_stringn_nocheck("a\xff", 2));
                ck_assert_int_eq(vs_container_from_json(j, &back, &err), -1);
                ck_assert_str_eq(err.msg, "job record: container.image is not valid UTF-8 text");
                json_object_set_new(j, "image", json_string("x"));
                for (int i = 0; i <= VS_CONTAINER_LABELS_MAX; i++) {
                        char k[16];
                        snprintf(k, sizeof(k), "k%d", i);
                        json_object_set_new(labels, k, json_string("v"));
                }
                json_object_set_new(j, "labels", labels);
                ck_assert_int_eq(vs_container_from_json(j, &back, &err), -1);
                ck_assert_str_eq(err.msg, "job record: container.labels has too many entries");
                json_object_set_new(j, "labels", json_null());
                json_object_set_new(j, "image", json_string("x"));
                ck_assert_int_eq(vs_container_from_json(j, &back, &err), 0);
                ck_assert_ptr_null(back->labels);
                vs_container_free(back);
                {
                        json_t *x = json_string("x");
                        ck_assert_int_eq(vs_container_from_json(x, &back, &err), -1);
                        ck_assert_str_eq(err.msg, "job record: container is not an object");
                        json_decref(x);
                }
                json_decref(j);
        }
        vs_container_free(c);
}
END_TEST

/* ---- list filters, ages --------------------------------------------------------- */

static bool filter_hits(const char *filters, const char *id, const vs_container *c, vs_job_state st)
{
        json_t *f = body_of(filters);
        vs_container_filters parsed;
        vs_error err = { 0 };
        bool hit;

        ck_assert_msg(vs_container_filters_parse(f, &parsed, &err) == 0, "%s: %s", filters, err.msg);
        hit = vs_container_filters_match(&parsed, id, c, st);
        vs_container_filters_clear(&parsed);
        json_decref(f);
        return hit;
}

START_TEST(filters_match)
{
        vs_container *c = full_facts(); /* web-1, labels a=1 b= */
        static const struct {
                const char *filters;
                vs_job_state st;
                bool hit;
        } cases[] = {
                { "{}", VS_JOB_CREATED, true },
                { "{\"name\":[\"web\"]}", VS_JOB_CREATED, true },
                { "{\"name\":{\"eb-\":true}}", VS_JOB_CREATED, true },
                { "{\"name\":[\"/web\"]}", VS_JOB_CREATED, true },
                { "{\"name\":[\"/eb\"]}", VS_JOB_CREATED, false },
                { "{\"name\":[\"db\"]}", VS_JOB_CREATED, false },
                { "{\"name\":[\"db\",\"web\"]}", VS_JOB_CREATED, true },
                { "{\"name\":{\"db\":false}}", VS_JOB_CREATED, false },
                { "{\"id\":[\"0123\"]}", VS_JOB_CREATED, true },
                { "{\"id\":[\"123\"]}", VS_JOB_CREATED, false },
                { "{\"label\":[\"a\"]}", VS_JOB_CREATED, true },
                { "{\"label\":[\"a=1\"]}", VS_JOB_CREATED, true },
                { "{\"label\":[\"a=2\"]}", VS_JOB_CREATED, false },
                { "{\"label\":[\"b=\"]}", VS_JOB_CREATED, true },
                { "{\"label\":[\"a=1\",\"b\"]}", VS_JOB_CREATED, true },
                { "{\"label\":[\"a=1\",\"c\"]}", VS_JOB_CREATED, false },
                { "{\"status\":[\"created\"]}", VS_JOB_CREATED, true },
                { "{\"status\":[\"running\"]}", VS_JOB_QUEUED, true },
                { "{\"status\":[\"exited\"]}", VS_JOB_RUNNING, false },
                { "{\"status\":[\"exited\",\"running\"]}", VS_JOB_CANCELLED, true },
                { "{\"status\":[\"exited\"],\"name\":[\"db\"]}", VS_JOB_SUCCESS, false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ck_assert_msg(filter_hits(cases[i].filters, "0123456789ab", c, cases[i].st) == cases[i].hit, "case %zu: %s",
                              i, cases[i].filters);
        vs_container_free(c);
}
END_TEST

START_TEST(filters_refused)
{
        static const struct {
                const char *filters, *msg;
        } cases[] = {
                { "[]", "filters must be a JSON object" },
                { "{\"volume\":[\"x\"]}", "invalid filter 'volume'" },
                { "{\"status\":[\"bogus\"]}", "invalid filter 'status=bogus'" },
                { "{\"name\":\"web\"}", "filter name: expected a list of values" },
                { "{\"name\":[1]}", "filter name: values must be strings" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *f = body_of(cases[i].filters);
                vs_container_filters parsed;
                vs_error err = { 0 };

                ck_assert_int_eq(vs_container_filters_parse(f, &parsed, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                ck_assert_ptr_null(parsed.name);
                json_decref(f);
        }
}
END_TEST

START_TEST(human_durations)
{
        static const struct {
                int64_t s;
                const char *words;
        } cases[] = {
                { 0, "Less than a second" }, { 1, "1 second" },       { 59, "59 seconds" },
                { 60, "About a minute" },    { 119, "About a minute" }, { 120, "2 minutes" },
                { 3599, "59 minutes" },      { 3600, "About an hour" }, { 5399, "About an hour" },
                { 5400, "2 hours" },         { 47 * 3600, "47 hours" }, { 48 * 3600, "2 days" },
                { 14 * 86400, "2 weeks" },   { 60 * 86400, "2 months" }, { 730 * 86400, "2 years" },
        };
        char buf[64];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vs_container_human_duration(cases[i].s, buf, sizeof(buf));
                ck_assert_str_eq(buf, cases[i].words);
        }
}
END_TEST

/* ---- the service's containers --------------------------------------------------- */

static char state[64], roots[96], ws[128];
static vs_config cfg;
static bool opt_network;

static void setup(void)
{
        snprintf(state, sizeof(state), "/tmp/vs-ctr-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(state));
        snprintf(roots, sizeof(roots), "%s/roots", state);
        snprintf(ws, sizeof(ws), "%s/ws", roots);
        ck_assert_int_eq(mkdir(roots, 0700), 0);
        ck_assert_int_eq(mkdir(ws, 0700), 0);
        cfg = (vs_config){ .state_dir = state };
        opt_network = false;
        fake_reset();
}

static void teardown(void)
{
        vs_rm_rf(state);
}

static vs_service *svc_open(void)
{
        static char *rootv[2];
        vs_service_opts o = { .cfg = &cfg, .max_jobs = 2, .memory_budget = 64ull << 30, .max_upload = 1 << 20,
                              .run = fake_run, .image_resolve = fake_image_resolve, .allow_network = opt_network };
        vs_error err = { 0 };
        vs_service *s = NULL;

        rootv[0] = roots;
        o.allowed_roots = rootv;
        ck_assert_msg(vs_service_open(&o, &s, &err) == 0, "%s", err.msg);
        /* Tenant a binds below the whole allowed root; b has no root. */
        ck_assert_msg(vs_service_set_tenant_root(s, "docker:a", roots, &err) == 0, "%s", err.msg);
        return s;
}

static void svc_close(vs_service *s)
{
        fake_release("*");
        vs_service_drain(s, 0);
        vs_service_free(s);
}

/* A container of owner running the fake ops in cmd (JSON words). */
static void ctr(vs_service *s, const char *owner, const char *name, const char *extra, char id[13])
{
        char text[2048];
        json_t *b;
        vs_error err = { 0 };

        snprintf(text, sizeof(text), "{\"Image\":\"demo/app:1\"%s%s}", extra ? "," : "", extra ? extra : "");
        b = body_of(text);
        ck_assert_msg(vs_service_container_create(s, owner, name, b, id, &err) == 0, "%s", err.msg);
        json_decref(b);
}

static int wait_code(vs_service *s, const char *owner, const char *ref, vs_wait_condition cond, char **ret_error)
{
        vs_container_waiter *w;
        vs_error err = { 0 };
        int code = -1, r;
        char *msg = NULL;

        ck_assert_msg(vs_service_container_wait_open(s, owner, ref, &w, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 200 && (r = vs_service_container_wait(s, w, cond, 100, &code, &msg, &err)) == 0; i++)
                ;
        ck_assert_int_eq(r, 1);
        vs_service_container_wait_close(w);
        if (ret_error)
                *ret_error = msg;
        else
                free(msg);
        return code;
}

static size_t job_dirs(void)
{
        char path[160];
        size_t n = 0;
        DIR *d;
        struct dirent *e;

        snprintf(path, sizeof(path), "%s/server/jobs", state);
        d = opendir(path);
        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

START_TEST(create_and_find)
{
        vs_service *s = svc_open();
        char id[13], found[13], image[200], want_id[VS_CONTAINER_IMAGE_ID_LEN + 1];
        vs_container_info info;
        vs_error err = { 0 };
        struct stat st;

        ctr(s, "docker:a", "web", "\"Labels\":{\"k\":\"v\"}", id);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", id, found, &err), 0);
        ck_assert_str_eq(found, id);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", "web", found, &err), 0);
        ck_assert_str_eq(found, id);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", "/web", found, &err), 0);
        ck_assert_str_eq(found, id);
        {
                char prefix[5];
                memcpy(prefix, id, 4);
                prefix[4] = '\0';
                ck_assert_int_eq(vs_service_container_find(s, "docker:a", prefix, found, &err), 0);
                ck_assert_str_eq(found, id);
        }
        /* Another tenant sees nothing; the admin sees it. */
        ck_assert_int_eq(vs_service_container_find(s, "docker:b", "web", found, &err), -1);
        ck_assert_str_eq(err.msg, "No such container: web");
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ck_assert_int_eq(vs_service_container_find(s, "docker:b", id, found, &err), -1);
        ck_assert_int_eq(vs_service_container_find(s, NULL, "web", found, &err), 0);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", "nope", found, &err), -1);
        ck_assert_str_eq(err.msg, "No such container: nope");

        ck_assert_int_eq(vs_service_container_info(s, "docker:a", id, &info, &err), 0);
        fake_image_id("demo/app:1", want_id);
        ck_assert_str_eq(info.c->name, "web");
        ck_assert_str_eq(info.c->image, "demo/app:1");
        ck_assert_str_eq(info.c->image_id, want_id);
        ck_assert_str_eq(info.c->labels[1], "v");
        ck_assert_int_eq(info.state, VS_JOB_CREATED);
        ck_assert_int_eq(info.started_ms, -1);
        vs_container_info_clear(&info);
        /* The image is linked into the job's directory and run by its id. */
        snprintf(image, sizeof(image), "%s/server/jobs/%s/image.tar", state, id);
        ck_assert_int_eq(stat(image, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_NEXT_EXIT, NULL), 0);
        {
                json_t *spec = fake_last_spec();
                ck_assert_str_eq(json_string_value(json_object_get(spec, "tag")), want_id);
                ck_assert_str_eq(json_string_value(json_object_get(spec, "image")), image);
                ck_assert_str_eq(json_string_value(json_object_get(spec, "network")), "none");
                ck_assert_int_eq(json_integer_value(json_object_get(spec, "memory")), 1ll << 30);
                json_decref(spec);
        }
        svc_close(s);
}
END_TEST

START_TEST(names)
{
        vs_service *s = svc_open();
        char id[13], id2[13], other[13], found[13], msg[512];
        vs_error err = { 0 };
        json_t *b = body_of("{\"Image\":\"demo/app:1\"}");
        vs_container_info info;

        ctr(s, "docker:a", "/web", NULL, id);
        ck_assert_int_eq(vs_service_container_create(s, "docker:a", "web", b, other, &err), -1);
        ck_assert_int_eq(vs_service_container_info(s, "docker:a", id, &info, &err), 0);
        snprintf(msg, sizeof(msg),
                 "Conflict. The container name \"/web\" is already in use by container \"%s\". You have to remove (or "
                 "rename) that container to be able to reuse that name.",
                 info.full_id);
        vs_container_info_clear(&info);
        ck_assert_str_eq(err.msg, msg);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        ck_assert_uint_eq(job_dirs(), 1);
        /* Names are per tenant. */
        ck_assert_int_eq(vs_service_container_create(s, "docker:b", "web", b, other, &err), 0);
        ck_assert_int_eq(vs_service_container_create(s, "docker:a", "a", b, other, &err), -1);
        ck_assert_str_eq(err.msg, "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        ck_assert_int_eq(vs_service_container_create(s, "docker:a", "../x", b, other, &err), -1);
        ck_assert_str_eq(err.msg, "Invalid container name (../x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        /* Without a name: one is made. */
        ck_assert_int_eq(vs_service_container_create(s, "docker:a", NULL, b, id2, &err), 0);
        ck_assert_int_eq(vs_service_container_info(s, "docker:a", id2, &info, &err), 0);
        snprintf(msg, sizeof(msg), "vs_%s", id2);
        ck_assert_str_eq(info.c->name, msg);
        vs_container_info_clear(&info);
        /* A removed container's name is free again. */
        ck_assert_int_eq(vs_service_container_remove(s, "docker:a", id, false, &err), 0);
        ck_assert_int_eq(vs_service_container_create(s, "docker:a", "web", b, other, &err), 0);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", "web", found, &err), 0);
        ck_assert_str_eq(found, other);
        json_decref(b);
        svc_close(s);
}
END_TEST

START_TEST(refused_creates_leave_nothing)
{
        vs_service *s = svc_open();
        static const struct {
                const char *body, *msg;
                vs_error_kind kind;
        } cases[] = {
                { "{\"Image\":\"missing:1\"}", "No such image: missing:1", VS_ERR_NOT_FOUND },
                { "{\"Image\":\"demo/app:1\",\"HostConfig\":{\"Binds\":[\"/etc:/erc\"]}}",
                  "bind source /etc is not below an allowed root (--allow-root)", VS_ERR_INPUT },
                { "{\"Image\":\"demo/app:1\",\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"Memory\":999999999999999}",
                  "Memory 999999999999999 is over the maximum of 274710134784 bytes", VS_ERR_INPUT },
                { "{\"Image\":\"demo/app:1\",\"Env\":\"x\"}", "Env \"x\": expected KEY=VALUE with KEY of letters, digits and _",
                  VS_ERR_INPUT },
        };
        char id[13];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *b = body_of(cases[i].body);
                vs_error err = { 0 };

                ck_assert_int_eq(vs_service_container_create(s, "docker:a", "x1", b, id, &err), -1);
                ck_assert_str_eq(err.msg, cases[i].msg);
                ck_assert_int_eq(err.kind, cases[i].kind);
                json_decref(b);
        }
        {
                /* A bind below the root that is not there: named. */
                char text[512];
                json_t *b;
                vs_error err = { 0 };

                snprintf(text, sizeof(text), "{\"Image\":\"demo/app:1\",\"HostConfig\":{\"Binds\":[\"%s/nope:/erc\"]}}", roots);
                b = body_of(text);
                ck_assert_int_eq(vs_service_container_create(s, "docker:a", "x1", b, id, &err), -1);
                ck_assert_msg(strncmp(err.msg, "bind source: ", 13) == 0 && strstr(err.msg, "/nope"), "%s", err.msg);
                json_decref(b);
        }
        ck_assert_uint_eq(job_dirs(), 0);
        svc_close(s);
}
END_TEST

START_TEST(preloaded_image)
{
        vs_service *s = svc_open();
        char id[13], path[200];
        vs_container_info info;
        vs_error err = { 0 };
        json_t *b = body_of("{\"Image\":\"preloaded/r:4\"}");

        ck_assert_int_eq(vs_service_container_create(s, "docker:a", "pre", b, id, &err), 0);
        snprintf(path, sizeof(path), "%s/server/jobs/%s/image.tar", state, id);
        ck_assert_int_eq(access(path, F_OK), -1);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", "pre", VS_WAIT_NEXT_EXIT, NULL), 0);
        {
                json_t *spec = fake_last_spec();
                ck_assert_str_eq(json_string_value(json_object_get(spec, "tag")), "preloaded/r:4");
                ck_assert_ptr_null(json_object_get(spec, "image"));
                json_decref(spec);
        }
        ck_assert_int_eq(vs_service_container_info(s, "docker:a", id, &info, &err), 0);
        ck_assert_str_eq(info.c->image_id, "");
        ck_assert_int_eq(info.state, VS_JOB_SUCCESS);
        vs_container_info_clear(&info);
        json_decref(b);
        svc_close(s);
}
END_TEST

/* Ids are random: among 17 containers two share a first hex digit. */
START_TEST(ambiguous_prefix)
{
        vs_service *s = svc_open();
        char ids[17][13], found[13];
        int seen[16] = { 0 };
        vs_error err = { 0 };
        char prefix[2] = { 0 };

        for (int i = 0; i < 17; i++) {
                char name[16];
                snprintf(name, sizeof(name), "c%d", i);
                ctr(s, "docker:a", name, NULL, ids[i]);
                int d = ids[i][0] <= '9' ? ids[i][0] - '0' : ids[i][0] - 'a' + 10;
                if (seen[d]++ == 1)
                        prefix[0] = ids[i][0];
        }
        ck_assert(prefix[0] != 0);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", prefix, found, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        {
                char msg[128];
                snprintf(msg, sizeof(msg), "multiple IDs found with provided prefix: %s", prefix);
                ck_assert_str_eq(err.msg, msg);
        }
        /* Another tenant's containers are no part of the count. */
        ck_assert_int_eq(vs_service_container_find(s, "docker:b", prefix, found, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        svc_close(s);
}
END_TEST

START_TEST(wait_conditions)
{
        vs_service *s = svc_open();
        char id[13], *msg = NULL;
        vs_error err = { 0 };
        vs_container_waiter *w;
        int code = -1;

        ctr(s, "docker:a", "w1", "\"Cmd\":[\"fake\",\"out:hi\",\"exit:3\"]", id);
        /* Not running: a created container at once, exit code 0. */
        ck_assert_int_eq(wait_code(s, "docker:a", "w1", VS_WAIT_NOT_RUNNING, NULL), 0);
        /* next-exit waits for the end; a short wait says "not yet". */
        ck_assert_int_eq(vs_service_container_wait_open(s, "docker:a", "w1", &w, &err), 0);
        ck_assert_int_eq(vs_service_container_wait(s, w, VS_WAIT_NEXT_EXIT, 50, &code, &msg, &err), 0);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        for (int i = 0; i < 100 && vs_service_container_wait(s, w, VS_WAIT_NEXT_EXIT, 100, &code, &msg, &err) == 0; i++)
                ;
        ck_assert_int_eq(code, 3);
        ck_assert_ptr_null(msg);
        /* removed: still there, so not yet; then removed. */
        ck_assert_int_eq(vs_service_container_wait(s, w, VS_WAIT_REMOVED, 50, &code, &msg, &err), 0);
        ck_assert_int_eq(vs_service_container_remove(s, "docker:a", id, false, &err), 0);
        ck_assert_int_eq(vs_service_container_wait(s, w, VS_WAIT_REMOVED, 50, &code, &msg, &err), 1);
        ck_assert_int_eq(code, 3);
        vs_service_container_wait_close(w);
        ck_assert_int_eq(vs_service_container_wait_open(s, "docker:a", id, &w, &err), -1);
        {
                char want[64];
                snprintf(want, sizeof(want), "No such container: %s", id);
                ck_assert_str_eq(err.msg, want);
        }

        /* A sandbox failure: 125 and the reason. */
        ctr(s, "docker:a", "w2", "\"Cmd\":[\"fake\",\"error\"]", id);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_NEXT_EXIT, &msg), 125);
        ck_assert_str_eq(msg, "fake sandbox failure");
        free(msg);
        {
                vs_wait_condition c;
                ck_assert_int_eq(vs_wait_condition_parse("", &c), 0);
                ck_assert_int_eq(c, VS_WAIT_NOT_RUNNING);
                ck_assert_int_eq(vs_wait_condition_parse("removed", &c), 0);
                ck_assert_int_eq(c, VS_WAIT_REMOVED);
                ck_assert_int_eq(vs_wait_condition_parse("next-exit", &c), 0);
                ck_assert_int_eq(c, VS_WAIT_NEXT_EXIT);
                ck_assert_int_eq(vs_wait_condition_parse("not-running", &c), 0);
                ck_assert_int_eq(c, VS_WAIT_NOT_RUNNING);
                ck_assert_int_eq(vs_wait_condition_parse("exited", &c), -1);
        }
        svc_close(s);
}
END_TEST

/* Kill is a cancel: 137, as Docker reports a killed container. */
START_TEST(kill_and_remove)
{
        vs_service *s = svc_open();
        char id[13];
        vs_error err = { 0 };
        vs_container_waiter *w;
        int code = -1;
        char *msg = NULL, want[256];

        ctr(s, "docker:a", "k1", "\"Cmd\":[\"fake\",\"block\"]", id);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        fake_wait_blocked(1);
        ck_assert_int_eq(vs_service_container_remove(s, "docker:a", id, false, &err), -1);
        snprintf(want, sizeof(want),
                 "You cannot remove a running container %s. Stop the container before attempting removal or force remove", id);
        ck_assert_str_eq(err.msg, want);
        ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
        ck_assert_int_eq(vs_service_cancel(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", "k1", VS_WAIT_NOT_RUNNING, NULL), 137);

        /* rm -f of a running one: the waiter sees it end and go. */
        ctr(s, "docker:a", "k2", "\"Cmd\":[\"fake\",\"block\"]", id);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        fake_wait_blocked(1); /* the first left the block when it was cancelled */
        ck_assert_int_eq(vs_service_container_wait_open(s, "docker:a", id, &w, &err), 0);
        ck_assert_int_eq(vs_service_container_remove(s, "docker:a", id, true, &err), 0);
        ck_assert_int_eq(vs_service_container_wait(s, w, VS_WAIT_REMOVED, 5000, &code, &msg, &err), 1);
        ck_assert_int_eq(code, 137);
        vs_service_container_wait_close(w);
        ck_assert_uint_eq(job_dirs(), 1);
        svc_close(s);
}
END_TEST

/* AutoRemove: gone once it ended, but a waiter (before or after) gets the
 * exit code, by the full id. */
START_TEST(auto_remove)
{
        vs_service *s = svc_open();
        char id[13], found[13];
        vs_error err = { 0 };
        vs_container_waiter *w;
        int code = -1;
        char *msg = NULL;

        ctr(s, "docker:a", "rm1", "\"Cmd\":[\"fake\",\"exit:7\"],\"HostConfig\":{\"AutoRemove\":true}", id);
        ck_assert_int_eq(vs_service_container_wait_open(s, "docker:a", id, &w, &err), 0);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        for (int i = 0; i < 100 && vs_service_container_wait(s, w, VS_WAIT_REMOVED, 100, &code, &msg, &err) == 0; i++)
                ;
        ck_assert_int_eq(code, 7);
        vs_service_container_wait_close(w);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", id, found, &err), -1);
        {
                char want[64];
                snprintf(want, sizeof(want), "No such container: %s", id);
                ck_assert_str_eq(err.msg, want);
        }
        /* The files go right after the waiters were told. */
        for (int i = 0; i < 500 && job_dirs() != 0; i++)
                usleep(10000);
        ck_assert_uint_eq(job_dirs(), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_NOT_RUNNING, NULL), 7);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_REMOVED, NULL), 7);
        /* ... for its own tenant only, and its name is free. */
        ck_assert_int_eq(vs_service_container_wait_open(s, "docker:b", id, &w, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        ctr(s, "docker:a", "rm1", NULL, found);
        svc_close(s);
}
END_TEST

/* The remembered exit codes are shared fairly: a tenant whose AutoRemove
 * containers would fill them all replaces its own oldest once the others
 * need room, and never another tenant's (the ring of old did). */
static void auto_removed(vs_service *s, const char *owner, int code, char id[13])
{
        char extra[128];

        snprintf(extra, sizeof(extra), "\"Cmd\":[\"fake\",\"exit:%d\"],\"HostConfig\":{\"AutoRemove\":true}", code);
        ctr(s, owner, NULL, extra, id);
        ck_assert_int_eq(vs_service_start(s, owner, id, &(vs_error){ 0 }), 0);
        ck_assert_int_eq(wait_code(s, owner, id, VS_WAIT_REMOVED, NULL), code);
}

START_TEST(tombstones_per_owner)
{
        vs_service *s = svc_open();
        char b_id[13], first[13], id[13];

        auto_removed(s, "docker:b", 3, b_id);
        for (int i = 0; i < VS_CONTAINER_TOMBSTONES; i++)
                auto_removed(s, "docker:a", i % 100, i == 0 ? first : id);
        ck_assert_int_eq(wait_code(s, "docker:b", b_id, VS_WAIT_REMOVED, NULL), 3);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_REMOVED, NULL), (VS_CONTAINER_TOMBSTONES - 1) % 100);
        {
                vs_container_waiter *w;
                vs_error err = { 0 };
                ck_assert_int_eq(vs_service_container_wait_open(s, "docker:a", first, &w, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        }
        svc_close(s);
}
END_TEST

START_TEST(binds_and_network)
{
        vs_service *s;
        char id[13], text[512];
        vs_error err = { 0 };
        json_t *spec;

        opt_network = true;
        s = svc_open();
        snprintf(text, sizeof(text), "\"Cmd\":[\"fake\"],\"HostConfig\":{\"Binds\":[\"%s:/data\"],\"Memory\":104857600}", ws);
        ctr(s, "docker:a", "b1", text, id);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_NEXT_EXIT, NULL), 0);
        /* A bind is not the workspace: the run writes back rw binds itself. */
        ck_assert(!fake_last_write_back());
        ck_assert_str_eq(fake_last_bind_roots(), roots);
        spec = fake_last_spec();
        ck_assert_ptr_null(json_object_get(spec, "workspace"));
        {
                json_t *b0 = json_array_get(json_object_get(spec, "binds"), 0);
                struct stat st;

                ck_assert_int_eq(stat(ws, &st), 0);
                ck_assert_str_eq(json_string_value(json_object_get(b0, "host")), ws);
                ck_assert_str_eq(json_string_value(json_object_get(b0, "target")), "/data");
                ck_assert(json_is_true(json_object_get(b0, "rw")));
                /* Pinned at create: the run refuses another file by that name. */
                ck_assert_int_eq(json_integer_value(json_object_get(b0, "dev")), (json_int_t)st.st_dev);
                ck_assert_int_eq(json_integer_value(json_object_get(b0, "ino")), (json_int_t)st.st_ino);
        }
        ck_assert_str_eq(json_string_value(json_object_get(spec, "network")), "nat");
        ck_assert_int_eq(json_integer_value(json_object_get(spec, "memory")), 260 * MIB);
        json_decref(spec);

        snprintf(text, sizeof(text), "\"Cmd\":[\"fake\"],\"NetworkDisabled\":true,\"HostConfig\":{\"Binds\":[\"%s:/data:ro\"]}", ws);
        ctr(s, "docker:a", "b2", text, id);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_NEXT_EXIT, NULL), 0);
        ck_assert(!fake_last_write_back());
        spec = fake_last_spec();
        ck_assert_str_eq(json_string_value(json_object_get(spec, "network")), "none");
        json_decref(spec);
        svc_close(s);
}
END_TEST

/* A Docker tenant's root: checked when it is set (clean, below an
 * allowed root, a directory reached with no symlink), then every bind of
 * the tenant must be below it by its letters with no "." or "..", at
 * create and again at start; a tenant without one binds nothing; other
 * owners keep the service's roots. */
static void create_fails(vs_service *s, const char *owner, const char *bind, const char *want)
{
        char text[1024], id[13];
        vs_error err = { 0 };
        json_t *b;

        snprintf(text, sizeof(text), "{\"Image\":\"demo/app:1\",\"HostConfig\":{\"Binds\":[\"%s:/erc\"]}}", bind);
        b = body_of(text);
        ck_assert_int_eq(vs_service_container_create(s, owner, NULL, b, id, &err), -1);
        ck_assert_str_eq(err.msg, want);
        ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        json_decref(b);
}

static void root_fails(vs_service *s, const char *root, vs_error_kind kind, const char *want_prefix)
{
        vs_error err = { 0 };
        char *now;

        ck_assert_int_eq(vs_service_set_tenant_root(s, "docker:p", root, &err), -1);
        ck_assert_msg(strncmp(err.msg, want_prefix, strlen(want_prefix)) == 0, "%s: %s", root, err.msg);
        ck_assert_int_eq(err.kind, kind);
        now = vs_service_tenant_root(s, "docker:p");
        ck_assert_ptr_nonnull(now); /* the root it had stays */
        free(now);
}

START_TEST(tenant_roots)
{
        vs_service *s = svc_open();
        char pa[160], pb[160], pab[160], given[170], link[160], file[160], want[1024], text[1024], id[13], *root,
                *msg = NULL;
        vs_error err = { 0 };
        json_t *spec;

        snprintf(pa, sizeof(pa), "%s/pa", roots);
        snprintf(pb, sizeof(pb), "%s/pb", roots);
        snprintf(pab, sizeof(pab), "%s/pab", roots);
        snprintf(link, sizeof(link), "%s/etc-link", roots);
        snprintf(file, sizeof(file), "%s/file", roots);
        ck_assert_int_eq(mkdir(pa, 0700), 0);
        ck_assert_int_eq(mkdir(pb, 0700), 0);
        ck_assert_int_eq(mkdir(pab, 0700), 0);
        ck_assert_int_eq(symlink("/etc", link), 0);
        fclose(fopen(file, "w"));
        /* A trailing "/" is dropped. */
        snprintf(given, sizeof(given), "%s//", pa);
        ck_assert_int_eq(vs_service_set_tenant_root(s, "docker:p", given, &err), 0);
        root = vs_service_tenant_root(s, "docker:p");
        ck_assert_str_eq(root, pa);
        free(root);
        ck_assert_ptr_null(vs_service_tenant_root(s, "docker:q"));

        /* Refused roots leave the one it has. */
        root_fails(s, "rel/x", VS_ERR_INPUT, "root rel/x: expected an absolute path without \".\" or \"..\"");
        snprintf(given, sizeof(given), "%s/../pb", pa);
        root_fails(s, given, VS_ERR_INPUT, "root ");
        root_fails(s, "/etc", VS_ERR_FORBIDDEN, "root /etc is not below an allowed root (--allow-root)");
        root_fails(s, link, VS_ERR_FORBIDDEN, "root: ");
        root_fails(s, file, VS_ERR_INPUT, "root: ");
        snprintf(given, sizeof(given), "%s/nope", roots);
        root_fails(s, given, VS_ERR_INPUT, "root: ");
        ck_assert_int_eq(vs_service_set_tenant_root(s, "tok123", pa, &err), -1);
        ck_assert_str_eq(err.msg, "tok123 is not a Docker tenant");

        /* Binds: below its root only, by letters, no "..". */
        snprintf(want, sizeof(want), "bind source %s is not below tenant p's root %s", pb, pa);
        create_fails(s, "docker:p", pb, want);
        snprintf(want, sizeof(want), "bind source %s is not below tenant p's root %s", pab, pa);
        create_fails(s, "docker:p", pab, want);
        snprintf(want, sizeof(want), "bind source %s is not below tenant p's root %s", roots, pa);
        create_fails(s, "docker:p", roots, want);
        snprintf(given, sizeof(given), "%s/../pb", pa);
        snprintf(want, sizeof(want), "bind source %s: a path with \".\" or \"..\" is not allowed", given);
        create_fails(s, "docker:p", given, want);
        snprintf(given, sizeof(given), "%s/./", pa);
        snprintf(want, sizeof(want), "bind source %s: a path with \".\" or \"..\" is not allowed", given);
        create_fails(s, "docker:p", given, want);
        snprintf(want, sizeof(want),
                 "bind source %s: tenant q has no allowed root, so it binds no host directory (serve --docker-socket "
                 "PATH:TENANT:ROOT, or \"root\" in POST /v1/docker-sockets)",
                 pa);
        create_fails(s, "docker:q", pa, want);
        ck_assert_uint_eq(job_dirs(), 0);

        /* The job API's owners keep the service's roots; a tenant's jobs
         * are held to its root there too. */
        spec = json_pack("{s:s, s:s}", "tag", "x:1", "workspace", pb);
        ck_assert_msg(vs_service_create(s, "tok123", spec, id, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(vs_service_create(s, "docker:q", spec, id, &err), -1);
        snprintf(want, sizeof(want),
                 "workspace %s: tenant q has no allowed root, so it binds no host directory (serve --docker-socket "
                 "PATH:TENANT:ROOT, or \"root\" in POST /v1/docker-sockets)",
                 pb);
        ck_assert_str_eq(err.msg, want);
        json_decref(spec);

        /* Allowed at create; the root changed before start: the run is
         * refused, nothing of the directory reaches the runner. */
        snprintf(text, sizeof(text), "\"Cmd\":[\"fake\"],\"HostConfig\":{\"Binds\":[\"%s:/data\"]}", pa);
        ctr(s, "docker:p", "r1", text, id);
        ck_assert_int_eq(vs_service_set_tenant_root(s, "docker:p", pb, &err), 0);
        ck_assert_int_eq(vs_service_start(s, "docker:p", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:p", id, VS_WAIT_NEXT_EXIT, &msg), 125);
        snprintf(want, sizeof(want), "bind source %s is not below tenant p's root %s", pa, pb);
        ck_assert_str_eq(msg, want);
        free(msg);
        /* Taken away: nothing binds. */
        ck_assert_int_eq(vs_service_set_tenant_root(s, "docker:p", NULL, &err), 0);
        ck_assert_ptr_null(vs_service_tenant_root(s, "docker:p"));
        snprintf(want, sizeof(want),
                 "bind source %s: tenant p has no allowed root, so it binds no host directory (serve --docker-socket "
                 "PATH:TENANT:ROOT, or \"root\" in POST /v1/docker-sockets)",
                 pb);
        create_fails(s, "docker:p", pb, want);
        svc_close(s);
}
END_TEST

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* Several binds: directories and a file, each pinned and run below its
 * root; refused before anything is made: a FIFO, a symlink out, more
 * bytes than the job disk holds twice. */
START_TEST(binds_several_service)
{
        vs_service *s = svc_open();
        char id[13], text[1024], in[160], file[160], fifo[160], link[160], big[160];
        vs_error err = { 0 };
        json_t *spec, *binds;
        int fd;

        snprintf(in, sizeof(in), "%s/in", roots);
        snprintf(file, sizeof(file), "%s/a.csv", roots);
        snprintf(fifo, sizeof(fifo), "%s/fifo", roots);
        snprintf(link, sizeof(link), "%s/link", roots);
        snprintf(big, sizeof(big), "%s/big", roots);
        ck_assert_int_eq(mkdir(in, 0700), 0);
        write_text(file, "a,b\n");
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        ck_assert_int_eq(symlink("/etc", link), 0);
        fd = open(big, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 3ll << 30), 0); /* sparse: 3 GiB of st_size */
        close(fd);

        snprintf(text, sizeof(text),
                 "\"Cmd\":[\"fake\"],\"HostConfig\":{\"Binds\":[\"%s:/erc:rw\",\"%s:/erc/a.csv:ro\",\"%s:/in:ro\"]}", ws,
                 file, in);
        ctr(s, "docker:a", "m1", text, id);
        ck_assert_int_eq(vs_service_start(s, "docker:a", id, &err), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_NEXT_EXIT, NULL), 0);
        {
                char want[512];
                snprintf(want, sizeof(want), "%s,%s,%s", roots, roots, roots);
                ck_assert_str_eq(fake_last_bind_roots(), want);
        }
        spec = fake_last_spec();
        binds = json_object_get(spec, "binds");
        ck_assert_uint_eq(json_array_size(binds), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(binds, 1), "host")), file);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(binds, 1), "target")), "/erc/a.csv");
        ck_assert(json_is_false(json_object_get(json_array_get(binds, 1), "rw")));
        ck_assert(json_is_false(json_object_get(json_array_get(binds, 2), "rw")));
        json_decref(spec);

        static const char *const bad[][2] = {
                { "fifo", "is not a directory or a regular file" },
                { "link", "" },
                { "big", "binds: 3G together (at " },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *b;
                char want[512];

                snprintf(text, sizeof(text), "{\"Image\":\"demo/app:1\",\"HostConfig\":{\"Binds\":[\"%s:/a\",\"%s/%s:/b\"]}}",
                         in, roots, bad[i][0]);
                b = body_of(text);
                ck_assert_int_eq(vs_service_container_create(s, "docker:a", "x1", b, id, &err), -1);
                snprintf(want, sizeof(want), "%s/%s", roots, bad[i][0]);
                ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, bad[i][1]), "%s", err.msg);
                ck_assert_msg(err.kind == VS_ERR_INPUT || err.kind == VS_ERR_FORBIDDEN, "%d: %s", err.kind, err.msg);
                json_decref(b);
        }
        ck_assert_uint_eq(job_dirs(), 1);
        /* The job API takes no binds: a job has its workspace. */
        {
                json_t *js = json_pack("{s:s, s:[{s:s, s:s, s:b}]}", "tag", "x:1", "binds", "host", in, "target", "/a",
                                       "rw", 1);
                char job[13];
                ck_assert_int_eq(vs_service_create(s, "docker:a", js, job, &err), -1);
                ck_assert_str_eq(err.msg, "unknown field \"binds\"");
                json_decref(js);
        }
        ck_assert_uint_eq(job_dirs(), 1);
        svc_close(s);
}
END_TEST

/* vs_bind_open: below its root, the type, the pinned identity. */
START_TEST(bind_open)
{
        char file[160], other[160];
        vs_bind b = { .host = file, .target = (char *)"/a" };
        vs_error err = { 0 };
        uint64_t bytes, n;
        struct stat st;
        int fd = -1;

        snprintf(file, sizeof(file), "%s/f", ws);
        snprintf(other, sizeof(other), "%s/g", ws);
        write_text(file, "12345");
        write_text(other, "x");
        ck_assert_int_eq(vs_bind_open(roots, &b, 10, &fd, &st, &bytes, &n, &err), 0);
        ck_assert_uint_eq(bytes, 5);
        ck_assert_uint_eq(n, 1);
        ck_assert(S_ISREG(st.st_mode));
        close(fd);
        b.dev = (uint64_t)st.st_dev;
        b.ino = (uint64_t)st.st_ino;
        ck_assert_int_eq(rename(other, file), 0); /* another file by that name */
        ck_assert_int_eq(vs_bind_open(roots, &b, 10, &fd, &st, &bytes, &n, &err), -1);
        {
                char want[256];
                snprintf(want, sizeof(want), "bind source %s is another file than when the container was created", file);
                ck_assert_str_eq(err.msg, want);
        }
        b.host = ws;
        b.dev = b.ino = 0;
        ck_assert_int_eq(vs_bind_open(roots, &b, 10, &fd, &st, &bytes, &n, &err), 0);
        ck_assert_uint_eq(bytes, 1);
        ck_assert_uint_eq(n, 1);
        ck_assert(S_ISDIR(st.st_mode));
        close(fd);
        ck_assert_int_eq(vs_bind_open(NULL, &b, 10, &fd, &st, &bytes, &n, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_FORBIDDEN);
        /* A file with a second name (a hard link from elsewhere) is refused:
         * it would be read and written back in place as root. */
        {
                char link2[200], want[400];

                snprintf(link2, sizeof(link2), "%s/f2", ws);
                ck_assert_int_eq(link(file, link2), 0);
                b.host = file;
                ck_assert_int_eq(vs_bind_open(roots, &b, 10, &fd, &st, &bytes, &n, &err), -1);
                snprintf(want, sizeof(want), "bind source %s has 2 hard links: a bound file must have one", file);
                ck_assert_str_eq(err.msg, want);
                ck_assert_int_eq(err.kind, VS_ERR_INPUT);
                ck_assert_int_eq(unlink(link2), 0);
        }
}
END_TEST

/* A file bind's write-back goes into the same inode and leaves no set-id
 * bit on what the guest wrote. */
START_TEST(bind_write_file_clears_setid)
{
        char file[160], stage[160];
        struct stat st;
        int fd;
        vs_error err = { 0 };

        snprintf(file, sizeof(file), "%s/tool", ws);
        snprintf(stage, sizeof(stage), "%s/stage", ws);
        write_text(file, "original");
        write_text(stage, "from the guest");
        ck_assert_int_eq(chmod(file, 06755), 0);
        fd = open(file, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(vs_bind_write_file(stage, fd, &err), 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_size, strlen("from the guest"));
        close(fd);
}
END_TEST

/* Docker's ids: 64 hex digits (the job's 12 first), found whole, by the
 * job's 12, or by a unique prefix of any length; an ambiguous prefix is
 * Docker's 400.  A record stored with a 12-digit id (before ids were
 * long) still loads, and is found by its id and its prefixes. */
START_TEST(long_ids)
{
        vs_service *s = svc_open();
        char a[13], b[13], found[13], old[13], path[256], pre[65];
        vs_container_info ia, ib;
        vs_error err = { 0 };
        size_t common = 0;

        ctr(s, "docker:a", "la", NULL, a);
        ctr(s, "docker:a", "lb", NULL, b);
        ck_assert_int_eq(vs_service_container_info(s, "docker:a", a, &ia, &err), 0);
        ck_assert_int_eq(vs_service_container_info(s, "docker:a", b, &ib, &err), 0);
        ck_assert_uint_eq(strlen(ia.full_id), 64);
        ck_assert_uint_eq(strspn(ia.full_id, "0123456789abcdef"), 64);
        ck_assert_int_eq(strncmp(ia.full_id, a, 12), 0);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", ia.full_id, found, &err), 0);
        ck_assert_str_eq(found, a);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", a, found, &err), 0);
        ck_assert_str_eq(found, a);
        /* A prefix longer than 12 (the CLI's, a user's) is unique. */
        snprintf(pre, sizeof(pre), "%.40s", ia.full_id);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", pre, found, &err), 0);
        ck_assert_str_eq(found, a);
        snprintf(pre, sizeof(pre), "%.40sx", ia.full_id);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", pre, found, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        /* Another tenant does not find it. */
        ck_assert_int_eq(vs_service_container_find(s, "docker:b", ia.full_id, found, &err), -1);
        ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        /* The prefix the two share (maybe ""): ambiguous, one more digit is not. */
        while (ia.full_id[common] == ib.full_id[common])
                common++;
        snprintf(pre, sizeof(pre), "%.*s", (int)common + 1, ia.full_id);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", pre, found, &err), 0);
        ck_assert_str_eq(found, a);
        if (common > 0) {
                snprintf(pre, sizeof(pre), "%.*s", (int)common, ia.full_id);
                ck_assert_int_eq(vs_service_container_find(s, "docker:a", pre, found, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_INPUT);
        }
        vs_container_info_clear(&ia);
        vs_container_info_clear(&ib);
        ck_assert_int_eq(vs_service_delete(s, "docker:a", b, &err), 0);

        /* An older record: no long_id in its container. */
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", a, old, &err), 0);
        svc_close(s);
        snprintf(path, sizeof(path), "%s/server/jobs/%s/job.json", state, a);
        {
                json_error_t je;
                json_t *j = json_load_file(path, 0, &je);
                ck_assert_ptr_nonnull(j);
                ck_assert_int_eq(json_object_del(json_object_get(j, "container"), "long_id"), 0);
                ck_assert_int_eq(json_dump_file(j, path, 0), 0);
                json_decref(j);
        }
        s = svc_open();
        ck_assert_int_eq(vs_service_container_info(s, "docker:a", a, &ia, &err), 0);
        ck_assert_str_eq(ia.full_id, a);
        vs_container_info_clear(&ia);
        snprintf(pre, sizeof(pre), "%.5s", a);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", pre, found, &err), 0);
        ck_assert_str_eq(found, a);
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", "la", found, &err), 0);
        ck_assert_str_eq(found, a);
        svc_close(s);
}
END_TEST

/* The facts survive a restart; a list is newest first and shows
 * containers only. */
START_TEST(restart_and_list)
{
        vs_service *s = svc_open();
        char a[13], b[13], job[13];
        vs_container_info *v;
        size_t n;
        vs_error err = { 0 };
        json_t *spec = json_pack("{s:s}", "tag", "x:1");

        ctr(s, "docker:a", "first", "\"Labels\":{\"x\":\"y\"}", a);
        usleep(2000);
        ctr(s, "docker:a", "second", NULL, b);
        ck_assert_int_eq(vs_service_create(s, "docker:a", spec, job, &err), 0);
        json_decref(spec);
        svc_close(s);
        s = svc_open();
        vs_service_container_list(s, "docker:a", &v, &n);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(v[0].id, b);
        ck_assert_str_eq(v[0].c->name, "second");
        ck_assert_str_eq(v[1].c->name, "first");
        ck_assert_str_eq(v[1].c->labels[1], "y");
        vs_container_info_list_free(v, n);
        vs_service_container_list(s, "docker:b", &v, &n);
        ck_assert_uint_eq(n, 0);
        vs_container_info_list_free(v, n);
        /* The job that is no container is not found as one. */
        ck_assert_int_eq(vs_service_container_find(s, "docker:a", job, b, &err), -1);
        {
                vs_container_info info;
                ck_assert_int_eq(vs_service_container_info(s, "docker:a", job, &info, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_NOT_FOUND);
        }
        /* Names are still taken after the restart. */
        {
                json_t *body = body_of("{\"Image\":\"demo/app:1\"}");
                char id[13];
                ck_assert_int_eq(vs_service_container_create(s, "docker:a", "first", body, id, &err), -1);
                ck_assert_int_eq(err.kind, VS_ERR_CONFLICT);
                json_decref(body);
        }
        svc_close(s);
}
END_TEST

/* The previous process ended between a verdict and AutoRemove's removal:
 * the next one removes it, and its waiters still get the code. */
START_TEST(auto_remove_after_restart)
{
        vs_service *s = svc_open();
        char id[13], dir[160];
        json_t *rec;
        vs_error err = { 0 };

        ctr(s, "docker:a", "late", "\"HostConfig\":{\"AutoRemove\":true}", id);
        svc_close(s);
        snprintf(dir, sizeof(dir), "%s/server/jobs/%s", state, id);
        rec = vs_store_load(dir, &err);
        ck_assert_ptr_nonnull(rec);
        json_object_set_new(rec, "status", json_string("failure"));
        json_object_set_new(rec, "exit_code", json_integer(4));
        json_object_set_new(rec, "finished_ms", json_integer(5));
        ck_assert_int_eq(vs_store_save(dir, rec, &err), 0);
        json_decref(rec);
        s = svc_open();
        ck_assert_uint_eq(job_dirs(), 0);
        ck_assert_int_eq(wait_code(s, "docker:a", id, VS_WAIT_REMOVED, NULL), 4);
        svc_close(s);
}
END_TEST

Suite *suite_containers(void)
{
        Suite *s = suite_create("containers");
        TCase *m = tcase_create("mapping"), *f = tcase_create("facts"), *v = tcase_create("service");

        tcase_add_test(m, map_minimal);
        tcase_add_test(m, map_memory);
        tcase_add_test(m, map_cpus);
        tcase_add_test(m, map_network);
        tcase_add_test(m, map_binds);
        tcase_add_test(m, map_keys_any_case);
        tcase_add_test(m, map_binds_refused);
        tcase_add_test(m, map_binds_several);
        tcase_add_test(m, map_hostname_tty);
        tcase_add_test(m, map_engine_socket);
        tcase_add_test(m, map_config);
        tcase_add_test(m, map_config_refused);
        tcase_add_test(m, map_bounds);
        tcase_add_test(m, status_and_exit_codes);
        suite_add_tcase(s, m);
        tcase_add_test(f, facts_round_trip);
        tcase_add_test(f, facts_hostile);
        tcase_add_test(f, filters_match);
        tcase_add_test(f, filters_refused);
        tcase_add_test(f, human_durations);
        suite_add_tcase(s, f);
        tcase_add_checked_fixture(v, setup, teardown);
        tcase_set_timeout(v, 60);
        tcase_add_test(v, create_and_find);
        tcase_add_test(v, names);
        tcase_add_test(v, refused_creates_leave_nothing);
        tcase_add_test(v, preloaded_image);
        tcase_add_test(v, ambiguous_prefix);
        tcase_add_test(v, wait_conditions);
        tcase_add_test(v, kill_and_remove);
        tcase_add_test(v, auto_remove);
        tcase_add_test(v, binds_and_network);
        tcase_add_test(v, tenant_roots);
        tcase_add_test(v, tombstones_per_owner);
        tcase_add_test(v, binds_several_service);
        tcase_add_test(v, bind_open);
        tcase_add_test(v, bind_write_file_clears_setid);
        tcase_add_test(v, long_ids);
        tcase_add_test(v, restart_and_list);
        tcase_add_test(v, auto_remove_after_restart);
        suite_add_tcase(s, v);
        return s;
}
