/*
 * guard.h - checks a request passes before ssed acts on it: framing a
 * proxy could read differently, NUL bytes, requests too big for the
 * connection's memory, the Host of a loopback-only ssed, the Origin of a
 * publish, and escaping what a request puts in the log.
 *
 * Every function is safe on any HTTP thread; none keeps state of its own.
 */
#ifndef SSED_GUARD_H
#define SSED_GUARD_H

#include <microhttpd.h>
#include <stddef.h>

struct ssed_config;

enum guard_verdict {
	GUARD_OK = 0,
	GUARD_TOO_BIG,             /* 414: the query would not fit the connection's memory */
	GUARD_NUL                  /* 400: %00 in the request target */
};

/*
 * guard_uri - MHD_OPTION_URI_LOG_CALLBACK (cls: the struct ssed_config).
 * It sees the request target before libmicrohttpd splits and decodes it.
 * libmicrohttpd 0.9.75 keeps each query parameter in the connection's
 * memory pool and, when the pool runs out there, queues a 431 that it then
 * overwrites, leaving the client waiting for the header deadline. So a
 * query that could come near the pool's size is emptied here (it is
 * refused anyway) and the request is marked. Returns NULL, or a marker
 * that libmicrohttpd hands to the access handler as *req_cls: read it
 * with guard_uri_verdict, and never free it.
 */
void *guard_uri(void *cls, const char *uri, struct MHD_Connection *c);

/* The verdict a *req_cls holds: GUARD_OK for anything but a marker. */
enum guard_verdict guard_uri_verdict(const void *req_cls);

/*
 * guard_head_fits - 0 when what the request's head costs libmicrohttpd's
 * pool (its line, query, header lines and cookies as read, 64 bytes for
 * each parameter, header and cookie, and a copy of the cookies) is within
 * GUARD_HEAD_MAX(pool), -1 otherwise. libmicrohttpd 0.9.75 answers 431
 * itself to a head that outgrows the pool, but just below that it takes
 * the request with no room left to build the reply's headers, and closes
 * the connection without a word. A head over the limit here must be
 * answered without libmicrohttpd's reply buffer (http.c writes the 431
 * itself). The room kept for the reply: an eighth of the pool, at most
 * 512 bytes, and reply_extra more (what ssed's replies add to every reply,
 * such as a CORS header).
 */
#define GUARD_HEAD_MAX(pool) ((pool) - ((pool) / 8 < 512 ? (pool) / 8 : 512))
int guard_head_fits(struct MHD_Connection *c, const char *method, const char *url,
		    const char *version, size_t pool, size_t reply_extra);

/*
 * guard_framing - NULL when the request's framing is unambiguous, else why
 * not (for a 400 and a close, RFC 9112 6.3): two Content-Length values
 * that differ or are not numbers, Content-Length with Transfer-Encoding,
 * or a transfer coding other than a single "chunked".
 */
const char *guard_framing(struct MHD_Connection *c);

/*
 * guard_nul - 0 when no header line and no query parameter holds a NUL (or
 * an obsolete folded line), -1 otherwise. libmicrohttpd 0.9.75 cuts a
 * header value at a NUL without saying so; this looks at where it left the
 * header lines in its read buffer (method is the access handler's), and
 * says 0 when that buffer is not laid out as expected.
 */
int guard_nul(struct MHD_Connection *c, const char *method, const char *version);

/*
 * guard_host - 0 when the request may go on: the config does not ask for
 * the check (ssed listens beyond loopback, or on a Unix socket), there is
 * no Host, or it names a loopback address, localhost, or an --allow-host
 * name. -1 otherwise: the DNS rebinding of a web page.
 */
int guard_host(struct MHD_Connection *c, const struct ssed_config *cfg);

/*
 * guard_origin - 0 when a publishing request may go on: no Origin (not a
 * browser), the same origin as the Host, or one --cors admits. -1
 * otherwise: a page on another site.
 */
int guard_origin(struct MHD_Connection *c, const struct ssed_config *cfg);

/*
 * guard_escape - s for the log, in out (size bytes, always terminated):
 * control bytes and DEL become %XX, so a request cannot forge a line.
 */
void guard_escape(char *out, size_t size, const char *s);

#endif
