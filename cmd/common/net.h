/*
 * net.h - the libcurl set-up sse-pub and sse-cat share: URL checks, Unix
 * sockets, TLS options, extra headers and the bearer token.
 */
#ifndef SSE_NET_H
#define SSE_NET_H

#include <curl/curl.h>

/* Option ids both clients use (getopt_long values above 255). */
enum net_opt_id {
	NET_OPT_CACERT = 300,
	NET_OPT_TOKEN
};

struct net_opts {
	const char *unix_socket;   /* -u */
	const char *cacert;        /* --cacert */
	const char *token;         /* --token, or SSE_TOKEN */
	int insecure;              /* -k */
	struct curl_slist *headers;/* -H, and the Authorization header */
};

/*
 * net_option - take a shared option (-H, -u, -k, --cacert, --token).
 * Returns 1 when c was one of them, 0 otherwise. Exits on a bad value.
 */
int net_option(struct net_opts *o, int c, const char *arg);

/*
 * net_finish - after the options: check url (http or https), read
 * SSE_TOKEN when no --token was given, and build the header list.
 */
void net_finish(struct net_opts *o, const char *url);

/* net_easy - a new handle for url with every shared setting applied. */
CURL *net_easy(const struct net_opts *o, const char *url);

/*
 * net_where - what messages name as the peer: the URL, and the socket when
 * -u is given ("http://x/events (socket /run/ssed.sock)").
 */
const char *net_where(const struct net_opts *o, const char *url, char *buf, size_t size);

/* net_free - free what net_finish built. */
void net_free(struct net_opts *o);

/* net_reason - "HTTP 404: not found" from a status and a reply body. */
void net_reason(char *out, size_t size, long status, const char *body, size_t len);

/* The help lines of the shared options. */
#define NET_HELP \
"  -H, --header 'NAME: VALUE'  add a request header (repeatable)\n" \
"  -u, --unix-socket PATH      connect through this Unix socket\n" \
"  -k, --insecure              do not verify the server's TLS certificate\n" \
"      --cacert FILE           verify TLS with the CA certificates in FILE\n" \
"      --token TOKEN           send 'Authorization: Bearer TOKEN' (or set SSE_TOKEN)\n" \
"  -v, --verbose               connection notes on stderr\n" \
"  -q, --quiet                 print errors only\n" \
"  -h, --help                  show this help and exit\n" \
"  -V, --version               show the version and exit\n"

#define NET_LONG_OPTS \
	{ "cacert", required_argument, NULL, NET_OPT_CACERT }, \
	{ "header", required_argument, NULL, 'H' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "insecure", no_argument, NULL, 'k' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "token", required_argument, NULL, NET_OPT_TOKEN }, \
	{ "unix-socket", required_argument, NULL, 'u' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "version", no_argument, NULL, 'V' }

#define NET_SHORT_OPTS "H:hkqu:vV"

#endif
