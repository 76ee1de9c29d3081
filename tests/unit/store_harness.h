/*
 * store_harness.h - what the backend conformance suite (test_store.c)
 * needs: the table of backends it runs against, and a hub driven the way
 * ssed drives it, with the delivery threads played by the test.
 *
 * A backend entry opens a fresh, empty store (open) or the same store
 * again after the hub that used it was freed (reopen): a durable backend
 * then gives back what it kept, the memory one nothing. Its capabilities
 * say which outcome a case expects.
 */
#ifndef STORE_HARNESS_H
#define STORE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "../../cmd/ssed/hub.h"
#include "../../cmd/ssed/store.h"

struct backend {
	const char *name;
	/* A fresh store; arg is the backend's own state (a path, say). */
	struct store *(*open)(const struct store_sink *sink, void *arg);
	/* The store the last open or reopen used, as it was closed. */
	struct store *(*reopen)(const struct store_sink *sink, void *arg);
	int durable;           /* keeps retained events and seqs across reopen */
	int keeps_seq;         /* keeps the last seq across reopen, events or not */
	int test_clock;        /* takes seqs from the clock h_clock_shift moves */
	int gate;              /* commits wait at h_hold's gate */
	void *arg;
};

/* The backends: memory, a test backend that commits on its own thread
 * (the shape of a durable one), then the durable one (store_sqlite.c). */
extern const struct backend backends[];
extern const size_t nbackends;

/* Limits a case sets for its hub; 0 fields take the defaults. */
struct limits {
	size_t history, history_bytes, max_topics, max_memory;
	uint64_t history_age_us;
};

/* A backend with a gate commits without handing refs back while on, as a
 * shared backend's reader may. */
void h_drop_refs(int on);

/* Remove the files the durable backends made. */
void h_cleanup(void);

/* Move the test clock by us microseconds (negative: back in time). */
void h_clock_shift(int64_t us);

/* Hold (on) or open the gate of a backend with one: held, its appends
 * queue up uncommitted. h_wait_queued waits (5 s at most) until n appends
 * wait at the gate; 1 when they do. */
void h_hold(int on);
int h_wait_queued(size_t n);

/* A hub over backend b: fresh (reopen 0) or reopened. NULL on failure. */
struct hub *h_open(const struct backend *b, int reopen, const struct limits *lim);
void h_close(struct hub *h);

/* Publish data to topic; the id it got goes to id (HUB_ID_MAX + 1). */
int h_pub(struct hub *h, const char *topic, const char *data, char *id);

/* Subscribe to the comma-separated topics, resuming after last_id (NULL:
 * none), and read everything pending into buf (NUL-terminated). Returns
 * the subscriber (still subscribed) or NULL. */
struct hub_sub *h_sub(struct hub *h, const char *topics, const char *last_id,
		      char *buf, size_t size);
/* Read what s has pending now into buf (NUL-terminated). */
void h_read(struct hub *h, struct hub_sub *s, char *buf, size_t size);

/* The ids in a stream's bytes, in order, as numbers (0 for one that is
 * not a number); returns how many (at most max). */
size_t h_ids(const char *stream, uint64_t *ids, size_t max);
/* 1 when the stream opens with an ssed-gap event. */
int h_gap(const char *stream);

#endif
