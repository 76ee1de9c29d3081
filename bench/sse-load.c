/*
 * sse-load - a load client for SSE brokers: many subscribers on one epoll
 * loop, or one publisher on one keep-alive connection.
 *
 *   sse-load sub HOST PORT PATH CONNS EXPECT SECS [SOURCES]
 *     Open CONNS streams (from 127.0.0.1 .. 127.0.0.SOURCES), print "ready"
 *     once all have their response headers, then count events until every
 *     stream has EXPECT of them or SECS pass. Event data is
 *     "<send time ns> <seq>"; latency is receive time minus send time.
 *     Prints: deliveries, lost, out-of-order, deliveries/s, p50/p99/max ms.
 *     EXPECT 0: hold the streams idle until SECS pass (or SIGTERM).
 *   sse-load pub HOST PORT PATH COUNT RATE
 *     POST COUNT events over one keep-alive connection, one request each,
 *     RATE a second (0: as fast as replies come). Prints events/s.
 *   sse-load stream HOST PORT PATH COUNT
 *     The same COUNT events in one text/event-stream upload.
 *
 * Plain HTTP/1.1 over TCP, chunked or not; only what these brokers send.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	int state;               /* 0 headers, 1 body */
	int chunked;
	long chunk_left;         /* data bytes left; -1 size line, -2 its CRLF */
	long csize;
	int in_ext;
	char hdr[4096];
	size_t hlen;
	char line[1024];         /* the SSE line being read */
	size_t llen;
	long long events;
	long long last_seq;
	long long disorder;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static long long *lat;
static size_t nlat, caplat;
static long long first_ns, last_ns;

static void sse_line(struct conn *c, const char *s, size_t n)
{
	long long sent, seq, t;
	char tmp[64];

	if(n < 6 || memcmp(s, "data: ", 6))
		return;
	n -= 6;
	if(n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, s + 6, n);
	tmp[n] = '\0';
	if(sscanf(tmp, "%lld %lld", &sent, &seq) != 2)
		return;
	t = now_ns(CLOCK_REALTIME);
	if(!first_ns)
		first_ns = t;
	last_ns = t;
	if(seq <= c->last_seq)
		c->disorder++;
	c->last_seq = seq;
	c->events++;
	if(nlat == caplat) {
		caplat = caplat ? caplat * 2 : 1 << 20;
		lat = realloc(lat, caplat * sizeof(*lat));
		if(!lat) {
			perror("realloc");
			exit(2);
		}
	}
	lat[nlat++] = t - sent;
}

static void body_bytes(struct conn *c, const char *p, size_t n)
{
	size_t i;

	for(i = 0; i < n; i++) {
		if(p[i] == '\n') {
			sse_line(c, c->line, c->llen);
			c->llen = 0;
		} else if(c->llen < sizeof(c->line)) {
			c->line[c->llen++] = p[i];
		}
	}
}

/* Feed received bytes through HTTP framing into the SSE line reader. */
static int feed(struct conn *c, char *p, size_t n, int *opened)
{
	while(n) {
		if(c->state == 0) {
			size_t k = n < sizeof(c->hdr) - c->hlen ? n : sizeof(c->hdr) - c->hlen;
			char *end;

			memcpy(c->hdr + c->hlen, p, k);
			c->hlen += k;
			c->hdr[c->hlen < sizeof(c->hdr) ? c->hlen : sizeof(c->hdr) - 1] = '\0';
			end = strstr(c->hdr, "\r\n\r\n");
			if(!end) {
				if(c->hlen == sizeof(c->hdr))
					return -1;
				return 0;
			}
			if(strncmp(c->hdr, "HTTP/1.1 200", 12) && strncmp(c->hdr, "HTTP/1.0 200", 12))
				return -1;
			c->chunked = strcasestr(c->hdr, "transfer-encoding: chunked") != NULL;
			c->chunk_left = -1;
			c->state = 1;
			(*opened)++;
			k = (size_t)(end + 4 - c->hdr) - (c->hlen - k);
			p += k;
			n -= k;
			c->llen = 0;
			continue;
		}
		if(!c->chunked) {
			body_bytes(c, p, n);
			return 0;
		}
		/* Chunked: a hex size line, that many bytes, CRLF; size 0 ends. */
		if(c->chunk_left == -1) {
			char ch = *p++;

			n--;
			if(ch == '\n') {
				c->chunk_left = c->csize;
				c->csize = 0;
				if(c->chunk_left == 0)
					return -1;  /* the last chunk: the stream ended */
			} else if(c->in_ext || ch == ';') {
				c->in_ext = ch != '\r';
			} else if(ch != '\r') {
				int d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;

				c->csize = c->csize * 16 + d;
			}
			continue;
		}
		if(c->chunk_left == -2) {  /* the CRLF after a chunk's data */
			if(*p == '\n')
				c->chunk_left = -1;
			p++;
			n--;
			continue;
		}
		{
			size_t k = (size_t)c->chunk_left < n ? (size_t)c->chunk_left : n;

			body_bytes(c, p, k);
			c->chunk_left -= (long)k;
			if(c->chunk_left == 0)
				c->chunk_left = -2;
			p += k;
			n -= k;
		}
	}
	return 0;
}

static int open_conn(const char *host, int port, int source, const char *path)
{
	struct sockaddr_in sa, src;
	char req[512];
	int fd, one = 1, n;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if(fd < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000001u + (unsigned)source);
	if(source && bind(fd, (struct sockaddr *)&src, sizeof(src))) {
		close(fd);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if(connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
		     path, host);
	if(write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int sub(int argc, char **argv)
{
	const char *host = argv[2], *path = argv[4];
	int port = atoi(argv[3]), nconn = atoi(argv[5]);
	long long expect = atoll(argv[6]);
	double secs = atof(argv[7]);
	int sources = argc > 8 ? atoi(argv[8]) : 1;
	struct epoll_event ev, evs[512];
	struct conn *cs;
	long long deadline, delivered = 0, disorder = 0, complete = 0;
	int ep, i, opened = 0, closed = 0, ready = 0;
	char buf[65536];

	cs = calloc((size_t)nconn, sizeof(*cs));
	ep = epoll_create1(0);
	for(i = 0; i < nconn; i++) {
		cs[i].fd = open_conn(host, port, sources > 1 ? i % sources : 0, path);
		if(cs[i].fd < 0) {
			fprintf(stderr, "sse-load: connection %d: %s\n", i, strerror(errno));
			return 2;
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (unsigned)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	deadline = now_ns(CLOCK_MONOTONIC) + (long long)(secs * 1e9);
	while(!stop && now_ns(CLOCK_MONOTONIC) < deadline) {
		int n = epoll_wait(ep, evs, 512, 100);

		for(i = 0; i < n; i++) {
			struct conn *c = &cs[evs[i].data.u32];
			ssize_t r;

			while((r = read(c->fd, buf, sizeof(buf))) > 0) {
				long long before = c->events;

				if(feed(c, buf, (size_t)r, &opened)) {
					r = 0;
					break;
				}
				if(expect && before < expect && c->events >= expect)
					complete++;
			}
			if(r == 0 || (r < 0 && errno != EAGAIN)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				closed++;
			}
		}
		if(!ready && opened == nconn) {
			printf("ready\n");
			fflush(stdout);
			ready = 1;
		}
		if(expect && complete == nconn)
			break;
		if(closed == nconn)
			break;
	}
	for(i = 0; i < nconn; i++) {
		delivered += cs[i].events;
		disorder += cs[i].disorder;
	}
	if(!expect) {
		printf("held %d streams (%d closed)\n", opened - closed, closed);
		return 0;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_ll);
	printf("deliveries %lld lost %lld disorder %lld rate %.0f p50_ms %.2f p99_ms %.2f max_ms %.2f\n",
	       delivered, expect * nconn - delivered, disorder,
	       last_ns > first_ns ? (double)delivered / ((double)(last_ns - first_ns) / 1e9) : 0.0,
	       nlat ? (double)lat[nlat / 2] / 1e6 : 0.0,
	       nlat ? (double)lat[nlat * 99 / 100] / 1e6 : 0.0,
	       nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
	return delivered == expect * nconn ? 0 : 1;
}

static int read_reply(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	char *end, *cl;

	for(;;) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if(r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if(!end)
			continue;
		cl = strcasestr(buf, "content-length:");
		if(cl && len >= (size_t)(end + 4 - buf) + (size_t)atol(cl + 15))
			break;
		if(!cl)
			break;
	}
	return strncmp(buf, "HTTP/1.1 2", 10) ? -1 : 0;
}

static int pub(int argc, char **argv, int stream)
{
	const char *host = argv[2], *path = argv[4];
	int port = atoi(argv[3]);
	long long count = atoll(argv[5]), i, t0;
	double rate = argc > 6 ? atof(argv[6]) : 0;
	struct sockaddr_in sa;
	char req[1024], body[128];
	int fd, n, b, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if(connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("sse-load: connect");
		return 2;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t0 = now_ns(CLOCK_MONOTONIC);
	if(stream) {
		n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: %s\r\n"
			     "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
			     path, host);
		if(write(fd, req, (size_t)n) != n)
			return 2;
	}
	for(i = 1; i <= count; i++) {
		if(rate > 0) {
			long long due = t0 + (long long)((double)(i - 1) * 1e9 / rate);

			while(now_ns(CLOCK_MONOTONIC) < due) {
				struct timespec ts = { 0, 200000 };

				nanosleep(&ts, NULL);
			}
		}
		if(stream) {
			b = snprintf(body, sizeof(body), "data: %lld %lld\n\n", now_ns(CLOCK_REALTIME), i);
			n = snprintf(req, sizeof(req), "%x\r\n%s\r\n", b, body);
			if(write(fd, req, (size_t)n) != n)
				return 2;
			continue;
		}
		b = snprintf(body, sizeof(body), "%lld %lld", now_ns(CLOCK_REALTIME), i);
		n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: %s\r\n"
			     "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", path, host, b, body);
		if(write(fd, req, (size_t)n) != n || read_reply(fd)) {
			fprintf(stderr, "sse-load: publish %lld failed\n", i);
			return 2;
		}
	}
	if(stream && (write(fd, "0\r\n\r\n", 5) != 5 || read_reply(fd)))
		return 2;
	printf("published %lld rate %.0f\n", count,
	       (double)count / ((double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	if(argc >= 8 && !strcmp(argv[1], "sub"))
		return sub(argc, argv);
	if(argc >= 6 && !strcmp(argv[1], "pub"))
		return pub(argc, argv, 0);
	if(argc >= 6 && !strcmp(argv[1], "stream"))
		return pub(argc, argv, 1);
	fprintf(stderr, "usage: sse-load sub HOST PORT PATH CONNS EXPECT SECS [SOURCES]\n"
		"       sse-load pub HOST PORT PATH COUNT [RATE]\n"
		"       sse-load stream HOST PORT PATH COUNT\n");
	return 1;
}
