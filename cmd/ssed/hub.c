/*
 * hub.c - topics, the shared event log, subscribers' cursors and wake-ups.
 *
 * Each topic keeps a ring of framed events. Events carry a hub-wide
 * sequence number (seq) that only grows, so within a ring seqs are sorted:
 * a resume point is a binary search, and a stream over several topics
 * merges them by seq. A subscriber holds one cursor (a ring index) per
 * topic; a cursor that points below the ring's tail has lost events, and
 * its subscriber is dropped (it resumes with Last-Event-ID and is told of
 * the gap). Parked subscribers sit on their topics' waiter lists, so a
 * publish wakes exactly the streams that have something new.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"

#define ID_ROOM 32          /* room before a frame for "id: <seq>\n" */
#define RING_MIN 64         /* events a ring holds for delivery at least */
#define ROUNDS 16           /* wake rounds a topic tracks for pacing */

struct ev {
	uint64_t seq;
	size_t len;          /* wire bytes */
	size_t idlen;
	char *bytes;         /* the wire bytes, inside mem */
	char *id;            /* the id, NUL-terminated, inside mem */
	char mem[];
};

struct cursor {
	struct topic *t;
	uint64_t next;                  /* ring index of the next event to send */
	struct cursor *wprev, *wnext;   /* on t's waiter list while parked */
	struct cursor *aprev, *anext;   /* on t's list of all cursors */
	struct hub_sub *sub;
};

/* One pass of the waker over a topic: the streams it woke that have not
 * read since. They all parked at or after base (the topic's head at the
 * pass before), so none of them is more than head - base events behind. */
struct round {
	uint64_t base;
	size_t left;
};

struct topic {
	struct topic *hnext;
	struct ev **ring;
	size_t size;                    /* slots in ring (a power of two) */
	uint64_t head, tail;            /* retained: indexes [tail, head) */
	size_t bytes;
	uint64_t evicted_seq;           /* seq of the newest evicted event */
	struct cursor *waiters;
	struct topic *dnext;            /* on the hub's dirty list */
	int dirty;
	struct cursor *all;             /* every subscriber's cursor */
	uint64_t low;                   /* no live cursor is below it */
	unsigned nblocked;              /* publishers waiting for room */
	unsigned npaced;                /* publishers waiting for a round */
	struct round rounds[ROUNDS];    /* live rounds, oldest at rfirst */
	uint64_t rfirst;                /* number of the oldest live round */
	unsigned nrounds;
	uint64_t wake_head;             /* head at the waker's last pass */
	size_t nsubs;
	size_t namelen;
	char name[];
};

struct hub_sub {
	struct hub_sub *prev, *next;
	void *conn;
	int suspended;
	int dropped;
	unsigned hb;
	struct topic *rt;               /* woken in round rid of rt, not read yet */
	uint64_t rid;
	size_t partial;                 /* bytes of the current event sent */
	char *pre;                      /* opening bytes, then NULL */
	size_t pre_len, pre_off;
	size_t ncur;
	struct cursor cur[];
};

struct hub {
	pthread_mutex_t mu;
	pthread_cond_t empty;
	struct hub_config cfg;
	size_t ring_cap;                /* max(history, RING_MIN) */
	struct topic **tab;
	size_t tabsize;
	struct hub_sub *subs;
	uint64_t seq;
	uint64_t first_seq;             /* below it: ids of an earlier run */
	unsigned hb;
	int closing;
	struct hub_stats st;
	/* The waker: publish only marks a topic dirty; this thread unparks
	 * its waiters, so a publisher's reply need not wait on the fan-out
	 * and a burst wakes each stream once. */
	struct topic *dirty;
	pthread_cond_t wake;
	pthread_cond_t room;            /* a reader moved on: publishers may go */
	pthread_t waker;
	int waker_on;
};

#define EV(t, i) ((t)->ring[(i) & ((t)->size - 1)])

static void *waker_main(void *arg);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t hash(const char *s, size_t n)
{
	uint64_t x = 14695981039346656037ULL;

	while(n--)
		x = (x ^ (unsigned char)*s++) * 1099511628211ULL;
	return x;
}

int hub_topic_ok(const char *name, size_t len)
{
	size_t i;

	if(len == 0 || len > HUB_TOPIC_MAX)
		return 0;
	for(i = 0; i < len; i++) {
		char c = name[i];

		if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' || c == '-'))
			return 0;
	}
	return 1;
}

struct hub *hub_new(const struct hub_config *cfg)
{
	struct hub *h;

	h = calloc(1, sizeof(*h));
	if(!h)
		return NULL;
	h->cfg = *cfg;
	h->ring_cap = cfg->history > RING_MIN ? cfg->history : RING_MIN;
	h->tabsize = 64;
	h->tab = calloc(h->tabsize, sizeof(*h->tab));
	if(!h->tab) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->empty, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->room, NULL);
	h->seq = now_us();
	h->first_seq = h->seq;
	if(pthread_create(&h->waker, NULL, waker_main, h)) {
		hub_free(h);
		return NULL;
	}
	h->waker_on = 1;
	return h;
}

static void topic_free(struct topic *t)
{
	uint64_t i;

	for(i = t->tail; i < t->head; i++)
		free(EV(t, i));
	free(t->ring);
	free(t);
}

static void stop_waker(struct hub *h)
{
	if(!h->waker_on)
		return;
	pthread_mutex_lock(&h->mu);
	h->closing = 1;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->waker, NULL);
	h->waker_on = 0;
}

void hub_free(struct hub *h)
{
	struct topic *t, *next;
	size_t i;

	if(!h)
		return;
	stop_waker(h);
	for(i = 0; i < h->tabsize; i++) {
		for(t = h->tab[i]; t; t = next) {
			next = t->hnext;
			topic_free(t);
		}
	}
	free(h->tab);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->empty);
	pthread_cond_destroy(&h->wake);
	pthread_cond_destroy(&h->room);
	free(h);
}

static void tab_grow(struct hub *h)
{
	size_t size = h->tabsize * 2, i;
	struct topic **tab, *t, *next;

	tab = calloc(size, sizeof(*tab));
	if(!tab)
		return;  /* longer chains, still correct */
	for(i = 0; i < h->tabsize; i++) {
		for(t = h->tab[i]; t; t = next) {
			uint64_t k = hash(t->name, t->namelen) & (size - 1);

			next = t->hnext;
			t->hnext = tab[k];
			tab[k] = t;
		}
	}
	free(h->tab);
	h->tab = tab;
	h->tabsize = size;
}

/* The topic called name; created when create is set and limits allow. */
static struct topic *topic_get(struct hub *h, const char *name, size_t len, int create)
{
	uint64_t k = hash(name, len) & (h->tabsize - 1);
	struct topic *t;

	for(t = h->tab[k]; t; t = t->hnext)
		if(t->namelen == len && !memcmp(t->name, name, len))
			return t;
	if(!create || h->st.topics >= h->cfg.max_topics)
		return NULL;
	t = calloc(1, sizeof(*t) + len + 1);
	if(!t)
		return NULL;
	memcpy(t->name, name, len);
	t->namelen = len;
	t->hnext = h->tab[k];
	h->tab[k] = t;
	if(++h->st.topics > h->tabsize)
		tab_grow(h);
	return t;
}

/* Free a topic that holds nothing and has no subscribers. */
static void topic_maybe_drop(struct hub *h, struct topic *t)
{
	struct topic **pp;

	if(t->nsubs || t->head != t->tail || t->dirty || t->nblocked || t->npaced)
		return;
	for(pp = &h->tab[hash(t->name, t->namelen) & (h->tabsize - 1)]; *pp; pp = &(*pp)->hnext) {
		if(*pp == t) {
			*pp = t->hnext;
			h->st.topics--;
			topic_free(t);
			return;
		}
	}
}

static void evict_one(struct hub *h, struct topic *t)
{
	struct ev *old = EV(t, t->tail);

	t->bytes -= old->len;
	t->evicted_seq = old->seq;
	t->tail++;
	h->st.retained_events--;
	h->st.retained_bytes -= old->len;
	free(old);
}

static int ring_push(struct hub *h, struct topic *t, struct ev *e)
{
	if(t->head - t->tail == t->size) {
		if(t->size < h->ring_cap) {
			size_t size = t->size ? t->size * 2 : 16;
			struct ev **ring;
			uint64_t i;

			ring = malloc(size * sizeof(*ring));
			if(!ring)
				return HUB_ENOMEM;
			for(i = t->tail; i < t->head; i++)
				ring[i & (size - 1)] = EV(t, i);
			free(t->ring);
			t->ring = ring;
			t->size = size;
		} else {
			evict_one(h, t);
		}
	}
	EV(t, t->head) = e;
	t->head++;
	t->bytes += e->len;
	h->st.retained_events++;
	h->st.retained_bytes += e->len;
	return 0;
}

static void evict(struct hub *h, struct topic *t)
{
	while(t->head - t->tail > 1 &&
	      (t->head - t->tail > h->ring_cap || t->bytes > h->cfg.history_bytes))
		evict_one(h, t);
}

/* Take s off its topics' waiter lists. */
static void unlink_waiter(struct hub_sub *s)
{
	size_t i;

	for(i = 0; i < s->ncur; i++) {
		struct cursor *c = &s->cur[i];

		if(c->wprev)
			c->wprev->wnext = c->wnext;
		else if(c->t->waiters == c)
			c->t->waiters = c->wnext;
		if(c->wnext)
			c->wnext->wprev = c->wprev;
		c->wprev = c->wnext = NULL;
	}
}

static void unpark(struct hub *h, struct hub_sub *s)
{
	unlink_waiter(s);
	if(s->suspended) {
		s->suspended = 0;
		h->cfg.ops.resume(s->conn);
	}
}

static void park(struct hub *h, struct hub_sub *s)
{
	size_t i;

	if(s->suspended)
		return;  /* parked already: it stays on the lists once */
	for(i = 0; i < s->ncur; i++) {
		struct cursor *c = &s->cur[i];

		c->wprev = NULL;
		c->wnext = c->t->waiters;
		if(c->wnext)
			c->wnext->wprev = c;
		c->t->waiters = c;
	}
	s->suspended = 1;
	h->cfg.ops.suspend(s->conn);
}

/* Wake t's waiters as one round (merged into the newest when ROUNDS are
 * live), so publishers can tell how far behind the woken streams are. */
static void wake_round(struct hub *h, struct topic *t)
{
	struct round *r;
	uint64_t id;

	if(!t->waiters)
		return;
	if(t->nrounds == ROUNDS) {
		id = t->rfirst + ROUNDS - 1;
	} else {
		id = t->rfirst + t->nrounds++;
		t->rounds[id % ROUNDS].base = t->wake_head;
		t->rounds[id % ROUNDS].left = 0;
	}
	r = &t->rounds[id % ROUNDS];
	while(t->waiters) {
		struct hub_sub *s = t->waiters->sub;

		if(!s->rt) {
			s->rt = t;
			s->rid = id;
			r->left++;
		}
		unpark(h, s);
	}
	t->wake_head = t->head;
}

/* s read (or left) after a wake: its round may be over. */
static void round_done(struct hub *h, struct hub_sub *s)
{
	struct topic *t = s->rt;
	int over = 0;

	if(!t)
		return;
	s->rt = NULL;
	t->rounds[s->rid % ROUNDS].left--;
	while(t->nrounds && t->rounds[t->rfirst % ROUNDS].left == 0) {
		t->rfirst++;
		t->nrounds--;
		over = 1;
	}
	if(over && t->npaced)
		pthread_cond_broadcast(&h->room);
}

/*
 * The waker thread: take the dirty topics and wake their waiters. Waking is
 * cheap (ops.resume queues the stream), so it runs under the lock: a
 * stream leaves the waiter lists and is resumed in one step, and nothing
 * can free it in between. Events published meanwhile dirty their topics
 * again for the next pass, so a burst costs each stream one wake-up.
 */
static void *waker_main(void *arg)
{
	struct hub *h = arg;
	struct topic *t;

	pthread_mutex_lock(&h->mu);
	while(!h->closing) {
		if(!h->dirty) {
			pthread_cond_wait(&h->wake, &h->mu);
			continue;
		}
		while((t = h->dirty)) {
			h->dirty = t->dnext;
			t->dirty = 0;
			wake_round(h, t);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* ---- publisher backpressure */

/* The lowest cursor of a subscriber still in the race (not dropped, not
 * already past saving); head when there is none. */
static uint64_t topic_low(struct topic *t)
{
	uint64_t low = t->head;
	struct cursor *c;

	for(c = t->all; c; c = c->anext)
		if(!c->sub->dropped && c->next >= t->tail && c->next < low)
			low = c->next;
	return low;
}

/* The oldest eighth of a full ring: a subscriber in it is about to lose
 * events to the next publish. */
static uint64_t danger(const struct topic *t)
{
	uint64_t m = (t->head - t->tail) / 8;

	return t->tail + (m ? m : 1);
}

/* Would the next publish push out events a live subscriber has not read? */
static int congested(struct hub *h, struct topic *t)
{
	if(t->head - t->tail < h->ring_cap && t->bytes <= h->cfg.history_bytes / 8 * 7)
		return 0;
	if(t->low >= danger(t))
		return 0;
	t->low = topic_low(t);
	return t->low < danger(t);
}

static void maybe_unblock(struct hub *h, struct topic *t)
{
	if(t->nblocked && !congested(h, t))
		pthread_cond_broadcast(&h->room);
}

/* Drop the subscribers that hold a publisher back past HUB_PUB_WAIT_US. */
static void drop_laggards(struct hub *h, struct topic *t)
{
	struct cursor *c;
	uint64_t d = danger(t);

	for(c = t->all; c; c = c->anext) {
		if(!c->sub->dropped && c->next >= t->tail && c->next < d) {
			c->sub->dropped = 1;
			h->st.slow_dropped++;
		}
	}
	t->low = topic_low(t);
}

/* Are t's woken streams publish_window events or more behind? */
static int paced(struct hub *h, struct topic *t)
{
	return h->cfg.publish_window && t->nrounds &&
	       t->head - t->rounds[t->rfirst % ROUNDS].base >= h->cfg.publish_window;
}

/* Wait, lock held, as flags ask (see hub_publish); past HUB_PUB_WAIT_US
 * go on, first dropping the readers who still hold back room. */
static void pub_wait(struct hub *h, struct topic *t, int flags)
{
	struct timespec until;
	int room = flags & HUB_PUB_ROOM, pace = flags & HUB_PUB_PACE;

	if(h->closing || (!(room && congested(h, t)) && !(pace && paced(h, t))))
		return;  /* the common case: no clock reading, no wait */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(HUB_PUB_WAIT_US % 1000000u) * 1000;
	until.tv_sec += (time_t)(HUB_PUB_WAIT_US / 1000000u) + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	/* The counts keep t from being freed meanwhile, and tell readers
	 * whom to wake. */
	if(room)
		t->nblocked++;
	if(pace)
		t->npaced++;
	h->st.pub_waits++;
	h->st.pub_waiting++;
	while(!h->closing && ((room && congested(h, t)) || (pace && paced(h, t)))) {
		if(pthread_cond_timedwait(&h->room, &h->mu, &until) == ETIMEDOUT) {
			if(room && !h->closing && congested(h, t))
				drop_laggards(h, t);
			break;
		}
	}
	if(room)
		t->nblocked--;
	if(pace)
		t->npaced--;
	h->st.pub_waiting--;
}

int hub_publish(struct hub *h, const char *topic, size_t tlen,
		const struct sse_event *ev, int flags, char *id_out)
{
	struct sse_event e = *ev;
	struct topic *t;
	struct ev *x;
	size_t size, idroom;
	int rc = HUB_OK;

	if(e.id && (e.id_len == 0 || e.id_len > HUB_ID_MAX))
		return HUB_EFIELD;
	e.retry = -1;
	size = sse_frame_size(&e);
	if(!size)
		return HUB_EFIELD;
	/* Frame outside the lock; only the id line of a hub id waits for it. */
	idroom = e.id ? e.id_len : 20;
	x = malloc(sizeof(*x) + ID_ROOM + size + idroom + 1);
	if(!x)
		return HUB_ENOMEM;
	sse_frame_write(x->mem + ID_ROOM, size, &e);
	x->id = x->mem + ID_ROOM + size;
	if(e.id) {
		memcpy(x->id, e.id, e.id_len);
		x->id[e.id_len] = '\0';
		x->idlen = e.id_len;
		x->bytes = x->mem + ID_ROOM;
		x->len = size;
	}

	pthread_mutex_lock(&h->mu);
	t = topic_get(h, topic, tlen, 1);
	if(!t) {
		rc = HUB_EBUSY;
		goto out;
	}
	pub_wait(h, t, flags & HUB_PUB_ROOM);
	x->seq = now_us();
	if(x->seq <= h->seq)
		x->seq = h->seq + 1;
	h->seq = x->seq;
	if(!e.id) {
		char line[ID_ROOM];
		int n = snprintf(line, sizeof(line), "id: %llu\n", (unsigned long long)x->seq);

		x->bytes = x->mem + ID_ROOM - n;
		memcpy(x->bytes, line, (size_t)n);
		x->len = size + (size_t)n;
		x->idlen = (size_t)n - 5;
		memcpy(x->id, line + 4, x->idlen);
		x->id[x->idlen] = '\0';
	}
	rc = ring_push(h, t, x);
	if(rc)
		goto out;
	evict(h, t);
	h->st.published++;
	memcpy(id_out, x->id, x->idlen + 1);
	x = NULL;
	if(t->waiters && !t->dirty) {
		t->dirty = 1;
		t->dnext = h->dirty;
		if(!h->dirty)
			pthread_cond_signal(&h->wake);
		h->dirty = t;
	}
	/* The event goes out now; the reply waits for the streams' turn. */
	pub_wait(h, t, flags & HUB_PUB_PACE);
out:
	if(t && rc)
		topic_maybe_drop(h, t);
	pthread_mutex_unlock(&h->mu);
	free(x);
	return rc;
}

/* The first ring index in [lo, head) whose event has a seq above s. */
static uint64_t find_after(struct topic *t, uint64_t lo, uint64_t s)
{
	uint64_t hi = t->head;

	while(lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if(EV(t, mid)->seq <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The oldest index a resume may replay from, and the newest seq it can't. */
static uint64_t replay_start(struct hub *h, struct topic *t, uint64_t *lost)
{
	uint64_t lo = t->tail;

	if(t->head - lo > h->cfg.history)
		lo = t->head - h->cfg.history;
	*lost = lo > t->tail ? EV(t, lo - 1)->seq : t->evicted_seq;
	return lo;
}

/* Where last_id stands in seq terms: 1 and *seq when it can be placed. */
static int place_id(struct hub *h, struct hub_sub *s, const char *id, uint64_t *seq)
{
	size_t i, n = strlen(id);
	uint64_t v = 0, j;

	for(i = 0; i < s->ncur; i++) {
		struct topic *t = s->cur[i].t;

		for(j = t->head; j > t->tail; j--) {
			struct ev *e = EV(t, j - 1);

			if(e->idlen == n && !memcmp(e->id, id, n)) {
				*seq = e->seq;
				return 1;
			}
		}
	}
	/* Not retained: a number from this run's range still places; one from
	 * an earlier run cannot (what came after it then is gone). */
	if(n == 0 || n > 20)
		return 0;
	for(i = 0; i < n; i++) {
		if(id[i] < '0' || id[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(id[i] - '0');
	}
	if(v < h->first_seq || v > h->seq)
		return 0;
	*seq = v;
	return 1;
}

static char *opening(struct hub *h, const char *gap_id, size_t *len)
{
	struct sse_buf b;
	char retry[40];

	sse_buf_init(&b, 1024);
	sse_buf_append(&b, ": ssed\n", 7);
	if(h->cfg.retry_ms >= 0) {
		snprintf(retry, sizeof(retry), "retry: %lld\n", h->cfg.retry_ms);
		sse_buf_append(&b, retry, strlen(retry));
	}
	if(gap_id) {
		struct sse_event e = { NULL, 0, "ssed-gap", 8, gap_id, strlen(gap_id), -1 };

		sse_frame_event(&b, &e);
	}
	*len = b.len;
	return b.data;
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
	struct hub_sub *s;
	uint64_t seq = 0, lost;
	int placed = 0, gap = 0;
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
		struct topic *t = topic_get(h, topics[i], tlens[i], 1);

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
	if(last_id)
		placed = place_id(h, s, last_id, &seq);
	for(i = 0; i < s->ncur; i++) {
		struct topic *t = s->cur[i].t;

		if(!last_id) {
			s->cur[i].next = t->head;
			continue;
		}
		s->cur[i].next = replay_start(h, t, &lost);
		if(!placed || lost > seq)
			gap = 1;
		else
			s->cur[i].next = find_after(t, s->cur[i].next, seq);
	}
	for(i = 0; i < s->ncur; i++)
		if(s->cur[i].next < s->cur[i].t->low)
			s->cur[i].t->low = s->cur[i].next;
	if(gap)
		h->st.gaps++;
	s->pre = opening(h, gap ? last_id : NULL, &s->pre_len);
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
		topic_maybe_drop(h, s->cur[i].t);
	}
	pthread_mutex_unlock(&h->mu);
	free(s);
	return NULL;
}

static int behind(const struct hub_sub *s)
{
	size_t i;

	for(i = 0; i < s->ncur; i++)
		if(s->cur[i].next < s->cur[i].t->tail)
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
	unpark(h, s);
	round_done(h, s);
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
		maybe_unblock(h, s->cur[i].t);
		topic_maybe_drop(h, s->cur[i].t);
	}
	if(--h->st.subscribers == 0)
		pthread_cond_broadcast(&h->empty);
	pthread_mutex_unlock(&h->mu);
	free(s->pre);
	free(s);
}

/* hub_read with the lock held. */
static ssize_t read_locked(struct hub *h, struct hub_sub *s, char *buf, size_t max, int *parked)
{
	size_t n = 0, i, k;
	struct cursor *c;
	struct ev *e;

	if(parked)
		*parked = 0;
	round_done(h, s);
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
	/* Events leave a ring only in hub_publish, under this same lock, so
	 * one look before the copy loop is enough. */
	if(behind(s)) {
		s->dropped = 1;
		h->st.slow_dropped++;
		if(!n)
			goto end;
		max = n;  /* send the opening bytes; the next read ends it */
	}
	while(n < max) {
		/* The pending event with the lowest seq, across the topics. */
		c = NULL;
		e = NULL;
		for(i = 0; i < s->ncur; i++) {
			struct cursor *ci = &s->cur[i];

			if(ci->next < ci->t->head &&
			   (!e || EV(ci->t, ci->next)->seq < e->seq)) {
				c = ci;
				e = EV(ci->t, ci->next);
			}
		}
		if(!e) {
			if(parked && n) {
				park(h, s);  /* all copied: wake it for the next event */
				*parked = 1;
			}
			break;
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
		maybe_unblock(h, s->cur[i].t);
	if(n == 0 && s->hb != h->hb && max >= 2) {
		memcpy(buf, ":\n", 2);  /* a comment line: no dispatch point */
		n = 2;
	}
	if(n == 0) {
		park(h, s);
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
		      size_t head, size_t tail, size_t max, size_t min_room)
{
	size_t i, off = 0;

	pthread_mutex_lock(&h->mu);
	for(i = 0; i < n; i++) {
		size_t room = size - off;

		if(room < head + tail + min_room)
			break;
		room -= head + tail;
		r[i].buf = buf + off + head;
		r[i].n = read_locked(h, r[i].sub, r[i].buf, room < max ? room : max, &r[i].parked);
		if(r[i].n > 0)
			off += head + (size_t)r[i].n + tail;
	}
	pthread_mutex_unlock(&h->mu);
	return i;
}

void hub_quiet(struct hub *h, struct hub_sub *s)
{
	pthread_mutex_lock(&h->mu);
	unlink_waiter(s);
	s->suspended = 0;
	round_done(h, s);
	pthread_mutex_unlock(&h->mu);
}

void hub_heartbeat(struct hub *h)
{
	struct hub_sub *s;

	pthread_mutex_lock(&h->mu);
	h->hb++;
	for(s = h->subs; s; s = s->next)
		if(s->suspended)
			unpark(h, s);
	pthread_mutex_unlock(&h->mu);
}

size_t hub_close(struct hub *h)
{
	struct hub_sub *s;
	size_t left;

	stop_waker(h);
	pthread_mutex_lock(&h->mu);
	h->closing = 1;
	pthread_cond_broadcast(&h->room);  /* publishers waiting for room go on */
	for(s = h->subs; s; s = s->next)
		if(s->suspended)
			unpark(h, s);
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

void hub_stats(struct hub *h, struct hub_stats *st)
{
	pthread_mutex_lock(&h->mu);
	*st = h->st;
	pthread_mutex_unlock(&h->mu);
}

size_t hub_subscribers(struct hub *h)
{
	size_t n;

	pthread_mutex_lock(&h->mu);
	n = h->st.subscribers;
	pthread_mutex_unlock(&h->mu);
	return n;
}
