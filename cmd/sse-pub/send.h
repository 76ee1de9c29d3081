/*
 * send.h - how sse-pub talks to the broker: one event per POST, or stdin
 * as a series of text/event-stream uploads over one kept-alive connection.
 *
 * A streamed upload is acknowledged by ssed with the number of events it
 * published, and only at its end. So stdin goes in batches: an upload
 * takes what stdin has ready and ends when stdin has nothing more for the
 * moment (or at BATCH_MAX bytes); its reply acknowledges the batch. A
 * batch stays in memory until then, and when an upload fails it is sent
 * again, after reconnecting with backoff, at most --max-retries failed
 * attempts in a row: as one upload, and after a second cut one event per
 * POST (each acknowledged on its own, and an event over the broker's
 * --max-body answered with 413). The counts sse-pub reports are what the
 * broker acknowledged.
 *
 * The events of stdin are numbered for the broker (the Ssed-Publisher
 * header: a key random to this run, then 1, 2, 3, ...), so that ssed does
 * not publish twice an event it took before a cut upload or a restart and
 * that is sent again. Other servers ignore the header.
 *
 * ssed closes an upload at an event over its --max-body without saying how
 * many events before it it took, so an event over SOLO_MIN bytes never
 * shares an upload: it and the events read with it are sent one per POST.
 */
#ifndef SSE_PUB_SEND_H
#define SSE_PUB_SEND_H

#include <curl/curl.h>

#include "input.h"
#include "sse.h"

#define BATCH_MAX ((size_t)1 << 20)
#define SOLO_MIN ((size_t)64 << 10)

struct sender {
	CURL *curl;
	const char *url;
	const char *where;           /* the URL (and socket) for messages */
	const struct curl_slist *base; /* the shared request headers */
	struct sse_buf reply;
	long status;
	char why[700];
	/* stdin modes */
	struct input *in;
	struct sse_buf batch;        /* framed events not yet acknowledged */
	unsigned long n;             /* how many */
	size_t off;                  /* how much of batch this upload has sent */
	int started;                 /* the upload's read callback ran */
	int in_failed;               /* input_read failed: stop reading */
	int solo;                    /* the batch holds an event over SOLO_MIN */
	size_t sent_len;             /* solo: the bytes this upload may send */
	unsigned long sent_n;        /* and their events */
	unsigned long long acked;    /* events the broker acknowledged */
	char pub_key[40];            /* stdin modes: this run's publisher key */
	unsigned long long pub_next; /* the number of the batch's first event */
};

/* sender_init - a sender on curl for url; batch and reply buffers empty. */
void sender_init(struct sender *s, CURL *curl, const char *url, const char *where,
		 const struct curl_slist *base, size_t max_event);

/*
 * send_one - POST one event (type and id may be NULL). Returns 0 when the
 * broker acknowledged it, 1 for an HTTP error, -1 when it could not be
 * reached or the connection broke; s->why says why, s->status the status.
 */
int send_one(struct sender *s, const char *type, const char *id, const char *data, size_t len);

/*
 * send_stdin - publish in's events until end of file. max_retries as
 * --max-retries (0: for ever). Returns the exit status; errors printed.
 */
int send_stdin(struct sender *s, struct input *in, long long max_retries);

void sender_free(struct sender *s);

#endif
