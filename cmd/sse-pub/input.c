/*
 * input.c - stdin to framed events for sse-pub (see input.h).
 *
 * read(2), not stdio, so that a line leaves the moment it is complete and
 * nothing waits for a buffer to fill.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "input.h"

#define FIELD_MAX 256

struct json_ev {
	struct sse_event e;
	char type[FIELD_MAX + 1], id[FIELD_MAX + 1];
	struct sse_buf data;
	int has_data;
	const char *bad;
};

static int frame(struct input *in, const struct sse_event *e)
{
	size_t before = in->dst->len;
	int rc = sse_frame_event(in->dst, e);

	if(rc) {
		snprintf(in->err, sizeof(in->err), "%s %llu: cannot be sent as an event: %s",
			 in->mode == IN_RAW ? "event" : "line", in->events + 1, sse_strerror(rc));
		return -1;
	}
	in->events++;
	(*in->dst_n)++;
	if(in->dst->len - before > in->largest)
		in->largest = in->dst->len - before;
	return 0;
}

/* A string member's value into a fixed field (event, id). */
static int field(struct json_ev *j, const struct json_member *m, char *dst, int is_id)
{
	const char *s = m->kind == JSON_STRING ? m->str : m->text;
	size_t n = m->kind == JSON_STRING ? m->str_len : m->text_len;

	if(m->kind == JSON_NULL) {
		dst[0] = '\0';
		return 0;
	}
	if(m->kind != JSON_STRING && !(is_id && m->kind == JSON_NUMBER)) {
		j->bad = is_id ? "\"id\" is not a string or a number" : "\"event\" is not a string";
		return 1;
	}
	if(n > FIELD_MAX || memchr(s, '\0', n) || sse_check_field(s, n, is_id)) {
		j->bad = is_id ? "\"id\" is over 256 bytes or holds CR, LF or NUL"
			       : "\"event\" is over 256 bytes or holds CR, LF or NUL";
		return 1;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int on_member(void *ud, const struct json_member *m)
{
	struct json_ev *j = ud;

	if(m->key_len == 4 && !memcmp(m->key, "data", 4)) {
		sse_buf_clear(&j->data);
		j->has_data = 1;
		/* A string is its text; anything else is published as its JSON. */
		if(m->kind == JSON_STRING ? sse_buf_append(&j->data, m->str, m->str_len)
					  : sse_buf_append(&j->data, m->text, m->text_len)) {
			j->bad = "\"data\" is too large";
			return 1;
		}
		return 0;
	}
	if(m->key_len == 5 && !memcmp(m->key, "event", 5))
		return field(j, m, j->type, 0);
	if(m->key_len == 2 && !memcmp(m->key, "id", 2))
		return field(j, m, j->id, 1);
	return 0;  /* other members are the sender's business */
}

static int json_line(struct input *in, const char *s, size_t n)
{
	struct json_ev j;
	char why[200];
	int rc;

	memset(&j, 0, sizeof(j));
	sse_buf_init(&j.data, in->line.max);
	rc = json_object(s, n, &in->scratch, on_member, &j, why, sizeof(why));
	if(rc < 0 || j.bad || !j.has_data) {
		snprintf(in->err, sizeof(in->err), "line %llu: %s", in->events + 1,
			 rc < 0 ? why : j.bad ? j.bad : "no \"data\" member");
		sse_buf_free(&j.data);
		return -1;
	}
	j.e.retry = -1;
	if(j.type[0] && strcmp(j.type, "message")) {
		j.e.event = j.type;
		j.e.event_len = strlen(j.type);
	}
	if(j.id[0]) {
		j.e.id = j.id;
		j.e.id_len = strlen(j.id);
	}
	j.e.data = j.data.data ? j.data.data : "";
	j.e.data_len = j.data.len;
	rc = frame(in, &j.e);
	sse_buf_free(&j.data);
	return rc;
}

static int one_line(struct input *in, const char *s, size_t n)
{
	struct sse_event e;

	if(n && s[n - 1] == '\r')
		n--;  /* CRLF input */
	if(in->mode == IN_JSON)
		return json_line(in, s, n);
	memset(&e, 0, sizeof(e));
	e.event = in->type;
	e.event_len = in->type ? strlen(in->type) : 0;
	e.data = s;
	e.data_len = n;
	e.retry = -1;
	return frame(in, &e);
}

/* Split what read() gave into lines; frame the complete ones. */
static int take_lines(struct input *in, const char *s, size_t n)
{
	const char *nl;
	int rc;

	while(n && (nl = memchr(s, '\n', n))) {
		size_t len = (size_t)(nl - s);

		if(in->line.len) {
			rc = sse_buf_append(&in->line, s, len);
			if(!rc)
				rc = one_line(in, in->line.data, in->line.len);
			else
				snprintf(in->err, sizeof(in->err), "line %llu is over %zu bytes",
					 in->events + 1, in->line.max);
			sse_buf_clear(&in->line);
		} else {
			rc = one_line(in, s, len);
		}
		if(rc)
			return -1;
		s = nl + 1;
		n -= len + 1;
	}
	if(n && sse_buf_append(&in->line, s, n)) {
		snprintf(in->err, sizeof(in->err), "line %llu is over %zu bytes",
			 in->events + 1, in->line.max);
		return -1;
	}
	return 0;
}

static int on_raw_event(void *ud, const struct sse_parsed *ev)
{
	struct input *in = ud;
	struct sse_event e;

	sse_event_from_parsed(&e, ev);
	return frame(in, &e) ? 1 : 0;
}

int input_init(struct input *in, enum in_mode mode, const char *type, int fd, size_t max_line)
{
	struct sse_callbacks cb = { on_raw_event, NULL, NULL, in };

	memset(in, 0, sizeof(*in));
	in->mode = mode;
	in->type = type;
	in->fd = fd;
	sse_buf_init(&in->line, max_line);
	sse_buf_init(&in->scratch, max_line * 2 + 64);
	if(mode == IN_RAW) {
		in->raw = sse_parser_new(&cb, max_line, max_line);
		if(!in->raw)
			return -1;
	}
	return 0;
}

int input_ready(const struct input *in)
{
	struct pollfd p = { in->fd, POLLIN, 0 };

	return in->eof || poll(&p, 1, 0) > 0;
}

int input_read(struct input *in, struct sse_buf *dst, unsigned long *n)
{
	ssize_t r;
	int rc;

	in->dst = dst;
	in->dst_n = n;
	do
		r = read(in->fd, in->in, sizeof(in->in));
	while(r < 0 && (errno == EINTR || errno == EAGAIN));
	if(r < 0) {
		snprintf(in->err, sizeof(in->err), "cannot read stdin: %s", strerror(errno));
		return -1;
	}
	if(r == 0) {
		in->eof = 1;
		if(in->mode == IN_RAW) {
			sse_parser_end(in->raw);  /* an unterminated last event is dropped */
			return 0;
		}
		/* A last line without its newline is still an event. */
		rc = in->line.len ? one_line(in, in->line.data, in->line.len) : 0;
		sse_buf_clear(&in->line);
		return rc;
	}
	if(in->mode != IN_RAW)
		return take_lines(in, in->in, (size_t)r);
	rc = sse_parser_feed(in->raw, in->in, (size_t)r);
	if(rc == SSE_ETOOBIG)
		snprintf(in->err, sizeof(in->err), "event %llu is over %zu bytes",
			 in->events + 1, in->line.max);
	else if(rc && rc != SSE_EABORT)
		snprintf(in->err, sizeof(in->err), "stdin: %s", sse_strerror(rc));
	return rc ? -1 : 0;
}

void input_free(struct input *in)
{
	sse_buf_free(&in->line);
	sse_buf_free(&in->scratch);
	sse_parser_free(in->raw);
}
