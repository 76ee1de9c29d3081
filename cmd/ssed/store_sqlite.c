/*
 * store_sqlite.c - the embedded durable backend: events in one SQLite file,
 * behind an acknowledgement log of its own (store_sqlite_log.c).
 *
 * Contract (what the man page may promise for --store PATH):
 * - An append is acknowledged (its done callback with STORE_OK, and only
 *   then sink->commit puts it in the ring) once its record is written to
 *   the log PATH-log. A round takes everything queued since the last one
 *   and writes it with ONE write: a burst from many publishers costs one
 *   write, not one per event. An append that finds nobody writing runs
 *   its own round on its caller's thread.
 * - SQLite gets the acknowledged events behind the log, in a "fill": one
 *   transaction for everything waiting, run by the writer thread when
 *   SQ_FILL_EVENTS or SQ_FILL_BYTES wait or the oldest waited SQ_FILL_US
 *   (by an append itself only past SQ_FILL_MAX or SQ_FILL_MAX_BYTES, or to
 *   retry a fill that failed). Until then they are in memory too
 *   (unfilled). A fill is part of a round: appends that come meanwhile
 *   wait for it (its list is bounded by the counts above, so the WAL
 *   stays small under a steady load). A fill also applies the queued
 *   trims (one entry per topic) and retention; an event they take, or
 *   that has as many newer events of its topic in the same fill as
 *   --history or --history-bytes keeps, goes to no row, so the file
 *   holds at most the limits and one fill's kept events, however the
 *   fills happen to group. After a fill the log is cut back to its
 *   header once past SQ_LOG_RESET; at open, what it holds beyond the
 *   file (seq above the highest the file has, meta row 1 or its newest
 *   row) is written into the file before anything else, the same way,
 *   and it is cut back.
 * - Durability. The log is written with pwrite: an acknowledged event
 *   survives a crash or kill -9 of ssed, not a power loss; sync_full
 *   fdatasyncs it before the acknowledgement. The file is in WAL mode
 *   (journal_mode=WAL) with locking_mode=EXCLUSIVE, so a second process
 *   cannot open the same store and no -shm file is used. With
 *   synchronous=NORMAL (the default) its WAL is fsynced only at
 *   checkpoints; sync_full sets synchronous=FULL, so a fill is on the disk
 *   before the log is cut back. wal_autocheckpoint
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
 *   transaction, which an append starts, or within half a second. Freed pages are reused (auto_vacuum=INCREMENTAL returns
 *   them to the file system when more than a quarter of the file is free),
 *   so the file does not grow under a steady load.
 * - Restore gives every retained event in seq order (so oldest first per
 *   topic), by one scan of the table in rowid order (the rowid is the
 *   seq; there is no other index). read_before is NULL: the file never
 *   keeps more than the ring.
 * - Floors (the floors op): each topic's newest deleted row (or event
 *   that went to no row) is written to table trim in the transaction that
 *   deletes it, and reported at start-up for the topics that hold rows:
 *   a resume from it after a restart is no gap. A topic's row in trim
 *   goes with its last event row. An event a trim took before it was
 *   filled takes every older row of its topic with it, so what a topic
 *   keeps never has a hole.
 * - Publisher marks (store_ev.pub): the highest pub_n per key, in a table
 *   of their own (pub), written in the transaction of the events, the
 *   newest SQ_MARKS keys kept; marks gives them back at start-up.
 * - Memory: besides SQLite's page cache (16 MB), 24 bytes per retained
 *   event and one entry per topic (store_sqlite_topics.c), so retention
 *   never queries the file.
 * - Refusals: store_sqlite_open returns NULL with one line in err, and
 *   never writes to the file, when PATH-log exists and is not a log of
 *   this format, when PATH is not an SQLite database, is
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
 *   discarded by SQLite itself. In the log, a record that fails its CRC
 *   is dropped (and since_seq moves to the next that reads back), and the
 *   first record cut short ends it: the same one-line warning says so.
 * - A log write that fails (ENOSPC, EDQUOT: STORE_EFULL; else STORE_EIO)
 *   fails its round: nothing of it reaches the sink, what it wrote is cut
 *   off. A fill that fails (SQLITE_FULL: disk full, quota, the
 *   store_sqlite_limit_pages knob) is rolled back; queued trims and the
 *   age limit are then applied alone so room can come back, and the
 *   unfilled events they took go to no row. While fills fail, every round
 *   tries one first and refuses its appends with the fill's error if it
 *   fails again (the writer retries after SQ_RETRY_US): the events the
 *   log acknowledged stay in it and in memory, and nothing more is
 *   acknowledged that the file may never take. A fill that fails at open
 *   makes open fail, the log untouched.
 *
 * - store_sqlite_open's err: NULL returned, the reason it refused; non-NULL
 *   returned with err[0] set, the one-line warning about dropped damage.
 *   Test knobs (store_sqlite.h): an injectable clock and a page limit that
 *   simulates a full disk.
 *
 * Threads: append, trim and stats from any thread; restore before the
 * first append. sink->commit and done run on the writer thread, or, when
 * the writer was idle, on the thread of the append that found it so (it
 * logs its own batch there: no thread switch for a lone publisher);
 * never two batches at once, always without the store's lock held; a
 * batch's events reach sink->commit in one call.
 *
 * The file: table ev(seq INTEGER PRIMARY KEY, topic, time_us, sz, id,
 * frame, crc), table pub (publisher marks), table trim(topic, seq) (the
 * floors) and table meta(k, v) with 1 the highest seq the file had
 * (its newest row's when none was deleted since), 2 the
 * seq from which history is complete, 3 the events held.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"
#include "store_sqlite.h"
#include "store_sqlite_int.h"

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

/* ---- The writer. */

#define TRIM_US 500000u         /* how long a trim waits for an append */

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

/* ---- Rounds: number, log, acknowledge; fill SQLite behind. */

static int errno_rc(int e)
{
	switch(e) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return STORE_EFULL;
	case ENOMEM:
		return STORE_ENOMEM;
	default:
		return STORE_EIO;
	}
}

/* Hand the logged appends to the sink in one batch, then their done; on
 * success they wait in unfilled for a fill, else they are freed. rc is a
 * store_err. */
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
		p->done(p->arg, rc);
		if(rc) {
			free(p);
			continue;
		}
		p->user = NULL;
		p->done = NULL;
		p->next = NULL;
		*s->unfilled_tail = p;
		s->unfilled_tail = &p->next;
		for(i = 0; i < p->n; i++)
			s->unfilled_bytes += p->ev[i].flen + 64;
		s->h_unfilled += p->n;
		if(!s->h_first_us)
			s->h_first_us = mono_us();
	}
}

static void free_trims(struct trimq *q)
{
	struct trimq *next;

	for(; q; q = next) {
		next = q->next;
		free(q);
	}
}

/* What one round takes from the queue (under mu). */
struct round {
	struct pend *list;
	struct trimq *trims;
	int pages, reset;
	int fill;               /* fill in this round */
	int refuse;             /* fills fail: refuse the appends (unless fill helps) */
	unsigned extra;
	unsigned long gen;      /* the fill's number (store_sqlite_flush) */
};

/* writer: the writer thread's round, which fills when a fill is due; an
 * appender's round fills only when it must (a failed fill to retry, so
 * that a round that finds room logs at once, or SQ_FILL_MAX waiting). */
static void take(struct sq *s, struct round *r, int writer, int age_due)
{
	uint64_t now = mono_us();
	int want;

	r->list = s->head;
	s->head = NULL;
	s->tail = &s->head;
	r->pages = s->pages_set;
	r->extra = s->pages_extra;
	s->pages_set = 0;
	r->reset = s->stop;
	r->refuse = s->fill_failed;
	if(writer)
		want = s->fill_failed || s->fill_must || s->stop || s->fill_due ||
		       (s->fill_at && now >= s->fill_at) || (s->trims && now >= s->trim_at) ||
		       age_due || s->flush || r->pages;
	else
		want = s->fill_failed || s->fill_must;
	if(s->hold && !s->stop)
		want = 0;
	r->fill = want;
	r->trims = NULL;
	if(want) {
		s->flush = 0;
		r->trims = s->trims;
		s->trims = NULL;
		r->gen = ++s->fill_started;
	}
	s->busy = 1;
}

/* What the writer needs to know of the unfilled appends (under mu). */
static void publish(struct sq *s)
{
	s->unfilled_n = s->h_unfilled;
	s->fill_due = !s->fill_failed && (s->h_unfilled >= SQ_FILL_EVENTS ||
					   s->unfilled_bytes >= SQ_FILL_BYTES);
	s->fill_at = s->h_unfilled ? s->h_first_us + SQ_FILL_US : 0;
	s->fill_must = s->h_unfilled >= SQ_FILL_MAX || s->unfilled_bytes >= SQ_FILL_MAX_BYTES;
}

/* A fill's end (under mu): its result, and store_sqlite_flush's count. */
static void filled(struct sq *s, const struct round *r, int rc)
{
	s->fill_failed = rc != 0;
	s->fill_rc = rc;
	if(rc) {
		s->st.write_errors++;
		s->st.connected = 0;
	} else {
		s->st.connected = 1;
	}
	s->st.events = s->events;
	publish(s);  /* the counts stats adds to events: before flush returns */
	s->fill_done = r->gen;
	pthread_cond_broadcast(&s->filled_cv);
}

/* The end of a round (under mu). */
static void settle(struct sq *s)
{
	s->busy = 0;
	publish(s);
}

/* One fill of list (acknowledged appends, oldest first) with trims and
 * retention, in one transaction; an SQLite code. */
static int fill_list(struct sq *s, struct pend *list, struct trimq *trims, int age_due)
{
	uint64_t cutoff;
	int rc = 0;

	pthread_mutex_lock(&s->dbmu);
	if(age_due) {
		s->age_next = mono_us() + 1000000u;
		age_due = sq__age_pending(s);
	}
	if(list || trims || age_due) {
		cutoff = sq__age_cutoff(s);
		sq__prune(s, list, trims, cutoff);
		rc = sq__write_batch(s, list, trims);
		if((rc & 0xff) == SQLITE_FULL && (trims || cutoff)) {
			/* Room first, from what trims and age take; then again. */
			if(!sq__write_batch(s, NULL, trims))
				rc = sq__write_batch(s, list, NULL);
		}
		if(!rc)
			sq__vacuum(s);
	}
	pthread_mutex_unlock(&s->dbmu);
	return rc;
}

/* Take unfilled from the round's holder (busy): the list, its counts. */
static struct pend *take_unfilled(struct sq *s)
{
	struct pend *list = s->unfilled;

	s->unfilled = NULL;
	s->unfilled_tail = &s->unfilled;
	s->unfilled_bytes = 0;
	s->h_unfilled = 0;
	s->h_first_us = 0;
	return list;
}

/* Put a list that failed to fill back in front of unfilled (busy held),
 * due again after SQ_RETRY_US. */
static void give_back(struct sq *s, struct pend *list)
{
	struct pend *p, *last = NULL;
	size_t i;

	for(p = list; p; p = p->next) {
		last = p;
		s->h_unfilled += p->n;
		for(i = 0; i < p->n; i++)
			s->unfilled_bytes += p->ev[i].flen + 64;
	}
	if(!last)
		return;
	last->next = s->unfilled;
	if(!s->unfilled)
		s->unfilled_tail = &last->next;
	s->unfilled = list;
	s->h_first_us = mono_us() + SQ_RETRY_US;
}

/* A fill, in a round (busy held): appends wait for it. */
static int fill_here(struct sq *s, struct round *r, int age_due)
{
	struct pend *list = take_unfilled(s);
	int rc;

	rc = fill_list(s, list, r->trims, age_due);
	if(rc) {
		give_back(s, list);
	} else {
		sq__pends_free(list);
		if(s->log_off >= SQ_LOG_RESET || r->reset)
			sq__log_reset(s);  /* if it fails, a read skips what is filled */
	}
	pthread_mutex_lock(&s->mu);
	filled(s, r, rc);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* One round: numbering, the log, the sink and the done callbacks, and a
 * fill when it must be here. Whoever holds busy runs it (the writer, or
 * an appender that found the writer idle), so rounds never overlap and
 * batches reach the sink in seq order. While fills fail, appends are
 * refused with the error: nothing is acknowledged that SQLite may never
 * take. */
static void run(struct sq *s, struct round *r, int age_due)
{
	uint64_t t0, us;
	int rc = 0, frc = 0, done = 0;

	if(r->pages) {
		pthread_mutex_lock(&s->dbmu);
		sq__set_pages(s, r->extra);
		pthread_mutex_unlock(&s->dbmu);
	}
	if(r->fill && r->refuse) {
		frc = fill_here(s, r, age_due);
		r->refuse = frc ? store_rc(frc) : 0;
		done = 1;
	} else if(r->refuse) {
		pthread_mutex_lock(&s->mu);
		r->refuse = store_rc(s->fill_rc);
		pthread_mutex_unlock(&s->mu);
	}
	if(r->list) {
		if(r->refuse) {
			rc = r->refuse;
		} else {
			sq__number(s, r->list);
			t0 = mono_us();
			rc = sq__log_write(s, r->list);
			us = mono_us() - t0;
			pthread_mutex_lock(&s->mu);
			if(rc) {
				s->st.write_errors++;
			} else {
				s->st.commits++;
				s->st.commit_us_sum += us;
				if(us > s->st.commit_us_max)
					s->st.commit_us_max = us;
			}
			pthread_mutex_unlock(&s->mu);
			rc = rc ? errno_rc(rc) : STORE_OK;
		}
		deliver(s, r->list, rc);
	}
	if(r->fill && !done)
		frc = fill_here(s, r, age_due);
	if(r->fill && frc && r->trims) {
		/* Not applied: again with the next fill (they may make room). */
		struct trimq *q = r->trims;

		while(q->next)
			q = q->next;
		pthread_mutex_lock(&s->mu);
		q->next = s->trims;
		s->trims = r->trims;
		pthread_mutex_unlock(&s->mu);
	} else if(r->fill) {
		free_trims(r->trims);
	}
	r->trims = NULL;
}

static void *writer_main(void *arg)
{
	struct sq *s = arg;
	struct timespec until;
	struct round r;
	int stop, age_due, trim_due, fill_due;

	for(;;) {
		pthread_mutex_lock(&s->mu);
		for(;;) {
			uint64_t now = mono_us(), wait = 1000000u;

			age_due = s->started && s->lim.history_age_us && now >= s->age_next;
			trim_due = s->trims && now >= s->trim_at;
			fill_due = s->fill_due || (s->fill_at && now >= s->fill_at);
			if(s->hold)  /* no fill: only what a round does */
				age_due = trim_due = fill_due = s->flush = 0;
			if(!s->busy && (s->head || trim_due || fill_due || s->stop || s->pages_set ||
					age_due || s->flush))
				break;
			s->idle = 1;
			/* Timed when something falls due, and while a round runs
			 * (its holder does not always signal at its end). */
			s->timed = s->busy || (!s->hold && (s->trims || s->fill_at ||
							    (s->started && s->lim.history_age_us)));
			if(s->timed) {
				/* Idle: look at the age limit and the trims
				 * no append took along once a second, and fill
				 * what waits when it is due. */
				if(s->trims && s->trim_at > now && s->trim_at - now < wait)
					wait = s->trim_at - now;
				if(s->fill_at && s->fill_at > now && s->fill_at - now < wait)
					wait = s->fill_at - now;
				if(s->busy && wait > SQ_FILL_US)
					wait = SQ_FILL_US;
				s->wake_at = now + wait;
				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_nsec += (long)(wait * 1000u);
				until.tv_sec += until.tv_nsec / 1000000000L;
				until.tv_nsec %= 1000000000L;
				pthread_cond_timedwait(&s->cv, &s->mu, &until);
			} else {
				pthread_cond_wait(&s->cv, &s->mu);
			}
			s->idle = 0;
			s->timed = 0;
		}
		take(s, &r, 1, age_due);
		stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		run(s, &r, age_due);
		pthread_mutex_lock(&s->mu);
		settle(s);
		pthread_mutex_unlock(&s->mu);
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
	struct pend *p = sq__pend_new(ev, n);
	size_t i;

	if(!p)
		return STORE_ENOMEM;
	p->user = ev;
	p->done = done;
	p->arg = arg;
	for(i = 0; i < n; i++)
		p->ev[i].seq = 0;
	pthread_mutex_lock(&s->mu);
	s->started = 1;
	*s->tail = p;
	s->tail = &p->next;
	if(s->idle && !s->busy && !s->stop) {
		/* Nobody is committing: log here, on the caller's thread,
		 * rather than wake the writer and wait to be woken (two
		 * thread switches per publish, which cost more than the
		 * write). Appends meanwhile queue for the writer, which
		 * also fills SQLite. */
		struct round r;

		take(s, &r, 0, 0);
		pthread_mutex_unlock(&s->mu);
		run(s, &r, 0);
		pthread_mutex_lock(&s->mu);
		settle(s);
		/* The writer waits for work, or, when nothing falls due,
		 * for ever, or until its once-a-second look at the age
		 * limit: tell it when a fill now falls due before that. */
		if(s->head || s->pages_set || s->fill_due ||
		   (s->fill_at && s->idle && (!s->timed || s->wake_at > s->fill_at)))
			pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return STORE_OK;
	}
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
	int rc, stop = 0;

	pthread_mutex_lock(&s->dbmu);
	rc = sqlite3_prepare_v2(s->db, "SELECT seq, time_us, topic, id, frame FROM ev ORDER BY seq",
				-1, &q, NULL);
	if(rc) {
		pthread_mutex_unlock(&s->dbmu);
		return STORE_EIO;
	}
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
		stop = each(ud, &e);
		if(stop)
			break;
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->dbmu);
	if(stop)  /* the hub could not take the history whole: no start */
		return stop < 0 ? stop : STORE_EIO;
	if(rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_rc(rc);
	*last_seq = s->last;
	*since_seq = s->since;
	pthread_mutex_lock(&s->mu);
	s->started = 1;
	pthread_mutex_unlock(&s->mu);
	return STORE_OK;
}

static int sq_marks(struct store *st, store_mark_fn fn, void *ud)
{
	struct sq *s = (struct sq *)st;
	sqlite3_stmt *q;
	int rc, stop = 0;

	pthread_mutex_lock(&s->dbmu);
	rc = sqlite3_prepare_v2(s->db, "SELECT key, n FROM pub", -1, &q, NULL);
	if(rc) {
		pthread_mutex_unlock(&s->dbmu);
		return store_rc(rc);
	}
	while(!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *key = sqlite3_column_blob(q, 0);
		int klen = sqlite3_column_bytes(q, 0);

		if(key && klen > 0)
			stop = fn(ud, key, (size_t)klen, (uint64_t)sqlite3_column_int64(q, 1));
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&s->dbmu);
	if(stop)
		return stop < 0 ? stop : STORE_EIO;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : store_rc(rc);
}

static int sq_floors(struct store *st, store_floor_fn fn, void *ud)
{
	struct sq *s = (struct sq *)st;
	struct topic *t;
	size_t i;
	int stop = 0;

	pthread_mutex_lock(&s->dbmu);
	for(i = 0; !stop && i < s->tabsize; i++)
		for(t = s->tab[i]; !stop && t; t = t->next)
			if(t->trimmed && t->n)
				stop = fn(ud, t->name, t->tlen, t->trimmed);
	pthread_mutex_unlock(&s->dbmu);
	return stop < 0 ? stop : stop ? STORE_EIO : STORE_OK;
}

static void sq_trim(struct store *st, const char *topic, size_t tlen, uint64_t below)
{
	struct sq *s = (struct sq *)st;
	struct trimq *q;

	/* One entry per topic: the ring trims after each commit, and a fill
	 * (and its prune of what waits for it) goes through them all. */
	pthread_mutex_lock(&s->mu);
	for(q = s->trims; q; q = q->next)
		if(q->tlen == tlen && !memcmp(q->topic, topic, tlen)) {
			if(below > q->below)
				q->below = below;
			pthread_mutex_unlock(&s->mu);
			return;
		}
	pthread_mutex_unlock(&s->mu);
	q = malloc(sizeof(*q) + tlen);
	if(!q)
		return;
	memcpy(q->topic, topic, tlen);
	q->tlen = tlen;
	q->below = below;
	pthread_mutex_lock(&s->mu);
	/* No fill of its own at once: the next fill takes it along, or it
	 * goes alone within TRIM_US. (Another entry for the topic may have
	 * come meanwhile; both apply.) */
	if(!s->trims)
		s->trim_at = mono_us() + TRIM_US;
	q->next = s->trims;
	s->trims = q;
	if(s->idle && !s->timed)  /* it waits for ever: the trim falls due */
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
	out->events += s->unfilled_n;
	out->behind = s->unfilled_n;
	pthread_mutex_unlock(&s->mu);
	out->bytes = file_size(s->path, "") + file_size(s->path, "-wal") +
		     file_size(s->path, "-log");
}

static void sq_free(struct sq *s)
{
	sq__db_close(s);
	sq__log_close(s);
	sq__pends_free(s->unfilled);
	sq__pends_free(s->head);  /* none after the last round; for safety */
	free_trims(s->trims);
	sq__topics_free(s);
	free(s->batch);
	free(s->path);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->dbmu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->filled_cv);
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
	.marks = sq_marks,
	.floors = sq_floors,
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

void store_sqlite_hold(struct store *st)
{
	struct sq *s = (struct sq *)st;

	pthread_mutex_lock(&s->mu);
	s->hold = 1;
	pthread_mutex_unlock(&s->mu);
}

void store_sqlite_flush(struct store *st)
{
	struct sq *s = (struct sq *)st;
	unsigned long want;

	/* The next fill to start: a fill running now may have taken its
	 * list before the appends acknowledged so far. */
	pthread_mutex_lock(&s->mu);
	s->flush = 1;
	want = s->fill_started + 1;
	pthread_cond_signal(&s->cv);
	while(s->fill_done < want)
		pthread_cond_wait(&s->filled_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
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

/* ---- Open. */

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
	kind = sq__probe(path, err, errlen);
	if(kind == K_REFUSED)
		return NULL;
	s = calloc(1, sizeof(*s));
	if(!s || !(s->path = strdup(path))) {
		free(s);
		sq__errf(err, errlen, "store %s: out of memory", path);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->dbmu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->filled_cv, NULL);
	s->base.ops = &sqlite_ops;
	s->base.sink = *sink;
	if(lim)
		s->lim = *lim;
	s->clock = wall_us;
	s->tail = &s->head;
	s->unfilled_tail = &s->unfilled;
	s->logfd = -1;
	s->st.connected = 1;
	sq__crc_init(s->crctab);

	rc = sq__db_open(s, path, kind == K_NEW, sync_full);
	if(!rc)
		rc = sq__verify(s, err, errlen);
	s->filled = s->last;  /* the log's records above it are not in the file */
	if(sq__is_damage(rc) && kind == K_OURS) {
		char why[128];

		snprintf(why, sizeof(why), "%s", sqlite3_errstr(rc));
		/* No checkpoint into the damaged file at close: it is kept
		 * as it is, its WAL beside it. */
		if(s->db)
			sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sq__db_close(s);
		rc = sq__salvage(s, sync_full, why, err, errlen);
		if(!rc)
			rc = sq__verify(s, NULL, 0);
	}
	s->sync_full = sync_full;
	if(!rc)
		rc = sq__trims_load(s);
	if(!rc && sq__log_open(s, err, errlen)) {
		sq_free(s);
		return NULL;
	}
	if(!rc)
		rc = sq__log_replay(s, err, errlen);
	if(rc == -1) {
		sq_free(s);
		return NULL;
	}
	if(!rc)
		rc = sq__retain_all(s);
	if(rc) {
		if((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
			sq__errf(err, errlen, "store %s: in use by another process", path);
		else
			sq__errf(err, errlen, "store %s: cannot open it: %s", path,
			     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		sq_free(s);
		return NULL;
	}
	s->st.events = s->events;
	if(pthread_create(&s->thr, NULL, writer_main, s)) {
		sq__errf(err, errlen, "store %s: cannot start its writer thread", path);
		sq_free(s);
		return NULL;
	}
	s->thr_up = 1;
	return &s->base;
}

