/*
 * ssed.h - what the broker's files share: the configuration and the HTTP
 * glue's entry points.
 */
#ifndef SSED_H
#define SSED_H

#include <microhttpd.h>
#include <stddef.h>

#include "hub.h"

struct fan;
struct jwtkey;
struct tls;

struct ssed_config {
	size_t history;
	size_t history_bytes;
	size_t max_topics;
	size_t max_subscribers;
	size_t max_body;
	double heartbeat;          /* seconds; 0 turns heartbeats off */
	long long retry_ms;        /* -1: send no retry field */
	unsigned timeout;          /* seconds without progress before a close */
	double header_timeout;     /* seconds a request's headers may take; 0: no limit */
	unsigned threads;          /* HTTP threads per listener */
	unsigned delivery_threads;
	size_t publish_window;     /* events woken streams may lag; 0: off;
				    * SIZE_MAX: a quarter of the ring */
	size_t max_memory;         /* memory the retained events of all topics may hold */
	uint64_t history_age_us;   /* older events are dropped; 0: never */
	size_t conn_memory;        /* libmicrohttpd's memory pool per connection */
	const char *cors;          /* NULL: no CORS headers */
	struct tokens *tokens;     /* the bearer tokens (token.h) */
	int no_broadcast;          /* --no-broadcast: /broadcast is 404 */
	int host_check;            /* TCP on loopback only: refuse other Hosts */
	const char **allow_hosts;  /* --allow-host names, also let in */
	size_t nallow_hosts;
	const char *trust_proxy;   /* whose X-Forwarded-For the log believes; NULL: no one's */
	struct jwtkey *jwt;        /* --jwt-key-file; NULL: no per-topic tokens */
	const char *jwt_cookie;    /* --jwt-cookie: the cookie a browser's token is in */
	int jwt_query;             /* --jwt-query: ?access_token= may carry the token */
};

/* One per libmicrohttpd daemon: its listener's kind and the shared state. */
/*
 * The sockets every listener's HTTP threads hold together: libmicrohttpd's
 * connections (http_notify counts them) and the streams detached from it
 * (fan_detached). http_accept (libmicrohttpd's accept policy) closes a new
 * connection at once when they reach limit, so that detached streams and
 * libmicrohttpd's own limit cannot add up past the open-file limit.
 */
struct http_budget {
	size_t conns;              /* atomic */
	size_t limit;
};

struct http_ctx {
	struct hub *hub;
	struct http_budget *budget;  /* shared by every listener */
	struct fan *fan;           /* the delivery threads streams are handed to */
	const struct ssed_config *cfg;
	int is_unix;               /* tokens are not asked for on a Unix socket */
	struct tls *tls;           /* an HTTPS listener's certificate; NULL: plain HTTP */
	int draining;              /* set once by main (atomic): /healthz is 503, every
				    * reply closes its connection */
};

/* The access handler, the completion callback and the external logger. */
enum MHD_Result http_request(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version,
			     const char *upload, size_t *upload_size, void **req_cls);
void http_completed(void *cls, struct MHD_Connection *c, void **req_cls,
		    enum MHD_RequestTerminationCode toe);
void http_log(void *cls, const char *fmt, va_list ap);
/* http_accept - the accept policy: MHD_NO when the budget is spent. */
enum MHD_Result http_accept(void *cls, const struct sockaddr *addr, socklen_t len);

/*
 * The header deadline. libmicrohttpd's timeout restarts with every byte, so
 * a client that sends its headers a line now and then is never cut off.
 * http_notify (MHD_OPTION_NOTIFY_CONNECTION) keeps the connections still
 * waiting for a complete request; http_reap, called about once a second,
 * shuts down the socket of each that has waited longer than limit seconds,
 * which libmicrohttpd then closes.
 */
void http_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		 enum MHD_ConnectionNotificationCode code);
void http_reap(double limit);

/* http_idle - how many connections wait for a request with nothing of it
 * read yet, and have waited min_age seconds at least: keep-alive
 * connections a drain need not wait for. */
size_t http_idle(double min_age);

/* The demo page served at /. */
extern const char page_html[];
extern const size_t page_html_len;

#endif
