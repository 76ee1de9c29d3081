/*
 * store_redis_read.c - the Redis backend's reader: one thread per node that
 * XREADs the shared log from the last seq it committed and commits every
 * node's events to the sink in the log's order, with sink->lost where the
 * log no longer holds what the node has not read, or Redis lost its data.
 * See store_redis.c for the whole design.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_redis_int.h"

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
	redisReply *r = redisCommand(c, "MGET " REDIS_PREFIX "epoch " REDIS_PREFIX "last "
				     REDIS_PREFIX "n " REDIS_PREFIX "count " REDIS_PREFIX "since");
	uint64_t last, n, count, since, mem = 0;
	char epoch[64] = "";

	if(!r)
		return -1;
	if(r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
		freeReplyObject(r);
		return 0;
	}
	if(r->element[0]->type == REDIS_REPLY_STRING)
		snprintf(epoch, sizeof(epoch), "%.*s", (int)r->element[0]->len, r->element[0]->str);
	last = redis_reply_u64(r->element[1]);
	n = redis_reply_u64(r->element[2]);
	count = redis_reply_u64(r->element[3]);
	since = redis_reply_u64(r->element[4]);
	freeReplyObject(r);
	if(strcmp(epoch, p->epoch)) {
		/* A node that already reads the new epoch's entries had its
		 * loss reported where the chain of entries broke. */
		if(!epoch[0] || p->seq < since)
			report_lost(s, p, p->seq);
		snprintf(p->epoch, sizeof(p->epoch), "%s", epoch);
		p->n = n;
	} else if(last < p->seq) {
		report_lost(s, p, p->seq);
		p->n = n;
	}
	r = redisCommand(c, "INFO memory");
	if(!r)
		return -1;
	if(r->type == REDIS_REPLY_STRING) {
		const char *m = strstr(r->str, "used_memory:");

		if(m)
			mem = redis_u64(m + 12, strlen(m + 12));
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

static void commit(struct rstore *s, struct store_ev *ev, size_t n)
{
	if(n)
		s->base.sink.commit(s->base.sink.ud, ev, n);
}

static int by_seq(const void *a, const void *b)
{
	const struct store_ev *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The log lost its entries after seq from up to seq to (trimmed before
 * this node read them), want of them. The topics' histories may still
 * hold them: when they hold every one, commit them in seq order and
 * return 1 (no gap); else commit nothing and return 0.
 */
static int recover(struct rstore *s, redisContext *c, uint64_t from, uint64_t to, uint64_t want)
{
	redisReply *topics = NULL, **rs = NULL;
	struct store_ev *ev = NULL;
	char lo[32], hi[32];
	size_t i, j, k = 0;
	int ok = 0;

	if(!want || want > RECOVER_MAX)
		return 0;
	topics = redisCommand(c, "SMEMBERS " REDIS_PREFIX "topics");
	if(!topics || topics->type != REDIS_REPLY_ARRAY)
		goto out;
	rs = calloc(topics->elements + 1, sizeof(*rs));
	ev = calloc(want, sizeof(*ev));
	if(!rs || !ev)
		goto out;
	snprintf(lo, sizeof(lo), "(%" PRIu64 "-0", from);
	snprintf(hi, sizeof(hi), "%" PRIu64 "-0", to);
	/* One round trip for all the topics. */
	for(i = 0; i < topics->elements; i++)
		redisAppendCommand(c, "XRANGE " REDIS_PREFIX "h:%b %s %s", topics->element[i]->str,
				   topics->element[i]->len, lo, hi);
	for(i = 0; i < topics->elements; i++) {
		const redisReply *t = topics->element[i];

		if(redisGetReply(c, (void **)&rs[i]) != REDIS_OK)
			goto out;
		if(rs[i]->type != REDIS_REPLY_ARRAY)
			continue;
		for(j = 0; j < rs[i]->elements; j++) {
			const redisReply *e = rs[i]->element[j], *f, *u, *id;

			if(e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			   e->element[0]->type != REDIS_REPLY_STRING ||
			   e->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			f = redis_field(e->element[1], "f");
			u = redis_field(e->element[1], "u");
			id = redis_field(e->element[1], "i");
			if(!f || k == want)
				goto out;   /* not what the log said was there */
			ev[k].seq = redis_u64(e->element[0]->str, e->element[0]->len);
			ev[k].time_us = redis_reply_u64(u);
			ev[k].topic = t->str;
			ev[k].tlen = t->len;
			ev[k].id = id ? id->str : NULL;
			ev[k].idlen = id ? id->len : 0;
			ev[k].frame = f->str;
			ev[k].flen = f->len;
			k++;
		}
	}
	/* Part of them is a gap all the same: lost() says so, and the part
	 * is not worth a commit the gap makes moot. */
	if(k == want) {
		qsort(ev, k, sizeof(*ev), by_seq);
		commit(s, ev, k);
		ok = 1;
	}
out:
	if(rs)
		for(i = 0; topics && i < topics->elements; i++)
			if(rs[i])
				freeReplyObject(rs[i]);
	free(rs);
	free(ev);
	if(topics)
		freeReplyObject(topics);
	return ok;
}

/* Commit the entries of an XREAD reply, in order; where the chain of
 * predecessors breaks, what the histories still hold, and lost() when that
 * is not all. Then let the appends they finish go. */
static void apply(struct rstore *s, redisContext *c, const redisReply *r, struct rpos *p)
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
		seq = redis_u64(e->element[0]->str, e->element[0]->len);
		t = redis_field(e->element[1], "t");
		f = redis_field(e->element[1], "f");
		u = redis_field(e->element[1], "u");
		id = redis_field(e->element[1], "i");
		pr = redis_field(e->element[1], "p");
		n = redis_field(e->element[1], "n");
		if(seq <= p->seq)
			continue;
		if(!t || !f || !pr) {
			/* Not ours (someone else wrote to the log): step over it;
			 * the next entry names it as its predecessor. */
			p->seq = seq;
			continue;
		}
		prev = redis_reply_u64(pr);
		if(prev != p->seq || !ev) {
			/* Entries between are gone from the log: trimmed (prev
			 * above ours: perhaps still in the histories) or lost
			 * with Redis's data. Commit or report them in order. */
			uint64_t num = redis_reply_u64(n);

			if(ev)
				commit(s, ev, k);
			k = 0;
			if(!ev || prev < p->seq || num <= p->n + 1 ||
			   !recover(s, c, p->seq, prev, num - 1 - p->n))
				report_lost(s, p, prev > p->seq ? prev : p->seq);
		}
		if(ev) {
			ev[k].seq = seq;
			ev[k].time_us = redis_reply_u64(u);
			ev[k].topic = t->str;
			ev[k].tlen = t->len;
			ev[k].id = id ? id->str : NULL;
			ev[k].idlen = id ? id->len : 0;
			ev[k].frame = f->str;
			ev[k].flen = f->len;
			k++;
		}
		p->seq = seq;
		p->n = redis_reply_u64(n);
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
	list = store_redis__take_done(s, s->applied, 0);
	if(!s->wait)
		pthread_cond_broadcast(&s->drained);
	pthread_mutex_unlock(&s->mu);
	store_redis__finish(list, STORE_OK);
}

void *store_redis__reader(void *arg)
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

			store_redis__deadline(&until, backoff);
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
				backoff = store_redis__backoff(backoff);
				continue;
			}
			s->rfd = c->fd;
			if(lost_conn) {
				/* The writer's connection may have died with ours
				 * while it was idle: let it find out now rather
				 * than with the next publish. */
				s->st.reconnects++;
				s->wcheck = 1;
				pthread_cond_signal(&s->wake);
			}
			lost_conn = 0;
			backoff = 0;
			next_check = 0;
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		t = store_redis__now_us(CLOCK_MONOTONIC);
		r = NULL;
		if(t >= next_check) {
			next_check = t + BLOCK_MS * 1000u;
			if(check(s, c, &p))
				goto broken;
		}
		snprintf(from, sizeof(from), "%" PRIu64 "-0", p.seq);
		r = redisCommand(c, "XREAD COUNT %d BLOCK %d STREAMS " REDIS_PREFIX "log %s",
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
			apply(s, c, r, &p);
		freeReplyObject(r);
		pthread_mutex_lock(&s->mu);
		continue;
broken:
		pthread_mutex_lock(&s->mu);
		s->rfd = -1;
		s->wcheck = 1;
		pthread_cond_signal(&s->wake);
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
