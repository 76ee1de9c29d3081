/*
 * fan.c - the delivery loop (see fan.h).
 *
 * Each thread owns its streams: only it reads their hub cursors, writes
 * their sockets and ends them. Others reach a thread through its queue
 * (streams to serve, streams handed over) and its eventfd. A stream's
 * life over plain HTTP: libmicrohttpd -> fan_handover, which detaches the
 * socket (libmicrohttpd closes a stand-in and frees its connection) ->
 * served here -> ended here -> its socket closed by bury() -> freed by its
 * done callback (the last of it and the response's free callback). Over
 * HTTPS: libmicrohttpd -> fan_handover (suspended) -> served here -> ended
 * here -> libmicrohttpd again (resumed; the reader returns what
 * fan_stream_end says) -> freed by the response's free callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fan.h"
#include "tls.h"

#define FAN_THREADS_MAX 64
#define CHUNK_HEAD 10           /* room for "%X\r\n" */
/* Hub bytes per send. A stream that is behind gets all it can in one
 * send: the kernel's work per send, not per byte, is most of a burst's
 * cost. Over HTTPS a whole chunk fits one TLS record (16 KiB); a plain
 * stream takes up to 64 KiB, which is also the most it keeps in memory
 * when its socket is full. */
#define READ_MAX_PLAIN (64 * 1024 - CHUNK_HEAD - 2)
#define READ_MAX_TLS (16 * 1024 - CHUNK_HEAD - 2)
#define BATCH_N 64              /* streams read under one hub lock */
#define BATCH_BYTES (1024 * 1024)

enum { END_NONE, END_CLEAN, END_CLOSE, END_DRAIN };

struct fan_thread;

struct fan_stream {
	struct fan *fan;
	struct MHD_Connection *conn;
	struct loop *loop;              /* the HTTP thread serving conn */
	struct hub_sub *sub;
	struct fan_thread *th;
	int fd;
	int raw;                        /* HTTP/1.0: no chunk framing */
	int end;                        /* END_*, set by the thread that ends it */
	int queued;                     /* on th's ready queue */
	int blocked;                    /* waiting for EPOLLOUT */
	int detached;                   /* fd is ours: libmicrohttpd let the connection go */
	void (*done)(void *);           /* detached: called once ended, on th */
	void *done_arg;
	struct fan_stream *qprev, *qnext;   /* th's ready, handover or ended queue */
	struct fan_stream *prev, *next;     /* th's streams */
	char *out;                      /* bytes the socket did not take */
	size_t outlen, outoff;
	double since;                   /* blocked: when it last made progress */
	gnutls_session_t tls;           /* HTTPS: write through it; NULL: the socket */
	int guarded;                    /* has a deadline or a check (fan_stream_guard) */
	double deadline;                /* mono() time it ends at; 0: none */
	int (*still_ok)(void *);
	void *still_ok_arg;
	size_t didx;                    /* draining: its place in th's drain list, plus 1 */
	double drain_at;                /* draining: when it ends */
};

struct fan_thread {
	struct fan *fan;
	pthread_t tid;
	int ep, efd;
	pthread_mutex_t mu;             /* guards ready, adopt, closing, sleeping */
	struct fan_stream *ready, *ready_tail;
	size_t nready;
	struct fan_stream *adopt;
	struct fan_stream *ended;       /* detached, ended: to close and release (bury) */
	int closing;                    /* end everything from now on */
	int sleeping;                   /* in epoll_wait: the eventfd must be poked */
	int running;
	int started;                    /* its thread was created */
	double drain_secs;              /* fan_drain asked: end streams over this long */
	int drain_asked;                /* guarded by mu */
	int draining;                   /* only this thread: the drain list is made */
	struct fan_stream **dlist;      /* the streams to end, by drain_at (NULL: gone) */
	size_t dn, dpos;
	struct fan_stream *streams;     /* only this thread touches the list */
	size_t nblocked;                /* streams waiting for EPOLLOUT */
	size_t nguarded;                /* streams with a deadline or a check */
	double next_deadline;           /* the earliest of theirs, as last seen; 0: none */
	unsigned recheck_seen;          /* the fan's recheck generation last served */
	struct fan_stream *batch[BATCH_N];
	struct hub_read_req req[BATCH_N];
	char buf[BATCH_BYTES];
};

struct fan {
	struct fan_thread *threads;
	unsigned nthreads;
	unsigned next_thread;           /* round robin, atomic */
	struct hub *hub;
	double timeout_s;
	unsigned recheck_gen;           /* fan_recheck bumps it, atomic */
	size_t detached;                /* detached streams not yet closed, atomic */
	pthread_mutex_t start_mu;       /* handover against fan_stop */
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void poke(struct fan_thread *t)
{
	uint64_t one = 1;
	ssize_t r;

	r = write(t->efd, &one, sizeof(one));
	(void)r;  /* EAGAIN: the counter is full, so it is readable anyway */
}

/* Take s off its thread's ready queue; t->mu held. */
static void dequeue(struct fan_thread *t, struct fan_stream *s)
{
	if(!s->queued)
		return;
	if(s->qprev)
		s->qprev->qnext = s->qnext;
	else
		t->ready = s->qnext;
	if(s->qnext)
		s->qnext->qprev = s->qprev;
	else
		t->ready_tail = s->qprev;
	s->qprev = s->qnext = NULL;
	s->queued = 0;
	t->nready--;
}

/* Put s at the end of its thread's ready queue; t->mu held. */
static void enqueue(struct fan_thread *t, struct fan_stream *s)
{
	if(s->queued)
		return;
	s->queued = 1;
	s->qnext = NULL;
	s->qprev = t->ready_tail;
	if(t->ready_tail)
		t->ready_tail->qnext = s;
	else
		t->ready = s;
	t->ready_tail = s;
	t->nready++;
}

/* Put s at the head of its thread's ready queue, so it keeps its turn;
 * t->mu held. */
static void enqueue_front(struct fan_thread *t, struct fan_stream *s)
{
	if(s->queued)
		return;
	s->queued = 1;
	s->qprev = NULL;
	s->qnext = t->ready;
	if(t->ready)
		t->ready->qprev = s;
	else
		t->ready_tail = s;
	t->ready = s;
	t->nready++;
}

void fan_park(void *stream)
{
	(void)stream;  /* the thread just stops serving it */
}

void fan_wake(void *stream)
{
	struct fan_stream *s = stream;
	struct fan_thread *t = s->th;
	int was_empty, sleeping;

	if(!t)
		return;  /* not handed over yet: its first turn reads everything */
	pthread_mutex_lock(&t->mu);
	was_empty = !t->ready;
	enqueue(t, s);
	sleeping = t->sleeping;
	if(was_empty && sleeping)
		t->sleeping = 0;
	pthread_mutex_unlock(&t->mu);
	if(was_empty && sleeping)
		poke(t);
}

/*
 * End s: no more wakes, off every list, out of epoll, and back to
 * libmicrohttpd, which finishes it. s is not touched after the resume.
 * END_DRAIN ends the stream cleanly and closes the connection, so the
 * client's next request goes to a new one (the next ssed): the last chunk
 * goes out here, and libmicrohttpd is told to close. A detached stream
 * has no connection to go back to: a clean end sends its last chunk here,
 * and the socket is closed (and s released) by bury(), at a point of the
 * loop where nothing else holds s.
 */
static ssize_t put(struct fan_stream *s, const char *p, size_t n);

static void end_stream(struct fan_thread *t, struct fan_stream *s, int how)
{
	struct loop *lp;

	if(how == END_DRAIN) {
		if(!s->raw && s->outlen == s->outoff) {
			/* Through the TLS session for HTTPS: never plain bytes. */
			ssize_t k = put(s, "0\r\n\r\n", 5);

			(void)k;  /* a socket that takes nothing is closed all the same */
		}
		how = END_CLOSE;
	}
	if(s->didx) {
		t->dlist[s->didx - 1] = NULL;
		s->didx = 0;
	}
	hub_quiet(t->fan->hub, s->sub);
	pthread_mutex_lock(&t->mu);
	dequeue(t, s);
	pthread_mutex_unlock(&t->mu);
	epoll_ctl(t->ep, EPOLL_CTL_DEL, s->fd, NULL);
	if(s->prev)
		s->prev->next = s->next;
	else
		t->streams = s->next;
	if(s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	if(s->blocked) {
		s->blocked = 0;
		t->nblocked--;
	}
	if(s->guarded) {
		s->guarded = 0;
		t->nguarded--;
	}
	free(s->out);
	s->out = NULL;
	s->end = how == END_CLEAN && s->outlen == s->outoff ? END_CLEAN : END_CLOSE;
	if(s->detached) {
		/* Ours to finish: the last chunk (not over HTTP/1.0, which ends
		 * with the connection), then the socket is closed by bury(). */
		if(s->end == END_CLEAN && !s->raw) {
			ssize_t k = put(s, "0\r\n\r\n", 5);

			(void)k;  /* a full socket loses it: the close ends the stream */
		}
		s->qnext = t->ended;
		t->ended = s;
		return;
	}
	/* Once resumed, s may be freed by its HTTP thread at any moment. */
	lp = s->loop;
	MHD_resume_connection(s->conn);
	loop_wake(lp);
}

/* Close the sockets of the detached streams ended since the last call and
 * release them (their done callback frees them). */
static void bury(struct fan_thread *t)
{
	struct fan_stream *s, *next;

	for(s = t->ended, t->ended = NULL; s; s = next) {
		next = s->qnext;
		s->qnext = NULL;
		close(s->fd);
		s->fd = -1;
		__atomic_sub_fetch(&t->fan->detached, 1, __ATOMIC_RELAXED);
		s->done(s->done_arg);
	}
}

/*
 * Write up to n bytes of p to s: the bytes taken (0 when the socket is
 * full) or -1 when it failed. Over TLS, a record the socket took only in
 * part stays inside the session, and the next call must pass the same
 * bytes again: the callers keep what was not taken unchanged in s->out
 * and start there (tls.h).
 */
static ssize_t put(struct fan_stream *s, const char *p, size_t n)
{
	size_t done = 0;
	ssize_t k;

	if(!s->tls) {
		do
			k = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		while(k < 0 && errno == EINTR);
		if(k < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		return k;
	}
	while(done < n) {
		k = tls_write(s->tls, p + done, n - done);
		if(k < 0)
			return -1;
		if(k == 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

/* Send what the socket did not take before. 1: all out, 0: blocked, -1: gone. */
static int flush(struct fan_stream *s)
{
	ssize_t n;

	while(s->outoff < s->outlen) {
		n = put(s, s->out + s->outoff, s->outlen - s->outoff);
		if(n < 0)
			return -1;
		if(n == 0)
			return 0;
		s->outoff += (size_t)n;
		s->since = mono();
	}
	free(s->out);
	s->out = NULL;
	s->outlen = s->outoff = 0;
	return 1;
}

/* Send p (n bytes); keep what the socket does not take. 1, 0 or -1 as flush. */
static int send_or_keep(struct fan_stream *s, const char *p, size_t n)
{
	ssize_t k = put(s, p, n);

	if(k < 0)
		return -1;
	if((size_t)k == n)
		return 1;
	s->out = malloc(n - (size_t)k);
	if(!s->out)
		return -1;
	memcpy(s->out, p + k, n - (size_t)k);
	s->outlen = n - (size_t)k;
	s->outoff = 0;
	s->since = mono();
	return 0;
}

/* What one hub read gave s: send it, framed as a chunk unless raw. */
static void deliver(struct fan_thread *t, struct fan_stream *s, const struct hub_read_req *r)
{
	size_t len = (size_t)r->n;
	char *p = r->buf;
	int rc;

	if(r->n == HUB_READ_END) {
		end_stream(t, s, END_CLEAN);
		return;
	}
	if(r->n == 0)
		return;  /* parked: a publish wakes it */
	if(!s->raw) {
		char head[CHUNK_HEAD + 1];
		int h = snprintf(head, sizeof(head), "%zX\r\n", len);

		p -= h;
		memcpy(p, head, (size_t)h);
		memcpy(r->buf + len, "\r\n", 2);
		len += (size_t)h + 2;
	}
	rc = send_or_keep(s, p, len);
	if(rc < 0) {
		end_stream(t, s, END_CLOSE);
	} else if(rc == 0) {
		s->blocked = 1;  /* EPOLLOUT brings it back */
		t->nblocked++;
	} else if(!r->parked) {
		pthread_mutex_lock(&t->mu);
		enqueue(t, s);  /* it has more: after the others */
		pthread_mutex_unlock(&t->mu);
	}
}

/*
 * Serve the streams queued now, BATCH_N at a time: finish what each has
 * pending, read the hub for all of them under one lock, then send. A
 * stream with more to read goes back to the end of the queue; one the
 * buffer had no room for goes back to its head, so each is served once a
 * pass however far behind the others are.
 */
static void turn(struct fan_thread *t)
{
	struct fan_stream *s;
	size_t left, k, m, i, got;
	int rc;

	pthread_mutex_lock(&t->mu);
	left = t->nready;
	pthread_mutex_unlock(&t->mu);
	while(left) {
		k = 0;
		pthread_mutex_lock(&t->mu);
		while(k < BATCH_N && left && (s = t->ready)) {
			dequeue(t, s);
			t->batch[k++] = s;
			left--;
		}
		pthread_mutex_unlock(&t->mu);
		if(!k)
			break;
		for(i = m = 0; i < k; i++) {
			s = t->batch[i];
			if(s->out) {
				rc = flush(s);
				if(rc < 0)
					end_stream(t, s, END_CLOSE);
				if(rc <= 0)
					continue;
			}
			if(s->blocked) {
				s->blocked = 0;
				t->nblocked--;
			}
			t->batch[m] = s;
			t->req[m].sub = s->sub;
			t->req[m].max = s->tls ? READ_MAX_TLS : READ_MAX_PLAIN;
			m++;
		}
		got = hub_read_batch(t->fan->hub, t->req, m, t->buf, sizeof(t->buf), CHUNK_HEAD, 2, 512);
		for(i = 0; i < got; i++)
			deliver(t, t->batch[i], &t->req[i]);
		/* No room in the buffer this time: they keep their place at
		 * the head, in order, rather than wait behind a whole pass. */
		pthread_mutex_lock(&t->mu);
		for(k = m; k > got; k--)
			enqueue_front(t, t->batch[k - 1]);
		pthread_mutex_unlock(&t->mu);
		left += m - got;
	}
}

/* Streams handed over to t: into its epoll and list, then a first turn. */
static void adopt(struct fan_thread *t, struct fan_stream *list, int closing)
{
	int drained = t->draining;

	struct epoll_event ev;
	struct fan_stream *s, *next;
	int one = 1, zero = 0;

	for(s = list; s; s = next) {
		next = s->qnext;
		s->qnext = s->qprev = NULL;
		s->next = t->streams;
		s->prev = NULL;
		if(t->streams)
			t->streams->prev = s;
		t->streams = s;
		if(s->deadline > 0 || s->still_ok) {
			s->guarded = 1;
			t->nguarded++;
			if(s->deadline > 0 && (!t->next_deadline || s->deadline < t->next_deadline))
				t->next_deadline = s->deadline;
		}
		/* Edge-triggered: EPOLLOUT comes only after a send fell short. */
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = s;
		if(closing || epoll_ctl(t->ep, EPOLL_CTL_ADD, s->fd, &ev)) {
			end_stream(t, s, closing ? END_CLEAN : END_CLOSE);
			continue;
		}
		if(drained) {
			/* Opened while draining: the opening bytes, then the end. */
			end_stream(t, s, END_DRAIN);
			continue;
		}
		/* Each send is a whole batch: out at once, never corked. */
		setsockopt(s->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&t->mu);
		enqueue(t, s);
		pthread_mutex_unlock(&t->mu);
	}
}

static double jitter(unsigned *seed)
{
	return (double)rand_r(seed) / ((double)RAND_MAX + 1.0);
}

/*
 * The drain's schedule: the i-th of t's n streams ends at a random moment
 * of the i-th of n equal slices of the drain time, so the ends are spread
 * evenly (clients come back at a steady pace) and in an order no client
 * can count on. The list is sorted by construction.
 */
static void drain_start(struct fan_thread *t, double secs)
{
	unsigned seed = (unsigned)(mono() * 1e6) ^ (unsigned)(uintptr_t)t;
	struct fan_stream *s;
	double t0 = mono();
	size_t n = 0, i;

	t->draining = 1;
	for(s = t->streams; s; s = s->next)
		n++;
	t->dlist = n ? malloc(n * sizeof(*t->dlist)) : NULL;
	if(!t->dlist) {
		while(t->streams)
			end_stream(t, t->streams, END_DRAIN);
		return;
	}
	for(i = 0, s = t->streams; s; s = s->next, i++) {
		t->dlist[i] = s;
		s->didx = i + 1;
		s->drain_at = t0 + ((double)i + jitter(&seed)) * secs / (double)n;
	}
	t->dn = n;
	t->dpos = 0;
}

/* End the streams whose time has come; the milliseconds until the next
 * one (-1: none left). */
static int drain_due(struct fan_thread *t)
{
	double now = mono(), left;
	struct fan_stream *s;

	while(t->dpos < t->dn) {
		s = t->dlist[t->dpos];
		if(!s) {
			t->dpos++;
			continue;
		}
		if(s->drain_at > now) {
			left = (s->drain_at - now) * 1000 + 1;
			return left > 1000 ? 1000 : (int)left;
		}
		t->dpos++;
		end_stream(t, s, END_DRAIN);
	}
	return -1;
}

static void end_all(struct fan_thread *t)
{
	while(t->streams)
		end_stream(t, t->streams, END_CLEAN);
}

/* Streams whose socket has taken nothing for the timeout are closed. */
static void reap_blocked(struct fan_thread *t, double now)
{
	struct fan_stream *s, *next;

	if(!t->nblocked)
		return;  /* idle streams are not walked */
	for(s = t->streams; s; s = next) {
		next = s->next;
		if(s->blocked && now - s->since >= t->fan->timeout_s)
			end_stream(t, s, END_CLOSE);
	}
}

/*
 * End the streams whose deadline has passed, and with recheck those whose
 * check fails (fan_recheck); note the earliest deadline left, which the
 * thread's epoll_wait does not sleep past. Only streams with a deadline or
 * a check are walked, and only when a deadline falls, once a second, or on
 * a recheck: never a poll per stream.
 */
static void check_guards(struct fan_thread *t, double now, int recheck)
{
	struct fan_stream *s, *next;

	t->next_deadline = 0;
	if(!t->nguarded)
		return;
	for(s = t->streams; s; s = next) {
		next = s->next;
		if(!s->guarded)
			continue;
		if((s->deadline > 0 && now >= s->deadline) ||
		   (recheck && s->still_ok && !s->still_ok(s->still_ok_arg)))
			end_stream(t, s, END_CLEAN);
		else if(s->deadline > 0 && (!t->next_deadline || s->deadline < t->next_deadline))
			t->next_deadline = s->deadline;
	}
}

static void *fan_main(void *arg)
{
	struct fan_thread *t = arg;
	struct epoll_event evs[256];
	struct fan_stream *batch, *s;
	double next_reap = mono() + 1, drain_secs = 0;
	int n, i, closing, wait_ms, drain_asked, due;
	unsigned gen;
	uint64_t v;
	ssize_t r;

	for(;;) {
		pthread_mutex_lock(&t->mu);
		closing = t->closing;
		drain_asked = t->drain_asked;
		drain_secs = t->drain_secs;
		batch = t->adopt;
		t->adopt = NULL;
		wait_ms = t->ready || batch ? 0 : 1000;
		t->sleeping = wait_ms != 0;
		pthread_mutex_unlock(&t->mu);
		if(drain_asked && !t->draining && !closing)
			drain_start(t, drain_secs);
		/* Wake when the earliest token deadline falls, not later. */
		if(wait_ms && t->next_deadline > 0) {
			double ms = (t->next_deadline - mono()) * 1000 + 1;

			if(ms < wait_ms)
				wait_ms = ms < 1 ? 1 : (int)ms;
		}
		if(batch)
			adopt(t, batch, closing);
		if(t->draining && !closing) {
			due = drain_due(t);
			if(due >= 0 && due < wait_ms)
				wait_ms = due;
		}
		if(closing) {
			end_all(t);
			bury(t);
			pthread_mutex_lock(&t->mu);
			if(!t->running && !t->adopt) {
				pthread_mutex_unlock(&t->mu);
				break;
			}
			t->sleeping = 1;
			pthread_mutex_unlock(&t->mu);
			wait_ms = 100;
		}
		n = epoll_wait(t->ep, evs, 256, wait_ms);
		pthread_mutex_lock(&t->mu);
		t->sleeping = 0;
		pthread_mutex_unlock(&t->mu);
		for(i = 0; i < n; i++) {
			s = evs[i].data.ptr;
			if(!s) {
				r = read(t->efd, &v, sizeof(v));
				(void)r;
				continue;
			}
			if(evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
				end_stream(t, s, END_CLOSE);
				continue;
			}
			if((evs[i].events & EPOLLOUT) && s->blocked) {
				pthread_mutex_lock(&t->mu);
				enqueue(t, s);
				pthread_mutex_unlock(&t->mu);
			}
		}
		turn(t);
		gen = __atomic_load_n(&t->fan->recheck_gen, __ATOMIC_ACQUIRE);
		if(gen != t->recheck_seen) {
			t->recheck_seen = gen;
			check_guards(t, mono(), 1);
		} else if(t->next_deadline > 0 && mono() >= t->next_deadline) {
			check_guards(t, mono(), 0);
		}
		if(mono() >= next_reap) {
			next_reap = mono() + 1;
			reap_blocked(t, mono());
			check_guards(t, mono(), 0);
		}
		bury(t);
	}
	return NULL;
}

struct fan *fan_start(struct hub *h, unsigned n, unsigned timeout)
{
	struct epoll_event ev;
	struct fan *f;
	unsigned i;
	int err;

	if(n < 1)
		n = 1;
	if(n > FAN_THREADS_MAX)
		n = FAN_THREADS_MAX;
	f = calloc(1, sizeof(*f));
	if(!f)
		return NULL;
	f->hub = h;
	f->timeout_s = timeout;
	pthread_mutex_init(&f->start_mu, NULL);
	f->threads = calloc(n, sizeof(*f->threads));
	if(!f->threads)
		goto fail;
	for(i = 0; i < n; i++) {
		struct fan_thread *t = &f->threads[i];

		t->fan = f;
		pthread_mutex_init(&t->mu, NULL);
		t->ep = epoll_create1(EPOLL_CLOEXEC);
		t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		f->nthreads = i + 1;  /* fan_stop cleans this one up from here */
		if(t->ep < 0 || t->efd < 0)
			goto fail;
		ev.events = EPOLLIN;
		ev.data.ptr = NULL;
		if(epoll_ctl(t->ep, EPOLL_CTL_ADD, t->efd, &ev))
			goto fail;
		t->running = 1;
		if(pthread_create(&t->tid, NULL, fan_main, t)) {
			t->running = 0;
			goto fail;
		}
		t->started = 1;
	}
	return f;
fail:
	err = errno;
	fan_close(f);
	fan_stop(f);
	errno = err;
	return NULL;
}

void fan_close(struct fan *f)
{
	unsigned i;

	for(i = 0; i < f->nthreads; i++) {
		pthread_mutex_lock(&f->threads[i].mu);
		f->threads[i].closing = 1;
		pthread_mutex_unlock(&f->threads[i].mu);
		if(f->threads[i].efd >= 0)
			poke(&f->threads[i]);
	}
}

void fan_drain(struct fan *f, double secs)
{
	unsigned i;

	for(i = 0; i < f->nthreads; i++) {
		pthread_mutex_lock(&f->threads[i].mu);
		f->threads[i].drain_asked = 1;
		f->threads[i].drain_secs = secs;
		pthread_mutex_unlock(&f->threads[i].mu);
		if(f->threads[i].efd >= 0)
			poke(&f->threads[i]);
	}
}

void fan_stop(struct fan *f)
{
	unsigned i, n;

	if(!f)
		return;
	pthread_mutex_lock(&f->start_mu);
	n = f->nthreads;
	for(i = 0; i < n; i++) {
		struct fan_thread *t = &f->threads[i];

		pthread_mutex_lock(&t->mu);
		t->closing = 1;
		t->running = 0;
		pthread_mutex_unlock(&t->mu);
		if(!t->started)
			continue;
		poke(t);
		pthread_join(t->tid, NULL);
	}
	f->nthreads = 0;  /* handover refuses from now on */
	pthread_mutex_unlock(&f->start_mu);
	for(i = 0; i < n; i++) {
		if(f->threads[i].ep >= 0)
			close(f->threads[i].ep);
		if(f->threads[i].efd >= 0)
			close(f->threads[i].efd);
		free(f->threads[i].dlist);
		pthread_mutex_destroy(&f->threads[i].mu);
	}
	free(f->threads);
	f->threads = NULL;
}

void fan_free(struct fan *f)
{
	if(!f)
		return;
	pthread_mutex_destroy(&f->start_mu);
	free(f);
}

struct fan_stream *fan_stream_new(struct fan *f, struct MHD_Connection *c, struct loop *loop,
				  int raw)
{
	struct fan_stream *s = calloc(1, sizeof(*s));

	if(!s)
		return NULL;
	s->fan = f;
	s->conn = c;
	s->loop = loop;
	s->raw = raw;
	s->fd = -1;
	return s;
}

void fan_stream_free(struct fan_stream *s)
{
	if(!s)
		return;
	free(s->out);
	free(s);
}

/*
 * Take s's socket from libmicrohttpd, on the HTTP thread that runs its
 * connection (from the content reader). libmicrohttpd keeps the
 * connection's descriptor number to the end: it shuts it down, removes it
 * from its epoll set (and aborts when that fails) and closes it. So the
 * socket gets a new descriptor of ours, and the old number is pointed at
 * a fresh unconnected socket, re-registered in libmicrohttpd's epoll set
 * as the connection was. libmicrohttpd then closes that one, and never
 * touches the client's socket again. 0, or -1 with nothing changed.
 */
static int detach(struct fan_stream *s)
{
	const union MHD_ConnectionInfo *ci;
	const union MHD_DaemonInfo *di;
	struct epoll_event ev;
	int own, dummy, ep, in_set;

	ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_DAEMON);
	di = ci ? MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if(!di)
		return -1;
	ep = di->epoll_fd;
	own = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	if(own < 0)
		return -1;
	dummy = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if(dummy < 0) {
		close(own);
		return -1;
	}
	/* libmicrohttpd's registration: the events it asks for (daemon.c). */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLET;
	ev.data.ptr = s->conn;
	in_set = epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL) == 0;
	if((!in_set && errno != ENOENT) || dup3(dummy, s->fd, O_CLOEXEC) < 0) {
		if(in_set)
			epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
		close(dummy);
		close(own);
		return -1;
	}
	close(dummy);
	if(in_set && epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev)) {
		/* Undo: libmicrohttpd must find in its set what it put there
		 * (it aborts when it cannot remove it). The slot just freed
		 * makes a second failure all but impossible; if it came,
		 * libmicrohttpd would abort at this connection's close. */
		if(dup3(own, s->fd, O_CLOEXEC) >= 0)
			epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
		close(own);
		return -1;
	}
	s->fd = own;
	return 0;
}

int fan_handover(struct fan_stream *s, struct hub_sub *sub, void (*done)(void *), void *arg)
{
	const union MHD_ConnectionInfo *ci;
	struct fan *f = s->fan;
	struct fan_thread *t;
	int ok = 0;

	ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if(!ci || !f)
		return -1;
	s->fd = ci->connect_fd;
	s->sub = sub;
	s->tls = tls_session(s->conn);
	pthread_mutex_lock(&f->start_mu);
	if(f->nthreads) {
		t = &f->threads[__atomic_fetch_add(&f->next_thread, 1, __ATOMIC_RELAXED) % f->nthreads];
		pthread_mutex_lock(&t->mu);
		if(t->running && !t->closing) {
			if(!s->tls && done && detach(s) == 0) {
				s->detached = 1;
				s->done = done;
				s->done_arg = arg;
				s->conn = NULL;
				s->loop = NULL;
				__atomic_add_fetch(&f->detached, 1, __ATOMIC_RELAXED);
				ok = 2;
			} else {
				/* Suspend before the thread can see it: it may
				 * resume it at once. */
				MHD_suspend_connection(s->conn);
				ok = 1;
			}
			s->th = t;
			s->qnext = t->adopt;
			t->adopt = s;
		}
		pthread_mutex_unlock(&t->mu);
		if(ok)
			poke(t);
	}
	pthread_mutex_unlock(&f->start_mu);
	return ok == 2 ? 1 : ok ? 0 : -1;
}

size_t fan_detached(const struct fan *f)
{
	return f ? __atomic_load_n(&f->detached, __ATOMIC_RELAXED) : 0;
}

void fan_stream_guard(struct fan_stream *s, double ends_in_s, int (*still_ok)(void *), void *arg)
{
	s->deadline = ends_in_s >= 0 ? mono() + ends_in_s : 0;
	if(ends_in_s >= 0 && s->deadline <= 0)
		s->deadline = 1e-9;
	s->still_ok = still_ok;
	s->still_ok_arg = arg;
}

void fan_recheck(struct fan *f)
{
	unsigned i;

	__atomic_add_fetch(&f->recheck_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&f->start_mu);
	for(i = 0; i < f->nthreads; i++)
		poke(&f->threads[i]);
	pthread_mutex_unlock(&f->start_mu);
}

int fan_stream_end(const struct fan_stream *s)
{
	return s->end;
}
