/*
 * frame.c - the encoder: an event or a comment to text/event-stream bytes.
 *
 * The size is computed first and the buffer reserved once, so an event is
 * either appended whole or not at all, and the hot path does one copy.
 */
#include <stdio.h>
#include <string.h>

#include "sse.h"

int sse_check_field(const char *text, size_t len, int is_id)
{
	size_t i;

	if(!text)
		return 0;
	for(i = 0; i < len; i++) {
		if(text[i] == '\r' || text[i] == '\n')
			return SSE_EFIELD;
		if(is_id && text[i] == '\0')
			return SSE_EFIELD;
	}
	return 0;
}

/*
 * The length of the line starting at s (up to n bytes) and of its line end
 * (0 when the text ends without one, 1 for LF or CR, 2 for CRLF).
 */
static size_t line_span(const char *s, size_t n, size_t *eol)
{
	size_t i;

	for(i = 0; i < n; i++) {
		if(s[i] == '\n') {
			*eol = 1;
			return i;
		}
		if(s[i] == '\r') {
			*eol = (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
			return i;
		}
	}
	*eol = 0;
	return n;
}

/*
 * The bytes of "<name>" lines for text: each line becomes "name: line\n",
 * an empty line "name:\n". Text that ends in a line end has one more,
 * empty, line after it: that is how a trailing newline survives the trip.
 */
static size_t lines_size(const char *text, size_t n, size_t name_len)
{
	size_t total = 0, len, eol;

	for(;;) {
		len = line_span(text, n, &eol);
		total += name_len + 1 + (len ? 1 + len : 0) + 1;
		if(!eol)
			return total;
		text += len + eol;
		n -= len + eol;
	}
}

static char *put_lines(char *o, const char *name, size_t name_len,
		       const char *text, size_t n)
{
	size_t len, eol;

	for(;;) {
		len = line_span(text, n, &eol);
		memcpy(o, name, name_len);
		o += name_len;
		*o++ = ':';
		if(len) {
			*o++ = ' ';
			memcpy(o, text, len);
			o += len;
		}
		*o++ = '\n';
		if(!eol)
			return o;
		text += len + eol;
		n -= len + eol;
	}
}

static int validate(const struct sse_event *ev)
{
	if(!ev)
		return SSE_EINVAL;
	if(sse_check_field(ev->id, ev->id_len, 1))
		return SSE_EFIELD;
	if(sse_check_field(ev->event, ev->event_len, 0))
		return SSE_EFIELD;
	return 0;
}

static size_t frame_size(const struct sse_event *ev, char *retry, size_t *rlen)
{
	size_t total = 0;

	if(ev->id)
		total += ev->id_len ? 4 + ev->id_len + 1 : 4;
	if(ev->event && ev->event_len)
		total += 7 + ev->event_len + 1;
	*rlen = 0;
	if(ev->retry >= 0) {
		*rlen = (size_t)snprintf(retry, 24, "%lld", ev->retry);
		total += 7 + *rlen + 1;
	}
	total += lines_size(ev->data ? ev->data : "", ev->data ? ev->data_len : 0, 4);
	return total + 1;
}

size_t sse_frame_size(const struct sse_event *ev)
{
	char retry[24];
	size_t rlen;

	if(validate(ev))
		return 0;
	return frame_size(ev, retry, &rlen);
}

static char *write_event(char *o, const struct sse_event *ev, const char *retry, size_t rlen)
{
	if(ev->id)
		o = put_lines(o, "id", 2, ev->id, ev->id_len);
	if(ev->event && ev->event_len)
		o = put_lines(o, "event", 5, ev->event, ev->event_len);
	if(rlen)
		o = put_lines(o, "retry", 5, retry, rlen);
	o = put_lines(o, "data", 4, ev->data ? ev->data : "", ev->data ? ev->data_len : 0);
	*o++ = '\n';
	return o;
}

int sse_frame_event(struct sse_buf *out, const struct sse_event *ev)
{
	char retry[24];
	size_t total, rlen;
	int rc;

	if(!out)
		return SSE_EINVAL;
	rc = validate(ev);
	if(rc)
		return rc;
	total = frame_size(ev, retry, &rlen);
	rc = sse_buf_reserve(out, total);
	if(rc)
		return rc;
	write_event(out->data + out->len, ev, retry, rlen);
	out->len += total;
	out->data[out->len] = '\0';
	return 0;
}

long long sse_frame_write(char *dst, size_t size, const struct sse_event *ev)
{
	char retry[24];
	size_t total, rlen;
	int rc;

	if(!dst)
		return SSE_EINVAL;
	rc = validate(ev);
	if(rc)
		return rc;
	total = frame_size(ev, retry, &rlen);
	if(total > size)
		return SSE_ETOOBIG;
	write_event(dst, ev, retry, rlen);
	return (long long)total;
}

int sse_frame_comment(struct sse_buf *out, const char *text, size_t len)
{
	size_t total;
	char *o;
	int rc;

	if(!out)
		return SSE_EINVAL;
	if(!text)
		len = 0;
	total = lines_size(text ? text : "", len, 0);
	rc = sse_buf_reserve(out, total);
	if(rc)
		return rc;
	o = put_lines(out->data + out->len, "", 0, text ? text : "", len);
	(void)o;
	out->len += total;
	out->data[out->len] = '\0';
	return 0;
}

void sse_event_from_parsed(struct sse_event *e, const struct sse_parsed *p)
{
	memset(e, 0, sizeof(*e));
	if(p->has_id) {
		e->id = p->id;
		e->id_len = p->id_len;
	}
	if(!(p->type_len == 7 && !memcmp(p->type, "message", 7))) {
		e->event = p->type;
		e->event_len = p->type_len;
	}
	e->data = p->data;
	e->data_len = p->data_len;
	e->retry = -1;
}
