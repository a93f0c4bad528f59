/* Client tokens of the job API (the admin token is --token-file).
 *
 * Made with the admin token, each has an id (12 hex digits) that owns the
 * jobs it creates.  Only the SHA-256 of a token is stored, in
 * state_dir/server/tokens.json (0600): a copy of the state dir does not
 * hand out working tokens.  Thread-safe. */
#ifndef VS_TOKENS_H
#define VS_TOKENS_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>

#define VS_TOKEN_LEN 64   /* hex digits of a client token */
#define VS_TOKENS_MAX 4096

typedef struct vs_tokens vs_tokens;

int vs_tokens_open(const char *state_dir, vs_tokens **ret, vs_error *err);
void vs_tokens_free(vs_tokens *t);
/* A new token: ret_token is shown once, only its hash is kept. */
int vs_tokens_create(vs_tokens *t, char ret_token[VS_TOKEN_LEN + 1], char ret_id[13], vs_error *err);
int vs_tokens_revoke(vs_tokens *t, const char *id, vs_error *err);
/* The id of the client token presented (compared in constant time). */
bool vs_tokens_lookup(vs_tokens *t, const char *token, size_t len, char ret_id[13]);
/* [{"id": ..., "created_ms": ...}] */
json_t *vs_tokens_list(vs_tokens *t);

/* Constant-time comparison of two byte strings of length n. */
bool vs_secure_equal(const void *a, const void *b, size_t n);

#endif
