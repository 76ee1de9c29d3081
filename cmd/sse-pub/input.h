/*
 * input.h - sse-pub's stdin, turned into framed events: one per line, one
 * per JSON object a line (--json), or the events of an SSE stream (--raw).
 *
 * Events are framed as they complete and appended to a buffer the caller
 * owns (the batch being sent), so what is in flight is always whole events
 * that can be sent again. Event k of the input is line k in the line modes.
 */
#ifndef SSE_PUB_INPUT_H
#define SSE_PUB_INPUT_H

#include "sse.h"

enum in_mode { IN_LINES, IN_JSON, IN_RAW };

struct input {
	enum in_mode mode;
	const char *type;         /* -e, for the line mode */
	int fd;
	int eof;                  /* read() said end of file; all is framed */
	unsigned long long events;/* events framed so far */
	size_t largest;           /* the largest event framed since the caller zeroed it */
	struct sse_buf line;      /* a line still waiting for its end */
	struct sse_buf scratch;   /* --json: decoded strings */
	struct sse_parser *raw;   /* --raw: the stream's parser */
	struct sse_buf *dst;      /* where framed events go (during a read) */
	unsigned long *dst_n;     /* and their count */
	char err[400];            /* why input_read failed */
	char in[65536];
};

/* input_init - read fd in mode; lines (and events) up to max_line bytes. 0 or -1. */
int input_init(struct input *in, enum in_mode mode, const char *type, int fd, size_t max_line);

/*
 * input_read - one read(2), framing each event it completes onto dst and
 * adding 1 to *n for each. At end of file a last line without its newline
 * is still an event, and in->eof is set. Returns 0, or -1 with the reason
 * in in->err ("line 3: expected ':' at byte 9"); the events framed before
 * the bad one stay on dst.
 */
int input_read(struct input *in, struct sse_buf *dst, unsigned long *n);

/* input_ready - 1 when a read would not block (data or end of file). */
int input_ready(const struct input *in);

void input_free(struct input *in);

#endif
