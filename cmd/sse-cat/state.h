/*
 * state.h - sse-cat --state FILE: the last event id, kept across runs.
 *
 * The file holds the id and a newline. It is replaced atomically after
 * each event (written to FILE.tmp, then renamed over FILE), so a crash or
 * a Ctrl-C leaves the old id or the new one, never half of one.
 */
#ifndef SSE_CAT_STATE_H
#define SSE_CAT_STATE_H

#include <stddef.h>

/*
 * state_load - read the id kept in path into id (size bytes, NUL-ended);
 * *len gets its length. Returns 0 (a missing file is an empty id), or -1
 * with an error printed (unreadable, too long, holds CR or LF).
 */
int state_load(const char *path, char *id, size_t size, size_t *len);

/* state_save - keep id (len bytes) in path. Returns 0, or -1 with an error printed. */
int state_save(const char *path, const char *id, size_t len);

#endif
