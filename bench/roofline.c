/*
 * roofline - the least an SSE server can do, as a yardstick for ssed.
 *
 *   roofline [PORT]     listen on 127.0.0.1:PORT (0 or none: any free port),
 *                       print "listening on PORT" on stdout, serve until SIGTERM
 *
 * Two threads, each with one level-triggered epoll: one reads requests,
 * one sends to the streams, so that a publisher is answered while a pass of
 * sends is under way (on one thread, a pass over 10,000 streams held every
 * POST back for its length). A GET of /events/TOPIC gets response headers
 * and is handed to the send thread, which sends the topic's events raw
 * (HTTP/1.1 without chunks, the stream ends with the connection). A POST
 * to /events/TOPIC (or /pub/TOPIC) with a Content-Length body appends
 * "id: N\ndata: BODY\n\n" to the topic's log (one buffer per topic that
 * never moves: every event is framed once) and is answered 200. The send
 * thread, woken by an eventfd, gives every subscriber of a topic that grew
 * one send() of everything since its cursor; a subscriber whose socket is
 * full waits for EPOLLOUT. No lock on the way of an event: the log has one
 * writer, which publishes its length with a release store.
 *
 * That is all: no history limit, no heartbeats, no resume, no limits on
 * clients, one-line bodies only. It stands for the cost of the sends
 * themselves, so `make bench` can say how close ssed comes to them. Not a
 * server to run for anything else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOPICS 64
#define REQ_MAX 4096
#define LOG_MAX ((size_t)1 << 32)   /* address space per topic, touched as used */

struct topic {
	char name[64];
	char *log;                /* LOG_MAX bytes reserved: it never moves */
	_Atomic size_t len;       /* written by the request thread only */
	unsigned long long next_id;
	struct conn *subs;        /* the send thread's */
	atomic_int dirty;
};

struct conn {
	int fd;
	int blocked;              /* waiting for EPOLLOUT */
	struct topic *t;          /* a subscriber's topic; NULL: a request */
	size_t cursor;            /* log bytes sent */
	struct conn *prev, *next; /* on t->subs */
	char *req;                /* a request being read */
	size_t rlen;
};

struct server {
	int ep, lfd;              /* the request thread's */
	int sep, efd;             /* the send thread's epoll and its eventfd */
	struct topic topics[TOPICS];
	atomic_size_t ntopics;
	pthread_mutex_t mu;       /* guards fresh */
	struct conn *fresh;       /* subscribers for the send thread to take */
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static struct topic *topic_get(struct server *s, const char *name, size_t n)
{
	size_t i;

	if(n >= sizeof(s->topics[0].name))
		n = sizeof(s->topics[0].name) - 1;
	size_t nt = atomic_load(&s->ntopics);
	struct topic *t;

	for(i = 0; i < nt; i++)
		if(strlen(s->topics[i].name) == n && !memcmp(s->topics[i].name, name, n))
			return &s->topics[i];
	if(nt == TOPICS)
		return NULL;
	t = &s->topics[nt];
	t->log = mmap(NULL, LOG_MAX, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if(t->log == MAP_FAILED)
		return NULL;
	memcpy(t->name, name, n);
	t->next_id = 1;
	atomic_store(&s->ntopics, nt + 1);  /* the send thread sees it whole */
	return t;
}

static void conn_close(struct server *s, struct conn *c)
{
	if(c->t) {
		if(c->prev)
			c->prev->next = c->next;
		else
			c->t->subs = c->next;
		if(c->next)
			c->next->prev = c->prev;
	}
	epoll_ctl(c->t ? s->sep : s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->req);
	free(c);
}

/* One send of everything pending; 0 ok (maybe blocked), -1 close. */
static int flush_sub(struct server *s, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	size_t len = atomic_load_explicit(&c->t->len, memory_order_acquire);
	ssize_t n;

	if(c->cursor == len)
		return 0;
	n = send(c->fd, c->t->log + c->cursor, len - c->cursor, MSG_NOSIGNAL | MSG_DONTWAIT);
	if(n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	if(n > 0)
		c->cursor += (size_t)n;
	if((c->cursor < len) != c->blocked) {
		c->blocked = c->cursor < len;
		if(c->blocked)
			ev.events |= EPOLLOUT;
		epoll_ctl(s->sep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return 0;
}

static int append(struct topic *t, const char *body, size_t n)
{
	char head[48];
	int h = snprintf(head, sizeof(head), "id: %llu\ndata: ", t->next_id++);
	size_t len = atomic_load_explicit(&t->len, memory_order_relaxed);
	size_t need = len + (size_t)h + n + 2;

	if(need > LOG_MAX)
		return -1;
	memcpy(t->log + len, head, (size_t)h);
	memcpy(t->log + len + h, body, n);
	memcpy(t->log + len + (size_t)h + n, "\n\n", 2);
	atomic_store_explicit(&t->len, need, memory_order_release);
	return 0;
}

/* Wake the send thread for t (once until it has looked). */
static void mark(struct server *s, struct topic *t)
{
	uint64_t one = 1;

	if(!atomic_exchange(&t->dirty, 1) && write(s->efd, &one, sizeof(one)) < 0)
		atomic_store(&t->dirty, 0);
}

static const char ok_pub[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char ok_sub[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			     "Cache-Control: no-cache\r\n\r\n: roofline\n\n";
static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/* Handle the whole requests in c->req; 0 to go on, -1 to close, 1 when
 * c became a stream and went to the send thread. */
static int requests(struct server *s, struct conn *c)
{
	for(;;) {
		char *end = memmem(c->req, c->rlen, "\r\n\r\n", 4), *path, *sp, *cl;
		size_t hlen, blen = 0, plen;
		struct topic *t;

		if(!end)
			return c->rlen >= REQ_MAX ? -1 : 0;
		*end = '\0';
		hlen = (size_t)(end + 4 - c->req);
		path = strchr(c->req, ' ');
		sp = path ? strchr(path + 1, ' ') : NULL;
		if(!sp)
			goto fail;
		path++;
		plen = (size_t)(sp - path);
		cl = strcasestr(c->req, "\r\ncontent-length:");
		if(cl)
			blen = strtoul(cl + 17, NULL, 10);
		if(hlen + blen > c->rlen) {
			*end = '\r';
			return c->rlen >= REQ_MAX ? -1 : 0;
		}
		if(plen > 8 && !memcmp(path, "/events/", 8)) {
			path += 8;
			plen -= 8;
		} else if(plen > 5 && !memcmp(path, "/pub/", 5)) {
			path += 5;
			plen -= 5;
		} else {
			goto fail;
		}
		t = topic_get(s, path, plen);
		if(!t)
			goto fail;
		if(!strncmp(c->req, "GET ", 4)) {
			uint64_t one = 1;

			if(send(c->fd, ok_sub, sizeof(ok_sub) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ok_sub) - 1)
				return -1;
			/* To the send thread: it owns the stream from now on. */
			epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
			free(c->req);
			c->req = NULL;
			c->t = t;
			c->cursor = atomic_load(&t->len);
			pthread_mutex_lock(&s->mu);
			c->next = s->fresh;
			s->fresh = c;
			pthread_mutex_unlock(&s->mu);
			(void)!write(s->efd, &one, sizeof(one));
			return 1;  /* c is the send thread's now */
		}
		if(strncmp(c->req, "POST ", 5) || append(t, c->req + hlen, blen))
			goto fail;
		mark(s, t);
		if(send(c->fd, ok_pub, sizeof(ok_pub) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ok_pub) - 1)
			return -1;
		memmove(c->req, c->req + hlen + blen, c->rlen - hlen - blen);
		c->rlen -= hlen + blen;
	}
fail:
	if(send(c->fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL) < 0)
		return -1;
	return -1;
}

static int readable(struct server *s, struct conn *c)
{
	ssize_t n;

	if(c->t) {          /* a subscriber sends nothing more: EOF or junk ends it */
		char b[256];

		n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);
		return n == 0 || (n < 0 && errno != EAGAIN) ? -1 : 0;
	}
	if(!c->req && !(c->req = malloc(REQ_MAX + 1)))
		return -1;
	n = recv(c->fd, c->req + c->rlen, REQ_MAX - c->rlen, MSG_DONTWAIT);
	if(n == 0 || (n < 0 && errno != EAGAIN))
		return -1;
	if(n > 0)
		c->rlen += (size_t)n;
	return requests(s, c);
}

/* The send thread: new streams, streams that can take more, and one
 * send to each subscriber of every topic that grew. */
static void *sender(void *arg)
{
	struct server *s = arg;
	struct epoll_event evs[256];
	struct conn *c, *next;
	uint64_t v;
	size_t i, nt;
	int n, k;

	while(!stop) {
		n = epoll_wait(s->sep, evs, 256, 500);
		for(k = 0; k < n; k++) {
			c = evs[k].data.ptr;
			if(!c) {
				(void)!read(s->efd, &v, sizeof(v));
				continue;
			}
			if((evs[k].events & EPOLLOUT) && !(evs[k].events & (EPOLLERR | EPOLLHUP))) {
				if(flush_sub(s, c))
					conn_close(s, c);
				continue;
			}
			if(readable(s, c))
				conn_close(s, c);
		}
		pthread_mutex_lock(&s->mu);
		c = s->fresh;
		s->fresh = NULL;
		pthread_mutex_unlock(&s->mu);
		for(; c; c = next) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };

			next = c->next;
			c->prev = NULL;
			c->next = c->t->subs;
			if(c->next)
				c->next->prev = c;
			c->t->subs = c;
			if(epoll_ctl(s->sep, EPOLL_CTL_ADD, c->fd, &ev) || flush_sub(s, c))
				conn_close(s, c);
		}
		nt = atomic_load(&s->ntopics);
		for(i = 0; i < nt; i++) {
			struct topic *t = &s->topics[i];

			if(!atomic_exchange(&t->dirty, 0))
				continue;
			for(c = t->subs; c; c = next) {
				next = c->next;
				if(!c->blocked && flush_sub(s, c))
					conn_close(s, c);
			}
		}
	}
	return NULL;
}

static void accept_all(struct server *s)
{
	for(;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct conn *c;

		if(fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if(!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		if(epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
		}
	}
}

int main(int argc, char **argv)
{
	struct server s = { .ep = -1, .mu = PTHREAD_MUTEX_INITIALIZER };
	pthread_t thr;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	struct epoll_event evs[256], lev = { .events = EPOLLIN };
	struct rlimit rl;
	int one = 1, i, n, rc;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if(!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sa.sin_port = htons((unsigned short)(argc > 1 ? atoi(argv[1]) : 0));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if(s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s.lfd, 4096) ||
	   getsockname(s.lfd, (struct sockaddr *)&sa, &slen)) {
		fprintf(stderr, "roofline: error: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	s.sep = epoll_create1(EPOLL_CLOEXEC);
	s.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	lev.data.ptr = NULL;
	epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &lev);
	epoll_ctl(s.sep, EPOLL_CTL_ADD, s.efd, &lev);
	if(s.ep < 0 || s.sep < 0 || s.efd < 0 || pthread_create(&thr, NULL, sender, &s)) {
		fprintf(stderr, "roofline: error: cannot start: %s\n", strerror(errno));
		return 1;
	}
	printf("listening on %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	while(!stop) {
		n = epoll_wait(s.ep, evs, 256, 500);
		for(i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if(!c) {
				accept_all(&s);
				continue;
			}
			if((rc = readable(&s, c)) < 0)
				conn_close(&s, c);
		}
	}
	pthread_join(thr, NULL);
	return 0;
}
