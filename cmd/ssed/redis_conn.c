/*
 * redis_conn.c - Redis URLs, passwords from a file or the environment, and
 * a connection that is logged in and on the right database. See
 * redis_conn.h for the contract.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "redis_conn.h"
#include "store.h"

static int hexval(int c)
{
	if(c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if(c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A copy of s[0..n) with %XX decoded, or NULL (bad escape, no memory). */
static char *decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if(!out)
		return NULL;
	for(i = 0; i < n; i++) {
		if(s[i] == '%') {
			int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;

			if(hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

static int parse_long(const char *s, size_t n, long max, long *out)
{
	char buf[24], *end;
	long v;

	if(n == 0 || n >= sizeof(buf) || !isdigit((unsigned char)s[0]))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	v = strtol(buf, &end, 10);
	if(errno || *end || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The query string q[0..n): db=N, log=N, user=NAME, separated by '&'. */
static int parse_query(struct redis_addr *a, const char *q, size_t n, char *err, size_t errlen)
{
	while(n) {
		const char *amp = memchr(q, '&', n), *eq;
		size_t len = amp ? (size_t)(amp - q) : n;

		eq = memchr(q, '=', len);
		if(!eq) {
			snprintf(err, errlen, "redis URL: query parameter without '='");
			return -1;
		}
		if(eq - q == 2 && !memcmp(q, "db", 2)) {
			if(parse_long(eq + 1, len - 3, INT_MAX, &a->db)) {
				snprintf(err, errlen, "redis URL: db must be a number");
				return -1;
			}
		} else if(eq - q == 3 && !memcmp(q, "log", 3)) {
			if(parse_long(eq + 1, len - 4, LONG_MAX, &a->log) || a->log == 0) {
				snprintf(err, errlen, "redis URL: log must be a number above 0");
				return -1;
			}
		} else if(eq - q == 4 && !memcmp(q, "user", 4)) {
			free(a->user);
			a->user = decode(eq + 1, len - 5);
			if(!a->user || !*a->user) {
				snprintf(err, errlen, "redis URL: bad user");
				return -1;
			}
		} else {
			snprintf(err, errlen, "redis URL: unknown query parameter '%.*s'",
				 (int)(eq - q), q);
			return -1;
		}
		q += len;
		n -= len;
		if(n) {
			q++;
			n--;
		}
	}
	return 0;
}

/* user:password@ (password optional), the n bytes before '@'. */
static int parse_userinfo(struct redis_addr *a, const char *s, size_t n, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	size_t ulen = colon ? (size_t)(colon - s) : n;

	if(ulen) {
		a->user = decode(s, ulen);
		if(!a->user) {
			snprintf(err, errlen, "redis URL: bad %%-escape in the user name");
			return -1;
		}
	}
	if(colon) {
		a->pass = decode(colon + 1, n - ulen - 1);
		if(!a->pass) {
			snprintf(err, errlen, "redis URL: bad %%-escape in the password");
			return -1;
		}
	}
	return 0;
}

static int parse_tcp(struct redis_addr *a, const char *s, char *err, size_t errlen)
{
	const char *end = s + strcspn(s, "/?"), *at, *h, *hend, *port = NULL;
	long v;

	/* The last '@' before the path: a password may contain '@' unescaped. */
	for(at = end; at > s && at[-1] != '@'; at--)
		;
	if(at > s && parse_userinfo(a, s, (size_t)(at - 1 - s), err, errlen))
		return -1;
	h = at;
	if(*h == '[') {
		hend = memchr(h, ']', (size_t)(end - h));
		if(!hend) {
			snprintf(err, errlen, "redis URL: '[' without ']' in the host");
			return -1;
		}
		a->host = strndup(h + 1, (size_t)(hend - h - 1));
		hend++;
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		if(!hend)
			hend = end;
		a->host = strndup(h, (size_t)(hend - h));
	}
	if(!a->host || !*a->host) {
		snprintf(err, errlen, "redis URL: no host");
		return -1;
	}
	if(hend < end) {
		if(*hend != ':') {
			snprintf(err, errlen, "redis URL: unexpected text after the host");
			return -1;
		}
		port = hend + 1;
		if(parse_long(port, (size_t)(end - port), 65535, &v) || v == 0) {
			snprintf(err, errlen, "redis URL: port must be a number from 1 to 65535");
			return -1;
		}
		a->port = (int)v;
	}
	if(*end == '/') {
		const char *db = end + 1;
		size_t n = strcspn(db, "?");

		if(n && parse_long(db, n, INT_MAX, &a->db)) {
			snprintf(err, errlen, "redis URL: the path must be a database number");
			return -1;
		}
		end = db + n;
	}
	if(*end == '?')
		return parse_query(a, end + 1, strlen(end + 1), err, errlen);
	return 0;
}

int redis_addr_parse(struct redis_addr *a, const char *url, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->port = 6379;
	if(!strncmp(url, "redis://", 8))
		return parse_tcp(a, url + 8, err, errlen);
	if(!strncmp(url, "unix://", 7)) {
		const char *p = url + 7;
		size_t n = strcspn(p, "?");

		if(n == 0 || p[0] != '/') {
			snprintf(err, errlen, "redis URL: unix:// needs an absolute socket path");
			return -1;
		}
		a->path = strndup(p, n);
		if(!a->path) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if(p[n] == '?')
			return parse_query(a, p + n + 1, strlen(p + n + 1), err, errlen);
		return 0;
	}
	snprintf(err, errlen, "redis URL must start with redis:// or unix://");
	return -1;
}

/* The password does not outlive its use in memory we free. */
static void wipe_free(char *secret)
{
	volatile char *p = secret;

	if(!secret)
		return;
	while(*p)
		*p++ = 0;
	free(secret);
}

void redis_addr_free(struct redis_addr *a)
{
	free(a->host);
	free(a->path);
	free(a->user);
	wipe_free(a->pass);
	memset(a, 0, sizeof(*a));
}

int redis_addr_password(struct redis_addr *a, const char *pass)
{
	char *copy = strdup(pass);

	if(!copy)
		return -1;
	wipe_free(a->pass);
	a->pass = copy;
	return 0;
}

static struct timeval ms_tv(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

/* Run one command; 0 when its reply is not an error. */
static int simple(redisContext *c, int argc, const char **argv, const char *what,
		  char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	int rc = 0;

	if(!r) {
		snprintf(err, errlen, "redis: %s: %s", what, c->errstr);
		return -1;
	}
	if(r->type == REDIS_REPLY_ERROR) {
		/* Redis's own message; it never repeats the password. */
		snprintf(err, errlen, "redis: %s: %s", what, r->str);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

redisContext *redis_dial(const struct redis_addr *a, int connect_ms, int cmd_ms,
			 char *err, size_t errlen)
{
	redisContext *c;

	if(a->path)
		c = redisConnectUnixWithTimeout(a->path, ms_tv(connect_ms));
	else
		c = redisConnectWithTimeout(a->host, a->port, ms_tv(connect_ms));
	if(!c) {
		snprintf(err, errlen, "redis: out of memory");
		return NULL;
	}
	if(c->err) {
		if(a->path)
			snprintf(err, errlen, "redis: cannot connect to %s: %s", a->path, c->errstr);
		else
			snprintf(err, errlen, "redis: cannot connect to %s port %d: %s",
				 a->host, a->port, c->errstr);
		goto fail;
	}
	if(redisSetTimeout(c, ms_tv(cmd_ms)) != REDIS_OK) {
		snprintf(err, errlen, "redis: cannot set a timeout: %s", c->errstr);
		goto fail;
	}
	if(a->pass) {
		const char *argv[3] = { "AUTH", a->user ? a->user : a->pass, a->pass };

		if(simple(c, a->user ? 3 : 2, argv, "authentication failed", err, errlen))
			goto fail;
	}
	if(a->db) {
		char db[24];
		const char *argv[2] = { "SELECT", db };

		snprintf(db, sizeof(db), "%ld", a->db);
		if(simple(c, 2, argv, "SELECT", err, errlen))
			goto fail;
	}
	return c;
fail:
	redisFree(c);
	return NULL;
}

int store_redis_secret(const char *from, char *buf, size_t len, char *err, size_t errlen)
{
	const char *v;
	size_t n;

	if(!strncmp(from, "env:", 4)) {
		v = getenv(from + 4);
		if(!v || !*v) {
			snprintf(err, errlen, "the environment variable %s is not set", from + 4);
			return -1;
		}
		n = strlen(v);
		if(n >= len) {
			snprintf(err, errlen, "the password in %s is too long", from + 4);
			return -1;
		}
		memcpy(buf, v, n + 1);
		return 0;
	}
	if(!strncmp(from, "file:", 5)) {
		FILE *f = fopen(from + 5, "r");

		if(!f) {
			snprintf(err, errlen, "cannot read %s: %s", from + 5, strerror(errno));
			return -1;
		}
		if(!fgets(buf, (int)(len > INT_MAX ? INT_MAX : len), f)) {
			fclose(f);
			snprintf(err, errlen, "%s is empty", from + 5);
			return -1;
		}
		fclose(f);
		n = strcspn(buf, "\r\n");
		if(!buf[n] && n + 1 == len) {
			snprintf(err, errlen, "the password in %s is too long", from + 5);
			return -1;
		}
		buf[n] = 0;
		if(!n) {
			snprintf(err, errlen, "%s starts with an empty line", from + 5);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "a password source is env:NAME or file:PATH");
	return -1;
}
