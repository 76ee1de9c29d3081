/*
 * roofline - the least an SSE server can do, as a yardstick for ssed.
 *
 *   roofline [PORT]     listen on 127.0.0.1:PORT (0 or none: any free port),
 *                       print "listening on PORT" on stdout, serve until SIGTERM
 *
 * One thread, one epoll, level-triggered. A GET of /events/TOPIC gets
 * response headers and then the topic's events, raw (HTTP/1.1 without
 * chunks, the stream ends with the connection). A POST to /events/TOPIC
 * (or /pub/TOPIC) with a Content-Length body appends "id: N\ndata: BODY\n\n"
 * to the topic's log (one shared buffer per topic: every event is framed
 * once) and is answered 200. After each batch of epoll events, every
 * subscriber of a topic that grew gets one send() of everything since its
 * cursor; a subscriber whose socket is full waits for EPOLLOUT.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOPICS 64
#define REQ_MAX 4096

struct topic {
	char name[64];
	char *log;
	size_t len, cap;
	unsigned long long next_id;
	struct conn *subs;
	int dirty;
	struct topic *dnext;
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
	int ep, lfd;
	struct topic topics[TOPICS];
	size_t ntopics;
	struct topic *dirty;
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
	for(i = 0; i < s->ntopics; i++)
		if(strlen(s->topics[i].name) == n && !memcmp(s->topics[i].name, name, n))
			return &s->topics[i];
	if(s->ntopics == TOPICS)
		return NULL;
	memcpy(s->topics[s->ntopics].name, name, n);
	s->topics[s->ntopics].next_id = 1;
	return &s->topics[s->ntopics++];
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
	epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->req);
	free(c);
}

/* One send of everything pending; 0 ok (maybe blocked), -1 close. */
static int flush_sub(struct server *s, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	ssize_t n;

	if(c->cursor == c->t->len)
		return 0;
	n = send(c->fd, c->t->log + c->cursor, c->t->len - c->cursor, MSG_NOSIGNAL | MSG_DONTWAIT);
	if(n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	if(n > 0)
		c->cursor += (size_t)n;
	if((c->cursor < c->t->len) != c->blocked) {
		c->blocked = c->cursor < c->t->len;
		if(c->blocked)
			ev.events |= EPOLLOUT;
		epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return 0;
}

static int append(struct topic *t, const char *body, size_t n)
{
	char head[48];
	int h = snprintf(head, sizeof(head), "id: %llu\ndata: ", t->next_id++);
	size_t need = t->len + (size_t)h + n + 2;

	if(need > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 65536;
		char *p;

		while(cap < need)
			cap *= 2;
		p = realloc(t->log, cap);
		if(!p)
			return -1;
		t->log = p;
		t->cap = cap;
	}
	memcpy(t->log + t->len, head, (size_t)h);
	memcpy(t->log + t->len + h, body, n);
	memcpy(t->log + t->len + (size_t)h + n, "\n\n", 2);
	t->len = need;
	return 0;
}

static const char ok_pub[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char ok_sub[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			     "Cache-Control: no-cache\r\n\r\n: roofline\n\n";
static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/* Handle the whole requests in c->req; 0 to go on, -1 to close. */
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
			if(send(c->fd, ok_sub, sizeof(ok_sub) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ok_sub) - 1)
				return -1;
			free(c->req);
			c->req = NULL;
			c->t = t;
			c->cursor = t->len;
			c->next = t->subs;
			if(t->subs)
				t->subs->prev = c;
			t->subs = c;
			return 0;
		}
		if(strncmp(c->req, "POST ", 5) || append(t, c->req + hlen, blen))
			goto fail;
		if(!t->dirty) {
			t->dirty = 1;
			t->dnext = s->dirty;
			s->dirty = t;
		}
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
	struct server s = { .ep = -1 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sa);
	struct epoll_event evs[256], lev = { .events = EPOLLIN };
	struct rlimit rl;
	int one = 1, i, n;

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
	lev.data.ptr = NULL;
	epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &lev);
	printf("listening on %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	while(!stop) {
		n = epoll_wait(s.ep, evs, 256, -1);
		for(i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if(!c) {
				accept_all(&s);
				continue;
			}
			if(c->t && (evs[i].events & EPOLLOUT) && !(evs[i].events & (EPOLLERR | EPOLLHUP))) {
				if(flush_sub(&s, c))
					conn_close(&s, c);
				continue;
			}
			if(readable(&s, c))
				conn_close(&s, c);
		}
		/* One send per subscriber of each topic that grew. */
		while(s.dirty) {
			struct topic *t = s.dirty;
			struct conn *c, *next;

			s.dirty = t->dnext;
			t->dirty = 0;
			for(c = t->subs; c; c = next) {
				next = c->next;
				if(!c->blocked && flush_sub(&s, c))
					conn_close(&s, c);
			}
		}
	}
	return 0;
}
