/*
 * store_sqlite_topics.c - what the durable store's file holds of each
 * topic, kept in memory so retention needs no index and no query: the
 * seq, size and time of every row, oldest first, in a ring per topic
 * (24 bytes per retained event). A transaction moves a ring's head (rows
 * deleted) and tail (rows inserted); a commit makes that the state a
 * rollback returns to. Retention deletes rows by seq, the table's rowid.
 * Used by the writer thread only, or by open before it starts.
 */
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"

/* ---- Topics the file holds. */

static size_t topic_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603u;

	while(n--)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return (size_t)h;
}

void sq__topics_free(struct sq *s)
{
	struct topic *t, *next;
	size_t i;

	for(i = 0; i < s->tabsize; i++)
		for(t = s->tab[i]; t; t = next) {
			next = t->next;
			free(t->q);
			free(t);
		}
	free(s->tab);
	s->tab = NULL;
	s->tabsize = s->ntopics = 0;
	s->dirty = NULL;
}

struct topic *sq__topic_get(struct sq *s, const char *name, size_t tlen, int create)
{
	struct topic *t, **slot;
	size_t i;

	if(s->tabsize) {
		for(t = s->tab[topic_hash(name, tlen) & (s->tabsize - 1)]; t; t = t->next)
			if(t->tlen == tlen && !memcmp(t->name, name, tlen))
				return t;
	}
	if(!create)
		return NULL;
	if(s->ntopics >= s->tabsize) {
		size_t size = s->tabsize ? s->tabsize * 2 : 64;
		struct topic **tab = calloc(size, sizeof(*tab)), *next;

		if(!tab)
			return NULL;
		for(i = 0; i < s->tabsize; i++)
			for(t = s->tab[i]; t; t = next) {
				next = t->next;
				slot = &tab[topic_hash(t->name, t->tlen) & (size - 1)];
				t->next = *slot;
				*slot = t;
			}
		free(s->tab);
		s->tab = tab;
		s->tabsize = size;
	}
	t = calloc(1, sizeof(*t) + tlen);
	if(!t)
		return NULL;
	memcpy(t->name, name, tlen);
	t->tlen = tlen;
	slot = &s->tab[topic_hash(name, tlen) & (s->tabsize - 1)];
	t->next = *slot;
	*slot = t;
	s->ntopics++;
	return t;
}

static void topic_mark(struct sq *s, struct topic *t)
{
	if(!t->dirty) {
		t->dirty = 1;
		t->dnext = s->dirty;
		s->dirty = t;
	}
}

const struct row *sq__oldest(const struct topic *t)
{
	return t->n ? &t->q[t->head & (t->cap - 1)] : NULL;
}

/* Count one more row of t (seq order). */
int sq__topic_push(struct sq *s, struct topic *t, uint64_t seq, uint64_t tu, uint64_t sz)
{
	size_t used = t->head + t->n - t->head0, c;

	if(used == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct row *q = malloc(cap * sizeof(*q));

		if(!q)
			return SQLITE_NOMEM;
		for(c = t->head0; c < t->head + t->n; c++)
			q[c & (cap - 1)] = t->q[c & (t->cap - 1)];
		free(t->q);
		t->q = q;
		t->cap = cap;
	}
	c = (t->head + t->n) & (t->cap - 1);
	t->q[c].seq = seq;
	t->q[c].time_us = tu;
	t->q[c].sz = sz;
	t->n++;
	t->bytes += sz;
	s->events++;
	topic_mark(s, t);
	return SQLITE_OK;
}

/* Take t out of the table and free it. */
static void topic_drop(struct sq *s, struct topic *t)
{
	struct topic **pp = &s->tab[topic_hash(t->name, t->tlen) & (s->tabsize - 1)];

	while(*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	s->ntopics--;
	free(t->q);
	free(t);
}

/* A commit: what the transaction did to the topics stands. */
void sq__topics_commit(struct sq *s)
{
	struct topic *t, *next;

	for(t = s->dirty; t; t = next) {
		next = t->dnext;
		t->dirty = 0;
		t->head0 = t->head;
		t->n0 = t->n;
		t->bytes0 = t->bytes;
		t->trimmed0 = t->trimmed;
		if(!t->n)
			topic_drop(s, t);
	}
	s->dirty = NULL;
	s->events0 = s->events;
}

/* A rollback: the topics as they were at the last commit. */
void sq__topics_rollback(struct sq *s)
{
	struct topic *t, *next;

	for(t = s->dirty; t; t = next) {
		next = t->dnext;
		t->dirty = 0;
		t->head = t->head0;
		t->n = t->n0;
		t->bytes = t->bytes0;
		t->trimmed = t->trimmed0;
		if(!t->n)
			topic_drop(s, t);
	}
	s->dirty = NULL;
	s->events = s->events0;
}

int sq__meta_set(struct sq *s, int key, uint64_t v)
{
	int rc;

	sqlite3_bind_int(s->meta, 1, key);
	sqlite3_bind_int64(s->meta, 2, (sqlite3_int64)v);
	rc = sqlite3_step(s->meta);
	sqlite3_reset(s->meta);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sq__run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- Retention. */

uint64_t sq__age_cutoff(struct sq *s)
{
	uint64_t now;

	if(!s->lim.history_age_us)
		return 0;
	now = s->clock(s->clock_ud);
	return now > s->lim.history_age_us ? now - s->lim.history_age_us : 0;
}

static int over(const struct sq *s, uint64_t cnt, uint64_t bytes, uint64_t seq, uint64_t tu,
		uint64_t below, uint64_t cutoff)
{
	if(!cnt)
		return 0;
	return (s->lim.history && cnt > s->lim.history) ||
	       (s->lim.history_bytes && cnt > 1 && bytes > s->lim.history_bytes) ||
	       tu < cutoff || seq < below;
}

/* What a topic may hold over a limit before its oldest rows go. */
static uint64_t slack(uint64_t limit)
{
	return limit / 8;
}

/*
 * Whether t's oldest rows are due to go. Not exact, rows go in chunks: a
 * topic may hold an eighth over --history or --history-bytes, and an
 * eighth of its rows (at most SQ_CHUNK) below below, so that a steady
 * stream of publishes deletes a page of rows now and then rather than
 * one row (and its page) in every commit. The age limit is exact, and so
 * is a small topic (under 8 rows over, or below).
 */
static int due(const struct sq *s, const struct topic *t, uint64_t below, uint64_t cutoff, int exact)
{
	const struct row *r = sq__oldest(t);
	size_t k;

	if(!r)
		return 0;
	if(exact || r->time_us < cutoff)
		return over(s, t->n, t->bytes, r->seq, r->time_us, below, cutoff);
	if(s->lim.history && t->n > s->lim.history + slack(s->lim.history))
		return 1;
	if(s->lim.history_bytes && t->n > 1 && t->bytes > s->lim.history_bytes + slack(s->lim.history_bytes))
		return 1;
	if(!below)
		return 0;
	k = t->n / 8 < SQ_CHUNK ? t->n / 8 : SQ_CHUNK;
	return t->q[(t->head + k) & (t->cap - 1)].seq < below;
}

/* Drop t's oldest rows while it is over its limits or below below, once
 * they are due (exact: at once). */
int sq__retain(struct sq *s, struct topic *t, uint64_t below, uint64_t cutoff, int exact)
{
	const struct row *r;
	uint64_t was = t->trimmed;
	int rc;

	if(!due(s, t, below, cutoff, exact))
		return SQLITE_OK;
	while((r = sq__oldest(t)) && over(s, t->n, t->bytes, r->seq, r->time_us, below, cutoff)) {
		sqlite3_bind_int64(s->del, 1, (sqlite3_int64)r->seq);
		rc = sq__run(s->del);
		if(rc)
			return rc;
		topic_mark(s, t);
		t->trimmed = r->seq;
		t->bytes = t->bytes > r->sz ? t->bytes - r->sz : 0;
		t->head++;
		t->n--;
		s->events--;
		s->deleted = 1;
	}
	/* In the same transaction as the delete: the floor a restart gives
	 * the topic is never below what is gone (table trim). */
	return t->trimmed == was ? SQLITE_OK : sq__trim_save(s, t);
}

int sq__trim_save(struct sq *s, struct topic *t)
{
	sqlite3_stmt *st = t->n ? s->trimset : s->trimdel;

	sqlite3_bind_blob(st, 1, t->name, (int)t->tlen, SQLITE_STATIC);
	if(t->n)
		sqlite3_bind_int64(st, 2, (sqlite3_int64)t->trimmed);
	return sq__run(st);
}

int sq__topic_gone(struct sq *s, struct topic *t, uint64_t seq)
{
	int rc = sq__retain(s, t, seq + 1, 0, 1);

	if(rc)
		return rc;
	if(seq > t->trimmed)
		t->trimmed = seq;
	topic_mark(s, t);
	return SQLITE_OK;
}

/* Whether some topic holds an event past the age limit. */
int sq__age_pending(struct sq *s)
{
	uint64_t cutoff = sq__age_cutoff(s);
	struct topic *t;
	size_t i;

	for(i = 0; cutoff && i < s->tabsize; i++)
		for(t = s->tab[i]; t; t = t->next)
			if(sq__oldest(t) && sq__oldest(t)->time_us < cutoff)
				return 1;
	return 0;
}

/* Every topic with an event past the age limit. */
int sq__retain_age(struct sq *s, uint64_t cutoff)
{
	struct topic *t;
	size_t i;
	int rc;

	if(!cutoff)
		return SQLITE_OK;
	for(i = 0; i < s->tabsize; i++)
		for(t = s->tab[i]; t; t = t->next)
			if(sq__oldest(t) && sq__oldest(t)->time_us < cutoff &&
			   (rc = sq__retain(s, t, 0, cutoff, 0)))
				return rc;
	return SQLITE_OK;
}

/* Apply today's limits to what the file holds (they may have changed). */
int sq__retain_all(struct sq *s)
{
	uint64_t cutoff = sq__age_cutoff(s);
	struct topic *t;
	size_t i;
	int rc;

	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	for(i = 0; !rc && i < s->tabsize; i++)
		for(t = s->tab[i]; !rc && t; t = t->next)
			rc = sq__retain(s, t, 0, cutoff, 1);
	if(!rc)
		rc = sq__meta_set(s, 3, s->events);
	if(!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if(rc) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		sq__topics_rollback(s);
		return rc;
	}
	sq__topics_commit(s);
	return SQLITE_OK;
}

