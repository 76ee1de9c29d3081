/*
 * test_parse.c - runs tests/unit/parse.cases against the parser.
 *
 * Every case is fed whole, one byte at a time, and cut in two at every
 * position; each run must give exactly the expected transcript. Output is
 * TAP, one test point per case and way of feeding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "tap.h"

struct transcript {
	struct sse_buf out;
};

static void esc(struct sse_buf *o, const char *s, size_t n)
{
	char tmp[8];
	size_t i;

	for(i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if(c == '\\')
			sse_buf_append(o, "\\\\", 2);
		else if(c == '\n')
			sse_buf_append(o, "\\n", 2);
		else if(c == '\r')
			sse_buf_append(o, "\\r", 2);
		else if(c >= 0x20 && c < 0x7f)
			sse_buf_append(o, s + i, 1);
		else {
			snprintf(tmp, sizeof(tmp), "\\x%02X", c);
			sse_buf_append(o, tmp, 4);
		}
	}
}

static int on_event(void *ud, const struct sse_parsed *ev)
{
	struct sse_buf *o = &((struct transcript *)ud)->out;
	char tmp[8];

	sse_buf_append(o, "E ", 2);
	esc(o, ev->type, ev->type_len);
	sse_buf_append(o, "|", 1);
	esc(o, ev->id, ev->id_len);
	snprintf(tmp, sizeof(tmp), "|%d|", ev->has_id ? 1 : 0);
	sse_buf_append(o, tmp, strlen(tmp));
	esc(o, ev->data, ev->data_len);
	sse_buf_append(o, "\n", 1);
	/* The strings are NUL-terminated as the header promises. */
	if(ev->type[ev->type_len] || ev->data[ev->data_len] || ev->id[ev->id_len])
		sse_buf_append(o, "NOT TERMINATED\n", 15);
	return 0;
}

static int on_comment(void *ud, const char *text, size_t len)
{
	struct sse_buf *o = &((struct transcript *)ud)->out;

	sse_buf_append(o, "C ", 2);
	esc(o, text, len);
	sse_buf_append(o, "\n", 1);
	return 0;
}

static int on_retry(void *ud, uint64_t ms)
{
	struct sse_buf *o = &((struct transcript *)ud)->out;
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "R %llu\n", (unsigned long long)ms);
	sse_buf_append(o, tmp, strlen(tmp));
	return 0;
}

/*
 * Feed in[0..n) cut at the positions in cuts (ascending, ncuts of them;
 * ncuts == SIZE_MAX means one byte at a time) and write the transcript.
 */
static void run(const char *in, size_t n, size_t max_line, size_t max_event,
		size_t cut, int bytewise, struct sse_buf *out)
{
	struct transcript t;
	struct sse_callbacks cb = { on_event, on_comment, on_retry, &t };
	struct sse_parser *p;
	size_t i, idlen;
	const char *id;
	int rc = 0;

	sse_buf_init(&t.out, 1 << 20);
	p = sse_parser_new(&cb, max_line, max_event);
	if(!p) {
		fprintf(stderr, "out of memory\n");
		exit(99);
	}
	if(bytewise) {
		for(i = 0; i < n && !rc; i++)
			rc = sse_parser_feed(p, in + i, 1);
	} else {
		rc = sse_parser_feed(p, in, cut);
		if(!rc)
			rc = sse_parser_feed(p, in + cut, n - cut);
	}
	if(rc) {
		sse_buf_append(&t.out, "X ", 2);
		sse_buf_append(&t.out, sse_strerror(rc), strlen(sse_strerror(rc)));
		sse_buf_append(&t.out, "\n", 1);
		/* The error is sticky. */
		if(sse_parser_feed(p, "\n", 1) != rc)
			sse_buf_append(&t.out, "ERROR NOT STICKY\n", 17);
	} else {
		sse_parser_end(p);
		id = sse_parser_last_id(p, &idlen);
		sse_buf_append(&t.out, "L ", 2);
		esc(&t.out, id, idlen);
		sse_buf_append(&t.out, "\n", 1);
	}
	sse_parser_free(p);
	sse_buf_clear(out);
	sse_buf_append(out, t.out.data ? t.out.data : "", t.out.len);
	sse_buf_free(&t.out);
}

static int hexval(char c)
{
	if(c >= '0' && c <= '9')
		return c - '0';
	if(c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if(c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Input lines: escapes decoded, the file's line breaks dropped. */
static void unescape_line(const char *s, struct sse_buf *in)
{
	char c;

	for(; *s && *s != '\n'; s++) {
		if(*s != '\\') {
			sse_buf_append(in, s, 1);
			continue;
		}
		s++;
		switch(*s) {
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case '0': c = '\0'; break;
		case '\\': c = '\\'; break;
		case 'x':
			if(hexval(s[1]) < 0 || hexval(s[2]) < 0) {
				fprintf(stderr, "bad \\x escape: %s\n", s);
				exit(99);
			}
			c = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
			break;
		default:
			fprintf(stderr, "bad escape: \\%c\n", *s);
			exit(99);
		}
		sse_buf_append(in, &c, 1);
	}
}

static size_t opt(const char *name, const char *key)
{
	const char *k = strstr(name, key);

	return k ? strtoul(k + strlen(key), NULL, 10) : 0;
}

static void check_case(const char *name, struct sse_buf *in, struct sse_buf *want)
{
	struct sse_buf got;
	size_t cut, ml = opt(name, "max_line="), me = opt(name, "max_event=");
	size_t bad_cut = SIZE_MAX;

	sse_buf_init(&got, 1 << 20);
	run(in->data ? in->data : "", in->len, ml, me, in->len, 0, &got);
	tap_ok(got.len == want->len && !memcmp(got.data, want->data, got.len),
	       "parse: %s (whole)", name);
	if(got.len != want->len || memcmp(got.data, want->data, got.len))
		tap_diag("want:\n%s\ngot:\n%s", want->data ? want->data : "", got.data);

	run(in->data ? in->data : "", in->len, ml, me, 0, 1, &got);
	tap_ok(got.len == want->len && !memcmp(got.data, want->data, got.len),
	       "parse: %s (byte by byte)", name);
	if(got.len != want->len || memcmp(got.data, want->data, got.len))
		tap_diag("got:\n%s", got.data);

	for(cut = 0; cut <= in->len && bad_cut == SIZE_MAX; cut++) {
		run(in->data ? in->data : "", in->len, ml, me, cut, 0, &got);
		if(got.len != want->len || memcmp(got.data, want->data, got.len))
			bad_cut = cut;
	}
	tap_ok(bad_cut == SIZE_MAX, "parse: %s (cut at every position)", name);
	if(bad_cut != SIZE_MAX)
		tap_diag("first bad cut at %zu, got:\n%s", bad_cut, got.data);
	sse_buf_free(&got);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "tests/unit/parse.cases";
	char line[4096], name[256] = "";
	struct sse_buf in, want;
	int state = 0;  /* 0 outside, 1 input, 2 expected */
	FILE *f;

	f = fopen(path, "r");
	if(!f) {
		perror(path);
		return 99;
	}
	sse_buf_init(&in, 1 << 20);
	sse_buf_init(&want, 1 << 20);
	while(fgets(line, sizeof(line), f)) {
		if(!strncmp(line, "=== ", 4)) {
			if(state == 2)
				check_case(name, &in, &want);
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(line + 4, "\n"), line + 4);
			sse_buf_clear(&in);
			sse_buf_clear(&want);
			state = 1;
		} else if(state == 1 && !strcmp(line, "---\n")) {
			state = 2;
		} else if(state == 1) {
			unescape_line(line, &in);
		} else if(state == 2 && line[0] != '\n') {
			sse_buf_append(&want, line, strlen(line));
		}
	}
	if(state == 2)
		check_case(name, &in, &want);
	fclose(f);
	sse_buf_free(&in);
	sse_buf_free(&want);
	return tap_done();
}
