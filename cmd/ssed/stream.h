/*
 * stream.h - the bytes of an event stream that are not events: its opening
 * bytes, heartbeats, and the ssed-gap event that tells a resuming client
 * it missed events.
 *
 * Pure functions; no state, no locks.
 */
#ifndef SSED_STREAM_H
#define SSED_STREAM_H

#include <stddef.h>

/* A heartbeat: a comment line, which no client dispatches. */
#define STREAM_HEARTBEAT ":\n"
#define STREAM_HEARTBEAT_LEN 2

/*
 * stream_opening - a stream's first bytes: the ": ssed" comment, the retry
 * field when retry_ms >= 0, and when gap_id is not NULL an event of type
 * "ssed-gap" whose data is gap_id. The caller frees it; *len gets its
 * length. NULL when out of memory.
 */
char *stream_opening(long long retry_ms, const char *gap_id, size_t *len);

#endif
