/*
 * hub.c - the hub: its life, publishing through the backend, and the sink
 * the backend hands stored events back through (see hub.h).
 *
 * The hub is made of topic.c (the topic table and retention), sub.c
 * (subscribers and reading), wake.c (parking and waking) and pace.c
 * (publishers that wait), sharing hub_int.h. Events carry a hub-wide seq
 * that only grows, given by the backend (store.h); the sink's commit alone
 * puts events in rings, so nobody sees one before it is stored.
 *
 * One mutex guards everything. A publish frames its event outside it,
 * then, under it, appends to the backend: a synchronous backend (memory)
 * commits inside that call, under the same lock, so memory mode costs one
 * lock per publish as it did before the seam; with an asynchronous one the
 * publisher lets go of the lock and waits for the backend's done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_int.h"

/* One event on its way through the backend. */
struct pub {
	struct ring_ev *x;   /* the framed event until commit takes it */
	struct topic *t;     /* its topic, held by t->npending */
	char *id_out;        /* NULL: the id is not wanted (a batch) */
	int rc;
	int done;
};

/* A streamed publish's events, framed, waiting to go as one append. */
struct hub_batch {
	struct ring_ev **x;
	uint64_t *num;       /* with a publisher key: each event's number */
	size_t n, cap;
	char key[PUBMARK_KEY_MAX];
	size_t klen;         /* 0: not numbered */
	uint64_t next;       /* the number of the next event added */
};

/* ---- the backend's sink */

static int hub_err_of(int rc)
{
	switch(rc) {
	case STORE_OK: return HUB_OK;
	case STORE_EFULL: return HUB_EFULL;
	case STORE_EDOWN: return HUB_EDOWN;
	case STORE_ENOMEM: return HUB_ENOMEM;
	default: return HUB_EIO;
	}
}

/* Stored events into their rings, in seq order. A synchronous backend
 * calls this inside append, under the hub's lock already. */
static void sink_commit(void *ud, const struct store_ev *ev, size_t n)
{
	struct hub *h = ud;
	int sync = h->store->ops->sync;
	size_t i;

	if(!sync)
		pthread_mutex_lock(&h->mu);
	for(i = 0; i < n; i++) {
		struct pub *p = ev[i].ref;
		struct ring_ev *x;
		struct topic *t;

		if(p) {
			x = p->x;
			p->x = NULL;
			ring_ev_seal(x, ev[i].seq);
			x->time_us = ev[i].time_us;
		} else {
			x = ring_ev_raw(ev[i].frame, ev[i].flen, ev[i].id, ev[i].idlen,
					ev[i].seq, ev[i].time_us);
		}
		t = p ? p->t : topic__get(h, ev[i].topic, ev[i].tlen, 1);
		if(p && p->id_out && x)
			memcpy(p->id_out, x->id, x->idlen + 1);
		if(!x || !t || topic__push(h, t, x)) {
			/* Stored, but not in this node's ring (out of memory, or
			 * every topic held at --max-topics): a resume from before
			 * it is a gap, never a silent skip. */
			topic__missed(h, t, ev[i].topic, ev[i].tlen, ev[i].seq);
			free(x);
			if(p)
				p->rc = HUB_ENOMEM;
			continue;
		}
		h->st.published++;
	}
	if(!sync)
		pthread_mutex_unlock(&h->mu);
}

/* Nothing up to upto can be replayed: resumes from before it are gaps.
 * The streams open now may have missed some of it (events of other nodes
 * this node never got), so they end, as a slow subscriber does: their
 * clients resume with Last-Event-ID and are told of the gap, never left
 * to skip it in silence. */
static void sink_lost(void *ud, uint64_t upto)
{
	struct hub *h = ud;
	struct hub_sub *s;
	struct topic *t;

	pthread_mutex_lock(&h->mu);
	if(upto > h->forgot_seq)
		h->forgot_seq = upto;
	for(t = h->lru; t; t = t->lnext)
		if(t->r.evicted_seq < upto)
			t->r.evicted_seq = upto;
	for(s = h->subs; s; s = s->next) {
		if(s->dropped)
			continue;
		s->dropped = 1;
		h->st.slow_dropped++;
		if(s->suspended)
			wake__unpark(h, s);
	}
	pthread_mutex_unlock(&h->mu);
}

static void pub_done(void *arg, int rc)
{
	struct pub *p = arg;

	if(!p->rc)
		p->rc = hub_err_of(rc);
	p->done = 1;
}

/* An asynchronous backend's done: the publisher waits for it on h->done. */
struct pub_async {
	struct pub p;
	struct hub *h;
};

static void pub_done_async(void *arg, int rc)
{
	struct pub_async *a = arg;

	pthread_mutex_lock(&a->h->mu);
	pub_done(&a->p, rc);
	pthread_cond_broadcast(&a->h->done);
	pthread_mutex_unlock(&a->h->mu);
}

/* One event of the backend's history at start-up. */
static int restore_each(void *ud, const struct store_ev *ev)
{
	struct hub *h = ud;
	struct ring_ev *x;
	struct topic *t;

	t = topic__get(h, ev->topic, ev->tlen, 1);
	if(!t) {
		/* More topics than --max-topics: the oldest went. */
		topic__missed(h, NULL, ev->topic, ev->tlen, ev->seq);
		return 0;
	}
	x = ring_ev_raw(ev->frame, ev->flen, ev->id, ev->idlen, ev->seq, ev->time_us);
	if(!x)
		return STORE_ENOMEM;
	if(h->cfg.max_memory && x->cost > h->cfg.max_memory) {
		/* Larger than --max-memory is now: left out, as a gap. */
		topic__missed(h, t, ev->topic, ev->tlen, ev->seq);
		free(x);
		return 0;
	}
	/* What the backend trimmed before its oldest event of t is not
	 * replayable: a resume from before it gets a gap. */
	if(t->r.head == t->r.tail && ev->seq - 1 > t->r.evicted_seq) {
		/* What the floor was before (a forgotten topic's, an event
		 * left out): a backend's floor never goes below it. */
		t->restored_floor = t->r.evicted_seq;
		t->r.evicted_seq = ev->seq - 1;
		t->restored_first = ev->seq;
	}
	if(topic__push(h, t, x)) {
		free(x);
		return STORE_ENOMEM;
	}
	return 0;
}

/* What a backend trimmed of a topic it restored: a resume from that
 * event or later missed nothing, so the floor goes down to it - unless
 * the ring itself evicted restored events (its floor is then above the
 * first restored one), and never below the floor the topic had before
 * its first restored event (an event left out, a topic forgotten while
 * restoring). */
static int restore_floor(void *ud, const char *topic, size_t tlen, uint64_t seq)
{
	struct hub *h = ud;
	struct topic *t = topic__get(h, topic, tlen, 0);

	if(!t || !t->restored_first || t->r.evicted_seq != t->restored_first - 1)
		return 0;
	if(seq < t->restored_floor)
		seq = t->restored_floor;
	if(seq < t->r.evicted_seq)
		t->r.evicted_seq = seq;
	return 0;
}

/* One publisher mark kept by the backend, at start-up. */
static int restore_mark(void *ud, const char *key, size_t klen, uint64_t n)
{
	struct hub *h = ud;

	if(!pubmark_key_ok(key, klen))
		return 0;  /* not one ssed wrote: ignored */
	return pubmarks_set(h->marks, key, klen, n) ? STORE_ENOMEM : 0;
}

/* ---- the hub */

struct hub *hub_new(const struct hub_config *cfg)
{
	struct store_sink sink;
	uint64_t last = 0, since = 0;
	struct hub *h;
	int rc;

	h = calloc(1, sizeof(*h));
	if(!h)
		return NULL;
	h->cfg = *cfg;
	h->ring_cap = topic__ring_cap(cfg->history);
	/* A window over a quarter of the ring would let a burst overrun
	 * streams that only wait for their turn: they would be dropped as
	 * slow instead of paced. */
	if(h->cfg.publish_window > h->ring_cap / 4)
		h->cfg.publish_window = h->ring_cap / 4;
	h->st.publish_window = h->cfg.publish_window;
	h->st.max_memory = cfg->max_memory;
	h->tabsize = 64;
	h->tab = calloc(h->tabsize, sizeof(*h->tab));
	h->marks = pubmarks_new();
	if(!h->tab || !h->marks) {
		free(h->tab);
		pubmarks_free(h->marks);
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->empty, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->room, NULL);
	pthread_cond_init(&h->done, NULL);
	sink.ud = h;
	sink.commit = sink_commit;
	sink.lost = sink_lost;
	h->store = cfg->store_open ? cfg->store_open(&sink, cfg->store_arg) : store_mem_open(&sink);
	if(!h->store)
		goto fail;
	/* No waker yet and no caller: the lock is for the rules' sake. */
	pthread_mutex_lock(&h->mu);
	rc = h->store->ops->restore(h->store, restore_each, h, &last, &since);
	if(!rc && h->store->ops->floors)
		rc = h->store->ops->floors(h->store, restore_floor, h);
	if(!rc && h->store->ops->marks)
		rc = h->store->ops->marks(h->store, restore_mark, h);
	if(last > h->seq)
		h->seq = last;
	h->first_seq = since ? since : h->seq;
	pthread_mutex_unlock(&h->mu);
	if(rc || wake__start(h))
		goto fail;
	return h;
fail:
	hub_free(h);
	return NULL;
}

void hub_free(struct hub *h)
{
	if(!h)
		return;
	wake__stop(h);
	if(h->store)
		h->store->ops->close(h->store);
	h->store = NULL;
	while(h->lru)
		topic__forget(h, h->lru, 0);
	free(h->tab);
	pubmarks_free(h->marks);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->empty);
	pthread_cond_destroy(&h->wake);
	pthread_cond_destroy(&h->room);
	pthread_cond_destroy(&h->done);
	free(h);
}

/* ---- publishing */

int hub_publish(struct hub *h, const char *topic, size_t tlen,
		const struct sse_event *ev, int flags, char *id_out)
{
	return hub_publish_marked(h, topic, tlen, ev, flags, id_out, NULL);
}

/* Claim mark (the lock held): 1 new (se carries it, *prev for an
 * unclaim), 0 published already, -1 not numbered (or no memory for it:
 * published unnumbered, as without a mark). */
static int claim(struct hub *h, const struct hub_mark *mark, struct store_ev *se, uint64_t *prev)
{
	int c;

	if(!mark || !mark->key)
		return -1;
	c = pubmarks_claim(h->marks, mark->key, mark->klen, mark->n, prev);
	if(c == 0) {
		h->st.repeated++;
		return 0;
	}
	if(c > 0) {
		se->pub = mark->key;
		se->publen = mark->klen;
		se->pub_n = mark->n;
	}
	return c;
}

int hub_publish_marked(struct hub *h, const char *topic, size_t tlen,
		       const struct sse_event *ev, int flags, char *id_out,
		       const struct hub_mark *mark)
{
	struct pub_async a = { { NULL, NULL, id_out, 0, 0 }, h };
	struct store_ev se;
	struct topic *t;
	uint64_t prev = 0;
	int bad, rc, c;

	/* Frame outside the lock; only the id line waits for the seq. */
	a.p.x = ring_ev_new(ev, &bad);
	if(!a.p.x)
		return bad ? HUB_EFIELD : HUB_ENOMEM;
	if(h->cfg.max_memory && a.p.x->cost > h->cfg.max_memory) {
		free(a.p.x);
		return HUB_ETOOBIG;
	}
	memset(&se, 0, sizeof(se));
	se.topic = topic;
	se.tlen = tlen;
	se.id = a.p.x->idlen ? a.p.x->id : NULL;
	se.idlen = a.p.x->idlen;
	se.frame = a.p.x->frame;
	se.flen = a.p.x->flen;
	se.ref = &a.p;

	pthread_mutex_lock(&h->mu);
	t = topic__get(h, topic, tlen, 1);
	if(!t) {
		rc = HUB_EBUSY;
		goto out;
	}
	t->npending++;  /* keeps t while the lock is let go */
	a.p.t = t;
	pace__wait(h, t, flags & HUB_PUB_ROOM);
	c = claim(h, mark, &se, &prev);
	if(c == 0) {
		/* Published already: the reply says so with no id. */
		id_out[0] = '\0';
		t->npending--;
		topic__maybe_drop(h, t, 0);
		rc = HUB_OK;
		goto out;
	}
	if(h->store->ops->sync) {
		rc = h->store->ops->append(h->store, &se, 1, pub_done, &a.p);
	} else {
		pthread_mutex_unlock(&h->mu);
		rc = h->store->ops->append(h->store, &se, 1, pub_done_async, &a);
		pthread_mutex_lock(&h->mu);
		while(!rc && !a.p.done)
			pthread_cond_wait(&h->done, &h->mu);
	}
	rc = rc ? hub_err_of(rc) : a.p.rc;
	if(rc && c > 0)
		pubmarks_unclaim(h->marks, mark->key, mark->klen, mark->n, prev);
	if(!rc && a.p.x) {
		/* Stored, but committed without our copy (a shared backend's
		 * reader commits every node's events as it reads them) or not
		 * yet: the id is still the seq the backend gave it. */
		ring_ev_seal(a.p.x, se.seq);
		memcpy(id_out, a.p.x->id, a.p.x->idlen + 1);
	}
	t->npending--;
	/* The event is out; the reply waits for the streams' turn. */
	if(!rc)
		pace__wait(h, t, flags & HUB_PUB_PACE);
	else
		topic__maybe_drop(h, t, 0);
out:
	pthread_mutex_unlock(&h->mu);
	free(a.p.x);  /* not taken by a commit */
	return rc;
}

/* ---- publishing a batch (a streamed publish, into a batching backend) */

int hub_batching(struct hub *h)
{
	return !h->store->ops->sync;
}

struct hub_batch *hub_batch_new(void)
{
	return calloc(1, sizeof(struct hub_batch));
}

static void batch_clear(struct hub_batch *b, size_t from)
{
	size_t i;

	for(i = from; i < b->n; i++)
		free(b->x[i]);
	b->n = 0;
}

void hub_batch_free(struct hub_batch *b)
{
	if(!b)
		return;
	batch_clear(b, 0);
	free(b->x);
	free(b->num);
	free(b);
}

int hub_batch_number(struct hub_batch *b, const char *key, size_t klen, uint64_t next)
{
	if(!b->num && b->cap) {
		b->num = calloc(b->cap, sizeof(*b->num));
		if(!b->num)
			return HUB_ENOMEM;
	}
	if(klen > sizeof(b->key))
		klen = sizeof(b->key);
	memcpy(b->key, key, klen);
	b->klen = klen;
	b->next = next;
	return HUB_OK;
}

size_t hub_batch_count(const struct hub_batch *b)
{
	return b->n;
}

int hub_batch_add(struct hub *h, struct hub_batch *b, const struct sse_event *ev)
{
	struct ring_ev *x;
	int bad;

	if(b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct ring_ev **more = realloc(b->x, cap * sizeof(*more));

		if(!more)
			return HUB_ENOMEM;
		b->x = more;
		if(b->klen || b->num) {
			uint64_t *num = realloc(b->num, cap * sizeof(*num));

			if(!num)
				return HUB_ENOMEM;
			b->num = num;
		}
		b->cap = cap;
	}
	x = ring_ev_new(ev, &bad);
	if(!x)
		return bad ? HUB_EFIELD : HUB_ENOMEM;
	if(h->cfg.max_memory && x->cost > h->cfg.max_memory) {
		free(x);
		return HUB_ETOOBIG;
	}
	if(b->klen)
		b->num[b->n] = b->next++;
	b->x[b->n++] = x;
	return HUB_OK;
}

/* One append of n events (p and se filled), waited for; the lock held. */
static int append_wait(struct hub *h, struct store_ev *se, struct pub *p, size_t n)
{
	struct pub_async a = { { NULL, NULL, NULL, 0, 0 }, h };
	size_t i;
	int rc;

	if(h->store->ops->sync) {
		rc = h->store->ops->append(h->store, se, n, pub_done, &a.p);
	} else {
		pthread_mutex_unlock(&h->mu);
		rc = h->store->ops->append(h->store, se, n, pub_done_async, &a);
		pthread_mutex_lock(&h->mu);
		while(!rc && !a.p.done)
			pthread_cond_wait(&h->done, &h->mu);
	}
	rc = rc ? hub_err_of(rc) : a.p.rc;
	for(i = 0; i < n && !rc; i++)
		rc = p[i].rc;
	return rc;
}

int hub_publish_batch(struct hub *h, const char *topic, size_t tlen, struct hub_batch *b,
		      int flags, size_t *published)
{
	/* A piece pushes out at most the oldest eighth of a full ring: what
	 * HUB_PUB_ROOM keeps a live reader out of before each piece. */
	size_t piece = h->ring_cap / 8 ? h->ring_cap / 8 : 1, i = 0, k, m, n = 0;
	uint64_t *prev = NULL;
	struct store_ev *se;
	struct topic *t;
	struct pub *p;
	int rc = HUB_OK;

	*published = 0;
	if(!b->n)
		return HUB_OK;
	if(piece > b->n)
		piece = b->n;
	p = calloc(piece, sizeof(*p));
	se = calloc(piece, sizeof(*se));
	if(b->klen)
		prev = calloc(piece, sizeof(*prev));
	if(!p || !se || (b->klen && !prev)) {
		rc = HUB_ENOMEM;
		goto free;
	}
	pthread_mutex_lock(&h->mu);
	t = topic__get(h, topic, tlen, 1);
	if(!t) {
		rc = HUB_EBUSY;
		goto unlock;
	}
	t->npending++;
	for(; i < b->n && !rc; i += n) {
		n = b->n - i < piece ? b->n - i : piece;
		pace__wait(h, t, flags & HUB_PUB_ROOM);
		/* The piece's events, less those their publisher sent before. */
		for(k = m = 0; k < n; k++) {
			struct ring_ev *x = b->x[i + k];
			struct hub_mark mark = { b->key, b->klen, b->klen ? b->num[i + k] : 0 };

			memset(&se[m], 0, sizeof(se[m]));
			if(b->klen && !claim(h, &mark, &se[m], &prev[m])) {
				free(x);
				b->x[i + k] = NULL;
				continue;
			}
			memset(&p[m], 0, sizeof(p[m]));
			p[m].x = x;
			p[m].t = t;
			se[m].topic = topic;
			se[m].tlen = tlen;
			se[m].id = x->idlen ? x->id : NULL;
			se[m].idlen = x->idlen;
			se[m].frame = x->frame;
			se[m].flen = x->flen;
			se[m].ref = &p[m];
			m++;
		}
		if(m)
			rc = append_wait(h, se, p, m);
		for(k = 0; k < m; k++)
			free(p[k].x);  /* not taken by a commit */
		for(k = m; rc && k-- > 0;)
			if(se[k].pub)
				pubmarks_unclaim(h->marks, b->key, b->klen, se[k].pub_n, prev[k]);
		for(k = 0; k < n; k++)
			b->x[i + k] = NULL;
		if(!rc)
			*published += n;
	}
	t->npending--;
	if(!rc)
		pace__wait(h, t, flags & HUB_PUB_PACE);
	else
		topic__maybe_drop(h, t, 0);
unlock:
	pthread_mutex_unlock(&h->mu);
free:
	free(p);
	free(se);
	free(prev);
	batch_clear(b, i);
	return rc;
}

/* ---- stopping and counting */

size_t hub_close(struct hub *h)
{
	struct hub_sub *s;
	size_t left;

	wake__stop(h);
	pthread_mutex_lock(&h->mu);
	h->closing = 1;
	pthread_cond_broadcast(&h->room);  /* publishers waiting for room go on */
	for(s = h->subs; s; s = s->next)
		if(s->suspended)
			wake__unpark(h, s);
	left = h->st.subscribers;
	pthread_mutex_unlock(&h->mu);
	return left;
}

size_t hub_wait_empty(struct hub *h, int ms)
{
	struct timespec ts;
	size_t left;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if(ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->mu);
	while(h->st.subscribers &&
	      pthread_cond_timedwait(&h->empty, &h->mu, &ts) != ETIMEDOUT)
		;
	left = h->st.subscribers;
	pthread_mutex_unlock(&h->mu);
	return left;
}

void hub_store_stats(struct hub *h, struct store_stats *st, const char **name)
{
	/* The backend serialises stats itself: no hub lock. */
	h->store->ops->stats(h->store, st);
	*name = h->store->ops->name;
}

void hub_stats(struct hub *h, struct hub_stats *st)
{
	pthread_mutex_lock(&h->mu);
	*st = h->st;
	pthread_mutex_unlock(&h->mu);
}

uint64_t hub_gone(struct hub *h)
{
	uint64_t n;

	pthread_mutex_lock(&h->mu);
	n = h->gone;
	pthread_mutex_unlock(&h->mu);
	return n;
}

size_t hub_subscribers(struct hub *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->st.subscribers;
	pthread_mutex_unlock(&h->mu);
	return n;
}
