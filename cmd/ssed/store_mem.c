/*
 * store_mem.c - the memory-only backend: the ring is all there is.
 *
 * append gives each event the next seq (the wall clock in microseconds,
 * or the last seq plus one when the clock went back or stood still) and
 * commits it at once, inside the call. It is synchronous (ops.sync), so
 * the hub calls it with its lock held, which serialises it: it keeps no
 * lock of its own. Nothing survives close.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

struct store_mem {
	struct store base;       /* first: a struct store * is a struct store_mem * */
	uint64_t (*clock_us)(void);
	uint64_t seq;            /* the last seq given out */
	uint64_t commits;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int mem_append(struct store *s, struct store_ev *ev, size_t n,
		      store_done_fn done, void *arg)
{
	struct store_mem *m = (struct store_mem *)s;
	uint64_t now = m->clock_us();
	size_t i;

	for(i = 0; i < n; i++) {
		ev[i].seq = now > m->seq ? now : m->seq + 1;
		ev[i].time_us = now;
		m->seq = ev[i].seq;
	}
	__atomic_add_fetch(&m->commits, 1, __ATOMIC_RELAXED);
	s->sink.commit(s->sink.ud, ev, n);
	if(done)
		done(arg, STORE_OK);
	return STORE_OK;
}

static int mem_restore(struct store *s, store_each_fn each, void *ud,
		       uint64_t *last_seq, uint64_t *since_seq)
{
	struct store_mem *m = (struct store_mem *)s;

	(void)each;
	(void)ud;
	if(m->clock_us() > m->seq)
		m->seq = m->clock_us();
	*last_seq = m->seq;
	*since_seq = m->seq;
	return STORE_OK;
}

static void mem_stats(struct store *s, struct store_stats *st)
{
	struct store_mem *m = (struct store_mem *)s;

	memset(st, 0, sizeof(*st));  /* nothing beyond the ring, no latency */
	st->commits = __atomic_load_n(&m->commits, __ATOMIC_RELAXED);
	st->connected = 1;
}

static void mem_close(struct store *s)
{
	free(s);
}

static const struct store_ops mem_ops = {
	.name = "memory",
	.sync = 1,
	.append = mem_append,
	.restore = mem_restore,
	.read_before = NULL,
	.trim = NULL,
	.stats = mem_stats,
	.close = mem_close,
};

struct store *store_mem_open_clock(const struct store_sink *sink, uint64_t (*clock_us)(void))
{
	struct store_mem *m = calloc(1, sizeof(*m));

	if(!m)
		return NULL;
	m->base.ops = &mem_ops;
	m->base.sink = *sink;
	m->clock_us = clock_us ? clock_us : now_us;
	m->seq = m->clock_us();
	return &m->base;
}

struct store *store_mem_open(const struct store_sink *sink)
{
	return store_mem_open_clock(sink, NULL);
}
