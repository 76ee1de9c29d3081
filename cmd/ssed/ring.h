/*
 * ring.h - a topic's hot window: its framed events in memory, in seq order.
 *
 * An event is framed once (ring_ev_new, outside any lock) into the bytes
 * every subscriber is sent; its id line is written in front of the frame
 * once its seq is known (ring_ev_seal). A ring holds events at indexes
 * [tail, head) that only grow, so a subscriber's cursor is a plain index:
 * one below tail has lost events. Seqs within a ring are strictly
 * increasing, so a resume point is a binary search (ring_find_after).
 *
 * A ring is no thread's: its owner (the hub) serialises every call.
 */
#ifndef SSED_RING_H
#define SSED_RING_H

#include <stddef.h>
#include <stdint.h>

#include "sse.h"

/* One framed event. */
struct ring_ev {
	uint64_t seq;
	uint64_t time_us;    /* wall clock when published (--history-age) */
	size_t len;          /* wire bytes at bytes: the id line and the frame */
	size_t flen;         /* the frame without its id line, at frame */
	size_t idlen;
	size_t cost;         /* bytes this event holds in memory, all told */
	char *bytes;         /* the wire bytes, inside mem */
	char *frame;         /* the frame without the id line, inside mem */
	char *id;            /* the id, NUL-terminated, inside mem; "" until sealed
			      * when the id is the seq */
	char mem[];
};

struct ring {
	struct ring_ev **slot;
	size_t size;                    /* slots (a power of two) */
	uint64_t head, tail;            /* retained: indexes [tail, head) */
	size_t bytes;                   /* wire bytes retained */
	uint64_t pushed;                /* wire bytes ever pushed */
	size_t cost;                    /* memory held by the retained events */
	uint64_t evicted_seq;           /* seq of the newest event evicted */
};

#define RING_EV(r, i) ((r)->slot[(i) & ((r)->size - 1)])

/*
 * ring_ev_new - frame ev (its retry is ignored) with room for its id line.
 * With ev->id NULL the id will be the seq in decimal. NULL when out of
 * memory; *bad is set to 1 (and NULL returned) when ev cannot be framed.
 */
struct ring_ev *ring_ev_new(const struct sse_event *ev, int *bad);

/*
 * ring_ev_raw - an event from an already framed frame (flen bytes, no id
 * line) and id (NULL: the seq), for events a backend hands back. Sealed
 * with seq. NULL when out of memory.
 */
struct ring_ev *ring_ev_raw(const char *frame, size_t flen, const char *id, size_t idlen,
			    uint64_t seq, uint64_t time_us);

/* ring_ev_seal - give e its seq and write its id line in front of the frame. */
void ring_ev_seal(struct ring_ev *e, uint64_t seq);

/* ring_push - append e (owned by the ring from now on), growing the ring up
 * to cap slots (a full ring at cap: the caller evicts first). Returns 0,
 * or -1 when out of memory or full (e is not taken). */
int ring_push(struct ring *r, struct ring_ev *e, size_t cap);

/* ring_evict - drop the oldest event. The ring must not be empty. */
void ring_evict(struct ring *r);

/* ring_find_after - the first index in [lo, head) whose seq is above s. */
uint64_t ring_find_after(const struct ring *r, uint64_t lo, uint64_t s);

/* ring_find_time - the first index in [lo, head) whose event was
 * published at us or later (times taken as non-decreasing). */
uint64_t ring_find_time(const struct ring *r, uint64_t lo, uint64_t us);

/* ring_free - free every event and the slots. */
void ring_free(struct ring *r);

#endif
