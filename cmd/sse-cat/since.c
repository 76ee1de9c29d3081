/*
 * since.c - the query that asks ssed for history (see since.h).
 */
#include <stdlib.h>
#include <string.h>

#include "since.h"

#define ID_MAX 256

int since_ok(const char *v)
{
	size_t n = strlen(v);

	if(n >= 3 && !strncmp(v, "id:", 3))
		n -= 3;  /* an id that looks like a number or a duration */
	return n > 0 && n <= ID_MAX && !strpbrk(v, "\r\n");
}

/* Append s percent-encoded (all but unreserved characters) at p. */
static char *encode(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for(; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		   c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	return p;
}

char *since_url(const char *url, const char *since, int poll)
{
	size_t ulen = strcspn(url, "#");  /* a fragment is never sent */
	char *u = malloc(ulen + (since ? 3 * strlen(since) : 0) + 32), *p;
	char sep = memchr(url, '?', ulen) ? '&' : '?';

	if(!u)
		return NULL;
	memcpy(u, url, ulen);
	p = u + ulen;
	if(since) {
		*p++ = sep;
		memcpy(p, "since=", 6);
		p = encode(p + 6, since);
		sep = '&';
	}
	if(poll) {
		*p++ = sep;
		memcpy(p, "poll=1", 6);
		p += 6;
	}
	*p = '\0';
	return u;
}
