/* HTTP clients for the unit tests (the job API of test_http.c, the Docker
 * sockets of docker_fixture.h): one request with libcurl on a unix socket
 * or on 127.0.0.1, and raw requests on a plain socket for what libcurl
 * would not send or would hide (413 before the body, follows that stay
 * open, clients that go away). */
#ifndef VS_HTTP_CLIENT_H
#define VS_HTTP_CLIENT_H

#include <stddef.h>

/* What came: NUL-terminated, len bytes (a body may hold NUL bytes). */
typedef struct {
        char *buf;
        size_t len;
} hc_bytes;

/* libcurl's write and header callback: appends to the hc_bytes userdata. */
size_t hc_on_bytes(char *p, size_t size, size_t n, void *userdata);

typedef struct {
        const char *sock;          /* a unix socket; NULL: 127.0.0.1:port */
        unsigned short port;
        const char *host;          /* the URL's host on a unix socket ("docker", "localhost") */
        const char *method;        /* "HEAD" asks for no body */
        const char *path;          /* with the query */
        const char *authorization; /* the header's value ("Bearer T"); NULL: none */
        const char *body;          /* NULL: none */
        size_t body_len;
        const char *content_type;  /* sent with a body; NULL: none */
} hc_request;

/* Performs rq (30 s at most); returns the HTTP status (0: no answer).
 * *ret_body and *ret_headers (either may be NULL) get what came, "" when
 * nothing did: free their buf. */
long hc_perform(const hc_request *rq, hc_bytes *ret_body, hc_bytes *ret_headers);
/* The same with the body and the header block as strings (malloc'd; NULL:
 * not wanted). */
long hc_perform_text(const hc_request *rq, char **ret_body, char **ret_headers);

/* A connected stream socket: to sock, or (sock NULL) to 127.0.0.1:port. */
int hc_dial(const char *sock, unsigned short port);
/* Writes all of s (asserted). */
void hc_send(int fd, const char *s);
/* What comes on fd until it closes or nothing comes for timeout_ms, up to
 * 64 KiB - 1 (malloc'd, NUL-terminated). */
char *hc_read_all(int fd, int timeout_ms);
/* Reads into head (NUL-terminated) until a blank line ends the response
 * head, fd closes, headlen - 1 bytes came or nothing comes for wait_ms. */
void hc_read_head(int fd, int wait_ms, char *head, size_t headlen);

#endif
