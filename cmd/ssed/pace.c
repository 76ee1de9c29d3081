/*
 * pace.c - publishers that wait: for room in a ring (HUB_PUB_ROOM) and for
 * the streams a publish woke (HUB_PUB_PACE, --publish-window). See
 * hub_publish in hub.h for what each promises.
 *
 * Room: a topic is congested when its ring is nearly full and a live
 * subscriber still sits in its oldest eighth, about to lose events to the
 * next publish. Pace: each pass of the waker over a topic is a round; its
 * base is the head when the first of the streams it woke parked (each had
 * read all there was), so those that have not read since are at most
 * head - base events behind, and a publisher waits while the oldest live
 * round is publish_window events (or a quarter of history_bytes) or more
 * behind.
 *
 * Called with the hub's lock held; pace__wait waits on hub.room with it.
 */
#include <errno.h>
#include <time.h>

#include "hub_int.h"

uint64_t pace__round_open(struct topic *t)
{
	uint64_t id;

	if(t->nrounds == ROUNDS)
		return t->rfirst + ROUNDS - 1;  /* merged into the newest */
	id = t->rfirst + t->nrounds++;
	t->rounds[id % ROUNDS].base = t->park_head;
	t->rounds[id % ROUNDS].base_bytes = t->park_pushed;
	t->rounds[id % ROUNDS].left = 0;
	return id;
}

void pace__round_done(struct hub *h, struct hub_sub *s)
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

/* The lowest cursor of a subscriber still in the race (not dropped, not
 * already past saving); head when there is none. */
static uint64_t topic_low(struct topic *t)
{
	uint64_t low = t->r.head;
	struct cursor *c;

	for(c = t->all; c; c = c->anext)
		if(!c->sub->dropped && c->next >= t->r.tail && c->next < low)
			low = c->next;
	return low;
}

/* The oldest eighth of a full ring: a subscriber in it is about to lose
 * events to the next publish. */
static uint64_t danger(const struct topic *t)
{
	uint64_t m = (t->r.head - t->r.tail) / 8;

	return t->r.tail + (m ? m : 1);
}

/* Would the next publish push out events a live subscriber has not read? */
static int congested(struct hub *h, struct topic *t)
{
	if(t->r.head - t->r.tail < h->ring_cap && t->r.bytes <= h->cfg.history_bytes / 8 * 7)
		return 0;
	if(t->low >= danger(t))
		return 0;
	t->low = topic_low(t);
	return t->low < danger(t);
}

void pace__reader_moved(struct hub *h, struct topic *t)
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
		if(!c->sub->dropped && c->next >= t->r.tail && c->next < d) {
			c->sub->dropped = 1;
			h->st.slow_dropped++;
		}
	}
	t->low = topic_low(t);
}

/* Are t's woken streams publish_window events, or a quarter of
 * history_bytes, or more behind? The ring keeps as many events and bytes,
 * so a stream waiting for its turn is never pushed out by a burst. */
static int paced(struct hub *h, struct topic *t)
{
	const struct round *o = &t->rounds[t->rfirst % ROUNDS];

	return h->cfg.publish_window && t->nrounds &&
	       (t->r.head - o->base >= h->cfg.publish_window ||
		t->r.pushed - o->base_bytes >= h->cfg.history_bytes / 4);
}

/* Wait as flags ask (see hub_publish); past HUB_PUB_WAIT_US go on, first
 * dropping the readers who still hold back room. */
void pace__wait(struct hub *h, struct topic *t, int flags)
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
