/*
 * store_sqlite_int.h - what the three files of the durable backend share,
 * and nothing else of ssed sees: the handle, the rows each topic holds,
 * and the file. store_sqlite.c is the writer thread and the ops (its
 * header comment is the backend's contract), store_sqlite_log.c the
 * acknowledgement log in front of the file, store_sqlite_txn.c the
 * transactions that fill the file, store_sqlite_topics.c the
 * rows per topic and retention, store_sqlite_file.c opening, checking and
 * salvaging the file.
 */
#ifndef SSED_STORE_SQLITE_INT_H
#define SSED_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define APP_ID 0x73736564       /* "ssed" */
#define SCHEMA 1
#define WAL_LIMIT (64 << 20)    /* journal_size_limit, bytes */
#define NO_SEQ UINT64_MAX
#define SQ_MARKS 4096           /* publisher marks kept (pubmark.h) */
#define SQ_LOG_RESET (1u << 20) /* the log is cut back after a fill past this */
#define SQ_FILL_EVENTS 4096     /* a fill is due at this many events ... */
#define SQ_FILL_BYTES (4u << 20) /* ... or bytes waiting for it ... */
#define SQ_FILL_US 20000u       /* ... or when the oldest waited this long */
#define SQ_FILL_MAX 16384       /* an append fills itself past this many ... */
#define SQ_FILL_MAX_BYTES (16u << 20) /* ... or bytes */
#define SQ_RETRY_US 200000u     /* a failed fill is tried again after this */
#define SQ_CHUNK 64             /* rows below a trim that may wait (sq__retain) */
/* The meta row 4 is a ceiling no seq given out has reached, moved this
 * far ahead (a minute of the clock) when seqs reach it: a salvage that
 * lost the newest rows starts above it, so ids never repeat. */
#define SQ_CEILING_US 60000000u

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
	uint64_t trimmed, trimmed0;  /* the newest row deleted (table trim) */
	size_t pn;                   /* sq__prune's count of unfilled events, */
	uint64_t pbytes;             /* and their size; 0 outside it */
	int dirty;
	size_t tlen;
	char name[];
};

struct sq {
	struct store base;
	struct store_limits lim;
	char *path;
	sqlite3 *db;
	sqlite3_stmt *ins, *del, *meta, *begin, *commit, *rollback, *mark, *prune;
	sqlite3_stmt *trimset, *trimdel;
	uint32_t crctab[8][256];
	uint64_t (*clock)(void *ud);
	void *clock_ud;

	/* The acknowledgement log (store_sqlite_log.c); the round's
	 * holder (busy) only, after open. */
	int logfd, sync_full;
	char logpath[4096 + 8];
	uint64_t log_off;       /* where the next record goes */
	uint64_t log_size;      /* the file's size, as far as known */
	unsigned char *logbuf;
	size_t logcap;
	/* Acknowledged appends SQLite does not have yet, oldest first. */
	struct pend *unfilled, **unfilled_tail;
	size_t unfilled_bytes, h_unfilled;
	uint64_t h_first_us;    /* when the oldest of unfilled was acknowledged */
	uint64_t filled;        /* the highest seq in the file (the filler's) */

	pthread_t thr;
	int thr_up;
	/* The connection is opened without SQLite's own mutex (NOMUTEX):
	 * dbmu keeps the writer's transactions and restore apart. */
	pthread_mutex_t dbmu;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	struct pend *head, **tail;
	struct trimq *trims;
	size_t unfilled_n;      /* events in unfilled (written by busy's holder) */
	uint64_t fill_at;       /* a fill is due then (mono_us), 0: none waits */
	int fill_due;           /* enough waits for a fill now */
	int fill_failed;        /* the last fill failed: appends fill first */
	int fill_rc;            /* its SQLite code */
	int fill_must;          /* too much waits: appends fill themselves */
	int flush;              /* store_sqlite_flush waits for a fill */
	int hold;               /* store_sqlite_hold: no fill until close */
	unsigned long fill_started, fill_done;  /* fills numbered (store_sqlite_flush) */
	pthread_cond_t filled_cv;
	int stop, started, pages_set;
	int idle;               /* the writer waits on cv: appends signal it */
	int timed;              /* ... with a timeout (else only a signal wakes it) */
	uint64_t wake_at;       /* ... which ends then (mono_us) */
	int busy;               /* a round is running (writer or an appender) */
	uint64_t trim_at;       /* queued trims go alone from then (mono_us) */
	unsigned pages_extra;
	struct store_stats st;

	/* writer thread (or open/restore, before it works) */
	struct topic **tab, *dirty;
	size_t tabsize, ntopics;
	uint64_t last, since, events, events0;
	struct store_ev *batch;
	size_t batch_cap;
	unsigned long since_vacuum;
	unsigned long marks_written;   /* the pub table is pruned now and then */
	int deleted;            /* the transaction deleted a row */
	uint64_t ceiling;       /* meta row 4 (SQ_CEILING_US) */
	uint64_t age_next;
};

/* ---- store_sqlite_topics.c: the writer thread's (or open's) only. */

/* Free every topic. */
void sq__topics_free(struct sq *s);
/* The topic named name, created (empty) when missing and create is set;
 * NULL when missing or out of memory. */
struct topic *sq__topic_get(struct sq *s, const char *name, size_t tlen, int create);
/* Count one more row of t, newer than all it holds; SQLITE_NOMEM. */
int sq__topic_push(struct sq *s, struct topic *t, uint64_t seq, uint64_t tu, uint64_t sz);
/* t's oldest row, NULL when it holds none. */
const struct row *sq__oldest(const struct topic *t);
/* After a commit: the topics' changes stand (empty topics are freed).
 * After a rollback: the topics as they were at the last commit. */
void sq__topics_commit(struct sq *s);
void sq__topics_rollback(struct sq *s);
/* Inside a transaction: delete t's oldest rows while t is over the limits,
 * older than cutoff (0: no age limit) or below below, once they are due:
 * exact, at once; else in chunks (up to an eighth over --history and
 * --history-bytes, an eighth of t's rows but at most SQ_CHUNK below
 * below; the age limit is exact).
 * Sets s->deleted when a row went. An SQLite code. */
int sq__retain(struct sq *s, struct topic *t, uint64_t below, uint64_t cutoff, int exact);
/* An event of t that a trim took before it was filled (seq): every
 * older row goes too, at once, so that what the file keeps of t has no
 * hole, and seq is t's newest trimmed. SQLite code. */
int sq__topic_gone(struct sq *s, struct topic *t, uint64_t seq);
/* Write t's newest trimmed seq to table trim (its row goes with t's
 * last one). SQLite code. */
int sq__trim_save(struct sq *s, struct topic *t);
/* The same for every topic with a row older than cutoff. */
int sq__retain_age(struct sq *s, uint64_t cutoff);
/* The age limit's cutoff now (0: none); whether a row is past it. */
uint64_t sq__age_cutoff(struct sq *s);
int sq__age_pending(struct sq *s);
/* In a transaction of its own: every topic to the limits of today. */
int sq__retain_all(struct sq *s);
/* Step a statement that returns no rows, then reset it; SQLITE_OK. */
int sq__run(sqlite3_stmt *st);
/* meta row key (1 highest seq filled, 2 since seq, 3 events, 4 seq ceiling) to v. */
int sq__meta_set(struct sq *s, int key, uint64_t v);

/* ---- store_sqlite_txn.c: the writes to SQLite (the round's holder). */

/* Give the events of list their seqs and times, before they are logged. */
void sq__number(struct sq *s, struct pend *list);
/* Mark the unfilled events of list that trims, the age cutoff or the
 * history limits (as many newer events of the topic in list) took: they
 * go to no row. */
void sq__prune(struct sq *s, struct pend *list, const struct trimq *trims, uint64_t cutoff);
/* One transaction: the events of list (numbered), then trims, then
 * retention and the meta rows; rolled back whole on failure. An SQLite
 * code. */
int sq__write_batch(struct sq *s, struct pend *list, struct trimq *trims);
/* A copy of n events with their bytes (user, done, arg unset); NULL when
 * out of memory. sq__pends_free frees a list of them. */
struct pend *sq__pend_new(const struct store_ev *ev, size_t n);
void sq__pends_free(struct pend *p);
/* Now and then, give freed pages back to the file system. */
void sq__vacuum(struct sq *s);
/* The page limit (store_sqlite_limit_pages): extra pages beyond now. */
void sq__set_pages(struct sq *s, unsigned extra);

/* ---- store_sqlite_log.c: the acknowledgement log. */

/* Open (create) s->path + "-log" and check its header; -1 with err set. */
int sq__log_open(struct sq *s, char *err, size_t errlen);
void sq__log_close(struct sq *s);
/* Write the events of list (numbered) as records at log_off, in one
 * write; fdatasync with sync_full. 0, or an errno (nothing of list is
 * then in the log). */
int sq__log_write(struct sq *s, const struct pend *list);
/* Cut the log back to its header; 0 or an errno. */
int sq__log_reset(struct sq *s);
/* Call fn for each record that reads back, in order; what does not is
 * reported in warn (one line). *gap: 0, or the seq from which history
 * is complete again after a damaged record was skipped. 0, fn's
 * non-zero, or an errno. */
typedef int (*sq_log_fn)(void *ud, const struct store_ev *e);
int sq__log_read(struct sq *s, sq_log_fn fn, void *ud, uint64_t *gap, char *warn, size_t wlen);
/* At open: write what the log holds above the file's highest seq into
 * the file, then cut the log back. An SQLite code, or -1 with err set
 * (the log is then left as it is); a warning about what did not read
 * back is added to err. */
int sq__log_replay(struct sq *s, char *err, size_t errlen);

/* ---- store_sqlite_file.c. */

/* What a path is: a new store, ours, or refused (err says why). */
enum kind { K_NEW, K_OURS, K_REFUSED };

__attribute__((format(printf, 3, 4)))
void sq__errf(char *err, size_t len, const char *fmt, ...);
/* The CRC-32 tables; a row's checksum. */
void sq__crc_init(uint32_t tab[8][256]);
uint32_t sq__crc(uint32_t tab[8][256], const void *p, size_t n);
uint32_t sq__row_crc(uint32_t tab[8][256], const struct store_ev *e);
/* What path is, from its directory, mode and first 100 bytes, without
 * SQLite and without writing anything. */
enum kind sq__probe(const char *path, char *err, size_t errlen);
/* Whether an SQLite code says the file is malformed. */
int sq__is_damage(int rc);
/* Open (create: with the schema) the file at path, read meta, prepare
 * the statements; an SQLite code. sq__db_close undoes it. */
int sq__db_open(struct sq *s, const char *path, int create, int sync_full);
void sq__db_close(struct sq *s);
/* Each topic's newest deleted row, from table trim (after sq__verify). */
int sq__trims_load(struct sq *s);
/* Read every row: checksums, the topics, the last seq; drop the rows
 * that fail, saying so in warn. */
int sq__verify(struct sq *s, char *warn, size_t wlen);
/* Move the damaged file aside and copy what reads back into a fresh one,
 * leaving s->db open on it; warn says what was kept. */
int sq__salvage(struct sq *s, int sync_full, const char *why, char *warn, size_t wlen);

#endif
