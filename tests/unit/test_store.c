/*
 * test_store.c - the backend conformance suite: the real hub over each
 * backend of store_harness.c's table, for ordering, ids (increasing, also
 * across a reopen and when the clock goes back), resume, gap, trim and
 * retention, and restore. What a case expects after a reopen follows the
 * backend's capabilities: a durable one gives its events back, the
 * memory one starts empty, so a resume across it is a gap.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_harness.h"
#include "tap.h"

#define BUF (256 * 1024)
#define N 200

static char buf[BUF];
static char ids[N][HUB_ID_MAX + 1];

static struct hub_stats stats(struct hub *h)
{
	struct hub_stats st;

	hub_stats(h, &st);
	return st;
}

static int increasing(const uint64_t *v, size_t n)
{
	size_t i;

	for(i = 1; i < n; i++)
		if(v[i] <= v[i - 1])
			return 0;
	return 1;
}

static uint64_t num(const char *id)
{
	return strtoull(id, NULL, 10);
}

/* Events into two topics, read from one stream over both: every event,
 * in publish order, ids increasing. */
static void test_order(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	struct store_stats ss;
	const char *name;
	uint64_t got[N];
	struct hub_sub *s;
	size_t n, i;
	int ok = 1;

	for(i = 0; i < N; i++)
		ok &= h_pub(h, i % 2 ? "b" : "a", i % 2 ? "odd" : "even", ids[i]) == HUB_OK;
	tap_ok(ok, "%s: order: %d publishes into two topics", b->name, N);
	s = h_sub(h, "a,b", ids[0], buf, sizeof(buf));
	n = h_ids(buf, got, N);
	ok = s && !h_gap(buf) && n == N - 1 && increasing(got, n);
	for(i = 0; ok && i < n; i++)
		ok = got[i] == num(ids[i + 1]);
	if(!tap_ok(ok, "%s: order: one stream over both gets them all, in publish order", b->name))
		tap_diag("got %zu ids", n);
	hub_store_stats(h, &ss, &name);
	tap_ok(!strcmp(name, b->name) && ss.commits >= 1 && ss.commits <= N && ss.connected,
	       "%s: order: the backend reports its commits (%llu)", b->name,
	       (unsigned long long)ss.commits);
	hub_unsubscribe(h, s);
	h_close(h);
}

/* A streamed publish's batch: every event stored in order, in pieces
 * of an eighth of a ring (one commit each for a batching backend), and a
 * reopen gives back the retained ones. */
static void test_batch(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	struct hub_batch *bt = hub_batch_new();
	struct store_stats ss;
	struct sse_event e;
	const char *name;
	char data[16];
	uint64_t got[N];
	struct hub_sub *s;
	size_t n = 0, i;
	int ok = bt != NULL;

	memset(&e, 0, sizeof(e));
	e.retry = -1;
	e.data = data;
	for(i = 0; ok && i < 300; i++) {
		e.data_len = (size_t)snprintf(data, sizeof(data), "b%zu", i);
		ok = hub_batch_add(h, bt, &e) == HUB_OK;
	}
	ok = ok && hub_batch_count(bt) == 300 &&
	     hub_publish_batch(h, "bt", 2, bt, HUB_PUB_ROOM | HUB_PUB_PACE, &n) == HUB_OK &&
	     n == 300 && hub_batch_count(bt) == 0;
	tap_ok(ok, "%s: batch: 300 events published as one batch (%zu)", b->name, n);
	hub_store_stats(h, &ss, &name);
	/* history 100: the ring holds 100, pieces of 12 */
	tap_ok(!hub_batching(h) || ss.commits <= 300 / 12 + 2,
	       "%s: batch: stored in few commits (%llu)", b->name, (unsigned long long)ss.commits);
	s = h_sub(h, "bt", "1", buf, sizeof(buf));
	n = h_ids(buf, got, N);
	tap_ok(s && n == 100 && increasing(got, n) && strstr(buf, "data: b299\n") &&
	       strstr(buf, "data: b200\n") && !strstr(buf, "data: b199\n"),
	       "%s: batch: the newest 100 in order (%zu)", b->name, n);
	if(s)
		hub_unsubscribe(h, s);
	hub_batch_free(bt);
	h_close(h);
	if(b->durable) {
		h = h_open(b, 1, NULL);
		s = h_sub(h, "bt", "1", buf, sizeof(buf));
		n = h_ids(buf, got, N);
		tap_ok(s && n == 100 && strstr(buf, "data: b299\n") && strstr(buf, "data: b200\n"),
		       "%s: batch: a reopen gives back the newest 100 (%zu)", b->name, n);
		if(s)
			hub_unsubscribe(h, s);
		h_close(h);
	}
}

/* A backend that commits a publish without its ref (a shared backend's
 * reader got there first): the event is delivered once, and the reply's
 * id is the one the stream carries. */
static void test_no_ref(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	char id[HUB_ID_MAX + 1], want[HUB_ID_MAX + 8];
	struct hub_sub *s;
	uint64_t got[4];

	h_drop_refs(1);
	memset(id, 'x', sizeof(id));
	tap_ok(h_pub(h, "nr", "one", id) == HUB_OK && id[0] >= '1' && id[0] <= '9' &&
	       strlen(id) < 21, "%s: no ref: the publish gets a numeric id (%.20s)", b->name, id);
	h_drop_refs(0);
	s = h_sub(h, "nr", "1", buf, sizeof(buf));
	snprintf(want, sizeof(want), "id: %s\n", id);
	tap_ok(s && h_ids(buf, got, 4) == 1 && strstr(buf, want) && strstr(buf, "data: one\n"),
	       "%s: no ref: the stream has the event once, with that id", b->name);
	if(s)
		hub_unsubscribe(h, s);
	h_close(h);
}

/* Ids keep increasing: in a burst, across a reopen, and when the clock
 * goes back (within a run always; across a reopen when the backend keeps
 * its last seq). */
static void test_ids(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	uint64_t v[6];
	int ok = 1, i;

	for(i = 0; i < 3; i++)
		ok &= h_pub(h, "t", "x", ids[i]) == HUB_OK;
	h_close(h);
	h = h_open(b, 1, NULL);
	for(i = 3; i < 6; i++)
		ok &= h_pub(h, "t", "x", ids[i]) == HUB_OK;
	for(i = 0; i < 6; i++)
		v[i] = num(ids[i]);
	tap_ok(ok && increasing(v, 6), "%s: ids: increasing across a reopen", b->name);
	if(b->test_clock) {
		h_clock_shift(-3600000000LL);
		ok = 1;
		for(i = 0; i < 100; i++)
			ok &= h_pub(h, "t", "x", ids[i]) == HUB_OK;
		ok &= num(ids[0]) > v[5];
		for(i = 1; i < 100; i++)
			ok &= num(ids[i]) > num(ids[i - 1]);
		tap_ok(ok, "%s: ids: the clock an hour back, still increasing", b->name);
		v[0] = num(ids[99]);
		h_close(h);
		h = h_open(b, 1, NULL);
		ok = h_pub(h, "t", "x", ids[0]) == HUB_OK;
		if(b->keeps_seq || b->durable)
			tap_ok(ok && num(ids[0]) > v[0],
			       "%s: ids: and across a reopen with the clock back", b->name);
		else
			tap_ok(ok && num(ids[0]) < v[0],
			       "%s: ids: a reopen with the clock back starts from the clock (keeps no seq)",
			       b->name);
		h_clock_shift(3600000000LL);
	}
	h_close(h);
}

/* Resume after an id: exactly the events after it, no gap; from the newest,
 * nothing, no gap; from an id never given, a gap. */
static void test_resume(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	struct hub_sub *s1, *s2, *s3;
	uint64_t got[16];
	size_t n;
	int i, ok = 1;

	for(i = 0; i < 10; i++)
		ok &= h_pub(h, "t", "r", ids[i]) == HUB_OK;
	s1 = h_sub(h, "t", ids[4], buf, sizeof(buf));
	n = h_ids(buf, got, 16);
	ok &= s1 && !h_gap(buf) && n == 5;
	for(i = 0; ok && i < 5; i++)
		ok = got[i] == num(ids[5 + i]);
	tap_ok(ok, "%s: resume: after the fifth of ten, the last five, no gap", b->name);
	s2 = h_sub(h, "t", ids[9], buf, sizeof(buf));
	tap_ok(s2 && !h_gap(buf) && h_ids(buf, got, 16) == 0,
	       "%s: resume: from the newest, nothing and no gap", b->name);
	s3 = h_sub(h, "t", "not-an-id", buf, sizeof(buf));
	tap_ok(s3 && h_gap(buf) && h_ids(buf, got, 16) == 10,
	       "%s: resume: an unknown id is a gap, then everything retained", b->name);
	hub_unsubscribe(h, s1);
	hub_unsubscribe(h, s2);
	hub_unsubscribe(h, s3);
	h_close(h);
}

/* Past the history: a gap from before it, none from inside it. */
static void test_gap(const struct backend *b)
{
	struct limits lim = { .history = 10 };
	struct hub *h = h_open(b, 0, &lim);
	struct hub_sub *s;
	uint64_t got[N];
	size_t n;
	int i, ok = 1;

	for(i = 0; i < 100; i++)
		ok &= h_pub(h, "t", "g", ids[i]) == HUB_OK;
	s = h_sub(h, "t", ids[0], buf, sizeof(buf));
	n = h_ids(buf, got, N);
	tap_ok(ok && s && h_gap(buf) && n == 10 && got[0] == num(ids[90]),
	       "%s: gap: from before the history, ssed-gap and the last 10", b->name);
	hub_unsubscribe(h, s);
	s = h_sub(h, "t", ids[94], buf, sizeof(buf));
	n = h_ids(buf, got, N);
	tap_ok(s && !h_gap(buf) && n == 5 && got[0] == num(ids[95]),
	       "%s: gap: from inside it, no gap", b->name);
	hub_unsubscribe(h, s);
	h_close(h);
}

/* Retention by bytes: the ring keeps what fits, the backend mirrors it. */
static void test_trim(const struct backend *b)
{
	struct limits lim = { .history_bytes = 400 };
	struct hub *h = h_open(b, 0, &lim);
	struct hub_stats st;
	struct hub_sub *s;
	uint64_t got[N];
	size_t n, kept;
	int i, ok = 1;

	for(i = 0; i < 100; i++)
		ok &= h_pub(h, "t", "0123456789", ids[i]) == HUB_OK;
	st = stats(h);
	kept = st.retained_events;
	tap_ok(ok && st.retained_bytes <= 400 && kept > 5 && kept < 100,
	       "%s: trim: --history-bytes 400 keeps %zu events, %llu bytes", b->name, kept,
	       (unsigned long long)st.retained_bytes);
	h_close(h);
	h = h_open(b, 1, &lim);
	s = h_sub(h, "t", ids[100 - kept], buf, sizeof(buf));
	n = h_ids(buf, got, N);
	if(b->durable)
		tap_ok(s && !h_gap(buf) && n == kept - 1 && got[0] == num(ids[100 - kept + 1]) &&
		       stats(h).retained_events == kept,
		       "%s: trim: a reopen restores exactly the retained events", b->name);
	if(b->durable) {
		hub_unsubscribe(h, s);
		s = h_sub(h, "t", ids[0], buf, sizeof(buf));
		tap_ok(s && h_gap(buf) && h_ids(buf, got, N) == kept,
		       "%s: trim: from a trimmed id, a gap and every retained event", b->name);
	} else
		tap_ok(s && h_gap(buf) && n == 0 && stats(h).retained_events == 0,
		       "%s: trim: a reopen keeps nothing: a resume is a gap", b->name);
	hub_unsubscribe(h, s);
	h_close(h);
}

/* Restore: a resume across a reopen gets what came after its id. */
static void test_restore(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	struct hub_sub *s;
	uint64_t got[16];
	size_t n;
	int i, ok = 1;

	for(i = 0; i < 5; i++)
		ok &= h_pub(h, i % 2 ? "u" : "t", "r", ids[i]) == HUB_OK;
	h_close(h);
	h = h_open(b, 1, NULL);
	s = h_sub(h, "t", ids[1], buf, sizeof(buf));
	n = h_ids(buf, got, 16);
	if(b->durable)
		tap_ok(ok && s && !h_gap(buf) && n == 2 && got[0] == num(ids[2]) &&
		       got[1] == num(ids[4]), "%s: restore: the events after the id, no gap", b->name);
	else
		tap_ok(ok && s && h_gap(buf) && n == 0,
		       "%s: restore: nothing kept: the resume is a gap", b->name);
	hub_unsubscribe(h, s);
	s = h_sub(h, "t", ids[4], buf, sizeof(buf));
	tap_ok(s && h_gap(buf) == !b->durable && h_ids(buf, got, 16) == 0,
	       "%s: restore: from the newest id, %s", b->name,
	       b->durable ? "no gap" : "a gap (nothing says what was missed)");
	hub_unsubscribe(h, s);
	ok = h_pub(h, "t", "after", ids[5]) == HUB_OK && num(ids[5]) > num(ids[4]);
	s = h_sub(h, "t", ids[5], buf, sizeof(buf));
	tap_ok(ok && s && !h_gap(buf), "%s: restore: new events resume without a gap", b->name);
	hub_unsubscribe(h, s);
	h_close(h);
}

/* --max-memory: the bound holds through a flood into many topics; the
 * oldest events of the largest topic go first; an event larger than the
 * bound is refused; what was evicted is trimmed from the backend too. */
static void test_memory(const struct backend *b)
{
	struct limits lim = { .max_memory = 64 * 1024, .max_topics = 1000 };
	struct hub *h = h_open(b, 0, &lim);
	char big[2048], name[16], id0[HUB_ID_MAX + 1], huge_id[HUB_ID_MAX + 1];
	struct hub_stats st;
	struct hub_sub *s;
	uint64_t got[N], high = 0;
	size_t n;
	char *huge;
	int i, ok = 1;

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok &= h_pub(h, "big", big, id0) == HUB_OK;
	for(i = 0; i < 40; i++)
		ok &= h_pub(h, "big", big, ids[i]) == HUB_OK;
	for(i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		ok &= h_pub(h, name, "small", ids[i % N]) == HUB_OK;
		st = stats(h);
		if(st.memory_bytes > high)
			high = st.memory_bytes;
	}
	st = stats(h);
	tap_ok(ok && high <= 64 * 1024 && st.evicted_events > 0 && st.max_memory == 64 * 1024,
	       "%s: memory: a flood into 100 topics stays under the bound (%llu <= 65536), %llu evicted",
	       b->name, (unsigned long long)high, (unsigned long long)st.evicted_events);
	s = h_sub(h, "big", id0, buf, sizeof(buf));
	n = h_ids(buf, got, N);
	tap_ok(s && h_gap(buf) && n > 0 && n < 40,
	       "%s: memory: the largest topic lost its oldest: a resume there is a gap (%zu kept)",
	       b->name, n);
	tap_ok(stats(h).retained_events == n + 100,
	       "%s: memory: the small topics kept theirs", b->name);
	hub_unsubscribe(h, s);
	huge = malloc(70 * 1024);
	memset(huge, 'h', 70 * 1024 - 1);
	huge[70 * 1024 - 1] = '\0';
	tap_ok(h_pub(h, "t", huge, huge_id) == HUB_ETOOBIG && stats(h).memory_bytes <= 64 * 1024,
	       "%s: memory: an event larger than the bound is refused", b->name);
	free(huge);
	n = stats(h).retained_events;
	h_close(h);
	if(b->durable) {
		h = h_open(b, 1, &lim);
		tap_ok(stats(h).retained_events == n && stats(h).memory_bytes <= 64 * 1024,
		       "%s: memory: the backend mirrors the eviction (%zu events restored)", b->name, n);
		h_close(h);
	}
}

/* --max-topics: the least recently used topic without subscribers makes
 * room; only when every topic has one is a new topic refused; a resume
 * into a forgotten topic is a gap. */
static void test_topics(const struct backend *b)
{
	struct limits lim = { .max_topics = 4 };
	struct hub *h = h_open(b, 0, &lim);
	struct hub_sub *s[4];
	char name[16];
	int i, ok = 1;

	ok &= h_pub(h, "first", "1", ids[0]) == HUB_OK;
	for(i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ok &= h_pub(h, name, "x", ids[1]) == HUB_OK;
	}
	tap_ok(ok && stats(h).topics == 4 && stats(h).expired_topics >= 997,
	       "%s: topics: 1000 fresh topics through a table of 4, each makes room", b->name);
	s[0] = h_sub(h, "first", ids[0], buf, sizeof(buf));
	tap_ok(s[0] && h_gap(buf), "%s: topics: a resume into a forgotten topic is a gap", b->name);
	for(i = 1; i < 4; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		s[i] = h_sub(h, name, NULL, buf, sizeof(buf));
		ok &= s[i] != NULL;
	}
	ok &= h_pub(h, "s1", "kept", ids[2]) == HUB_OK;
	tap_ok(ok && h_pub(h, "another", "x", ids[3]) == HUB_EBUSY,
	       "%s: topics: every topic subscribed: a new one is refused", b->name);
	hub_unsubscribe(h, s[3]);
	tap_ok(h_pub(h, "another", "x", ids[3]) == HUB_OK,
	       "%s: topics: one subscriber gone, its topic makes room", b->name);
	for(i = 0; i < 3; i++)
		hub_unsubscribe(h, s[i]);
	h_close(h);
}

/* --history-age: hub_expire drops old events and forgets the topics they
 * leave empty. */
static void test_age(const struct backend *b)
{
	struct limits lim = { .history_age_us = 1 };
	struct hub *h = h_open(b, 0, &lim);
	struct hub_sub *s;
	uint64_t got[4];
	int ok;

	ok = h_pub(h, "old", "x", ids[0]) == HUB_OK && h_pub(h, "old", "y", ids[1]) == HUB_OK;
	nanosleep(&(struct timespec){ 0, 2000000 }, NULL);  /* older than 1 us */
	hub_expire(h);
	tap_ok(ok && stats(h).retained_events == 0 && stats(h).topics == 0 &&
	       stats(h).expired_topics == 1, "%s: age: old events go, and their empty topic", b->name);
	s = h_sub(h, "old", ids[0], buf, sizeof(buf));
	tap_ok(s && h_gap(buf) && h_ids(buf, got, 4) == 0,
	       "%s: age: a resume from an expired event is a gap", b->name);
	hub_unsubscribe(h, s);
	h_close(h);
}

struct pub_arg {
	struct hub *h;
	char id[HUB_ID_MAX + 1];
	int rc;
};

static void *pub_main(void *arg)
{
	struct pub_arg *a = arg;

	__atomic_store_n(&a->rc, h_pub(a->h, "t", "gated", a->id), __ATOMIC_SEQ_CST);
	return NULL;
}

/* No subscriber sees an event before its backend has committed it, and
 * the publisher's reply waits for that commit. */
static void test_commit_first(const struct backend *b)
{
	struct hub *h = h_open(b, 0, NULL);
	struct pub_arg a = { h, "", -1 };
	struct hub_sub *s;
	pthread_t tid;
	int queued;

	s = h_sub(h, "t", NULL, buf, sizeof(buf));
	h_hold(1);
	pthread_create(&tid, NULL, pub_main, &a);
	queued = h_wait_queued(1);
	h_read(h, s, buf, sizeof(buf));
	tap_ok(queued && !strstr(buf, "gated") && __atomic_load_n(&a.rc, __ATOMIC_SEQ_CST) == -1,
	       "%s: commit first: an event the backend holds is not seen, its publish waits", b->name);
	h_hold(0);
	pthread_join(tid, NULL);
	h_read(h, s, buf, sizeof(buf));
	tap_ok(a.rc == HUB_OK && strstr(buf, "data: gated\n") && strstr(buf, a.id),
	       "%s: commit first: once committed, the reply goes and the stream gets it", b->name);
	hub_unsubscribe(h, s);
	h_close(h);
}

/* ---- a shared backend (the shape of Redis): another node's reader */

/* It acknowledges an append at once without committing it (as Redis's
 * backend does when its reader is late), and commits only when the test
 * says, with no ref: the way a shared backend hands back every node's
 * events from its reader. */
struct shared {
	struct store base;
	pthread_mutex_t mu;
	uint64_t seq;
	struct store_ev held[8];
	char frames[8][64];
	size_t nheld;
};

static int sh_append(struct store *st, struct store_ev *ev, size_t n,
		     store_done_fn done, void *arg)
{
	struct shared *sh = (struct shared *)st;
	size_t i;

	pthread_mutex_lock(&sh->mu);
	for(i = 0; i < n && sh->nheld < 8 && ev[i].flen < 64; i++) {
		struct store_ev *e = &sh->held[sh->nheld];

		*e = ev[i];
		e->seq = ev[i].seq = ++sh->seq;
		e->time_us = 1;
		memcpy(sh->frames[sh->nheld], ev[i].frame, ev[i].flen);
		e->frame = sh->frames[sh->nheld++];
		e->topic = "t";
		e->tlen = 1;
		e->id = NULL;
		e->idlen = 0;
		e->ref = NULL;
	}
	pthread_mutex_unlock(&sh->mu);
	done(arg, STORE_OK);
	return STORE_OK;
}

/* The reader's turn: commit what is held, with no ref. */
static void sh_commit(struct shared *sh)
{
	pthread_mutex_lock(&sh->mu);
	sh->base.sink.commit(sh->base.sink.ud, sh->held, sh->nheld);
	sh->nheld = 0;
	pthread_mutex_unlock(&sh->mu);
}

static int sh_restore(struct store *st, store_each_fn each, void *ud,
		      uint64_t *last_seq, uint64_t *since_seq)
{
	struct shared *sh = (struct shared *)st;

	(void)each;
	(void)ud;
	*last_seq = sh->seq;
	*since_seq = 1;
	return 0;
}

static void sh_stats(struct store *st, struct store_stats *out)
{
	(void)st;
	memset(out, 0, sizeof(*out));
}

static void sh_close(struct store *st)
{
	(void)st;
}

static const struct store_ops shared_ops = {
	.name = "shared", .sync = 0, .shared = 1, .append = sh_append, .restore = sh_restore,
	.stats = sh_stats, .close = sh_close,
};

static struct store *sh_open(const struct store_sink *sink, void *arg)
{
	struct shared *sh = arg;

	sh->base.ops = &shared_ops;
	sh->base.sink = *sink;
	return &sh->base;
}

/* What the hub does for a shared backend: the publisher's id without a
 * commit of its own copy; a resume from an id this node has not committed
 * yet (read on another node) places, with neither gap nor duplicate; lost
 * history ends the open streams, and a resume from before it is a gap. */
static void test_shared(void)
{
	static struct shared sh = { .mu = PTHREAD_MUTEX_INITIALIZER, .seq = 1000 };
	struct backend b = { "shared", sh_open, sh_open, 0, 0, 0, 0, &sh };
	struct hub *h = h_open(&b, 0, NULL);
	struct hub_sub *s, *live;
	char id[HUB_ID_MAX + 1], id2[HUB_ID_MAX + 1];
	uint64_t got[4];
	int ok;

	live = h_sub(h, "t", NULL, buf, sizeof(buf));
	ok = h && h_pub(h, "t", "one", id) == HUB_OK;
	tap_ok(ok && !strcmp(id, "1001"), "shared: the reply has the id the backend gave (%s)", id);
	s = h_sub(h, "t", id, buf, sizeof(buf));
	tap_ok(s && !h_gap(buf) && !strstr(buf, "data:"),
	       "shared: a resume from an id not committed here yet places: no gap");
	sh_commit(&sh);
	ok = h_pub(h, "t", "two", id2) == HUB_OK;
	sh_commit(&sh);
	h_read(h, s, buf, sizeof(buf));
	tap_ok(ok && !strstr(buf, "data: one") && strstr(buf, "data: two") &&
	       h_ids(buf, got, 4) == 1 && got[0] == 1002,
	       "shared: and it gets what came after that id, not the event itself");
	h_read(h, live, buf, sizeof(buf));
	tap_ok(strstr(buf, "data: one") && strstr(buf, "data: two"),
	       "shared: a live stream gets events its node never appended");
	sh.base.sink.lost(sh.base.sink.ud, 1002);
	tap_ok(hub_read(h, live, buf, sizeof(buf), NULL) == HUB_READ_END &&
	       hub_read(h, s, buf, sizeof(buf), NULL) == HUB_READ_END,
	       "shared: lost history ends the open streams");
	hub_unsubscribe(h, s);
	hub_unsubscribe(h, live);
	s = h_sub(h, "t", id, buf, sizeof(buf));
	tap_ok(s && h_gap(buf), "shared: a resume from before the loss is a gap");
	hub_unsubscribe(h, s);
	h_close(h);
}

int main(void)
{
	size_t i;

	for(i = 0; i < nbackends; i++) {
		const struct backend *b = &backends[i];

		test_order(b);
		test_batch(b);
		test_ids(b);
		test_resume(b);
		test_gap(b);
		test_trim(b);
		test_restore(b);
		test_memory(b);
		test_topics(b);
		test_age(b);
		if(b->gate) {
			test_commit_first(b);
			test_no_ref(b);
		}
	}
	test_shared();
	h_cleanup();
	return tap_done();
}
