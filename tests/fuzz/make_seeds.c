/* Writes small seed corpora for the fuzz harnesses into DIR/<harness>/:
 *   fuzz-seeds DIR
 * Tar seeds have valid checksums and cover what the parsers handle: ustar
 * with prefix, pax path/size/linkpath, GNU long names and links, global
 * headers, base-256 sizes, links, and docker-save-shaped archives (legacy
 * layout, docker's symlinked duplicate layers, an OCI-style blobs/ layout)
 * with nested layer tars.  scripts/fuzz adds an archive made by
 * scripts/make-test-image. */
#include "archive.h"
#include "fsutil.h"
#include "imagestore.h"
#include "streamlog.h"
#include "tar.h"
#include "tarwriter.h"
#include "tests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;

typedef struct {
        char *buf;
        size_t len;
        FILE *f;
} mem;

static FILE *mem_open(mem *m)
{
        m->buf = NULL;
        m->len = 0;
        m->f = open_memstream(&m->buf, &m->len);
        if (!m->f)
                abort();
        return m->f;
}

static void mem_close(mem *m)
{
        fclose(m->f);
}

/* Seeds the parsers refuse would only test the error paths: every tar seed
 * must walk cleanly and every archive seed must pass vs_archive_inspect. */
static void verify(const char *harness, const char *name, const char *path)
{
        vs_error err = { 0 };

        if (strcmp(harness, "tar") == 0) {
                FILE *f = fopen(path, "r");
                struct stat st;

                if (!f || fstat(fileno(f), &st) < 0 || vs_tar_check(fileno(f), 0, (uint64_t)st.st_size, &err) < 0) {
                        fprintf(stderr, "fuzz-seeds: tar seed %s refused: %s\n", name, err.msg);
                        exit(1);
                }
                fclose(f);
        } else if (strcmp(harness, "archive") == 0) {
                vs_archive_info info;

                if (vs_archive_inspect(path, &info, &err) < 0) {
                        fprintf(stderr, "fuzz-seeds: archive seed %s refused: %s\n", name, err.msg);
                        exit(1);
                }
                vs_archive_info_clear(&info);
        } else if (strcmp(harness, "imgindex") == 0) {
                char *text = NULL, **tenants = NULL;
                size_t len = 0, n = 0;
                vs_image *v = NULL;

                if (vs_read_file(path, 1 << 20, &text, &len, &err) < 0 ||
                    vs_imgstore_index_parse(text, len, &v, &tenants, &n, &err) < 0) {
                        fprintf(stderr, "fuzz-seeds: imgindex seed %s refused: %s\n", name, err.msg);
                        exit(1);
                }
                vs_image_list_free(v, n);
                for (size_t i = 0; i < n; i++)
                        free(tenants[i]);
                free(tenants);
                free(text);
        }
}

static void save(const char *harness, const char *name, const void *data, size_t len)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, harness);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                abort();
        snprintf(path, sizeof(path), "%s/%s/%s", root, harness, name);
        f = fopen(path, "w");
        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
                abort();
        verify(harness, name, path);
}

static void save_mem(const char *harness, const char *name, mem *m)
{
        mem_close(m);
        save(harness, name, m->buf, m->len);
        free(m->buf);
}

static void pax(FILE *f, char type, const char *const *kvs)
{
        char payload[2048];
        size_t off = 0;

        for (; *kvs; kvs++) {
                size_t len = strlen(*kvs) + 2, d = 1;
                while ((size_t)snprintf(NULL, 0, "%zu", len + d) != d)
                        d++;
                off += (size_t)snprintf(payload + off, sizeof(payload) - off, "%zu %s\n", len + d, *kvs);
        }
        tw_meta(f, type, payload, off);
}

static void tar_seeds(void)
{
        static const unsigned char b256[12] = { 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 };
        char longname[300], longlink[200];
        mem m;
        FILE *f;

        f = mem_open(&m);
        tw_dir(f, "./");
        tw_dir(f, "./dir/");
        tw_file(f, "./dir/file", "hello\n", 6);
        tw_entry(f, &(tw_hdr){ .name = "./dir/sym", .type = '2', .linkname = "file" }, NULL, 0);
        tw_entry(f, &(tw_hdr){ .name = "./dir/hard", .type = '1', .linkname = "./dir/file" }, NULL, 0);
        tw_entry(f, &(tw_hdr){ .name = "./fifo", .type = '6' }, NULL, 0);
        tw_end(f);
        save_mem("tar", "ustar-links", &m);

        f = mem_open(&m);
        pax(f, 'g', (const char *const[]){ "comment=seed", NULL });
        pax(f, 'x', (const char *const[]){ "path=pax/long/name", "size=5", "mtime=1.5", NULL });
        tw_entry(f, &(tw_hdr){ .name = "short", .size = 0 }, "12345", 5);
        pax(f, 'x', (const char *const[]){ "linkpath=../target/of/a/link", NULL });
        tw_entry(f, &(tw_hdr){ .name = "link", .type = '2' }, NULL, 0);
        pax(f, 'x', (const char *const[]){ "linkpath=pax/long/name", "path=hard", NULL });
        tw_entry(f, &(tw_hdr){ .name = "h", .type = '1' }, NULL, 0);
        tw_end(f);
        save_mem("tar", "pax", &m);

        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        memcpy(longname, "gnu/", 4);
        memset(longlink, 'k', sizeof(longlink) - 1);
        longlink[sizeof(longlink) - 1] = '\0';
        f = mem_open(&m);
        tw_meta(f, 'L', longname, strlen(longname) + 1);
        tw_entry(f, &(tw_hdr){ .name = "trunc", .size = 3, .format = TW_GNU }, "abc", 3);
        tw_meta(f, 'L', longname, strlen(longname) + 1);
        tw_meta(f, 'K', longlink, strlen(longlink) + 1);
        tw_entry(f, &(tw_hdr){ .name = "trunc2", .type = '2', .format = TW_GNU }, NULL, 0);
        tw_end(f);
        save_mem("tar", "gnu-long", &m);

        f = mem_open(&m);
        tw_entry(f, &(tw_hdr){ .name = "file", .prefix = "a/ustar/prefix" }, NULL, 0);
        tw_entry(f, &(tw_hdr){ .name = "b256", .raw_size = b256 }, "12345", 5);
        tw_entry(f, &(tw_hdr){ .name = "v7", .format = TW_V7, .size = 2 }, "v7", 2);
        tw_entry(f, &(tw_hdr){ .name = "star", .prefix = "p", .format = TW_STAR }, NULL, 0);
        tw_end(f);
        save_mem("tar", "formats", &m);
}

/* A layer: a few entries, pax and GNU forms among them. */
static void layer(mem *m, int variant)
{
        FILE *f = mem_open(m);

        tw_dir(f, "./");
        tw_dir(f, "bin/");
        tw_file(f, "bin/busybox", "#!/bin/sh\n", 10);
        tw_entry(f, &(tw_hdr){ .name = "bin/sh", .type = '2', .linkname = "busybox" }, NULL, 0);
        if (variant) {
                pax(f, 'x', (const char *const[]){ "path=etc/a-long-pax-name", "linkpath=/bin/busybox", NULL });
                tw_entry(f, &(tw_hdr){ .name = "etc/x", .type = '2' }, NULL, 0);
                tw_entry(f, &(tw_hdr){ .name = "bin/ash", .type = '1', .linkname = "bin/busybox" }, NULL, 0);
                tw_meta(f, 'L', "usr/share/a-gnu-long-name", 26);
                tw_entry(f, &(tw_hdr){ .name = "usr/x", .size = 2, .format = TW_GNU }, "x\n", 2);
        }
        tw_end(f);
        mem_close(m);
}

static void docker_archive(const char *name, int variant)
{
        const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
                             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
        char manifest[1024];
        mem l, m;
        FILE *f;

        layer(&l, variant);
        f = mem_open(&m);
        switch (variant) {
        case 0: /* docker save before 25: <id>/layer.tar, <id>.json */
                tw_file(f, "cfg.json", config, strlen(config));
                tw_dir(f, "l1/");
                tw_file(f, "l1/layer.tar", l.buf, l.len);
                snprintf(manifest, sizeof(manifest),
                         "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"demo/app:1\",\"demo/app:latest\"],"
                         "\"Layers\":[\"l1/layer.tar\"]}]");
                break;
        case 1: /* two identical layers: docker save links the second */
                pax(f, 'x', (const char *const[]){ "path=cfg.json", NULL });
                tw_file(f, "cfg.json", config, strlen(config));
                tw_dir(f, "l1/");
                tw_file(f, "l1/layer.tar", l.buf, l.len);
                tw_dir(f, "l2/");
                tw_entry(f, &(tw_hdr){ .name = "l2/layer.tar", .type = '2', .linkname = "../l1/layer.tar" }, NULL, 0);
                snprintf(manifest, sizeof(manifest),
                         "[{\"Config\":\"cfg.json\",\"RepoTags\":null,\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\"]}]");
                break;
        default: /* docker 25+: OCI layout with a compatible manifest.json */
                tw_dir(f, "blobs/");
                tw_dir(f, "blobs/sha256/");
                tw_file(f, "blobs/sha256/c0", config, strlen(config));
                tw_file(f, "blobs/sha256/l0", l.buf, l.len);
                tw_file(f, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
                tw_file(f, "index.json", "{\"schemaVersion\":2,\"manifests\":[]}", 34);
                snprintf(manifest, sizeof(manifest),
                         "[{\"Config\":\"blobs/sha256/c0\",\"RepoTags\":[\"oci:1\"],\"Layers\":[\"blobs/sha256/l0\"]}]");
                break;
        }
        tw_file(f, "manifest.json", manifest, strlen(manifest));
        tw_end(f);
        mem_close(&m);
        save("archive", name, m.buf, m.len);
        save("tar", name, m.buf, m.len);
        free(m.buf);
        free(l.buf);
}

static void frame(mem *m, char type, const char *s)
{
        size_t len = strlen(s);
        unsigned char h[5] = { (unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                               (unsigned char)(len >> 8), (unsigned char)len };

        fwrite(h, 1, 5, m->f);
        fwrite(s, 1, len, m->f);
}

static void frame_seeds(void)
{
        static const unsigned char too_big[] = { 7, 'o', 0, 1, 0, 1, 'x' };
        mem m;

        mem_open(&m);
        fputc(3, m.f); /* piece size for the harness */
        frame(&m, 'p', "engine-ready start 1700000000000");
        frame(&m, 'o', "hello\n");
        frame(&m, 'e', "warning: \x1b[31mred\x1b[0m\n");
        frame(&m, 'l', "loading image");
        frame(&m, 'o', "");
        save_mem("frame", "frames", &m);
        save("frame", "too-big", too_big, sizeof(too_big));
}

/* streams.log: a tail/filter byte, then records (streamlog.h). */
static void stream_record(mem *m, unsigned stream, const char *s, size_t len, int64_t t)
{
        unsigned char h[VS_STREAM_HEADER];

        vs_stream_header_encode(&(vs_stream_header){ stream, (uint32_t)len, t }, h);
        fwrite(h, 1, sizeof(h), m->f);
        fwrite(s, 1, len, m->f);
}

static void stream_seeds(void)
{
        static char big[VS_STREAM_RECORD_MAX];
        mem m;

        mem_open(&m);
        fputc(2 << 2 | 0, m.f); /* tail 2, both streams */
        stream_record(&m, 1, "out1\n", 5, 1764700000000000000);
        stream_record(&m, 2, "err1\n", 5, 1764700000000000001);
        stream_record(&m, 1, "a\nb", 3, 1764700000000000002);
        stream_record(&m, 2, "no newline", 10, 1764700000000000003);
        save_mem("streams", "lines", &m);
        memset(big, 'x', sizeof(big));
        for (size_t i = 100; i < sizeof(big); i += 4000)
                big[i] = '\n';
        mem_open(&m);
        fputc(5 << 2 | 1, m.f); /* tail 5, stdout */
        stream_record(&m, 1, big, sizeof(big), 1);
        stream_record(&m, 2, "e\n", 2, 2);
        stream_record(&m, 1, big, 1000, 3);
        save_mem("streams", "big", &m);
}

static void json_seeds(void)
{
        static const char *const results[] = {
                "{\"state\":\"ran\",\"exit_code\":0,\"kernel\":\"6.1.0\",\"docker_version\":\"24.0.7\","
                "\"image_id\":\"sha256:abc\",\"repo_digests\":[\"demo@sha256:def\"],\"phases\":{"
                "\"engine-ready\":{\"start_ms\":1,\"end_ms\":5},\"load\":{\"start_ms\":5,\"end_ms\":9},"
                "\"run\":{\"start_ms\":9,\"end_ms\":20},\"save\":{\"start_ms\":20}}}",
                "{\"state\":\"error\",\"error\":\"load: no space left on device\",\"phases\":{}}",
                "{\"state\":\"ran\",\"exit_code\":255,\"run_error\":\"exec failed\"}",
                ("{\"state\":\"preloaded\",\"phases\":{\"load\":{\"start_ms\":-9223372036854775807,"
                 "\"end_ms\":9223372036854775807}}}"),
        };
        static const char *const specs[] = {
                "{\"image\":\"/srv/img.tar\",\"tag\":\"demo/app:1\",\"workspace\":\"/srv/ws\",\"mount_at\":\"/w\","
                "\"memory\":\"2G\",\"cpus\":2,\"disk\":\"10G\",\"timeout\":\"10m\",\"network\":\"nat\","
                "\"env\":[\"A=1\",\"B=two\"],\"user\":\"1000\",\"workdir\":\"/w\",\"export_image\":true,"
                "\"cmd\":[\"sh\",\"-c\",\"echo hi\"]}",
                "{\"tag\":\"demo/app:1\",\"cmd\":[\"true\"]}",
                "{\"memory\":1073741824,\"timeout\":30,\"network\":\"none\",\"env\":[]}",
                "{\"image\":\"x\",\"image\":\"y\"}",
                "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                ("{\"build\":{\"dockerfile\":\"sub/D\",\"tags\":[\"a/b:1\"],\"buildargs\":{\"K\":\"v\",\"N\":null},"
                 "\"nocache\":true,\"pull\":false},\"network\":\"none\"}"),
        };
        static const char *const dockerfiles[] = {
                ("# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG TAG\nFROM --platform=linux/amd64 ${BASE}:${TAG:-3} AS b\n"
                 "RUN echo \\\n  hi\nFROM scratch\nCOPY --from=b /x /x\nFROM b\nFROM $BASE${EMPTY:+-x}\n"),
                "# escape=`\nFROM a `\n AS s\nFROM s\nFROM host:5000/x/y@sha256:00\n",
                "ARG A=\"q\" B='r'\nFROM $A/$B\nFROM a\\$B\n",
        };
#define T(x) { x, sizeof(x) - 1 }
        static const struct {
                const char *s;
                size_t len;
        } texts[] = { /* two bytes of cap, then the text */
                T("\x01\x00" "hello, world\n"),
                T("\x00\x10" "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                T("\x00\x08" "\x1b[2J\x1b]0;title\x07\xc2\x9b" "31m\x7f"),
                T("\x00\x20" "\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82"),
        };
#undef T
        static const char *const indexes[] = { /* the image store's index.json */
                "{\"version\":1,\"images\":[{\"tenant\":\"docker:a\",\"id\":\"sha256:"
                "c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77\",\"blob\":\""
                "d8abbb204ae8f4e69862528f378a5f8281f198c867f702f07628ae8f4d89abfb\",\"tags\":[\"a/b:1\","
                "\"quay.io/x/y:2\"],\"loaded\":1700000000,\"size\":10240,\"config\":{\"Architecture\":"
                "\"amd64\",\"Os\":\"linux\",\"Created\":\"1970-01-01T00:00:00Z\",\"User\":null,"
                "\"WorkingDir\":\"/\",\"Cmd\":[\"/hello\"],\"Entrypoint\":null,\"Env\":[\"A=1\"],"
                "\"Labels\":{\"k\":\"v\"},\"ExposedPorts\":[\"80/tcp\"],\"DiffIds\":[\"sha256:"
                "50e53b0fbde54bb5b6e6d3ebf9c4d8f7d00cb740d48fa6c567a0b1b5c0bd5ff0\"]}},{\"tenant\":\"docker:b\","
                "\"id\":\"sha256:c732da56c260e5906dfe7641ccf58531957b5fa521395ae360b19fb0a7637f77\",\"blob\":"
                "\"d8abbb204ae8f4e69862528f378a5f8281f198c867f702f07628ae8f4d89abfb\",\"tags\":[],\"loaded\":0,"
                "\"size\":0,\"config\":{}}]}",
                "{\"version\":1,\"images\":[]}",
        };
        char name[32];

        for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
                snprintf(name, sizeof(name), "index-%zu", i);
                save("imgindex", name, indexes[i], strlen(indexes[i]));
        }

        for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
                snprintf(name, sizeof(name), "result-%zu", i);
                save("guest_result", name, results[i], strlen(results[i]));
        }
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
                snprintf(name, sizeof(name), "spec-%zu", i);
                save("api_body", name, specs[i], strlen(specs[i]));
        }
        for (size_t i = 0; i < sizeof(dockerfiles) / sizeof(dockerfiles[0]); i++) {
                snprintf(name, sizeof(name), "dockerfile-%zu", i);
                save("dockerfile", name, dockerfiles[i], strlen(dockerfiles[i]));
        }
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                snprintf(name, sizeof(name), "text-%zu", i);
                save("text", name, texts[i].s, texts[i].len);
        }
}

/* Container create bodies as the docker CLI, dockerode (o2r-muncher's
 * options) and docker-py send them. */
static void container_seeds(void)
{
        static const char *const bodies[] = {
                ("{\"Image\":\"erc:job1\",\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"CpuShares\":256,\"Memory\":4294967296,"
                "\"MemorySwap\":8589934592,\"NetworkDisabled\":true,\"User\":\"1000\",\"AttachStdout\":true,"
                "\"Tty\":true,\"HostConfig\":{\"Binds\":[\"/srv/payload:/erc:rw\"],\"AutoRemove\":true}}"),
                ("{\"Image\":\"a/b:1\",\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"true\"],\"Env\":[\"A=1\"],"
                "\"WorkingDir\":\"/w\",\"Labels\":{\"k\":\"v\"},\"HostConfig\":{\"Memory\":268435456,"
                "\"NanoCpus\":2000000000,\"NetworkMode\":\"none\",\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/srv/x\","
                "\"Target\":\"/x\",\"ReadOnly\":true}]}}"),
                ("{\"Image\":\"busybox\",\"Entrypoint\":[],\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\"],"
                "\"NetworkMode\":\"bridge\"}}"),
        };
        char name[32];

        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                snprintf(name, sizeof(name), "create-%zu", i);
                save("container", name, bodies[i], strlen(bodies[i]));
        }
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: fuzz-seeds DIR\n");
                return 2;
        }
        root = argv[1];
        if (mkdir(root, 0755) < 0 && errno != EEXIST)
                return 1;
        tar_seeds();
        for (int v = 0; v < 3; v++) {
                char name[32];
                snprintf(name, sizeof(name), "docker-archive-%d", v);
                docker_archive(name, v);
        }
        frame_seeds();
        stream_seeds();
        json_seeds();
        container_seeds();
        return 0;
}
