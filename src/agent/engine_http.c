/* HTTP/1.1 over the guest engine's unix socket (engine_http.h in agent.h):
 * one request per connection ("Connection: close"), the answer's head
 * parsed and bounded, its body read by Content-Length, chunks or to the
 * end.  dockerd is the VM's own, but what it answers is still input: a
 * head past ENGINE_HEAD_MAX, a bad status line or length, a chunk size
 * past ENGINE_CHUNK_MAX or a body past the caller's cap is an error, never
 * a loop or an overrun. */
#include "agent.h"
#include "alloc.h"
#include "cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

void engine_conn_init(engine_conn *c, int fd)
{
        *c = (engine_conn){ .fd = fd, .mode = ENGINE_BODY_NONE };
}

void engine_conn_close(engine_conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

int engine_connect(engine_conn *c, const char *sock, unsigned timeout_s, vs_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = timeout_s };
        int fd;

        if (strlen(sock) >= sizeof(sa.sun_path))
                return vs_error_set(err, VS_ERR_SANDBOX, "engine socket path too long");
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return vs_error_errno(err, VS_ERR_SANDBOX, errno, "socket");
        /* timeout 0: none (a stream that lasts as long as the workflow; the
         * host's --timeout ends the VM). */
        if ((timeout_s && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
                           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)) ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return vs_error_errno(err, VS_ERR_SANDBOX, e, "cannot connect to the engine at %s", sock);
        }
        engine_conn_init(c, fd);
        c->timeout_s = timeout_s;
        return 0;
}

static int io_error(engine_conn *c, const char *what, vs_error *err)
{
        if (errno == EAGAIN || errno == EWOULDBLOCK)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine did not %s within %u s", what, c->timeout_s);
        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "the engine's socket (%s)", what);
}

int engine_send(engine_conn *c, const void *data, size_t len, vs_error *err)
{
        const char *p = data;

        while (len > 0) {
                /* MSG_NOSIGNAL: an engine that answers early and closes
                 * gives EPIPE, not a signal. */
                ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return io_error(c, "take the request", err);
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int engine_send_head(engine_conn *c, const char *method, const char *path, const char *ctype, long long length,
                     bool upgrade, vs_error *err)
{
        char clen[48] = "";
        _cleanup_free_ char *head = NULL;

        if (length >= 0)
                snprintf(clen, sizeof(clen), "Content-Length: %lld\r\n", length);
        head = vs_xasprintf("%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: vmsandbox-agent\r\n%s%s%s%s%s\r\n", method,
                            path, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", clen,
                            upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n");
        return engine_send(c, head, strlen(head), err);
}

int engine_send_fd(engine_conn *c, int fd, uint64_t len, vs_error *err)
{
        char buf[65536];

        while (len > 0) {
                ssize_t n = read(fd, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vs_error_errno(err, VS_ERR_SANDBOX, errno, "reading the request body");
                if (n == 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the request body ended early");
                if (engine_send(c, buf, (size_t)n, err) < 0)
                        return -1;
                len -= (uint64_t)n;
        }
        return 0;
}

/* More bytes into the buffer (after moving what is left to its start);
 * 0 at the end of the stream. */
static ssize_t fill(engine_conn *c, vs_error *err)
{
        ssize_t n;

        if (c->pos > 0) {
                memmove(c->buf, c->buf + c->pos, c->len - c->pos);
                c->len -= c->pos;
                c->pos = 0;
        }
        if (c->len == sizeof(c->buf))
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer has a line over %zu bytes", sizeof(c->buf));
        do
                n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return io_error(c, "answer", err);
        c->len += (size_t)n;
        return n;
}

/* Digits only, at most max. */
static int parse_dec(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (len == 0 || len > 19)
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return -1;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v > max)
                return -1;
        *ret = v;
        return 0;
}

static bool header_is(const char *line, size_t len, const char *name, const char **ret_value, size_t *ret_vlen)
{
        size_t n = strlen(name);

        if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
                return false;
        line += n + 1, len -= n + 1;
        while (len && (*line == ' ' || *line == '\t'))
                line++, len--;
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
                len--;
        *ret_value = line;
        *ret_vlen = len;
        return true;
}

int engine_parse_head(const char *head, size_t len, engine_head *ret, vs_error *err)
{
        engine_head h = { .mode = ENGINE_BODY_CLOSE };
        const char *end = head + len, *line = head, *v;
        size_t vlen;
        uint64_t status;
        bool have_length = false, chunked = false;

        /* "HTTP/1.x NNN reason" */
        if (len < 12 || strncmp(head, "HTTP/1.", 7) || !isdigit((unsigned char)head[7]) || head[8] != ' ' ||
            parse_dec(head + 9, 3, 999, &status) < 0 || status < 100 || (head[12] != ' ' && head[12] != '\r'))
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer has no HTTP status line");
        h.status = (int)status;
        for (;;) {
                const char *eol = memchr(line, '\n', (size_t)(end - line));
                size_t l;

                if (!eol)
                        break;
                l = (size_t)(eol - line);
                if (l && line[l - 1] == '\r')
                        l--;
                if (line != head && header_is(line, l, "Content-Length", &v, &vlen)) {
                        if (have_length || parse_dec(v, vlen, ENGINE_LENGTH_MAX, &h.length) < 0)
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer has a bad Content-Length");
                        have_length = true;
                } else if (line != head && header_is(line, l, "Transfer-Encoding", &v, &vlen)) {
                        if (vlen != 7 || strncasecmp(v, "chunked", 7))
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer has an unknown Transfer-Encoding");
                        chunked = true;
                }
                line = eol + 1;
        }
        /* Both would let the two ends disagree on where the body ends. */
        if (have_length && chunked)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer has both Content-Length and chunks");
        if (h.status == 101)
                h.mode = ENGINE_BODY_CLOSE; /* the hijacked stream runs to its end */
        else if (h.status == 204 || h.status == 304 || h.status < 200)
                h.mode = ENGINE_BODY_NONE;
        else if (chunked)
                h.mode = ENGINE_BODY_CHUNKED;
        else if (have_length)
                h.mode = ENGINE_BODY_LENGTH;
        *ret = h;
        return 0;
}

int engine_read_head(engine_conn *c, int *ret_status, vs_error *err)
{
        engine_head h;
        char *end;

        for (;;) {
                end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
                if (end)
                        break;
                if (c->len == sizeof(c->buf))
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer has a head over %zu bytes",
                                            sizeof(c->buf));
                ssize_t n = fill(c, err);
                if (n < 0)
                        return -1;
                if (n == 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, c->len ? "the engine's answer ended in its head"
                                                                        : "the engine closed the connection without an answer");
        }
        if (engine_parse_head(c->buf, (size_t)(end - c->buf) + 2, &h, err) < 0)
                return -1;
        c->pos = (size_t)(end - c->buf) + 4;
        c->mode = h.mode;
        c->left = h.length;
        c->chunks_done = false;
        *ret_status = h.status;
        return 0;
}

/* One CRLF-terminated line of the chunked framing, without the CRLF. */
static int read_line(engine_conn *c, char *line, size_t cap, vs_error *err)
{
        for (;;) {
                char *eol = memchr(c->buf + c->pos, '\n', c->len - c->pos);

                if (eol) {
                        size_t l = (size_t)(eol - (c->buf + c->pos));
                        if (l && c->buf[c->pos + l - 1] == '\r')
                                l--;
                        if (l >= cap)
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer has a line over %zu bytes",
                                                    cap - 1);
                        memcpy(line, c->buf + c->pos, l);
                        line[l] = '\0';
                        c->pos = (size_t)(eol - c->buf) + 1;
                        return 0;
                }
                if (c->len - c->pos >= cap)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer has a line over %zu bytes", cap - 1);
                ssize_t n = fill(c, err);
                if (n < 0)
                        return -1;
                if (n == 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer is truncated");
        }
}

/* The next chunk's size (hex digits, extensions after ';' ignored); at the
 * last chunk, its trailer lines are read up to the empty one. */
static int next_chunk(engine_conn *c, vs_error *err)
{
        char line[128];
        uint64_t v = 0;
        size_t i;

        if (read_line(c, line, sizeof(line), err) < 0)
                return -1;
        for (i = 0; isxdigit((unsigned char)line[i]); i++) {
                if (i == 16)
                        break;
                v = v * 16 + (uint64_t)(isdigit((unsigned char)line[i]) ? line[i] - '0' : (tolower((unsigned char)line[i]) - 'a' + 10));
        }
        if (i == 0 || (line[i] && line[i] != ';' && line[i] != ' ') || v > ENGINE_CHUNK_MAX)
                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer has a bad chunk size");
        c->left = v;
        if (v > 0)
                return 0;
        for (unsigned n = 0;; n++) {
                if (n == ENGINE_TRAILERS_MAX)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer has over %d trailer lines",
                                            ENGINE_TRAILERS_MAX);
                if (read_line(c, line, sizeof(line), err) < 0)
                        return -1;
                if (!line[0])
                        break;
        }
        c->chunks_done = true;
        return 0;
}

/* Up to cap bytes of the raw stream (buffered first). */
static ssize_t raw_read(engine_conn *c, char *dst, size_t cap, vs_error *err)
{
        if (c->pos == c->len) {
                c->pos = c->len = 0;
                ssize_t n = fill(c, err);
                if (n <= 0)
                        return n;
        }
        size_t n = c->len - c->pos < cap ? c->len - c->pos : cap;
        memcpy(dst, c->buf + c->pos, n);
        c->pos += n;
        return (ssize_t)n;
}

ssize_t engine_read_body(engine_conn *c, void *dst, size_t cap, vs_error *err)
{
        ssize_t n;

        if (cap == 0)
                return 0;
        switch (c->mode) {
        case ENGINE_BODY_NONE:
                return 0;
        case ENGINE_BODY_CLOSE:
                return raw_read(c, dst, cap, err);
        case ENGINE_BODY_LENGTH:
                if (c->left == 0)
                        return 0;
                n = raw_read(c, dst, c->left < cap ? (size_t)c->left : cap, err);
                if (n == 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer is truncated (%llu bytes missing)",
                                            (unsigned long long)c->left);
                if (n > 0)
                        c->left -= (uint64_t)n;
                return n;
        case ENGINE_BODY_CHUNKED:
                if (c->chunks_done)
                        return 0;
                if (c->left == 0) {
                        if (next_chunk(c, err) < 0)
                                return -1;
                        if (c->chunks_done)
                                return 0;
                }
                n = raw_read(c, dst, c->left < cap ? (size_t)c->left : cap, err);
                if (n == 0)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer is truncated");
                if (n < 0)
                        return -1;
                c->left -= (uint64_t)n;
                if (c->left == 0) {
                        char crlf[4];
                        if (read_line(c, crlf, sizeof(crlf), err) < 0)
                                return -1;
                        if (crlf[0])
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's chunked answer has a chunk longer than its size");
                }
                return n;
        case ENGINE_BODY_LAST:
                break;
        }
        return vs_error_set(err, VS_ERR_SANDBOX, "bad body mode");
}

int engine_read_all(engine_conn *c, size_t max, char **ret, size_t *ret_len, vs_error *err)
{
        size_t len = 0, cap = 4096;
        _cleanup_free_ char *buf = vs_xmalloc(cap + 1);

        for (;;) {
                ssize_t n;

                if (len == cap) {
                        if (cap > max)
                                return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer is over %zu bytes", max);
                        cap *= 2;
                        buf = vs_xrealloc(buf, cap + 1);
                }
                n = engine_read_body(c, buf + len, cap - len, err);
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return vs_error_set(err, VS_ERR_SANDBOX, "the engine's answer is over %zu bytes", max);
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}
