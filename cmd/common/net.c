/*
 * net.c - the libcurl set-up sse-pub and sse-cat share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "net.h"

int net_option(struct net_opts *o, int c, const char *arg)
{
	struct curl_slist *l;

	switch(c) {
	case 'H':
		if(!strchr(arg, ':') || strpbrk(arg, "\r\n"))
			usage_error("--header: '%s' is not 'Name: value'", arg);
		l = curl_slist_append(o->headers, arg);
		if(!l)
			usage_error("out of memory");
		o->headers = l;
		return 1;
	case 'u': o->unix_socket = arg; return 1;
	case 'k': o->insecure = 1; return 1;
	case NET_OPT_CACERT: o->cacert = arg; return 1;
	case NET_OPT_TOKEN: o->token = arg; return 1;
	case 'q': msg_quiet = 1; return 1;
	case 'v': msg_verbose++; return 1;
	default: return 0;
	}
}

void net_finish(struct net_opts *o, const char *url)
{
	char auth[1100];
	struct curl_slist *l;

	if(strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		usage_error("'%s' is not an http:// or https:// URL", url);
	if(!o->token) {
		o->token = getenv("SSE_TOKEN");
		if(o->token && !o->token[0])
			o->token = NULL;
	}
	if(o->token) {
		if(strpbrk(o->token, "\r\n") || strlen(o->token) > 1000)
			usage_error("--token: not a usable token");
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
		l = curl_slist_append(o->headers, auth);
		if(!l)
			usage_error("out of memory");
		o->headers = l;
	}
	if(msg_quiet)
		msg_verbose = 0;
}

CURL *net_easy(const struct net_opts *o, const char *url)
{
	CURL *c = curl_easy_init();

	if(!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ssed/" SSE_COMMON_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if(o->unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
	if(o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if(o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if(o->headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, o->headers);
	return c;
}

const char *net_where(const struct net_opts *o, const char *url, char *buf, size_t size)
{
	if(o->unix_socket)
		snprintf(buf, size, "%s (socket %s)", url, o->unix_socket);
	else
		snprintf(buf, size, "%s", url);
	return buf;
}

void net_free(struct net_opts *o)
{
	curl_slist_free_all(o->headers);
	o->headers = NULL;
}

void net_reason(char *out, size_t size, long status, const char *body, size_t len)
{
	size_t n = 0;

	/* The server's one-line reason, without its line end. */
	while(n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
		n++;
	if(n)
		snprintf(out, size, "HTTP %ld: %.*s", status, (int)n, body);
	else
		snprintf(out, size, "HTTP %ld", status);
}
