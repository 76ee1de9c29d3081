/*
 * store-bench.c - the durable store (cmd/ssed/store_sqlite.c) alone,
 * through its interface, with a sink that only counts: how fast the group
 * commit takes appends, what an append waits for its acknowledgement, how
 * large the file stays, and how long a restart takes to read it back.
 *
 * usage: store-bench [-n EVENTS] [-t THREADS] [-w WINDOW] [-b BATCH] [-s BYTES]
 *                    [-T TOPICS] [-H HISTORY] [-r RESTORE_EVENTS] [-R RESTORE_TOPICS]
 *                    [-f] [-d DIR]
 *   -n  events to append (default 200000), -t publishing threads (1),
 *   -w  appends each thread keeps in flight (256), -b events per append (1),
 *   -s  frame bytes (64), -T topics appended to (1), -H history per topic
 *       (0: keep everything), -r/-R events/topics for the restore timing
 *       (0: skip it; 1000 topics by default), -f synchronous=FULL, -d the
 *       directory for the files (default $TMPDIR or /tmp; removed after).
 * Prints one "name value" line per figure.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../cmd/ssed/store.h"

struct cfg {
	size_t n, threads, window, batch, size, topics, history, rn, rtopics;
	int full;
	const char *dir;
};

struct slot {
	struct worker *w;
	size_t i;
};

struct worker {
	pthread_t th;
	struct store *s;
	const struct cfg *c;
	size_t first, count;     /* appends this thread makes */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t inflight, acked;
	int waiting;
	uint64_t *t0;            /* per window slot: submit time */
	uint64_t *lat;           /* per append: latency, us */
	struct slot *slots;      /* per window slot: done's argument */
	struct store_ev *ev;     /* window * batch */
	char *frames;
	int failed;
};


static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sink_commit(void *ud, const struct store_ev *ev, size_t n)
{
	(void)ud;
	(void)ev;
	(void)n;
}

static void sink_lost(void *ud, uint64_t upto)
{
	(void)ud;
	(void)upto;
}

static void on_done(void *arg, int rc)
{
	struct slot *sl = arg;
	struct worker *w = sl->w;
	uint64_t t = now_us();

	pthread_mutex_lock(&w->mu);
	w->lat[sl->i] = t - w->t0[sl->i % w->c->window];
	if(rc)
		w->failed++;
	w->inflight--;
	w->acked++;
	if(w->waiting)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static const char *topic_name(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "topic-%zu", i);
	return buf;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct cfg *c = w->c;
	char *topics = calloc(c->topics, 32);
	size_t i, k;

	for(i = 0; i < c->topics; i++)
		topic_name(i, topics + i * 32, 32);
	for(i = 0; i < w->count; i++) {
		size_t slot = i % c->window;
		struct slot *sl = &w->slots[slot];
		struct store_ev *ev = &w->ev[slot * c->batch];

		pthread_mutex_lock(&w->mu);
		while(w->inflight >= c->window) {
			w->waiting = 1;
			pthread_cond_wait(&w->cv, &w->mu);
			w->waiting = 0;
		}
		w->inflight++;
		w->t0[slot] = now_us();
		pthread_mutex_unlock(&w->mu);
		for(k = 0; k < c->batch; k++) {
			size_t g = (w->first + i) * c->batch + k;
			const char *t = topics + (g % c->topics) * 32;

			memset(&ev[k], 0, sizeof(ev[k]));
			ev[k].topic = t;
			ev[k].tlen = strlen(t);
			ev[k].frame = w->frames;
			ev[k].flen = c->size;
		}
		sl->w = w;
		sl->i = i;
		if(w->s->ops->append(w->s, ev, c->batch, on_done, sl)) {
			pthread_mutex_lock(&w->mu);
			w->inflight--;
			w->failed++;
			pthread_mutex_unlock(&w->mu);
		}
	}
	pthread_mutex_lock(&w->mu);
	while(w->inflight) {
		w->waiting = 1;
		pthread_cond_wait(&w->cv, &w->mu);
		w->waiting = 0;
	}
	pthread_mutex_unlock(&w->mu);
	free(topics);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t fsize(const char *path, const char *suffix)
{
	char name[4200];
	struct stat sb;

	snprintf(name, sizeof(name), "%s%s", path, suffix);
	return stat(name, &sb) ? 0 : (uint64_t)sb.st_size;
}

static void rm_store(const char *path)
{
	char name[4200];

	unlink(path);
	snprintf(name, sizeof(name), "%s-wal", path);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", path);
	unlink(name);
}

static int run_appends(const struct cfg *c)
{
	struct store_limits lim = { c->history, 0, 0 };
	struct store_sink sink = { NULL, sink_commit, sink_lost };
	size_t appends = c->n / c->batch, i, done = 0, failed = 0;
	struct worker *w = calloc(c->threads, sizeof(*w));
	uint64_t t0, us, cpu, *all;
	struct rusage ru;
	struct store_stats st;
	struct store *s;
	char path[4096], err[512];

	snprintf(path, sizeof(path), "%s/store-bench-%d.db", c->dir, (int)getpid());
	rm_store(path);
	s = store_sqlite_open(path, c->full, &lim, &sink, err, sizeof(err));
	if(!s) {
		fprintf(stderr, "store-bench: error: %s\n", err);
		return 1;
	}
	all = calloc(appends ? appends : 1, sizeof(*all));
	t0 = now_us();
	for(i = 0; i < c->threads; i++) {
		w[i].s = s;
		w[i].c = c;
		w[i].first = appends / c->threads * i;
		w[i].count = i + 1 < c->threads ? appends / c->threads : appends - w[i].first;
		pthread_mutex_init(&w[i].mu, NULL);
		pthread_cond_init(&w[i].cv, NULL);
		w[i].t0 = calloc(c->window, sizeof(uint64_t));
		w[i].slots = calloc(c->window, sizeof(struct slot));
		w[i].lat = calloc(w[i].count ? w[i].count : 1, sizeof(uint64_t));
		w[i].ev = calloc(c->window * c->batch, sizeof(struct store_ev));
		w[i].frames = malloc(c->size + 1);
		memset(w[i].frames, 'x', c->size);
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for(i = 0; i < c->threads; i++) {
		pthread_join(w[i].th, NULL);
		memcpy(all + done, w[i].lat, w[i].count * sizeof(*all));
		done += w[i].count;
		failed += (size_t)w[i].failed;
	}
	us = now_us() - t0;
	getrusage(RUSAGE_SELF, &ru);
	cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	s->ops->stats(s, &st);
	qsort(all, done, sizeof(*all), cmp_u64);
	printf("append_threads %zu\nappend_events %zu\nappend_failed %zu\n", c->threads, appends * c->batch,
	       failed);
	printf("append_events_per_s %.0f\n", (double)(appends * c->batch) / ((double)us / 1e6));
	printf("cpu_us_per_event %.2f (publishers, writer and kernel together)\n",
	       (double)cpu / (double)(appends * c->batch));
	printf("commits %llu\nevents_per_commit %.1f\n", (unsigned long long)st.commits,
	       st.commits ? (double)(appends * c->batch) / (double)st.commits : 0.0);
	printf("commit_us_avg %.0f\ncommit_us_max %llu\n",
	       st.commits ? (double)st.commit_us_sum / (double)st.commits : 0.0,
	       (unsigned long long)st.commit_us_max);
	printf("append_to_done_us_p50 %llu\nappend_to_done_us_p99 %llu\n",
	       (unsigned long long)(done ? all[done / 2] : 0),
	       (unsigned long long)(done ? all[done * 99 / 100] : 0));
	printf("events_held %llu\nstore_bytes_with_wal %llu\n", (unsigned long long)st.events,
	       (unsigned long long)st.bytes);
	s->ops->close(s);
	printf("file_bytes %llu\nwal_bytes_after_close %llu\n", (unsigned long long)fsize(path, ""),
	       (unsigned long long)fsize(path, "-wal"));
	rm_store(path);
	for(i = 0; i < c->threads; i++) {
		free(w[i].t0);
		free(w[i].slots);
		free(w[i].lat);
		free(w[i].ev);
		free(w[i].frames);
	}
	free(w);
	free(all);
	return failed ? 1 : 0;
}

static int count_each(void *ud, const struct store_ev *ev)
{
	(void)ev;
	(*(size_t *)ud)++;
	return 0;
}

struct waitone {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
};

static void fill_done(void *arg, int rc)
{
	struct waitone *wo = arg;

	pthread_mutex_lock(&wo->mu);
	wo->done = 1;
	wo->rc = rc;
	pthread_cond_signal(&wo->cv);
	pthread_mutex_unlock(&wo->mu);
}

static int run_restore(const struct cfg *c)
{
	struct store_limits lim = { 0, 0, 0 };
	struct store_sink sink = { NULL, sink_commit, sink_lost };
	enum { CHUNK = 10000 };
	struct store_ev *ev = calloc(CHUNK, sizeof(*ev));
	char *topics = calloc(c->rtopics, 32), *frame = malloc(c->size);
	char path[4096], err[512];
	uint64_t t0, t1, t2, last, since;
	size_t i, k, got = 0;
	struct store *s;

	snprintf(path, sizeof(path), "%s/store-bench-restore-%d.db", c->dir, (int)getpid());
	rm_store(path);
	memset(frame, 'y', c->size);
	for(i = 0; i < c->rtopics; i++)
		topic_name(i, topics + i * 32, 32);
	s = store_sqlite_open(path, 0, &lim, &sink, err, sizeof(err));
	if(!s) {
		fprintf(stderr, "store-bench: error: %s\n", err);
		return 1;
	}
	/* Fill in chunks of one append each, one at a time (ev is reused). */
	for(i = 0; i < c->rn; i += CHUNK) {
		size_t n = c->rn - i < CHUNK ? c->rn - i : CHUNK;
		struct waitone wo = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

		for(k = 0; k < n; k++) {
			const char *t = topics + ((i + k) % c->rtopics) * 32;

			ev[k].topic = t;
			ev[k].tlen = strlen(t);
			ev[k].frame = frame;
			ev[k].flen = c->size;
			ev[k].id = NULL;
			ev[k].time_us = 0;
		}
		if(s->ops->append(s, ev, n, fill_done, &wo))
			return 1;
		pthread_mutex_lock(&wo.mu);
		while(!wo.done)
			pthread_cond_wait(&wo.cv, &wo.mu);
		pthread_mutex_unlock(&wo.mu);
		if(wo.rc)
			return 1;
	}
	s->ops->close(s);
	t0 = now_us();
	s = store_sqlite_open(path, 0, &lim, &sink, err, sizeof(err));
	t1 = now_us();
	if(!s) {
		fprintf(stderr, "store-bench: error: %s\n", err);
		return 1;
	}
	s->ops->restore(s, count_each, &got, &last, &since);
	t2 = now_us();
	printf("restore_events %zu\nrestore_topics %zu\nrestore_file_bytes %llu\n", got, c->rtopics,
	       (unsigned long long)fsize(path, ""));
	printf("restore_open_ms %.0f\nrestore_each_ms %.0f\nrestore_total_ms %.0f\n", (double)(t1 - t0) / 1e3,
	       (double)(t2 - t1) / 1e3, (double)(t2 - t0) / 1e3);
	s->ops->close(s);
	rm_store(path);
	free(ev);
	free(topics);
	free(frame);
	return got == c->rn ? 0 : 1;
}

static size_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if(*end || end == s) {
		fprintf(stderr, "store-bench: error: not a number: %s\n", s);
		exit(1);
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	struct cfg c = { 200000, 1, 256, 1, 64, 1, 0, 0, 1000, 0, NULL };
	int opt, rc = 0;

	c.dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	while((opt = getopt(argc, argv, "n:t:w:b:s:T:H:r:R:fd:h")) != -1) {
		switch(opt) {
		case 'n': c.n = num(optarg); break;
		case 't': c.threads = num(optarg); break;
		case 'w': c.window = num(optarg); break;
		case 'b': c.batch = num(optarg); break;
		case 's': c.size = num(optarg); break;
		case 'T': c.topics = num(optarg); break;
		case 'H': c.history = num(optarg); break;
		case 'r': c.rn = num(optarg); break;
		case 'R': c.rtopics = num(optarg); break;
		case 'f': c.full = 1; break;
		case 'd': c.dir = optarg; break;
		default:
			fprintf(stderr, "usage: store-bench [-n EVENTS] [-t THREADS] [-w WINDOW] [-b BATCH]"
				" [-s BYTES] [-T TOPICS] [-H HISTORY] [-r RESTORE_EVENTS] [-R RESTORE_TOPICS]"
				" [-f] [-d DIR]\n");
			return opt == 'h' ? 0 : 1;
		}
	}
	if(!c.threads || !c.window || !c.batch || !c.topics || !c.rtopics) {
		fprintf(stderr, "store-bench: error: -t, -w, -b, -T and -R must be at least 1\n");
		return 1;
	}
	if(c.n)
		rc |= run_appends(&c);
	if(c.rn)
		rc |= run_restore(&c);
	return rc;
}
