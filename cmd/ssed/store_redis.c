/*
 * store_redis.c - the shared backend: several ssed share topics, ids and
 * history through one Redis (contract in store.h, store_redis_open).
 *
 * Keys, all under "ssed:" in the URL's database:
 *   last     the highest seq ever given out (the previous log entry's seq)
 *   n        log entries ever added, so a node knows how far behind it is
 *   epoch    random, set when the data set starts; gone or changed: Redis
 *            lost its data
 *   since    the first seq of this epoch
 *   count    events held in the topics' histories
 *   topics   the set of topics with history
 *   log      one stream of every topic's events in seq order, entry id
 *            "<seq>-0", fields t (topic), f (frame), u (time_us), i (the
 *            publisher's id, when given), p (the previous entry's seq), n
 *   h:TOPIC  the topic's retained history, a stream with the same ids
 *   b:TOPIC  its bytes, counted as the ring counts them
 *
 * One ordering authority: a Lua script appends a whole batch atomically,
 * assigns seq = max(Redis TIME in µs, last + 1, the node's floor + 1) and
 * applies retention, so ids never go backwards, also across nodes whose
 * clocks differ and after Redis restarted empty (the floor is the highest
 * seq the node has seen). The history is kept per topic, not in the log
 * alone, so retention is per topic as on one node and restore reads only
 * what is retained; the log only has to cover how far a node may fall
 * behind, and is capped by length. Restore also notes each topic's newest
 * event gone from its history (XDEL'd, XINFO's max-deleted-entry-id, or
 * left out for its age) for the floors op.
 *
 * Delivery between nodes comes from the log, never from PUB/SUB: a reader
 * thread per node XREADs it from the last seq it applied (after a
 * reconnect too) and commits every event, its own node's included, so all
 * nodes apply one order. Each entry names its predecessor (p): an entry
 * whose p is not the reader's last seq means entries were trimmed before
 * the reader got them, or Redis lost them. Trimmed ones are taken from the
 * topics' histories when those still hold every one (the entry numbers say
 * how many); otherwise the reader calls sink->lost. An idle reader checks epoch and last once per BLOCK timeout,
 * which catches a Redis that lost everything while nothing is published.
 *
 * Threads: the writer owns one connection and runs the script for every
 * append queued while the previous call was in flight (group commit); the
 * reader owns another. An append stored in Redis waits in a list until
 * the reader has committed its last seq, then its done runs (from the
 * reader, or from the writer after ACK_WAIT_MS without the reader).
 *
 * This file: the handle, the operations and the writer. The reader is in
 * store_redis_read.c, the script in redis_script.c, URLs and logging in in
 * redis_conn.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "store_redis_int.h"

uint64_t store_redis__now_us(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void store_redis__deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if(ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* ---- the writer */

/* Run done for every job of list with rc (STORE_OK: they were stored),
 * then free them. Called with no lock held. */
void store_redis__finish(struct job *list, int rc)
{
	while(list) {
		struct job *j = list;

		list = j->next;
		j->done(j->arg, j->rc ? j->rc : rc);
		free(j);
	}
}

/* Jobs of the wait list done: committed (last <= applied), or stored
 * longer than ACK_WAIT_MS ago when late is set. Under mu. */
struct job *store_redis__take_done(struct rstore *s, uint64_t applied, uint64_t late)
{
	struct job *list = NULL, **tail = &list;

	while(s->wait && (s->wait->last <= applied || (late && s->wait->stored_us <= late))) {
		*tail = s->wait;
		s->wait = s->wait->next;
		tail = &(*tail)->next;
	}
	*tail = NULL;
	if(!s->wait)
		s->wtail = &s->wait;
	return list;
}

/* What an error reply means for the publisher. Redis loading its data,
 * a replica after a failover (READONLY), a busy script: unavailable for
 * now, and the connection is dropped so the next one may reach the new
 * primary. */
static int redis_error_rc(const char *msg)
{
	static const char *const down[] = { "LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN" };
	size_t i;

	if(!strncmp(msg, "redis: ", 7))
		msg += 7;
	for(i = 0; i < sizeof(down) / sizeof(down[0]); i++)
		if(!strncmp(msg, down[i], strlen(down[i])))
			return STORE_EDOWN;
	return strncmp(msg, "OOM", 3) ? STORE_EIO : STORE_EFULL;
}

/* Store the jobs of batch (ne events) in one script call; *log_n gets
 * the log's entry count after it. 0, or a store_err: STORE_EDOWN when the
 * connection failed. */
static int store_batch(struct rstore *s, redisContext *c, char *sha, struct job *batch,
		       size_t ne, uint64_t floor, uint64_t *log_n)
{
	size_t argc = REDIS_HEAD_ARGS + 4 * ne, k = REDIS_HEAD_ARGS, i;
	const char **argv = malloc(argc * sizeof(*argv));
	size_t *len = malloc(argc * sizeof(*len));
	char errmsg[256];
	struct redis_head h;
	struct job *j;
	redisReply *r;
	uint64_t seq;
	int rc = STORE_EIO;

	if(!argv || !len) {
		free(argv);
		free(len);
		return STORE_ENOMEM;
	}
	redis_script_args(&s->lim, s->logmax, "a", floor, ne, &h, argv, len);
	for(j = batch; j; j = j->next) {
		for(i = 0; i < j->n; i++) {
			struct job_ev *e = &j->ev[i];

			argv[k] = e->topic;
			len[k++] = e->tlen;
			argv[k] = e->id;
			len[k++] = e->idlen;
			argv[k] = e->frame;
			len[k++] = e->flen;
			argv[k] = e->tu;
			len[k++] = strlen(e->tu);
		}
	}
	r = redis_script_run(c, sha, argv, len, (int)argc, errmsg, sizeof(errmsg));
	free(argv);
	free(len);
	if(!r)
		return c->err ? STORE_EDOWN : redis_error_rc(errmsg);
	if(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	   r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer > 0) {
		seq = (uint64_t)r->element[0]->integer;
		*log_n = redis_reply_u64(r->element[1]);
		for(j = batch; j; j = j->next) {
			for(i = 0; i < j->n; i++)
				j->user[i].seq = seq++;
			j->last = seq - 1;
		}
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

/* Take up to BATCH_EVENTS events (and at least one job) off the queue. */
static struct job *take_batch(struct rstore *s, size_t *ne)
{
	struct job *list = s->queue, **tail = &list;
	size_t n = 0, bytes = 0;

	while(*tail && (n == 0 || (n + (*tail)->n <= BATCH_EVENTS &&
				   bytes + (*tail)->bytes <= BATCH_BYTES))) {
		n += (*tail)->n;
		bytes += (*tail)->bytes;
		tail = &(*tail)->next;
	}
	s->queue = *tail;
	if(!s->queue)
		s->qtail = &s->queue;
	*tail = NULL;
	*ne = n;
	return list;
}

int store_redis__backoff(int ms)
{
	ms = ms ? ms * 2 : BACKOFF_MIN_MS;
	return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

static void *writer_main(void *arg)
{
	struct rstore *s = arg;
	redisContext *c = s->wc;
	char sha[41] = "", err[256];
	int backoff = 0;

	pthread_mutex_lock(&s->mu);
	for(;;) {
		struct job *list, *fail = NULL;
		uint64_t t0, floor, log_n = 0;
		size_t ne;
		int rc;

		t0 = store_redis__now_us(CLOCK_MONOTONIC);
		list = store_redis__take_done(s, s->applied, t0 > ACK_WAIT_MS * 1000u ? t0 - ACK_WAIT_MS * 1000u : 0);
		if(list) {
			pthread_mutex_unlock(&s->mu);
			store_redis__finish(list, STORE_OK);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if(!c && s->queue) {
			/* Queued before the connection was found dead: no
			 * waiting for a reconnect. */
			fail = s->queue;
			s->queue = NULL;
			s->qtail = &s->queue;
			s->st.write_errors++;
			pthread_mutex_unlock(&s->mu);
			store_redis__finish(fail, STORE_EDOWN);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if(!c) {
			struct timespec until;

			if(s->stop)
				break;
			store_redis__deadline(&until, backoff);
			while(!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &until) != ETIMEDOUT)
				;
			if(s->stop)
				break;
			pthread_mutex_unlock(&s->mu);
			c = redis_dial(&s->addr, CONNECT_MS, CMD_MS, err, sizeof(err));
			pthread_mutex_lock(&s->mu);
			if(c) {
				s->up = 1;
				s->st.reconnects++;
				sha[0] = 0;
				backoff = 0;
			} else {
				backoff = store_redis__backoff(backoff);
			}
			continue;
		}
		if(s->wcheck && !s->queue) {
			redisReply *r;
			int alive;

			s->wcheck = 0;
			pthread_mutex_unlock(&s->mu);
			r = redisCommand(c, "PING");
			alive = r && r->type == REDIS_REPLY_STATUS;
			freeReplyObject(r);
			pthread_mutex_lock(&s->mu);
			if(!alive) {
				s->up = 0;
				pthread_mutex_unlock(&s->mu);
				redisFree(c);
				c = NULL;
				pthread_mutex_lock(&s->mu);
			}
			continue;
		}
		if(!s->queue) {
			struct timespec until;

			if(s->stop)
				break;
			pthread_cond_broadcast(&s->drained);
			if(s->wait) {
				/* Until the oldest stored append is due anyway. */
				uint64_t due = s->wait->stored_us + ACK_WAIT_MS * 1000u;

				until.tv_sec = (time_t)(due / 1000000u);
				until.tv_nsec = (long)(due % 1000000u) * 1000L;
				pthread_cond_timedwait(&s->wake, &s->mu, &until);
			} else {
				pthread_cond_wait(&s->wake, &s->mu);
			}
			continue;
		}
		list = take_batch(s, &ne);
		floor = s->floor;
		pthread_mutex_unlock(&s->mu);

		t0 = store_redis__now_us(CLOCK_MONOTONIC);
		rc = store_batch(s, c, sha, list, ne, floor, &log_n);
		if(rc == STORE_EDOWN) {
			pthread_mutex_lock(&s->mu);
			s->up = 0;
			pthread_mutex_unlock(&s->mu);
			redisFree(c);
			c = NULL;
		}

		pthread_mutex_lock(&s->mu);
		if(rc == 0) {
			uint64_t t1 = store_redis__now_us(CLOCK_MONOTONIC), us = t1 - t0;
			struct job *j;

			s->st.commits++;
			if(log_n > s->log_n)
				s->log_n = log_n;
			s->st.commit_us_sum += us;
			if(us > s->st.commit_us_max)
				s->st.commit_us_max = us;
			for(j = list; j; j = j->next) {
				j->stored_us = t1;
				if(j->last > s->floor)
					s->floor = j->last;
			}
			*s->wtail = list;
			while(*s->wtail)
				s->wtail = &(*s->wtail)->next;
			continue;
		}
		s->st.write_errors++;
		fail = list;
		if(rc == STORE_EDOWN) {
			/* The queue would wait for a reconnect: fail it now. */
			struct job **t = &fail;

			while(*t)
				t = &(*t)->next;
			*t = s->queue;
			s->queue = NULL;
			s->qtail = &s->queue;
			pthread_cond_broadcast(&s->drained);
		}
		pthread_mutex_unlock(&s->mu);
		store_redis__finish(fail, rc);
		pthread_mutex_lock(&s->mu);
	}
	/* Stopping: nothing may stay queued (appends after close are a bug). */
	{
		struct job *fail = s->queue;

		s->queue = NULL;
		s->qtail = &s->queue;
		s->up = 0;
		pthread_mutex_unlock(&s->mu);
		store_redis__finish(fail, STORE_EDOWN);
	}
	if(c)
		redisFree(c);
	return NULL;
}

/* ---- the operations */

static int rs_append(struct store *st, struct store_ev *ev, size_t n,
		     store_done_fn done, void *arg)
{
	struct rstore *s = (struct rstore *)st;
	size_t i, bytes = 0;
	struct job *j;
	char *m;
	int up;

	if(!n) {
		done(arg, STORE_OK);
		return STORE_OK;
	}
	pthread_mutex_lock(&s->mu);
	up = s->up && !s->stop;
	pthread_mutex_unlock(&s->mu);
	if(!up)
		return STORE_EDOWN;
	for(i = 0; i < n; i++)
		bytes += ev[i].tlen + ev[i].idlen + 1 + ev[i].flen;
	j = malloc(sizeof(*j) + n * sizeof(j->ev[0]) + bytes);
	if(!j)
		return STORE_ENOMEM;
	memset(j, 0, sizeof(*j));
	j->user = ev;
	j->n = n;
	j->done = done;
	j->arg = arg;
	j->bytes = bytes;
	m = (char *)&j->ev[n];
	for(i = 0; i < n; i++) {
		struct job_ev *e = &j->ev[i];

		e->topic = memcpy(m, ev[i].topic, ev[i].tlen);
		e->tlen = ev[i].tlen;
		m += e->tlen;
		e->id = m;
		e->idlen = 0;
		if(ev[i].id) {
			*m = '=';
			memcpy(m + 1, ev[i].id, ev[i].idlen);
			e->idlen = ev[i].idlen + 1;
		}
		m += ev[i].idlen + 1;
		e->frame = memcpy(m, ev[i].frame, ev[i].flen);
		e->flen = ev[i].flen;
		m += e->flen;
		snprintf(e->tu, sizeof(e->tu), "%" PRIu64, ev[i].time_us);
	}
	pthread_mutex_lock(&s->mu);
	if(!s->up || s->stop) {
		pthread_mutex_unlock(&s->mu);
		free(j);
		return STORE_EDOWN;
	}
	*s->qtail = j;
	s->qtail = &j->next;
	if(!s->go) {
		s->go = 1;
		pthread_cond_signal(&s->rwake);
	}
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

/* Every retained event of topic up to seq last, oldest first; *skipped
 * the newest it left out as older than cut. */
static int restore_topic(redisContext *c, const redisReply *topic, uint64_t last, uint64_t cut,
			 uint64_t *skipped, store_each_fn each, void *ud, char *err, size_t errlen)
{
	char from[32] = "-", to[32];
	int rc = 0;

	snprintf(to, sizeof(to), "%" PRIu64 "-0", last);
	for(;;) {
		redisReply *r = redisCommand(c, "XRANGE " REDIS_PREFIX "h:%b %s %s COUNT 1000",
					     topic->str, topic->len, from, to);
		size_t i;

		if(!r) {
			snprintf(err, errlen, "redis: %s", c->errstr);
			return STORE_EDOWN;
		}
		if(r->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errlen, "redis: XRANGE: %s",
				 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			freeReplyObject(r);
			return STORE_EIO;
		}
		for(i = 0; i < r->elements && !rc; i++) {
			const redisReply *e = r->element[i], *f, *u, *id;
			struct store_ev ev;

			if(e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			   e->element[0]->type != REDIS_REPLY_STRING ||
			   e->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			f = redis_field(e->element[1], "f");
			u = redis_field(e->element[1], "u");
			id = redis_field(e->element[1], "i");
			if(!f)
				continue;
			memset(&ev, 0, sizeof(ev));
			ev.seq = redis_u64(e->element[0]->str, e->element[0]->len);
			ev.time_us = redis_reply_u64(u);
			if(ev.time_us < cut) {
				*skipped = ev.seq;
				continue;
			}
			ev.topic = topic->str;
			ev.tlen = topic->len;
			ev.id = id ? id->str : NULL;
			ev.idlen = id ? id->len : 0;
			ev.frame = f->str;
			ev.flen = f->len;
			rc = each(ud, &ev);
		}
		if(r->elements < 1000 || rc) {
			freeReplyObject(r);
			return rc;
		}
		snprintf(from, sizeof(from), "(%.*s", (int)r->element[r->elements - 1]->element[0]->len,
			 r->element[r->elements - 1]->element[0]->str);
		freeReplyObject(r);
	}
}

/*
 * The newest event of topic the history no longer has: the highest id
 * XDEL took from h:TOPIC (XINFO STREAM's max-deleted-entry-id, Redis 7.0
 * on; 0 when none, or from an older Redis), or skipped, if newer. Noted
 * in s for the floors op; 0 when there is none, or on an error (the hub
 * then takes the seq before the topic's oldest restored event).
 */
static int note_floor(struct rstore *s, redisContext *c, const redisReply *topic, uint64_t skipped)
{
	redisReply *r = redisCommand(c, "XINFO STREAM " REDIS_PREFIX "h:%b", topic->str, topic->len);
	const redisReply *m = NULL;
	uint64_t seq = skipped, del;
	struct rfloor *f;

	if(!r)
		return STORE_EDOWN;
	if(r->type == REDIS_REPLY_ARRAY)
		m = redis_field(r, "max-deleted-entry-id");
	if(m && m->type == REDIS_REPLY_STRING) {
		del = redis_u64(m->str, m->len);
		if(del > seq)
			seq = del;
	}
	freeReplyObject(r);
	if(!seq)
		return 0;
	f = realloc(s->floors, (s->nfloors + 1) * sizeof(*f));
	if(!f)
		return STORE_ENOMEM;
	s->floors = f;
	f += s->nfloors;
	f->topic = malloc(topic->len ? topic->len : 1);
	if(!f->topic)
		return STORE_ENOMEM;
	memcpy(f->topic, topic->str, topic->len);
	f->tlen = topic->len;
	f->seq = seq;
	s->nfloors++;
	return 0;
}

static void floors_free(struct rstore *s)
{
	size_t i;

	for(i = 0; i < s->nfloors; i++)
		free(s->floors[i].topic);
	free(s->floors);
	s->floors = NULL;
	s->nfloors = 0;
}

static int rs_restore(struct store *st, store_each_fn each, void *ud,
		      uint64_t *last_seq, uint64_t *since_seq)
{
	struct rstore *s = (struct rstore *)st;
	char err[256], sha[41] = "";
	uint64_t floor, cut = 0;
	redisContext *c;
	redisReply *r = NULL;
	struct redis_hello h;
	size_t i;
	int rc;

	c = redis_dial(&s->addr, CONNECT_MS, CMD_MS, err, sizeof(err));
	if(!c)
		return STORE_EDOWN;
	pthread_mutex_lock(&s->mu);
	floor = s->floor;
	pthread_mutex_unlock(&s->mu);
	rc = redis_script_hello(c, sha, &s->lim, s->logmax, floor, &h, err, sizeof(err));
	if(rc)
		goto out;
	r = redisCommand(c, "SMEMBERS " REDIS_PREFIX "topics");
	if(!r || r->type != REDIS_REPLY_ARRAY) {
		rc = r ? STORE_EIO : STORE_EDOWN;
		goto out;
	}
	if(s->lim.history_age_us)
		cut = store_redis__now_us(CLOCK_REALTIME) - s->lim.history_age_us;
	floors_free(s);
	for(i = 0; i < r->elements && !rc; i++) {
		uint64_t skipped = 0;

		if(r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		rc = restore_topic(c, r->element[i], h.last, cut, &skipped, each, ud, err, sizeof(err));
		if(!rc && (rc = note_floor(s, c, r->element[i], skipped)) == STORE_EDOWN)
			snprintf(err, sizeof(err), "redis: %s", c->errstr);
	}
	if(rc)
		goto out;
	pthread_mutex_lock(&s->mu);
	if(!s->go) {
		s->start = h.last;
		s->start_n = s->applied_n = h.n;
		if(h.n > s->log_n)
			s->log_n = h.n;
		s->applied = h.last;
		snprintf(s->epoch, sizeof(s->epoch), "%s", h.epoch);
		s->go = 1;
		pthread_cond_signal(&s->rwake);
	}
	if(h.last > s->floor)
		s->floor = h.last;
	s->since = h.since;
	pthread_mutex_unlock(&s->mu);
	*last_seq = h.last;
	*since_seq = h.since;
out:
	if(r)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

/* Each restored topic's newest event gone from its history (restore
 * noted them), once. */
static int rs_floors(struct store *st, store_floor_fn fn, void *ud)
{
	struct rstore *s = (struct rstore *)st;
	size_t i;
	int rc = 0;

	for(i = 0; i < s->nfloors && !rc; i++)
		rc = fn(ud, s->floors[i].topic, s->floors[i].tlen, s->floors[i].seq);
	floors_free(s);
	return rc;
}

/* Nodes share the history and Redis applies the limits with each append:
 * one node's ring eviction must not cut what the others serve. */
static void rs_trim(struct store *st, const char *topic, size_t tlen, uint64_t below)
{
	(void)st;
	(void)topic;
	(void)tlen;
	(void)below;
}

static void rs_stats(struct store *st, struct store_stats *out)
{
	struct rstore *s = (struct rstore *)st;

	pthread_mutex_lock(&s->mu);
	*out = s->st;
	out->connected = s->up;
	out->behind = s->log_n > s->applied_n ? s->log_n - s->applied_n : 0;
	pthread_mutex_unlock(&s->mu);
}

static void rs_free(struct rstore *s)
{
	floors_free(s);
	redis_addr_free(&s->addr);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->rwake);
	pthread_cond_destroy(&s->drained);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void rs_close(struct store *st)
{
	struct rstore *s = (struct rstore *)st;
	struct timespec until;
	struct job *list;

	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->writer, NULL);

	/* Stored appends wait for the reader's commit, a while at most. */
	store_redis__deadline(&until, ACK_WAIT_MS);
	pthread_mutex_lock(&s->mu);
	while(s->wait && s->go &&
	      pthread_cond_timedwait(&s->drained, &s->mu, &until) != ETIMEDOUT)
		;
	s->rstop = 1;
	if(s->rfd >= 0)
		shutdown(s->rfd, SHUT_RDWR);
	pthread_cond_signal(&s->rwake);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->reader, NULL);
	list = store_redis__take_done(s, UINT64_MAX, 0);
	store_redis__finish(list, STORE_OK);
	rs_free(s);
}

static const struct store_ops redis_ops = {
	.name = "redis",
	.shared = 1,
	.append = rs_append,
	.restore = rs_restore,
	.floors = rs_floors,
	.read_before = NULL,
	.trim = rs_trim,
	.stats = rs_stats,
	.close = rs_close,
};

struct store *store_redis_open(const char *url, const char *password,
			       const struct store_limits *lim,
			       const struct store_sink *sink,
			       char *err, size_t errlen)
{
	struct rstore *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	char sha[41] = "";
	struct redis_hello h;

	if(!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if(redis_addr_parse(&s->addr, url, err, errlen)) {
		redis_addr_free(&s->addr);
		free(s);
		return NULL;
	}
	if(password && redis_addr_password(&s->addr, password)) {
		snprintf(err, errlen, "out of memory");
		redis_addr_free(&s->addr);
		free(s);
		return NULL;
	}
	s->base.ops = &redis_ops;
	s->base.sink = *sink;
	if(lim)
		s->lim = *lim;
	snprintf(s->logmax, sizeof(s->logmax), "%ld", s->addr.log ? s->addr.log : LOG_DEFAULT);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_cond_init(&s->rwake, &ca);
	pthread_cond_init(&s->drained, &ca);
	pthread_condattr_destroy(&ca);
	s->qtail = &s->queue;
	s->wtail = &s->wait;
	s->rfd = -1;

	s->wc = redis_dial(&s->addr, CONNECT_MS, CMD_MS, err, errlen);
	if(!s->wc)
		goto fail;
	if(redis_script_hello(s->wc, sha, &s->lim, s->logmax, 0, &h, err, errlen))
		goto fail;
	s->start = s->applied = s->floor = h.last;
	s->start_n = s->applied_n = s->log_n = h.n;
	s->since = h.since;
	snprintf(s->epoch, sizeof(s->epoch), "%s", h.epoch);
	s->up = 1;
	if(pthread_create(&s->writer, NULL, writer_main, s)) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	if(pthread_create(&s->reader, NULL, store_redis__reader, s)) {
		snprintf(err, errlen, "cannot start a thread");
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		rs_free(s);
		return NULL;
	}
	return &s->base;
fail:
	if(s->wc)
		redisFree(s->wc);
	rs_free(s);
	return NULL;
}
