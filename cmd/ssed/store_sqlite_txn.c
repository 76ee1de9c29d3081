/*
 * store_sqlite_txn.c - the durable store's writes to SQLite: numbering a
 * round's events, and the transaction of a fill (rows, publisher marks,
 * trims, retention, the meta rows), with the copies of appends they work
 * on. The contract is in store_sqlite.c's header comment.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"

/* The ring's size of an event: its frame and its id line. */
static uint64_t ev_size(const struct store_ev *e)
{
	uint64_t v = e->seq, digits = 1;

	if(e->id)
		return e->flen + e->idlen + 5;
	while(v >= 10) {
		v /= 10;
		digits++;
	}
	return e->flen + digits + 5;
}

/* Give the events of list their seqs (and times): the round's holder,
 * before they go to the log. */
void sq__number(struct sq *s, struct pend *list)
{
	struct pend *p;
	uint64_t now;
	size_t i;

	for(p = list; p; p = p->next)
		for(i = 0; i < p->n; i++) {
			struct store_ev *e = &p->ev[i];

			now = s->clock(s->clock_ud);
			e->seq = now > s->last ? now : s->last + 1;
			if(e->seq < s->since)
				e->seq = s->since;
			s->last = e->seq;
			if(!e->time_us)
				e->time_us = now;
		}
}

/* An unfilled event a trim or the age limit already took: it goes to no
 * row (the hub hands back nothing as this; ref is the hub's, and unused
 * once an event is acknowledged). */
static char gone;
#define GONE ((void *)&gone)

static int insert(struct sq *s, struct store_ev *e)
{
	struct topic *t;
	uint64_t sz;
	int rc;

	if(e->seq > s->filled)
		s->filled = e->seq;
	if(e->ref == GONE) {
		s->deleted = 1;  /* the newest row may not hold filled: meta row 1 does */
		t = sq__topic_get(s, e->topic, e->tlen, 1);
		return t ? sq__topic_gone(s, t, e->seq) : SQLITE_NOMEM;
	}
	sz = ev_size(e);
	sqlite3_bind_int64(s->ins, 1, (sqlite3_int64)e->seq);
	sqlite3_bind_blob(s->ins, 2, e->topic, (int)e->tlen, SQLITE_STATIC);
	sqlite3_bind_int64(s->ins, 3, (sqlite3_int64)e->time_us);
	sqlite3_bind_int64(s->ins, 4, (sqlite3_int64)sz);
	if(e->id)
		sqlite3_bind_blob(s->ins, 5, e->idlen ? e->id : "", (int)e->idlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(s->ins, 5);
	sqlite3_bind_blob(s->ins, 6, e->flen ? e->frame : "", (int)e->flen, SQLITE_STATIC);
	sqlite3_bind_int64(s->ins, 7, sq__row_crc(s->crctab, e));
	rc = sq__run(s->ins);
	if(rc)
		return rc;
	t = sq__topic_get(s, e->topic, e->tlen, 1);
	if(!t)
		return SQLITE_NOMEM;
	return sq__topic_push(s, t, e->seq, e->time_us, sz);
}

/* Count (dir 1) or uncount (dir -1) e in its topic's pn and pbytes. */
static struct topic *pcount(struct sq *s, const struct store_ev *e, int dir)
{
	struct topic *t = sq__topic_get(s, e->topic, e->tlen, dir > 0);
	uint64_t sz = ev_size(e);

	if(!t)
		return NULL;
	if(dir > 0) {
		t->pn++;
		t->pbytes += sz;
	} else {
		t->pn--;
		t->pbytes -= sz;
	}
	return t;
}

/*
 * Mark the unfilled events that --history or --history-bytes takes in
 * this very fill: those behind as many newer events of their topic, also
 * waiting, as the limit keeps. They go to no row, so the file never holds
 * more than the limits and one fill's worth of rows whatever the size of
 * the fills (which follows the timing of the rounds).
 */
static void prune_history(struct sq *s, struct pend *list)
{
	const uint64_t hist = s->lim.history, hb = s->lim.history_bytes;
	struct topic *t;
	struct pend *p;
	size_t i;
	int ok = 1;

	if(!hist && !hb)
		return;
	for(p = list; p && ok; p = p->next)
		for(i = 0; i < p->n && ok; i++)
			if(p->ev[i].ref != GONE)
				ok = pcount(s, &p->ev[i], 1) != NULL;
	/* Oldest first: what is counted in t now is the events newer than e. */
	for(p = list; p; p = p->next)
		for(i = 0; i < p->n; i++) {
			struct store_ev *e = &p->ev[i];

			if(e->ref == GONE || !(t = sq__topic_get(s, e->topic, e->tlen, 0)))
				continue;
			if(!ok) {  /* out of memory: undo, prune none */
				t->pn = 0;
				t->pbytes = 0;
				continue;
			}
			pcount(s, e, -1);
			if(t->pn && ((hist && t->pn >= hist) || (hb && t->pbytes + ev_size(e) > hb)))
				e->ref = GONE;
		}
}

/* Mark the unfilled events that queued trims, the age limit or the
 * history limits already took. */
void sq__prune(struct sq *s, struct pend *list, const struct trimq *trims, uint64_t cutoff)
{
	const struct trimq *q;
	uint64_t top = 0;
	struct pend *p;
	size_t i;

	/* Most of what waits is newer than every trim: one compare each. */
	for(q = trims; q; q = q->next)
		if(q->below > top)
			top = q->below;
	for(p = list; p; p = p->next)
		for(i = 0; i < p->n; i++) {
			struct store_ev *e = &p->ev[i];

			if(cutoff && e->time_us < cutoff)
				e->ref = GONE;
			if(e->seq >= top)
				continue;
			for(q = trims; q && e->ref != GONE; q = q->next)
				if(e->seq < q->below && q->tlen == e->tlen &&
				   !memcmp(q->topic, e->topic, e->tlen))
					e->ref = GONE;
		}
	prune_history(s, list);
}

/* The highest number of the append's publisher (its events come from one
 * publisher, numbered in order): the last marked event's. */
static int write_mark(struct sq *s, const struct pend *p)
{
	size_t i = p->n;
	int rc;

	while(i > 0 && !p->ev[i - 1].pub)
		i--;
	if(!i)
		return SQLITE_OK;
	sqlite3_bind_blob(s->mark, 1, p->ev[i - 1].pub, (int)p->ev[i - 1].publen, SQLITE_STATIC);
	sqlite3_bind_int64(s->mark, 2, (sqlite3_int64)p->ev[i - 1].pub_n);
	sqlite3_bind_int64(s->mark, 3, (sqlite3_int64)p->ev[i - 1].seq);
	rc = sq__run(s->mark);
	if(!rc && ++s->marks_written % 256 == 0)
		rc = sq__run(s->prune);
	return rc;
}

/* One transaction: the appends of list (numbered; those marked GONE go
 * to no row), then trims, then retention. */
int sq__write_batch(struct sq *s, struct pend *list, struct trimq *trims)
{
	uint64_t cutoff = sq__age_cutoff(s), ceiling = s->ceiling, filled = s->filled;
	struct topic *t;
	struct pend *p;
	size_t i;
	int rc;

	rc = sq__run(s->begin);
	if(rc)
		return rc;
	s->deleted = 0;
	for(p = list; p && !rc; p = p->next) {
		for(i = 0; i < p->n && !rc; i++)
			rc = insert(s, &p->ev[i]);
		if(!rc)
			rc = write_mark(s, p);
	}
	for(; trims && !rc; trims = trims->next) {
		t = sq__topic_get(s, trims->topic, trims->tlen, 0);
		if(t)
			rc = sq__retain(s, t, trims->below, cutoff, 0);
	}
	for(t = s->dirty; t && !rc; t = t->dnext)
		rc = sq__retain(s, t, 0, cutoff, 0);
	if(!rc)
		rc = sq__retain_age(s, cutoff);
	/* Events that went to no row move a topic's floor too. */
	for(t = s->dirty; t && !rc; t = t->dnext)
		if(t->trimmed != t->trimmed0)
			rc = sq__trim_save(s, t);
	/* Without a delete the newest row holds the highest seq the file
	 * has, which open reads back from it: the meta row (its page) is
	 * written only when a row went. The count there is then a floor
	 * (salvage's "of at least"). */
	if(!rc && s->deleted)
		rc = sq__meta_set(s, 1, s->filled);
	if(!rc && s->deleted)
		rc = sq__meta_set(s, 3, s->events);
	if(!rc && s->last >= s->ceiling) {
		s->ceiling = s->last + SQ_CEILING_US;
		rc = sq__meta_set(s, 4, s->ceiling);
	}
	if(!rc)
		rc = sq__run(s->commit);
	if(rc) {
		sq__run(s->rollback);
		sq__topics_rollback(s);
		s->ceiling = ceiling;
		s->filled = filled;
		return rc;
	}
	sq__topics_commit(s);
	return SQLITE_OK;
}

void sq__pends_free(struct pend *p)
{
	struct pend *next;

	for(; p; p = next) {
		next = p->next;
		free(p);
	}
}

/* Give freed pages back when more than a quarter of the file is free. */
void sq__vacuum(struct sq *s)
{
	sqlite3_stmt *st;
	long long freel = 0, pages = 0;
	char sql[64];

	if(++s->since_vacuum < 256)
		return;
	s->since_vacuum = 0;
	if(!sqlite3_prepare_v2(s->db, "SELECT freelist_count, page_count FROM"
			       " pragma_freelist_count, pragma_page_count", -1, &st, NULL)) {
		if(sqlite3_step(st) == SQLITE_ROW) {
			freel = sqlite3_column_int64(st, 0);
			pages = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	if(freel > 256 && freel > pages / 4) {
		snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%lld)", freel / 2);
		sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
}

void sq__set_pages(struct sq *s, unsigned extra)
{
	sqlite3_stmt *st;
	long long pages = 0;
	char sql[64];

	if(!sqlite3_prepare_v2(s->db, "PRAGMA page_count", -1, &st, NULL)) {
		if(sqlite3_step(st) == SQLITE_ROW)
			pages = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
		 extra ? pages + extra : 0xfffffffell);
	sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

/* One append's copy, with its bytes. */
struct pend *sq__pend_new(const struct store_ev *ev, size_t n)
{
	size_t bytes = sizeof(struct pend) + n * sizeof(struct store_ev), i;
	struct pend *p;
	char *w;

	for(i = 0; i < n; i++)
		bytes += ev[i].tlen + (ev[i].id ? ev[i].idlen : 0) + ev[i].flen +
			 (ev[i].pub ? ev[i].publen : 0);
	p = malloc(bytes);
	if(!p)
		return NULL;
	p->next = NULL;
	p->user = NULL;
	p->n = n;
	p->done = NULL;
	p->arg = NULL;
	w = (char *)&p->ev[n];
	for(i = 0; i < n; i++) {
		struct store_ev *e = &p->ev[i];

		*e = ev[i];
		e->topic = memcpy(w, ev[i].topic, ev[i].tlen);
		w += ev[i].tlen;
		if(ev[i].id) {
			e->id = ev[i].idlen ? memcpy(w, ev[i].id, ev[i].idlen) : w;
			w += ev[i].idlen;
		}
		e->frame = ev[i].flen ? memcpy(w, ev[i].frame, ev[i].flen) : w;
		w += ev[i].flen;
		if(ev[i].pub) {
			e->pub = memcpy(w, ev[i].pub, ev[i].publen);
			w += ev[i].publen;
		}
	}
	return p;
}

