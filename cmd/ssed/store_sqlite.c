/*
 * store_sqlite.c - the embedded durable backend: events in one SQLite file.
 *
 * Contract (what the man page may promise for --store PATH):
 * - An append is acknowledged (its done callback with STORE_OK, and only
 *   then sink->commit puts it in the ring) once the transaction holding it
 *   has committed. A writer thread takes everything queued since its last
 *   transaction and writes it in ONE transaction: a burst from many
 *   publishers costs one commit, not one per event.
 * - Durability. The file is in WAL mode (journal_mode=WAL) with
 *   locking_mode=EXCLUSIVE, so a second process cannot open the same store
 *   and no -shm file is used. With synchronous=NORMAL (the default) a
 *   commit is written to the WAL file before it is acknowledged, and the
 *   WAL is fsynced only at checkpoints: an acknowledged event survives a
 *   crash or kill -9 of ssed, not a power loss. sync_full sets
 *   synchronous=FULL: the WAL is fsynced at every group commit, so an
 *   acknowledged event survives a power loss too. wal_autocheckpoint
 *   (1000 pages) copies the WAL back into the file as it grows and
 *   journal_size_limit caps what the WAL keeps on disk after a checkpoint.
 * - Sequence numbers are microseconds of the wall clock, or the last one
 *   plus one when the clock is not ahead of it; the highest ever given
 *   out is kept in the file (table meta) even when every event is trimmed,
 *   so numbers continue after a restart.
 * - Retention is the ring's: per topic at most lim->history events and
 *   lim->history_bytes bytes (the ring's measure: the frame plus its
 *   "id: ...\n" line; the newest event stays even when it alone is over),
 *   nothing older than lim->history_age_us (by the event's time_us), and
 *   whatever trim() drops. Trims are queued and applied in the next
 *   transaction. Freed pages are reused (auto_vacuum=INCREMENTAL returns
 *   them to the file system when more than a quarter of the file is free),
 *   so the file does not grow under a steady load.
 * - Restore gives every retained event in seq order (so oldest first per
 *   topic). read_before is NULL: the file never keeps more than the ring.
 * - Refusals: store_sqlite_open returns NULL with one line in err, and
 *   never writes to the file, when PATH is not an SQLite database, is
 *   another application's (PRAGMA application_id is not "ssed"), has a
 *   schema version (PRAGMA user_version) other than 1, cannot be opened
 *   for writing (nor its directory, where the WAL lives), or is in use by
 *   another process.
 * - Damage: each row carries a CRC-32 of its seq, time, topic, id and
 *   frame; rows that fail it are dropped at open. When SQLite finds the
 *   file itself malformed (SQLITE_CORRUPT, SQLITE_NOTADB) although its
 *   header is an ssed store's, every row that still reads back is copied
 *   into a fresh file at PATH and the damaged file is kept beside it as
 *   PATH.damaged-YYYYmmddTHHMMSSZ (with its -wal). Either way open
 *   succeeds and leaves ONE line in err saying what was dropped: a caller
 *   must print err as a warning when open returns non-NULL with err[0]
 *   set. History before a dropped event is then no longer complete:
 *   since_seq moves past it, so resumes from before it get ssed-gap.
 *   A torn WAL tail (a transaction whose frames are incomplete) is
 *   discarded by SQLite itself; such a transaction was never
 *   acknowledged.
 * - A transaction that fails with SQLITE_FULL (disk full, quota, the
 *   store_sqlite_limit_pages knob) is rolled back: its appends get
 *   STORE_EFULL and nothing of it reaches the sink; queued trims are then
 *   applied alone so room can come back, and the next transaction tries
 *   again. Other write failures give STORE_EIO.
 *
 * Threads: append, trim and stats from any thread; restore before the
 * first append. sink->commit and done run on the writer thread, without
 * the store's lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_sqlite.h"

#define APP_ID 0x73736564       /* "ssed" */
#define SCHEMA 1
#define WAL_LIMIT (64 << 20)    /* journal_size_limit, bytes */
#define NO_SEQ UINT64_MAX

/* One append waiting for the writer; its copies and bytes follow. */
struct pend {
	struct pend *next;
	struct store_ev *user;  /* the caller's array: seq is written back */
	size_t n;
	store_done_fn done;
	void *arg;
	struct store_ev ev[];
};

struct trimq {
	struct trimq *next;
	uint64_t below;
	size_t tlen;
	char topic[];
};

/* One row the file holds, as retention needs it. */
struct row {
	uint64_t seq, sz, time_us;
};

/*
 * What the file holds of one topic (writer thread only): its rows in seq
 * order, in a ring indexed by ever-growing counters. A transaction moves
 * head and n; head0 and n0 are the committed state, which a rollback
 * returns to, so the ring keeps every row from head0 on.
 */
struct topic {
	struct topic *next, *dnext;
	struct row *q;
	size_t cap, head, n, head0, n0;
	uint64_t bytes, bytes0;
	int dirty;
	size_t tlen;
	char name[];
};

struct sq {
	struct store base;
	struct store_limits lim;
	char *path;
	sqlite3 *db;
	sqlite3_stmt *ins, *del, *meta, *begin, *commit, *rollback;
	uint32_t crctab[8][256];
	uint64_t (*clock)(void *ud);
	void *clock_ud;

	pthread_t thr;
	int thr_up;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	struct pend *head, **tail;
	struct trimq *trims;
	int stop, started, pages_set;
	int idle;               /* the writer waits on cv: appends signal it */
	unsigned pages_extra;
	struct store_stats st;

	/* writer thread (or open/restore, before it works) */
	struct topic **tab, *dirty;
	size_t tabsize, ntopics;
	uint64_t last, since, events, events0;
	struct store_ev *batch;
	size_t batch_cap;
	unsigned long since_vacuum;
	uint64_t age_next;
};

static uint64_t wall_us(void *ud)
{
	struct timespec ts;

	(void)ud;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- Row checksums: CRC-32 (IEEE), eight bytes at a time. */

static void crc_init(uint32_t tab[8][256])
{
	uint32_t c, i, k;

	for(i = 0; i < 256; i++) {
		c = i;
		for(k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		tab[0][i] = c;
	}
	for(i = 0; i < 256; i++)
		for(k = 1; k < 8; k++)
			tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xff];
}

static uint32_t crc_add(uint32_t tab[8][256], uint32_t c, const void *p, size_t n)
{
	const unsigned char *b = p;

	for(; n >= 8; n -= 8, b += 8) {
		uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
				   (uint32_t)b[3] << 24);

		c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
		    tab[4][lo >> 24] ^ tab[3][b[4]] ^ tab[2][b[5]] ^ tab[1][b[6]] ^ tab[0][b[7]];
	}
	while(n--)
		c = tab[0][(c ^ *b++) & 0xff] ^ (c >> 8);
	return c;
}

static uint32_t row_crc(uint32_t tab[8][256], const struct store_ev *e)
{
	unsigned char num[8 * 4];
	uint64_t v[4] = { e->seq, e->time_us, e->tlen, e->id ? e->idlen : NO_SEQ };
	uint32_t c;
	int i, k;

	for(i = 0; i < 4; i++)
		for(k = 0; k < 8; k++)
			num[i * 8 + k] = (unsigned char)(v[i] >> (8 * k));
	c = crc_add(tab, 0xffffffffu, num, sizeof(num));
	c = crc_add(tab, c, e->topic, e->tlen);
	if(e->id)
		c = crc_add(tab, c, e->id, e->idlen);
	c = crc_add(tab, c, e->frame, e->flen);
	return c ^ 0xffffffffu;
}

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

/* ---- Topics the file holds. */

static size_t topic_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603u;

	while(n--)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return (size_t)h;
}

static void topics_free(struct sq *s)
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

static struct topic *topic_get(struct sq *s, const char *name, size_t tlen, int create)
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

static const struct row *oldest(const struct topic *t)
{
	return t->n ? &t->q[t->head & (t->cap - 1)] : NULL;
}

/* Count one more row of t (seq order). */
static int topic_push(struct sq *s, struct topic *t, uint64_t seq, uint64_t tu, uint64_t sz)
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
static void topics_commit(struct sq *s)
{
	struct topic *t, *next;

	for(t = s->dirty; t; t = next) {
		next = t->dnext;
		t->dirty = 0;
		t->head0 = t->head;
		t->n0 = t->n;
		t->bytes0 = t->bytes;
		if(!t->n)
			topic_drop(s, t);
	}
	s->dirty = NULL;
	s->events0 = s->events;
}

/* A rollback: the topics as they were at the last commit. */
static void topics_rollback(struct sq *s)
{
	struct topic *t, *next;

	for(t = s->dirty; t; t = next) {
		next = t->dnext;
		t->dirty = 0;
		t->head = t->head0;
		t->n = t->n0;
		t->bytes = t->bytes0;
		if(!t->n)
			topic_drop(s, t);
	}
	s->dirty = NULL;
	s->events = s->events0;
}

static int meta_set(struct sq *s, int key, uint64_t v)
{
	int rc;

	sqlite3_bind_int(s->meta, 1, key);
	sqlite3_bind_int64(s->meta, 2, (sqlite3_int64)v);
	rc = sqlite3_step(s->meta);
	sqlite3_reset(s->meta);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- Retention. */

static uint64_t age_cutoff(struct sq *s)
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

/* Drop t's oldest rows while it is over its limits or below below. */
static int retain(struct sq *s, struct topic *t, uint64_t below, uint64_t cutoff)
{
	const struct row *r;
	int rc;

	while((r = oldest(t)) && over(s, t->n, t->bytes, r->seq, r->time_us, below, cutoff)) {
		sqlite3_bind_int64(s->del, 1, (sqlite3_int64)r->seq);
		rc = run(s->del);
		if(rc)
			return rc;
		topic_mark(s, t);
		t->bytes = t->bytes > r->sz ? t->bytes - r->sz : 0;
		t->head++;
		t->n--;
		s->events--;
	}
	return SQLITE_OK;
}

/* Whether some topic holds an event past the age limit. */
static int age_pending(struct sq *s)
{
	uint64_t cutoff = age_cutoff(s);
	struct topic *t;
	size_t i;

	for(i = 0; cutoff && i < s->tabsize; i++)
		for(t = s->tab[i]; t; t = t->next)
			if(oldest(t) && oldest(t)->time_us < cutoff)
				return 1;
	return 0;
}

/* Every topic with an event past the age limit. */
static int retain_age(struct sq *s, uint64_t cutoff)
{
	struct topic *t;
	size_t i;
	int rc;

	if(!cutoff)
		return SQLITE_OK;
	for(i = 0; i < s->tabsize; i++)
		for(t = s->tab[i]; t; t = t->next)
			if(oldest(t) && oldest(t)->time_us < cutoff && (rc = retain(s, t, 0, cutoff)))
				return rc;
	return SQLITE_OK;
}

/* ---- The writer. */

static int store_rc(int rc)
{
	switch(rc & 0xff) {
	case SQLITE_FULL:
		return STORE_EFULL;
	case SQLITE_NOMEM:
		return STORE_ENOMEM;
	default:
		return STORE_EIO;
	}
}

static int insert(struct sq *s, struct store_ev *e)
{
	struct topic *t;
	uint64_t now = s->clock(s->clock_ud), sz;
	int rc;

	e->seq = now > s->last ? now : s->last + 1;
	if(e->seq < s->since)
		e->seq = s->since;
	s->last = e->seq;
	if(!e->time_us)
		e->time_us = now;
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
	sqlite3_bind_int64(s->ins, 7, row_crc(s->crctab, e));
	rc = run(s->ins);
	if(rc)
		return rc;
	t = topic_get(s, e->topic, e->tlen, 1);
	if(!t)
		return SQLITE_NOMEM;
	return topic_push(s, t, e->seq, e->time_us, sz);
}

/* One transaction: trims, then the appends of list, then retention. */
static int write_batch(struct sq *s, struct pend *list, struct trimq *trims)
{
	uint64_t cutoff = age_cutoff(s);
	struct topic *t;
	struct pend *p;
	size_t i;
	int rc;

	rc = run(s->begin);
	if(rc)
		return rc;
	for(; trims && !rc; trims = trims->next) {
		t = topic_get(s, trims->topic, trims->tlen, 0);
		if(t)
			rc = retain(s, t, trims->below, cutoff);
	}
	for(p = list; p && !rc; p = p->next)
		for(i = 0; i < p->n && !rc; i++)
			rc = insert(s, &p->ev[i]);
	for(t = s->dirty; t && !rc; t = t->dnext)
		rc = retain(s, t, 0, cutoff);
	if(!rc)
		rc = retain_age(s, cutoff);
	if(!rc)
		rc = meta_set(s, 1, s->last);
	if(!rc)
		rc = meta_set(s, 3, s->events);
	if(!rc)
		rc = run(s->commit);
	if(rc) {
		run(s->rollback);
		topics_rollback(s);
		return rc;
	}
	topics_commit(s);
	return SQLITE_OK;
}

/* Hand the committed appends to the sink in one batch, then their done. */
static void deliver(struct sq *s, struct pend *list, int rc)
{
	struct pend *p, *next;
	size_t n = 0, i;

	if(!rc) {
		for(p = list; p; p = p->next)
			n += p->n;
		if(n > s->batch_cap) {
			struct store_ev *b = realloc(s->batch, n * sizeof(*b));

			if(b) {
				s->batch = b;
				s->batch_cap = n;
			}
		}
		if(n <= s->batch_cap) {
			n = 0;
			for(p = list; p; p = p->next)
				for(i = 0; i < p->n; i++)
					s->batch[n++] = p->ev[i];
			s->base.sink.commit(s->base.sink.ud, s->batch, n);
		} else {
			for(p = list; p; p = p->next)
				s->base.sink.commit(s->base.sink.ud, p->ev, p->n);
		}
	}
	for(p = list; p; p = next) {
		next = p->next;
		if(!rc)
			for(i = 0; i < p->n; i++)
				p->user[i].seq = p->ev[i].seq;
		p->done(p->arg, rc ? store_rc(rc) : STORE_OK);
		free(p);
	}
}

/* Give freed pages back when more than a quarter of the file is free. */
static void vacuum(struct sq *s)
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

static void set_pages(struct sq *s, unsigned extra)
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

static void free_trims(struct trimq *q)
{
	struct trimq *next;

	for(; q; q = next) {
		next = q->next;
		free(q);
	}
}

static void *writer_main(void *arg)
{
	struct sq *s = arg;
	struct pend *list;
	struct trimq *trims;
	struct timespec until;
	uint64_t t0, us;
	int rc, stop, pages, age_due;
	unsigned extra;

	for(;;) {
		pthread_mutex_lock(&s->mu);
		for(;;) {
			age_due = s->started && s->lim.history_age_us && mono_us() >= s->age_next;
			if(s->head || s->trims || s->stop || s->pages_set || age_due)
				break;
			s->idle = 1;
			if(s->started && s->lim.history_age_us) {
				/* Idle: look at the age limit once a second. */
				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_sec += 1;
				pthread_cond_timedwait(&s->cv, &s->mu, &until);
			} else {
				pthread_cond_wait(&s->cv, &s->mu);
			}
			s->idle = 0;
		}
		list = s->head;
		s->head = NULL;
		s->tail = &s->head;
		trims = s->trims;
		s->trims = NULL;
		stop = s->stop;
		pages = s->pages_set;
		extra = s->pages_extra;
		s->pages_set = 0;
		pthread_mutex_unlock(&s->mu);

		if(pages)
			set_pages(s, extra);
		if(age_due) {
			s->age_next = mono_us() + 1000000u;
			age_due = age_pending(s);
		}
		if(list || trims || age_due) {
			t0 = mono_us();
			rc = write_batch(s, list, trims);
			if((rc & 0xff) == SQLITE_FULL && trims)
				write_batch(s, NULL, trims);
			us = mono_us() - t0;
			pthread_mutex_lock(&s->mu);
			if(rc) {
				s->st.write_errors++;
				s->st.connected = 0;
			} else {
				s->st.commits++;
				s->st.commit_us_sum += us;
				if(us > s->st.commit_us_max)
					s->st.commit_us_max = us;
				s->st.connected = 1;
			}
			s->st.events = s->events;
			pthread_mutex_unlock(&s->mu);
			free_trims(trims);
			deliver(s, list, rc);
			if(!rc)
				vacuum(s);
		}
		if(stop)
			break;
	}
	return NULL;
}

/* ---- Ops. */

static int sq_append(struct store *st, struct store_ev *ev, size_t n,
		     store_done_fn done, void *arg)
{
	struct sq *s = (struct sq *)st;
	size_t bytes = sizeof(struct pend) + n * sizeof(struct store_ev), i;
	struct pend *p;
	char *w;

	for(i = 0; i < n; i++)
		bytes += ev[i].tlen + (ev[i].id ? ev[i].idlen : 0) + ev[i].flen;
	p = malloc(bytes);
	if(!p)
		return STORE_ENOMEM;
	p->next = NULL;
	p->user = ev;
	p->n = n;
	p->done = done;
	p->arg = arg;
	w = (char *)&p->ev[n];
	for(i = 0; i < n; i++) {
		struct store_ev *e = &p->ev[i];

		*e = ev[i];
		e->seq = 0;
		e->topic = memcpy(w, ev[i].topic, ev[i].tlen);
		w += ev[i].tlen;
		if(ev[i].id) {
			e->id = memcpy(w, ev[i].id, ev[i].idlen);
			w += ev[i].idlen;
		}
		e->frame = memcpy(w, ev[i].frame, ev[i].flen);
		w += ev[i].flen;
	}
	pthread_mutex_lock(&s->mu);
	s->started = 1;
	*s->tail = p;
	s->tail = &p->next;
	/* A busy writer looks at the queue again before it waits. */
	if(s->idle)
		pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

static int sq_restore(struct store *st, store_each_fn each, void *ud,
		      uint64_t *last_seq, uint64_t *since_seq)
{
	struct sq *s = (struct sq *)st;
	sqlite3_stmt *q;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "SELECT seq, time_us, topic, id, frame FROM ev ORDER BY seq",
				-1, &q, NULL);
	if(rc)
		return STORE_EIO;
	while((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_ev e;

		e.seq = (uint64_t)sqlite3_column_int64(q, 0);
		e.time_us = (uint64_t)sqlite3_column_int64(q, 1);
		e.topic = sqlite3_column_blob(q, 2);
		e.tlen = (size_t)sqlite3_column_bytes(q, 2);
		e.id = sqlite3_column_type(q, 3) == SQLITE_NULL ? NULL : sqlite3_column_blob(q, 3);
		e.idlen = e.id ? (size_t)sqlite3_column_bytes(q, 3) : 0;
		if(e.id && !e.idlen)
			e.id = "";
		e.frame = sqlite3_column_blob(q, 4);
		e.flen = (size_t)sqlite3_column_bytes(q, 4);
		if(!e.frame)
			e.frame = "";
		if(each(ud, &e))
			break;
	}
	sqlite3_finalize(q);
	if(rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_rc(rc);
	*last_seq = s->last;
	*since_seq = s->since;
	pthread_mutex_lock(&s->mu);
	s->started = 1;
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

static void sq_trim(struct store *st, const char *topic, size_t tlen, uint64_t below)
{
	struct sq *s = (struct sq *)st;
	struct trimq *q = malloc(sizeof(*q) + tlen);

	if(!q)
		return;
	memcpy(q->topic, topic, tlen);
	q->tlen = tlen;
	q->below = below;
	pthread_mutex_lock(&s->mu);
	q->next = s->trims;
	s->trims = q;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static uint64_t file_size(const char *path, const char *suffix)
{
	char name[4096];
	struct stat sb;

	snprintf(name, sizeof(name), "%s%s", path, suffix);
	return stat(name, &sb) ? 0 : (uint64_t)sb.st_size;
}

static void sq_stats(struct store *st, struct store_stats *out)
{
	struct sq *s = (struct sq *)st;

	pthread_mutex_lock(&s->mu);
	*out = s->st;
	pthread_mutex_unlock(&s->mu);
	out->bytes = file_size(s->path, "") + file_size(s->path, "-wal");
}

static void db_close(struct sq *s);

static void sq_free(struct sq *s)
{
	db_close(s);
	topics_free(s);
	free(s->batch);
	free(s->path);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static void sq_close(struct store *st)
{
	struct sq *s = (struct sq *)st;

	if(s->thr_up) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thr, NULL);
	}
	sq_free(s);
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.append = sq_append,
	.restore = sq_restore,
	.read_before = NULL,
	.trim = sq_trim,
	.stats = sq_stats,
	.close = sq_close,
};

void store_sqlite_set_clock(struct store *st, uint64_t (*now_us)(void *ud), void *ud)
{
	struct sq *s = (struct sq *)st;

	s->clock = now_us;
	s->clock_ud = ud;
}

void store_sqlite_limit_pages(struct store *st, unsigned extra)
{
	struct sq *s = (struct sq *)st;

	pthread_mutex_lock(&s->mu);
	s->pages_set = 1;
	s->pages_extra = extra;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}


/* ---- Opening: refusals, schema, the check of every row, salvage. */

__attribute__((format(printf, 3, 4)))
static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if(!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

enum kind { K_NEW, K_OURS, K_REFUSED };

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What PATH is, from its directory, its mode and its first 100 bytes,
 * without SQLite and without writing anything. */
static enum kind probe(const char *path, char *err, size_t errlen)
{
	unsigned char h[100];
	char dir[4096], *slash;
	struct stat sb;
	ssize_t n;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if(!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0';
	if(access(dir, W_OK | X_OK)) {
		errf(err, errlen, "store %s: cannot write in its directory: %s", path, strerror(errno));
		return K_REFUSED;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if(fd < 0) {
		if(errno == ENOENT)
			return K_NEW;
		errf(err, errlen, "store %s: cannot open it for writing: %s", path, strerror(errno));
		return K_REFUSED;
	}
	if(fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		errf(err, errlen, "store %s: not a regular file", path);
		return K_REFUSED;
	}
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if(n == 0)
		return K_NEW;
	if(n < (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16)) {
		errf(err, errlen, "store %s: not an ssed store (not an SQLite database); left untouched", path);
		return K_REFUSED;
	}
	if(be32(h + 68) != APP_ID) {
		errf(err, errlen, "store %s: an SQLite database but not an ssed store (application_id %#x);"
		     " left untouched", path, be32(h + 68));
		return K_REFUSED;
	}
	if(be32(h + 60) != SCHEMA) {
		errf(err, errlen, "store %s: schema version %u, this ssed knows only %d; left untouched",
		     path, be32(h + 60), SCHEMA);
		return K_REFUSED;
	}
	return K_OURS;
}

static int is_damage(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

static void db_close(struct sq *s)
{
	sqlite3_stmt **st[] = { &s->ins, &s->del, &s->meta, &s->begin, &s->commit, &s->rollback };
	size_t i;

	for(i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		sqlite3_finalize(*st[i]);
		*st[i] = NULL;
	}
	if(s->db)
		sqlite3_close(s->db);
	s->db = NULL;
}

static int meta_get(sqlite3 *db, int key, uint64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?1", -1, &st, NULL);
	if(rc)
		return rc;
	sqlite3_bind_int(st, 1, key);
	rc = sqlite3_step(st);
	if(rc == SQLITE_ROW) {
		*v = (uint64_t)sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Open (or create) the file at path and prepare the statements. */
static int db_open(struct sq *s, const char *path, int create, int sync_full)
{
	char sql[1024];
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX, NULL);
	if(rc)
		return rc;
	sqlite3_extended_result_codes(s->db, 1);
	rc = sqlite3_exec(s->db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, NULL);
	if(!rc && create) {
		snprintf(sql, sizeof(sql),
			 "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA application_id=%d; PRAGMA user_version=%d;"
			 "BEGIN;"
			 "CREATE TABLE ev(seq INTEGER PRIMARY KEY, topic BLOB NOT NULL, time_us INTEGER NOT NULL,"
			 " sz INTEGER NOT NULL, id BLOB, frame BLOB NOT NULL, crc INTEGER NOT NULL);"
			 "CREATE TABLE meta(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);"
			 "INSERT INTO meta VALUES(1, 0), (2, %lld), (3, 0);"
			 "COMMIT;", APP_ID, SCHEMA, (long long)s->clock(s->clock_ud));
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	if(!rc) {
		rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if(!rc) {
			rc = sqlite3_step(st);
			if(rc == SQLITE_ROW)
				rc = strcmp((const char *)sqlite3_column_text(st, 0), "wal") ? SQLITE_CANTOPEN : 0;
			sqlite3_finalize(st);
		}
	}
	if(!rc) {
		snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s; PRAGMA journal_size_limit=%d;"
			 " PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=1000",
			 sync_full ? "FULL" : "NORMAL", WAL_LIMIT);
		rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	if(!rc)
		rc = meta_get(s->db, 1, &s->last);
	if(!rc)
		rc = meta_get(s->db, 2, &s->since);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO ev(seq, topic, time_us, sz, id, frame, crc)"
					" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &s->ins, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM ev WHERE seq=?1", -1, &s->del, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "UPDATE meta SET v=?2 WHERE k=?1", -1, &s->meta, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL);
	return rc;
}

/* Read a row of "SELECT seq, topic, time_us, sz, id, frame, crc". */
static int row_ok(struct sq *s, sqlite3_stmt *q, struct store_ev *e)
{
	e->seq = (uint64_t)sqlite3_column_int64(q, 0);
	e->topic = sqlite3_column_blob(q, 1);
	e->tlen = (size_t)sqlite3_column_bytes(q, 1);
	e->time_us = (uint64_t)sqlite3_column_int64(q, 2);
	e->id = sqlite3_column_type(q, 4) == SQLITE_NULL ? NULL : sqlite3_column_blob(q, 4);
	e->idlen = e->id ? (size_t)sqlite3_column_bytes(q, 4) : 0;
	if(sqlite3_column_type(q, 4) != SQLITE_NULL && !e->id)
		e->id = "";
	e->frame = sqlite3_column_blob(q, 5);
	e->flen = (size_t)sqlite3_column_bytes(q, 5);
	if(!e->topic)
		e->topic = "";
	if(!e->frame)
		e->frame = "";
	return (uint32_t)sqlite3_column_int64(q, 6) == row_crc(s->crctab, e);
}

#define ROW_SQL "SELECT seq, topic, time_us, sz, id, frame, crc FROM ev"

/* Check every row's checksum, count the topics, drop the bad rows. */
static int verify(struct sq *s, char *warn, size_t wlen)
{
	uint64_t *bad = NULL, lo = NO_SEQ, hi = 0;
	size_t nbad = 0, cap = 0, i;
	sqlite3_stmt *q;
	struct topic *t;
	int rc;

	topics_free(s);
	s->events = 0;
	rc = sqlite3_prepare_v2(s->db, ROW_SQL " ORDER BY seq", -1, &q, NULL);
	if(rc)
		return rc;
	while((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_ev e;

		if(row_ok(s, q, &e)) {
			t = topic_get(s, e.topic, e.tlen, 1);
			if(!t || topic_push(s, t, e.seq, e.time_us, (uint64_t)sqlite3_column_int64(q, 3))) {
				rc = SQLITE_NOMEM;
				break;
			}
		} else {
			if(nbad == cap) {
				uint64_t *b = realloc(bad, (cap = cap ? cap * 2 : 64) * sizeof(*b));

				if(!b) {
					rc = SQLITE_NOMEM;
					break;
				}
				bad = b;
			}
			bad[nbad++] = e.seq;
			lo = e.seq < lo ? e.seq : lo;
			hi = e.seq > hi ? e.seq : hi;
		}
		if(e.seq > s->last)
			s->last = e.seq;
	}
	sqlite3_finalize(q);
	q = NULL;
	if(rc != SQLITE_DONE)
		goto out;
	topics_commit(s);
	rc = SQLITE_OK;
	if(!nbad)
		goto out;
	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if(!rc)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM ev WHERE seq=?1", -1, &q, NULL);
	for(i = 0; !rc && i < nbad; i++) {
		sqlite3_bind_int64(q, 1, (sqlite3_int64)bad[i]);
		rc = run(q);
	}
	sqlite3_finalize(q);
	if(hi + 1 > s->since)
		s->since = hi + 1;
	if(!rc)
		rc = meta_set(s, 2, s->since);
	if(!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if(rc)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	else
		errf(warn, wlen, "store %s: dropped %zu damaged event(s) (checksum mismatch), seq %llu to %llu",
		     s->path, nbad, (unsigned long long)lo, (unsigned long long)hi);
out:
	free(bad);
	return rc;
}

/*
 * Move the damaged file aside and copy every row that still reads back
 * (and passes its checksum) into a fresh file at s->path, in rowid order;
 * where a page cannot be read, seek further on (doubling the step) to
 * find the next one that can. Leaves s->db open on the fresh file.
 */
static int salvage(struct sq *s, int sync_full, const char *why, char *warn, size_t wlen)
{
	char dmg[4096], from[4096 + 8], to[4096 + 8], stamp[32];
	uint64_t pos = 0, skip, kept = 0, had = 0, last = 0, hi = 0;
	sqlite3_stmt *rd = NULL;
	sqlite3 *old = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc, k, holes = 0;

	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	snprintf(dmg, sizeof(dmg), "%s.damaged-%s", s->path, stamp);
	for(k = 2; !access(dmg, F_OK) && k < 100; k++)
		snprintf(dmg, sizeof(dmg), "%s.damaged-%s-%d", s->path, stamp, k);
	if(!access(dmg, F_OK) || rename(s->path, dmg))
		return SQLITE_CANTOPEN;
	snprintf(from, sizeof(from), "%s-wal", s->path);
	snprintf(to, sizeof(to), "%s-wal", dmg);
	if(rename(from, to) && errno != ENOENT)
		return SQLITE_CANTOPEN;

	rc = db_open(s, s->path, 1, sync_full);
	if(rc)
		return rc;
	if(!sqlite3_open_v2(dmg, &old, SQLITE_OPEN_READWRITE, NULL)) {
		/* Read what is left even when the file is shorter than its
		 * header says; nothing is written to it. */
		sqlite3_exec(old, "PRAGMA writable_schema=ON", NULL, NULL, NULL);
		meta_get(old, 1, &last);
		meta_get(old, 3, &had);
		sqlite3_prepare_v2(old, ROW_SQL " WHERE seq>=?1 ORDER BY seq", -1, &rd, NULL);
	}
	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	while(rd && !rc) {
		int src;

		sqlite3_bind_int64(rd, 1, (sqlite3_int64)pos);
		while(!rc && (src = sqlite3_step(rd)) == SQLITE_ROW) {
			struct store_ev e;
			int i;

			pos = (uint64_t)sqlite3_column_int64(rd, 0) + 1;
			if(!row_ok(s, rd, &e))
				continue;
			for(i = 0; i < 7; i++)
				sqlite3_bind_value(s->ins, i + 1, sqlite3_column_value(rd, i));
			rc = run(s->ins);
			kept++;
			hi = e.seq > hi ? e.seq : hi;
		}
		sqlite3_reset(rd);
		if(rc || src == SQLITE_DONE)
			break;
		/* An unreadable page: find the next row that reads back. */
		for(k = 0, skip = 1; k < 62 && pos + skip <= INT64_MAX; k++, skip *= 2) {
			sqlite3_bind_int64(rd, 1, (sqlite3_int64)(pos + skip));
			src = sqlite3_step(rd);
			sqlite3_reset(rd);
			if(src == SQLITE_ROW)
				break;
		}
		if(src != SQLITE_ROW || ++holes > 100000)
			break;
		pos += skip;
	}
	sqlite3_finalize(rd);
	sqlite3_close(old);
	s->last = last > hi ? last : hi;
	s->since = s->last + 1;
	if(!rc)
		rc = meta_set(s, 1, s->last);
	if(!rc)
		rc = meta_set(s, 2, s->since);
	if(!rc)
		rc = meta_set(s, 3, kept);
	if(!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if(rc)
		return rc;
	if(had > kept)
		errf(warn, wlen, "store %s was damaged (%s): kept %llu of %llu events; the damaged file is %s",
		     s->path, why, (unsigned long long)kept, (unsigned long long)had, dmg);
	else
		errf(warn, wlen, "store %s was damaged (%s): kept %llu events; the damaged file is %s",
		     s->path, why, (unsigned long long)kept, dmg);
	return SQLITE_OK;
}

/* Apply today's limits to what the file holds (they may have changed). */
static int retain_all(struct sq *s)
{
	uint64_t cutoff = age_cutoff(s);
	struct topic *t;
	size_t i;
	int rc;

	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	for(i = 0; !rc && i < s->tabsize; i++)
		for(t = s->tab[i]; !rc && t; t = t->next)
			rc = retain(s, t, 0, cutoff);
	if(!rc)
		rc = meta_set(s, 3, s->events);
	if(!rc)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if(rc) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		topics_rollback(s);
		return rc;
	}
	topics_commit(s);
	return SQLITE_OK;
}

struct store *store_sqlite_open(const char *path, int sync_full,
				const struct store_limits *lim,
				const struct store_sink *sink,
				char *err, size_t errlen)
{
	enum kind kind;
	struct sq *s;
	int rc;

	if(err && errlen)
		err[0] = '\0';
	kind = probe(path, err, errlen);
	if(kind == K_REFUSED)
		return NULL;
	s = calloc(1, sizeof(*s));
	if(!s || !(s->path = strdup(path))) {
		free(s);
		errf(err, errlen, "store %s: out of memory", path);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->base.ops = &sqlite_ops;
	s->base.sink = *sink;
	if(lim)
		s->lim = *lim;
	s->clock = wall_us;
	s->tail = &s->head;
	s->st.connected = 1;
	crc_init(s->crctab);

	rc = db_open(s, path, kind == K_NEW, sync_full);
	if(!rc)
		rc = verify(s, err, errlen);
	if(is_damage(rc) && kind == K_OURS) {
		char why[128];

		snprintf(why, sizeof(why), "%s", sqlite3_errstr(rc));
		db_close(s);
		rc = salvage(s, sync_full, why, err, errlen);
		if(!rc)
			rc = verify(s, NULL, 0);
	}
	if(!rc)
		rc = retain_all(s);
	if(rc) {
		if((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
			errf(err, errlen, "store %s: in use by another process", path);
		else
			errf(err, errlen, "store %s: cannot open it: %s", path,
			     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		sq_free(s);
		return NULL;
	}
	s->st.events = s->events;
	if(pthread_create(&s->thr, NULL, writer_main, s)) {
		errf(err, errlen, "store %s: cannot start its writer thread", path);
		sq_free(s);
		return NULL;
	}
	s->thr_up = 1;
	return &s->base;
}
