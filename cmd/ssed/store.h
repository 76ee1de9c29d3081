/*
 * store.h - where events are kept beyond the ring: the backend interface.
 *
 * The ring (ring.c) is the hot window that delivery reads in every
 * configuration. A backend sits behind it: it makes an event durable (an
 * embedded database) or shared (Redis), assigns its sequence number, and
 * hands it back to the hub, which only then puts it in the ring, wakes the
 * streams and lets the publisher's reply go. So no subscriber ever sees an
 * event the backend does not have, and an acknowledgement means what the
 * configuration promises. The memory-only configuration is one backend
 * whose "stored" is "appended".
 *
 * Sequence numbers (seq) are hub-wide, strictly increasing, never reused,
 * also across restarts (a backend keeps the highest it gave out even when
 * every event is trimmed) and, with a shared backend, across nodes. A seq
 * is microseconds of the wall clock when that is above the last one, else
 * the last one plus one, so ids stay increasing when the clock goes back.
 *
 * Threads: append, trim and stats may be called from any thread; a backend
 * serialises them itself. sink->commit is called from the backend's own
 * thread (or, by an asynchronous backend that was idle, from inside an
 * append on its caller's thread), one batch at a time, batches in seq
 * order, never with a lock of the backend's held that append or trim also
 * take. done callbacks run after the batch's commit, without such a lock
 * too. So an asynchronous backend's append is called without any lock
 * that sink->commit or done take (the hub's).
 * A shared backend (Redis) commits every node's events, its own included,
 * from its reader thread, so every node applies the same order; commit is
 * then also called for events no append of this node asked for.
 *
 * The hub calls trim with its own lock held, and sink->commit takes that
 * lock: trim only queues its work and never waits for a commit. restore
 * runs on the caller's thread with the hub's lock held; each() may call
 * trim (restored events over the limits), and nothing of the sink.
 *
 * A synchronous backend (ops.sync, the memory one) commits and calls done
 * inside append, on the caller's thread. The hub then calls its append and
 * trim with the hub's lock held (they are serialised by it), and its
 * sink->commit runs under that lock too: the hot path of memory mode costs
 * no lock, thread hop or copy beyond what it did before the seam.
 */
#ifndef SSED_STORE_H
#define SSED_STORE_H

#include <stddef.h>
#include <stdint.h>

/* One event as the backend keeps it. */
struct store_ev {
	uint64_t seq;           /* set by the backend on append */
	uint64_t time_us;       /* set by the backend on append: the wall clock
				 * its seq was taken from, for --history-age */
	const char *topic;
	size_t tlen;
	const char *id;         /* the publisher's id; NULL: the id is seq in decimal */
	size_t idlen;
	const char *frame;      /* the framed event (event:/data: lines and the blank
				 * line), without an id line: the ring adds that */
	size_t flen;
	void *ref;              /* the hub's own framed copy of the event: a
				 * backend hands it back in commit as it got it
				 * (NULL for events it did not get from append) */
	const char *pub;        /* its publisher's key (pubmark.h); NULL: none */
	size_t publen;
	uint64_t pub_n;         /* its number from that publisher: a durable
				 * backend stores each key's highest in the
				 * same commit as the event */
};

/* What the hub gives a backend: where stored events go. */
struct store_sink {
	void *ud;
	/* Events now stored, in seq order: put them in their rings and wake
	 * their streams. Pointers are valid only during the call. */
	void (*commit)(void *ud, const struct store_ev *ev, size_t n);
	/* The backend lost history (Redis restarted empty or was flushed):
	 * nothing up to seq upto can be replayed any more; resumes from
	 * before it get ssed-gap. */
	void (*lost)(void *ud, uint64_t upto);
};

/* Retention, the same on disk (or in Redis) as in the ring. 0: no limit. */
struct store_limits {
	size_t history;           /* events per topic */
	size_t history_bytes;     /* bytes per topic */
	uint64_t history_age_us;  /* age of the oldest event kept */
};

/* What a backend reports for /metrics. */
struct store_stats {
	uint64_t events;          /* events it holds */
	uint64_t bytes;           /* bytes it uses (file size, Redis memory) */
	uint64_t commits;         /* batches stored */
	uint64_t commit_us_sum;   /* their latency, summed */
	uint64_t commit_us_max;
	uint64_t write_errors;
	int connected;            /* 1 when it can store now (Redis up, disk writable) */
	uint64_t reconnects;      /* connections re-established after a loss (Redis) */
	uint64_t behind;          /* events in the shared log this node has not
				   * committed yet (Redis); acknowledged and not
				   * in the database file yet (SQLite) */
};

/* append's and a done callback's results. */
enum store_err {
	STORE_OK = 0,
	STORE_EFULL = -1,        /* no room (disk full, quota): 507 */
	STORE_EDOWN = -2,        /* backend unreachable: 503 */
	STORE_EIO = -3,          /* write failed otherwise: 500 */
	STORE_ENOMEM = -4
};

/* Called once per append, after its events were committed (rc STORE_OK,
 * ev[i].seq set) or failed (nothing of the batch stored or delivered). */
typedef void (*store_done_fn)(void *arg, int rc);

/* Called once per event restored at start-up, in seq order per topic;
 * 0 to go on. */
typedef int (*store_each_fn)(void *ud, const struct store_ev *ev);

/* Called once per publisher mark restored at start-up; 0 to go on. */
typedef int (*store_mark_fn)(void *ud, const char *key, size_t klen, uint64_t n);

/* Called once per topic whose oldest events a backend trimmed, with the
 * seq of the newest it trimmed; 0 to go on. */
typedef int (*store_floor_fn)(void *ud, const char *topic, size_t tlen, uint64_t seq);

struct store;

struct store_ops {
	const char *name;         /* "memory", "sqlite", "redis" */
	int sync;                 /* append commits before it returns (see above) */
	int shared;               /* other nodes append too (Redis): an id above
				   * the newest committed may be one this node's
				   * reader has not reached yet */
	/*
	 * append - store n events (one publish, or a streamed publish's
	 * batch) and then commit them to the sink. The events are copied
	 * before append returns; ev[i].seq is written before done runs.
	 * A durable backend batches appends from many callers into one
	 * commit. Returns STORE_OK (done will be called) or an error (done
	 * will not be called).
	 */
	int (*append)(struct store *s, struct store_ev *ev, size_t n,
		      store_done_fn done, void *arg);
	/*
	 * restore - at start-up, before any append: call each() for every
	 * retained event, oldest first per topic. *last_seq gets the highest
	 * seq ever given out (0 when none), *since_seq the seq from which
	 * this backend's history is complete (numbers in [since, last] that
	 * are not retained were trimmed, not lost). A backend that kept
	 * nothing from an earlier run (memory) reports the seq it starts
	 * from as both: ids of an earlier run then resume with a gap.
	 * 0 or a store_err (the hub does not start).
	 */
	int (*restore)(struct store *s, store_each_fn each, void *ud,
		       uint64_t *last_seq, uint64_t *since_seq);
	/*
	 * marks - at start-up, after restore: call fn for each publisher
	 * key it keeps with the highest pub_n committed under it (NULL for a
	 * backend that keeps none: the hub then knows only what this run
	 * published). 0 or a store_err.
	 */
	int (*marks)(struct store *s, store_mark_fn fn, void *ud);
	/*
	 * floors - at start-up, after restore: call fn for each topic it
	 * restored events of whose older events it trimmed, with the seq
	 * of the newest event trimmed (a resume from it or later missed
	 * nothing). NULL, or a topic not reported: the hub takes the seq
	 * before the topic's oldest restored event, so that a resume from
	 * the newest trimmed one gets a gap it need not. 0 or a store_err.
	 */
	int (*floors)(struct store *s, store_floor_fn fn, void *ud);
	/*
	 * read_before - events of topic older than seq before, newest n at
	 * most, oldest first, for a backend that keeps more than the ring
	 * (NULL when it never does). 0 or a store_err.
	 */
	int (*read_before)(struct store *s, const char *topic, size_t tlen,
			   uint64_t before, size_t n, store_each_fn each, void *ud);
	/* trim - topic's events with a seq below below are gone from the
	 * ring; drop them here too (queued with the next commit). NULL
	 * when the backend keeps nothing beyond the ring. */
	void (*trim)(struct store *s, const char *topic, size_t tlen, uint64_t below);
	void (*stats)(struct store *s, struct store_stats *st);
	/* close - commit what is queued, stop the backend's threads, free. */
	void (*close)(struct store *s);
};

/* Every backend: the ops table and its handle. */
struct store {
	const struct store_ops *ops;
	struct store_sink sink;
};

/* The memory-only backend (store_mem.c). NULL when out of memory. */
struct store *store_mem_open(const struct store_sink *sink);
/* The same with the clock its seqs come from (microseconds; for tests that
 * turn the clock back). NULL clock_us: the wall clock. */
struct store *store_mem_open_clock(const struct store_sink *sink, uint64_t (*clock_us)(void));

/*
 * The embedded durable backend (store_sqlite.c): path is the database
 * file, created when missing; sync_full: fsync per group commit (survives
 * power loss), else an acknowledged event survives a crash of ssed.
 * NULL with a one-line reason in err when the file is not ssed's store,
 * has an unknown schema version, or cannot be opened for writing.
 */
struct store *store_sqlite_open(const char *path, int sync_full,
				const struct store_limits *lim,
				const struct store_sink *sink,
				char *err, size_t errlen);

/*
 * The shared backend (store_redis.c): several ssed share topics, ids and
 * history through one Redis. url is redis://[user:password@]host[:port][/db]
 * or unix:///path/to/redis.sock, either with an optional query
 * ?db=N&log=N&user=NAME (log: entries the shared log keeps for nodes that
 * fall behind or reconnect, default 100000; a log shorter than a burst of
 * publishes makes nodes report gaps in it). password, when not NULL,
 * overrides the URL's. lim (NULL: none) applies in Redis, atomically with
 * each append, the same for every node.
 * NULL with a one-line reason in err (never the password) when the URL is
 * malformed or Redis cannot be reached or refuses the credentials.
 *
 * Beyond the contract above: an append is acknowledged (done STORE_OK)
 * once Redis has it and this node's reader has committed it, or, when the
 * reader has not committed it 2 s after Redis stored it (Redis went away,
 * or the sink is slow), without that commit: the event is in Redis and
 * comes to this node's sink when its reader gets there.
 * The reader starts with restore, from the last seq it reports (or with
 * the first append when restore was not called): events appended on other
 * nodes before then are in the restored history, not committed.
 * Redis unreachable: append returns STORE_EDOWN at once, or done gets it
 * within 2 s; never a STORE_OK for an event Redis did not confirm (but a
 * script call that timed out may still have been stored, and is then
 * delivered like any other: a failed publish may be retried). A reader
 * that fell behind the shared log's retention commits what it missed from
 * the topics' histories. When Redis lost history (restarted empty,
 * flushed, or the histories no longer hold all that the reader missed),
 * sink->lost is called from the reader thread between commits. trim is a no-op: nodes share the history, and
 * Redis applies lim itself.
 */
struct store *store_redis_open(const char *url, const char *password,
			       const struct store_limits *lim,
			       const struct store_sink *sink,
			       char *err, size_t errlen);

/*
 * store_redis_secret - read a password named by from: "env:NAME" (that
 * variable's value) or "file:PATH" (the file's first line, without its
 * line end). 0, or -1 with a reason in err that names the variable or the
 * file, never the secret.
 */
int store_redis_secret(const char *from, char *buf, size_t len,
		       char *err, size_t errlen);

#endif
