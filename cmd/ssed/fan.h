/*
 * fan.h - the delivery loop: a few threads, each with its own epoll, that
 * write events straight to subscribers' sockets.
 *
 * libmicrohttpd parses the request and sends the response headers and the
 * stream's opening bytes. Then the stream is handed over, and a fan thread
 * writes the hub's bytes to the socket itself, framed as HTTP/1.1 chunks
 * (or raw for HTTP/1.0), as many events in one send as are pending. A
 * plain-HTTP stream is detached: the socket becomes the fan thread's alone,
 * and libmicrohttpd closes its connection at once, so an idle stream keeps
 * none of libmicrohttpd's memory (its connection and the pool that held
 * the request). An HTTPS stream's connection stays suspended in
 * libmicrohttpd instead, which owns its TLS session.
 *
 * A publish costs one queue push per parked stream, not one
 * libmicrohttpd resume (an eventfd write and a pass over every suspended
 * connection) per stream and event.
 *
 * An HTTPS stream is written through its connection's TLS session (tls.h)
 * instead, one record per send.
 *
 * A stream ends when the hub says so (closing, fell behind), when the peer
 * hangs up or the socket fails, or when a send makes no progress for the
 * configured timeout, or when its token expires or no longer verifies
 * (fan_stream_guard). The fan thread then finishes a detached stream
 * itself (the last chunk when it ends cleanly, then the socket is closed:
 * no keep-alive after a stream), or resumes a suspended connection, and
 * libmicrohttpd finishes it: fan_stream_end() tells the content reader
 * what to return.
 */
#ifndef SSED_FAN_H
#define SSED_FAN_H

#include <microhttpd.h>

#include "hub.h"
#include "loop.h"

struct fan;
struct fan_stream;

/* fan_start - the delivery loop of hub h: nthreads threads, each closing a
 * stream whose socket takes nothing for timeout_s seconds. NULL with errno
 * when a thread or its epoll cannot be made. */
struct fan *fan_start(struct hub *h, unsigned nthreads, unsigned timeout_s);

/* fan_close - end every stream (cleanly when nothing is half sent) and
 * every stream handed over from now on. */
void fan_close(struct fan *f);

/*
 * fan_drain - end every stream over the next secs seconds, spread evenly
 * with jitter (see fan.c), each cleanly and with its connection closed so
 * the client comes back on a new one; a stream handed over from now on is
 * ended that way at once. fan_close() still ends what is left.
 */
void fan_drain(struct fan *f, double secs);

/* fan_stop - join the threads; fan_close() first, and wait for the streams
 * to be freed (hub_wait_empty) before stopping libmicrohttpd. From then on
 * fan_handover refuses, so a stream libmicrohttpd still serves ends there. */
void fan_stop(struct fan *f);

/* fan_free - free f, once libmicrohttpd is stopped (its threads may call
 * fan_handover until then). */
void fan_free(struct fan *f);

/* fan_stream_new - the delivery state of one stream of f on connection c,
 * served by HTTP thread loop (woken when the stream ends and its connection
 * is resumed; loop.h); raw: HTTP/1.0 (no chunks). NULL when out of memory. */
struct fan_stream *fan_stream_new(struct fan *f, struct MHD_Connection *c, struct loop *loop,
				  int raw);

/*
 * fan_stream_guard - before fan_handover: end s cleanly ends_in_s seconds
 * from now (negative: no deadline; the delivery thread wakes for it); and
 * after each fan_recheck(), end it when still_ok(arg) returns 0 (still_ok
 * may be NULL). still_ok runs on s's delivery thread while s is open.
 */
void fan_stream_guard(struct fan_stream *s, double ends_in_s, int (*still_ok)(void *), void *arg);

/* fan_recheck - from any thread: each delivery thread soon runs the
 * still_ok check of every stream it has (after a key reload). */
void fan_recheck(struct fan *f);

/* fan_stream_free - free it (from the response's free callback, or from
 * a detached stream's done callback). */
void fan_stream_free(struct fan_stream *s);

/*
 * fan_handover - from the content reader, once libmicrohttpd has sent
 * everything it had: give the socket to a fan thread. sub is the stream's
 * hub subscriber. Returns
 *   1: detached (plain HTTP, done not NULL). The reader must return
 *      MHD_CONTENT_READER_END_WITH_ERROR at once: libmicrohttpd then
 *      closes a stand-in socket, not the client's. From then on s belongs
 *      to the fan thread, which calls done(arg) on that thread once the
 *      stream has ended and its socket is closed; done frees s
 *      (fan_stream_free), perhaps before the reader has returned.
 *   0: the connection is suspended (HTTPS, or detaching failed); the
 *      reader returns 0, and is called again once the stream has ended.
 *  -1: fan stopped or failing: the reader then ends the stream itself.
 */
int fan_handover(struct fan_stream *s, struct hub_sub *sub, void (*done)(void *), void *arg);
/* fan_detached - streams detached and not yet closed: descriptors ssed
 * holds that libmicrohttpd does not count. */
size_t fan_detached(const struct fan *f);

/*
 * fan_stream_end - 0 while the stream is libmicrohttpd's or being
 * delivered; after the fan thread resumed it: 1 to end cleanly (the last
 * chunk goes out), 2 to close the connection.
 */
int fan_stream_end(const struct fan_stream *s);

/* struct hub_ops for a fan stream: park is a no-op, wake queues it. */
void fan_park(void *stream);
void fan_wake(void *stream);

#endif
