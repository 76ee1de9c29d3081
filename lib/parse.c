/*
 * parse.c - the push parser: text/event-stream bytes to events.
 *
 * Two stages run byte by byte, so that nothing depends on where the input
 * is cut: a UTF-8 decoder that follows the WHATWG Encoding standard (the
 * one a browser runs, so invalid input turns into the same U+FFFD
 * replacements), then the line splitter and field interpreter of the HTML
 * standard's "interpret an event stream". Decoded text is kept as UTF-8,
 * so valid input passes through unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "sse.h"

struct sse_parser {
	struct sse_callbacks cb;
	struct sse_buf line;     /* the current line, decoded, without its end */
	struct sse_buf data;     /* the data buffer */
	struct sse_buf type;     /* the event type buffer */
	struct sse_buf idbuf;    /* the last event ID buffer */
	struct sse_buf idstr;    /* the last event ID string (set at dispatch) */
	int has_id;              /* an "id" field since the last blank line */
	int err;                 /* sticky error, 0 when fine */
	int started;             /* a code point has been decoded (BOM check) */
	int after_cr;            /* the last line ended in CR: skip one LF */
	/* UTF-8 decoder state (WHATWG Encoding, "UTF-8 decoder") */
	unsigned need;           /* bytes needed */
	unsigned seen;           /* bytes seen */
	unsigned char lower;     /* lower boundary of the next byte */
	unsigned char upper;     /* upper boundary of the next byte */
	unsigned char seq[4];    /* the bytes of the sequence so far */
};

static const char replacement[3] = { '\xEF', '\xBF', '\xBD' };

/* Field values start after the colon, less one optional space. */
static void strip_space(const char **s, size_t *n)
{
	if(*n && **s == ' ') {
		(*s)++;
		(*n)--;
	}
}

static int set_buf(struct sse_buf *b, const char *s, size_t n)
{
	sse_buf_clear(b);
	return sse_buf_append(b, s, n);
}

static int dispatch(struct sse_parser *p)
{
	struct sse_parsed ev;
	int rc;

	rc = set_buf(&p->idstr, p->idbuf.data ? p->idbuf.data : "", p->idbuf.len);
	if(rc)
		return rc;
	if(p->data.len == 0) {
		sse_buf_clear(&p->type);
		p->has_id = 0;
		return 0;
	}
	p->data.len--;  /* the last LF */
	p->data.data[p->data.len] = '\0';
	ev.type = p->type.len ? p->type.data : "message";
	ev.type_len = p->type.len ? p->type.len : 7;
	ev.data = p->data.data;
	ev.data_len = p->data.len;
	ev.id = p->idstr.data ? p->idstr.data : "";
	ev.id_len = p->idstr.len;
	ev.has_id = p->has_id;
	rc = 0;
	if(p->cb.on_event && p->cb.on_event(p->cb.ud, &ev))
		rc = SSE_EABORT;
	sse_buf_clear(&p->data);
	sse_buf_clear(&p->type);
	p->has_id = 0;
	return rc;
}

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for(i = 0; i < n; i++)
		if(s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

static int field(struct sse_parser *p, const char *name, size_t nlen,
		 const char *value, size_t vlen)
{
	uint64_t ms = 0;
	size_t i;
	int rc;

	if(nlen == 5 && !memcmp(name, "event", 5))
		return set_buf(&p->type, value, vlen);
	if(nlen == 4 && !memcmp(name, "data", 4)) {
		rc = sse_buf_append(&p->data, value, vlen);
		if(!rc)
			rc = sse_buf_append(&p->data, "\n", 1);
		return rc;
	}
	if(nlen == 2 && !memcmp(name, "id", 2)) {
		if(memchr(value, '\0', vlen))
			return 0;
		p->has_id = 1;
		return set_buf(&p->idbuf, value, vlen);
	}
	if(nlen == 5 && !memcmp(name, "retry", 5)) {
		if(!all_digits(value, vlen))
			return 0;
		for(i = 0; i < vlen; i++) {
			unsigned d = (unsigned)(value[i] - '0');
			ms = ms > (UINT64_MAX - d) / 10 ? UINT64_MAX : ms * 10 + d;
		}
		if(p->cb.on_retry && p->cb.on_retry(p->cb.ud, ms))
			return SSE_EABORT;
		return 0;
	}
	return 0;  /* unknown fields are ignored */
}

static int end_line(struct sse_parser *p)
{
	const char *s = p->line.data, *colon;
	size_t n = p->line.len;
	int rc;

	if(n == 0)
		return dispatch(p);
	if(s[0] == ':') {
		s++;
		n--;
		strip_space(&s, &n);
		rc = 0;
		if(p->cb.on_comment && p->cb.on_comment(p->cb.ud, s, n))
			rc = SSE_EABORT;
	} else {
		colon = memchr(s, ':', n);
		if(colon) {
			const char *v = colon + 1;
			size_t vn = n - (size_t)(v - s);

			strip_space(&v, &vn);
			rc = field(p, s, (size_t)(colon - s), v, vn);
		} else {
			rc = field(p, s, n, "", 0);
		}
	}
	sse_buf_clear(&p->line);
	return rc;
}

/* Text of one decoded code point, or a run of ASCII, that is not CR or LF. */
static int text(struct sse_parser *p, const char *s, size_t n)
{
	p->after_cr = 0;
	p->started = 1;
	return sse_buf_append(&p->line, s, n);
}

static void decoder_reset(struct sse_parser *p)
{
	p->need = 0;
	p->seen = 0;
	p->lower = 0x80;
	p->upper = 0xBF;
}

/* A code point whose bytes are in p->seq is complete. */
static int code_point(struct sse_parser *p)
{
	unsigned n = p->need;
	int bom = !p->started && n == 2 && p->seq[0] == 0xEF &&
		  p->seq[1] == 0xBB && p->seq[2] == 0xBF;

	decoder_reset(p);
	if(bom) {  /* one leading U+FEFF is not part of the stream */
		p->started = 1;
		return 0;
	}
	return text(p, (const char *)p->seq, n + 1);
}

/* The decoder met a byte that cannot start a sequence. */
static int lead_byte(struct sse_parser *p, unsigned char c)
{
	if(c >= 0xC2 && c <= 0xDF) {
		p->need = 1;
	} else if(c >= 0xE0 && c <= 0xEF) {
		if(c == 0xE0)
			p->lower = 0xA0;
		if(c == 0xED)
			p->upper = 0x9F;
		p->need = 2;
	} else if(c >= 0xF0 && c <= 0xF4) {
		if(c == 0xF0)
			p->lower = 0x90;
		if(c == 0xF4)
			p->upper = 0x8F;
		p->need = 3;
	} else {
		return text(p, replacement, 3);
	}
	p->seq[0] = c;
	return 0;
}

static int feed(struct sse_parser *p, const unsigned char *b, size_t len)
{
	size_t i = 0, j;
	int rc = 0;

	while(i < len && !rc) {
		unsigned char c = b[i];

		if(p->need) {
			if(c < p->lower || c > p->upper) {
				/* Not a continuation: U+FFFD, then look at c again. */
				decoder_reset(p);
				rc = text(p, replacement, 3);
				continue;
			}
			p->lower = 0x80;
			p->upper = 0xBF;
			p->seq[++p->seen] = c;
			i++;
			if(p->seen == p->need)
				rc = code_point(p);
			continue;
		}
		if(c == '\n') {
			i++;
			if(p->after_cr) {
				p->after_cr = 0;
				continue;
			}
			p->started = 1;
			rc = end_line(p);
			continue;
		}
		if(c == '\r') {
			i++;
			p->started = 1;
			rc = end_line(p);
			p->after_cr = 1;
			continue;
		}
		if(c < 0x80) {
			/* The common case: a run of plain ASCII goes in one copy. */
			for(j = i + 1; j < len && b[j] < 0x80 && b[j] != '\n' && b[j] != '\r'; j++)
				;
			rc = text(p, (const char *)b + i, j - i);
			i = j;
			continue;
		}
		i++;
		rc = lead_byte(p, c);
	}
	return rc;
}

int sse_parser_feed(struct sse_parser *p, const void *buf, size_t len)
{
	if(!p || (!buf && len))
		return SSE_EINVAL;
	if(!p->err)
		p->err = feed(p, buf, len);
	return p->err;
}

static void stream_reset(struct sse_parser *p)
{
	int rc;

	sse_buf_clear(&p->line);
	sse_buf_clear(&p->data);
	sse_buf_clear(&p->type);
	/* Seed the new stream's id buffer with the id we know, so a
	 * reconnection never forgets it. */
	rc = set_buf(&p->idbuf, p->idstr.data ? p->idstr.data : "", p->idstr.len);
	(void)rc;  /* idstr fitted the same cap, so this cannot fail */
	p->has_id = 0;
	p->err = 0;
	p->started = 0;
	p->after_cr = 0;
	decoder_reset(p);
}

int sse_parser_end(struct sse_parser *p)
{
	int err;

	if(!p)
		return SSE_EINVAL;
	err = p->err;
	stream_reset(p);
	return err;
}

void sse_parser_reset(struct sse_parser *p)
{
	if(p)
		stream_reset(p);
}

const char *sse_parser_last_id(const struct sse_parser *p, size_t *len)
{
	if(len)
		*len = p && p->idstr.data ? p->idstr.len : 0;
	return p && p->idstr.data ? p->idstr.data : "";
}

int sse_parser_set_last_id(struct sse_parser *p, const char *id, size_t len)
{
	int rc;

	if(!p || (!id && len))
		return SSE_EINVAL;
	rc = set_buf(&p->idstr, id ? id : "", len);
	if(!rc)
		rc = set_buf(&p->idbuf, id ? id : "", len);
	return rc;
}

struct sse_parser *sse_parser_new(const struct sse_callbacks *cb,
				  size_t max_line, size_t max_event)
{
	struct sse_parser *p;

	p = calloc(1, sizeof(*p));
	if(!p)
		return NULL;
	if(cb)
		p->cb = *cb;
	if(!max_line)
		max_line = SSE_DEFAULT_MAX_LINE;
	if(!max_event)
		max_event = SSE_DEFAULT_MAX_EVENT;
	sse_buf_init(&p->line, max_line);
	sse_buf_init(&p->data, max_event + 1);  /* + the LF removed at dispatch */
	sse_buf_init(&p->type, max_line);
	sse_buf_init(&p->idbuf, max_line);
	sse_buf_init(&p->idstr, max_line);
	decoder_reset(p);
	return p;
}

void sse_parser_free(struct sse_parser *p)
{
	if(!p)
		return;
	sse_buf_free(&p->line);
	sse_buf_free(&p->data);
	sse_buf_free(&p->type);
	sse_buf_free(&p->idbuf);
	sse_buf_free(&p->idstr);
	free(p);
}
