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
 * behind, and is capped by length.
 *
 * Delivery between nodes comes from the log, never from PUB/SUB: a reader
 * thread per node XREADs it from the last seq it applied (after a
 * reconnect too) and commits every event, its own node's included, so all
 * nodes apply one order. Each entry names its predecessor (p): an entry
 * whose p is not the reader's last seq means entries were trimmed before
 * the reader got them, or Redis lost them; the reader then calls
 * sink->lost. An idle reader checks epoch and last once per BLOCK timeout,
 * which catches a Redis that lost everything while nothing is published.
 *
 * Threads: the writer owns one connection and runs the script for every
 * append queued while the previous call was in flight (group commit); the
 * reader owns another. An append stored in Redis waits in a list until
 * the reader has committed its last seq, then its done runs (from the
 * reader, or from the writer after ACK_WAIT_MS without the reader).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "redis_conn.h"
#include "store.h"

#define CONNECT_MS 500
#define CMD_MS 1000           /* a write that takes longer fails: Redis is down */
#define BLOCK_MS 500          /* the reader's XREAD BLOCK, and its idle checks */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define ACK_WAIT_MS 2000
#define BATCH_EVENTS 1024     /* events per script call */
#define BATCH_BYTES (4u << 20)
#define READ_COUNT 512        /* log entries per XREAD */
#define LOG_DEFAULT 100000

/*
 * ARGV: 1 key prefix, 2 mode ("h": hello, "a": append), 3 the node's floor,
 * 4 a fresh epoch should none exist, 5 history, 6 history bytes, 7 history
 * age µs, 8 log length, 9 events, then per event topic, id ("" none, or
 * "=" and the id), frame, time_us.
 * "h" replies {epoch, since, last, n}; "a" replies {first seq, n}.
 * Numbers are doubles in Lua: exact below 2^53, which µs reach in 2255.
 */
static const char script[] =
"local P = ARGV[1]\n"
"local function f(x) return string.format('%.0f', x) end\n"
"local t = redis.call('TIME')\n"
"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"local floor = tonumber(ARGV[3])\n"
"local last = tonumber(redis.call('GET', P .. 'last') or '0')\n"
"local n = tonumber(redis.call('GET', P .. 'n') or '0')\n"
"local epoch = redis.call('GET', P .. 'epoch')\n"
"if not epoch then\n"
"  epoch = ARGV[4]\n"
"  local since = math.max(now, last + 1, floor + 1)\n"
"  redis.call('SET', P .. 'epoch', epoch)\n"
"  redis.call('SET', P .. 'since', f(since))\n"
"  last = since - 1\n"
"  redis.call('SET', P .. 'last', f(last))\n"
"end\n"
"if ARGV[2] == 'h' then\n"
"  return {epoch, redis.call('GET', P .. 'since'), f(last), f(n)}\n"
"end\n"
"local hist, hbytes, age = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])\n"
"local logmax, cnt = ARGV[8], tonumber(ARGV[9])\n"
"local seq = math.max(now, last + 1, floor + 1)\n"
"local first = seq\n"
"local touched = {}\n"
"local i = 10\n"
"for k = 1, cnt do\n"
"  local topic, id, frame, tu = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
"  i = i + 4\n"
"  local sid = f(seq) .. '-0'\n"
"  n = n + 1\n"
"  local idlen = #f(seq)\n"
"  if #id > 0 then\n"
"    id = string.sub(id, 2)\n"
"    idlen = #id\n"
"    redis.call('XADD', P .. 'log', 'MAXLEN', '~', logmax, sid, 't', topic, 'f', frame,\n"
"               'u', tu, 'p', f(last), 'n', f(n), 'i', id)\n"
"    redis.call('XADD', P .. 'h:' .. topic, sid, 'f', frame, 'u', tu, 'i', id)\n"
"  else\n"
"    redis.call('XADD', P .. 'log', 'MAXLEN', '~', logmax, sid, 't', topic, 'f', frame,\n"
"               'u', tu, 'p', f(last), 'n', f(n))\n"
"    redis.call('XADD', P .. 'h:' .. topic, sid, 'f', frame, 'u', tu)\n"
"  end\n"
"  redis.call('INCRBY', P .. 'b:' .. topic, #frame + idlen + 5)\n"
"  touched[topic] = true\n"
"  last = seq\n"
"  seq = seq + 1\n"
"end\n"
"redis.call('SET', P .. 'last', f(last))\n"
"redis.call('SET', P .. 'n', f(n))\n"
"redis.call('INCRBY', P .. 'count', cnt)\n"
"local cut = 0\n"
"if age > 0 then cut = now - age end\n"
"for topic in pairs(touched) do\n"
"  local hk, bk = P .. 'h:' .. topic, P .. 'b:' .. topic\n"
"  local len = redis.call('XLEN', hk)\n"
"  local bytes = tonumber(redis.call('GET', bk) or '0')\n"
"  local gone = 0\n"
"  redis.call('SADD', P .. 'topics', topic)\n"
"  while len > 0 do\n"
"    local old = redis.call('XRANGE', hk, '-', '+', 'COUNT', 1)[1]\n"
"    local fl, size, tu, idlen = old[2], 5, 0, nil\n"
"    for j = 1, #fl, 2 do\n"
"      if fl[j] == 'f' then size = size + #fl[j + 1]\n"
"      elseif fl[j] == 'u' then tu = tonumber(fl[j + 1])\n"
"      elseif fl[j] == 'i' then idlen = #fl[j + 1] end\n"
"    end\n"
"    size = size + (idlen or #string.match(old[1], '^%d+'))\n"
"    if not ((hist > 0 and len > hist) or (hbytes > 0 and bytes > hbytes and len > 1)\n"
"            or tu < cut) then break end\n"
"    redis.call('XDEL', hk, old[1])\n"
"    len = len - 1\n"
"    bytes = bytes - size\n"
"    gone = gone + 1\n"
"  end\n"
"  if len == 0 then\n"
"    redis.call('DEL', hk, bk)\n"
"    redis.call('SREM', P .. 'topics', topic)\n"
"  else\n"
"    redis.call('SET', bk, f(bytes))\n"
"  end\n"
"  if gone > 0 then redis.call('DECRBY', P .. 'count', gone) end\n"
"end\n"
"return {first, n}\n";

#define PREFIX "ssed:"

/* One append: the caller's events (for their seqs) and our copies. */
struct job {
	struct job *next;
	struct store_ev *user;     /* the caller's array: seqs go there */
	size_t n;
	store_done_fn done;
	void *arg;
	uint64_t last;             /* the seq of its last event, once stored */
	uint64_t stored_us;        /* when the script returned */
	size_t bytes;              /* copied bytes, for the batch cap */
	int rc;
	struct job_ev {
		const char *topic, *id, *frame;   /* id: "" or "=" + id */
		size_t tlen, idlen, flen;
		char tu[24];
	} ev[];
};

struct rstore {
	struct store base;            /* first: ops and sink */
	struct redis_addr addr;
	struct store_limits lim;
	char logmax[24];

	pthread_mutex_t mu;
	pthread_cond_t wake;          /* the writer: queue, stop */
	pthread_cond_t rwake;         /* the reader: go, stop */
	pthread_cond_t drained;       /* close: the queue is empty */
	struct job *queue, **qtail;   /* appends waiting for the script */
	struct job *wait, **wtail;    /* stored, waiting for the reader */
	int inflight;
	int up;                       /* the writer's connection is there */
	int stop, rstop, go;
	int wfd, rfd;                 /* for shutdown() at close; -1 none */
	uint64_t applied;             /* the reader has committed up to here */
	uint64_t floor;               /* the highest seq this node has seen */
	uint64_t start, start_n;      /* where the reader starts: seq, entry number */
	uint64_t log_n, applied_n;    /* the log's entries as last seen, and the
				       * number of the last one committed */
	uint64_t since;
	char epoch[64];

	struct store_stats st;
	redisContext *wc;             /* the writer's, owned by it after open */
	pthread_t writer, reader;
};

static uint64_t now_us(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if(ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void new_epoch(char *buf, size_t len)
{
	unsigned char r[12];
	size_t i;

	if(getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = now_us(CLOCK_REALTIME) ^ (uint64_t)(uintptr_t)buf;

		for(i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(t >> (i % 8 * 8));
	}
	for(i = 0; i < sizeof(r) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

static uint64_t str_u64(const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for(i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v;
}

static uint64_t reply_u64(const redisReply *r)
{
	if(!r)
		return 0;
	if(r->type == REDIS_REPLY_INTEGER)
		return r->integer > 0 ? (uint64_t)r->integer : 0;
	if(r->type == REDIS_REPLY_STRING)
		return str_u64(r->str, r->len);
	return 0;
}

/* ---- the script */

static int load_script(redisContext *c, char *sha, char *err, size_t errlen)
{
	redisReply *r = redisCommand(c, "SCRIPT LOAD %s", script);
	int rc = -1;

	if(!r)
		snprintf(err, errlen, "redis: SCRIPT LOAD: %s", c->errstr);
	else if(r->type != REDIS_REPLY_STRING || r->len != 40)
		snprintf(err, errlen, "redis: SCRIPT LOAD: %s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	else {
		memcpy(sha, r->str, 40);
		sha[40] = 0;
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

/*
 * Run the script with argv[3..argc) as ARGV (argv[0..3) are filled here);
 * sha is the connection's script digest, loaded when empty and again when
 * Redis forgot it (restart, SCRIPT FLUSH). The reply, or NULL with a
 * reason in errmsg: the connection failed (c->err set) or Redis answered
 * an error.
 */
static redisReply *run(redisContext *c, char *sha, const char **argv, size_t *argvlen,
		       int argc, char *errmsg, size_t errlen)
{
	int tries;

	for(tries = 0; tries < 2; tries++) {
		redisReply *r;

		if(!sha[0] && load_script(c, sha, errmsg, errlen))
			return NULL;
		argv[0] = "EVALSHA";
		argvlen[0] = 7;
		argv[1] = sha;
		argvlen[1] = 40;
		argv[2] = "0";
		argvlen[2] = 1;
		r = redisCommandArgv(c, argc, argv, argvlen);
		if(!r) {
			snprintf(errmsg, errlen, "redis: %s", c->errstr);
			return NULL;
		}
		if(r->type != REDIS_REPLY_ERROR)
			return r;
		snprintf(errmsg, errlen, "redis: %s", r->str);
		sha[0] = 0;
		if(strncmp(r->str, "NOSCRIPT", 8)) {
			freeReplyObject(r);
			return NULL;
		}
		freeReplyObject(r);
	}
	return NULL;
}

/* ARGV 1..9 of the script (argv[3..12)); the strings live in h. */
struct head {
	char floor[24], epoch[64], hist[24], hbytes[24], age[24], cnt[24];
};

#define HEAD_ARGS 12

static void head_args(const struct rstore *s, const char *mode, uint64_t floor, size_t cnt,
		      struct head *h, const char **argv, size_t *len)
{
	int i;

	snprintf(h->floor, sizeof(h->floor), "%" PRIu64, floor);
	new_epoch(h->epoch, sizeof(h->epoch));
	snprintf(h->hist, sizeof(h->hist), "%zu", s->lim.history);
	snprintf(h->hbytes, sizeof(h->hbytes), "%zu", s->lim.history_bytes);
	snprintf(h->age, sizeof(h->age), "%" PRIu64, s->lim.history_age_us);
	snprintf(h->cnt, sizeof(h->cnt), "%zu", cnt);
	argv[3] = PREFIX;
	argv[4] = mode;
	argv[5] = h->floor;
	argv[6] = h->epoch;
	argv[7] = h->hist;
	argv[8] = h->hbytes;
	argv[9] = h->age;
	argv[10] = s->logmax;
	argv[11] = h->cnt;
	for(i = 3; i < HEAD_ARGS; i++)
		len[i] = strlen(argv[i]);
}

struct hello {
	char epoch[64];
	uint64_t since, last, n;
};

/* The script in mode "h": start an epoch when there is none, and say
 * where the data set is. 0, STORE_EDOWN or STORE_EIO with err. */
static int hello(struct rstore *s, redisContext *c, char *sha, uint64_t floor,
		 struct hello *out, char *err, size_t errlen)
{
	const char *argv[HEAD_ARGS];
	size_t len[HEAD_ARGS];
	struct head h;
	redisReply *r;
	int rc = STORE_EIO;

	head_args(s, "h", floor, 0, &h, argv, len);
	r = run(c, sha, argv, len, HEAD_ARGS, err, errlen);
	if(!r)
		return c->err ? STORE_EDOWN : STORE_EIO;
	if(r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
	   r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(out->epoch, sizeof(out->epoch), "%.*s",
			 (int)r->element[0]->len, r->element[0]->str);
		out->since = reply_u64(r->element[1]);
		out->last = reply_u64(r->element[2]);
		out->n = reply_u64(r->element[3]);
		rc = 0;
	} else {
		snprintf(err, errlen, "redis: unexpected reply to the hello script");
	}
	freeReplyObject(r);
	return rc;
}

/* ---- the writer */

/* Run done for every job of list with rc (STORE_OK: they were stored),
 * then free them. Called with no lock held. */
static void finish(struct job *list, int rc)
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
static struct job *take_done(struct rstore *s, uint64_t applied, uint64_t late)
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

/* Store the jobs of batch (ne events) in one script call; *log_n gets
 * the log's entry count after it. 0, or a store_err: STORE_EDOWN when the
 * connection failed. */
static int store_batch(struct rstore *s, redisContext *c, char *sha, struct job *batch,
		       size_t ne, uint64_t floor, uint64_t *log_n)
{
	size_t argc = HEAD_ARGS + 4 * ne, k = HEAD_ARGS, i;
	const char **argv = malloc(argc * sizeof(*argv));
	size_t *len = malloc(argc * sizeof(*len));
	char errmsg[256];
	struct head h;
	struct job *j;
	redisReply *r;
	uint64_t seq;
	int rc = STORE_EIO;

	if(!argv || !len) {
		free(argv);
		free(len);
		return STORE_ENOMEM;
	}
	head_args(s, "a", floor, ne, &h, argv, len);
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
	r = run(c, sha, argv, len, (int)argc, errmsg, sizeof(errmsg));
	free(argv);
	free(len);
	if(!r)
		return c->err ? STORE_EDOWN : strstr(errmsg, "OOM") ? STORE_EFULL : STORE_EIO;
	if(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	   r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer > 0) {
		seq = (uint64_t)r->element[0]->integer;
		*log_n = reply_u64(r->element[1]);
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

static int backoff_next(int ms)
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

		t0 = now_us(CLOCK_MONOTONIC);
		list = take_done(s, s->applied, t0 > ACK_WAIT_MS * 1000u ? t0 - ACK_WAIT_MS * 1000u : 0);
		if(list) {
			pthread_mutex_unlock(&s->mu);
			finish(list, STORE_OK);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if(!c) {
			struct timespec until;

			if(s->stop)
				break;
			deadline(&until, backoff);
			while(!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &until) != ETIMEDOUT)
				;
			if(s->stop)
				break;
			pthread_mutex_unlock(&s->mu);
			c = redis_dial(&s->addr, CONNECT_MS, CMD_MS, err, sizeof(err));
			pthread_mutex_lock(&s->mu);
			if(c) {
				s->up = 1;
				s->wfd = c->fd;
				s->st.reconnects++;
				sha[0] = 0;
				backoff = 0;
			} else {
				backoff = backoff_next(backoff);
			}
			continue;
		}
		if(!s->queue) {
			struct timespec until;

			if(s->stop)
				break;
			pthread_cond_broadcast(&s->drained);
			if(s->wait) {
				deadline(&until, 100);
				pthread_cond_timedwait(&s->wake, &s->mu, &until);
			} else {
				pthread_cond_wait(&s->wake, &s->mu);
			}
			continue;
		}
		list = take_batch(s, &ne);
		floor = s->floor;
		s->inflight = 1;
		pthread_mutex_unlock(&s->mu);

		t0 = now_us(CLOCK_MONOTONIC);
		rc = store_batch(s, c, sha, list, ne, floor, &log_n);
		if(rc == STORE_EDOWN) {
			pthread_mutex_lock(&s->mu);
			s->up = 0;
			s->wfd = -1;
			pthread_mutex_unlock(&s->mu);
			redisFree(c);
			c = NULL;
		}

		pthread_mutex_lock(&s->mu);
		s->inflight = 0;
		if(rc == 0) {
			uint64_t t1 = now_us(CLOCK_MONOTONIC), us = t1 - t0;
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
		finish(fail, rc);
		pthread_mutex_lock(&s->mu);
	}
	/* Stopping: nothing may stay queued (appends after close are a bug). */
	{
		struct job *fail = s->queue;

		s->queue = NULL;
		s->qtail = &s->queue;
		s->up = 0;
		s->wfd = -1;
		pthread_mutex_unlock(&s->mu);
		finish(fail, STORE_EDOWN);
	}
	if(c)
		redisFree(c);
	return NULL;
}

/* ---- the reader */

struct rpos {
	uint64_t seq;          /* the last log entry committed */
	uint64_t n;            /* its number */
	uint64_t lost_upto;    /* the highest upto given to sink->lost */
	char epoch[64];        /* the epoch this node believes in; "" none */
};

static void report_lost(struct rstore *s, struct rpos *p, uint64_t upto)
{
	if(upto <= p->lost_upto)
		return;
	p->lost_upto = upto;
	s->base.sink.lost(s->base.sink.ud, upto);
}

/*
 * Is Redis's data set still the one this node read? A changed or missing
 * epoch, or a last seq below what the node committed, means Redis lost
 * data. Also refreshes the figures stats() reports. 0, or -1 when the
 * connection failed.
 */
static int check(struct rstore *s, redisContext *c, struct rpos *p)
{
	redisReply *r = redisCommand(c, "MGET " PREFIX "epoch " PREFIX "last " PREFIX "n " PREFIX "count");
	uint64_t last, n, count, mem = 0;
	char epoch[64] = "";

	if(!r)
		return -1;
	if(r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
		freeReplyObject(r);
		return 0;
	}
	if(r->element[0]->type == REDIS_REPLY_STRING)
		snprintf(epoch, sizeof(epoch), "%.*s", (int)r->element[0]->len, r->element[0]->str);
	last = reply_u64(r->element[1]);
	n = reply_u64(r->element[2]);
	count = reply_u64(r->element[3]);
	freeReplyObject(r);
	if(strcmp(epoch, p->epoch) || last < p->seq) {
		report_lost(s, p, p->seq);
		snprintf(p->epoch, sizeof(p->epoch), "%s", epoch);
		p->n = n;
	}
	r = redisCommand(c, "INFO memory");
	if(!r)
		return -1;
	if(r->type == REDIS_REPLY_STRING) {
		const char *m = strstr(r->str, "used_memory:");

		if(m)
			mem = str_u64(m + 12, strlen(m + 12));
	}
	freeReplyObject(r);
	pthread_mutex_lock(&s->mu);
	s->st.events = count;
	s->st.bytes = mem;
	s->applied_n = p->n;
	s->log_n = n;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static const redisReply *field(const redisReply *f, const char *name)
{
	size_t i;

	for(i = 0; i + 1 < f->elements; i += 2)
		if(f->element[i]->type == REDIS_REPLY_STRING && !strcmp(f->element[i]->str, name))
			return f->element[i + 1];
	return NULL;
}

static void commit(struct rstore *s, struct store_ev *ev, size_t n)
{
	if(n)
		s->base.sink.commit(s->base.sink.ud, ev, n);
}

/* Commit the entries of an XREAD reply, in order, with lost() where the
 * chain of predecessors breaks; then let the appends they finish go. */
static void apply(struct rstore *s, const redisReply *r, struct rpos *p)
{
	const redisReply *ents;
	struct store_ev *ev;
	struct job *list;
	size_t i, k = 0;

	if(r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
	   r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2)
		return;
	ents = r->element[0]->element[1];
	if(ents->type != REDIS_REPLY_ARRAY || !ents->elements)
		return;
	ev = calloc(ents->elements, sizeof(*ev));
	for(i = 0; i < ents->elements; i++) {
		const redisReply *e = ents->element[i], *t, *f, *u, *id, *pr, *n;
		uint64_t seq, prev;

		if(e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		   e->element[0]->type != REDIS_REPLY_STRING ||
		   e->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		seq = str_u64(e->element[0]->str, e->element[0]->len);
		t = field(e->element[1], "t");
		f = field(e->element[1], "f");
		u = field(e->element[1], "u");
		id = field(e->element[1], "i");
		pr = field(e->element[1], "p");
		n = field(e->element[1], "n");
		if(seq <= p->seq)
			continue;
		if(!t || !f || !pr) {
			/* Not ours (someone else wrote to the log): step over it;
			 * the next entry names it as its predecessor. */
			p->seq = seq;
			continue;
		}
		prev = reply_u64(pr);
		if(prev != p->seq || !ev) {
			/* Entries between were trimmed or lost: say so in order. */
			if(ev)
				commit(s, ev, k);
			k = 0;
			report_lost(s, p, prev > p->seq ? prev : p->seq);
		}
		if(ev) {
			ev[k].seq = seq;
			ev[k].time_us = reply_u64(u);
			ev[k].topic = t->str;
			ev[k].tlen = t->len;
			ev[k].id = id ? id->str : NULL;
			ev[k].idlen = id ? id->len : 0;
			ev[k].frame = f->str;
			ev[k].flen = f->len;
			k++;
		}
		p->seq = seq;
		p->n = reply_u64(n);
	}
	if(ev)
		commit(s, ev, k);
	free(ev);

	pthread_mutex_lock(&s->mu);
	s->applied = p->seq;
	s->applied_n = p->n;
	if(p->n > s->log_n)
		s->log_n = p->n;
	if(p->seq > s->floor)
		s->floor = p->seq;
	list = take_done(s, s->applied, 0);
	if(!s->wait)
		pthread_cond_broadcast(&s->drained);
	pthread_mutex_unlock(&s->mu);
	finish(list, STORE_OK);
}

static void *reader_main(void *arg)
{
	struct rstore *s = arg;
	redisContext *c = NULL;
	struct rpos p;
	uint64_t next_check = 0;
	int backoff = 0, lost_conn = 0;
	char err[256], from[32];

	memset(&p, 0, sizeof(p));
	pthread_mutex_lock(&s->mu);
	while(!s->go && !s->rstop)
		pthread_cond_wait(&s->rwake, &s->mu);
	p.seq = s->start;
	p.n = s->start_n;
	snprintf(p.epoch, sizeof(p.epoch), "%s", s->epoch);
	while(!s->rstop) {
		redisReply *r;
		uint64_t t;

		if(!c) {
			struct timespec until;

			deadline(&until, backoff);
			while(lost_conn && !s->rstop &&
			      pthread_cond_timedwait(&s->rwake, &s->mu, &until) != ETIMEDOUT)
				;
			if(s->rstop)
				break;
			pthread_mutex_unlock(&s->mu);
			c = redis_dial(&s->addr, CONNECT_MS, BLOCK_MS + CMD_MS, err, sizeof(err));
			pthread_mutex_lock(&s->mu);
			if(!c) {
				lost_conn = 1;
				backoff = backoff_next(backoff);
				continue;
			}
			s->rfd = c->fd;
			if(lost_conn)
				s->st.reconnects++;
			lost_conn = 0;
			backoff = 0;
			next_check = 0;
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		t = now_us(CLOCK_MONOTONIC);
		r = NULL;
		if(t >= next_check) {
			next_check = t + BLOCK_MS * 1000u;
			if(check(s, c, &p))
				goto broken;
		}
		snprintf(from, sizeof(from), "%" PRIu64 "-0", p.seq);
		r = redisCommand(c, "XREAD COUNT %d BLOCK %d STREAMS " PREFIX "log %s",
				 READ_COUNT, BLOCK_MS, from);
		if(!r)
			goto broken;
		if(r->type == REDIS_REPLY_ERROR) {
			/* LOADING after a restart, or worse: try again later. */
			freeReplyObject(r);
			goto broken;
		}
		if(r->type == REDIS_REPLY_NIL)
			next_check = 0;   /* idle: check the data set now */
		else
			apply(s, r, &p);
		freeReplyObject(r);
		pthread_mutex_lock(&s->mu);
		continue;
broken:
		pthread_mutex_lock(&s->mu);
		s->rfd = -1;
		pthread_mutex_unlock(&s->mu);
		redisFree(c);
		c = NULL;
		pthread_mutex_lock(&s->mu);
		lost_conn = 1;
	}
	s->rfd = -1;
	pthread_mutex_unlock(&s->mu);
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

	if(!n) {
		done(arg, STORE_OK);
		return STORE_OK;
	}
	pthread_mutex_lock(&s->mu);
	i = (size_t)s->up;
	pthread_mutex_unlock(&s->mu);
	if(!i)
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

/* Every retained event of topic up to seq last, oldest first. */
static int restore_topic(redisContext *c, const redisReply *topic, uint64_t last, uint64_t cut,
			 store_each_fn each, void *ud, char *err, size_t errlen)
{
	char from[32] = "-", to[32];
	int rc = 0;

	snprintf(to, sizeof(to), "%" PRIu64 "-0", last);
	for(;;) {
		redisReply *r = redisCommand(c, "XRANGE " PREFIX "h:%b %s %s COUNT 1000",
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
			f = field(e->element[1], "f");
			u = field(e->element[1], "u");
			id = field(e->element[1], "i");
			if(!f)
				continue;
			memset(&ev, 0, sizeof(ev));
			ev.seq = str_u64(e->element[0]->str, e->element[0]->len);
			ev.time_us = reply_u64(u);
			if(ev.time_us < cut)
				continue;
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

static int rs_restore(struct store *st, store_each_fn each, void *ud,
		      uint64_t *last_seq, uint64_t *since_seq)
{
	struct rstore *s = (struct rstore *)st;
	char err[256], sha[41] = "";
	uint64_t floor, cut = 0;
	redisContext *c;
	redisReply *r = NULL;
	struct hello h;
	size_t i;
	int rc;

	c = redis_dial(&s->addr, CONNECT_MS, CMD_MS, err, sizeof(err));
	if(!c)
		return STORE_EDOWN;
	pthread_mutex_lock(&s->mu);
	floor = s->floor;
	pthread_mutex_unlock(&s->mu);
	rc = hello(s, c, sha, floor, &h, err, sizeof(err));
	if(rc)
		goto out;
	r = redisCommand(c, "SMEMBERS " PREFIX "topics");
	if(!r || r->type != REDIS_REPLY_ARRAY) {
		rc = r ? STORE_EIO : STORE_EDOWN;
		goto out;
	}
	if(s->lim.history_age_us)
		cut = now_us(CLOCK_REALTIME) - s->lim.history_age_us;
	for(i = 0; i < r->elements && !rc; i++)
		if(r->element[i]->type == REDIS_REPLY_STRING)
			rc = restore_topic(c, r->element[i], h.last, cut, each, ud, err, sizeof(err));
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
	deadline(&until, ACK_WAIT_MS);
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
	list = take_done(s, UINT64_MAX, 0);
	finish(list, STORE_OK);
	rs_free(s);
}

static const struct store_ops redis_ops = {
	.name = "redis",
	.append = rs_append,
	.restore = rs_restore,
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
	struct hello h;

	if(!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if(redis_addr_parse(&s->addr, url, err, errlen)) {
		redis_addr_free(&s->addr);
		free(s);
		return NULL;
	}
	if(password) {
		if(s->addr.pass)
			redis_addr_free(&(struct redis_addr){ .pass = s->addr.pass });
		s->addr.pass = strdup(password);
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
	s->wfd = s->rfd = -1;

	s->wc = redis_dial(&s->addr, CONNECT_MS, CMD_MS, err, errlen);
	if(!s->wc)
		goto fail;
	if(hello(s, s->wc, sha, 0, &h, err, errlen))
		goto fail;
	s->start = s->applied = s->floor = h.last;
	s->start_n = s->applied_n = s->log_n = h.n;
	s->since = h.since;
	snprintf(s->epoch, sizeof(s->epoch), "%s", h.epoch);
	s->up = 1;
	s->wfd = s->wc->fd;
	if(pthread_create(&s->writer, NULL, writer_main, s)) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	if(pthread_create(&s->reader, NULL, reader_main, s)) {
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
