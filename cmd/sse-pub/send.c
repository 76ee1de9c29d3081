/*
 * send.c - single POSTs and batched uploads for sse-pub (see send.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "common.h"
#include "net.h"
#include "send.h"

/* The first wait after a failure: the broker is often back in a moment. */
#define RETRY_BASE_MS 250.0

static size_t on_reply(char *ptr, size_t size, size_t n, void *ud)
{
	struct sse_buf *b = ud;
	size_t len = size * n;

	/* Replies are one short line; keep the start of anything longer. */
	if(b->len < b->max)
		sse_buf_append(b, ptr, len < b->max - b->len ? len : b->max - b->len);
	return len;
}

void sender_init(struct sender *s, CURL *curl, const char *url, const char *where,
		 const struct curl_slist *base, size_t max_event)
{
	memset(s, 0, sizeof(*s));
	s->curl = curl;
	s->url = url;
	s->where = where;
	s->base = base;
	sse_buf_init(&s->reply, 4096);
	sse_buf_init(&s->batch, BATCH_MAX + max_event * 2 + 4096);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s->reply);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
}

void sender_free(struct sender *s)
{
	sse_buf_free(&s->reply);
	sse_buf_free(&s->batch);
}

static struct curl_slist *headers(const struct sender *s, const char *type)
{
	struct curl_slist *h = NULL;
	const struct curl_slist *b;
	char mark[80];

	for(b = s->base; b; b = b->next)
		h = curl_slist_append(h, b->data);
	h = curl_slist_append(h, "Expect:");  /* no 100-continue pause */
	if(s->pub_key[0]) {
		snprintf(mark, sizeof(mark), "Ssed-Publisher: %s %llu", s->pub_key, s->pub_next);
		h = curl_slist_append(h, mark);
	}
	return curl_slist_append(h, type);
}

/* After a perform: 0 a 200, 1 an HTTP error, -1 no reply. Sets why. */
static int outcome(struct sender *s, CURLcode res)
{
	s->status = 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if(s->status && s->status != 200) {
		net_reason(s->why, sizeof(s->why), s->status,
			   s->reply.data ? s->reply.data : "", s->reply.len);
		return 1;
	}
	if(res != CURLE_OK) {
		snprintf(s->why, sizeof(s->why), "%s", curl_easy_strerror(res));
		return -1;
	}
	return 0;
}

/* url plus ?event=...&id=... (escaped), for a single event's POST. */
static char *url_with(CURL *c, const char *url, const char *type, const char *id)
{
	struct sse_buf u;
	char *esc;

	sse_buf_init(&u, 1 << 20);
	sse_buf_append(&u, url, strlen(url) + 1);
	u.len--;
	if(type) {
		esc = curl_easy_escape(c, type, 0);
		sse_buf_append(&u, strchr(url, '?') ? "&event=" : "?event=", 7);
		sse_buf_append(&u, esc, strlen(esc) + 1);
		u.len--;
		curl_free(esc);
	}
	if(id) {
		esc = curl_easy_escape(c, id, 0);
		sse_buf_append(&u, strchr(u.data, '?') ? "&id=" : "?id=", 4);
		sse_buf_append(&u, esc, strlen(esc) + 1);
		u.len--;
		curl_free(esc);
	}
	return u.data;
}

int send_one(struct sender *s, const char *type, const char *id, const char *data, size_t len)
{
	struct curl_slist *h = headers(s, "Content-Type: text/plain; charset=utf-8");
	char *full = url_with(s->curl, s->url, type, id);
	CURLcode res;
	int rc;

	sse_buf_clear(&s->reply);
	curl_easy_setopt(s->curl, CURLOPT_URL, full);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, data ? data : "");
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	res = curl_easy_perform(s->curl);
	rc = outcome(s, res);
	/* ssed closes an upload far over its --max-body instead of reading it all. */
	if(rc < 0 && len > (1u << 20) && (res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING ||
					  res == CURLE_RECV_ERROR))
		snprintf(s->why + strlen(s->why), sizeof(s->why) - strlen(s->why),
			 " while %zu bytes were being sent (over the broker's --max-body?)", len);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	free(full);
	return rc;
}

/* ---- stdin modes */

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	struct sender *s = ud;
	size_t max = size * nitems, end, k;

	s->started = 1;
	for(;;) {
		/* A solo upload ends where the held-back events begin. */
		end = s->solo ? s->sent_len : s->batch.len;
		if(s->off < end)
			break;
		/* End this upload when stdin has nothing more for now: its reply
		 * then acknowledges what is in flight. */
		if(s->solo || s->in_failed || s->in->eof || s->batch.len >= BATCH_MAX ||
		   !input_ready(s->in))
			return 0;
		s->sent_len = s->batch.len;
		s->sent_n = s->n;
		s->in->largest = 0;
		if(input_read(s->in, &s->batch, &s->n))
			s->in_failed = 1;
		if(s->in->largest > SOLO_MIN)
			s->solo = 1;  /* what this read brought waits for the next round */
	}
	k = end - s->off;
	if(k > max)
		k = max;
	memcpy(buf, s->batch.data + s->off, k);
	s->off += k;
	return k;
}

/* libcurl sends an upload again on a fresh connection when a kept-alive
 * one turns out to be closed: the batch is all in memory. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct sender *s = ud;

	if(origin != SEEK_SET || offset != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	s->off = 0;
	return CURL_SEEKFUNC_OK;
}

/* One upload of the batch (and of what stdin has ready). 0, 1 or -1 as outcome(). */
static int post_batch(struct sender *s)
{
	struct curl_slist *h = headers(s, "Content-Type: text/event-stream");
	unsigned long n;
	CURLcode res;
	int rc;

	h = curl_slist_append(h, "Transfer-Encoding: chunked");
	sse_buf_clear(&s->reply);
	s->off = 0;
	s->started = 0;
	s->solo = 0;
	curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
	curl_easy_setopt(s->curl, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(s->curl, CURLOPT_READDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(s->curl, CURLOPT_SEEKDATA, s);
	res = curl_easy_perform(s->curl);
	rc = outcome(s, res);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if(rc)
		return rc;
	n = strtoul(s->reply.data ? s->reply.data : "0", NULL, 10);
	if(n != (s->solo ? s->sent_n : s->n)) {
		snprintf(s->why, sizeof(s->why), "the broker published %lu of %lu events", n,
			 s->solo ? s->sent_n : s->n);
		return 1;
	}
	s->acked += n;
	s->pub_next += n;
	if(!s->solo) {
		s->n = 0;
		sse_buf_clear(&s->batch);
		return 0;
	}
	/* Keep what was held back (the large event and its neighbours). */
	memmove(s->batch.data, s->batch.data + s->sent_len, s->batch.len - s->sent_len);
	s->batch.len -= s->sent_len;
	s->n -= s->sent_n;
	return 0;
}

struct one_by_one {
	struct sender *s;
	struct sse_buf rest;         /* the events after a failure, framed again */
	unsigned long nrest;
	int rc;
};

static int on_batch_event(void *ud, const struct sse_parsed *ev)
{
	struct one_by_one *o = ud;
	struct sender *s = o->s;
	struct sse_event e;
	char why[700];

	sse_event_from_parsed(&e, ev);
	if(!o->rc) {
		o->rc = send_one(s, e.event, e.id, e.data, e.data_len);
		if(!o->rc) {
			s->acked++;
			s->pub_next++;
			return 0;
		}
		if(o->rc > 0) {
			/* Name the event: its line in the line modes. */
			snprintf(why, sizeof(why), "%s %llu: %.600s", s->in->mode == IN_RAW ? "event" : "line",
				 s->acked + 1, s->why);
			snprintf(s->why, sizeof(s->why), "%s", why);
		}
	}
	o->nrest++;
	return sse_frame_event(&o->rest, &e) ? 1 : 0;
}

/* The batch again, one event per POST. 0, 1 or -1 as outcome(). */
static int post_each(struct sender *s)
{
	struct one_by_one o;
	struct sse_callbacks cb = { on_batch_event, NULL, NULL, &o };
	struct sse_parser *p = sse_parser_new(&cb, s->batch.max, s->batch.max);

	memset(&o, 0, sizeof(o));
	o.s = s;
	sse_buf_init(&o.rest, s->batch.max);
	if(!p || sse_parser_feed(p, s->batch.data, s->batch.len)) {
		snprintf(s->why, sizeof(s->why), "out of memory");
		sse_parser_free(p);
		sse_buf_free(&o.rest);
		return 1;
	}
	sse_parser_free(p);
	sse_buf_free(&s->batch);
	s->batch = o.rest;
	s->n = o.nrest;
	return o.rc;
}

int send_stdin(struct sender *s, struct input *in, long long max_retries)
{
	struct backoff bo;
	int rc, each = 0, cuts = 0, one_by_one;

	s->in = in;
	random_hex(s->pub_key, sizeof(s->pub_key));  /* this run's publisher key */
	s->pub_next = 1;
	backoff_init(&bo, max_retries);
	for(;;) {
		if(!s->n) {
			if(s->in_failed) {
				errorf("%s (%llu event(s) published)", in->err, s->acked);
				return EXIT_FAIL;
			}
			if(in->eof) {
				notef("published %llu event(s)", s->acked);
				return EXIT_OK;
			}
			in->largest = 0;
			if(input_read(in, &s->batch, &s->n))
				s->in_failed = 1;
			s->solo = in->largest > SOLO_MIN;
			continue;
		}
		one_by_one = each || s->solo;
		rc = one_by_one ? post_each(s) : post_batch(s);
		if(!rc) {
			backoff_ok(&bo);
			each = 0;
			cuts = 0;
			if(one_by_one)
				s->solo = 0;  /* after post_batch, solo marks what it held back */
			continue;
		}
		if(rc > 0) {
			errorf("%s: %s (%llu event(s) published)", s->where, s->why, s->acked);
			return EXIT_FAIL;
		}
		/* An upload cut short while the broker answered: send the batch
		 * again at once, as one upload (numbered: ssed skips what it
		 * took). Cut twice, it goes one event per POST, to learn which
		 * event the broker refuses. */
		if(!each && s->started) {
			if(++cuts >= 2)
				each = 1;
			notef("%s: %s; sending the %lu event(s) in flight again%s",
			      s->where, s->why, s->n, each ? ", one by one" : "");
			continue;
		}
		if(backoff_fail(&bo))
			warnf("%s: %s; retrying (%lu event(s) waiting)", s->where, s->why, s->n);
		if(backoff_exhausted(&bo)) {
			errorf("%s: %s (%lld attempts in a row failed, see --max-retries; "
			       "%llu event(s) published, %lu not)",
			       s->where, s->why, bo.failures, s->acked, s->n);
			return EXIT_FAIL;
		}
		sleep_ms(backoff_delay(&bo, RETRY_BASE_MS));
	}
}
