/*
 * store_harness.c - the backends under test and the hub driver (see
 * store_harness.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_harness.h"
#include "../../cmd/ssed/store_sqlite.h"

/* ---- the memory backend */

/* The clock the test backends take seqs from: the wall clock plus an
 * offset a case can turn back. */
static int64_t clock_offset;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u +
	       (uint64_t)__atomic_load_n(&clock_offset, __ATOMIC_RELAXED);
}

void h_clock_shift(int64_t us)
{
	__atomic_add_fetch(&clock_offset, us, __ATOMIC_RELAXED);
}

static struct store *mem_open(const struct store_sink *sink, void *arg)
{
	(void)arg;
	return store_mem_open_clock(sink, now_us);
}

/* ---- a backend that commits on its own thread, as a durable one does:
 * appends queue up, and the thread takes the whole queue as one batch
 * (a group commit). Its "disk" is the list below, which outlives a close,
 * so a reopen restores what was kept, and trim mirrors the ring. */

struct kept {
	struct kept *next;
	uint64_t seq, time_us;
	char *topic, *id, *frame;
	size_t tlen, idlen, flen;
};

static struct kept *disk;      /* oldest first; the test runs one hub at a time */
static uint64_t disk_since;    /* the seq the disk's history is complete from */

static char *kdup(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if(d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static void disk_free(struct kept *k)
{
	free(k->topic);
	free(k->id);
	free(k->frame);
	free(k);
}

static void disk_write(const struct store_ev *ev)
{
	struct kept *k = calloc(1, sizeof(*k)), **pp;

	if(!k)
		abort();
	k->seq = ev->seq;
	k->time_us = ev->time_us;
	k->topic = kdup(ev->topic, ev->tlen);
	k->tlen = ev->tlen;
	k->id = ev->id ? kdup(ev->id, ev->idlen) : NULL;
	k->idlen = ev->idlen;
	k->frame = kdup(ev->frame, ev->flen);
	k->flen = ev->flen;
	for(pp = &disk; *pp; pp = &(*pp)->next)
		;
	*pp = k;
}

struct job {
	struct job *next;
	struct store_ev *ev, *user;  /* user: the caller's, seq written back */
	size_t n;
	store_done_fn done;
	void *arg;
};

struct async {
	struct store base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	struct job *head, **tail;
	int stop;
	uint64_t seq;
	uint64_t commits;
};

static uint64_t kept_seq;  /* the last seq, which a reopen restores */
static int drop_refs;      /* commit without the refs (h_drop_refs) */

void h_drop_refs(int on)
{
	__atomic_store_n(&drop_refs, on, __ATOMIC_RELAXED);
}

/* The gate: while held, appends queue up and nothing is committed. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_held;
static size_t gate_queued;       /* appends waiting at the gate */

void h_hold(int on)
{
	pthread_mutex_lock(&gate_mu);
	gate_held = on;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

int h_wait_queued(size_t n)
{
	struct timespec until;
	int ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&gate_mu);
	while(gate_queued < n && pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
		;
	ok = gate_queued >= n;
	pthread_mutex_unlock(&gate_mu);
	return ok;
}

static void *async_main(void *arg)
{
	struct async *a = arg;
	struct job *list, *j;

	pthread_mutex_lock(&a->mu);
	for(;;) {
		while(!a->head && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		if(!a->head)
			break;
		pthread_mutex_unlock(&a->mu);
		pthread_mutex_lock(&gate_mu);
		for(j = a->head, gate_queued = 0; j; j = j->next)
			gate_queued++;
		pthread_cond_broadcast(&gate_cv);
		while(gate_held)
			pthread_cond_wait(&gate_cv, &gate_mu);
		gate_queued = 0;
		pthread_mutex_unlock(&gate_mu);
		pthread_mutex_lock(&a->mu);
		list = a->head;
		a->head = NULL;
		a->tail = &a->head;
		/* The seqs are given at commit time, in commit order, and
		 * the events are on the disk before anyone sees them. */
		for(j = list; j; j = j->next) {
			size_t i;
			uint64_t now = now_us();

			for(i = 0; i < j->n; i++) {
				j->ev[i].seq = now > a->seq ? now : a->seq + 1;
				j->ev[i].time_us = now;
				a->seq = j->ev[i].seq;
				disk_write(&j->ev[i]);
			}
		}
		pthread_mutex_unlock(&a->mu);
		for(j = list; j; j = j->next) {
			size_t i;

			/* As a shared backend's reader: no ref handed back. */
			for(i = 0; i < j->n && __atomic_load_n(&drop_refs, __ATOMIC_RELAXED); i++)
				j->ev[i].ref = NULL;
			a->base.sink.commit(a->base.sink.ud, j->ev, j->n);
		}
		a->commits++;
		while((j = list)) {
			size_t i;

			list = j->next;
			for(i = 0; i < j->n; i++)
				j->user[i].seq = j->ev[i].seq;
			j->done(j->arg, STORE_OK);
			free(j->ev);
			free(j);
		}
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static int async_append(struct store *s, struct store_ev *ev, size_t n,
			store_done_fn done, void *arg)
{
	struct async *a = (struct async *)s;
	struct job *j = calloc(1, sizeof(*j));

	if(!j)
		return STORE_ENOMEM;
	j->ev = malloc(n * sizeof(*ev));
	if(!j->ev) {
		free(j);
		return STORE_ENOMEM;
	}
	/* The strings stay the caller's: it waits for done. */
	memcpy(j->ev, ev, n * sizeof(*ev));
	j->user = ev;
	j->n = n;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&a->mu);
	*a->tail = j;
	a->tail = &j->next;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return STORE_OK;
}

static int async_restore(struct store *s, store_each_fn each, void *ud,
			 uint64_t *last_seq, uint64_t *since_seq)
{
	struct async *a = (struct async *)s;
	struct store_ev ev;
	struct kept *k;
	int rc;

	for(k = disk; k; k = k->next) {
		memset(&ev, 0, sizeof(ev));
		ev.seq = k->seq;
		ev.time_us = k->time_us;
		ev.topic = k->topic;
		ev.tlen = k->tlen;
		ev.id = k->id;
		ev.idlen = k->idlen;
		ev.frame = k->frame;
		ev.flen = k->flen;
		rc = each(ud, &ev);
		if(rc)
			return rc;
	}
	if(kept_seq > a->seq)
		a->seq = kept_seq;
	if(!disk_since)
		disk_since = a->seq;
	*last_seq = a->seq;
	*since_seq = disk_since;
	return STORE_OK;
}

static void async_trim(struct store *s, const char *topic, size_t tlen, uint64_t below)
{
	struct async *a = (struct async *)s;
	struct kept **pp, *k;

	pthread_mutex_lock(&a->mu);
	for(pp = &disk; (k = *pp);) {
		if(k->tlen == tlen && !memcmp(k->topic, topic, tlen) && k->seq < below) {
			*pp = k->next;
			disk_free(k);
		} else {
			pp = &k->next;
		}
	}
	pthread_mutex_unlock(&a->mu);
}

static void async_stats(struct store *s, struct store_stats *st)
{
	struct async *a = (struct async *)s;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&a->mu);
	st->commits = a->commits;
	pthread_mutex_unlock(&a->mu);
	st->connected = 1;
}

static void async_close(struct store *s)
{
	struct async *a = (struct async *)s;

	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->tid, NULL);
	kept_seq = a->seq;
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}

static const struct store_ops async_ops = {
	.name = "threaded",
	.sync = 0,
	.append = async_append,
	.restore = async_restore,
	.trim = async_trim,
	.stats = async_stats,
	.close = async_close,
};

static struct store *async_reopen(const struct store_sink *sink, void *arg)
{
	struct async *a = calloc(1, sizeof(*a));

	(void)arg;
	if(!a)
		return NULL;
	a->base.ops = &async_ops;
	a->base.sink = *sink;
	a->seq = now_us();
	a->tail = &a->head;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if(pthread_create(&a->tid, NULL, async_main, a)) {
		free(a);
		return NULL;
	}
	return &a->base;
}

static struct store *async_open(const struct store_sink *sink, void *arg)
{
	struct kept *k;

	while((k = disk)) {
		disk = k->next;
		disk_free(k);
	}
	disk_since = 0;
	kept_seq = 0;
	return async_reopen(sink, arg);
}

/* ---- the durable backend (store_sqlite.c), on a file in a directory of
 * its own, with the hub's limits as ssed passes them and the test clock */

static struct store_limits cur_lim;  /* the limits of the hub h_open makes */
static char sq_dir[64];

static uint64_t sq_clock(void *ud)
{
	(void)ud;
	return now_us();
}

static const char *sq_path(const char *suffix)
{
	static char path[128];

	if(!sq_dir[0]) {
		snprintf(sq_dir, sizeof(sq_dir), "%s", "/tmp/ssed-store-XXXXXX");
		if(!mkdtemp(sq_dir))
			abort();
	}
	snprintf(path, sizeof(path), "%s/store.db%s", sq_dir, suffix);
	return path;
}

static struct store *sq_reopen(const struct store_sink *sink, void *arg)
{
	char err[512];
	struct store *s;

	(void)arg;
	s = store_sqlite_open(sq_path(""), 0, &cur_lim, sink, err, sizeof(err));
	if(!s)
		fprintf(stderr, "# sqlite: %s\n", err);
	else
		store_sqlite_set_clock(s, sq_clock, NULL);
	return s;
}

static struct store *sq_open(const struct store_sink *sink, void *arg)
{
	unlink(sq_path(""));
	unlink(sq_path("-wal"));
	unlink(sq_path("-shm"));
	return sq_reopen(sink, arg);
}

void h_cleanup(void)
{
	if(!sq_dir[0])
		return;
	unlink(sq_path(""));
	unlink(sq_path("-wal"));
	unlink(sq_path("-shm"));
	rmdir(sq_dir);
}

const struct backend backends[] = {
	{ "memory", mem_open, mem_open, 0, 0, 1, 0, NULL },
	{ "threaded", async_open, async_reopen, 1, 1, 1, 1, NULL },
	{ "sqlite", sq_open, sq_reopen, 1, 1, 1, 0, NULL },
};
const size_t nbackends = sizeof(backends) / sizeof(backends[0]);

/* ---- the hub driver: suspend and resume are no-ops, the test reads */

static void op_nop(void *conn)
{
	(void)conn;
}

struct hub *h_open(const struct backend *b, int reopen, const struct limits *lim)
{
	struct hub_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.history = lim && lim->history ? lim->history : 100;
	cfg.history_bytes = lim && lim->history_bytes ? lim->history_bytes : 1 << 20;
	cfg.max_topics = lim && lim->max_topics ? lim->max_topics : 100;
	cfg.max_memory = lim ? lim->max_memory : 0;
	cfg.history_age_us = lim ? lim->history_age_us : 0;
	cfg.max_subscribers = 100;
	cfg.retry_ms = -1;
	cfg.ops.suspend = op_nop;
	cfg.ops.resume = op_nop;
	cur_lim.history = hub_ring_cap(cfg.history);
	cur_lim.history_bytes = cfg.history_bytes;
	cur_lim.history_age_us = cfg.history_age_us;
	cfg.store_open = reopen ? b->reopen : b->open;
	cfg.store_arg = b->arg;
	return hub_new(&cfg);
}

void h_close(struct hub *h)
{
	hub_close(h);
	hub_free(h);
}

int h_pub(struct hub *h, const char *topic, const char *data, char *id)
{
	struct sse_event e;

	memset(&e, 0, sizeof(e));
	e.data = data;
	e.data_len = strlen(data);
	e.retry = -1;
	return hub_publish(h, topic, strlen(topic), &e, 0, id);
}

void h_read(struct hub *h, struct hub_sub *s, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t k;
	int i;

	for(i = 0; i < 10000 && n + 1 < size; i++) {
		k = hub_read(h, s, buf + n, size - 1 - n, NULL);
		if(k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
}

struct hub_sub *h_sub(struct hub *h, const char *topics, const char *last_id,
		      char *buf, size_t size)
{
	const char *name[HUB_SUB_TOPICS_MAX];
	size_t len[HUB_SUB_TOPICS_MAX], n = 0;
	const char *p = topics;
	struct hub_sub *s;
	int err;

	while(*p && n < HUB_SUB_TOPICS_MAX) {
		const char *comma = strchr(p, ',');

		name[n] = p;
		len[n] = comma ? (size_t)(comma - p) : strlen(p);
		n++;
		p = comma ? comma + 1 : p + strlen(p);
	}
	s = hub_subscribe(h, name, len, n, last_id, NULL, &err);
	if(s)
		h_read(h, s, buf, size);
	return s;
}

size_t h_ids(const char *stream, uint64_t *ids, size_t max)
{
	const char *p = stream;
	size_t n = 0;

	while(n < max && (p = strstr(p, "id: "))) {
		if(p == stream || p[-1] == '\n')
			ids[n++] = strtoull(p + 4, NULL, 10);
		p += 4;
	}
	return n;
}

int h_gap(const char *stream)
{
	return strstr(stream, "event: ssed-gap\n") != NULL;
}
