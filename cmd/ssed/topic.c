/*
 * topic.c - the hub's topic table and what each topic retains.
 *
 * Topics are found by name in a hash table and kept in use order, so when
 * the table is full (max_topics) the least recently used topic nobody
 * holds is forgotten to make room. A topic with nothing retained and
 * nobody holding it is forgotten at once. Retention: a ring keeps at most
 * max(history, RING_MIN) events and history_bytes bytes (the newest event
 * always), all rings together at most max_memory (the oldest events of the
 * largest topics go first), and with history_age_us no event older than
 * that (hub_expire). What leaves a ring is trimmed from the backend too.
 *
 * Called with the hub's lock held, but for hub_topic_ok and hub_expire.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_int.h"

#define RING_MIN 64         /* events a ring holds for delivery at least */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

size_t topic__ring_cap(size_t history)
{
	return history > RING_MIN ? history : RING_MIN;
}

size_t hub_ring_cap(size_t history)
{
	return topic__ring_cap(history);
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

/* ---- topics: the table, their use order, and forgetting them */

static void lru_unlink(struct hub *h, struct topic *t)
{
	if(t->lprev)
		t->lprev->lnext = t->lnext;
	else
		h->lru = t->lnext;
	if(t->lnext)
		t->lnext->lprev = t->lprev;
	else
		h->lru_tail = t->lprev;
	t->lprev = t->lnext = NULL;
}

static void lru_front(struct hub *h, struct topic *t)
{
	if(h->lru == t)
		return;
	if(t->lprev || t->lnext || h->lru_tail == t)
		lru_unlink(h, t);
	t->lnext = h->lru;
	if(h->lru)
		h->lru->lprev = t;
	h->lru = t;
	if(!h->lru_tail)
		h->lru_tail = t;
}

/* Drop t's oldest event. */
static void evict_one(struct hub *h, struct topic *t)
{
	struct ring_ev *old = RING_EV(&t->r, t->r.tail);

	h->st.retained_events--;
	h->st.retained_bytes -= old->len;
	h->st.memory_bytes -= old->cost;
	ring_evict(&t->r);
}

/* Tell the backend what left t's ring; never what the ring still holds
 * (evicted_seq can mark an event that never reached it, topic__missed). */
static void trim_store(struct hub *h, struct topic *t)
{
	uint64_t below = t->r.evicted_seq + 1;

	if(t->r.head != t->r.tail && RING_EV(&t->r, t->r.tail)->seq < below)
		below = RING_EV(&t->r, t->r.tail)->seq;
	if(h->store && h->store->ops->trim)
		h->store->ops->trim(h->store, t->name, t->namelen, below);
}

/* Can t go? Nobody holds it: no subscriber, publisher or wake. */
static int topic_idle(const struct topic *t)
{
	return !t->nsubs && !t->dirty && !t->nblocked && !t->npaced && !t->npending;
}

void topic__missed(struct hub *h, struct topic *t, const char *name, size_t len, uint64_t seq)
{
	uint64_t *floor = t ? &t->r.evicted_seq : &h->forgot[hash(name, len) & (HUB_FORGOT_BUCKETS - 1)];

	if(seq > *floor)
		*floor = seq;
	h->st.evicted_events++;
}

/* Forget t, retained events and all; counted as expired when counted. */
void topic__forget(struct hub *h, struct topic *t, int counted)
{
	struct topic **pp;
	int had = t->r.head != t->r.tail;
	uint64_t k;

	while(t->r.head != t->r.tail)
		evict_one(h, t);
	if(had)
		trim_store(h, t);
	/* A topic of that name made later starts from here: a resume from
	 * before it cannot be replayed. */
	k = hash(t->name, t->namelen) & (HUB_FORGOT_BUCKETS - 1);
	if(t->r.evicted_seq > h->forgot[k])
		h->forgot[k] = t->r.evicted_seq;
	for(pp = &h->tab[hash(t->name, t->namelen) & (h->tabsize - 1)]; *pp; pp = &(*pp)->hnext) {
		if(*pp == t) {
			*pp = t->hnext;
			break;
		}
	}
	lru_unlink(h, t);
	h->st.topics--;
	if(counted)
		h->st.expired_topics++;
	ring_free(&t->r);
	free(t);
}

/* Forget t when it holds nothing and nobody holds it. */
void topic__maybe_drop(struct hub *h, struct topic *t, int counted)
{
	if(topic_idle(t) && t->r.head == t->r.tail)
		topic__forget(h, t, counted);
}

/* The table is full: forget the least recently used topic nobody holds. */
static int make_room(struct hub *h)
{
	struct topic *t;

	for(t = h->lru_tail; t; t = t->lprev) {
		if(topic_idle(t)) {
			topic__forget(h, t, 1);
			return 1;
		}
	}
	return 0;
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

/* The topic called name, now the most recently used; created when create
 * is set and there is room or room can be made. */
struct topic *topic__get(struct hub *h, const char *name, size_t len, int create)
{
	uint64_t k = hash(name, len) & (h->tabsize - 1);
	struct topic *t;

	for(t = h->tab[k]; t; t = t->hnext) {
		if(t->namelen == len && !memcmp(t->name, name, len)) {
			lru_front(h, t);
			return t;
		}
	}
	if(!create)
		return NULL;
	if(h->st.topics >= h->cfg.max_topics && !make_room(h))
		return NULL;
	t = calloc(1, sizeof(*t) + len + 1);
	if(!t)
		return NULL;
	memcpy(t->name, name, len);
	t->namelen = len;
	k = hash(name, len);
	t->r.evicted_seq = h->forgot[k & (HUB_FORGOT_BUCKETS - 1)];
	if(t->r.evicted_seq < h->forgot_seq)
		t->r.evicted_seq = h->forgot_seq;
	k &= h->tabsize - 1;
	t->hnext = h->tab[k];
	h->tab[k] = t;
	lru_front(h, t);
	if(++h->st.topics > h->tabsize)
		tab_grow(h);
	return t;
}

/* ---- retention: per topic, over all topics, by age */

/* What t could give up for max_memory: all but the newest event of keep
 * (the one being stored). */
static size_t evictable(const struct topic *t, const struct topic *keep)
{
	size_t c = t->r.cost;

	if(t == keep && t->r.head != t->r.tail)
		c -= RING_EV(&t->r, t->r.head - 1)->cost;
	return c;
}

/*
 * Evict for max_memory down to a little under it, so that one pass frees
 * more than one event. A pass finds the largest topic's size L, then takes
 * the oldest events of every topic holding L/2 or more (least recently
 * used first) until enough is free: the large topics pay, oldest first,
 * and many equal topics cost one pass over the table, not one per event.
 */
static void evict_for_memory(struct hub *h, struct topic *keep)
{
	size_t target = h->cfg.max_memory - h->cfg.max_memory / 64;

	while(h->st.memory_bytes > target) {
		struct topic *t, *prev;
		size_t big = 0, c;

		for(t = h->lru; t; t = t->lnext) {
			c = evictable(t, keep);
			if(c > big)
				big = c;
		}
		if(!big)
			return;
		for(t = h->lru_tail; t && h->st.memory_bytes > target; t = prev) {
			int evicted = 0;

			prev = t->lprev;
			while(h->st.memory_bytes > target && (c = evictable(t, keep)) &&
			      c >= big / 2) {
				evict_one(h, t);
				h->st.evicted_events++;
				evicted = 1;
			}
			if(!evicted)
				continue;
			trim_store(h, t);
			if(t != keep)
				topic__maybe_drop(h, t, 1);
		}
	}
}

/* Put x (sealed) at the head of t's ring and apply every limit. */
int topic__push(struct hub *h, struct topic *t, struct ring_ev *x)
{
	int evicted = 0;

	while(t->r.head - t->r.tail >= h->ring_cap) {
		evict_one(h, t);
		evicted = 1;
	}
	if(ring_push(&t->r, x, h->ring_cap))
		return HUB_ENOMEM;
	h->st.retained_events++;
	h->st.retained_bytes += x->len;
	h->st.memory_bytes += x->cost;
	while(t->r.head - t->r.tail > 1 && t->r.bytes > h->cfg.history_bytes) {
		evict_one(h, t);
		evicted = 1;
	}
	if(evicted)
		trim_store(h, t);
	if(h->cfg.max_memory && h->st.memory_bytes > h->cfg.max_memory)
		evict_for_memory(h, t);
	if(x->seq > h->seq)
		h->seq = x->seq;
	wake__mark(h, t);
	return HUB_OK;
}

void hub_expire(struct hub *h)
{
	struct topic *t, *next;
	uint64_t age = h->cfg.history_age_us, now = now_us();

	if(!age)
		return;
	pthread_mutex_lock(&h->mu);
	for(t = h->lru; t; t = next) {
		int evicted = 0;

		next = t->lnext;
		while(t->r.head != t->r.tail &&
		      RING_EV(&t->r, t->r.tail)->time_us + age < now) {
			evict_one(h, t);
			evicted = 1;
		}
		if(evicted) {
			trim_store(h, t);
			topic__maybe_drop(h, t, 1);
		}
	}
	pthread_mutex_unlock(&h->mu);
}

struct hub_topic_info *hub_topics(struct hub *h, const char *prefix, size_t plen, size_t *n)
{
	struct hub_topic_info *out;
	struct topic *t;
	size_t k = 0, cap;

	*n = 0;
	pthread_mutex_lock(&h->mu);
	cap = h->st.topics;
	out = cap ? malloc(cap * sizeof(*out)) : NULL;
	for(t = h->lru; out && t && k < cap; t = t->lnext) {
		uint64_t kept = t->r.head - t->r.tail;

		if(t->namelen < plen || memcmp(t->name, prefix, plen))
			continue;
		memcpy(out[k].name, t->name, t->namelen);
		out[k].name[t->namelen] = '\0';
		out[k].subscribers = t->nsubs;
		out[k].retained = (size_t)(kept < h->cfg.history ? kept : h->cfg.history);
		k++;
	}
	pthread_mutex_unlock(&h->mu);
	if(!k) {
		free(out);
		return NULL;
	}
	*n = k;
	return out;
}
