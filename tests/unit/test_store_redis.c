/*
 * test_store_redis.c - the Redis backend (store_redis.c) against a real
 * redis-server that this test starts (a free loopback port with AOF in a
 * temporary directory, and once on a Unix socket with a password) and
 * stops by its PID. Several backend instances in this one process stand
 * for ssed nodes, each with a fake sink that records what it is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "../../cmd/ssed/redis_conn.h"
#include "../../cmd/ssed/store.h"
#include "tap.h"

#define MAXEV 4000

struct rec_ev {
	uint64_t seq, time_us;
	char topic[16], id[16], frame[64];
	int has_id;
};

/* A fake hub: what one node's backend committed, and its lost() calls. */
struct sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rec_ev ev[MAXEV];
	size_t n;
	int nlost;
	uint64_t lost_upto;
	int block;              /* commit waits while set */
};

static void sink_commit(void *ud, const struct store_ev *ev, size_t n)
{
	struct sink *k = ud;
	size_t i;

	pthread_mutex_lock(&k->mu);
	while(k->block)
		pthread_cond_wait(&k->cv, &k->mu);
	for(i = 0; i < n && k->n < MAXEV; i++) {
		struct rec_ev *r = &k->ev[k->n++];

		memset(r, 0, sizeof(*r));
		r->seq = ev[i].seq;
		r->time_us = ev[i].time_us;
		snprintf(r->topic, sizeof(r->topic), "%.*s", (int)ev[i].tlen, ev[i].topic);
		r->has_id = ev[i].id != NULL;
		if(ev[i].id)
			snprintf(r->id, sizeof(r->id), "%.*s", (int)ev[i].idlen, ev[i].id);
		snprintf(r->frame, sizeof(r->frame), "%.*s", (int)ev[i].flen, ev[i].frame);
	}
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static void sink_lost(void *ud, uint64_t upto)
{
	struct sink *k = ud;

	pthread_mutex_lock(&k->mu);
	k->nlost++;
	if(upto > k->lost_upto)
		k->lost_upto = upto;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static struct sink *sink_new(void)
{
	struct sink *k = calloc(1, sizeof(*k));

	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	return k;
}

static void sink_block(struct sink *k, int on)
{
	pthread_mutex_lock(&k->mu);
	k->block = on;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static void until_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if(ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait (ms at most) until k has n events and nlost lost() calls. */
static int sink_wait(struct sink *k, size_t n, int nlost, int ms)
{
	struct timespec until;
	int ok;

	until_in(&until, ms);
	pthread_mutex_lock(&k->mu);
	while((k->n < n || k->nlost < nlost) &&
	      pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0)
		;
	ok = k->n >= n && k->nlost >= nlost;
	pthread_mutex_unlock(&k->mu);
	return ok;
}

/* Wait (ms at most) until k has committed seq. */
static int sink_wait_seq(struct sink *k, uint64_t seq, int ms)
{
	struct timespec until;
	int ok;

	until_in(&until, ms);
	pthread_mutex_lock(&k->mu);
	while((!k->n || k->ev[k->n - 1].seq < seq) &&
	      pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0)
		;
	ok = k->n && k->ev[k->n - 1].seq >= seq;
	pthread_mutex_unlock(&k->mu);
	return ok;
}

/* ---- acknowledgements */

struct acks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ok, failed, edown;
	double worst_ms;
};

static struct acks acks = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One append's events and what its done callback saw. */
struct pub {
	struct store_ev ev[4];
	char frame[4][64], id[4][16], topic[16];
	double t0;
	int rc, done;
	void (*check)(struct pub *p);
	void *ctx;
};

static void acks_note(int rc, double ms)
{
	pthread_mutex_lock(&acks.mu);
	if(rc == STORE_OK)
		acks.ok++;
	else
		acks.failed++;
	if(rc == STORE_EDOWN)
		acks.edown++;
	if(ms > acks.worst_ms)
		acks.worst_ms = ms;
	pthread_cond_broadcast(&acks.cv);
	pthread_mutex_unlock(&acks.mu);
}

static void pub_done(void *arg, int rc)
{
	struct pub *p = arg;

	p->rc = rc;
	if(p->check && rc == STORE_OK)
		p->check(p);
	p->done = 1;
	acks_note(rc, now_ms() - p->t0);
}

static void acks_reset(void)
{
	pthread_mutex_lock(&acks.mu);
	acks.ok = acks.failed = acks.edown = 0;
	acks.worst_ms = 0;
	pthread_mutex_unlock(&acks.mu);
}

static int acks_wait(int total, int ms)
{
	struct timespec until;
	int ok;

	until_in(&until, ms);
	pthread_mutex_lock(&acks.mu);
	while(acks.ok + acks.failed < total && pthread_cond_timedwait(&acks.cv, &acks.mu, &until) == 0)
		;
	ok = acks.ok + acks.failed >= total;
	pthread_mutex_unlock(&acks.mu);
	return ok;
}

static void pub_fill(struct pub *p, const char *topic, int i, int with_id, uint64_t time_us)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->topic, sizeof(p->topic), "%s", topic);
	snprintf(p->frame[0], sizeof(p->frame[0]), "event: e\ndata: %s %d\n\n", topic, i);
	p->ev[0].topic = p->topic;
	p->ev[0].tlen = strlen(topic);
	p->ev[0].frame = p->frame[0];
	p->ev[0].flen = strlen(p->frame[0]);
	p->ev[0].time_us = time_us;
	if(with_id) {
		snprintf(p->id[0], sizeof(p->id[0]), "x%d", i);
		p->ev[0].id = p->id[0];
		p->ev[0].idlen = strlen(p->id[0]);
	}
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Append p's one event on s; the return code is noted like a done. */
static int pub_send(struct store *s, struct pub *p)
{
	int rc;

	p->t0 = now_ms();
	rc = s->ops->append(s, p->ev, 1, pub_done, p);
	if(rc) {
		p->rc = rc;
		p->done = 1;
		acks_note(rc, now_ms() - p->t0);
	}
	return rc;
}

/* ---- redis-server */

struct server {
	pid_t pid;
	int port;
	char dir[64], sock[128];
};

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if(!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	   !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static redisContext *dial(struct server *sv, const char *pass)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = sv->sock[0] ? redisConnectUnixWithTimeout(sv->sock, tv)
				      : redisConnectWithTimeout("127.0.0.1", sv->port, tv);

	if(c && !c->err && pass) {
		redisReply *r = redisCommand(c, "AUTH %s", pass);

		freeReplyObject(r);
	}
	if(c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Start redis-server (AOF on unless unix) and wait until it answers PING
 * with its data loaded (5 s at most). */
static int server_start(struct server *sv, const char *pass)
{
	char port[16];
	int i;

	snprintf(port, sizeof(port), "%d", sv->port);
	sv->pid = fork();
	if(sv->pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		/* Should this test die, its redis-server goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fd, 1);
		dup2(fd, 2);
		if(sv->sock[0])
			execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sv->sock,
			       "--dir", sv->dir, "--save", "", "--appendonly", "no",
			       "--requirepass", pass, (char *)NULL);
		else
			execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
			       "--dir", sv->dir, "--save", "", "--appendonly", "yes",
			       "--appendfsync", "always", (char *)NULL);
		_exit(127);
	}
	for(i = 0; i < 100; i++) {
		redisContext *c = dial(sv, pass);
		struct timespec ts = { 0, 50 * 1000000L };

		if(c) {
			redisReply *r = redisCommand(c, "PING");
			int up = r && r->type == REDIS_REPLY_STATUS;

			freeReplyObject(r);
			redisFree(c);
			if(up)
				return 0;
		}
		/* Polling readiness: redis-server has no readiness signal. */
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void server_stop(struct server *sv)
{
	if(sv->pid > 0) {
		kill(sv->pid, SIGTERM);
		waitpid(sv->pid, NULL, 0);
		sv->pid = 0;
	}
}

static long long cmd_int(redisContext *c, const char *fmt, const char *arg)
{
	redisReply *r = redisCommand(c, fmt, arg);
	long long v = -1;

	if(r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if(r && r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return v;
}

/* ---- nodes */

static struct store *node(const char *url, const char *pass, size_t history, size_t hbytes,
			  uint64_t age, struct sink *k)
{
	struct store_limits lim = { history, hbytes, age };
	struct store_sink sk = { k, sink_commit, sink_lost };
	char err[256];
	struct store *s = store_redis_open(url, pass, &lim, &sk, err, sizeof(err));

	if(!s)
		tap_diag("open %s: %s", url, err);
	return s;
}

struct restored {
	struct rec_ev ev[MAXEV];
	size_t n;
};

static int each(void *ud, const struct store_ev *ev)
{
	struct restored *r = ud;
	struct rec_ev *e;

	if(r->n == MAXEV)
		return -1;
	e = &r->ev[r->n++];
	memset(e, 0, sizeof(*e));
	e->seq = ev->seq;
	e->time_us = ev->time_us;
	snprintf(e->topic, sizeof(e->topic), "%.*s", (int)ev->tlen, ev->topic);
	e->has_id = ev->id != NULL;
	if(ev->id)
		snprintf(e->id, sizeof(e->id), "%.*s", (int)ev->idlen, ev->id);
	snprintf(e->frame, sizeof(e->frame), "%.*s", (int)ev->flen, ev->frame);
	return 0;
}

static int restore(struct store *s, struct restored *r, uint64_t *last, uint64_t *since)
{
	r->n = 0;
	return s->ops->restore(s, each, r, last, since);
}

static int same(const struct rec_ev *a, const struct rec_ev *b)
{
	return a->seq == b->seq && a->time_us == b->time_us && !strcmp(a->topic, b->topic) &&
	       a->has_id == b->has_id && !strcmp(a->id, b->id) && !strcmp(a->frame, b->frame);
}

static int wait_connected(struct store *s, int want, int ms)
{
	double end = now_ms() + ms;
	struct store_stats st;

	for(;;) {
		struct timespec ts = { 0, 20 * 1000000L };

		s->ops->stats(s, &st);
		if(st.connected == want)
			return 1;
		if(now_ms() > end)
			return 0;
		/* stats has no change notification: poll it, bounded. */
		nanosleep(&ts, NULL);
	}
}

#define NODES 3
#define EVENTS 1000

static struct pub pubs[EVENTS];
static struct pub more[300];
static redisContext *probe;   /* the test's own connection */
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static int ack_checks_ok;

/* In done: the event is in Redis's log and already in this node's sink. */
static void check_stored(struct pub *p)
{
	struct sink *k = p->ctx;
	char id[32];
	redisReply *r;
	int in_redis, in_sink = 0;
	size_t i;

	snprintf(id, sizeof(id), "%" PRIu64 "-0", p->ev[0].seq);
	pthread_mutex_lock(&probe_mu);
	r = redisCommand(probe, "XRANGE ssed:log %s %s", id, id);
	in_redis = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1;
	freeReplyObject(r);
	pthread_mutex_unlock(&probe_mu);
	pthread_mutex_lock(&k->mu);
	for(i = 0; i < k->n; i++)
		in_sink |= k->ev[i].seq == p->ev[0].seq;
	pthread_mutex_unlock(&k->mu);
	if(in_redis && in_sink)
		__atomic_add_fetch(&ack_checks_ok, 1, __ATOMIC_SEQ_CST);
}

static int sinks_identical(struct sink **k, int n, size_t want)
{
	int i, ok = 1;
	size_t j;

	for(i = 0; i < n; i++)
		ok &= sink_wait(k[i], want, 0, 10000);
	for(i = 1; i < n && ok; i++) {
		pthread_mutex_lock(&k[i]->mu);
		ok &= k[i]->n == k[0]->n;
		for(j = 0; ok && j < k[0]->n; j++)
			ok &= same(&k[0]->ev[j], &k[i]->ev[j]);
		pthread_mutex_unlock(&k[i]->mu);
	}
	return ok;
}

static uint64_t max_seq(struct sink *k)
{
	uint64_t m;

	pthread_mutex_lock(&k->mu);
	m = k->n ? k->ev[k->n - 1].seq : 0;
	pthread_mutex_unlock(&k->mu);
	return m;
}

static void test_urls(void)
{
	static const char *bad[] = {
		"http://127.0.0.1", "redis://", "redis://u:topsecret@host:99999",
		"redis://u:topsecret@host/x", "redis://u:top%zzsecret@host", "unix://relative",
		"redis://h?log=0", "redis://h?colour=red",
	};
	struct store_sink sk = { NULL, sink_commit, sink_lost };
	char err[256], buf[64];
	size_t i;
	int ok = 1;
	FILE *f;

	for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if(store_redis_open(bad[i], NULL, NULL, &sk, err, sizeof(err)) || !err[0] ||
		   strstr(err, "topsecret") || strstr(err, "top%zz")) {
			tap_diag("%s: %s", bad[i], err);
			ok = 0;
		}
	}
	tap_ok(ok, "malformed URLs are refused with a reason that never shows the password");

	{
		struct redis_addr a;

		ok = !redis_addr_parse(&a, "redis://us%65r:p%40ss:w@rd@[::1]:6380/2?log=5", err, sizeof(err)) &&
		     !strcmp(a.host, "::1") && a.port == 6380 && a.db == 2 && a.log == 5 &&
		     !strcmp(a.user, "user") && !strcmp(a.pass, "p@ss:w@rd") && !a.path;
		redis_addr_free(&a);
		ok &= !redis_addr_parse(&a, "redis://127.0.0.1", err, sizeof(err)) &&
		      !strcmp(a.host, "127.0.0.1") && a.port == 6379 && a.db == 0 && !a.user && !a.pass;
		redis_addr_free(&a);
		ok &= !redis_addr_parse(&a, "redis://:pw@h:1/", err, sizeof(err)) &&
		      !strcmp(a.host, "h") && a.port == 1 && !a.user && !strcmp(a.pass, "pw");
		redis_addr_free(&a);
		ok &= !redis_addr_parse(&a, "unix:///run/redis/r.sock?db=3&user=me&log=7", err, sizeof(err)) &&
		      !strcmp(a.path, "/run/redis/r.sock") && a.db == 3 && a.log == 7 &&
		      !strcmp(a.user, "me") && !a.host;
		redis_addr_free(&a);
		tap_ok(ok, "URL forms: user, %%-encoded password, IPv6 host, port, db, log; Unix socket "
		       "with db, user and log");
	}

	setenv("SSED_TEST_REDIS_PW", "from-env", 1);
	ok = !store_redis_secret("env:SSED_TEST_REDIS_PW", buf, sizeof(buf), err, sizeof(err)) &&
	     !strcmp(buf, "from-env");
	f = fopen("tests/.out/redis-pw", "w");
	if(f) {
		fputs("from-file\nsecond line\n", f);
		fclose(f);
	}
	ok &= !store_redis_secret("file:tests/.out/redis-pw", buf, sizeof(buf), err, sizeof(err)) &&
	      !strcmp(buf, "from-file");
	ok &= store_redis_secret("env:SSED_TEST_REDIS_NONE", buf, sizeof(buf), err, sizeof(err)) == -1;
	tap_ok(ok, "a password comes from the environment or a file's first line");
}

static void test_unix(void)
{
	struct server sv;
	struct sink *k = sink_new();
	struct store *s;
	struct pub p;
	char url[200], err[256];
	struct store_sink sk = { k, sink_commit, sink_lost };

	memset(&sv, 0, sizeof(sv));
	snprintf(sv.dir, sizeof(sv.dir), "/tmp/ssed-redis-XXXXXX");
	if(!mkdtemp(sv.dir)) {
		tap_ok(0, "a temporary directory");
		return;
	}
	snprintf(sv.sock, sizeof(sv.sock), "%s/redis.sock", sv.dir);
	if(server_start(&sv, "sekret-pw")) {
		tap_ok(0, "redis-server starts on a Unix socket");
		server_stop(&sv);
		return;
	}
	snprintf(url, sizeof(url), "unix://%s?db=4", sv.sock);
	err[0] = 0;
	s = store_redis_open(url, "wrong-pw", NULL, &sk, err, sizeof(err));
	tap_ok(!s && err[0] && !strstr(err, "wrong-pw"),
	       "a wrong password: open fails, the reason does not repeat it (%s)", err);
	{
		/* An ACL user of its own, named in the URL. */
		redisContext *c = dial(&sv, "sekret-pw");
		char uurl[220];

		freeReplyObject(redisCommand(c, "ACL SETUSER ssed on >user-pw ~* &* +@all"));
		redisFree(c);
		snprintf(uurl, sizeof(uurl), "unix://%s?user=ssed", sv.sock);
		s = node(uurl, "user-pw", 0, 0, 0, k);
		tap_ok(s != NULL, "an ACL user and its password log in");
		if(s)
			s->ops->close(s);
	}
	s = node(url, "sekret-pw", 0, 0, 0, k);
	if(s) {
		acks_reset();
		pub_fill(&p, "u", 1, 1, wall_us());
		pub_send(s, &p);
		tap_ok(acks_wait(1, 5000) && p.rc == STORE_OK && sink_wait(k, 1, 0, 5000) &&
		       k->ev[0].seq == p.ev[0].seq && !strcmp(k->ev[0].id, "x1"),
		       "over a Unix socket with AUTH and db 4: stored, committed, acknowledged");
		s->ops->close(s);
	} else {
		tap_ok(0, "open over a Unix socket");
	}
	server_stop(&sv);
	unlink(sv.sock);
	rmdir(sv.dir);
	free(k);
}

int main(void)
{
	static struct restored rs;
	struct sink *k[NODES + 1];
	struct store *s[NODES + 1];
	struct store_stats st;
	struct server sv;
	char url[160], cmd[200];
	uint64_t last, since, old_max;
	int i, ok, nlost[NODES];
	uint64_t reconnects[NODES];
	size_t j, n;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_urls();

	memset(&sv, 0, sizeof(sv));
	snprintf(sv.dir, sizeof(sv.dir), "/tmp/ssed-redis-XXXXXX");
	sv.port = free_port();
	if(!mkdtemp(sv.dir) || !sv.port || server_start(&sv, NULL)) {
		tap_ok(0, "redis-server starts on 127.0.0.1:%d", sv.port);
		server_stop(&sv);
		return tap_done();
	}
	probe = dial(&sv, NULL);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", sv.port);
	for(i = 0; i < NODES; i++) {
		k[i] = sink_new();
		s[i] = node(url, NULL, 100, 0, 0, k[i]);
		if(!s[i]) {
			tap_ok(0, "node %d opens", i);
			server_stop(&sv);
			return tap_done();
		}
		restore(s[i], &rs, &last, &since);
	}

	/* 1,000 events on 3 topics, round robin over the nodes, all in flight. */
	acks_reset();
	for(i = 0; i < EVENTS; i++) {
		pub_fill(&pubs[i], (const char *[]){ "a", "b", "c" }[i % 3], i, i % 7 == 0, wall_us());
		pub_send(s[i % NODES], &pubs[i]);
	}
	ok = acks_wait(EVENTS, 20000);
	tap_ok(ok && acks.ok == EVENTS, "1000 appends over 3 nodes acknowledged (%d ok, %d failed)",
	       acks.ok, acks.failed);
	tap_ok(sinks_identical(k, NODES, EVENTS),
	       "every node's sink got the same 1000 events in the same order, byte for byte");
	ok = k[0]->n == EVENTS;
	for(j = 1; j < k[0]->n; j++)
		ok &= k[0]->ev[j].seq > k[0]->ev[j - 1].seq;
	for(i = 0; i < EVENTS && ok; i++) {
		for(j = 0; j < k[0]->n && k[0]->ev[j].seq != pubs[i].ev[0].seq; j++)
			;
		ok &= j < k[0]->n && !strcmp(k[0]->ev[j].frame, pubs[i].frame[0]) &&
		      !strcmp(k[0]->ev[j].topic, pubs[i].topic) &&
		      (pubs[i].ev[0].id ? !strcmp(k[0]->ev[j].id, pubs[i].id[0]) : !k[0]->ev[j].has_id);
	}
	tap_ok(ok, "seqs strictly increase, and each acknowledged seq carries its own event");
	{
		uint64_t commits = 0;

		for(i = 0; i < NODES; i++) {
			s[i]->ops->stats(s[i], &st);
			commits += st.commits;
		}
		tap_ok(commits < EVENTS / 10, "group commit: 1000 appends in flight took %" PRIu64
		       " script calls", commits);
	}

	/* Redis forgot the script (SCRIPT FLUSH): the writer loads it again. */
	freeReplyObject(redisCommand(probe, "SCRIPT FLUSH"));
	acks_reset();
	pub_fill(&more[0], "a", 1500, 0, wall_us());
	ok = !pub_send(s[0], &more[0]) && acks_wait(1, 5000) && acks.ok == 1;
	ok &= sinks_identical(k, NODES, EVENTS + 1);
	tap_ok(ok, "after SCRIPT FLUSH an append is stored (NOSCRIPT: loaded again)");

	/* An acknowledgement comes once Redis and this node's sink have it. */
	acks_reset();
	for(i = 0; i < 20; i++) {
		pub_fill(&more[i], "a", 2000 + i, 0, wall_us());
		more[i].check = check_stored;
		more[i].ctx = k[1];
		pub_send(s[1], &more[i]);
		acks_wait(i + 1, 5000);
	}
	tap_ok(ack_checks_ok == 20, "each of 20 acknowledgements came after XRANGE finds it and "
	       "the node committed it (%d)", ack_checks_ok);
	sinks_identical(k, NODES, EVENTS + 21);

	/* A node that just started restores the retained history. */
	k[NODES] = sink_new();
	s[NODES] = node(url, NULL, 100, 0, 0, k[NODES]);
	ok = s[NODES] && !restore(s[NODES], &rs, &last, &since);
	ok &= last == max_seq(k[0]) && since <= k[0]->ev[0].seq && rs.n == 300;
	for(i = 0; i < 3 && ok; i++) {
		const char *t = (const char *[]){ "a", "b", "c" }[i];
		size_t want = 100, got = 0, r;

		/* The last 100 of topic t as committed, against what restore gave. */
		for(j = k[0]->n; j-- > 0 && want;) {
			if(strcmp(k[0]->ev[j].topic, t))
				continue;
			want--;
			for(r = 0; r < rs.n && rs.ev[r].seq != k[0]->ev[j].seq; r++)
				;
			got += r < rs.n && same(&rs.ev[r], &k[0]->ev[j]);
		}
		ok &= got == 100;
	}
	for(j = 1; j < rs.n && ok; j++)
		ok &= strcmp(rs.ev[j].topic, rs.ev[j - 1].topic) || rs.ev[j].seq > rs.ev[j - 1].seq;
	tap_ok(ok, "restore on a fresh node: the last 100 of each topic in seq order, last seq, "
	       "since (%zu events)", rs.n);
	if(s[NODES])
		s[NODES]->ops->close(s[NODES]);

	/* Retention by count, bytes and age, in databases of their own. */
	{
		struct sink *kr = sink_new();
		struct store *r1, *r2, *r3;
		char u1[160], u2[160], u3[160];

		snprintf(u1, sizeof(u1), "redis://127.0.0.1:%d/1", sv.port);
		snprintf(u2, sizeof(u2), "redis://127.0.0.1:%d/2", sv.port);
		snprintf(u3, sizeof(u3), "redis://127.0.0.1:%d?db=3", sv.port);
		r1 = node(u1, NULL, 5, 0, 0, kr);
		r2 = node(u2, NULL, 0, 200, 0, kr);
		r3 = node(u3, NULL, 0, 0, 5000000, kr);
		acks_reset();
		for(i = 0; i < 20; i++) {
			pub_fill(&more[i], "r", i, 0, wall_us());
			pub_send(r1, &more[i]);
			pub_fill(&more[20 + i], "r", 10 + i, 0, wall_us());   /* 18-byte frames */
			pub_send(r2, &more[20 + i]);
			pub_fill(&more[40 + i], "r", i, 0, wall_us() - (i < 10 ? 10000000u : 0));
			pub_send(r3, &more[40 + i]);
		}
		acks_wait(60, 10000);
		ok = !restore(r1, &rs, &last, &since) && rs.n == 5 && rs.ev[0].seq == more[15].ev[0].seq &&
		     rs.ev[4].seq == more[19].ev[0].seq;
		tap_ok(ok, "history 5: the newest 5 of 20 are kept (%zu)", rs.n);
		/* "event: e\ndata: r NN\n\n" is 21 bytes, the id 16 digits, "id: \n" 5: 42 each. */
		ok = !restore(r2, &rs, &last, &since) && rs.n == 4 &&
		     rs.ev[3].seq == more[39].ev[0].seq && rs.ev[0].seq == more[36].ev[0].seq;
		freeReplyObject(redisCommand(probe, "SELECT 2"));
		ok &= cmd_int(probe, "GET ssed:b:%s", "r") == 4 * 42;
		freeReplyObject(redisCommand(probe, "SELECT 0"));
		tap_ok(ok, "history-bytes 200: the newest 4 of 42 bytes each are kept (%zu)", rs.n);
		ok = !restore(r3, &rs, &last, &since) && rs.n == 10 &&
		     rs.ev[0].seq == more[50].ev[0].seq;
		tap_ok(ok, "history-age 5 s: events published 10 s ago are dropped (%zu kept)", rs.n);
		r1->ops->close(r1);
		r2->ops->close(r2);
		r3->ops->close(r3);
		free(kr);
	}

	/* Redis stops: appends fail with STORE_EDOWN within 2 s, none succeed.
	 * Before that, node 2's sink holds its commits, so it falls behind. */
	sink_block(k[2], 1);
	acks_reset();
	for(i = 0; i < 50; i++) {
		pub_fill(&more[i], "b", 3000 + i, 0, wall_us());
		pub_send(s[0], &more[i]);
	}
	tap_ok(acks_wait(50, 5000) && acks.ok == 50, "50 more acknowledged while node 2 is stalled");
	server_stop(&sv);
	sink_block(k[2], 0);
	acks_reset();
	for(i = 0; i < 30; i++) {
		struct timespec ts = { 0, 50 * 1000000L };

		pub_fill(&more[100 + i], "c", 4000 + i, 0, wall_us());
		pub_send(s[i % NODES], &more[100 + i]);
		nanosleep(&ts, NULL);   /* spread over 1.5 s of the outage */
	}
	ok = acks_wait(30, 5000);
	tap_ok(ok && acks.ok == 0 && acks.edown == 30 && acks.worst_ms < 2000,
	       "Redis down: 30 appends fail with STORE_EDOWN, none succeed, slowest %.0f ms "
	       "(%d ok, %d STORE_EDOWN, %d failed)", acks.worst_ms, acks.ok, acks.edown, acks.failed);
	ok = 1;
	for(i = 0; i < NODES; i++)
		ok &= wait_connected(s[i], 0, 3000);
	tap_ok(ok, "stats: every node says it is not connected");

	/* Redis back with its data (AOF): every node reconnects and catches up. */
	if(server_start(&sv, NULL)) {
		tap_ok(0, "redis-server restarts");
		return tap_done();
	}
	redisFree(probe);
	probe = dial(&sv, NULL);
	ok = 1;
	for(i = 0; i < NODES; i++)
		ok &= wait_connected(s[i], 1, 5000);
	tap_ok(ok, "every node reconnects");
	old_max = max_seq(k[0]);
	acks_reset();
	for(i = 0; i < 30; i++) {
		pub_fill(&more[200 + i], "c", 5000 + i, 0, wall_us());
		pub_send(s[i % NODES], &more[200 + i]);
	}
	ok = acks_wait(30, 5000) && acks.ok == 30;
	tap_ok(ok, "after the restart, 30 appends over 3 nodes are acknowledged");
	n = EVENTS + 1 + 20 + 50 + 30;
	ok = sinks_identical(k, NODES, n);
	for(i = 0; i < NODES; i++)
		ok &= k[i]->nlost == 0;
	tap_ok(ok, "every node, the stalled one too, has all %zu acknowledged events, identical, "
	       "and no lost() call", n);
	ok = more[200].ev[0].seq > old_max;
	for(i = 0; i < 100; i++) {
		struct timespec ts = { 0, 20 * 1000000L };

		/* The reader refreshes the held-events figure twice a second. */
		s[0]->ops->stats(s[0], &st);
		if(st.events == 300)
			break;
		nanosleep(&ts, NULL);
	}
	ok &= st.reconnects >= 1 && st.commits > 0 && st.connected == 1 && st.events == 300;
	tap_ok(ok, "seqs continue above the old ones; stats: %" PRIu64 " reconnects, %" PRIu64
	       " commits, %" PRIu64 " events, %" PRIu64 " bytes", st.reconnects, st.commits,
	       st.events, st.bytes);

	/* Redis loses everything: lost() on every node, seqs above all old ones. */
	old_max = max_seq(k[0]);
	freeReplyObject(redisCommand(probe, "FLUSHALL"));
	ok = 1;
	for(i = 0; i < NODES; i++)
		ok &= sink_wait(k[i], n, 1, 5000) && k[i]->lost_upto >= old_max;
	tap_ok(ok, "FLUSHALL: every node calls lost() up to at least its last seq");
	acks_reset();
	pub_fill(&more[250], "a", 6000, 0, wall_us());
	pub_send(s[1], &more[250]);
	ok = acks_wait(1, 5000) && acks.ok == 1 && more[250].ev[0].seq > old_max;
	ok &= sinks_identical(k, NODES, n + 1);
	tap_ok(ok, "after the loss a new event gets a seq above every old one, on every node");

	/* Redis restarts empty: each node finds out on reconnecting. */
	old_max = max_seq(k[0]);
	for(i = 0; i < NODES; i++) {
		nlost[i] = k[i]->nlost;
		s[i]->ops->stats(s[i], &st);
		reconnects[i] = st.reconnects;
	}
	server_stop(&sv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/appendonlydir", sv.dir);
	ok = !system(cmd) && !server_start(&sv, NULL);
	redisFree(probe);
	probe = dial(&sv, NULL);
	for(i = 0; i < NODES; i++)
		ok &= sink_wait(k[i], n + 1, nlost[i] + 1, 5000) && k[i]->lost_upto >= old_max;
	tap_ok(ok, "Redis restarted empty: every node calls lost() again, up to its last seq");
	ok = 1;
	for(i = 0; i < NODES; i++) {
		double end = now_ms() + 5000;

		/* Both connections back (no notification: poll stats, bounded). */
		for(;;) {
			struct timespec ts = { 0, 20 * 1000000L };

			s[i]->ops->stats(s[i], &st);
			if(st.reconnects >= reconnects[i] + 2 || now_ms() > end)
				break;
			nanosleep(&ts, NULL);
		}
		ok &= st.reconnects >= reconnects[i] + 2 && st.connected;
	}
	tap_ok(ok, "each node's writer, idle through the restart, reconnected too");
	acks_reset();
	pub_fill(&more[251], "a", 6001, 0, wall_us());
	ok = !pub_send(s[2], &more[251]) && acks_wait(1, 5000) && acks.ok == 1 &&
	     more[251].ev[0].seq > old_max && sinks_identical(k, NODES, n + 2);
	tap_ok(ok, "and the next event's seq is above every old one, on every node");

	/* A node that falls behind the shared log takes what it missed from the
	 * topics' histories (db 5, history unlimited), and gets lost() when
	 * they no longer hold it all (db 6, history 5). */
	for(int hist = 0; hist <= 5; hist += 5) {
		struct sink *ka = sink_new(), *kb = sink_new();
		struct store *a, *b;
		char u[160], db[16];

		snprintf(db, sizeof(db), "SELECT %d", hist ? 6 : 5);
		snprintf(u, sizeof(u), "redis://127.0.0.1:%d/%d?log=20", sv.port, hist ? 6 : 5);
		a = node(u, NULL, (size_t)hist, 0, 0, ka);
		b = node(u, NULL, (size_t)hist, 0, 0, kb);
		restore(a, &rs, &last, &since);
		restore(b, &rs, &last, &since);
		acks_reset();
		pub_fill(&more[0], "f", 0, 0, wall_us());
		pub_send(a, &more[0]);
		acks_wait(1, 5000);
		sink_wait(kb, 1, 0, 5000);
		sink_block(kb, 1);
		pub_fill(&more[1], "f", 1, 0, wall_us());
		pub_send(a, &more[1]);
		acks_wait(2, 5000);
		/* One at a time, so that a's own reader keeps up with the log;
		 * two topics, so the histories are merged back in seq order. */
		for(i = 2; i < 300; i++) {
			pub_fill(&more[i], i % 2 ? "f" : "g", i, 0, wall_us());
			pub_send(a, &more[i]);
			acks_wait(i + 1, 5000);
		}
		freeReplyObject(redisCommand(probe, db));
		ok = acks.ok == 300 && cmd_int(probe, "XLEN %s", "ssed:log") < 200;
		freeReplyObject(redisCommand(probe, "SELECT 0"));
		sink_block(kb, 0);
		ok &= sink_wait(ka, 300, 0, 5000) && ka->nlost == 0;
		ok &= sink_wait_seq(kb, ka->ev[299].seq, 5000);
		pthread_mutex_lock(&kb->mu);
		if(!hist) {
			ok &= kb->nlost == 0 && kb->n == 300;
			for(j = 0; ok && j < 300; j++)
				ok &= same(&kb->ev[j], &ka->ev[j]);
			tap_ok(ok, "a node behind a trimmed log gets the events it missed from the "
			       "histories, in order, byte for byte, and no lost()");
		} else {
			ok &= kb->nlost >= 1;
			for(j = 0; ok && j < 300; j++) {
				size_t x;

				for(x = 0; x < kb->n && kb->ev[x].seq != ka->ev[j].seq; x++)
					;
				ok &= x < kb->n || ka->ev[j].seq <= kb->lost_upto;
			}
			ok &= kb->ev[kb->n - 1].seq == ka->ev[299].seq && kb->n < 300;
			tap_ok(ok, "a node behind a trimmed log and history: lost() up to %" PRIu64
			       " covers each of the %zu events it missed", kb->lost_upto, 300 - kb->n);
		}
		pthread_mutex_unlock(&kb->mu);
		a->ops->close(a);
		b->ops->close(b);
		free(ka);
		free(kb);
	}

	/* A node whose own reader is stalled acknowledges after 2 s (the events
	 * are in Redis) and says how far behind the log it is. */
	n = n + 2;
	sink_block(k[0], 1);
	acks_reset();
	for(i = 0; i < 10; i++) {
		pub_fill(&more[i], "b", 7000 + i, 0, wall_us());
		pub_send(s[0], &more[i]);
	}
	ok = acks_wait(10, 5000) && acks.ok == 10 && acks.worst_ms >= 1900 && acks.worst_ms < 3000;
	s[0]->ops->stats(s[0], &st);
	tap_ok(ok && st.behind >= 9, "a stalled reader: 10 appends acknowledged after %.0f ms, "
	       "%" PRIu64 " events behind", acks.worst_ms, st.behind);
	sink_block(k[0], 0);
	ok = sinks_identical(k, NODES, n + 10);
	for(i = 0; i < 100; i++) {
		struct timespec ts = { 0, 20 * 1000000L };

		s[0]->ops->stats(s[0], &st);
		if(!st.behind)
			break;
		nanosleep(&ts, NULL);   /* stats has no change notification */
	}
	tap_ok(ok && st.behind == 0, "caught up: the same events everywhere, 0 behind");

	/* Redis hangs (SIGSTOP): appends fail within 2 s, then it recovers. */
	kill(sv.pid, SIGSTOP);
	acks_reset();
	for(i = 0; i < NODES; i++) {
		pub_fill(&more[20 + i], "c", 8000 + i, 0, wall_us());
		pub_send(s[i], &more[20 + i]);
	}
	ok = acks_wait(NODES, 5000) && acks.ok == 0 && acks.edown == NODES && acks.worst_ms < 2000;
	tap_ok(ok, "Redis hung: appends fail with STORE_EDOWN, slowest %.0f ms", acks.worst_ms);
	kill(sv.pid, SIGCONT);
	acks_reset();
	ok = 1;
	for(i = 0; i < NODES; i++)
		ok &= wait_connected(s[i], 1, 5000);
	pub_fill(&more[30], "c", 8100, 0, wall_us());
	ok &= !pub_send(s[0], &more[30]) && acks_wait(1, 5000) && acks.ok == 1;
	for(i = 0; i < NODES; i++)
		ok &= sink_wait_seq(k[i], more[30].ev[0].seq, 5000);
	tap_ok(ok, "Redis resumes: the next append is acknowledged and reaches every node");

	for(i = 0; i < NODES; i++) {
		s[i]->ops->close(s[i]);
		free(k[i]);
	}
	free(k[NODES]);
	redisFree(probe);
	server_stop(&sv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sv.dir);
	if(system(cmd))
		tap_diag("could not remove %s", sv.dir);

	test_unix();
	return tap_done();
}
