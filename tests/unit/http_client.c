#include "http_client.h"
#include "tests.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

size_t hc_on_bytes(char *p, size_t size, size_t n, void *userdata)
{
        hc_bytes *b = userdata;

        b->buf = realloc(b->buf, b->len + size * n + 1);
        memcpy(b->buf + b->len, p, size * n);
        b->len += size * n;
        b->buf[b->len] = '\0';
        return size * n;
}

long hc_perform(const hc_request *rq, hc_bytes *ret_body, hc_bytes *ret_headers)
{
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        char url[1024], line[300];
        hc_bytes b = { calloc(1, 1), 0 }, hd = { calloc(1, 1), 0 };
        long code = 0;

        if (rq->sock) {
                snprintf(url, sizeof(url), "http://%s%s", rq->host, rq->path);
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, rq->sock);
        } else {
                snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", rq->port, rq->path);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        if (strcmp(rq->method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        h = curl_slist_append(h, "Expect:");
        if (rq->authorization) {
                snprintf(line, sizeof(line), "Authorization: %s", rq->authorization);
                h = curl_slist_append(h, line);
        }
        if (rq->body) {
                if (rq->content_type) {
                        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
                        h = curl_slist_append(h, line);
                }
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hc_on_bytes);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hc_on_bytes);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (ret_body)
                *ret_body = b;
        else
                free(b.buf);
        if (ret_headers)
                *ret_headers = hd;
        else
                free(hd.buf);
        return code;
}

static void hand_over(hc_bytes *b, char **ret)
{
        if (ret)
                *ret = b->buf;
        else
                free(b->buf);
}

long hc_perform_text(const hc_request *rq, char **ret_body, char **ret_headers)
{
        hc_bytes b, h;
        long code = hc_perform(rq, &b, &h);

        hand_over(&b, ret_body);
        hand_over(&h, ret_headers);
        return code;
}

int hc_dial(const char *sock, unsigned short port)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd;

        if (!sock) {
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
                return fd;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

void hc_send(int fd, const char *s)
{
        ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

char *hc_read_all(int fd, int timeout_ms)
{
        char *out = calloc(1, 65536);
        size_t len = 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };

        while (len < 65535 && poll(&p, 1, timeout_ms) > 0) {
                ssize_t n = read(fd, out + len, 65535 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        return out;
}

void hc_read_head(int fd, int wait_ms, char *head, size_t headlen)
{
        size_t len = 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };

        head[0] = '\0';
        while (len + 1 < headlen && !strstr(head, "\r\n\r\n") && poll(&p, 1, wait_ms) > 0) {
                ssize_t n = read(fd, head + len, headlen - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
                head[len] = '\0';
        }
}
