/*
 * test_json.c - the clients' JSON (cmd/common/json.c): strings written
 * exactly as JSON needs them, and the strict one-object reader: what it
 * accepts, what it names as wrong, and the members it reports.
 *
 * json.c is included, not linked: the unit-test rule links libsse alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.c"
#include "tap.h"

struct seen {
	char text[1024];
};

static int collect(void *ud, const struct json_member *m)
{
	struct seen *s = ud;
	size_t n = strlen(s->text);

	/* key=kind:value, strings decoded, others as written */
	snprintf(s->text + n, sizeof(s->text) - n, "%s%.*s=%d:%.*s", n ? " " : "",
		 (int)m->key_len, m->key, (int)m->kind,
		 (int)(m->str ? m->str_len : m->text_len), m->str ? m->str : m->text);
	return 0;
}

static void reads_as(const char *in, const char *want)
{
	struct sse_buf scratch;
	struct seen s = { "" };
	char err[200] = "";
	int rc;

	sse_buf_init(&scratch, 1 << 20);
	rc = json_object(in, strlen(in), &scratch, collect, &s, err, sizeof(err));
	if(!tap_ok(rc == 0 && !strcmp(s.text, want), "reads %s", in))
		tap_diag("rc %d (%s), got '%s', want '%s'", rc, err, s.text, want);
	sse_buf_free(&scratch);
}

static void rejects(const char *in, size_t len, const char *why)
{
	struct sse_buf scratch;
	struct seen s = { "" };
	char err[200] = "", name[100];
	size_t i;
	int rc;

	/* The test's name shows bytes that are not printable ASCII as '?'. */
	for(i = 0; i < len && i < sizeof(name) - 1; i++)
		name[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	name[i] = '\0';
	sse_buf_init(&scratch, 1 << 20);
	rc = json_object(in, len, &scratch, collect, &s, err, sizeof(err));
	if(!tap_ok(rc == -1 && !strcmp(err, why), "rejects %s", name))
		tap_diag("rc %d, said '%s', want '%s'", rc, err, why);
	sse_buf_free(&scratch);
}

static void writes_as(const char *in, size_t len, const char *want)
{
	struct sse_buf b;

	sse_buf_init(&b, 1 << 20);
	json_str(&b, in, len);
	if(!tap_ok(b.len == strlen(want) && !memcmp(b.data, want, b.len), "writes %zu bytes as %s", len, want))
		tap_diag("got '%.*s'", (int)b.len, b.data ? b.data : "");
	sse_buf_free(&b);
}

int main(void)
{
	writes_as("plain", 5, "\"plain\"");
	writes_as("q\"b\\", 4, "\"q\\\"b\\\\\"");
	writes_as("\n\r\t\x01\x7f", 5, "\"\\n\\r\\t\\u0001\\u007f\"");
	writes_as("a\0b", 3, "\"a\\u0000b\"");
	writes_as("\xc3\xa9", 2, "\"\xc3\xa9\"");

	reads_as("{}", "");
	reads_as(" {\"data\":\"x\"} \r", "data=0:x");
	reads_as("{\"data\":\"a\\nb\\u00e9\\ud83d\\ude00\\/\"}", "data=0:a\nb\xc3\xa9\xf0\x9f\x98\x80/");
	reads_as("{\"n\":-1.5e+3,\"t\":true,\"f\":false,\"z\":null}", "n=1:-1.5e+3 t=4:true f=5:false z=6:null");
	reads_as("{\"o\":{\"a\":[1,{\"b\":\"\\\"\"}]},\"e\":[]}", "o=2:{\"a\":[1,{\"b\":\"\\\"\"}]} e=3:[]");
	reads_as("{\"k\\u0041\":0}", "kA=1:0");

	rejects("", 0, "expected a JSON object at the end of the line");
	rejects("[]", 2, "expected a JSON object at byte 1");
	rejects("{\"a\":1,}", 8, "expected a key at byte 8");
	rejects("{'a':1}", 7, "expected a key at byte 2");
	rejects("{\"a\" 1}", 7, "expected ':' at byte 6");
	rejects("{\"a\":1} x", 9, "text after the object at byte 9");
	rejects("{\"a\":01}", 8, "expected ',' or '}' at byte 7");
	rejects("{\"a\":1.}", 8, "a bad number at byte 8");
	rejects("{\"a\":tru}", 9, "an unexpected character at byte 6");
	rejects("{\"a\":\"\\ud800\"}", 14, "a lone surrogate at byte 13");
	rejects("{\"a\":\"\\udc00\"}", 14, "a lone surrogate at byte 13");
	rejects("{\"a\":\"\\x\"}", 10, "a bad escape at byte 8");
	rejects("{\"a\":\"\x01\"}", 9, "a control character in a string at byte 7");
	rejects("{\"a\":\"\xff\"}", 9, "invalid UTF-8 at byte 7");
	rejects("{\"a\":\"\xed\xa0\x80\"}", 11, "invalid UTF-8 at byte 7");
	rejects("{\"a\":\"\xc0\xaf\"}", 10, "invalid UTF-8 at byte 7");
	rejects("{\"a\":\"x", 7, "an unterminated string at the end of the line");
	rejects("{\"a\":[1 2]}", 11, "expected ',' or ']' at byte 9");
	rejects("{\"a\":1}\0", 8, "text after the object at byte 8");
	{
		/* Nesting is bounded. */
		char deep[200];
		int i;

		strcpy(deep, "{\"a\":");
		for(i = 0; i < 70; i++)
			strcat(deep, "[");
		rejects(deep, strlen(deep), "nesting too deep at byte 70");
	}
	return tap_done();
}
