/*
 * ring.c - a topic's hot window (see ring.h).
 *
 * An event is one allocation: room for "id: <id>\n", the frame, then the
 * id again NUL-terminated. The id line goes just in front of the frame,
 * so the wire bytes are contiguous whatever its length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "hub.h"

#define SEQ_ROOM 21          /* a uint64_t in decimal, and one more */
#define MALLOC_OVERHEAD 16   /* what the allocator keeps per block */

static struct ring_ev *alloc_ev(size_t flen, const char *id, size_t idlen)
{
	size_t room = 5 + (id ? idlen : SEQ_ROOM);
	size_t size = sizeof(struct ring_ev) + room + flen + room + 1;
	struct ring_ev *e = malloc(size);

	if(!e)
		return NULL;
	e->cost = size + MALLOC_OVERHEAD;
	e->frame = e->mem + room;
	e->flen = flen;
	e->id = e->frame + flen;
	e->idlen = 0;
	e->id[0] = '\0';
	e->seq = 0;
	e->time_us = 0;
	e->bytes = e->frame;
	e->len = flen;
	if(id) {
		memcpy(e->id, id, idlen);
		e->id[idlen] = '\0';
		e->idlen = idlen;
	}
	return e;
}

struct ring_ev *ring_ev_new(const struct sse_event *ev, int *bad)
{
	struct sse_event f = *ev;
	struct ring_ev *e;
	size_t size;

	*bad = 0;
	f.id = NULL;
	f.id_len = 0;
	f.retry = -1;
	if(ev->id && (ev->id_len == 0 || ev->id_len > HUB_ID_MAX ||
		      sse_check_field(ev->id, ev->id_len, 1))) {
		*bad = 1;
		return NULL;
	}
	size = sse_frame_size(&f);
	if(!size) {
		*bad = 1;
		return NULL;
	}
	e = alloc_ev(size, ev->id, ev->id_len);
	if(!e)
		return NULL;
	sse_frame_write(e->frame, size, &f);
	return e;
}

struct ring_ev *ring_ev_raw(const char *frame, size_t flen, const char *id, size_t idlen,
			    uint64_t seq, uint64_t time_us)
{
	struct ring_ev *e = alloc_ev(flen, id, idlen);

	if(!e)
		return NULL;
	memcpy(e->frame, frame, flen);
	e->time_us = time_us;
	ring_ev_seal(e, seq);
	return e;
}

void ring_ev_seal(struct ring_ev *e, uint64_t seq)
{
	e->seq = seq;
	if(!e->idlen) {
		int n = snprintf(e->id, SEQ_ROOM, "%llu", (unsigned long long)seq);

		e->idlen = (size_t)n;
	}
	e->bytes = e->frame - 4 - e->idlen - 1;
	memcpy(e->bytes, "id: ", 4);
	memcpy(e->bytes + 4, e->id, e->idlen);
	e->bytes[4 + e->idlen] = '\n';
	e->len = e->flen + 5 + e->idlen;
}

int ring_push(struct ring *r, struct ring_ev *e, size_t cap)
{
	if(r->head - r->tail == r->size) {
		size_t size = r->size ? r->size * 2 : 16;
		struct ring_ev **slot;
		uint64_t i;

		if(r->size >= cap)
			return -1;
		slot = malloc(size * sizeof(*slot));
		if(!slot)
			return -1;
		for(i = r->tail; i < r->head; i++)
			slot[i & (size - 1)] = RING_EV(r, i);
		free(r->slot);
		r->slot = slot;
		r->size = size;
	}
	RING_EV(r, r->head) = e;
	r->head++;
	r->bytes += e->len;
	r->pushed += e->len;
	r->cost += e->cost;
	return 0;
}

void ring_evict(struct ring *r)
{
	struct ring_ev *old = RING_EV(r, r->tail);

	r->bytes -= old->len;
	r->cost -= old->cost;
	if(old->seq > r->evicted_seq)  /* it may mark an event never here */
		r->evicted_seq = old->seq;
	r->tail++;
	free(old);
}

uint64_t ring_find_after(const struct ring *r, uint64_t lo, uint64_t s)
{
	uint64_t hi = r->head;

	while(lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if(RING_EV(r, mid)->seq <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t ring_find_time(const struct ring *r, uint64_t lo, uint64_t us)
{
	uint64_t hi = r->head;

	while(lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if(RING_EV(r, mid)->time_us < us)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void ring_free(struct ring *r)
{
	while(r->head != r->tail)
		ring_evict(r);
	free(r->slot);
	r->slot = NULL;
	r->size = 0;
}
