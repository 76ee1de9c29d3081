/*
 * buf.c - the capped byte buffer (see sse.h) and the error names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

const char *sse_strerror(int err)
{
	switch(err) {
	case SSE_OK:      return "success";
	case SSE_ENOMEM:  return "out of memory";
	case SSE_EINVAL:  return "invalid argument";
	case SSE_ETOOBIG: return "line or event too long";
	case SSE_EFIELD:  return "id or event type holds CR, LF or NUL";
	case SSE_EABORT:  return "stopped by callback";
	default:          return "unknown error";
	}
}

void sse_buf_init(struct sse_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	/* Keep len + n + 1 and the doubling below free of overflow. */
	b->max = max > SIZE_MAX / 4 ? SIZE_MAX / 4 : max;
}

int sse_buf_reserve(struct sse_buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if(n > b->max || b->len > b->max - n)
		return SSE_ETOOBIG;
	want = b->len + n + 1;  /* room for the NUL */
	if(want <= b->cap)
		return 0;
	/* Grow geometrically, but never past max + 1: the cap is the point. */
	cap = b->cap ? b->cap : 64;
	while(cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if(cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if(!p)
		return SSE_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int sse_buf_append(struct sse_buf *b, const void *p, size_t n)
{
	int rc;

	rc = sse_buf_reserve(b, n);
	if(rc)
		return rc;
	if(n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void sse_buf_clear(struct sse_buf *b)
{
	b->len = 0;
	if(b->data)
		b->data[0] = '\0';
}

void sse_buf_free(struct sse_buf *b)
{
	free(b->data);
	sse_buf_init(b, b->max);
}
