/*
 * wake.c - parking and waking streams, and the waker thread.
 *
 * A stream with nothing to send parks: each of its cursors goes on its
 * topic's waiter list and ops.suspend is called. A commit marks the topic
 * dirty (wake__mark), and the waker thread unparks the waiters of every
 * dirty topic, each exactly once with ops.resume. So a publisher's reply
 * never waits on the fan-out, and a burst costs each stream one wake-up.
 * A topic with at most WAKE_INLINE waiters is woken by the commit itself,
 * which costs less than the switch to the waker.
 *
 * Every function here but wake__start and wake__stop is called with the
 * hub's lock held; the waker thread takes it itself.
 */
#include "hub_int.h"

#define WAKE_INLINE 4       /* waiters a commit wakes itself */

void wake__unlink(struct hub_sub *s)
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

void wake__unpark(struct hub *h, struct hub_sub *s)
{
	wake__unlink(s);
	if(s->suspended) {
		s->suspended = 0;
		h->cfg.ops.resume(s->conn);
	}
}

void wake__park(struct hub *h, struct hub_sub *s)
{
	size_t i;

	if(s->suspended)
		return;  /* parked already: it stays on the lists once */
	for(i = 0; i < s->ncur; i++) {
		struct cursor *c = &s->cur[i];

		/* A stream parks having read all there is, so the first
		 * waiter's head is how far behind the round woken next is. */
		if(!c->t->waiters) {
			c->t->park_head = c->t->r.head;
			c->t->park_pushed = c->t->r.pushed;
		}
		c->wprev = NULL;
		c->wnext = c->t->waiters;
		if(c->wnext)
			c->wnext->wprev = c;
		c->t->waiters = c;
	}
	s->suspended = 1;
	h->cfg.ops.suspend(s->conn);
}

static void wake_topic(struct hub *h, struct topic *t);

/* Whether t has at most n waiters. */
static int few_waiters(const struct topic *t, unsigned n)
{
	const struct cursor *c;

	for(c = t->waiters; c; c = c->wnext)
		if(n-- == 0)
			return 0;
	return 1;
}

void wake__mark(struct hub *h, struct topic *t)
{
	if(!t->waiters || t->dirty)
		return;
	/* A few waiters are woken here and now: handing them to the waker
	 * costs a thread switch per event, more than the wake-ups (a queue
	 * and a signal each). A topic the waker has already is its. */
	if(few_waiters(t, WAKE_INLINE)) {
		wake_topic(h, t);
		return;
	}
	t->dirty = 1;
	t->dnext = h->dirty;
	if(!h->dirty)
		pthread_cond_signal(&h->wake);
	h->dirty = t;
}

/* Wake t's waiters as one pacing round (see pace.c). */
static void wake_topic(struct hub *h, struct topic *t)
{
	uint64_t id;

	if(!t->waiters)
		return;
	id = pace__round_open(t);
	while(t->waiters) {
		struct hub_sub *s = t->waiters->sub;

		if(!s->rt) {
			s->rt = t;
			s->rid = id;
			t->rounds[id % ROUNDS].left++;
		}
		wake__unpark(h, s);
	}
}

/*
 * The waker thread: take the dirty topics and wake their waiters. Waking is
 * cheap (ops.resume queues the stream), so it runs under the lock: a
 * stream leaves the waiter lists and is resumed in one step, and nothing
 * can free it in between. Events committed meanwhile dirty their topics
 * again for the next pass.
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
			wake_topic(h, t);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int wake__start(struct hub *h)
{
	if(pthread_create(&h->waker, NULL, waker_main, h))
		return -1;
	h->waker_on = 1;
	return 0;
}

void wake__stop(struct hub *h)
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
