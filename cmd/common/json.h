/*
 * json.h - the little JSON the clients need: sse-cat writes strings
 * (-o json, %j), sse-pub --json reads one object a line.
 *
 * The reader is strict RFC 8259 (no comments, no trailing commas, no
 * single quotes, valid UTF-8, no lone surrogates) and nests at most
 * JSON_MAX_DEPTH deep. It does not build a tree: json_object() walks one
 * object and reports each top-level member to a callback.
 */
#ifndef SSE_JSON_H
#define SSE_JSON_H

#include <stddef.h>

#include "sse.h"

#define JSON_MAX_DEPTH 64

/* json_str - append s (n bytes) to o as a JSON string, quotes included.
 * Returns 0 or the buffer's error. */
int json_str(struct sse_buf *o, const char *s, size_t n);

/* The kinds of value a member may hold. */
enum json_kind { JSON_STRING, JSON_NUMBER, JSON_OBJECT, JSON_ARRAY, JSON_TRUE, JSON_FALSE, JSON_NULL };

/*
 * A member of the object being read, valid during the callback only.
 *   key, key_len    the decoded key
 *   kind            the value's kind
 *   text, text_len  the value's JSON text as written (for a string, with
 *                   its quotes)
 *   str, str_len    for a string, its decoded bytes (NUL-terminated; may
 *                   hold NUL bytes of its own); NULL otherwise
 */
struct json_member {
	const char *key;
	size_t key_len;
	enum json_kind kind;
	const char *text;
	size_t text_len;
	const char *str;
	size_t str_len;
};

/*
 * json_object - read s (n bytes) as exactly one JSON object, surrounded by
 * nothing but white space, and call cb for each of its members in order.
 * A callback that returns non-zero stops the walk and json_object returns
 * that value. Decoded strings go into scratch (cleared first; its maximum
 * bounds them). Returns 0, the callback's value, or -1 with a reason in
 * err (err_size bytes, "expected ':' at byte 12").
 */
int json_object(const char *s, size_t n, struct sse_buf *scratch,
		int (*cb)(void *ud, const struct json_member *m), void *ud,
		char *err, size_t err_size);

#endif
