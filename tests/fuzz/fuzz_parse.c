/*
 * fuzz_parse.c - libFuzzer harness for the parser.
 *
 * Feeds the input whole and again in pseudo-random slices (the slice sizes
 * come from the input itself), and aborts if the two transcripts differ:
 * events must never depend on how the stream is cut. Each event is also
 * encoded again and must parse back to the same type and data.
 */
#include <stdlib.h>
#include <string.h>

#include "sse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

struct expect {
	const struct sse_parsed *ev;
	int seen;
};

/* The re-parsed event must equal the original. */
static int compare(void *ud, const struct sse_parsed *ev)
{
	struct expect *x = ud;

	if(ev->type_len != x->ev->type_len || memcmp(ev->type, x->ev->type, ev->type_len) ||
	   ev->data_len != x->ev->data_len || memcmp(ev->data, x->ev->data, ev->data_len))
		abort();
	x->seen++;
	return 0;
}

static int record(void *ud, const struct sse_parsed *ev)
{
	struct sse_event e = { NULL, 0, ev->type, ev->type_len, ev->data, ev->data_len, -1 };
	struct expect x = { ev, 0 };
	struct sse_callbacks cb = { compare, NULL, NULL, &x };
	struct sse_buf *t = ud, wire;
	struct sse_parser *p;

	sse_buf_append(t, ev->type, ev->type_len + 1);
	sse_buf_append(t, ev->id, ev->id_len + 1);
	sse_buf_append(t, ev->data, ev->data_len + 1);
	/* Parsed text is valid UTF-8 without CR or LF in the type: it encodes. */
	sse_buf_init(&wire, 1 << 22);
	if(sse_frame_event(&wire, &e))
		abort();
	p = sse_parser_new(&cb, 1 << 20, 1 << 20);
	if(sse_parser_feed(p, wire.data, wire.len) || x.seen != 1)
		abort();
	sse_parser_free(p);
	sse_buf_free(&wire);
	return 0;
}

static void transcript(const unsigned char *data, size_t size, unsigned seed, struct sse_buf *t)
{
	struct sse_callbacks cb = { record, NULL, NULL, t };
	struct sse_parser *p = sse_parser_new(&cb, 512, 2048);
	size_t i = 0, n;
	int rc = 0;

	while(i < size && !rc) {
		n = seed ? 1 + (seed = seed * 1103515245u + 12345u) % 7 : size;
		if(n > size - i)
			n = size - i;
		rc = sse_parser_feed(p, data + i, n);
		i += n;
	}
	sse_buf_append(t, rc ? "E" : "K", 1);
	sse_parser_free(p);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct sse_buf a, b;

	sse_buf_init(&a, 1 << 24);
	sse_buf_init(&b, 1 << 24);
	transcript(data, size, 0, &a);
	transcript(data, size, size ? data[0] | 1u : 1u, &b);
	if(a.len != b.len || memcmp(a.data, b.data, a.len))
		abort();
	sse_buf_free(&a);
	sse_buf_free(&b);
	return 0;
}
