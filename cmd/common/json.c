/*
 * json.c - JSON strings out, one JSON object in (see json.h).
 *
 * The reader is a recursive-descent walk over the text. Only the top-level
 * members are reported; nested values are checked and passed over, so the
 * caller gets their exact text. Decoded strings are appended to one scratch
 * buffer and handed out by offset, so a long line costs one buffer, not
 * one allocation per string.
 */
#include <stdio.h>
#include <string.h>

#include "json.h"

int json_str(struct sse_buf *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[6];
	size_t i, run = 0;
	int rc = sse_buf_append(o, "\"", 1);

	for(i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];

		if(c >= 0x20 && c != 0x7f && c != '"' && c != '\\') {
			run++;  /* plain bytes (valid UTF-8 from the parser) go in runs */
			continue;
		}
		if(run)
			rc = sse_buf_append(o, s + i - run, run);
		run = 0;
		if(c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			rc = rc ? rc : sse_buf_append(o, e, 2);
		} else if(c == '\n') {
			rc = rc ? rc : sse_buf_append(o, "\\n", 2);
		} else if(c == '\r') {
			rc = rc ? rc : sse_buf_append(o, "\\r", 2);
		} else if(c == '\t') {
			rc = rc ? rc : sse_buf_append(o, "\\t", 2);
		} else {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			rc = rc ? rc : sse_buf_append(o, e, 6);
		}
	}
	if(run && !rc)
		rc = sse_buf_append(o, s + n - run, run);
	return rc ? rc : sse_buf_append(o, "\"", 1);
}

struct rd {
	const char *s;
	size_t n, i;
	struct sse_buf *scratch;
	char *err;
	size_t err_size;
};

static int fail(struct rd *r, const char *what)
{
	if(r->i >= r->n)
		snprintf(r->err, r->err_size, "%s at the end of the line", what);
	else
		snprintf(r->err, r->err_size, "%s at byte %zu", what, r->i + 1);
	return -1;
}

static void ws(struct rd *r)
{
	while(r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' ||
			      r->s[r->i] == '\n' || r->s[r->i] == '\r'))
		r->i++;
}

static int hex4(struct rd *r, unsigned *out)
{
	unsigned v = 0;
	int k;

	if(r->n - r->i < 4)
		return fail(r, "a short \\u escape");
	for(k = 0; k < 4; k++) {
		char c = r->s[r->i++];

		v <<= 4;
		if(c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if(c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if(c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(r, "a bad \\u escape");
	}
	*out = v;
	return 0;
}

static int put_utf8(struct rd *r, unsigned cp)
{
	char u[4];
	size_t k;

	if(cp < 0x80) {
		u[0] = (char)cp; k = 1;
	} else if(cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); k = 2;
	} else if(cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 63));
		u[2] = (char)(0x80 | (cp & 63)); k = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 63));
		u[2] = (char)(0x80 | (cp >> 6 & 63)); u[3] = (char)(0x80 | (cp & 63)); k = 4;
	}
	return r->scratch && sse_buf_append(r->scratch, u, k) ? fail(r, "a string too long") : 0;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k, i;
	unsigned cp;

	if(s[0] < 0x80)
		return 1;
	if(s[0] >= 0xc2 && s[0] <= 0xdf) { k = 2; cp = s[0] & 31; }
	else if(s[0] >= 0xe0 && s[0] <= 0xef) { k = 3; cp = s[0] & 15; }
	else if(s[0] >= 0xf0 && s[0] <= 0xf4) { k = 4; cp = s[0] & 7; }
	else return 0;
	if(n < k)
		return 0;
	for(i = 1; i < k; i++) {
		if((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 63);
	}
	if((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	   (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

/* A string at r->i (on its quote); decoded into scratch when it is set. */
static int string(struct rd *r)
{
	unsigned cp, lo;
	size_t k;

	r->i++;
	for(;;) {
		unsigned char c;

		if(r->i >= r->n)
			return fail(r, "an unterminated string");
		c = (unsigned char)r->s[r->i];
		if(c == '"') {
			r->i++;
			return 0;
		}
		if(c < 0x20)
			return fail(r, "a control character in a string");
		if(c != '\\') {
			k = utf8_len((const unsigned char *)r->s + r->i, r->n - r->i);
			if(!k)
				return fail(r, "invalid UTF-8");
			if(r->scratch && sse_buf_append(r->scratch, r->s + r->i, k))
				return fail(r, "a string too long");
			r->i += k;
			continue;
		}
		if(++r->i >= r->n)
			return fail(r, "an unterminated string");
		c = (unsigned char)r->s[r->i++];
		switch(c) {
		case '"': case '\\': case '/': cp = c; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if(hex4(r, &cp))
				return -1;
			if(cp >= 0xdc00 && cp <= 0xdfff)
				return fail(r, "a lone surrogate");
			if(cp >= 0xd800 && cp <= 0xdbff) {
				if(r->n - r->i < 6 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u')
					return fail(r, "a lone surrogate");
				r->i += 2;
				if(hex4(r, &lo))
					return -1;
				if(lo < 0xdc00 || lo > 0xdfff)
					return fail(r, "a lone surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			break;
		default:
			r->i--;
			return fail(r, "a bad escape");
		}
		if(put_utf8(r, cp))
			return -1;
	}
}

static int digits(struct rd *r)
{
	size_t start = r->i;

	while(r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
		r->i++;
	return r->i > start ? 0 : fail(r, "a bad number");
}

static int number(struct rd *r)
{
	if(r->s[r->i] == '-')
		r->i++;
	if(r->i < r->n && r->s[r->i] == '0')
		r->i++;
	else if(digits(r))
		return -1;
	if(r->i < r->n && r->s[r->i] == '.') {
		r->i++;
		if(digits(r))
			return -1;
	}
	if(r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
		r->i++;
		if(r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
			r->i++;
		if(digits(r))
			return -1;
	}
	return 0;
}

static int word(struct rd *r, const char *w)
{
	size_t k = strlen(w);

	if(r->n - r->i < k || memcmp(r->s + r->i, w, k))
		return fail(r, "an unexpected character");
	r->i += k;
	return 0;
}

static int value(struct rd *r, int depth, enum json_kind *kind);

/* An object or array at r->i, checked and passed over (nested values). */
static int container(struct rd *r, int depth, char close)
{
	enum json_kind kind;

	if(depth > JSON_MAX_DEPTH)
		return fail(r, "nesting too deep");
	r->i++;
	ws(r);
	if(r->i < r->n && r->s[r->i] == close) {
		r->i++;
		return 0;
	}
	for(;;) {
		if(close == '}') {
			if(r->i >= r->n || r->s[r->i] != '"')
				return fail(r, "expected a key");
			if(string(r))
				return -1;
			ws(r);
			if(r->i >= r->n || r->s[r->i] != ':')
				return fail(r, "expected ':'");
			r->i++;
			ws(r);
		}
		if(value(r, depth + 1, &kind))
			return -1;
		ws(r);
		if(r->i < r->n && r->s[r->i] == ',') {
			r->i++;
			ws(r);
			continue;
		}
		if(r->i < r->n && r->s[r->i] == close) {
			r->i++;
			return 0;
		}
		return fail(r, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value(struct rd *r, int depth, enum json_kind *kind)
{
	struct sse_buf *keep = r->scratch;
	int rc;

	if(r->i >= r->n)
		return fail(r, "expected a value");
	switch(r->s[r->i]) {
	case '"': *kind = JSON_STRING; return string(r);
	case '{': *kind = JSON_OBJECT; break;
	case '[': *kind = JSON_ARRAY; break;
	case 't': *kind = JSON_TRUE; return word(r, "true");
	case 'f': *kind = JSON_FALSE; return word(r, "false");
	case 'n': *kind = JSON_NULL; return word(r, "null");
	default:
		if(r->s[r->i] == '-' || (r->s[r->i] >= '0' && r->s[r->i] <= '9')) {
			*kind = JSON_NUMBER;
			return number(r);
		}
		return fail(r, "expected a value");
	}
	r->scratch = NULL;  /* nested strings are checked, not decoded */
	rc = container(r, depth, *kind == JSON_OBJECT ? '}' : ']');
	r->scratch = keep;
	return rc;
}

int json_object(const char *s, size_t n, struct sse_buf *scratch,
		int (*cb)(void *ud, const struct json_member *m), void *ud,
		char *err, size_t err_size)
{
	struct rd r = { s, n, 0, scratch, err, err_size };
	struct json_member m;
	size_t key_off, str_off, start;
	int rc;

	sse_buf_clear(scratch);
	ws(&r);
	if(r.i >= n || s[r.i] != '{')
		return fail(&r, "expected a JSON object");
	r.i++;
	ws(&r);
	if(r.i < n && s[r.i] == '}') {
		r.i++;
	} else {
		for(;;) {
			memset(&m, 0, sizeof(m));
			if(r.i >= n || s[r.i] != '"')
				return fail(&r, "expected a key");
			key_off = scratch->len;
			if(string(&r))
				return -1;
			m.key_len = scratch->len - key_off;
			if(sse_buf_append(scratch, "", 1))
				return fail(&r, "a string too long");
			ws(&r);
			if(r.i >= n || s[r.i] != ':')
				return fail(&r, "expected ':'");
			r.i++;
			ws(&r);
			start = r.i;
			str_off = scratch->len;
			if(value(&r, 1, &m.kind))
				return -1;
			m.text = s + start;
			m.text_len = r.i - start;
			if(m.kind == JSON_STRING) {
				m.str_len = scratch->len - str_off;
				if(sse_buf_append(scratch, "", 1))
					return fail(&r, "a string too long");
			}
			/* Offsets, not pointers: the scratch buffer may move as it grows. */
			m.key = scratch->data + key_off;
			m.str = m.kind == JSON_STRING ? scratch->data + str_off : NULL;
			rc = cb(ud, &m);
			if(rc)
				return rc;
			ws(&r);
			if(r.i < n && s[r.i] == ',') {
				r.i++;
				ws(&r);
				continue;
			}
			if(r.i < n && s[r.i] == '}') {
				r.i++;
				break;
			}
			return fail(&r, "expected ',' or '}'");
		}
	}
	ws(&r);
	if(r.i < n)
		return fail(&r, "text after the object");
	return 0;
}
