/*
 * test_hub.c - the hub's publisher pacing (--publish-window), against the
 * real hub.c with its waker thread. The delivery threads are played by the
 * test: a stream is "woken" when the hub calls ops.resume, and has had its
 * turn when the test reads it.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../../cmd/ssed/hub.h"
#include "tap.h"

#define CONNS 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int resumed[CONNS];

static void op_suspend(void *conn)
{
	(void)conn;
}

static void op_resume(void *conn)
{
	pthread_mutex_lock(&mu);
	resumed[(intptr_t)conn]++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait (5 s at most) until conn has been resumed n times in all. */
static int wait_resumed(int conn, int n)
{
	struct timespec until;
	int ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&mu);
	while(resumed[conn] < n && pthread_cond_timedwait(&cv, &mu, &until) == 0)
		;
	ok = resumed[conn] >= n;
	pthread_mutex_unlock(&mu);
	return ok;
}

static struct hub *new_hub_bytes(size_t window, size_t history_bytes)
{
	struct hub_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.history = 100;
	cfg.history_bytes = history_bytes;
	cfg.max_topics = 10;
	cfg.max_subscribers = 10;
	cfg.retry_ms = -1;
	cfg.publish_window = window;
	cfg.ops.suspend = op_suspend;
	cfg.ops.resume = op_resume;
	memset(resumed, 0, sizeof(resumed));
	return hub_new(&cfg);
}

static struct hub *new_hub(size_t window)
{
	return new_hub_bytes(window, 1 << 20);
}

static struct hub_sub *sub(struct hub *h, intptr_t conn)
{
	const char *topics[] = { "t" };
	size_t lens[] = { 1 };
	int err = 0;

	return hub_subscribe(h, topics, lens, 1, NULL, (void *)conn, &err);
}

static int publish(struct hub *h, const char *data)
{
	struct sse_event e;
	char id[HUB_ID_MAX + 1];

	memset(&e, 0, sizeof(e));
	e.data = data;
	e.data_len = strlen(data);
	e.retry = -1;
	return hub_publish(h, "t", 1, &e, HUB_PUB_PACE, id);
}

static struct hub_stats stats(struct hub *h)
{
	struct hub_stats st;

	hub_stats(h, &st);
	return st;
}

/* Wait (5 s at most) until a publish is waiting in h. */
static int wait_waiting(struct hub *h)
{
	int i;

	for(i = 0; i < 5000; i++) {
		if(stats(h).pub_waiting == 1)
			return 1;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	return 0;
}

struct pub_arg {
	struct hub *h;
	const char *data;
	int rc;
	double took;
};

static void *pub_main(void *arg)
{
	struct pub_arg *a = arg;
	double t0 = now();

	a->rc = publish(a->h, a->data);
	a->took = now() - t0;
	return NULL;
}

/* Close h with s still subscribed, as ssed's shutdown does, then free it. */
static void end(struct hub *h, struct hub_sub *s)
{
	hub_close(h);
	hub_unsubscribe(h, s);
	hub_free(h);
}

/* Read what s has pending; the bytes go to buf. */
static ssize_t take(struct hub *h, struct hub_sub *s, char *buf, size_t size, int *parked)
{
	ssize_t n = hub_read(h, s, buf, size - 1, parked);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* With a window of 3, a stream woken for the first event and not read
 * since holds back the reply to the third publish, not the event, until
 * it has read them. */
static void test_window(void)
{
	struct hub *h = new_hub(3);
	struct hub_sub *s = sub(h, 0);
	struct pub_arg a = { h, "three", -1, 0 };
	pthread_t tid;
	char buf[4096];
	int parked = 0;

	take(h, s, buf, sizeof(buf), &parked);
	tap_ok(parked, "window: a stream that read everything is parked");
	tap_ok(publish(h, "one") == HUB_OK && wait_resumed(0, 1), "window: a publish wakes it");
	tap_ok(publish(h, "two") == HUB_OK && stats(h).pub_waits == 0,
	       "window: two events behind: the reply comes at once");
	pthread_create(&tid, NULL, pub_main, &a);
	if(!tap_ok(wait_waiting(h) && stats(h).published == 3,
		   "window: three behind: the third event is out, its reply waits"))
		tap_diag("published %llu, waiting %llu", (unsigned long long)stats(h).published,
			 (unsigned long long)stats(h).pub_waiting);
	take(h, s, buf, sizeof(buf), &parked);
	tap_ok(strstr(buf, "data: one\n\n") && strstr(buf, "data: two\n\n") &&
	       strstr(buf, "data: three\n\n"), "window: the stream's turn gets all three at once");
	pthread_join(tid, NULL);
	tap_ok(a.rc == HUB_OK && stats(h).pub_waits == 1 && stats(h).pub_waiting == 0 &&
	       a.took < HUB_PUB_WAIT_US / 1e6 * 0.9,
	       "window: the turn lets the reply go (%.2f s)", a.took);
	tap_ok(parked && publish(h, "four") == HUB_OK && wait_resumed(0, 2),
	       "window: parked again, the next event wakes it");
	take(h, s, buf, sizeof(buf), &parked);
	tap_ok(strstr(buf, "data: four\n\n") != NULL, "window: and it reads that");
	end(h, s);
}

/* With 16 KiB of history, large events wait at a quarter of it, 4 KiB,
 * though the window in events (100) is far off. */
static void test_bytes(void)
{
	static char big[1501];
	struct hub *h = new_hub_bytes(100, 16 << 10);
	struct hub_sub *s = sub(h, 0);
	struct pub_arg a = { h, big, -1, 0 };
	pthread_t tid;
	char buf[8192];
	int parked = 0;

	memset(big, 'b', sizeof(big) - 1);
	take(h, s, buf, sizeof(buf), &parked);
	tap_ok(parked && publish(h, big) == HUB_OK && wait_resumed(0, 1),
	       "bytes: a stream that read everything is woken by a publish");
	tap_ok(publish(h, big) == HUB_OK && stats(h).pub_waits == 0,
	       "bytes: 3 KB behind: the reply comes at once");
	pthread_create(&tid, NULL, pub_main, &a);
	tap_ok(wait_waiting(h) && stats(h).published == 3,
	       "bytes: 4.5 KB behind, a quarter of the history's bytes: the reply waits");
	take(h, s, buf, sizeof(buf), &parked);
	pthread_join(tid, NULL);
	tap_ok(a.rc == HUB_OK && stats(h).pub_waits == 1 && a.took < HUB_PUB_WAIT_US / 1e6 * 0.9,
	       "bytes: the stream's turn lets it go (%.2f s)", a.took);
	end(h, s);
}

/* A stream that is not woken (a delivery thread holds its bytes while its
 * socket is full) holds nobody back, however far behind. */
static void test_not_woken(void)
{
	struct hub *h = new_hub(2);
	struct hub_sub *s = sub(h, 1);
	char buf[4096];
	int i, ok = 1;

	take(h, s, buf, sizeof(buf), NULL);  /* read, not parked: not woken */
	for(i = 0; i < 20; i++)
		ok &= publish(h, "x") == HUB_OK;
	tap_ok(ok && stats(h).published == 20 && stats(h).pub_waits == 0,
	       "not woken: 20 events behind and no publish waits");
	end(h, s);
}

/* Window 0: no publish ever waits. */
static void test_off(void)
{
	struct hub *h = new_hub(0);
	struct hub_sub *s = sub(h, 2);
	char buf[4096];
	int parked, i, ok = 1;

	take(h, s, buf, sizeof(buf), &parked);
	ok &= publish(h, "x") == HUB_OK && wait_resumed(2, 1);
	for(i = 0; i < 20; i++)
		ok &= publish(h, "x") == HUB_OK;
	tap_ok(ok && stats(h).pub_waits == 0, "window 0: a woken stream 21 behind holds nobody");
	end(h, s);
}

/* A woken stream that never reads holds a reply HUB_PUB_WAIT_US at most;
 * one that goes away lets it go at once. */
static void test_bounds(void)
{
	struct hub *h = new_hub(1);
	struct hub_sub *s = sub(h, 3);
	struct pub_arg a = { h, "y", -1, 0 };
	pthread_t tid;
	char buf[4096];
	int parked;

	take(h, s, buf, sizeof(buf), &parked);
	tap_ok(publish(h, "x") == HUB_OK && wait_resumed(3, 1), "bounds: the stream is woken");
	pthread_create(&tid, NULL, pub_main, &a);
	tap_ok(wait_waiting(h) && stats(h).published == 2, "bounds: the next event is out, its reply waits");
	pthread_join(tid, NULL);
	tap_ok(a.rc == HUB_OK && a.took >= HUB_PUB_WAIT_US / 1e6 * 0.99,
	       "bounds: unread, the stream holds the reply %.2f s, no more", a.took);
	a.took = 0;
	pthread_create(&tid, NULL, pub_main, &a);
	tap_ok(wait_waiting(h), "bounds: the next reply waits too");
	hub_unsubscribe(h, s);
	pthread_join(tid, NULL);
	tap_ok(a.rc == HUB_OK && a.took < HUB_PUB_WAIT_US / 1e6 * 0.9,
	       "bounds: the stream's going ends the wait (%.2f s)", a.took);
	hub_close(h);
	hub_free(h);
}

int main(void)
{
	test_window();
	test_bytes();
	test_not_woken();
	test_off();
	test_bounds();
	return tap_done();
}
