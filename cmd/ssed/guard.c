/*
 * guard.c - checks a request passes before ssed acts on it (see guard.h).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "guard.h"
#include "ssed.h"

/* What one query parameter costs in libmicrohttpd's pool, rounded up
 * (a header record of 48 bytes plus alignment), and the part of the pool
 * a query may take: the rest is for the header lines and the reply. */
#define ARG_COST 64
#define QUERY_SHARE(pool) ((pool) / 4 * 3)

/* The markers guard_uri returns; constant, never written. */
static const char markers[2];

void *guard_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	const struct ssed_config *cfg = cls;
	const char *q, *p;
	size_t args = 0, len;

	(void)c;
	if(!uri)
		return NULL;
	len = strlen(uri);
	q = strchr(uri, '?');
	if(q && q[1]) {
		args = 1;
		for(p = q + 1; *p; p++)
			args += *p == '&';
	}
	if(args && len + ARG_COST * args > QUERY_SHARE(cfg->conn_memory)) {
		/* libmicrohttpd has found the '?' and will cut the target
		 * there; what follows is its read buffer, ours to empty. */
		((char *)q)[1] = '\0';
		return (void *)(uintptr_t)&markers[0];
	}
	for(p = strchr(uri, '%'); p; p = strchr(p + 1, '%'))
		if(p[1] == '0' && p[2] == '0')
			return (void *)(uintptr_t)&markers[1];
	/* libmicrohttpd has ended the target with a NUL where the space
	 * before the version was, so the version follows at once. Anything
	 * else there means a raw NUL inside the target ("/a\0zz HTTP/1.1"):
	 * a proxy would read the whole of it, libmicrohttpd only "/a". A line
	 * without a version (HTTP/0.9) is refused the same way. */
	if(strncmp(uri + len + 1, "HTTP/", 5))
		return (void *)(uintptr_t)&markers[1];
	return NULL;
}

enum guard_verdict guard_uri_verdict(const void *req_cls)
{
	if(req_cls == &markers[0])
		return GUARD_TOO_BIG;
	if(req_cls == &markers[1])
		return GUARD_NUL;
	return GUARD_OK;
}

/* ---- the head's size */

static enum MHD_Result add_cost(void *cls, enum MHD_ValueKind kind, const char *key,
				size_t key_len, const char *value, size_t value_len)
{
	(void)kind;
	(void)key;
	(void)value;
	*(size_t *)cls += key_len + value_len + 4 + ARG_COST;
	return MHD_YES;
}

int guard_head_fits(struct MHD_Connection *c, const char *method, const char *url,
		    const char *version, size_t pool, size_t reply_extra)
{
	size_t cost = strlen(method) + strlen(url) + strlen(version) + 4;

	/* The line and header bytes as read, a record for each header and
	 * parameter, and for the cookies a copy of their header and a record
	 * each: all of it shares the pool with the reply's headers. */
	MHD_get_connection_values_n(c, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND | MHD_COOKIE_KIND,
				    add_cost, &cost);
	return cost + reply_extra <= GUARD_HEAD_MAX(pool) ? 0 : -1;
}

/* ---- framing */

struct framing {
	const char *cl;            /* the first Content-Length */
	size_t cl_len;
	int cl_n, te_n;
	const char *why;
};

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for(i = 0; i < n; i++)
		if(s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      size_t key_size, const char *value, size_t value_size)
{
	struct framing *f = cls;

	(void)kind;
	if(!value)
		value = "";
	if(key_size == 14 && !strncasecmp(key, "Content-Length", 14)) {
		if(!all_digits(value, value_size))
			f->why = "bad Content-Length";
		else if(f->cl_n++ && (f->cl_len != value_size || memcmp(f->cl, value, value_size)))
			f->why = "two different Content-Length headers";
		f->cl = f->cl ? f->cl : value;
		f->cl_len = f->cl_len ? f->cl_len : value_size;
	} else if(key_size == 17 && !strncasecmp(key, "Transfer-Encoding", 17)) {
		if(f->te_n++ || value_size != 7 || strncasecmp(value, "chunked", 7))
			f->why = "a transfer coding other than chunked";
	}
	return f->why ? MHD_NO : MHD_YES;
}

const char *guard_framing(struct MHD_Connection *c)
{
	struct framing f;

	memset(&f, 0, sizeof(f));
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, framing_header, &f);
	if(!f.why && f.cl_n && f.te_n)
		f.why = "Content-Length with Transfer-Encoding";
	return f.why;
}

/* ---- NUL bytes */

struct nul_scan {
	const char *lo, *hi;       /* the header block in the read buffer */
	const char *next;          /* where the next header line may start */
	int bad;
};

/* Only NUL bytes, at most max of them, from p to q. */
static int only_nuls(const char *p, const char *q, size_t max)
{
	if(q < p || (size_t)(q - p) > max)
		return 0;
	for(; p < q; p++)
		if(*p)
			return 0;
	return 1;
}

/*
 * libmicrohttpd 0.9.75 turns "Key: value\r\n" into "Key\0 value\0\0" in
 * place: after a value's end come one NUL (a bare LF) or two (CR LF), then
 * the next line. Anything else there is what a NUL in the value hid.
 */
static enum MHD_Result nul_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	struct nul_scan *s = cls;
	const char *p;

	if(kind == MHD_GET_ARGUMENT_KIND) {
		if(memchr(key, '\0', key_size) || (value && memchr(value, '\0', value_size)))
			s->bad = 1;
		return s->bad ? MHD_NO : MHD_YES;
	}
	if(kind != MHD_HEADER_KIND || !s->lo)
		return MHD_YES;
	if(!value || key < s->next || value < key + key_size || value + value_size >= s->hi) {
		s->bad = 1;  /* moved: a folded line */
		return MHD_NO;
	}
	if(!only_nuls(s->next, key, 1))
		s->bad = 1;
	for(p = key + key_size + 1; p < value; p++)
		if(*p != ' ' && *p != '\t')
			s->bad = 1;
	s->next = value + value_size + 1;
	return s->bad ? MHD_NO : MHD_YES;
}

int guard_nul(struct MHD_Connection *c, const char *method, const char *version)
{
	const union MHD_ConnectionInfo *ci;
	struct nul_scan s;

	memset(&s, 0, sizeof(s));
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if(ci && version > method && version < method + ci->header_size) {
		s.lo = method;
		s.hi = method + ci->header_size;
		s.next = version + strlen(version) + 1;
	}
	MHD_get_connection_values_n(c, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, nul_header, &s);
	/* After the last line: its end and the empty line, NULs only. */
	if(!s.bad && s.lo && !only_nuls(s.next, s.hi, 3))
		s.bad = 1;
	return s.bad ? -1 : 0;
}

/* ---- Host and Origin */

/* The host part of a Host value (or of an origin's authority), in out. */
static int host_part(const char *v, size_t n, char *out, size_t size)
{
	const char *end = v + n, *colon;

	if(n && v[0] == '[') {
		colon = memchr(v, ']', n);
		if(!colon)
			return -1;
		v++;
		end = colon;
	} else {
		colon = memchr(v, ':', n);
		if(colon)
			end = colon;
	}
	if(end == v || (size_t)(end - v) >= size)
		return -1;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
	return 0;
}

static int is_loopback_name(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;
	size_t n = strlen(h);

	if(!strcasecmp(h, "localhost") || (n > 10 && !strcasecmp(h + n - 10, ".localhost")))
		return 1;
	if(inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if(inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

int guard_host(struct MHD_Connection *c, const struct ssed_config *cfg)
{
	const char *v = NULL;
	char host[256];
	size_t n = 0, i;

	if(!cfg->host_check)
		return 0;
	if(MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Host", 4, &v, &n) != MHD_YES || !v)
		return 0;  /* HTTP/1.0 without Host: no browser */
	if(host_part(v, n, host, sizeof(host)))
		return -1;
	if(is_loopback_name(host))
		return 0;
	for(i = 0; i < cfg->nallow_hosts; i++)
		if(!strcasecmp(host, cfg->allow_hosts[i]))
			return 0;
	return -1;
}

int guard_origin(struct MHD_Connection *c, const struct ssed_config *cfg)
{
	const char *o, *h, *auth;

	o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if(!o)
		return 0;
	if(cfg->cors && (!strcmp(cfg->cors, "*") || !strcmp(cfg->cors, o)))
		return 0;
	/* The same origin: the page ssed served itself (scheme://Host). */
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	auth = strstr(o, "://");
	if(h && auth && !strncmp(o, "http", 4) && !strcasecmp(auth + 3, h))
		return 0;
	return -1;
}

/* ---- the log */

void guard_escape(char *out, size_t size, const char *s)
{
	static const char hexd[] = "0123456789abcdef";
	size_t o = 0;

	if(!size)
		return;
	for(; *s && o + 1 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if(ch < 0x20 || ch == 0x7f) {
			if(o + 4 > size)
				break;
			out[o++] = '%';
			out[o++] = hexd[ch >> 4];
			out[o++] = hexd[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}
