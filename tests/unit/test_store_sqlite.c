/*
 * test_store_sqlite.c - the embedded durable backend (store_sqlite.c)
 * through its interface, with a fake sink standing in for the hub: seq
 * assignment and order, group commit, restore after a close and after a
 * kill -9, the clock going back, retention, a bounded file, refused files,
 * damaged files and a full disk. Every store lives in a fresh temporary
 * directory that is removed at the end (KEEP=1 in the environment keeps
 * it, to look at the files).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../cmd/ssed/store.h"
#include "../../cmd/ssed/store_sqlite.h"
#include "tap.h"

/* ---- Events as the sink or restore saw them. */

struct rec {
	uint64_t seq, time_us;
	char topic[32], id[32], frame[512];
	int has_id;
};

struct log {
	pthread_mutex_t mu;
	struct rec *r;
	size_t n, cap, calls;
	int disorder;           /* a seq not above the one before */
};

static void log_init(struct log *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
}

static void log_free(struct log *l)
{
	free(l->r);
	pthread_mutex_destroy(&l->mu);
}

static void log_add(struct log *l, const struct store_ev *e)
{
	struct rec *r;

	if(l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->r = realloc(l->r, l->cap * sizeof(*l->r));
	}
	if(l->n && e->seq <= l->r[l->n - 1].seq)
		l->disorder = 1;
	r = &l->r[l->n++];
	memset(r, 0, sizeof(*r));
	r->seq = e->seq;
	r->time_us = e->time_us;
	snprintf(r->topic, sizeof(r->topic), "%.*s", (int)e->tlen, e->topic);
	snprintf(r->frame, sizeof(r->frame), "%.*s", (int)e->flen, e->frame);
	if(e->id) {
		r->has_id = 1;
		snprintf(r->id, sizeof(r->id), "%.*s", (int)e->idlen, e->id);
	}
}

static void sink_commit(void *ud, const struct store_ev *ev, size_t n)
{
	struct log *l = ud;
	size_t i;

	pthread_mutex_lock(&l->mu);
	l->calls++;
	for(i = 0; i < n; i++)
		log_add(l, &ev[i]);
	pthread_mutex_unlock(&l->mu);
}

static void sink_lost(void *ud, uint64_t upto)
{
	(void)ud;
	(void)upto;
}

static int restore_each(void *ud, const struct store_ev *e)
{
	log_add(ud, e);
	return 0;
}

static size_t log_count(struct log *l, const char *topic)
{
	size_t i, n = 0;

	for(i = 0; i < l->n; i++)
		n += !strcmp(l->r[i].topic, topic);
	return n;
}

static const struct rec *log_find(const struct log *l, uint64_t seq)
{
	size_t i;

	for(i = 0; i < l->n; i++)
		if(l->r[i].seq == seq)
			return &l->r[i];
	return NULL;
}

/* ---- Acknowledgements. */

struct acks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t done, failed;
	int last_rc;
};

static void acks_init(struct acks *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
}

static void on_done(void *arg, int rc)
{
	struct acks *a = arg;

	pthread_mutex_lock(&a->mu);
	a->done++;
	if(rc)
		a->failed++;
	a->last_rc = rc;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Wait (10 s at most) for n acknowledgements in all. */
static int acks_wait(struct acks *a, size_t n)
{
	struct timespec until;
	int ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&a->mu);
	while(a->done < n && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
		;
	ok = a->done >= n;
	pthread_mutex_unlock(&a->mu);
	return ok;
}

/* ---- Helpers. */

struct fclock {
	uint64_t now;
};

static uint64_t fake_now(void *ud)
{
	return ((struct fclock *)ud)->now;
}

static char dir[256];

/* The wall clock plus 10 s: the fake clocks start there. */
static uint64_t base_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + 10000000u;
}

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static struct store *open_store(const char *path, const struct store_limits *lim, struct log *l,
				char *err, size_t errlen)
{
	struct store_sink sink = { l, sink_commit, sink_lost };

	return store_sqlite_open(path, 0, lim, &sink, err, errlen);
}

static void fill(struct store_ev *e, const char *topic, const char *id, const char *frame,
		 uint64_t time_us)
{
	memset(e, 0, sizeof(*e));
	e->time_us = time_us;
	e->topic = topic;
	e->tlen = strlen(topic);
	e->id = id;
	e->idlen = id ? strlen(id) : 0;
	e->frame = frame;
	e->flen = strlen(frame);
}

/* Append one event and wait for it; its rc, its seq in *seq. */
static int append1(struct store *s, const char *topic, const char *id, const char *frame,
		   uint64_t time_us, uint64_t *seq)
{
	struct store_ev e;
	struct acks a;
	int rc;

	acks_init(&a);
	fill(&e, topic, id, frame, time_us);
	rc = s->ops->append(s, &e, 1, on_done, &a);
	if(rc)
		return rc;
	if(!acks_wait(&a, 1))
		return 99;
	if(seq)
		*seq = e.seq;
	return a.last_rc;
}

static int do_restore(struct store *s, struct log *l, uint64_t *last, uint64_t *since)
{
	return s->ops->restore(s, restore_each, l, last, since);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if(!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

static int spit(const char *path, const char *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if(!f)
		return 0;
	ok = fwrite(b, 1, len, f) == len;
	return !fclose(f) && ok;
}

static uint64_t fsize(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
}

/* ---- The tests. */

static void test_seq_and_order(void)
{
	struct store_limits lim = { 0, 0, 0 };
	const uint64_t T = base_us();
	struct fclock ck = { T };
	struct store_ev ev[3];
	struct store *s;
	struct log l, r;
	struct acks a;
	char path[300], err[256];
	uint64_t last = 1, since = 0, seq = 0, seq2 = 0;
	int rc;

	log_init(&l);
	log_init(&r);
	acks_init(&a);
	path_of(path, sizeof(path), "seq.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	tap_ok(s && !err[0], "a new store opens (%s)", err);
	if(!s)
		return;
	store_sqlite_set_clock(s, fake_now, &ck);
	tap_ok(do_restore(s, &r, &last, &since) == 0 && r.n == 0 && last == 0 && since > 0 && since < T,
	       "a new store restores nothing, last seq 0, since its creation");

	fill(&ev[0], "t", NULL, "data: a\n\n", 0);
	fill(&ev[1], "t", "my-id", "data: b\n\n", 0);
	fill(&ev[2], "u", NULL, "data: c\n\n", 0);
	tap_ok(s->ops->append(s, ev, 3, on_done, &a) == 0 && acks_wait(&a, 1) && a.last_rc == 0,
	       "an append of three events is acknowledged");
	tap_ok(ev[0].seq == T && ev[1].seq == T + 1 && ev[2].seq == T + 2,
	       "seqs are the clock, then last+1 while the clock stands still (%llu %llu %llu)",
	       (unsigned long long)ev[0].seq, (unsigned long long)ev[1].seq,
	       (unsigned long long)ev[2].seq);
	tap_ok(l.n == 3 && l.calls == 1 && !l.disorder && l.r[0].seq == ev[0].seq &&
	       !strcmp(l.r[1].frame, "data: b\n\n") && !strcmp(l.r[1].id, "my-id") && !l.r[0].has_id &&
	       !strcmp(l.r[2].topic, "u"),
	       "the sink got the three events in one commit, in seq order, as given");

	ck.now = T - 1000000;
	rc = append1(s, "t", NULL, "data: d\n\n", 0, &seq);
	tap_ok(rc == 0 && seq == T + 3, "the clock going back: seq is last+1 (%llu)",
	       (unsigned long long)(seq - T));
	ck.now = T + 1000;
	rc = append1(s, "t", NULL, "data: e\n\n", 0, &seq2);
	tap_ok(rc == 0 && seq2 == T + 1000, "the clock ahead again: seq is the clock (%llu)",
	       (unsigned long long)(seq2 - T));
	s->ops->close(s);

	/* After a restart with the clock far back, ids still continue. */
	ck.now = T - 60000000;
	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!tap_ok(s != NULL, "the store reopens (%s)", err))
		return;
	store_sqlite_set_clock(s, fake_now, &ck);
	r.n = 0;
	tap_ok(do_restore(s, &r, &last, &since) == 0 && r.n == 5 && last == T + 1000 &&
	       r.r[0].seq == T && r.r[4].seq == T + 1000 && !strcmp(r.r[1].id, "my-id") &&
	       !strcmp(r.r[3].frame, "data: d\n\n") && !r.r[3].has_id,
	       "restore gives every event, in seq order, with ids and frames, and the last seq");
	rc = append1(s, "t", NULL, "data: f\n\n", 0, &seq);
	tap_ok(rc == 0 && seq == T + 1001,
	       "after a restart with the clock a minute behind, seq continues from the last (%llu)",
	       (unsigned long long)(seq - T));
	s->ops->close(s);
	log_free(&l);
	log_free(&r);
}

/* ---- Group commit: many appends from several threads. */

#define THREADS 4
#define PER_THREAD 500

struct pubarg {
	struct store *s;
	struct acks *a;
	struct store_ev ev[PER_THREAD];
	char frame[PER_THREAD][32];
	int failed;
};

static void *publisher(void *arg)
{
	struct pubarg *p = arg;
	int i;

	for(i = 0; i < PER_THREAD; i++) {
		snprintf(p->frame[i], sizeof(p->frame[i]), "data: %d\n\n", i);
		fill(&p->ev[i], "g", NULL, p->frame[i], 0);
		if(p->s->ops->append(p->s, &p->ev[i], 1, on_done, p->a))
			p->failed++;
	}
	return NULL;
}

static void test_group_commit(void)
{
	static struct pubarg pa[THREADS];
	struct store_limits lim = { 0, 0, 0 };
	struct store_stats st;
	pthread_t th[THREADS];
	struct store *s;
	struct log l;
	struct acks a;
	char path[300], err[256];
	uint64_t *seen;
	size_t i, k, n = 0, dup = 0;
	int failed = 0;

	log_init(&l);
	acks_init(&a);
	path_of(path, sizeof(path), "group.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!tap_ok(s != NULL, "group: store opens (%s)", err))
		return;
	for(i = 0; i < THREADS; i++) {
		pa[i].s = s;
		pa[i].a = &a;
		pthread_create(&th[i], NULL, publisher, &pa[i]);
	}
	for(i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += pa[i].failed;
	}
	tap_ok(!failed && acks_wait(&a, THREADS * PER_THREAD) && a.failed == 0,
	       "%d appends from %d threads are all acknowledged", THREADS * PER_THREAD, THREADS);
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	tap_ok(st.commits < THREADS * PER_THREAD && st.commits > 0,
	       "group commit: %llu commits for %d appends", (unsigned long long)st.commits,
	       THREADS * PER_THREAD);
	tap_ok(l.n == THREADS * PER_THREAD && !l.disorder,
	       "the sink got every event once, seqs increasing across commits (%zu)", l.n);
	seen = malloc(THREADS * PER_THREAD * sizeof(*seen));
	for(i = 0; i < THREADS; i++)
		for(k = 0; k < PER_THREAD; k++)
			seen[n++] = pa[i].ev[k].seq;
	for(i = 0; i < n; i++)
		dup += !log_find(&l, seen[i]);
	tap_ok(dup == 0, "each append learnt the seq the sink got (%zu mismatches)", dup);
	tap_ok(st.events == THREADS * PER_THREAD && st.bytes > 0 && st.connected == 1 &&
	       st.write_errors == 0 && st.commit_us_max > 0 && st.commit_us_sum >= st.commit_us_max,
	       "stats: %llu events, %llu bytes, commit max %llu us, connected",
	       (unsigned long long)st.events, (unsigned long long)st.bytes,
	       (unsigned long long)st.commit_us_max);
	free(seen);
	s->ops->close(s);
	log_free(&l);
}

/* ---- kill -9 in the middle of a burst. */

static void crash_child(const char *path, int fd)
{
	struct store_limits lim = { 0, 0, 0 };
	static struct store_ev ev[64];
	static char frame[64][48];
	struct store *s;
	struct log l;
	struct acks a;
	char err[256];
	size_t sent = 0;
	int i, b;

	log_init(&l);
	acks_init(&a);
	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!s)
		_exit(3);
	/* Bursts of 64 events, one append each, until killed. */
	for(b = 0; b < 100000; b++) {
		for(i = 0; i < 64; i++) {
			snprintf(frame[i], sizeof(frame[i]), "data: burst %d event %d\n\n", b, i);
			fill(&ev[i], i % 2 ? "odd" : "even", NULL, frame[i], 0);
			s->ops->append(s, &ev[i], 1, on_done, &a);
			sent++;
		}
		acks_wait(&a, sent);
		for(i = 0; i < 64; i++)
			if(write(fd, &ev[i].seq, sizeof(ev[i].seq)) != sizeof(ev[i].seq))
				_exit(4);
	}
	_exit(5);
}

static void test_crash(void)
{
	struct store_limits lim = { 0, 0, 0 };
	uint64_t acked[200000], last = 0, since, seq = 0, maxack = 0;
	size_t nack = 0, i, missing = 0;
	struct store *s;
	struct log l, r;
	char path[300], err[256];
	int fds[2], status, rc;
	pid_t pid;

	log_init(&l);
	log_init(&r);
	path_of(path, sizeof(path), "crash.db");
	if(pipe(fds))
		return;
	fflush(stdout);
	pid = fork();
	if(pid == 0) {
		close(fds[0]);
		crash_child(path, fds[1]);
	}
	close(fds[1]);
	/* Read acknowledgements until 640 have come, then kill. */
	while(nack < 640) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		ssize_t n;

		if(poll(&p, 1, 10000) <= 0)
			break;
		n = read(fds[0], &acked[nack], sizeof(acked[0]));
		if(n != sizeof(acked[0]))
			break;
		nack++;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	while(nack < sizeof(acked) / sizeof(acked[0]) &&
	      read(fds[0], &acked[nack], sizeof(acked[0])) == sizeof(acked[0]))
		nack++;
	close(fds[0]);
	tap_ok(nack >= 640 && WIFSIGNALED(status), "the child acknowledged %zu events, then was killed",
	       nack);

	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!tap_ok(s && !err[0], "the store opens after kill -9 without complaint (%s)", err))
		return;
	do_restore(s, &r, &last, &since);
	for(i = 0; i < nack; i++) {
		missing += !log_find(&r, acked[i]);
		maxack = acked[i] > maxack ? acked[i] : maxack;
	}
	tap_ok(missing == 0 && r.n >= nack && !r.disorder,
	       "every acknowledged event is restored (%zu acknowledged, %zu restored, %zu missing)",
	       nack, r.n, missing);
	rc = append1(s, "even", NULL, "data: after\n\n", 0, &seq);
	tap_ok(last >= maxack && rc == 0 && seq > last, "ids continue after the crash");
	s->ops->close(s);
	log_free(&l);
	log_free(&r);
}

/* ---- The acknowledgement log: what kill -9 leaves only there. */

/* A child that appends n events to topic "L" with fills held (they are
 * in the log only), reports their seqs, and waits to be killed. */
static void log_child(const char *path, int fd, size_t n)
{
	struct store_limits lim = { 0, 0, 0 };
	char err[256], frame[64];
	struct store *s;
	struct log l;
	uint64_t seq;
	size_t i;

	log_init(&l);
	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!s)
		_exit(3);
	store_sqlite_hold(s);
	for(i = 0; i < n; i++) {
		snprintf(frame, sizeof(frame), "data: logged %zu\n\n", i);
		if(append1(s, "L", i % 3 ? NULL : "given-id", frame, 0, &seq) ||
		   write(fd, &seq, sizeof(seq)) != sizeof(seq))
			_exit(4);
	}
	pause();
	_exit(5);
}

/* Run log_child to its end and kill it; the seqs it acknowledged. */
static size_t log_crash(const char *path, uint64_t *seqs, size_t n)
{
	size_t got = 0;
	int fds[2], status;
	pid_t pid;

	if(pipe(fds))
		return 0;
	fflush(stdout);
	pid = fork();
	if(pid == 0) {
		close(fds[0]);
		log_child(path, fds[1], n);
	}
	close(fds[1]);
	while(got < n && read(fds[0], &seqs[got], sizeof(seqs[0])) == sizeof(seqs[0]))
		got++;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fds[0]);
	return got;
}

/* A store at name whose child was killed with 100 events in the log;
 * the log's bytes (path and logp get the two paths). */
static char *crashed_log(const char *name, char *path, char *logp, uint64_t *seqs, size_t *len)
{
	path_of(path, 300, name);
	snprintf(logp, 310, "%s-log", path);
	if(log_crash(path, seqs, 100) != 100)
		return NULL;
	return slurp(logp, len);
}

static void test_log(void)
{
	struct store_limits lim = { 0, 0, 0 };
	char path[300], logp[310], err[512], *b, *b2;
	uint64_t seqs[100], last, since, seq;
	size_t n, len, i, off;
	struct store *s;
	struct log l, r;
	struct stat sb;
	int ok;

	log_init(&l);
	path_of(path, sizeof(path), "acklog.db");
	snprintf(logp, sizeof(logp), "%s-log", path);
	n = log_crash(path, seqs, 100);
	if(stat(logp, &sb))
		sb.st_size = 0;
	tap_ok(n == 100 && sb.st_size > 100 * 40,
	       "kill -9 with 100 events acknowledged and not filled: they are in the log (%lld bytes)",
	       (long long)sb.st_size);
	b = slurp(logp, &len);

	/* Intact: every event back, in order, ids kept, ids continue. */
	log_init(&r);
	s = open_store(path, &lim, &l, err, sizeof(err));
	do_restore(s, &r, &last, &since);
	ok = s && !err[0] && r.n == 100 && !r.disorder && last == seqs[99];
	for(i = 0; ok && i < 100; i++)
		ok = r.r[i].seq == seqs[i] && (i % 3 ? !r.r[i].has_id : !strcmp(r.r[i].id, "given-id"));
	tap_ok(ok, "reopened: the 100 events come back from the log, in order, with their ids (%zu, %s)",
	       r.n, err);
	tap_ok(!stat(logp, &sb) && sb.st_size == 16, "the log is cut back to its header once they are filled");
	tap_ok(append1(s, "L", NULL, "data: next\n\n", 0, &seq) == 0 && seq > seqs[99], "ids continue");
	s->ops->close(s);
	log_free(&r);

	/* A torn tail: the last record cut short. */
	b2 = crashed_log("log-torn.db", path, logp, seqs, &len);
	spit(logp, b2, b2 ? len - 7 : 0);
	free(b2);
	log_init(&r);
	s = open_store(path, &lim, &l, err, sizeof(err));
	do_restore(s, &r, &last, &since);
	tap_ok(s && strstr(err, "dropped 0 damaged records and 59 bytes at the end of") && !strchr(err, '\n') &&
	       r.n == 99 && r.r[98].seq == seqs[98] && !r.disorder,
	       "a torn log tail: the store opens, keeps the 99 whole events, says so in one line (%s)", err);
	s->ops->close(s);
	log_free(&r);

	/* A flipped byte inside record 50: it is dropped, the rest kept,
	 * and resumes from before it get a gap. */
	b2 = crashed_log("log-flip.db", path, logp, seqs, &len);
	for(i = 0, off = 16; b2 && i < 50; i++)
		off += 40 + ((unsigned char)b2[off] | (unsigned char)b2[off + 1] << 8);
	if(b2 && off + 45 < len)
		b2[off + 45] ^= 0x20;
	spit(logp, b2, b2 ? len : 0);
	free(b2);
	log_init(&r);
	s = open_store(path, &lim, &l, err, sizeof(err));
	do_restore(s, &r, &last, &since);
	tap_ok(s && strstr(err, "dropped 1 damaged records and 0 bytes at the end of") && r.n == 99 &&
	       !log_find(&r, seqs[50]) && log_find(&r, seqs[51]) && since == seqs[51],
	       "a flipped byte in the log: that event is dropped, the 99 others kept, history"
	       " complete from the next (%s)", err);
	s->ops->close(s);
	log_free(&r);

	/* A log that is not ours: refused, untouched. */
	path_of(path, sizeof(path), "log-notours.db");
	snprintf(logp, sizeof(logp), "%s-log", path);
	spit(logp, "someone else's file\n", 20);
	s = open_store(path, &lim, &l, err, sizeof(err));
	b2 = slurp(logp, &len);
	tap_ok(!s && strstr(err, "is not ssed's acknowledgement log") && len == 20 &&
	       !memcmp(b2, "someone else's file\n", 20), "a -log file that is not ssed's: refused, untouched (%s)",
	       err);
	if(s)
		s->ops->close(s);
	free(b2);
	free(b);
	log_free(&l);
}

/* ---- Retention: count, bytes, age, trim. */

static void test_retention(void)
{
	struct store_limits lim = { 3, 0, 0 };
	struct fclock ck = { base_us() };
	struct store_stats st;
	struct store *s;
	struct log l, r;
	char path[300], err[256], frame[32], id[16];
	uint64_t last, since, seq[10], keep;
	int i;

	log_init(&l);
	log_init(&r);
	path_of(path, sizeof(path), "count.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!s)
		return;
	for(i = 0; i < 10; i++) {
		snprintf(frame, sizeof(frame), "data: a%d\n\n", i);
		append1(s, "a", NULL, frame, 0, &seq[i]);
	}
	append1(s, "b", NULL, "data: b0\n\n", 0, NULL);
	append1(s, "b", NULL, "data: b1\n\n", 0, NULL);
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	tap_ok(st.events == 5, "history 3: the store holds 3 + 2 events (%llu)",
	       (unsigned long long)st.events);
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	do_restore(s, &r, &last, &since);
	tap_ok(r.n == 5 && log_count(&r, "a") == 3 && log_count(&r, "b") == 2 && r.r[0].seq == seq[7] &&
	       !strcmp(r.r[0].frame, "data: a7\n\n"), "history 3: the three newest of a and both of b restored");

	/* trim: a below its newest, applied with the next transaction. */
	s->ops->trim(s, "a", 1, seq[9]);
	append1(s, "c", NULL, "data: c0\n\n", 0, NULL);
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	tap_ok(st.events == 4, "trim drops what the ring dropped (%llu events left)",
	       (unsigned long long)st.events);
	s->ops->close(s);

	/* A lower limit at the next start applies at once. */
	lim.history = 1;
	s = open_store(path, &lim, &l, err, sizeof(err));
	r.n = 0;
	do_restore(s, &r, &last, &since);
	tap_ok(r.n == 3 && log_count(&r, "a") == 1 && log_count(&r, "b") == 1 && log_count(&r, "c") == 1,
	       "history lowered to 1 at open: one event per topic restored (%zu)", r.n);
	/* Everything trimmed: the last seq is still kept. */
	s->ops->trim(s, "a", 1, UINT64_MAX);
	s->ops->trim(s, "b", 1, UINT64_MAX);
	s->ops->trim(s, "c", 1, UINT64_MAX);
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	r.n = 0;
	keep = last;
	do_restore(s, &r, &last, &since);
	tap_ok(r.n == 0 && last == keep, "every event trimmed: nothing restored, last seq kept (%llu)",
	       (unsigned long long)last);
	s->ops->close(s);

	/* A larger history: rows go in chunks, never more than an eighth
	 * over, and a restart gives back exactly the limit. */
	lim.history = 80;
	path_of(path, sizeof(path), "chunks.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	for(i = 0, keep = 0; i < 400; i++) {
		char big[32];

		snprintf(big, sizeof(big), "data: %d\n\n", i);
		append1(s, "k", NULL, big, 0, &last);
		store_sqlite_flush(s);
		s->ops->stats(s, &st);
		if(i >= 80 && (st.events < 80 || st.events > 90))
			keep++;
	}
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	tap_ok(keep == 0 && st.events > 80, "history 80: the store holds 80 to 90 events all along (%llu now)",
	       (unsigned long long)st.events);
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	r.n = 0;
	do_restore(s, &r, &since, &keep);
	tap_ok(r.n == 80 && !strcmp(r.r[79].frame, "data: 399\n\n") && since == last,
	       "history 80: a restart restores the newest 80 (%zu), the last seq kept", r.n);
	s->ops->close(s);
	lim.history = 1;

	/* Bytes: each event is its frame and its id line, 11 + 7 = 18 bytes. */
	lim.history = 0;
	lim.history_bytes = 60;
	path_of(path, sizeof(path), "bytes.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	for(i = 0; i < 6; i++) {
		snprintf(frame, sizeof(frame), "data: 0%d\n\n\n", i);
		snprintf(id, sizeof(id), "i%d", i);
		append1(s, "a", id, frame, 0, NULL);
	}
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	r.n = 0;
	do_restore(s, &r, &last, &since);
	tap_ok(r.n == 3 && !strcmp(r.r[0].id, "i3"), "history-bytes 60: the three newest 18-byte events kept (%zu)",
	       r.n);
	s->ops->close(s);
	lim.history_bytes = 10;
	s = open_store(path, &lim, &l, err, sizeof(err));
	r.n = 0;
	do_restore(s, &r, &last, &since);
	tap_ok(r.n == 1 && !strcmp(r.r[0].id, "i5"), "history-bytes below one event: the newest stays, as in the ring");
	s->ops->close(s);

	/* Age, on the store's clock. */
	lim.history_bytes = 0;
	lim.history_age_us = 1000;
	path_of(path, sizeof(path), "age.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	store_sqlite_set_clock(s, fake_now, &ck);
	append1(s, "a", NULL, "data: old\n\n", ck.now, NULL);
	append1(s, "b", NULL, "data: old\n\n", ck.now, NULL);
	ck.now += 600;
	append1(s, "a", NULL, "data: mid\n\n", ck.now, NULL);
	ck.now += 600;
	append1(s, "a", NULL, "data: new\n\n", ck.now, NULL);
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	tap_ok(st.events == 2, "history-age 1 ms: events older than 1 ms are gone, in every topic (%llu left)",
	       (unsigned long long)st.events);
	/* With nothing published, the writer looks at the age once a second. */
	ck.now += 2000;
	for(i = 0; i < 300; i++) {
		struct timespec ts = { 0, 10000000 };

		store_sqlite_flush(s);
		s->ops->stats(s, &st);
		if(st.events == 0)
			break;
		nanosleep(&ts, NULL);
	}
	tap_ok(st.events == 0, "history-age with no publishes: the rest ages out within a few seconds (%llu left)",
	       (unsigned long long)st.events);
	s->ops->close(s);
	log_free(&l);
	log_free(&r);
}

/* ---- Nothing waits for a signal that does not come. */

/* Poll stats until want(st) holds, for at most two seconds. */
static int stats_within(struct store *s, int (*want)(const struct store_stats *), struct store_stats *st)
{
	int i;

	for(i = 0; i < 200; i++) {
		s->ops->stats(s, st);
		if(want(st))
			return 1;
		usleep(10000);
	}
	return 0;
}

static int none_behind(const struct store_stats *st) { return st->behind == 0; }
static int none_held(const struct store_stats *st) { return st->events == 0; }

static void test_wakeups(void)
{
	struct store_limits lim = { 0, 0, 0 };
	char path[300], err[256];
	struct store_stats st;
	struct store *s;
	struct log l;
	uint64_t seq;
	int ok, i;

	log_init(&l);
	path_of(path, sizeof(path), "wake.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	/* The writer has nothing due and waits without a timeout: a lone
	 * append must still be filled within SQ_FILL_US, and a lone trim
	 * applied within TRIM_US. */
	/* Appends apart, so that some find the writer waiting for nothing
	 * (right after a fill it may not wait yet). */
	for(i = 0; i < 5; i++) {
		append1(s, "w", NULL, "data: lone\n\n", 0, &seq);
		usleep(50000);
	}
	ok = stats_within(s, none_behind, &st);
	tap_ok(ok, "a lone append is in the file soon after (%llu behind)", (unsigned long long)st.behind);
	usleep(50000);
	s->ops->trim(s, "w", 1, seq + 1);
	ok = stats_within(s, none_held, &st);
	tap_ok(ok, "a lone trim is applied soon after (%llu held)", (unsigned long long)st.events);
	s->ops->close(s);
	log_free(&l);
}

/* ---- Each topic's floor: the newest event trimmed, kept across a restart. */

struct floor_got {
	char topic[16];
	uint64_t seq;
	int n;
};

static int floor_each(void *ud, const char *topic, size_t tlen, uint64_t seq)
{
	struct floor_got *g = ud;

	snprintf(g->topic, sizeof(g->topic), "%.*s", (int)tlen, topic);
	g->seq = seq;
	g->n++;
	return 0;
}

static void test_floors(void)
{
	struct store_limits lim = { 100, 0, 0 };
	uint64_t seq[200], last, since;
	struct floor_got g = { "", 0, 0 };
	char path[300], err[256], frame[64];
	struct store *s;
	struct log l, r;
	size_t i;

	log_init(&l);
	log_init(&r);
	path_of(path, sizeof(path), "floors.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	for(i = 0; i < 200; i++) {
		snprintf(frame, sizeof(frame), "data: f%zu\n\n", i);
		append1(s, "f", NULL, frame, 0, &seq[i]);
	}
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	do_restore(s, &r, &last, &since);
	s->ops->floors(s, floor_each, &g);
	tap_ok(r.n == 100 && r.r[0].seq == seq[100] && g.n == 1 && !strcmp(g.topic, "f") && g.seq == seq[99],
	       "history 100 of 200 events: after a restart the floor is the newest trimmed event (%zu, %d)",
	       r.n, g.n);
	s->ops->close(s);
	log_free(&r);

	/* Events a trim took before they were filled: the older rows go
	 * too, so what is restored has no hole, and the floor is the newest
	 * of them. */
	log_init(&r);
	lim.history = 0;
	path_of(path, sizeof(path), "floors-gone.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	append1(s, "g", NULL, "data: g0\n\n", 0, &seq[0]);
	store_sqlite_flush(s);
	store_sqlite_hold(s);
	for(i = 1; i < 5; i++)
		append1(s, "g", NULL, "data: gi\n\n", 0, &seq[i]);
	s->ops->trim(s, "g", 1, seq[4] + 1);
	append1(s, "g", NULL, "data: g5\n\n", 0, &seq[5]);
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	do_restore(s, &r, &last, &since);
	g.n = 0;
	s->ops->floors(s, floor_each, &g);
	tap_ok(r.n == 1 && r.r[0].seq == seq[5] && g.n == 1 && g.seq == seq[4],
	       "events trimmed before they were filled: the older row goes too, the floor is the newest"
	       " trimmed (%zu restored, floor %s)", r.n, g.seq == seq[4] ? "right" : "wrong");
	s->ops->close(s);
	log_free(&r);
	log_free(&l);
}

/* ---- The file stays bounded under a steady load. */

static void test_bounded(void)
{
	struct store_limits lim = { 100, 0, 0 };
	static struct store_ev ev[100];
	static char frame[100][256];
	char path[300], wal[310], err[256];
	uint64_t full, db;
	struct store *s;
	struct log l;
	struct acks a;
	int b, i, ok = 1;

	log_init(&l);
	acks_init(&a);
	path_of(path, sizeof(path), "bounded.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!s)
		return;
	/* 40,000 events of ~230 bytes over 10 topics: 9 MB written, 230 KB
	 * kept. A fill inserts at most 100 events per topic whatever its size
	 * (test_bounded_fill), so the file holds at most about 2,100 rows; the
	 * WAL (2 KiB pages) starts over after a checkpoint of 1,000. */
	for(b = 0; b < 400 && ok; b++) {
		for(i = 0; i < 100; i++) {
			snprintf(frame[i], sizeof(frame[i]), "data: %0220d\n\n", b * 100 + i);
			fill(&ev[i], (const char *[]){ "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7",
						       "t8", "t9" }[i % 10], NULL, frame[i], 0);
		}
		ok = s->ops->append(s, ev, 100, on_done, &a) == 0 && acks_wait(&a, (size_t)b + 1) &&
		     a.failed == 0;
		l.n = 0;
	}
	full = fsize(path) + fsize(wal);
	db = fsize(path);
	tap_ok(ok && db < (1u << 20) && full < (4u << 20),
	       "40,000 events with history 100: the file stays bounded (%llu bytes, %llu with the WAL)",
	       (unsigned long long)db, (unsigned long long)full);
	tap_diag("history 100 x 10 topics after 40,000 events: %llu bytes (file), %llu with the WAL",
		 (unsigned long long)db, (unsigned long long)full);
	s->ops->close(s);
	log_free(&l);
}

/* Fill 10,000 events of ~230 bytes over 10 topics at once (held in the
 * log until close, filled at the next open): what the limits take goes to
 * no row, so the file holds the kept events only, not all 2.3 MB first. */
static void bounded_fill(const struct store_limits *lim, const char *what)
{
	static struct store_ev ev[100];
	static char frame[100][256];
	char path[300], wal[310], err[256];
	uint64_t full, last = 0, since = 0, newest[10] = { 0 };
	struct store *s;
	struct log l, r;
	struct acks a;
	size_t i, per;
	int b, ok = 1, newest_kept = 1;

	log_init(&l);
	log_init(&r);
	acks_init(&a);
	path_of(path, sizeof(path), lim->history ? "bfill-n.db" : "bfill-b.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = open_store(path, lim, &l, err, sizeof(err));
	if(!s)
		return;
	store_sqlite_hold(s);
	for(b = 0; b < 100 && ok; b++) {
		for(i = 0; i < 100; i++) {
			snprintf(frame[i], sizeof(frame[i]), "data: %0220d\n\n", b * 100 + (int)i);
			fill(&ev[i], (const char *[]){ "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7",
						       "t8", "t9" }[i % 10], NULL, frame[i], 0);
		}
		ok = s->ops->append(s, ev, 100, on_done, &a) == 0 && acks_wait(&a, (size_t)b + 1) &&
		     a.failed == 0;
		for(i = 0; i < 100; i++)
			newest[i % 10] = ev[i].seq;
		l.n = 0;
	}
	s->ops->close(s);
	s = open_store(path, lim, &l, err, sizeof(err));
	if(!s)
		return;
	full = fsize(path) + fsize(wal);
	do_restore(s, &r, &last, &since);
	per = r.n / 10;
	for(i = 0; i < 10; i++)
		newest_kept = newest_kept && log_find(&r, newest[i]);
	tap_ok(ok && full < (1u << 20) && r.n == 1000 && newest_kept,
	       "a fill of 10,000 events with %s: what the limit takes goes to no row (%llu bytes with"
	       " the WAL; %zu restored, %zu per topic, newest %s)", what, (unsigned long long)full, r.n,
	       per, newest_kept ? "kept" : "lost");
	s->ops->close(s);
	log_free(&r);
	log_free(&l);
}

static void test_bounded_fill(void)
{
	struct store_limits n = { 100, 0, 0 }, b = { 0, 25000, 0 };

	bounded_fill(&n, "history 100");
	bounded_fill(&b, "history-bytes 25000");
}

/* ---- Files that are not a store of ours are refused and left alone. */

/* Whether a file is as it was: both missing, or the same bytes. */
static int same(const char *a, size_t na, const char *b, size_t nb)
{
	return (!a && !b) || (a && b && na == nb && !memcmp(a, b, na));
}

static int refused_check(const char *path, const char *want, char *err, size_t errlen)
{
	struct store_limits lim = { 0, 0, 0 };
	size_t n1 = 0, n2 = 0, w1 = 0, w2 = 0;
	char wal[310], *before, *after, *wbefore, *wafter;
	struct store *s;
	struct log l;
	int ok;

	log_init(&l);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	before = slurp(path, &n1);
	wbefore = slurp(wal, &w1);
	s = open_store(path, &lim, &l, err, errlen);
	after = slurp(path, &n2);
	wafter = slurp(wal, &w2);
	ok = !s && strstr(err, want) && before && same(before, n1, after, n2) && same(wbefore, w1, wafter, w2);
	if(s)
		s->ops->close(s);
	free(before);
	free(after);
	free(wbefore);
	free(wafter);
	log_free(&l);
	return ok;
}

static void refused_untouched(const char *path, const char *want, const char *what)
{
	char err[256];
	int ok = refused_check(path, want, err, sizeof(err));

	tap_ok(ok, "%s: refused, file unchanged (%s)", what, err);
}

/* The same as a user that root's permissions do not cover. */
static void refused_as_nobody(const char *path, const char *want, const char *what)
{
	char err[256] = "";
	int fds[2], status = 1;
	ssize_t n = 0;
	pid_t pid;

	if(pipe(fds))
		return;
	fflush(stdout);
	pid = fork();
	if(pid == 0) {
		int ok;

		close(fds[0]);
		if(geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(2);
		ok = refused_check(path, want, err, sizeof(err));
		n = write(fds[1], err, strlen(err));
		_exit(ok && n >= 0 ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], err, sizeof(err) - 1);
	err[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: refused, file unchanged (%s)", what, err);
}

/* A store another process has open is refused (and not touched). */
static void test_in_use(void)
{
	struct store_limits lim = { 0, 0, 0 };
	struct store_sink sink;
	char path[300], err[256], c = 0;
	int up[2], down[2], status;
	struct store *s;
	struct log l;
	pid_t pid;

	log_init(&l);
	sink.ud = &l;
	sink.commit = sink_commit;
	sink.lost = sink_lost;
	path_of(path, sizeof(path), "busy.db");
	if(pipe(up) || pipe(down))
		return;
	fflush(stdout);
	pid = fork();
	if(pid == 0) {
		close(up[0]);
		close(down[1]);
		s = store_sqlite_open(path, 1, &lim, &sink, err, sizeof(err));
		if(!s || append1(s, "t", NULL, "data: x\n\n", 0, NULL))
			_exit(1);
		if(write(up[1], "r", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		s->ops->close(s);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if(read(up[0], &c, 1) == 1) {
		refused_untouched(path, "in use by another process", "a store another process has open");
	} else {
		tap_ok(0, "the child could not open a store with sync_full");
	}
	if(write(down[1], "q", 1) != 1)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the store with sync_full=1 appended and closed");
	s = open_store(path, &lim, &l, err, sizeof(err));
	tap_ok(s != NULL, "once that process closed it, the store opens (%s)", err);
	if(s)
		s->ops->close(s);
	close(up[0]);
	close(down[1]);
	log_free(&l);
}

static void test_refused(void)
{
	struct store_limits lim = { 0, 0, 0 };
	char path[300], err[300], text[4096];
	struct store *s;
	sqlite3 *db;
	struct log l;
	size_t i;

	log_init(&l);
	path_of(path, sizeof(path), "text.db");
	for(i = 0; i + 1 < sizeof(text); i++)
		text[i] = "not a database\n"[i % 15];
	spit(path, text, sizeof(text) - 1);
	refused_untouched(path, "not an SQLite database", "a text file");

	path_of(path, sizeof(path), "other.db");
	sqlite3_open(path, &db);
	sqlite3_exec(db, "CREATE TABLE x(a); INSERT INTO x VALUES(42);", NULL, NULL, NULL);
	sqlite3_close(db);
	refused_untouched(path, "not an ssed store", "another application's SQLite database");

	path_of(path, sizeof(path), "future.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	append1(s, "t", NULL, "data: x\n\n", 0, NULL);
	s->ops->close(s);
	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
	sqlite3_close(db);
	refused_untouched(path, "schema version 99", "a store of an unknown schema version");

	path_of(path, sizeof(path), "dir.db");
	mkdir(path, 0755);
	s = open_store(path, &lim, &l, err, sizeof(err));
	tap_ok(!s && strstr(err, "for writing"), "a directory is refused (%s)", err);

	/* Not writable: the file and its directory read-only, as a user
	 * that root's permissions do not cover. */
	path_of(path, sizeof(path), "ro");
	mkdir(path, 0755);
	path_of(path, sizeof(path), "ro/store.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	append1(s, "t", NULL, "data: x\n\n", 0, NULL);
	s->ops->close(s);
	chmod(dir, 0755);
	path_of(err, sizeof(err), "ro");
	chmod(err, 0777);
	chmod(path, 0444);
	refused_as_nobody(path, "for writing", "a read-only store file");
	path_of(path, sizeof(path), "ro");
	chmod(path, 0555);
	path_of(path, sizeof(path), "ro/store.db");
	chmod(path, 0644);
	refused_as_nobody(path, "cannot write in its directory", "a store in a read-only directory");
	path_of(path, sizeof(path), "ro");
	chmod(path, 0755);
	chmod(dir, 0700);
	log_free(&l);
}

/* ---- Damage: a flipped byte in a row, a truncated file. */

static void test_flipped(void)
{
	struct store_limits lim = { 0, 0, 0 };
	char path[300], err[256], frame[64], *b, *hit;
	uint64_t last, since, seq, bad = 0;
	size_t len = 0, i;
	struct store *s;
	struct log l, r;

	log_init(&l);
	log_init(&r);
	path_of(path, sizeof(path), "flip.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	for(i = 0; i < 50; i++) {
		snprintf(frame, sizeof(frame), "data: event-%03zu-xxxxxxxxxxxxxxxx\n\n", i);
		append1(s, i % 3 ? "a" : "b", NULL, frame, 0, &seq);
		if(i == 25)
			bad = seq;
	}
	s->ops->close(s);
	b = slurp(path, &len);
	hit = b ? memmem(b, len, "event-025-xxxx", 14) : NULL;
	if(!tap_ok(hit != NULL, "the closed store holds event 25's frame in its file"))
		return;
	hit[12] ^= 0x01;
	spit(path, b, len);
	free(b);

	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!tap_ok(s && strstr(err, "dropped 1 damaged event"), "a flipped byte in a row: open succeeds and says so (%s)",
		   err))
		return;
	do_restore(s, &r, &last, &since);
	tap_ok(r.n == 49 && !log_find(&r, bad) && since > bad,
	       "the 49 intact events are restored, the damaged one is not, history complete only after it");
	tap_ok(append1(s, "a", NULL, "data: after\n\n", 0, &seq) == 0 && seq > last,
	       "ids continue after the damaged event");
	s->ops->close(s);
	s = open_store(path, &lim, &l, err, sizeof(err));
	tap_ok(s && !err[0], "the next open has nothing more to report");
	if(s)
		s->ops->close(s);
	log_free(&l);
	log_free(&r);
}

/* The frames say which event they are: "data: n=NNNNN " then padding. */
static int frame_intact(const struct rec *e)
{
	int n, i;
	size_t len = strlen(e->frame);

	if(sscanf(e->frame, "data: n=%5d ", &n) != 1 || len != 300)
		return 0;
	for(i = 14; i < 298; i++)
		if(e->frame[i] != 'a' + (n + i) % 26)
			return 0;
	return 1;
}

static int find_damaged(const char *prefix, char *out, size_t len)
{
	const char *slash = strrchr(prefix, '/');
	struct dirent *d;
	DIR *dp = opendir(dir);
	int found = 0;

	while(dp && (d = readdir(dp)))
		if(!strncmp(d->d_name, slash + 1, strlen(slash + 1)) && strstr(d->d_name, ".damaged-") &&
		   !strstr(d->d_name, "-wal") && !strstr(d->d_name, "-shm")) {
			snprintf(out, len, "%s/%s", dir, d->d_name);
			found = 1;
		}
	if(dp)
		closedir(dp);
	return found;
}

/* Append events n = from .. to-1 with self-describing 300-byte frames. */
static uint64_t append_numbered(struct store *s, size_t from, size_t to)
{
	char frame[301];
	uint64_t seq = 0;
	size_t i;
	int k;

	for(i = from; i < to; i++) {
		k = snprintf(frame, sizeof(frame), "data: n=%05zu ", i);
		for(; k < 298; k++)
			frame[k] = (char)('a' + (i + (size_t)k) % 26);
		frame[298] = '\n';
		frame[299] = '\n';
		frame[300] = '\0';
		append1(s, (const char *[]){ "p", "q", "r", "s", "t" }[i % 5], NULL, frame, 0, &seq);
	}
	return seq;
}

enum damage { TRUNCATE, PAGES, PAGES_WITH_WAL };

static void damage_and_reopen(const char *name, const char *what, enum damage how)
{
	struct store_limits lim = { 0, 0, 0 };
	char path[300], wal[310], err[512], dmg[600], dmgwal[610];
	uint64_t last, since, seq, maxseq = 0;
	size_t len = 0, len2 = 0, wlen = 0, wlen2 = 0, i, bad = 0, fromwal = 0;
	struct store *s;
	struct log l, r;
	char *b, *b2, *w = NULL, *w2 = NULL;

	log_init(&l);
	log_init(&r);
	path_of(path, sizeof(path), name);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	s = open_store(path, &lim, &l, err, sizeof(err));
	maxseq = append_numbered(s, 0, 3000);
	s->ops->close(s);
	if(how == PAGES_WITH_WAL) {
		/* 50 more, still in the WAL: a copy of the pair taken while the
		 * store is open is what a crash leaves. */
		char cp[310];

		s = open_store(path, &lim, &l, err, sizeof(err));
		maxseq = append_numbered(s, 3000, 3050);
		store_sqlite_flush(s);  /* from the log into the WAL */
		w = slurp(wal, &wlen);
		b = slurp(path, &len);
		s->ops->close(s);
		snprintf(cp, sizeof(cp), "%s.copy", path);
		snprintf(path, sizeof(path), "%.299s", cp);
		snprintf(wal, sizeof(wal), "%s-wal", path);
		spit(wal, w, wlen);
	} else {
		b = slurp(path, &len);
	}
	if(how == TRUNCATE) {
		len = len / 2;
	} else {
		/* Every 9th page from the middle on: its b-tree page type zeroed. */
		for(i = len / 2 / 4096 * 4096; i < len; i += 9 * 4096)
			b[i] = 0;
	}
	spit(path, b, len);

	s = open_store(path, &lim, &l, err, sizeof(err));
	if(!tap_ok(s && strstr(err, "was damaged") && strstr(err, ".damaged-"),
		   "%s: open succeeds and says what it kept (%s)", what, err)) {
		free(b);
		return;
	}
	do_restore(s, &r, &last, &since);
	for(i = 0; i < r.n; i++) {
		bad += !frame_intact(&r.r[i]);
		fromwal += strncmp(r.r[i].frame, "data: n=030", 11) == 0 && strcmp(r.r[i].frame, "data: n=03050") < 0;
	}
	tap_ok(r.n > 100 && r.n < 3000 + (how == PAGES_WITH_WAL ? 50 : 0) && bad == 0 && !r.disorder,
	       "%s: %zu intact events restored, none damaged", what, r.n);
	if(how == PAGES_WITH_WAL)
		tap_ok(fromwal == 50, "%s: the 50 events only the WAL held are kept (%zu)", what, fromwal);
	tap_ok(last >= maxseq && since > last && append1(s, "p", NULL, "data: after\n\n", 0, &seq) == 0 &&
	       seq > maxseq, "%s: ids continue, resumes from before the damage get a gap", what);
	s->ops->close(s);
	b2 = find_damaged(path, dmg, sizeof(dmg)) ? slurp(dmg, &len2) : NULL;
	tap_ok(b2 && len2 == len && !memcmp(b, b2, len), "%s: the damaged file is kept as it was (%s)", what,
	       b2 ? dmg : "missing");
	if(how == PAGES_WITH_WAL) {
		snprintf(dmgwal, sizeof(dmgwal), "%s-wal", dmg);
		w2 = slurp(dmgwal, &wlen2);
		tap_ok(w2 && same(w, wlen, w2, wlen2), "%s: its WAL is kept beside it as it was", what);
	}
	free(b);
	free(b2);
	free(w);
	free(w2);
	log_free(&l);
	log_free(&r);
}

/* ---- A full disk, then room again. */

static void test_full(void)
{
	struct store_limits lim = { 0, 0, 0 };
	struct store_stats st;
	char path[300], err[256], frame[2100];
	size_t before, i;
	struct store *s;
	struct log l;
	uint64_t seq;
	int rc = 0;

	log_init(&l);
	path_of(path, sizeof(path), "full.db");
	s = open_store(path, &lim, &l, err, sizeof(err));
	memset(frame, 'x', sizeof(frame) - 1);
	memcpy(frame, "data: ", 6);
	frame[sizeof(frame) - 3] = '\n';
	frame[sizeof(frame) - 2] = '\n';
	frame[sizeof(frame) - 1] = '\0';
	append1(s, "t", NULL, frame, 0, NULL);
	store_sqlite_limit_pages(s, 40);
	/* Acknowledged into the log until a fill finds the file full (a
	 * fill is due at SQ_FILL_BYTES of them at the latest). */
	for(i = 0; i < 20000; i++) {
		before = l.n;
		rc = append1(s, "t", NULL, frame, 0, &seq);
		if(rc)
			break;
	}
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	/* What was acknowledged is in the log; once a fill cannot take it
	 * into the file, appends are refused. */
	tap_ok(rc == STORE_EFULL && l.n == before && st.write_errors >= 1 && st.connected == 0 &&
	       i < 20000, "a full disk: the append gets STORE_EFULL after %zu, nothing reaches the sink", i);
	tap_ok(append1(s, "t", NULL, frame, 0, NULL) == STORE_EFULL && l.n == before,
	       "still full: the next append fails too");
	s->ops->trim(s, "t", 1, UINT64_MAX);
	rc = append1(s, "t", NULL, frame, 0, &seq);
	store_sqlite_flush(s);
	s->ops->stats(s, &st);
	tap_ok(rc == 0 && st.connected == 1 && l.n == before + 1 && st.events == 1,
	       "room again (trimmed): appends work again (rc %d, %llu events)", rc,
	       (unsigned long long)st.events);
	store_sqlite_limit_pages(s, 0);
	for(i = 0; i < 100 && !rc; i++)
		rc = append1(s, "t", NULL, frame, 0, NULL);
	tap_ok(rc == 0, "the limit lifted: 100 more appends work");
	s->ops->close(s);
	{
		struct log r;
		uint64_t last, since;

		log_init(&r);
		s = open_store(path, &lim, &l, err, sizeof(err));
		do_restore(s, &r, &last, &since);
		tap_ok(r.n == 101 && r.r[r.n - 1].seq == last,
		       "after a restart the 101 acknowledged events since the trim are there (%zu)", r.n);
		s->ops->close(s);
		log_free(&r);
	}
	log_free(&l);
}

static void rm_tree(const char *path)
{
	struct dirent *d;
	char sub[600];
	struct stat sb;
	DIR *dp;

	if(lstat(path, &sb))
		return;
	if(S_ISDIR(sb.st_mode) && (dp = opendir(path))) {
		while((d = readdir(dp)))
			if(strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
				snprintf(sub, sizeof(sub), "%s/%s", path, d->d_name);
				rm_tree(sub);
			}
		closedir(dp);
		rmdir(path);
	} else {
		unlink(path);
	}
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/ssed-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if(!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_seq_and_order();
	test_group_commit();
	test_crash();
	test_log();
	test_retention();
	test_floors();
	test_wakeups();
	test_bounded();
	test_bounded_fill();
	test_refused();
	test_in_use();
	test_flipped();
	damage_and_reopen("trunc.db", "a file truncated to half", TRUNCATE);
	damage_and_reopen("pages.db", "pages of the file overwritten", PAGES);
	damage_and_reopen("walpages.db", "pages overwritten, recent events in the WAL", PAGES_WITH_WAL);
	test_full();
	if(!getenv("KEEP"))
		rm_tree(dir);
	return tap_done();
}
