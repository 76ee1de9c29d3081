/*
 * store_redis_int.h - what the Redis backend's writer (store_redis.c) and
 * reader (store_redis_read.c) share: the handle, an append in flight, and
 * the helpers both use. Not for any other file.
 */
#ifndef SSED_STORE_REDIS_INT_H
#define SSED_STORE_REDIS_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "redis_conn.h"
#include "redis_script.h"
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
#define LOG_DEFAULT 100000   /* entries the shared log keeps */
#define RECOVER_MAX 100000   /* entries a reader behind the log takes from the histories */

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
	int up;                       /* the writer's connection is there */
	int stop, rstop, go;
	int rfd;                      /* the reader's, for shutdown() at close; -1 none */
	int wcheck;                   /* the reader lost Redis: the writer PINGs */
	uint64_t applied;             /* the reader has committed up to here */
	uint64_t floor;               /* the highest seq this node has seen */
	uint64_t start, start_n;      /* where the reader starts: seq, entry number */
	uint64_t log_n, applied_n;    /* the log's entries as last seen, and the
				       * number of the last one committed */
	uint64_t since;
	char epoch[64];
	/* Restore's floors, for the floors op that follows it. */
	struct rfloor {
		char *topic;
		size_t tlen;
		uint64_t seq;
	} *floors;
	size_t nfloors;

	struct store_stats st;
	redisContext *wc;             /* the writer's, owned by it after open */
	pthread_t writer, reader;
};

/* Now in µs on clock; *ts = ms from now on CLOCK_MONOTONIC (the clock of
 * every condition variable here); the next reconnect delay after ms. */
uint64_t store_redis__now_us(int clock);
void store_redis__deadline(struct timespec *ts, int ms);
int store_redis__backoff(int ms);

/* The wait list's jobs done: committed (last <= applied) or, when late is
 * not 0, stored at or before late (µs, CLOCK_MONOTONIC). Under s->mu. */
struct job *store_redis__take_done(struct rstore *s, uint64_t applied, uint64_t late);

/* Run done for each job of list with rc unless the job has its own, and
 * free them. With no lock held. */
void store_redis__finish(struct job *list, int rc);

/* The reader thread (store_redis_read.c). */
void *store_redis__reader(void *arg);

#endif
