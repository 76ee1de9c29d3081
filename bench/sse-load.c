/*
 * sse-load - a load client for SSE brokers: many subscribers on one epoll
 * loop, or one publisher on one keep-alive connection.
 *
 *   sse-load sub HOST PORT PATH CONNS EXPECT SECS [SOURCES [PROCS]]
 *     Open CONNS streams (from 127.0.0.1 .. 127.0.0.SOURCES), print "ready"
 *     once all have their response headers, then count events until every
 *     stream has EXPECT of them or SECS pass. Event data is
 *     "<send time ns> <seq>"; latency is receive time (one clock reading
 *     per read) minus send time, kept in a histogram (0.1%).
 *     Prints: deliveries, lost, out-of-order, deliveries/s, p50/p99/max ms,
 *     events published, and the CPU time the streams took once ready.
 *     EXPECT 0: hold the streams idle until SECS pass (or SIGTERM).
 *     The streams are split over PROCS processes (default: as many as
 *     the open-file limit needs, e.g. 3 for 50,000 under a limit of 20,000).
 *   sse-load pub HOST PORT PATH COUNT [RATE [MAXSECS]]
 *     POST COUNT events over one keep-alive connection, one request each,
 *     RATE a second (0: as fast as replies come), stopping early after
 *     MAXSECS; then an end marker (data "<ns> -<events sent>") that tells
 *     the subscribers how many to expect. Prints events/s.
 *   sse-load stream HOST PORT PATH COUNT
 *     The same COUNT events in one text/event-stream upload.
 *
 * Plain HTTP/1.1 over TCP, chunked or not; only what these brokers send.
 * With SSE_LOAD_TLS=1 in the environment, sub's streams go over TLS
 * (GnuTLS, the certificate not checked: a loopback measurement of the
 * server's cost); pub and stream stay plain.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

struct conn {
	int fd;
	gnutls_session_t tls;    /* SSE_LOAD_TLS: the stream's session; NULL: plain */
	int state;               /* 0 headers, 1 body */
	int chunked;
	long chunk_left;         /* data bytes left; -1 size line, -2 its CRLF */
	long csize;
	int in_ext;
	char hdr[1024];
	size_t hlen;
	char line[256];          /* the SSE line being read */
	size_t llen;
	long long events;
	long long last_seq;
	long long disorder;
	long long want;          /* from the publisher's end marker; 0: none yet */
	int done;
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


/* Latency histogram in microseconds: exact below 1024, then 1024 steps
 * per power of two (0.1%). Histograms of several processes add up. */
#define HIST_N (1024 + 40 * 1024)
static unsigned long long hist[HIST_N];

static size_t hist_index(long long ns)
{
	unsigned long long v = ns > 0 ? (unsigned long long)ns / 1000 : 0;
	int shift;

	if(v < 1024)
		return (size_t)v;
	shift = 63 - __builtin_clzll(v) - 10;
	if(shift >= 40)
		return HIST_N - 1;
	return 1024 + (size_t)shift * 1024 + (size_t)((v >> shift) - 1024);
}

static double hist_ms(size_t i)
{
	size_t shift, sub;

	if(i < 1024)
		return (double)i / 1000;
	shift = (i - 1024) / 1024;
	sub = (i - 1024) % 1024 + 1024;
	return (double)(((unsigned long long)sub << shift) + ((1ULL << shift) >> 1)) / 1000;
}

/* The latency at quantile q (0..1) of count samples. */
static double hist_quantile(unsigned long long count, double q)
{
	unsigned long long want = (unsigned long long)((double)count * q), seen = 0;
	size_t i;

	if(!count)
		return 0;
	if(want >= count)
		want = count - 1;
	for(i = 0; i < HIST_N; i++) {
		seen += hist[i];
		if(seen > want)
			return hist_ms(i);
	}
	return hist_ms(HIST_N - 1);
}

static long long first_ns, last_ns;

/* "<sent ns> <seq>" after "data: ": two decimal numbers. */
static void sse_line(struct conn *c, const char *s, size_t n, long long now)
{
	long long sent = 0, seq = 0;
	size_t i = 6;
	int end = 0;

	if(n < 8 || memcmp(s, "data: ", 6))
		return;
	for(; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		sent = sent * 10 + (s[i] - '0');
	if(i >= n || s[i] != ' ')
		return;
	if(i + 1 < n && s[i + 1] == '-') {  /* the end marker: "-<count>" */
		end = 1;
		i++;
	}
	for(i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		seq = seq * 10 + (s[i] - '0');
	if(end) {
		c->want = seq;
		return;
	}
	if(!first_ns)
		first_ns = now;
	last_ns = now;
	if(seq <= c->last_seq)
		c->disorder++;
	c->last_seq = seq;
	c->events++;
	hist[hist_index(now - sent)]++;
}

static void body_bytes(struct conn *c, const char *p, size_t n, long long now)
{
	const char *nl;
	size_t k;

	while(n) {
		nl = memchr(p, '\n', n);
		if(!nl) {
			k = n < sizeof(c->line) - c->llen ? n : sizeof(c->line) - c->llen;
			memcpy(c->line + c->llen, p, k);
			c->llen += k;
			return;
		}
		k = (size_t)(nl - p);
		if(c->llen) {  /* the line began in an earlier read */
			size_t room = sizeof(c->line) - c->llen;

			memcpy(c->line + c->llen, p, k < room ? k : room);
			c->llen += k < room ? k : room;
			sse_line(c, c->line, c->llen, now);
			c->llen = 0;
		} else {
			sse_line(c, p, k, now);
		}
		p = nl + 1;
		n -= k + 1;
	}
}

/* Feed received bytes through HTTP framing into the SSE line reader. */
static int feed(struct conn *c, char *p, size_t n, int *opened, long long now)
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
			body_bytes(c, p, n, now);
			return 0;
		}
		/* Chunked: a hex size line, that many bytes, CRLF; size 0 ends. */
		if(c->chunk_left == -1) {
			char ch = *p++;

			n--;
			if(ch == '\n') {
				c->chunk_left = c->csize;
				c->csize = 0;
				c->in_ext = 0;
				if(c->chunk_left == 0)
					return -1;  /* the last chunk: the stream ended */
			} else if(c->in_ext || ch == ';') {
				c->in_ext = 1;
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

			body_bytes(c, p, k, now);
			c->chunk_left -= (long)k;
			if(c->chunk_left == 0)
				c->chunk_left = -2;
			p += k;
			n -= k;
		}
	}
	return 0;
}

/* SSE_LOAD_TLS: one client credentials object per process (made after fork). */
static gnutls_certificate_credentials_t tls_cred;

/* Wrap connected fd in a TLS session and finish the handshake (blocking). */
static gnutls_session_t tls_open(int fd)
{
	gnutls_session_t s;
	int rc;

	if(!tls_cred && gnutls_certificate_allocate_credentials(&tls_cred) < 0)
		return NULL;
	if(gnutls_init(&s, GNUTLS_CLIENT) < 0)
		return NULL;
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, tls_cred);
	gnutls_transport_set_int(s, fd);
	do
		rc = gnutls_handshake(s);
	while(rc < 0 && !gnutls_error_is_fatal(rc));
	if(rc < 0) {
		fprintf(stderr, "sse-load: TLS handshake: %s\n", gnutls_strerror(rc));
		gnutls_deinit(s);
		return NULL;
	}
	return s;
}

/* read(2), or through c's TLS session: -1 with errno EAGAIN when empty. */
static ssize_t conn_read(struct conn *c, char *buf, size_t n)
{
	ssize_t r;

	if(!c->tls)
		return read(c->fd, buf, n);
	r = gnutls_record_recv(c->tls, buf, n);
	if(r >= 0)
		return r;
	errno = r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ? EAGAIN : EIO;
	return -1;
}

static int open_conn(const char *host, int port, int source, const char *path,
		     gnutls_session_t *tls)
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
	*tls = NULL;
	if(getenv("SSE_LOAD_TLS") && !strcmp(getenv("SSE_LOAD_TLS"), "1")) {
		*tls = tls_open(fd);
		if(!*tls || gnutls_record_send(*tls, req, (size_t)n) != n) {
			if(*tls)
				gnutls_deinit(*tls);
			close(fd);
			errno = EPROTO;
			return -1;
		}
	} else if(write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* What one process reports to the parent. */
struct result {
	long long opened, delivered, disorder, complete, first_ns, last_ns, lost, published;
	long long cpu_ns;  /* user and system time since 'r' */
	int failed;
};

/* Write (out set) or read all n bytes at p; -1 on an error or EOF. */
static int xfer(int fd, void *p, size_t n, int out)
{
	char *b = p;
	ssize_t k;

	while(n) {
		k = out ? write(fd, b, n) : read(fd, b, n);
		if(k < 0 && errno == EINTR)
			continue;
		if(k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* This process's user and system time. */
static long long cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

#define write_all(fd, p, n) xfer(fd, (void *)(p), n, 1)
#define read_all(fd, p, n) xfer(fd, p, n, 0)

/*
 * One process's share: streams first..first+nconn-1 of the whole set (so
 * source addresses rotate the same way whatever the split). Writes 'r' to
 * out once all are open, then its result and histogram at the end.
 */
static int sub_part(const char *host, int port, const char *path, int first, int nconn,
		    long long expect, double secs, int sources, int out)
{
	struct epoll_event ev, evs[512];
	struct result res;
	struct conn *cs;
	long long deadline, now;
	int ep, i, opened = 0, closed = 0, ready = 0;
	char buf[65536];

	memset(&res, 0, sizeof(res));
	cs = calloc((size_t)nconn, sizeof(*cs));
	ep = epoll_create1(0);
	if(!cs || ep < 0) {
		perror("sse-load");
		return 2;
	}
	for(i = 0; i < nconn; i++) {
		int k = first + i;

		cs[i].fd = open_conn(host, port, sources > 1 ? k % sources : 0, path, &cs[i].tls);
		if(cs[i].fd < 0) {
			fprintf(stderr, "sse-load: connection %d: %s\n", k, strerror(errno));
			res.failed = 1;
			nconn = i;
			break;
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (unsigned)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	deadline = now_ns(CLOCK_MONOTONIC) + (long long)(secs * 1e9);
	while(!stop && !res.failed && now_ns(CLOCK_MONOTONIC) < deadline) {
		int n = epoll_wait(ep, evs, 512, 100);

		for(i = 0; i < n; i++) {
			struct conn *c = &cs[evs[i].data.u32];
			ssize_t r;

			while((r = conn_read(c, buf, sizeof(buf))) > 0) {
				now = now_ns(CLOCK_REALTIME);  /* one receive time per read */
				if(feed(c, buf, (size_t)r, &opened, now)) {
					r = 0;
					break;
				}
				if(!c->done && expect && (c->want || c->events >= expect)) {
					c->done = 1;
					res.complete++;
				}
			}
			if(r == 0 || (r < 0 && errno != EAGAIN)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				if(c->tls)
					gnutls_deinit(c->tls);
				c->tls = NULL;
				close(c->fd);
				closed++;
			}
		}
		if(!ready && opened == nconn) {
			if(write_all(out, "r", 1))
				break;
			ready = 1;
			res.cpu_ns = -cpu_ns();
		}
		if(expect && res.complete == nconn)
			break;
		if(closed == nconn)
			break;
	}
	res.opened = opened - closed;
	for(i = 0; i < nconn; i++) {
		long long want = cs[i].want ? cs[i].want : expect;

		res.delivered += cs[i].events;
		res.disorder += cs[i].disorder;
		res.lost += want > cs[i].events ? want - cs[i].events : 0;
		if(cs[i].want > res.published)
			res.published = cs[i].want;
	}
	res.first_ns = first_ns;
	res.last_ns = last_ns;
	res.cpu_ns = ready ? res.cpu_ns + cpu_ns() : 0;
	if(!ready)
		write_all(out, "x", 1);
	if(write_all(out, &res, sizeof(res)) || write_all(out, hist, sizeof(hist)))
		return 2;
	return 0;
}

static pid_t kids[64];
static int nkids;

static void on_term_parent(int sig)
{
	int i;

	(void)sig;
	stop = 1;
	for(i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
}

/* sub: CONNS streams over as many processes as the open-file limit needs. */
static int sub(int argc, char **argv)
{
	const char *host = argv[2], *path = argv[4];
	int port = atoi(argv[3]), nconn = atoi(argv[5]);
	long long expect = atoll(argv[6]), delivered = 0, disorder = 0, held = 0, lost = 0, cpu = 0;
	long long published = 0;
	double secs = atof(argv[7]);
	int sources = argc > 8 ? atoi(argv[8]) : 1;
	int procs = argc > 9 ? atoi(argv[9]) : 0;
	static unsigned long long total[HIST_N];
	unsigned long long count = 0;
	struct rlimit rl;
	struct result res;
	int i, j, per, failed = 0, pipes[64];
	long long first = 0, last = 0;
	char c;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	per = rl.rlim_cur > 164 ? (int)(rl.rlim_cur - 100) : 64;
	if(procs < 1)
		procs = (nconn + per - 1) / per;
	if(procs < 1)
		procs = 1;
	if(procs > 64 || (nconn + procs - 1) / procs > per) {
		fprintf(stderr, "sse-load: %d streams need more than 64 processes of %d files\n",
			nconn, per);
		return 2;
	}
	for(i = 0; i < procs; i++) {
		int fds[2], from = (int)((long long)nconn * i / procs);
		int to = (int)((long long)nconn * (i + 1) / procs);

		if(pipe(fds)) {
			perror("sse-load: pipe");
			return 2;
		}
		kids[i] = fork();
		if(kids[i] == 0) {
			close(fds[0]);
			signal(SIGTERM, on_term);
			_exit(sub_part(host, port, path, from, to - from, expect, secs, sources, fds[1]));
		}
		close(fds[1]);
		pipes[i] = fds[0];
		nkids = i + 1;
	}
	signal(SIGTERM, on_term_parent);
	for(i = 0; i < procs; i++) {
		if(read_all(pipes[i], &c, 1) || c != 'r')
			failed = 1;
	}
	if(!failed) {
		printf("ready\n");
		fflush(stdout);
	}
	for(i = 0; i < procs; i++) {
		if(read_all(pipes[i], &res, sizeof(res)) || read_all(pipes[i], hist, sizeof(hist))) {
			failed = 1;
			continue;
		}
		failed |= res.failed;
		delivered += res.delivered;
		lost += res.lost;
		if(res.published > published)
			published = res.published;
		disorder += res.disorder;
		held += res.opened;
		cpu += res.cpu_ns;
		if(res.first_ns && (!first || res.first_ns < first))
			first = res.first_ns;
		if(res.last_ns > last)
			last = res.last_ns;
		for(j = 0; j < HIST_N; j++) {
			total[j] += hist[j];
			count += hist[j];
		}
		close(pipes[i]);
	}
	for(i = 0; i < procs; i++)
		waitpid(kids[i], NULL, 0);
	if(!expect) {
		printf("held %lld streams in %d process(es)\n", held, procs);
		return failed ? 2 : 0;
	}
	memcpy(hist, total, sizeof(hist));
	printf("deliveries %lld lost %lld disorder %lld rate %.0f p50_ms %.2f p99_ms %.2f max_ms %.2f"
	       " published %lld cpu_ms %.0f\n",
	       delivered, lost, disorder,
	       last > first ? (double)delivered / ((double)(last - first) / 1e9) : 0.0,
	       hist_quantile(count, 0.5), hist_quantile(count, 0.99), hist_quantile(count, 1.0),
	       published ? published : expect, (double)cpu / 1e6);
	return failed ? 2 : lost ? 1 : 0;
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
	long long count = atoll(argv[5]), i, t0, sent = 0;
	double rate = argc > 6 ? atof(argv[6]) : 0;
	double maxsecs = argc > 7 ? atof(argv[7]) : 0;
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
	for(i = 1; i <= count + 1; i++) {
		long long seq = i;

		/* After COUNT events or MAXSECS, the end marker: "-<events sent>". */
		if(i > count || (maxsecs > 0 && now_ns(CLOCK_MONOTONIC) - t0 > (long long)(maxsecs * 1e9))) {
			seq = -sent;
			i = count + 1;
		} else {
			sent = i;
		}
		if(rate > 0 && seq > 0) {
			long long due = t0 + (long long)((double)(i - 1) * 1e9 / rate);

			while(now_ns(CLOCK_MONOTONIC) < due) {
				struct timespec ts = { 0, 200000 };

				nanosleep(&ts, NULL);
			}
		}
		if(stream) {
			b = snprintf(body, sizeof(body), "data: %lld %lld\n\n", now_ns(CLOCK_REALTIME), seq);
			n = snprintf(req, sizeof(req), "%x\r\n%s\r\n", b, body);
			if(write(fd, req, (size_t)n) != n)
				return 2;
			continue;
		}
		b = snprintf(body, sizeof(body), "%lld %lld", now_ns(CLOCK_REALTIME), seq);
		n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: %s\r\n"
			     "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", path, host, b, body);
		if(write(fd, req, (size_t)n) != n || read_reply(fd)) {
			fprintf(stderr, "sse-load: publish %lld failed\n", seq);
			return 2;
		}
	}
	if(stream && (write(fd, "0\r\n\r\n", 5) != 5 || read_reply(fd)))
		return 2;
	printf("published %lld rate %.0f\n", sent,
	       (double)sent / ((double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9));
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
	fprintf(stderr, "usage: sse-load sub HOST PORT PATH CONNS EXPECT SECS [SOURCES [PROCS]]\n"
		"       sse-load pub HOST PORT PATH COUNT [RATE [MAXSECS]]\n"
		"       sse-load stream HOST PORT PATH COUNT\n");
	return 1;
}
