/*
 * stream.c - a stream's opening bytes, heartbeats and gap notice (see
 * stream.h).
 */
#include <stdio.h>
#include <string.h>

#include "sse.h"
#include "stream.h"

char *stream_opening(long long retry_ms, const char *gap_id, size_t *len)
{
	struct sse_buf b;
	char retry[40];

	sse_buf_init(&b, 1024);
	sse_buf_append(&b, ": ssed\n", 7);
	if(retry_ms >= 0) {
		snprintf(retry, sizeof(retry), "retry: %lld\n", retry_ms);
		sse_buf_append(&b, retry, strlen(retry));
	}
	if(gap_id) {
		struct sse_event e = { NULL, 0, "ssed-gap", 8, gap_id, strlen(gap_id), -1 };

		sse_frame_event(&b, &e);
	}
	*len = b.len;
	return b.data;
}
