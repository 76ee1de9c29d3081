/*
 * test_frame.c - the encoder, byte for byte, and the encoder and parser
 * together: whatever is encoded parses back to the same event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "tap.h"

static struct sse_event ev_of(const char *id, const char *type, const char *data,
			      long long retry)
{
	struct sse_event ev;

	ev.id = id;
	ev.id_len = id ? strlen(id) : 0;
	ev.event = type;
	ev.event_len = type ? strlen(type) : 0;
	ev.data = data;
	ev.data_len = data ? strlen(data) : 0;
	ev.retry = retry;
	return ev;
}

static void frame_is(const struct sse_event *ev, const char *want, const char *name)
{
	struct sse_buf b;
	int rc;

	sse_buf_init(&b, 1 << 20);
	rc = sse_frame_event(&b, ev);
	tap_ok(rc == 0 && b.len == strlen(want) && !memcmp(b.data, want, b.len) &&
	       sse_frame_size(ev) == b.len, "frame: %s", name);
	if(rc || b.len != strlen(want) || memcmp(b.data, want, b.len))
		tap_diag("rc %d, got [%s]", rc, b.data ? b.data : "");
	sse_buf_free(&b);
}

static void frame_fails(const struct sse_event *ev, int want, const char *name)
{
	struct sse_buf b;
	int rc;

	sse_buf_init(&b, 1 << 20);
	sse_buf_append(&b, "x", 1);
	rc = sse_frame_event(&b, ev);
	tap_ok(rc == want && b.len == 1 && sse_frame_size(ev) == 0,
	       "frame: %s is rejected (%s), nothing written", name, sse_strerror(want));
	sse_buf_free(&b);
}

struct got {
	int n;
	char type[64], id[64], data[256];
	size_t data_len;
};

static int grab(void *ud, const struct sse_parsed *ev)
{
	struct got *g = ud;

	g->n++;
	snprintf(g->type, sizeof(g->type), "%s", ev->type);
	snprintf(g->id, sizeof(g->id), "%s", ev->id);
	g->data_len = ev->data_len < sizeof(g->data) ? ev->data_len : sizeof(g->data);
	memcpy(g->data, ev->data, g->data_len);
	return 0;
}

/* Encode, parse back, and compare with the data as the reader must see it. */
static void round_trip(const char *data, size_t len, const char *want, size_t want_len,
		       const char *name)
{
	struct got g;
	struct sse_callbacks cb = { grab, NULL, NULL, &g };
	struct sse_event ev = ev_of("7", "kind", NULL, -1);
	struct sse_parser *p = sse_parser_new(&cb, 0, 0);
	struct sse_buf b;

	memset(&g, 0, sizeof(g));
	ev.data = data;
	ev.data_len = len;
	sse_buf_init(&b, 1 << 20);
	sse_frame_event(&b, &ev);
	sse_parser_feed(p, b.data, b.len);
	tap_ok(g.n == 1 && !strcmp(g.type, "kind") && !strcmp(g.id, "7") &&
	       g.data_len == want_len && !memcmp(g.data, want, want_len),
	       "round trip: %s", name);
	sse_buf_free(&b);
	sse_parser_free(p);
}

/* Pseudo-random events (a fixed seed, so a failure repeats) survive the trip. */
static void random_round_trips(void)
{
	static const char *const tokens[] = { "a", "b", " ", "\r", "\n", ":", "", "\xC3\xA9" };
	unsigned long long x = 88172645463325252ULL;
	int i, bad = 0;

	for(i = 0; i < 2000 && !bad; i++) {
		char data[64], want[64];
		size_t n, k, w = 0;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		n = 0;
		for(k = x % 30; k > 0; k--) {
			const char *t;

			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			t = tokens[x % 8];
			if(!*t)
				data[n++] = '\0';  /* the empty token stands for NUL */
			for(; *t; t++)
				data[n++] = *t;
		}
		/* What a reader sees: every CR, LF or CRLF is one LF. */
		for(k = 0; k < n; k++) {
			if(data[k] == '\r') {
				want[w++] = '\n';
				if(k + 1 < n && data[k + 1] == '\n')
					k++;
			} else {
				want[w++] = data[k];
			}
		}
		{
			struct got g;
			struct sse_callbacks cb = { grab, NULL, NULL, &g };
			struct sse_event ev = ev_of(NULL, NULL, NULL, -1);
			struct sse_parser *p = sse_parser_new(&cb, 0, 0);
			struct sse_buf b;

			memset(&g, 0, sizeof(g));
			ev.data = data;
			ev.data_len = n;
			sse_buf_init(&b, 1 << 20);
			sse_frame_event(&b, &ev);
			sse_parser_feed(p, b.data, b.len);
			if(g.n != 1 || g.data_len != w || memcmp(g.data, want, w))
				bad = i + 1, tap_diag("case %d: n %zu got %d events, len %zu want %zu", i, n, g.n, g.data_len, w);
			sse_buf_free(&b);
			sse_parser_free(p);
		}
	}
	tap_ok(!bad, "round trip: 2000 pseudo-random payloads");
}

static int stop(void *ud, const struct sse_parsed *ev)
{
	(void)ev;
	return ++*(int *)ud >= 2;
}

/* The parser's life cycle: a callback that stops it, reset, the last id. */
static void parser_api(void)
{
	int calls = 0;
	struct sse_callbacks cb = { stop, NULL, NULL, &calls };
	struct sse_parser *p = sse_parser_new(&cb, 0, 0);
	const char *id;
	size_t len;
	int rc;

	rc = sse_parser_feed(p, "id: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: c\n\n", 39);
	tap_ok(rc == SSE_EABORT && calls == 2 && sse_parser_feed(p, "x", 1) == SSE_EABORT,
	       "parser: a callback's non-zero return stops it, and the error sticks");
	sse_parser_reset(p);
	id = sse_parser_last_id(p, &len);
	tap_ok(len == 1 && !strcmp(id, "2"), "parser: reset keeps the last event id");
	calls = -10;
	rc = sse_parser_feed(p, "data: d\n\n", 9);
	tap_ok(rc == 0 && calls == -9, "parser: reset clears the error");
	tap_ok(sse_parser_set_last_id(p, "x9", 2) == 0 &&
	       !strcmp(sse_parser_last_id(p, NULL), "x9"), "parser: the last id can be set");
	tap_ok(sse_parser_feed(NULL, "", 0) == SSE_EINVAL && sse_parser_end(NULL) == SSE_EINVAL,
	       "parser: NULL is refused");
	sse_parser_free(p);
	sse_parser_free(NULL);
}

int main(void)
{
	struct sse_event ev;
	struct sse_buf b;
	char nul_id[] = "a\0b";

	ev = ev_of(NULL, NULL, "hello", -1);
	frame_is(&ev, "data: hello\n\n", "data only");
	ev = ev_of("42", "add", "hello", -1);
	frame_is(&ev, "id: 42\nevent: add\ndata: hello\n\n", "id, event and data");
	ev = ev_of(NULL, NULL, "a\nb", -1);
	frame_is(&ev, "data: a\ndata: b\n\n", "LF splits data lines");
	ev = ev_of(NULL, NULL, "a\rb", -1);
	frame_is(&ev, "data: a\ndata: b\n\n", "CR splits data lines");
	ev = ev_of(NULL, NULL, "a\r\nb", -1);
	frame_is(&ev, "data: a\ndata: b\n\n", "CRLF splits data lines once");
	ev = ev_of(NULL, NULL, "a\n\nb\n", -1);
	frame_is(&ev, "data: a\ndata:\ndata: b\ndata:\n\n", "empty lines and a trailing LF");
	ev = ev_of(NULL, NULL, "", -1);
	frame_is(&ev, "data:\n\n", "empty data is one empty data line");
	ev = ev_of(NULL, NULL, NULL, -1);
	frame_is(&ev, "data:\n\n", "no data at all is empty data");
	ev = ev_of(NULL, NULL, " x", -1);
	frame_is(&ev, "data:  x\n\n", "a leading space survives");
	ev = ev_of("", NULL, "x", -1);
	frame_is(&ev, "id:\ndata: x\n\n", "an empty id is written to reset it");
	ev = ev_of(NULL, "", "x", -1);
	frame_is(&ev, "data: x\n\n", "an empty event type is left out");
	ev = ev_of(NULL, NULL, "x", 2500);
	frame_is(&ev, "retry: 2500\ndata: x\n\n", "retry");

	ev = ev_of("a\nb", NULL, "x", -1);
	frame_fails(&ev, SSE_EFIELD, "an id with LF");
	ev = ev_of("a\rb", NULL, "x", -1);
	frame_fails(&ev, SSE_EFIELD, "an id with CR");
	ev = ev_of(NULL, NULL, "x", -1);
	ev.id = nul_id;
	ev.id_len = 3;
	frame_fails(&ev, SSE_EFIELD, "an id with NUL");
	ev = ev_of(NULL, "a\nb", "x", -1);
	frame_fails(&ev, SSE_EFIELD, "an event type with LF");
	ev = ev_of(NULL, "a\rb", "x", -1);
	frame_fails(&ev, SSE_EFIELD, "an event type with CR");
	frame_fails(NULL, SSE_EINVAL, "no event");

	sse_buf_init(&b, 8);
	ev = ev_of(NULL, NULL, "hello", -1);
	tap_ok(sse_frame_event(&b, &ev) == SSE_ETOOBIG && b.len == 0,
	       "frame: an event past the buffer's cap is refused whole");
	sse_buf_free(&b);

	{
		char dst[32];
		long long n;

		ev = ev_of("1", NULL, "ab", -1);
		n = sse_frame_write(dst, sizeof(dst), &ev);
		tap_ok(n == 16 && !memcmp(dst, "id: 1\ndata: ab\n\n", 16),
		       "frame: write into a caller's memory");
		tap_ok(sse_frame_write(dst, 15, &ev) == SSE_ETOOBIG,
		       "frame: write refuses memory one byte short");
	}

	sse_buf_init(&b, 1 << 10);
	sse_frame_comment(&b, "hi", 2);
	sse_frame_comment(&b, "", 0);
	sse_frame_comment(&b, "a\nb", 3);
	tap_ok(b.len == strlen(": hi\n:\n: a\n: b\n") && !memcmp(b.data, ": hi\n:\n: a\n: b\n", b.len),
	       "frame: comments, one line each, no blank line");
	sse_buf_free(&b);

	round_trip("a\r\nb\rc\nd", 8, "a\nb\nc\nd", 7, "mixed line ends come back as LF");
	round_trip("", 0, "", 0, "empty data");
	round_trip("\n", 1, "\n", 1, "a lone LF");
	round_trip("a\0b", 3, "a\0b", 3, "NUL in data");
	round_trip("  two", 5, "  two", 5, "leading spaces");
	round_trip(": not a comment", 15, ": not a comment", 15, "data that looks like a comment");
	random_round_trips();
	parser_api();
	{
		struct sse_parsed pe = { "message", 7, "d", 1, "9", 1, 0 };

		sse_event_from_parsed(&ev, &pe);
		tap_ok(!ev.id && !ev.event && ev.data_len == 1 && ev.retry < 0,
		       "from parsed: no own id, type message: neither is written");
		pe.type = "t";
		pe.type_len = 1;
		pe.has_id = 1;
		sse_event_from_parsed(&ev, &pe);
		tap_ok(ev.id && ev.id_len == 1 && ev.event && ev.event_len == 1,
		       "from parsed: an own id and a type are kept");
	}

	sse_buf_init(&b, 4);
	tap_ok(sse_buf_append(&b, "abcd", 4) == 0 && sse_buf_append(&b, "e", 1) == SSE_ETOOBIG &&
	       b.len == 4 && !strcmp(b.data, "abcd"), "buf: the cap holds and a refused append changes nothing");
	sse_buf_free(&b);
	tap_ok(!strcmp(sse_strerror(SSE_ETOOBIG), "line or event too long") &&
	       !strcmp(sse_strerror(12345), "unknown error"), "strerror names errors");
	return tap_done();
}
