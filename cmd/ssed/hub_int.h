/*
 * hub_int.h - the hub's insides, shared by the files that make it up:
 * hub.c (topics, subscribers, publish, read), wake.c (parking and waking
 * streams, the waker thread) and pace.c (publishers waiting for room and
 * for the streams). Nothing outside those files includes it.
 *
 * Everything here is guarded by hub.mu. Internal functions are named
 * module__verb and are called with hub.mu held unless they say otherwise.
 */
#ifndef SSED_HUB_INT_H
#define SSED_HUB_INT_H

#include <pthread.h>

#include "hub.h"
#include "pubmark.h"
#include "ring.h"
#include "store.h"

#define ROUNDS 16           /* wake rounds a topic tracks for pacing */

struct cursor {
	struct topic *t;
	uint64_t next;                  /* ring index of the next event to send */
	uint64_t stop;                  /* a poll: the ring's head at the subscribe */
	struct cursor *wprev, *wnext;   /* on t's waiter list while parked */
	struct cursor *aprev, *anext;   /* on t's list of all cursors */
	struct hub_sub *sub;
};

/* One pass of the waker over a topic: the streams it woke that have not
 * read since. They all parked at or after base (the topic's head when the
 * first of them parked), so none is more than head - base events behind. */
struct round {
	uint64_t base;
	uint64_t base_bytes;            /* r.pushed at base */
	size_t left;
};

struct topic {
	struct topic *hnext;
	struct ring r;
	struct cursor *waiters;
	struct topic *dnext;            /* on the hub's dirty list */
	int dirty;
	struct cursor *all;             /* every subscriber's cursor */
	uint64_t low;                   /* no live cursor is below it */
	unsigned nblocked;              /* publishers waiting for room */
	unsigned npaced;                /* publishers waiting for a round */
	unsigned npending;              /* publishes in a backend, not committed */
	struct round rounds[ROUNDS];    /* live rounds, oldest at rfirst */
	uint64_t rfirst;                /* number of the oldest live round */
	unsigned nrounds;
	uint64_t park_head;             /* head when the first waiter parked */
	uint64_t park_pushed;           /* r.pushed then */
	struct topic *lprev, *lnext;    /* the hub's use order, newest first */
	size_t nsubs;
	uint64_t restored_first;        /* the first event restored at start-up */
	uint64_t restored_floor;        /* the floor before it */
	size_t namelen;
	char name[];
};

struct hub_sub {
	struct hub_sub *prev, *next;
	void *conn;
	int suspended;
	int dropped;
	int poll;                       /* ends once each cursor is at its stop */
	unsigned hb;
	struct topic *rt;               /* woken in round rid of rt, not read yet */
	uint64_t rid;
	size_t partial;                 /* bytes of the current event sent */
	uint64_t after;                 /* events up to this seq were sent before
					 * (a resume ahead of this node's reader) */
	char *pre;                      /* opening bytes, then NULL */
	size_t pre_len, pre_off;
	size_t ncur;
	struct cursor cur[];
};

#define HUB_FORGOT_BUCKETS 1024

struct hub {
	pthread_mutex_t mu;
	pthread_cond_t empty;
	struct hub_config cfg;
	size_t ring_cap;                /* max(history, RING_MIN) */
	uint64_t gone;                  /* subscribers that have left, ever */
	struct topic **tab;
	size_t tabsize;
	struct topic *lru, *lru_tail;   /* every topic, most recently used first */
	struct hub_sub *subs;
	uint64_t seq;                   /* the newest seq committed */
	uint64_t first_seq;             /* below it: ids of an earlier run */
	uint64_t forgot_seq;            /* history lost for every topic (sink->lost) */
	/* The newest seq evicted from a forgotten topic, per bucket of topic
	 * names: a topic made again starts from its bucket's, so a resume
	 * from before it is a gap, and a topic of another name (mostly) is
	 * not given a false one. Bounded: HUB_FORGOT_BUCKETS seqs. */
	uint64_t forgot[HUB_FORGOT_BUCKETS];
	unsigned hb;
	int closing;
	struct hub_stats st;
	struct store *store;
	struct pubmarks *marks;         /* publishers' highest numbers */
	pthread_cond_t done;            /* a backend's append is done */
	/* The waker: publish only marks a topic dirty; this thread unparks
	 * its waiters, so a publisher's reply need not wait on the fan-out
	 * and a burst wakes each stream once. */
	struct topic *dirty;
	pthread_cond_t wake;
	pthread_cond_t room;            /* a reader moved on: publishers may go */
	pthread_t waker;
	int waker_on;
};

/* topic.c */
size_t topic__ring_cap(size_t history);
/* The topic called name, now the most recently used; created (making
 * room in a full table) when create is set. NULL: no room. */
struct topic *topic__get(struct hub *h, const char *name, size_t len, int create);
/* Forget t with its events; counted: as an expired topic in the stats. */
void topic__forget(struct hub *h, struct topic *t, int counted);
/* topic__missed - event seq of topic name is stored but not in the ring
 * (t, or NULL when there is no such topic here): count it as evicted, and
 * make a resume from before it a gap. */
void topic__missed(struct hub *h, struct topic *t, const char *name, size_t len, uint64_t seq);
/* Forget t if it retains nothing and nobody holds it. */
void topic__maybe_drop(struct hub *h, struct topic *t, int counted);
/* Put x (sealed) at the head of t's ring, apply every limit, wake t's
 * streams. HUB_OK or HUB_ENOMEM (x not taken). */
int topic__push(struct hub *h, struct topic *t, struct ring_ev *x);

/* wake.c */
int wake__start(struct hub *h);          /* without the lock; 0 or -1 */
void wake__stop(struct hub *h);          /* without the lock */
void wake__mark(struct hub *h, struct topic *t);  /* t has new events */
void wake__park(struct hub *h, struct hub_sub *s);
void wake__unpark(struct hub *h, struct hub_sub *s);
void wake__unlink(struct hub_sub *s);    /* off the waiter lists, no resume */

/* pace.c */
uint64_t pace__round_open(struct topic *t);  /* the round a wake joins */
void pace__round_done(struct hub *h, struct hub_sub *s);
void pace__wait(struct hub *h, struct topic *t, int flags);
void pace__reader_moved(struct hub *h, struct topic *t);

#endif
