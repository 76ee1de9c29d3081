/*
 * since.h - sse-cat's history on request: --since and --poll become the
 * query ssed reads (?since=WHEN, &poll=1; see ssed(1)).
 */
#ifndef SSE_CAT_SINCE_H
#define SSE_CAT_SINCE_H

#include <stddef.h>

/*
 * since_ok - 1 when v is a --since value: "all", a number (the last N
 * events), a DURATION (a number and s, m, h or d), or an id (id:ID, or any
 * other text) of 1 to 256 bytes without CR or LF; 0 otherwise.
 */
int since_ok(const char *v);

/*
 * since_url - url with since=WHEN (percent-encoded; NULL: none) and, when
 * poll is set, poll=1 added to its query. A new string the caller frees;
 * NULL when out of memory.
 */
char *since_url(const char *url, const char *since, int poll);

#endif
