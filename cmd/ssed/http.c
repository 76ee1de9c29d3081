/*
 * http.c - libmicrohttpd glue: routing, replies, publishing, streams.
 *
 * A stream is one callback response per subscriber: libmicrohttpd sends
 * its headers and opening bytes, then the content reader hands the socket
 * to the delivery threads (fan.c): a plain-HTTP one leaves libmicrohttpd
 * for good, an HTTPS one stays suspended there until the stream ends.
 * Uploads are consumed whole on every call and kept in our own capped
 * buffers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "common.h"
#include "fan.h"
#include "guard.h"
#include "jwtkey.h"
#include "loop.h"
#include "peer.h"
#include "pubmark.h"
#include "ssed.h"
#include "tls.h"
#include "token.h"

enum req_kind { REQ_PUB_ONE, REQ_PUB_STREAM, REQ_FAILED, REQ_DONE };

/* What a failed upload may still send before ssed closes it instead of
 * reading on to the end to reply. */
#define DISCARD_MAX (64u << 20)

/* State of a request that spans several handler calls (a POST). */
struct req {
	enum req_kind kind;
	struct http_ctx *ctx;
	struct MHD_Connection *conn;
	char topic[HUB_TOPIC_MAX + 1];
	size_t tlen;
	char *id, *type;           /* from the query, NULL when absent */
	size_t id_len, type_len;
	struct sse_buf body;
	struct sse_parser *parser;
	struct hub_batch *batch;   /* a stream's events into a batching backend */
	char pkey[PUBMARK_KEY_MAX]; /* Ssed-Publisher: its key (pklen 0: none) */
	size_t pklen;
	uint64_t pnext;            /* and the number of the next event */
	unsigned long published;   /* events published, or published before
				    * under their publisher number */
	int bad;                   /* a stream event that could not publish */
	unsigned status;           /* REQ_FAILED: the reply to send at the end */
	const char *why;
	size_t discarded;
};

struct stream {
	struct hub *hub;
	struct hub_sub *sub;
	struct fan_stream *fan;
	int started;               /* libmicrohttpd has sent the opening bytes */
	struct jwtkey *jwt;        /* with tok: checked again after a key reload */
	struct access_token *tok;  /* the token the stream was let in with; NULL: none */
	unsigned refs;             /* the response, and the fan thread once detached; atomic */
};

/* Set by the content reader of a stream it detaches (and by a 431 ssed
 * writes itself), cleared by the completion callback that follows on the
 * same thread: libmicrohttpd's note on closing that connection "with an
 * error" is not one. */
static _Thread_local int quiet_close;

/* ---- replies */

static void add_cors(struct http_ctx *x, struct MHD_Response *r)
{
	if(x->cfg->cors)
		MHD_add_response_header(r, "Access-Control-Allow-Origin", x->cfg->cors);
}

/*
 * respond - the last steps of every reply: the CORS header, queue, drop our
 * reference, and under -v the status and a note (http_request logged the
 * request line).
 */
static enum MHD_Result respond(struct http_ctx *x, struct MHD_Connection *c, unsigned status,
			       struct MHD_Response *r, const char *note)
{
	enum MHD_Result rc;

	add_cors(x, r);
	if(__atomic_load_n(&x->draining, __ATOMIC_RELAXED))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");  /* go to the next ssed */
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	notef("-> %u %s", status, note);
	return rc;
}

/*
 * reply - a text/plain reply: text then a newline. hdr/val add one more
 * header when hdr is not NULL.
 */
static enum MHD_Result reply(struct http_ctx *x, struct MHD_Connection *c, unsigned status,
			     const char *text, const char *hdr, const char *val)
{
	struct MHD_Response *r;
	char body[512];
	int n;

	n = snprintf(body, sizeof(body), "%s\n", text);
	if(n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if(!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	if(hdr)
		MHD_add_response_header(r, hdr, val);
	return respond(x, c, status, r, text);
}

static enum MHD_Result reply_static(struct http_ctx *x, struct MHD_Connection *c,
				    const char *type, const char *body, size_t len)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	if(!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	return respond(x, c, MHD_HTTP_OK, r, type);
}

static enum MHD_Result method_not_allowed(struct http_ctx *x, struct MHD_Connection *c,
					  const char *allow)
{
	return reply(x, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", "Allow", allow);
}

static enum MHD_Result preflight(struct http_ctx *x, struct MHD_Connection *c, const char *allow)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if(!r)
		return MHD_NO;
	MHD_add_response_header(r, "Allow", allow);
	if(x->cfg->cors) {
		MHD_add_response_header(r, "Access-Control-Allow-Methods", allow);
		MHD_add_response_header(r, "Access-Control-Allow-Headers",
					"Authorization, Content-Type, Last-Event-ID, Cache-Control, Ssed-Publisher");
		MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
	}
	return respond(x, c, MHD_HTTP_NO_CONTENT, r, "preflight");
}

/* ---- small helpers */

/*
 * auth - 0 when the request may go on; otherwise a 401 or 403 is queued
 * and *rc holds the handler's answer. query_key also accepts the token in
 * the query (EventSource cannot set headers).
 */
static int auth(struct http_ctx *x, struct MHD_Connection *c, enum token_kind kind,
		const char *query_key, enum MHD_Result *rc)
{
	const char *h, *q = NULL;
	size_t qlen = 0;

	if(x->is_unix || !tokens_needed(x->cfg->tokens, kind))
		return 0;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if(query_key && MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, query_key,
						      strlen(query_key), &q, &qlen) != MHD_YES)
		q = NULL;
	if(h && !strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		if(tokens_check(x->cfg->tokens, kind, h, strlen(h)))
			return 0;
	} else if(q) {
		if(tokens_check(x->cfg->tokens, kind, q, qlen))
			return 0;
		h = q;
	} else {
		h = NULL;
	}
	if(!h)
		*rc = reply(x, c, MHD_HTTP_UNAUTHORIZED, "a bearer token is required",
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	else
		*rc = reply(x, c, MHD_HTTP_FORBIDDEN, "wrong token", NULL, NULL);
	return -1;
}

/* ---- signed tokens (--jwt-key-file) */

/* Whether the request carries the shared token of kind (a token file):
 * with both set up, it lets a request in on every topic (ssed(1)). */
static int shared_ok(struct http_ctx *x, struct MHD_Connection *c, enum token_kind kind)
{
	const char *h, *q;
	size_t qlen = 0;

	if(!tokens_needed(x->cfg->tokens, kind))
		return 0;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if(h && !strncasecmp(h, "Bearer ", 7))
		return tokens_check(x->cfg->tokens, kind, h + 7, strlen(h + 7));
	if(kind == TOKEN_SUBSCRIBE &&
	   MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "access_token", 12,
					 &q, &qlen) == MHD_YES && q)
		return tokens_check(x->cfg->tokens, kind, q, qlen);
	return 0;
}

/* Append the refused topics' names to msg (size bytes, NUL-terminated). */
static void name_topics(char *msg, size_t size, const char *const *names, const size_t *lens,
			const size_t *idx, size_t k)
{
	size_t i, at = strlen(msg);

	for(i = 0; i < k; i++) {
		size_t len = lens[idx[i]];

		if(at + len + 8 >= size) {
			snprintf(msg + at, size - at, "%s...", i ? ", " : "");
			return;
		}
		at += (size_t)snprintf(msg + at, size - at, "%s%.*s", i ? ", " : "", (int)len,
				       names[idx[i]]);
	}
}

/*
 * jwt_auth - with --jwt-key-file: 0 when the request's token grants every
 * one of the n topics, for publishing (pub) or subscribing; otherwise a
 * 401 (no token, or one that does not verify) or a 403 naming the topics
 * refused is queued and *rc holds the handler's answer. A Unix socket or
 * the shared token of a token file lets a request in as before. keep (for
 * a stream) receives the verified token, or NULL when none was needed.
 * Neither the token nor any part of it is ever logged or replied.
 */
static int jwt_auth(struct http_ctx *x, struct MHD_Connection *c, int pub,
		    const char *const *names, const size_t *lens, size_t n,
		    struct access_token **keep, enum MHD_Result *rc)
{
	const char *allowed[1], *tok;
	size_t refused[HUB_SUB_TOPICS_MAX], k = 0, i, len;
	struct access_token *t = NULL;
	struct access_source src;
	enum access_from from;
	char err[256], msg[512];

	if(keep)
		*keep = NULL;
	if(x->is_unix || shared_ok(x, c, pub ? TOKEN_PUBLISH : TOKEN_SUBSCRIBE))
		return 0;
	memset(&src, 0, sizeof(src));
	src.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_AUTHORIZATION);
	src.cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
	src.cookie_name = x->cfg->jwt_cookie;
	src.query_ok = x->cfg->jwt_query;
	if(src.query_ok)
		src.query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "access_token");
	from = access_find_token(&src, &tok, &len);
	if(from == ACCESS_FROM_NONE) {
		*rc = reply(x, c, MHD_HTTP_UNAUTHORIZED, "a token is required",
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		return -1;
	}
	if(jwtkey_verify(x->cfg->jwt, tok, len, (int64_t)time(NULL), &t, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "invalid token: %s", err);
		*rc = reply(x, c, MHD_HTTP_UNAUTHORIZED, msg, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			    "Bearer error=\"invalid_token\"");
		return -1;
	}
	if(pub) {
		for(i = 0; i < n && i < HUB_SUB_TOPICS_MAX; i++)
			if(!access_may_publish(t, names[i], lens[i]))
				refused[k++] = i;
	} else {
		k = access_may_subscribe(t, n, names, lens, refused);
	}
	if(k) {
		snprintf(msg, sizeof(msg), "the token does not allow %s: ",
			 pub ? "publishing to" : "subscribing to");
		name_topics(msg, sizeof(msg), names, lens, refused, k);
		access_token_free(t);
		*rc = reply(x, c, MHD_HTTP_FORBIDDEN, msg, NULL, NULL);
		return -1;
	}
	/* A cookie goes with any request the browser makes, whichever page
	 * asked for it: publishing on one needs the page's Origin (CSRF). */
	allowed[0] = x->cfg->cors;
	if(pub && from == ACCESS_FROM_COOKIE &&
	   !access_origin_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
			     allowed, x->cfg->cors && strcmp(x->cfg->cors, "*") ? 1 : 0,
			     MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
			     x->tls != NULL)) {
		access_token_free(t);
		*rc = reply(x, c, MHD_HTTP_FORBIDDEN,
			    "publishing with a cookie needs the Origin of an allowed page",
			    NULL, NULL);
		return -1;
	}
	if(keep)
		*keep = t;
	else
		access_token_free(t);
	return 0;
}

/* Publishing to one topic: the signed token's rules, or the token file's. */
static int pub_auth(struct http_ctx *x, struct MHD_Connection *c, const char *topic,
		    size_t tlen, enum MHD_Result *rc)
{
	if(x->cfg->jwt)
		return jwt_auth(x, c, 1, &topic, &tlen, 1, NULL, rc);
	return auth(x, c, TOKEN_PUBLISH, NULL, rc);
}

/* Topic names hub.c takes, less "." and "..": proxies and clients read
 * /events/. and /events/.. as paths, not as names. */
static int topic_ok(const char *name, size_t len)
{
	if((len == 1 || len == 2) && name[0] == '.' && name[len - 1] == '.')
		return 0;
	return hub_topic_ok(name, len);
}

/*
 * cross_site - 0 when a publishing request may go on; otherwise a 403 is
 * queued and *rc holds the handler's answer.
 */
static int cross_site(struct http_ctx *x, struct MHD_Connection *c, enum MHD_Result *rc)
{
	if(guard_origin(c, x->cfg) == 0)
		return 0;
	*rc = reply(x, c, MHD_HTTP_FORBIDDEN,
		    "publishing from another origin needs --cors", NULL, NULL);
	return -1;
}

/* A query value with its length (it may hold NUL after unescaping). */
static const char *query_n(struct MHD_Connection *c, const char *key, size_t *len)
{
	const char *v = NULL;

	*len = 0;
	if(MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, key, strlen(key),
					 &v, len) != MHD_YES)
		return NULL;
	return v ? v : "";
}

/* ---- publishing */

static const char *hub_why(int rc)
{
	switch(rc) {
	case HUB_EBUSY: return "too many topics";
	case HUB_EFIELD: return "bad id or event type";
	case HUB_ETOOBIG: return "event larger than --max-memory";
	case HUB_EFULL: return "no room to store the event";
	case HUB_EDOWN: return "cannot store events now";
	case HUB_EIO: return "storing the event failed";
	default: return "out of memory";
	}
}

static unsigned hub_status(int rc)
{
	switch(rc) {
	case HUB_EBUSY: return MHD_HTTP_SERVICE_UNAVAILABLE;
	case HUB_EFIELD: return MHD_HTTP_BAD_REQUEST;
	case HUB_ETOOBIG: return MHD_HTTP_CONTENT_TOO_LARGE;
	case HUB_EFULL: return MHD_HTTP_INSUFFICIENT_STORAGE;
	case HUB_EDOWN: return MHD_HTTP_SERVICE_UNAVAILABLE;
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* One event of a text/event-stream upload: publish it as it completes. */
static int on_stream_event(void *ud, const struct sse_parsed *ev)
{
	struct req *r = ud;
	struct sse_event e;
	struct hub_mark mark;
	char id[HUB_ID_MAX + 1];
	int rc;

	sse_event_from_parsed(&e, ev);
	if(e.id && !e.id_len)
		e.id = NULL;  /* an empty id: ssed numbers the event itself */
	if(r->batch) {
		/* Stored with the rest of its chunk (pub_flush). */
		rc = hub_batch_add(r->ctx->hub, r->batch, &e);
		if(rc) {
			r->bad = rc;
			return 1;
		}
		return 0;
	}
	/* Backpressure (see hub_publish): the worker thread waits with the
	 * upload; the streams are served by the delivery threads. */
	mark.key = r->pklen ? r->pkey : NULL;
	mark.klen = r->pklen;
	mark.n = r->pnext++;
	rc = hub_publish_marked(r->ctx->hub, r->topic, r->tlen, &e, HUB_PUB_ROOM | HUB_PUB_PACE,
				id, &mark);
	if(rc) {
		r->bad = rc;
		return 1;  /* stop the parser */
	}
	r->published++;
	return 0;
}

/* A chunk's events, into a batching backend in one go: 0, or the hub's
 * error (in r->bad). */
static int pub_flush(struct req *r)
{
	size_t n = 0;
	int rc;

	if(!r->batch || !hub_batch_count(r->batch))
		return 0;
	rc = hub_publish_batch(r->ctx->hub, r->topic, r->tlen, r->batch,
			       HUB_PUB_ROOM | HUB_PUB_PACE, &n);
	r->published += n;
	if(rc)
		r->bad = rc;
	return rc;
}

static enum MHD_Result pub_finish_one(struct req *r)
{
	struct hub_mark mark = { r->pklen ? r->pkey : NULL, r->pklen, r->pnext };
	struct sse_event e;
	char id[HUB_ID_MAX + 1];
	int rc;

	memset(&e, 0, sizeof(e));
	e.id = r->id;
	e.id_len = r->id_len;
	e.event = r->type;
	e.event_len = r->type_len;
	e.data = r->body.data ? r->body.data : "";
	e.data_len = r->body.len;
	e.retry = -1;
	/* Published before under its number: 200 with an empty line. */
	rc = hub_publish_marked(r->ctx->hub, r->topic, r->tlen, &e, HUB_PUB_PACE, id, &mark);
	r->kind = REQ_DONE;
	if(rc)
		return reply(r->ctx, r->conn, hub_status(rc), hub_why(rc), NULL, NULL);
	return reply(r->ctx, r->conn, MHD_HTTP_OK, id, NULL, NULL);
}

/*
 * A publish failed while its body was arriving. libmicrohttpd 0.9.75 takes
 * a reply only before the body or after it, so a single event's body is
 * read on (and dropped) to reply at its end. A stream upload is closed at
 * once instead: it may never end (tail -f), and its sender must not go on
 * sending into nothing; the events before the failure stay published.
 */
static enum MHD_Result pub_fail(struct req *r, unsigned status, const char *why)
{
	if(r->kind == REQ_PUB_STREAM) {
		notef("closing a publish on %s after %lu event(s): %s", r->topic, r->published, why);
		r->kind = REQ_DONE;
		return MHD_NO;
	}
	r->kind = REQ_FAILED;
	r->status = status;
	r->why = why;
	sse_buf_free(&r->body);
	return MHD_YES;
}

static enum MHD_Result pub_data(struct req *r, const char *data, size_t *size)
{
	size_t n = *size;
	int rc;

	*size = 0;  /* always consume everything (see the notes, §7g) */
	if(r->kind == REQ_FAILED) {
		r->discarded += n;
		return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if(r->kind == REQ_DONE)
		return MHD_YES;
	if(r->kind == REQ_PUB_ONE) {
		if(sse_buf_append(&r->body, data, n) == SSE_ETOOBIG)
			return pub_fail(r, MHD_HTTP_CONTENT_TOO_LARGE, "body too large (see --max-body)");
		return MHD_YES;
	}
	rc = sse_parser_feed(r->parser, data, n);
	/* What parsed before a failure is published all the same. */
	if(pub_flush(r))
		return pub_fail(r, hub_status(r->bad), hub_why(r->bad));
	if(rc == SSE_EABORT)
		return pub_fail(r, hub_status(r->bad), hub_why(r->bad));
	if(rc == SSE_ETOOBIG)
		return pub_fail(r, MHD_HTTP_CONTENT_TOO_LARGE, "event or line too large (see --max-body)");
	if(rc)
		return pub_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, sse_strerror(rc));
	return MHD_YES;
}

static enum MHD_Result pub_end(struct req *r)
{
	char text[32];

	if(r->kind == REQ_DONE)
		return MHD_YES;
	if(r->kind == REQ_FAILED) {
		r->kind = REQ_DONE;
		return reply(r->ctx, r->conn, r->status, r->why, NULL, NULL);
	}
	if(r->kind == REQ_PUB_ONE)
		return pub_finish_one(r);
	sse_parser_end(r->parser);  /* an unterminated last event is dropped */
	r->kind = REQ_DONE;
	if(pub_flush(r))  /* the body is all in: a reply can say why */
		return reply(r->ctx, r->conn, hub_status(r->bad), hub_why(r->bad), NULL, NULL);
	snprintf(text, sizeof(text), "%lu", r->published);
	return reply(r->ctx, r->conn, MHD_HTTP_OK, text, NULL, NULL);
}

static void req_free(struct req *r)
{
	if(!r)
		return;
	sse_buf_free(&r->body);
	sse_parser_free(r->parser);
	hub_batch_free(r->batch);
	free(r->id);
	free(r->type);
	free(r);
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if(d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/*
 * Ssed-Publisher: KEY N - the publisher KEY numbers its events, the
 * request's first being N (pubmark.h). 1 when absent, 0 when set, -1 when
 * malformed.
 */
static int publisher(struct MHD_Connection *c, struct req *r)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Ssed-Publisher");
	const char *sp;
	char *end;
	unsigned long long n;

	if(!v)
		return 1;
	sp = strchr(v, ' ');
	if(!sp || !pubmark_key_ok(v, (size_t)(sp - v)) || sp[1] < '1' || sp[1] > '9')
		return -1;
	errno = 0;
	n = strtoull(sp + 1, &end, 10);
	if(errno || *end)
		return -1;
	memcpy(r->pkey, v, (size_t)(sp - v));
	r->pklen = (size_t)(sp - v);
	r->pnext = n;
	return 0;
}

/* The first call of a publish: check it all, then wait for the body. */
static enum MHD_Result pub_start(struct http_ctx *x, struct MHD_Connection *c,
				 const char *topic, size_t tlen, void **req_cls)
{
	const char *ct, *cl, *v;
	enum MHD_Result rc;
	struct req *r;
	size_t n;

	if(pub_auth(x, c, topic, tlen, &rc) || cross_site(x, c, &rc))
		return rc;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	r = calloc(1, sizeof(*r));
	if(!r)
		return MHD_NO;
	r->ctx = x;
	r->conn = c;
	memcpy(r->topic, topic, tlen);
	r->tlen = tlen;
	*req_cls = r;
	if(publisher(c, r) < 0) {
		r->kind = REQ_DONE;
		return reply(x, c, MHD_HTTP_BAD_REQUEST,
			     "bad Ssed-Publisher header: KEY N, KEY 1 to 64 letters, digits, '-', '_' or '.',"
			     " N a number from 1", NULL, NULL);
	}
	if(ct && !strncasecmp(ct, "text/event-stream", 17)) {
		struct sse_callbacks cb = { on_stream_event, NULL, NULL, r };

		r->kind = REQ_PUB_STREAM;
		r->parser = sse_parser_new(&cb, x->cfg->max_body + 64, x->cfg->max_body);
		if(!r->parser)
			return MHD_NO;
		if(hub_batching(x->hub)) {
			r->batch = hub_batch_new();
			if(!r->batch || (r->pklen && hub_batch_number(r->batch, r->pkey, r->pklen,
								    r->pnext)))
				return MHD_NO;
		}
		/* A quiet publisher (tail -f) must not be timed out. */
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0);
		return MHD_YES;
	}
	r->kind = REQ_PUB_ONE;
	if(cl && strtoull(cl, NULL, 10) > x->cfg->max_body) {
		r->kind = REQ_DONE;
		return reply(x, c, MHD_HTTP_CONTENT_TOO_LARGE,
			     "body too large (see --max-body)", NULL, NULL);
	}
	sse_buf_init(&r->body, x->cfg->max_body);
	v = query_n(c, "id", &n);
	if(v) {
		if(n == 0 || n > HUB_ID_MAX || sse_check_field(v, n, 1)) {
			r->kind = REQ_DONE;
			return reply(x, c, MHD_HTTP_BAD_REQUEST,
				     "bad id: 1 to 256 bytes without CR, LF or NUL", NULL, NULL);
		}
		r->id = dup_n(v, n);
		r->id_len = n;
	}
	v = query_n(c, "event", &n);
	if(v && n) {
		if(n > HUB_ID_MAX || memchr(v, '\0', n) || sse_check_field(v, n, 0)) {
			r->kind = REQ_DONE;
			return reply(x, c, MHD_HTTP_BAD_REQUEST,
				     "bad event type: at most 256 bytes without CR, LF or NUL",
				     NULL, NULL);
		}
		r->type = dup_n(v, n);
		r->type_len = n;
	}
	if((r->id_len && !r->id) || (r->type_len && !r->type))
		return MHD_NO;
	return MHD_YES;
}

static enum MHD_Result broadcast(struct http_ctx *x, struct MHD_Connection *c, int post)
{
	struct sse_event e;
	char id[HUB_ID_MAX + 1];
	enum MHD_Result rc;
	const char *msg;
	size_t n;
	int hrc;

	/* GET stays open to any page: the classic example's endpoint. */
	if(pub_auth(x, c, "default", 7, &rc) || (post && cross_site(x, c, &rc)))
		return rc;
	msg = query_n(c, "msg", &n);
	if(!msg)
		return reply(x, c, MHD_HTTP_BAD_REQUEST, "missing msg", NULL, NULL);
	if(n > x->cfg->max_body)
		return reply(x, c, MHD_HTTP_CONTENT_TOO_LARGE, "msg too large", NULL, NULL);
	memset(&e, 0, sizeof(e));
	e.data = msg;
	e.data_len = n;
	e.retry = -1;
	hrc = hub_publish(x->hub, "default", 7, &e, HUB_PUB_PACE, id);
	if(hrc)
		return reply(x, c, hub_status(hrc), hub_why(hrc), NULL, NULL);
	return reply(x, c, MHD_HTTP_OK, id, NULL, NULL);
}

/* ---- subscribing */

/*
 * The content reader. Its first call hands libmicrohttpd the stream's
 * opening bytes; by the second, those (and the headers) are sent, and the
 * socket goes to a fan thread. A detached stream's connection ends there
 * (libmicrohttpd closes a stand-in socket); a suspended one's reader is
 * called again once that thread ends the stream and resumes it, and says
 * how it ends.
 */
static void stream_free(void *cls);

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	ssize_t n;

	(void)pos;
	switch(fan_stream_end(s->fan)) {
	case 1: return MHD_CONTENT_READER_END_OF_STREAM;
	case 2: return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if(!s->started) {
		s->started = 1;
		n = hub_read(s->hub, s->sub, buf, max, NULL);
		if(n != 0)
			return n == HUB_READ_END ? MHD_CONTENT_READER_END_OF_STREAM : n;
	}
	/* The fan thread may release s as soon as it has it. */
	__atomic_store_n(&s->refs, 2, __ATOMIC_RELAXED);
	n = fan_handover(s->fan, s->sub, stream_free, s);
	if(n == 1) {
		quiet_close = 1;
		return MHD_CONTENT_READER_END_WITH_ERROR;  /* closes a stand-in */
	}
	__atomic_store_n(&s->refs, 1, __ATOMIC_RELAXED);  /* not detached: ours alone */
	return n == 0 ? 0 : MHD_CONTENT_READER_END_OF_STREAM;  /* -1: stopping */
}

/* The response's free callback, and a detached stream's done callback:
 * the last of the two frees s. */
static void stream_free(void *cls)
{
	struct stream *s = cls;

	if(__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	hub_unsubscribe(s->hub, s->sub);
	fan_stream_free(s->fan);
	access_token_free(s->tok);
	free(s);
}

/* After a key reload, on the stream's delivery thread: whether its token
 * still verifies (and has not expired). */
static int stream_still_ok(void *arg)
{
	struct stream *s = arg;
	char err[256];

	return jwtkey_reverify(s->jwt, s->tok, (int64_t)time(NULL), err, sizeof(err)) == 0;
}

/* A stream let in by a token ends when the token does: at 80 to 100 % of
 * the time left, so that clients do not all come back at once. */
static void guard_stream(struct stream *s)
{
	struct timespec ts;
	int64_t now_ms, end_ms, exp_s = access_token_expiry(s->tok);
	uint32_t r = 0;

	if(exp_s && getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)rand();
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	end_ms = access_deadline_ms(now_ms, exp_s, r);
	fan_stream_guard(s->fan, exp_s ? (double)(end_ms - now_ms) / 1000.0 : -1,
			 stream_still_ok, s);
}

struct topics {
	const char *name[HUB_SUB_TOPICS_MAX];
	size_t len[HUB_SUB_TOPICS_MAX];
	size_t n;
	int bad;                   /* 1: a bad name, 2: too many */
};

static void add_topic(struct topics *t, const char *name, size_t len)
{
	size_t i;

	if(!topic_ok(name, len)) {
		t->bad = t->bad ? t->bad : 1;
		return;
	}
	for(i = 0; i < t->n; i++)
		if(t->len[i] == len && !memcmp(t->name[i], name, len))
			return;
	if(t->n == HUB_SUB_TOPICS_MAX) {
		t->bad = 2;
		return;
	}
	t->name[t->n] = name;
	t->len[t->n++] = len;
}

static enum MHD_Result topic_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	if(key_size == 5 && !memcmp(key, "topic", 5))
		add_topic(cls, value ? value : "", value ? value_size : 0);
	return MHD_YES;
}

/* A whole decimal number, max when larger; -1 when v is not one. */
static long long whole(const char *v, size_t n, long long max)
{
	long long x = 0;
	size_t i;

	if(n == 0)
		return -1;
	for(i = 0; i < n; i++) {
		if(v[i] < '0' || v[i] > '9')
			return -1;
		x = x > max ? x : x * 10 + (v[i] - '0');
	}
	return x > max ? max : x;
}

/*
 * since_arg - the ?since= value into f: "all" (every event retained), N
 * (the N newest), a DURATION (a number and s, m, h or d: the events
 * published that long ago or later), "id:ID", or any other value, taken as
 * an id (after that event, as Last-Event-ID). 0, or -1 when it is none.
 */
static int since_arg(const char *v, size_t n, struct hub_from *f)
{
	static const struct { char unit; long long secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }
	};
	long long k;
	size_t i;

	if(n == 0 || memchr(v, '\0', n))
		return -1;
	if(n == 3 && !memcmp(v, "all", 3)) {
		f->kind = HUB_FROM_ALL;
		return 0;
	}
	k = whole(v, n, 1000000000LL);
	if(k >= 0) {
		f->kind = HUB_FROM_LAST;
		f->n = (uint64_t)k;
		return 0;
	}
	for(i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		k = whole(v, n - 1, 400LL * 86400 / units[i].secs);
		if(v[n - 1] == units[i].unit && k >= 0) {
			f->kind = HUB_FROM_AGE;
			f->n = (uint64_t)(k * units[i].secs) * 1000000u;
			return 0;
		}
	}
	if(n >= 3 && !memcmp(v, "id:", 3)) {
		v += 3;
		n -= 3;
	}
	if(n == 0 || n > HUB_ID_MAX || sse_check_field(v, n, 1))
		return -1;
	f->kind = HUB_FROM_ID;
	f->id = v;
	return 0;
}

static enum MHD_Result subscribe(struct http_ctx *x, struct MHD_Connection *c, int head,
				 int http10, const char *path_topic, size_t plen)
{
	struct access_token *tok = NULL;
	struct hub_from from = { HUB_FROM_NEW, NULL, 0, 0 };
	const char *since, *poll;
	size_t since_len, poll_len;
	int from_header;
	struct topics t;
	struct MHD_Response *r;
	struct stream *s;
	const char *last;
	enum MHD_Result rc;
	int err = 0;

	if(!x->cfg->jwt && auth(x, c, TOKEN_SUBSCRIBE, "access_token", &rc))
		return rc;
	memset(&t, 0, sizeof(t));
	if(path_topic)
		add_topic(&t, path_topic, plen);
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, topic_arg, &t);
	if(t.bad == 1)
		return reply(x, c, MHD_HTTP_BAD_REQUEST,
			     "bad topic: 1 to 128 of A-Z a-z 0-9 . _ ~ -", NULL, NULL);
	if(t.bad == 2)
		return reply(x, c, MHD_HTTP_BAD_REQUEST, "too many topics (at most 32)", NULL, NULL);
	if(t.n == 0)
		add_topic(&t, "default", 7);
	/* An empty Last-Event-ID is no header: browsers never send one. */
	last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	if(last && !last[0])
		last = NULL;
	from_header = last != NULL;
	if(!last)
		last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last_event_id");
	if(!last)
		last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lastEventId");
	if(last && strlen(last) > HUB_ID_MAX)
		return reply(x, c, MHD_HTTP_BAD_REQUEST, "Last-Event-ID too long", NULL, NULL);
	/* History on request: the client's own resume point (Last-Event-ID)
	 * wins over since=, so a reconnecting EventSource does not replay
	 * again; since= wins over the last_event_id query. */
	since = query_n(c, "since", &since_len);
	if(since && since_arg(since, since_len, &from))
		return reply(x, c, MHD_HTTP_BAD_REQUEST,
			     "bad since: all, N, DURATION (90s, 10m, 1h, 2d), or an id", NULL, NULL);
	if(last && (!since || from_header)) {
		from.kind = HUB_FROM_ID;
		from.id = last;
	}
	poll = query_n(c, "poll", &poll_len);
	if(poll && !(poll_len == 1 && (poll[0] == '1' || poll[0] == '0')) && poll_len)
		return reply(x, c, MHD_HTTP_BAD_REQUEST, "bad poll: 1 or 0", NULL, NULL);
	from.poll = poll && (poll_len == 0 || poll[0] == '1');
	if(from.poll && from.kind == HUB_FROM_NEW)
		from.kind = HUB_FROM_ALL;  /* a poll alone asks for what is retained */
	/* Every topic of the stream is allowed, so a resume replays nothing
	 * the token does not grant. */
	if(x->cfg->jwt && jwt_auth(x, c, 0, t.name, t.len, t.n, &tok, &rc))
		return rc;
	if(head) {
		access_token_free(tok);
		return reply_static(x, c, "text/event-stream", "", 0);
	}

	s = calloc(1, sizeof(*s));
	if(!s) {
		access_token_free(tok);
		return MHD_NO;
	}
	s->hub = x->hub;
	s->refs = 1;
	s->tok = tok;
	s->jwt = x->cfg->jwt;
	s->fan = fan_stream_new(x->fan, c, loop_current(), http10);
	if(!s->fan) {
		access_token_free(tok);
		free(s);
		return MHD_NO;
	}
	if(tok)
		guard_stream(s);
	s->sub = hub_subscribe_from(x->hub, t.name, t.len, t.n, &from, s->fan, &err);
	if(!s->sub) {
		fan_stream_free(s->fan);
		access_token_free(s->tok);
		free(s);
		if(err == HUB_EBUSY)
			return reply(x, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				     hub_subscribers(x->hub) >= x->cfg->max_subscribers
				     ? "too many subscribers" : "too many topics", "Retry-After", "5");
		return MHD_NO;
	}
	/* The block is only for HTTP/1.0's opening bytes: chunked streams are
	 * written in the connection's own buffer, then by fan.c. */
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 128, stream_read, s, stream_free);
	if(!r) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return respond(x, c, MHD_HTTP_OK, r, "stream");
}

/* ---- the topic list */

#define TOPICS_LIMIT 1000        /* lines a /topics reply holds by default */
#define TOPICS_LIMIT_MAX 10000

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct hub_topic_info *)a)->name,
		      ((const struct hub_topic_info *)b)->name);
}

/*
 * GET /topics - the topics, sorted by name, one a line: the name, its
 * subscribers and the events it retains for replay; ?format=json for a
 * JSON object. ?prefix=P keeps the names starting with P; ?limit=N cuts
 * the list at N (default 1000, at most 10000); X-Total-Count says how
 * many matched in all.
 */
static enum MHD_Result topics(struct http_ctx *x, struct MHD_Connection *c)
{
	struct hub_topic_info *ti;
	const char *prefix, *fmt, *lim;
	size_t plen, flen, llen, n, k, i;
	struct MHD_Response *r;
	struct sse_buf b;
	enum MHD_Result rc;
	long long limit = TOPICS_LIMIT;
	char line[HUB_TOPIC_MAX + 96], total[24];
	struct access_token *tok = NULL;
	int json, m;

	/* With signed tokens, a token lists only the topics it may read. */
	if(x->cfg->jwt ? jwt_auth(x, c, 0, NULL, NULL, 0, &tok, &rc)
		       : auth(x, c, TOKEN_SUBSCRIBE, "access_token", &rc))
		return rc;
	prefix = query_n(c, "prefix", &plen);
	fmt = query_n(c, "format", &flen);
	lim = query_n(c, "limit", &llen);
	if(prefix && plen && !hub_topic_ok(prefix, plen)) {
		access_token_free(tok);
		return reply(x, c, MHD_HTTP_BAD_REQUEST,
			     "bad prefix: up to 128 of A-Z a-z 0-9 . _ ~ -", NULL, NULL);
	}
	json = fmt && flen == 4 && !memcmp(fmt, "json", 4);
	if(fmt && !json && !(flen == 4 && !memcmp(fmt, "text", 4))) {
		access_token_free(tok);
		return reply(x, c, MHD_HTTP_BAD_REQUEST, "bad format: text or json", NULL, NULL);
	}
	if(lim) {
		limit = whole(lim, llen, TOPICS_LIMIT_MAX);
		if(limit < 1) {
			access_token_free(tok);
			return reply(x, c, MHD_HTTP_BAD_REQUEST, "bad limit: 1 to 10000", NULL, NULL);
		}
	}
	ti = hub_topics(x->hub, prefix ? prefix : "", prefix ? plen : 0, &n);
	if(tok) {
		for(i = k = 0; i < n; i++) {
			const char *nm = ti[i].name;
			size_t len = strlen(nm), refused;

			if(!access_may_subscribe(tok, 1, &nm, &len, &refused))
				ti[k++] = ti[i];
		}
		n = k;
		access_token_free(tok);
	}
	if(n)
		qsort(ti, n, sizeof(*ti), by_name);
	k = n < (size_t)limit ? n : (size_t)limit;
	sse_buf_init(&b, (size_t)TOPICS_LIMIT_MAX * sizeof(line) + 64);
	if(json)
		sse_buf_append(&b, "{\"topics\":[", 11);
	for(i = 0; i < k; i++) {
		m = snprintf(line, sizeof(line), json ? "%s{\"name\":\"%s\",\"subscribers\":%zu,\"retained\":%zu}"
			     : "%s%s %zu %zu\n", json && i ? "," : "", ti[i].name,
			     ti[i].subscribers, ti[i].retained);
		sse_buf_append(&b, line, (size_t)m);
	}
	if(json) {
		m = snprintf(line, sizeof(line), "],\"total\":%zu}\n", n);
		sse_buf_append(&b, line, (size_t)m);
	}
	free(ti);
	r = MHD_create_response_from_buffer(b.len, b.data ? b.data : (char *)"", MHD_RESPMEM_MUST_COPY);
	sse_buf_free(&b);
	if(!r)
		return MHD_NO;
	snprintf(total, sizeof(total), "%zu", n);
	MHD_add_response_header(r, "Content-Type", json ? "application/json" : "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Total-Count", total);
	return respond(x, c, MHD_HTTP_OK, r, "topics");
}

/* ---- metrics */

/*
 * The backend's figures, after the hub's (*text, n bytes): for a backend
 * that stores (not the memory one). Returns the new length, or -1 when
 * out of memory (*text freed).
 */
static int store_metrics(struct http_ctx *x, char **text, int n)
{
	struct store_stats ss;
	const char *name;
	char *more, *all;
	int m;

	hub_store_stats(x->hub, &ss, &name);
	if(!strcmp(name, "memory"))
		return n;
	m = asprintf(&more,
		"# HELP ssed_store_up 1 when the store (--store) can take events now.\n"
		"# TYPE ssed_store_up gauge\n"
		"ssed_store_up{backend=\"%s\"} %d\n"
		"# HELP ssed_store_events Events the store holds.\n"
		"# TYPE ssed_store_events gauge\n"
		"ssed_store_events %llu\n"
		"# HELP ssed_store_size_bytes Bytes the store uses (its file and journal).\n"
		"# TYPE ssed_store_size_bytes gauge\n"
		"ssed_store_size_bytes %llu\n"
		"# HELP ssed_store_commit_seconds Time each group commit of the store took.\n"
		"# TYPE ssed_store_commit_seconds summary\n"
		"ssed_store_commit_seconds_sum %.6f\n"
		"ssed_store_commit_seconds_count %llu\n"
		"# HELP ssed_store_commit_seconds_max The longest group commit so far.\n"
		"# TYPE ssed_store_commit_seconds_max gauge\n"
		"ssed_store_commit_seconds_max %.6f\n"
		"# HELP ssed_store_write_errors_total Group commits that failed (their publishes got 507 or 500).\n"
		"# TYPE ssed_store_write_errors_total counter\n"
		"ssed_store_write_errors_total %llu\n",
		name, ss.connected, (unsigned long long)ss.events, (unsigned long long)ss.bytes,
		(double)ss.commit_us_sum / 1e6, (unsigned long long)ss.commits,
		(double)ss.commit_us_max / 1e6, (unsigned long long)ss.write_errors);
	if(m < 0) {
		free(*text);
		return -1;
	}
	all = realloc(*text, (size_t)n + (size_t)m + 1);
	if(!all) {
		free(more);
		free(*text);
		return -1;
	}
	memcpy(all + n, more, (size_t)m + 1);
	free(more);
	*text = all;
	return n + m;
}

/* The shared backend's own lines (--redis), appended to text after
 * store_metrics' (events, commits and write errors are there, not here);
 * text itself when there are none, NULL when out of memory (text freed). */
static char *redis_metrics(struct hub *hub, char *text, int *n)
{
	struct store_stats ss;
	const char *name;
	char *all;
	int m;

	hub_store_stats(hub, &ss, &name);
	if(strcmp(name, "redis"))
		return text;
	m = asprintf(&all,
		"%s"
		"# HELP ssed_redis_connected 1 when this node can store events in Redis now.\n"
		"# TYPE ssed_redis_connected gauge\n"
		"ssed_redis_connected %d\n"
		"# HELP ssed_redis_behind_events Events in Redis's shared log this node has not delivered yet.\n"
		"# TYPE ssed_redis_behind_events gauge\n"
		"ssed_redis_behind_events %llu\n"
		"# HELP ssed_redis_reconnects_total Connections to Redis made again after one was lost.\n"
		"# TYPE ssed_redis_reconnects_total counter\n"
		"ssed_redis_reconnects_total %llu\n",
		text, ss.connected, (unsigned long long)ss.behind,
		(unsigned long long)ss.reconnects);
	free(text);
	if(m < 0)
		return NULL;
	*n = m;
	return all;
}

static enum MHD_Result metrics(struct http_ctx *x, struct MHD_Connection *c)
{
	struct hub_stats st;
	struct MHD_Response *r;
	enum MHD_Result rc;
	char *text;
	int n;

	if(auth(x, c, TOKEN_METRICS, NULL, &rc))
		return rc;
	hub_stats(x->hub, &st);
	n = asprintf(&text,
		"# HELP ssed_subscribers Open event streams.\n"
		"# TYPE ssed_subscribers gauge\n"
		"ssed_subscribers %llu\n"
		"# HELP ssed_subscribers_limit Streams allowed at once (--max-subscribers, capped by the open-file limit).\n"
		"# TYPE ssed_subscribers_limit gauge\n"
		"ssed_subscribers_limit %llu\n"
		"# HELP ssed_topics Topics that have subscribers or retained events.\n"
		"# TYPE ssed_topics gauge\n"
		"ssed_topics %llu\n"
		"# HELP ssed_events_published_total Events published.\n"
		"# TYPE ssed_events_published_total counter\n"
		"ssed_events_published_total %llu\n"
		"# HELP ssed_events_delivered_total Events written to subscribers.\n"
		"# TYPE ssed_events_delivered_total counter\n"
		"ssed_events_delivered_total %llu\n"
		"# HELP ssed_bytes_delivered_total Bytes written to subscribers.\n"
		"# TYPE ssed_bytes_delivered_total counter\n"
		"ssed_bytes_delivered_total %llu\n"
		"# HELP ssed_slow_subscribers_dropped_total Subscribers dropped for falling behind the history.\n"
		"# TYPE ssed_slow_subscribers_dropped_total counter\n"
		"ssed_slow_subscribers_dropped_total %llu\n"
		"# HELP ssed_gaps_total Resumes that could not replay every missed event.\n"
		"# TYPE ssed_gaps_total counter\n"
		"ssed_gaps_total %llu\n"
		"# HELP ssed_publish_waits_total Publishes that waited for the streams to catch up.\n"
		"# TYPE ssed_publish_waits_total counter\n"
		"ssed_publish_waits_total %llu\n"
		"# HELP ssed_publish_window Events the streams due one may lag before a publish waits (--publish-window, capped).\n"
		"# TYPE ssed_publish_window gauge\n"
		"ssed_publish_window %llu\n"
		"# HELP ssed_retained_events Events held for replay.\n"
		"# TYPE ssed_retained_events gauge\n"
		"ssed_retained_events %llu\n"
		"# HELP ssed_retained_bytes Bytes of events held for replay.\n"
		"# TYPE ssed_retained_bytes gauge\n"
		"ssed_retained_bytes %llu\n"
		"# HELP ssed_retained_memory_bytes Memory the retained events hold, allocation included.\n"
		"# TYPE ssed_retained_memory_bytes gauge\n"
		"ssed_retained_memory_bytes %llu\n"
		"# HELP ssed_max_memory_bytes The bound on ssed_retained_memory_bytes (--max-memory).\n"
		"# TYPE ssed_max_memory_bytes gauge\n"
		"ssed_max_memory_bytes %llu\n"
		"# HELP ssed_evicted_events_total Events evicted early to stay under --max-memory.\n"
		"# TYPE ssed_evicted_events_total counter\n"
		"ssed_evicted_events_total %llu\n"
		"# HELP ssed_expired_topics_total Topics forgotten: expired (--history-age), emptied, or making room (--max-topics).\n"
		"# TYPE ssed_expired_topics_total counter\n"
		"ssed_expired_topics_total %llu\n"
		"# HELP ssed_events_repeated_total Events sent again under their Ssed-Publisher number, not published twice.\n"
		"# TYPE ssed_events_repeated_total counter\n"
		"ssed_events_repeated_total %llu\n",
		(unsigned long long)st.subscribers, (unsigned long long)x->cfg->max_subscribers,
		(unsigned long long)st.topics,
		(unsigned long long)st.published, (unsigned long long)st.delivered_events,
		(unsigned long long)st.delivered_bytes, (unsigned long long)st.slow_dropped,
		(unsigned long long)st.gaps, (unsigned long long)st.pub_waits,
		(unsigned long long)st.publish_window,
		(unsigned long long)st.retained_events,
		(unsigned long long)st.retained_bytes, (unsigned long long)st.memory_bytes,
		(unsigned long long)st.max_memory, (unsigned long long)st.evicted_events,
		(unsigned long long)st.expired_topics, (unsigned long long)st.repeated);
	if(n < 0)
		return MHD_NO;
	n = store_metrics(x, &text, n);
	if(n < 0)
		return MHD_NO;
	text = redis_metrics(x->hub, text, &n);
	if(!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_FREE);
	if(!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
	return respond(x, c, MHD_HTTP_OK, r, "metrics");
}

/* ---- the header deadline */

struct track {
	int fd;
	double since;              /* when it began to wait for a request */
	int waiting;
	int late;                  /* past the deadline at the last reap */
	struct tls_creds *creds;   /* HTTPS: the certificate this connection holds */
	struct track *prev, *next;
};

/* Connections waiting for a whole request. A connection leaves the list
 * (under track_mu) before libmicrohttpd closes its socket, so the reaper
 * never shuts down a descriptor that has been reused. */
static pthread_mutex_t track_mu = PTHREAD_MUTEX_INITIALIZER;
static struct track *waiting;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_waiting(struct track *t, int on)
{
	if(!t || t->waiting == on)
		return;
	if(on) {
		t->since = mono();
		t->late = 0;
		t->prev = NULL;
		t->next = waiting;
		if(waiting)
			waiting->prev = t;
		waiting = t;
	} else {
		if(t->prev)
			t->prev->next = t->next;
		else
			waiting = t->next;
		if(t->next)
			t->next->prev = t->prev;
	}
	t->waiting = on;
}

static void track_wait(struct MHD_Connection *c, int on)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if(!ci)
		return;
	pthread_mutex_lock(&track_mu);
	set_waiting(ci->socket_context, on);
	pthread_mutex_unlock(&track_mu);
}

void http_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		 enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct track *t = *socket_context;
	struct http_ctx *x = cls;

	if(x && x->budget)
		__atomic_add_fetch(&x->budget->conns, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : (size_t)-1,
				   __ATOMIC_RELAXED);
	if(code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		t = calloc(1, sizeof(*t));
		if(!t || !ci) {
			free(t);
			return;  /* untracked: only the idle timeout applies */
		}
		t->fd = ci->connect_fd;
		/* Untracked, an HTTPS connection has no certificate: its handshake
		 * fails (tls_mhd_fallback). */
		if(x && x->tls)
			t->creds = tls_attach(x->tls, c);
		pthread_mutex_lock(&track_mu);
		set_waiting(t, 1);
		pthread_mutex_unlock(&track_mu);
		*socket_context = t;
		return;
	}
	if(!t)
		return;
	pthread_mutex_lock(&track_mu);
	set_waiting(t, 0);
	pthread_mutex_unlock(&track_mu);
	tls_detach(t->creds);
	free(t);
	*socket_context = NULL;
}

enum MHD_Result http_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_ctx *x = cls;

	(void)addr;
	(void)len;
	/* A Unix socket is the local way in (publishers, checks): what TCP
	 * clients hold must not lock it out. */
	if(!x || !x->budget || x->is_unix)
		return MHD_YES;
	return __atomic_load_n(&x->budget->conns, __ATOMIC_RELAXED) + fan_detached(x->fan) <
	       x->budget->limit ? MHD_YES : MHD_NO;
}

/*
 * The deadline is the client's: bytes it sent that ssed has not read yet
 * (a busy or stopped ssed, thousands of connections at once) restart the
 * clock instead of counting against it. A connection is cut only when it
 * was late at two reaps in a row with nothing unread: one reap alone could
 * fall between libmicrohttpd reading a whole request and calling
 * http_request with it.
 */
void http_reap(double limit)
{
	double now = mono();
	struct track *t, *next;
	size_t cut = 0;
	int unread;

	pthread_mutex_lock(&track_mu);
	for(t = waiting; t; t = next) {
		next = t->next;
		if(now - t->since <= limit)
			continue;
		if(ioctl(t->fd, FIONREAD, &unread) == 0 && unread > 0) {
			t->since = now;
			t->late = 0;
		} else if(!t->late) {
			t->late = 1;
		} else {
			shutdown(t->fd, SHUT_RDWR);
			set_waiting(t, 0);
			cut++;
		}
	}
	pthread_mutex_unlock(&track_mu);
	if(cut)
		notef("closed %zu connection(s) with no whole request in %g s (--header-timeout)",
		      cut, limit);
}

size_t http_idle(double min_age)
{
	double now = mono();
	struct track *t;
	size_t n = 0;
	int unread;

	pthread_mutex_lock(&track_mu);
	for(t = waiting; t; t = t->next)
		if(now - t->since >= min_age && ioctl(t->fd, FIONREAD, &unread) == 0 && unread == 0)
			n++;
	pthread_mutex_unlock(&track_mu);
	return n;
}

/* ---- routing */

static int is(const char *method, const char *m)
{
	return !strcmp(method, m);
}

/*
 * head_too_large - the 431 for a head over GUARD_HEAD_MAX (guard.h),
 * written to the socket (or its TLS session) here, since libmicrohttpd may
 * have no room left to build it; then libmicrohttpd closes the connection.
 * The socket is fresh from a request, so its buffer takes these few bytes.
 */
static enum MHD_Result head_too_large(struct http_ctx *x, struct MHD_Connection *c)
{
	static const char body[] = "request headers too large for --conn-memory\n";
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t tls = tls_session(c);
	size_t cap = 256 + (x->cfg->cors ? strlen(x->cfg->cors) : 0);
	char *msg = malloc(cap);
	ssize_t k;
	int n = -1;

	if(msg)
		n = snprintf(msg, cap,
			     "HTTP/1.1 431 Request Header Fields Too Large\r\n"
			     "Content-Type: text/plain; charset=utf-8\r\n"
			     "%s%s%s"
			     "Connection: close\r\n"
			     "Content-Length: %zu\r\n"
			     "\r\n%s",
			     x->cfg->cors ? "Access-Control-Allow-Origin: " : "",
			     x->cfg->cors ? x->cfg->cors : "", x->cfg->cors ? "\r\n" : "",
			     sizeof(body) - 1, body);
	if(msg_verbose)
		notef("-> 431 request headers too large for --conn-memory");
	if(n > 0 && (size_t)n < cap) {
		if(tls) {
			k = tls_write(tls, msg, (size_t)n);
		} else {
			ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
			k = ci ? send(ci->connect_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) : -1;
		}
		(void)k;  /* a socket that takes nothing is closed all the same */
	}
	free(msg);
	quiet_close = 1;  /* libmicrohttpd's "internal error" is this */
	return MHD_NO;
}

/*
 * refuse - the first call of a request that must not go on: checks that
 * need nothing but the request. 0 when it may go on; otherwise *rc holds
 * the handler's answer. Framing and NUL faults close the connection: what
 * follows on it cannot be trusted to be a next request.
 */
static int refuse(struct http_ctx *x, struct MHD_Connection *c, const char *method,
		  const char *version, void **req_cls, enum MHD_Result *rc)
{
	enum guard_verdict v = guard_uri_verdict(*req_cls);
	const char *why;

	*req_cls = NULL;
	if(v == GUARD_TOO_BIG)
		why = "query too long for --conn-memory";
	else if(v == GUARD_NUL || guard_nul(c, method, version))
		why = "NUL byte in the request";
	else
		why = guard_framing(c);
	if(why) {
		*rc = reply(x, c, v == GUARD_TOO_BIG ? MHD_HTTP_URI_TOO_LONG : MHD_HTTP_BAD_REQUEST,
			    why, MHD_HTTP_HEADER_CONNECTION, "close");
		return -1;
	}
	if(!x->is_unix && guard_host(c, x->cfg)) {
		*rc = reply(x, c, MHD_HTTP_MISDIRECTED_REQUEST,
			    "this ssed serves loopback names only (see --allow-host)", NULL, NULL);
		return -1;
	}
	return 0;
}

enum MHD_Result http_request(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version,
			     const char *upload, size_t *upload_size, void **req_cls)
{
	struct http_ctx *x = cls;
	struct req *r = *req_cls;
	int get = is(method, "GET"), head = is(method, "HEAD");
	const char *topic = NULL;
	enum MHD_Result rc;
	size_t tlen = 0;

	if(guard_uri_verdict(r) == GUARD_OK && r) {  /* a publish's body, or its end */
		if(*upload_size)
			return pub_data(r, upload, upload_size);
		return pub_end(r);
	}
	if(!*upload_size)
		track_wait(c, 0);  /* the request is all here: no deadline now */
	if(msg_verbose) {
		char m[64], line[1024], who[PEER_NAME_MAX];

		guard_escape(m, sizeof(m), method);
		guard_escape(line, sizeof(line), url);
		peer_name(c, x->cfg->trust_proxy, who, sizeof(who));
		notef("%s %s from %s", m, line, who);
	}
	if(guard_head_fits(c, method, url, version, x->cfg->conn_memory,
			   x->cfg->cors ? strlen(x->cfg->cors) + 32 : 0))
		return head_too_large(x, c);
	if(refuse(x, c, method, version, req_cls, &rc))
		return rc;

	if(!strcmp(url, "/")) {
		if(get || head)
			return reply_static(x, c, "text/html; charset=utf-8", page_html, page_html_len);
		if(is(method, "OPTIONS"))
			return preflight(x, c, "GET, HEAD, OPTIONS");
		return method_not_allowed(x, c, "GET, HEAD, OPTIONS");
	}
	if(!strncmp(url, "/events", 7) && (url[7] == '\0' || url[7] == '/')) {
		if(url[7] == '/') {
			topic = url + 8;
			tlen = strlen(topic);
			if(!topic_ok(topic, tlen))
				return reply(x, c, MHD_HTTP_BAD_REQUEST,
					     "bad topic: 1 to 128 of A-Z a-z 0-9 . _ ~ -", NULL, NULL);
		}
		if(get || head)
			return subscribe(x, c, head, !strcmp(version, MHD_HTTP_VERSION_1_0),
					 topic, tlen);
		if(is(method, "POST"))
			return pub_start(x, c, topic ? topic : "default", topic ? tlen : 7, req_cls);
		if(is(method, "OPTIONS"))
			return preflight(x, c, "GET, HEAD, POST, OPTIONS");
		return method_not_allowed(x, c, "GET, HEAD, POST, OPTIONS");
	}
	if(!strcmp(url, "/broadcast") && !x->cfg->no_broadcast) {
		if(get || is(method, "POST"))
			return broadcast(x, c, !get);
		if(is(method, "OPTIONS"))
			return preflight(x, c, "GET, POST, OPTIONS");
		return method_not_allowed(x, c, "GET, POST, OPTIONS");
	}
	if(!strcmp(url, "/topics")) {
		if(get || head)
			return topics(x, c);
		if(is(method, "OPTIONS"))
			return preflight(x, c, "GET, HEAD, OPTIONS");
		return method_not_allowed(x, c, "GET, HEAD, OPTIONS");
	}
	if(!strcmp(url, "/metrics") || !strcmp(url, "/healthz")) {
		if((get || head) && url[1] == 'm')
			return metrics(x, c);
		if((get || head) && __atomic_load_n(&x->draining, __ATOMIC_RELAXED))
			return reply(x, c, MHD_HTTP_SERVICE_UNAVAILABLE, "draining", NULL, NULL);
		if(get || head)
			return reply(x, c, MHD_HTTP_OK, "ok", NULL, NULL);
		if(is(method, "OPTIONS"))
			return preflight(x, c, "GET, HEAD, OPTIONS");
		return method_not_allowed(x, c, "GET, HEAD, OPTIONS");
	}
	return reply(x, c, MHD_HTTP_NOT_FOUND, "not found", NULL, NULL);
}

void http_completed(void *cls, struct MHD_Connection *c, void **req_cls,
		    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)toe;
	quiet_close = 0;
	if(guard_uri_verdict(*req_cls) == GUARD_OK)
		req_free(*req_cls);
	*req_cls = NULL;
	track_wait(c, 1);  /* the next request on this connection starts now */
}

void http_log(void *cls, const char *fmt, va_list ap)
{
	char line[512], safe[1536];
	size_t n;

	/* libmicrohttpd speaks per connection (a dead client, a bad request):
	 * useful when asked for, a flood otherwise. */
	(void)cls;
	if(!msg_verbose || quiet_close)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while(n && line[n - 1] == '\n')
		line[--n] = '\0';
	guard_escape(safe, sizeof(safe), line);
	notef("libmicrohttpd: %s", safe);
}
