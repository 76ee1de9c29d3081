/*
 * jwtkey.h - the key signed tokens are verified with (--jwt-key-file),
 * swapped on SIGHUP while other threads verify.
 *
 * HTTP threads verify each request's token (jwtkey_verify) and delivery
 * threads check open streams again after a reload (jwtkey_reverify); the
 * main thread reloads (jwtkey_reload). A read-write lock orders them: a
 * verify holds the key for its few microseconds, and a reload frees the
 * old key only once no verify uses it. A renewed file that cannot be used
 * keeps the old key and says why. Errors are access.h's: one line, never a
 * token's or a key's bytes.
 */
#ifndef SSED_JWTKEY_H
#define SSED_JWTKEY_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"

struct jwtkey;

/* jwtkey_new - load path (copied: a reload reads it again). NULL with err
 * filled when the file is unusable or memory is short. */
struct jwtkey *jwtkey_new(const char *path, char *err, size_t errlen);

/* jwtkey_reload - load the file again and make it current: 0, or -1 with
 * err filled and the current key unchanged. */
int jwtkey_reload(struct jwtkey *k, char *err, size_t errlen);

/* jwtkey_free - free it; no thread may use it any more. NULL is fine. */
void jwtkey_free(struct jwtkey *k);

/* jwtkey_verify - access_verify() with the current key. */
int jwtkey_verify(struct jwtkey *k, const char *token, size_t len, int64_t now,
                  struct access_token **out, char *err, size_t errlen);

/* jwtkey_reverify - access_reverify() with the current key. */
int jwtkey_reverify(struct jwtkey *k, const struct access_token *t, int64_t now,
                    char *err, size_t errlen);

#endif
