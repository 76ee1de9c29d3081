/*
 * sub.c - the hub's subscribers: subscribing (where a resume starts, and
 * whether it is a gap), reading from the cursors, leaving.
 *
 * A subscriber holds one cursor (a ring index) per topic. A read merges
 * its topics by seq and copies whole events into the caller's buffer, the
 * stream's opening bytes first (stream.h). A cursor below its ring's tail
 * has lost events: the subscriber is dropped, and resumes with
 * Last-Event-ID to be told of the gap. A stream starts where
 * hub_subscribe_from says: at the next event, after an id, or with history
 * (all of it, the last N across its topics, the events younger than a
 * duration); a poll ends once each cursor reaches the head its ring had
 * at the subscribe.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_int.h"
#include "stream.h"

/* ---- subscribing */

/* The oldest index a resume may replay from, and the newest seq it can't. */
static uint64_t replay_start(struct hub *h, struct topic *t, uint64_t *lost)
{
	uint64_t lo = t->r.tail;

	if(t->r.head - lo > h->cfg.history)
		lo = t->r.head - h->cfg.history;
	*lost = lo > t->r.tail ? RING_EV(&t->r, lo - 1)->seq : t->r.evicted_seq;
	return lo;
}

/* With a shared backend, a client that read an event on another node
 * may resume here before this node's reader has committed it: the id is
 * above every seq here, yet valid. Its stream starts at the head and
 * skips what the reader brings up to that seq. A seq is Redis's clock in
 * microseconds (or just above the last one), so an id further ahead of
 * this node's clock than AHEAD_US is none Redis gave out. */
#define AHEAD_US 60000000u

static int ahead_ok(struct hub *h, struct hub_sub *s, uint64_t v)
{
	struct timespec ts;
	uint64_t now;

	if(!h->store->ops->shared)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if(v > now + AHEAD_US && v > h->seq + AHEAD_US)
		return 0;
	s->after = v;
	return 1;
}

/* Where last_id stands in seq terms: 1 and *seq when it can be placed. */
static int place_id(struct hub *h, struct hub_sub *s, const char *id, uint64_t *seq)
{
	size_t i, n = strlen(id);
	uint64_t v = 0, j;

	for(i = 0; i < s->ncur; i++) {
		struct topic *t = s->cur[i].t;

		for(j = t->r.head; j > t->r.tail; j--) {
			struct ring_ev *e = RING_EV(&t->r, j - 1);

			if(e->idlen == n && !memcmp(e->id, id, n)) {
				*seq = e->seq;
				return 1;
			}
		}
	}
	/* Not retained: a number in the range the backend's history is
	 * complete for still places; an older one cannot (what came after
	 * it is gone). */
	if(n == 0 || n > 20)
		return 0;
	for(i = 0; i < n; i++) {
		if(id[i] < '0' || id[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(id[i] - '0');
	}
	if(v < h->first_seq)
		return 0;
	if(v > h->seq && !ahead_ok(h, s, v))
		return 0;
	*seq = v;
	return 1;
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* HUB_FROM_LAST over several topics: each cursor starts at most n back;
 * then the oldest of the merged events go until n are left. */
static void keep_last(struct hub_sub *s, uint64_t n)
{
	uint64_t total = 0;
	struct cursor *c;
	size_t i;

	for(i = 0; i < s->ncur; i++)
		total += s->cur[i].t->r.head - s->cur[i].next;
	while(total > n) {
		c = NULL;
		for(i = 0; i < s->ncur; i++) {
			struct cursor *ci = &s->cur[i];

			if(ci->next < ci->t->r.head &&
			   (!c || RING_EV(&ci->t->r, ci->next)->seq < RING_EV(&c->t->r, c->next)->seq))
				c = ci;
		}
		c->next++;
		total--;
	}
}

/* Where each cursor of s starts, for from; 1 when it is a gap. */
static int place(struct hub *h, struct hub_sub *s, const struct hub_from *from)
{
	uint64_t seq = 0, lost, cut = 0;
	int placed = 0, gap = 0;
	size_t i;

	if(from->kind == HUB_FROM_ID)
		placed = place_id(h, s, from->id, &seq);
	if(from->kind == HUB_FROM_AGE) {
		cut = wall_us();
		cut = cut > from->n ? cut - from->n : 0;
	}
	for(i = 0; i < s->ncur; i++) {
		struct cursor *c = &s->cur[i];
		struct topic *t = c->t;

		if(from->kind == HUB_FROM_NEW) {
			c->next = t->r.head;
			continue;
		}
		c->next = replay_start(h, t, &lost);
		switch(from->kind) {
		case HUB_FROM_ID:
			if(!placed || lost > seq) {
				gap = 1;
			} else {
				c->next = ring_find_after(&t->r, c->next, seq);
				/* Retained, but older than where the backend's
				 * history is complete (it dropped damaged events
				 * after it): what follows is replayed, after a gap. */
				if(seq + 1 < h->first_seq)
					gap = 1;
			}
			break;
		case HUB_FROM_LAST:
			if(t->r.head - c->next > from->n)
				c->next = t->r.head - from->n;
			break;
		case HUB_FROM_AGE:
			c->next = ring_find_time(&t->r, c->next, cut);
			break;
		default:
			break;
		}
	}
	if(from->kind == HUB_FROM_LAST && s->ncur > 1)
		keep_last(s, from->n);
	return gap;
}

static void unlink_all(struct cursor *c)
{
	if(c->aprev)
		c->aprev->anext = c->anext;
	else
		c->t->all = c->anext;
	if(c->anext)
		c->anext->aprev = c->aprev;
	c->aprev = c->anext = NULL;
}

struct hub_sub *hub_subscribe(struct hub *h, const char *const *topics,
			      const size_t *tlens, size_t ntopics,
			      const char *last_id, void *conn, int *err)
{
	struct hub_from from = { last_id ? HUB_FROM_ID : HUB_FROM_NEW, last_id, 0, 0 };

	return hub_subscribe_from(h, topics, tlens, ntopics, &from, conn, err);
}

struct hub_sub *hub_subscribe_from(struct hub *h, const char *const *topics,
				   const size_t *tlens, size_t ntopics,
				   const struct hub_from *from, void *conn, int *err)
{
	struct hub_sub *s;
	int gap;
	size_t i;

	if(ntopics == 0 || ntopics > HUB_SUB_TOPICS_MAX) {
		*err = HUB_EFIELD;
		return NULL;
	}
	s = calloc(1, sizeof(*s) + ntopics * sizeof(s->cur[0]));
	if(!s) {
		*err = HUB_ENOMEM;
		return NULL;
	}
	s->conn = conn;
	pthread_mutex_lock(&h->mu);
	if(h->closing || h->st.subscribers >= h->cfg.max_subscribers) {
		*err = HUB_EBUSY;
		goto fail;
	}
	for(i = 0; i < ntopics; i++) {
		struct topic *t = topic__get(h, topics[i], tlens[i], 1);

		if(!t) {
			*err = HUB_EBUSY;
			goto fail;
		}
		s->cur[i].t = t;
		s->cur[i].sub = s;
		s->cur[i].anext = t->all;
		if(t->all)
			t->all->aprev = &s->cur[i];
		t->all = &s->cur[i];
		s->ncur = i + 1;
		t->nsubs++;
	}
	gap = place(h, s, from);
	s->poll = from->poll;
	for(i = 0; i < s->ncur; i++) {
		s->cur[i].stop = s->cur[i].t->r.head;
		if(s->cur[i].next < s->cur[i].t->low)
			s->cur[i].t->low = s->cur[i].next;
	}
	if(gap)
		h->st.gaps++;
	s->pre = stream_opening(h->cfg.retry_ms, gap ? from->id : NULL, &s->pre_len);
	if(!s->pre) {
		*err = HUB_ENOMEM;
		goto fail;
	}
	s->hb = h->hb;
	s->next = h->subs;
	if(h->subs)
		h->subs->prev = s;
	h->subs = s;
	h->st.subscribers++;
	pthread_mutex_unlock(&h->mu);
	return s;
fail:
	for(i = 0; i < s->ncur; i++) {
		unlink_all(&s->cur[i]);
		s->cur[i].t->nsubs--;
		topic__maybe_drop(h, s->cur[i].t, 0);
	}
	pthread_mutex_unlock(&h->mu);
	free(s);
	return NULL;
}

static int behind(const struct hub_sub *s)
{
	size_t i;

	for(i = 0; i < s->ncur; i++)
		if(s->cur[i].next < s->cur[i].t->r.tail)
			return 1;
	return 0;
}

void hub_unsubscribe(struct hub *h, struct hub_sub *s)
{
	size_t i;

	if(!s)
		return;
	pthread_mutex_lock(&h->mu);
	s->suspended = 0;  /* the connection is gone: nothing to resume */
	wake__unpark(h, s);
	pace__round_done(h, s);
	if(!s->dropped && !h->closing && behind(s))
		h->st.slow_dropped++;
	if(s->prev)
		s->prev->next = s->next;
	else
		h->subs = s->next;
	if(s->next)
		s->next->prev = s->prev;
	for(i = 0; i < s->ncur; i++) {
		unlink_all(&s->cur[i]);
		s->cur[i].t->nsubs--;
		pace__reader_moved(h, s->cur[i].t);
		topic__maybe_drop(h, s->cur[i].t, 0);
	}
	h->gone++;
	if(--h->st.subscribers == 0)
		pthread_cond_broadcast(&h->empty);
	pthread_mutex_unlock(&h->mu);
	free(s->pre);
	free(s);
}

/* ---- reading */

/* A poll that has sent everything it was to send. */
static int poll_done(const struct hub_sub *s)
{
	size_t i;

	if(!s->poll || s->partial || s->pre)
		return 0;
	for(i = 0; i < s->ncur; i++)
		if(s->cur[i].next < s->cur[i].stop)
			return 0;
	return 1;
}

/* The common case, a stream on one topic between events: copy whole
 * events while they fit, with none of the merge below. Returns the new n;
 * the loop in read_locked goes on from where this stops. */
static size_t copy_run(struct hub *h, struct hub_sub *s, char *buf, size_t n, size_t max)
{
	struct cursor *c = &s->cur[0];
	const struct ring *r = &c->t->r;
	uint64_t next = c->next, head = r->head, after = s->after;
	uint64_t moved = 0;

	for(; next < head; next++) {
		const struct ring_ev *e = RING_EV(r, next);

		if(e->seq <= after)
			continue;  /* the client had it from another node */
		if(e->len > max - n)
			break;
		memcpy(buf + n, e->bytes, e->len);
		n += e->len;
		moved++;
	}
	c->next = next;
	h->st.delivered_events += moved;
	return n;
}

/* hub_read with the lock held. */
static ssize_t read_locked(struct hub *h, struct hub_sub *s, char *buf, size_t max, int *parked)
{
	size_t n = 0, i, k;
	struct cursor *c;
	struct ring_ev *e;

	if(parked)
		*parked = 0;
	pace__round_done(h, s);
	if(h->closing || s->dropped)
		goto end;
	if(s->pre) {
		k = s->pre_len - s->pre_off < max ? s->pre_len - s->pre_off : max;
		memcpy(buf, s->pre + s->pre_off, k);
		n = k;
		s->pre_off += k;
		if(s->pre_off == s->pre_len) {
			free(s->pre);
			s->pre = NULL;
		}
	}
	/* Events leave a ring only under this same lock, so one look before
	 * the copy loop is enough. */
	if(behind(s)) {
		s->dropped = 1;
		h->st.slow_dropped++;
		if(!n)
			goto end;
		max = n;  /* send the opening bytes; the next read ends it */
	}
	if(s->ncur == 1 && !s->poll && !s->partial && n < max)
		n = copy_run(h, s, buf, n, max);
	while(n < max) {
		/* The pending event with the lowest seq, across the topics. */
		c = NULL;
		e = NULL;
		for(i = 0; i < s->ncur; i++) {
			struct cursor *ci = &s->cur[i];

			if(ci->next < (s->poll ? ci->stop : ci->t->r.head) &&
			   (!e || RING_EV(&ci->t->r, ci->next)->seq < e->seq)) {
				c = ci;
				e = RING_EV(&ci->t->r, ci->next);
			}
		}
		if(!e && s->poll)
			break;  /* a poll parks never: it ends below */
		if(!e) {
			if(parked && n) {
				wake__park(h, s);  /* all copied: wake it for the next event */
				*parked = 1;
			}
			break;
		}
		if(e->seq <= s->after && !s->partial) {
			c->next++;  /* the client had it from another node */
			continue;
		}
		k = e->len - s->partial;
		if(k > max - n)
			k = max - n;
		memcpy(buf + n, e->bytes + s->partial, k);
		n += k;
		s->partial += k;
		if(s->partial < e->len)
			break;
		s->partial = 0;
		c->next++;
		h->st.delivered_events++;
	}
	for(i = 0; i < s->ncur; i++)  /* a publisher may wait for this reader */
		pace__reader_moved(h, s->cur[i].t);
	if(poll_done(s)) {
		if(n) {
			s->hb = h->hb;
			h->st.delivered_bytes += n;
			return (ssize_t)n;  /* the next read ends it */
		}
		goto end;
	}
	if(n == 0 && s->hb != h->hb && max >= STREAM_HEARTBEAT_LEN) {
		memcpy(buf, STREAM_HEARTBEAT, STREAM_HEARTBEAT_LEN);
		n = STREAM_HEARTBEAT_LEN;
	}
	if(n == 0) {
		wake__park(h, s);
		if(parked)
			*parked = 1;
		return 0;
	}
	s->hb = h->hb;  /* bytes on the wire count as a heartbeat */
	h->st.delivered_bytes += n;
	return (ssize_t)n;
end:
	return HUB_READ_END;
}

ssize_t hub_read(struct hub *h, struct hub_sub *s, char *buf, size_t max, int *parked)
{
	ssize_t n;

	pthread_mutex_lock(&h->mu);
	n = read_locked(h, s, buf, max, parked);
	pthread_mutex_unlock(&h->mu);
	return n;
}

size_t hub_read_batch(struct hub *h, struct hub_read_req *r, size_t n, char *buf, size_t size,
		      size_t head, size_t tail, size_t min_room)
{
	size_t i, off = 0;

	pthread_mutex_lock(&h->mu);
	for(i = 0; i < n; i++) {
		size_t room = size - off;

		if(room < head + tail + min_room)
			break;
		room -= head + tail;
		r[i].buf = buf + off + head;
		r[i].n = read_locked(h, r[i].sub, r[i].buf, room < r[i].max ? room : r[i].max,
				     &r[i].parked);
		if(r[i].n > 0)
			off += head + (size_t)r[i].n + tail;
	}
	pthread_mutex_unlock(&h->mu);
	return i;
}

void hub_quiet(struct hub *h, struct hub_sub *s)
{
	pthread_mutex_lock(&h->mu);
	wake__unlink(s);
	s->suspended = 0;
	pace__round_done(h, s);
	pthread_mutex_unlock(&h->mu);
}

void hub_heartbeat(struct hub *h)
{
	struct hub_sub *s;

	pthread_mutex_lock(&h->mu);
	h->hb++;
	for(s = h->subs; s; s = s->next)
		if(s->suspended)
			wake__unpark(h, s);
	pthread_mutex_unlock(&h->mu);
}
