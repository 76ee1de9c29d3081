/*
 * token.h - the bearer tokens, read from their files at start-up and again
 * on SIGHUP, and compared in constant time.
 *
 * A token file holds the token on its first line; trailing whitespace and
 * the line end are not part of it. An empty or whitespace-only token, or
 * one longer than TOKEN_MAX bytes, is refused rather than cut. A file that
 * group or others may read gets a warning.
 *
 * HTTP threads call tokens_check while the main thread may call
 * tokens_reload: a read-write lock keeps each comparison on one whole
 * token, old or new.
 */
#ifndef SSED_TOKEN_H
#define SSED_TOKEN_H

#include <stddef.h>

#define TOKEN_MAX 4096

enum token_kind { TOKEN_PUBLISH, TOKEN_SUBSCRIBE, TOKEN_METRICS, TOKEN_KINDS };

struct tokens;

/* A set with no token of any kind; NULL when out of memory. */
struct tokens *tokens_new(void);
void tokens_free(struct tokens *t);

/*
 * tokens_load - read kind's token from path (opt names the option in
 * messages). 0, or -1 with a one-line reason in err (size errlen). The
 * path is kept (not copied) for tokens_reload.
 */
int tokens_load(struct tokens *t, enum token_kind kind, const char *opt, const char *path,
		char *err, size_t errlen);

/* 1 when kind needs a token. */
int tokens_needed(struct tokens *t, enum token_kind kind);

/*
 * tokens_check - 1 when kind needs no token or given (len bytes, any
 * content) is it; 0 otherwise. The time taken depends only on the lengths.
 */
int tokens_check(struct tokens *t, enum token_kind kind, const char *given, size_t len);

/*
 * tokens_reload - read every token file again. A file that cannot be read
 * or holds no valid token keeps its old token, with a warning saying why.
 * Logs one line with the outcome. Returns the number of files that failed.
 */
int tokens_reload(struct tokens *t);

#endif
