/*
 * hub.h - topics and subscribers: publish, subscribe, read from a cursor.
 *
 * The hub knows neither HTTP nor where events are kept. A published event
 * is framed once into its wire bytes, handed to the backend (store.h),
 * which gives it its seq, and only once the backend commits it does it
 * enter its topic's ring (ring.h) and wake the topic's streams (wake.c);
 * so no subscriber sees an event before it is stored. A subscriber is a
 * set of cursors into rings and reads the shared bytes from there. Memory
 * is bounded by the rings and by cfg.max_memory over them all, never by
 * subscribers times backlog.
 *
 * Every function takes the hub's one mutex itself. ops.suspend is called
 * with that mutex held (the libmicrohttpd lock order: connection, then hub,
 * then the daemon's internal mutex); ops.resume with it held or not. A
 * publish does not wake streams itself: the hub's waker thread does, so a
 * publisher's reply waits for the fan-out only as hub_publish says.
 */
#ifndef SSED_HUB_H
#define SSED_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sse.h"
#include "store.h"

#define HUB_TOPIC_MAX 128      /* bytes in a topic name */
#define HUB_ID_MAX 256         /* bytes in an event id */
#define HUB_SUB_TOPICS_MAX 32  /* topics on one stream */

struct hub_ops {
	/* Park the connection: nothing to send. Called inside hub_read(). */
	void (*suspend)(void *conn);
	/* Wake a parked connection: something to send. Called from any
	 * thread, exactly once per suspend. */
	void (*resume)(void *conn);
};

struct hub_config {
	size_t history;          /* events replayable per topic */
	size_t history_bytes;    /* bytes retained per topic */
	size_t max_topics;
	size_t max_subscribers;
	long long retry_ms;      /* sent to each new stream when >= 0 */
	size_t publish_window;   /* see HUB_PUB_PACE (0: no pacing); at most a
				  * quarter of a topic's ring (hub_ring_cap),
				  * which anything larger (SIZE_MAX) means */
	size_t max_memory;       /* bytes every retained event may hold in all,
				  * allocation included; 0: no bound */
	uint64_t history_age_us; /* events older than this go (hub_expire); 0: never */
	struct hub_ops ops;
	/* The backend, opened by hub_new with the hub's sink; NULL: the
	 * memory-only one. NULL from it: hub_new fails (it says why itself). */
	struct store *(*store_open)(const struct store_sink *sink, void *arg);
	void *store_arg;
};

enum hub_err {
	HUB_OK = 0,
	HUB_EBUSY = -1,      /* too many subscribers or topics */
	HUB_ENOMEM = -2,
	HUB_EFIELD = -3,     /* id or event type not allowed */
	HUB_ETOOBIG = -4,    /* one event larger than max_memory */
	HUB_EFULL = -5,      /* the backend has no room (disk full) */
	HUB_EDOWN = -6,      /* the backend cannot store now */
	HUB_EIO = -7         /* the backend failed to store */
};

struct hub_stats {
	uint64_t subscribers, topics, published, delivered_events, delivered_bytes;
	uint64_t slow_dropped, gaps, retained_events, retained_bytes;
	uint64_t pub_waits;      /* publishes that waited (HUB_PUB_ROOM or _PACE) */
	uint64_t pub_waiting;    /* publishes waiting now */
	uint64_t memory_bytes;   /* memory the retained events hold */
	uint64_t max_memory;     /* cfg.max_memory */
	uint64_t evicted_events; /* events evicted to stay under max_memory */
	uint64_t expired_topics; /* topics forgotten: expired, emptied, or to make room */
	uint64_t repeated;       /* numbered events sent again, not published twice */
	uint64_t publish_window; /* cfg.publish_window as capped */
};

struct hub;
struct hub_sub;

/* hub_new - a hub, with its waker thread running and its backend's events
 * restored; NULL when out of memory, no thread, or the backend failed.
 * cfg is copied. */
struct hub *hub_new(const struct hub_config *cfg);

/* hub_free - free the hub; every subscriber must be gone. */
void hub_free(struct hub *h);

/* hub_ring_cap - the events a topic's ring holds with cfg.history at
 * history: max(history, a minimum delivery needs). A durable backend keeps
 * as many, so that what a restart restores is what memory held. */
size_t hub_ring_cap(size_t history);

/* hub_topic_ok - non-zero when name (len bytes) is a valid topic name:
 * 1 to HUB_TOPIC_MAX bytes of A-Z a-z 0-9 . _ ~ - */
int hub_topic_ok(const char *name, size_t len);

/* How long a publish waits at most (see hub_publish). */
#define HUB_PUB_WAIT_US 1000000u

/* hub_publish's flags. */
#define HUB_PUB_ROOM 1       /* wait for room in the ring */
#define HUB_PUB_PACE 2       /* wait for the delivery threads */

/*
 * hub_publish - frame ev (its id, event and data; retry ignored) once and
 * append it to topic. flags may ask it to wait (the worker thread
 * waits; at most HUB_PUB_WAIT_US each time, then it goes on):
 * HUB_PUB_ROOM (a streamed publish, which can outrun its readers by far):
 * before the event, while it would push out one that a live subscriber has
 * not read yet, until the slowest reader moves on; past HUB_PUB_WAIT_US the
 * subscribers still holding it back are dropped as slow.
 * HUB_PUB_PACE: after the event, while the streams the topic's waker woke
 * and that have not read since are cfg.publish_window events or more
 * behind. Those are streams waiting for a delivery thread, never a
 * subscriber that does not read (its stream is not woken while its socket
 * is full), so nobody waits for a slow subscriber; a publisher that waits
 * for each reply is held to the pace ssed delivers at, and its events
 * never queue up behind a burst of its own.
 * With ev->id NULL the event's id is its seq, which the backend assigns: a
 * decimal number greater than every one before, also in an earlier run.
 * The id used is written, NUL-terminated, to id_out (HUB_ID_MAX + 1
 * bytes). The call returns once the backend has stored the event.
 * At max_memory the oldest retained events go, from the largest topics;
 * when the topic table is full the least recently used topic without
 * subscribers is forgotten to make room.
 * Returns HUB_OK, HUB_EFIELD, HUB_EBUSY (every topic has subscribers),
 * HUB_ETOOBIG, HUB_ENOMEM, or the backend's HUB_EFULL, _EDOWN, _EIO.
 */
int hub_publish(struct hub *h, const char *topic, size_t tlen,
		const struct sse_event *ev, int flags, char *id_out);

/* An event's number from its publisher (pubmark.h). */
struct hub_mark {
	const char *key;     /* NULL: not numbered */
	size_t klen;
	uint64_t n;
};

/*
 * hub_publish_marked - hub_publish for an event its publisher numbered
 * (mark NULL: not numbered). When the publisher's key published that
 * number already, nothing is published: HUB_OK with id_out "" (counted in
 * hub_stats.repeated). A backend that keeps marks (store_ops.marks) keeps
 * this across restarts, with the event.
 */
int hub_publish_marked(struct hub *h, const char *topic, size_t tlen,
		       const struct sse_event *ev, int flags, char *id_out,
		       const struct hub_mark *mark);

/*
 * A batch: the events of a streamed publish, framed as they arrive and
 * published together, so that a batching backend (hub_batching) stores a
 * chunk of an upload in one append, not one per event. A batch is its
 * caller's; hub_batch_add and hub_publish_batch take no lock but the
 * hub's.
 */
struct hub_batch;

/* hub_batching - non-zero when the backend commits on a thread of its own
 * (a durable or shared one): a batch then costs one commit, where one
 * hub_publish per event costs one each. The memory backend: 0. */
int hub_batching(struct hub *h);

/* hub_batch_new - an empty batch; NULL when out of memory. */
struct hub_batch *hub_batch_new(void);
/* hub_batch_free - free b and the events it still holds. */
void hub_batch_free(struct hub_batch *b);
/* hub_batch_count - the events b holds. */
size_t hub_batch_count(const struct hub_batch *b);

/* hub_batch_add - frame ev (as hub_publish does) into b. HUB_OK,
 * HUB_EFIELD, HUB_ETOOBIG or HUB_ENOMEM (b unchanged then). */
int hub_batch_add(struct hub *h, struct hub_batch *b, const struct sse_event *ev);

/* hub_batch_number - the events added to b from now on are numbered by
 * publisher key (copied): next, next + 1, ... (hub_publish_marked). An
 * invalid key (pubmark_key_ok) is the caller's to refuse. HUB_OK or
 * HUB_ENOMEM. */
int hub_batch_number(struct hub_batch *b, const char *key, size_t klen, uint64_t next);

/*
 * hub_publish_batch - publish b's events to topic in order, as that many
 * hub_publish calls with flags would, but in as few appends as
 * HUB_PUB_ROOM allows (pieces of an eighth of a ring, with the wait for
 * room before each; the pace wait comes after the last). *published gets
 * how many were stored (a prefix of b; numbered events their publisher
 * published already count as stored, and are not stored again); b is
 * empty on return. Returns
 * HUB_OK or hub_publish's errors for the first piece that failed.
 */
int hub_publish_batch(struct hub *h, const char *topic, size_t tlen, struct hub_batch *b,
		      int flags, size_t *published);

/*
 * hub_subscribe - a subscriber to ntopics topics (names checked by the
 * caller), for the connection conn. last_id (NULL: none) resumes after
 * that event: the retained events after it are replayed first. An id the
 * hub cannot place, or one older than what it retains, is a gap: the
 * stream then opens with an event of type "ssed-gap" whose data is the id
 * asked for, and replays everything retained. With a shared backend
 * (store_ops.shared) a seq above every one committed here is one this
 * node's reader has not reached yet: it places, and the stream skips the
 * events up to it as they come. When the backend reports lost history
 * (store_sink.lost), every open stream ends, so that its client resumes
 * and is told of the gap.
 * Returns NULL and sets *err to HUB_EBUSY (limits) or HUB_ENOMEM.
 */
struct hub_sub *hub_subscribe(struct hub *h, const char *const *topics,
			      const size_t *tlens, size_t ntopics,
			      const char *last_id, void *conn, int *err);

/* Where a new stream starts (hub_subscribe_from). */
enum hub_from_kind {
	HUB_FROM_NEW,        /* the events published from now on */
	HUB_FROM_ID,         /* after the event id (as Last-Event-ID, gaps included) */
	HUB_FROM_ALL,        /* every event retained for replay */
	HUB_FROM_LAST,       /* the n newest retained, across the stream's topics */
	HUB_FROM_AGE         /* the retained events published n microseconds ago or later */
};

struct hub_from {
	enum hub_from_kind kind;
	const char *id;          /* HUB_FROM_ID */
	uint64_t n;              /* HUB_FROM_LAST, HUB_FROM_AGE */
	int poll;                /* end the stream once the events retained at the
				  * subscribe are sent, with nothing published later */
};

/*
 * hub_subscribe_from - hub_subscribe, starting where from says. Only
 * HUB_FROM_ID can open with an ssed-gap event; the others replay what is
 * retained without one. Several topics merge in seq order, replay too.
 */
struct hub_sub *hub_subscribe_from(struct hub *h, const char *const *topics,
				   const size_t *tlens, size_t ntopics,
				   const struct hub_from *from, void *conn, int *err);

/* One topic in hub_topics' list. */
struct hub_topic_info {
	char name[HUB_TOPIC_MAX + 1];
	size_t subscribers;
	size_t retained;         /* events a resume can replay */
};

/*
 * hub_topics - every topic whose name starts with prefix (plen bytes; 0:
 * every topic), in no order, in an array the caller frees; its length to
 * *n. NULL with *n 0 when there is none or no memory.
 */
struct hub_topic_info *hub_topics(struct hub *h, const char *prefix, size_t plen, size_t *n);

/* hub_unsubscribe - forget s (its connection is gone) and free it. A
 * subscriber that goes while behind the retained events (timed out, say)
 * counts as a slow subscriber dropped. */
void hub_unsubscribe(struct hub *h, struct hub_sub *s);

/* What hub_read returns besides a byte count. */
#define HUB_READ_END (-1)    /* end the stream cleanly */

/*
 * hub_read - copy what s has pending into buf (at most max bytes): the
 * stream's opening bytes, then as many whole events as fit (an event
 * larger than max goes in pieces over several calls), or a heartbeat
 * comment when one is due. When nothing is pending it parks s (calls
 * ops.suspend) and returns 0; ops.resume is called once something
 * arrives. With parked not NULL it also parks s when it copied everything
 * pending, so the caller need not come back just to hear "nothing", and
 * sets *parked to 1 when s is parked on return (0 when not).
 * Returns the byte count, 0 (parked) or HUB_READ_END (the hub is closing,
 * or s fell behind the retained events and is dropped).
 */
ssize_t hub_read(struct hub *h, struct hub_sub *s, char *buf, size_t max, int *parked);

/* One subscriber's part of hub_read_batch. */
struct hub_read_req {
	struct hub_sub *sub;       /* in */
	size_t max;                /* in: bytes at most */
	char *buf;                 /* out: where its bytes are */
	ssize_t n;                 /* out: as hub_read returns */
	int parked;                /* out: as hub_read's *parked */
};

/*
 * hub_read_batch - hub_read (parking as with parked) for up to n
 * subscribers under one lock. Their bytes go one after another into buf
 * (size bytes), with head bytes left free before and tail bytes after each
 * part for the caller's framing; each takes at most its max bytes, and
 * the batch stops when less than min_room would be left for the next.
 * Returns how many of r were served.
 */
size_t hub_read_batch(struct hub *h, struct hub_read_req *r, size_t n, char *buf, size_t size,
		      size_t head, size_t tail, size_t min_room);


/* hub_quiet - never wake s again (its stream is ending). */
void hub_quiet(struct hub *h, struct hub_sub *s);

/* hub_heartbeat - make a heartbeat due on every stream, waking them. */
void hub_heartbeat(struct hub *h);

/*
 * hub_close - stop: the waker ends (after resuming what it took), every
 * stream ends at its next read, and every parked one is woken for it.
 * Returns the number of subscribers left.
 */
size_t hub_close(struct hub *h);

/* hub_wait_empty - wait up to ms milliseconds for the last subscriber to
 * go. Returns the number left. */
size_t hub_wait_empty(struct hub *h, int ms);

/* hub_expire - drop the events older than cfg.history_age_us, and forget
 * the topics left with no event and no subscriber. Call it now and then
 * (ssed's ticker does, once a second). */
void hub_expire(struct hub *h);

/* hub_store_stats - the backend's own figures (store.h), for /metrics;
 * its name to *name. */
void hub_store_stats(struct hub *h, struct store_stats *st, const char **name);

/* hub_stats - a snapshot of the counters. */
void hub_stats(struct hub *h, struct hub_stats *st);

/* hub_subscribers - the number of subscribers now. */
size_t hub_subscribers(struct hub *h);

/* hub_gone - how many subscribers have left since hub_new. */
uint64_t hub_gone(struct hub *h);

#endif
