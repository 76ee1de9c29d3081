/*
 * ssed - the Server-Sent Events broker: options, start-up, signals and the
 * shutdown order. The listening sockets are listen.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common.h"
#include "fan.h"
#include "guard.h"
#include "jwtkey.h"
#include "listen.h"
#include "loop.h"
#include "peer.h"
#include "ssed.h"
#include "store_sqlite.h"
#include "tls.h"
#include "token.h"

#define RESERVE 256      /* connections kept for publishers and /metrics */
#define SPARE_FDS 64     /* epoll, eventfds, listeners, files */
#define DRAIN_DEFAULT 5  /* seconds a SIGTERM spreads the streams' ends over */
#define IDLE_AGE 0.1     /* a connection quiet this long has no request in flight */

static const char usage_text[] =
"Usage: ssed [OPTIONS]\n"
"Serve Server-Sent Events: subscribe with GET /events/TOPIC, publish with\n"
"POST /events/TOPIC (or GET /broadcast?msg=...); a demo page is at /.\n"
"GET /events/TOPIC?since=all|N|DURATION|ID replays history (&poll=1: then ends);\n"
"GET /topics lists the topics.\n"
"\n"
"  -l, --listen [ADDR:]PORT       listen on TCP (default 127.0.0.1:8080; repeatable;\n"
"                                 0.0.0.0:PORT or [::]:PORT serve other hosts)\n"
"  -u, --unix-socket PATH         listen on a Unix socket too (alone when no -l)\n"
"      --tls-listen [ADDR:]PORT   listen for HTTPS (repeatable; needs --tls-cert and\n"
"                                 --tls-key; -l listeners stay plain HTTP)\n"
"      --tls-cert FILE            the certificate, PEM, leaf first then its chain\n"
"      --tls-key FILE             the certificate's private key, PEM\n"
"      --allow-host NAME          a Host name a loopback-only ssed answers besides\n"
"                                 localhost and loopback addresses (repeatable)\n"
"      --history N                events kept per topic for resume (default 1000)\n"
"      --history-bytes SIZE       bytes kept per topic at most (default 16M)\n"
"      --history-age DURATION     drop events older than this (default 0: never)\n"
"      --max-memory SIZE          memory all retained events may use in all; the\n"
"                                 oldest of the largest topics go first (default 128M)\n"
"      --store PATH               keep events in the database file PATH: history\n"
"                                 and ids survive a restart or a crash (created\n"
"                                 when missing; default: memory only)\n"
"      --store-sync               with --store: fsync each commit, so events\n"
"                                 survive a power loss too (slower)\n"
"      --heartbeat SECS           comment sent on idle streams (default 15, 0: off)\n"
"      --retry MS                 retry field sent to each new stream (default: none)\n"
"      --cors ORIGIN              allow cross-origin requests from ORIGIN (or *)\n"
"      --drain SECS               on SIGTERM, end the streams spread over SECS\n"
"                                 (default 5, 0: all at once)\n"
"      --max-body SIZE            largest event a publish may send (default 1M)\n"
"      --max-subscribers N        streams at most (default: what the open-file limit allows)\n"
"      --max-topics N             topics at most (default 10000)\n"
"      --metrics-token-file FILE  GET /metrics over TCP needs this bearer token\n"
"                                 (default: /metrics is open)\n"
"      --no-broadcast             turn GET and POST /broadcast off\n"
"      --publish-token-file FILE  publishing over TCP needs this bearer token\n"
"      --subscribe-token-file FILE  subscribing over TCP needs this bearer token\n"
"      --jwt-key-file FILE        publishing and subscribing over TCP need a signed token\n"
"                                 (JWT) granting the topics: FILE holds an HMAC secret\n"
"                                 or an RSA or EC public key (PEM)\n"
"      --jwt-cookie NAME          the cookie a browser's token is in (default ssed_token)\n"
"      --jwt-query                also take the token from ?access_token= (never logged)\n"
"      --timeout SECS             close a connection making no progress (default 60)\n"
"      --trust-proxy ADDR         -v logs the client address that a proxy at ADDR\n"
"                                 (or 'unix': on a Unix socket) puts in X-Forwarded-For\n"
"      --header-timeout SECS      close a connection whose request headers take longer\n"
"                                 (default 10, 0: no limit)\n"
"      --conn-memory SIZE         memory per connection for request and reply headers\n"
"                                 (default 12K; a request too big for it gets 431)\n"
"      --threads N                HTTP threads per listener (default: CPUs)\n"
"      --delivery-threads N       threads writing events to streams\n"
"                                 (default: half the CPUs, at least 1)\n"
"      --publish-window N         a publish's reply waits while streams due an event\n"
"                                 are N events or more behind (default and at most:\n"
"                                 a quarter of --history, 250; 0: never)\n"
"      --redis URL                share topics, ids and history with the other ssed\n"
"                                 on the same Redis: redis://[USER@]HOST[:PORT][/DB]\n"
"                                 or unix:///PATH (a publish is acknowledged once\n"
"                                 Redis has it; 503 while Redis is unreachable)\n"
"      --redis-password-file FILE  Redis's password, the file's first line (else\n"
"                                 $SSED_REDIS_PASSWORD, else none)\n"
"  -v, --verbose                  log every request\n"
"  -q, --quiet                    log errors only\n"
"  -h, --help                     show this help and exit\n"
"  -V, --version                  show the version and exit\n"
"\n"
"SIZE takes a K, M or G suffix; DURATION is a number with s, m, h or d (90s, 10m,\n"
"1h; seconds without one). SIGHUP reads the token files, the JWT key and the\n"
"certificate again; open streams stay. SIGTERM or SIGINT drains (see --drain);\n"
"a second one stops at once.\n"
"See ssed(1) for the HTTP API.\n";

enum opt_id {
	OPT_HISTORY = 256, OPT_HISTORY_BYTES, OPT_HEARTBEAT, OPT_RETRY, OPT_CORS,
	OPT_MAX_BODY, OPT_MAX_SUBS, OPT_MAX_TOPICS, OPT_PUB_TOKEN, OPT_SUB_TOKEN,
	OPT_TIMEOUT, OPT_THREADS, OPT_HEADER_TIMEOUT, OPT_CONN_MEMORY, OPT_DELIVERY_THREADS,
	OPT_PUBLISH_WINDOW, OPT_TRUST_PROXY, OPT_ALLOW_HOST, OPT_METRICS_TOKEN, OPT_NO_BROADCAST,
	OPT_HISTORY_AGE, OPT_MAX_MEMORY, OPT_STORE, OPT_STORE_SYNC,
	OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_LISTEN, OPT_JWT_KEY, OPT_JWT_COOKIE, OPT_JWT_QUERY, OPT_DRAIN,
	OPT_REDIS, OPT_REDIS_PASSWORD_FILE
};

/* Sorted by long name. */
static const struct option long_opts[] = {
	{ "allow-host", required_argument, NULL, OPT_ALLOW_HOST },
	{ "conn-memory", required_argument, NULL, OPT_CONN_MEMORY },
	{ "cors", required_argument, NULL, OPT_CORS },
	{ "delivery-threads", required_argument, NULL, OPT_DELIVERY_THREADS },
	{ "drain", required_argument, NULL, OPT_DRAIN },
	{ "header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT },
	{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
	{ "help", no_argument, NULL, 'h' },
	{ "history", required_argument, NULL, OPT_HISTORY },
	{ "history-age", required_argument, NULL, OPT_HISTORY_AGE },
	{ "history-bytes", required_argument, NULL, OPT_HISTORY_BYTES },
	{ "jwt-cookie", required_argument, NULL, OPT_JWT_COOKIE },
	{ "jwt-key-file", required_argument, NULL, OPT_JWT_KEY },
	{ "jwt-query", no_argument, NULL, OPT_JWT_QUERY },
	{ "listen", required_argument, NULL, 'l' },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "max-memory", required_argument, NULL, OPT_MAX_MEMORY },
	{ "max-subscribers", required_argument, NULL, OPT_MAX_SUBS },
	{ "max-topics", required_argument, NULL, OPT_MAX_TOPICS },
	{ "metrics-token-file", required_argument, NULL, OPT_METRICS_TOKEN },
	{ "no-broadcast", no_argument, NULL, OPT_NO_BROADCAST },
	{ "publish-token-file", required_argument, NULL, OPT_PUB_TOKEN },
	{ "publish-window", required_argument, NULL, OPT_PUBLISH_WINDOW },
	{ "quiet", no_argument, NULL, 'q' },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "redis-password-file", required_argument, NULL, OPT_REDIS_PASSWORD_FILE },
	{ "retry", required_argument, NULL, OPT_RETRY },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "store-sync", no_argument, NULL, OPT_STORE_SYNC },
	{ "subscribe-token-file", required_argument, NULL, OPT_SUB_TOKEN },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-listen", required_argument, NULL, OPT_TLS_LISTEN },
	{ "trust-proxy", required_argument, NULL, OPT_TRUST_PROXY },
	{ "unix-socket", required_argument, NULL, 'u' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* ---- the Redis backend (--redis) */

#define REDIS_PASSWORD_MAX 512

/* What hub_new's store_open needs to open the Redis backend. */
struct redis_arg {
	const char *url;
	const char *password_from;   /* "file:PATH", "env:NAME" or NULL */
	struct store_limits lim;
	int failed;                  /* it said why on stderr */
};

static struct store *open_redis(const struct store_sink *sink, void *arg)
{
	struct redis_arg *a = arg;
	char pw[REDIS_PASSWORD_MAX], err[512];
	struct store *st;

	pw[0] = '\0';
	if(a->password_from && store_redis_secret(a->password_from, pw, sizeof(pw), err, sizeof(err))) {
		errorf("--redis: %s", err);
		a->failed = 1;
		return NULL;
	}
	st = store_redis_open(a->url, pw[0] ? pw : NULL, &a->lim, sink, err, sizeof(err));
	explicit_bzero(pw, sizeof(pw));
	if(!st) {
		errorf("--redis: %s", err);
		a->failed = 1;
	}
	return st;
}

/* ---- the ticker: heartbeats, the header deadline, memory trimming */

static pthread_mutex_t tick_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cv = PTHREAD_COND_INITIALIZER;
static int tick_stop;

struct tick_arg {
	struct hub *hub;
	double heartbeat;          /* 0: none */
	double header_timeout;     /* 0: none */
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * After a storm of disconnects glibc keeps the freed connection memory in
 * its arenas; hand it back to the system once the streams are gone: when
 * 256 or more have left since the last trim (counted by the hub, so that
 * streams that came and went within one tick count too). A stream leaves
 * the hub a moment before its socket and buffers are freed, so the trim
 * is done again at the next TRIM_AGAIN ticks.
 */
#define TRIM_AGAIN 2

static void trim_after_drop(struct hub *hub, uint64_t *last, int *again)
{
	uint64_t gone = hub_gone(hub);

	if(gone - *last >= 256) {
		*last = gone;
		*again = TRIM_AGAIN + 1;
	}
	if(*again == 0)
		return;
	(*again)--;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Wakes once a second, or once per heartbeat when that is shorter. */
static void *ticker_main(void *arg)
{
	struct tick_arg *a = arg;
	double every = a->heartbeat > 0 && a->heartbeat < 1 ? a->heartbeat : 1;
	double next_hb = mono_now() + a->heartbeat;
	long long ns = (long long)(every * 1e9);
	struct timespec ts;
	uint64_t last = 0;
	int again = 0;

	pthread_mutex_lock(&tick_mu);
	while(!tick_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(ns / 1000000000LL);
		ts.tv_nsec += (long)(ns % 1000000000LL);
		if(ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if(pthread_cond_timedwait(&tick_cv, &tick_mu, &ts) != ETIMEDOUT || tick_stop)
			continue;
		pthread_mutex_unlock(&tick_mu);
		if(a->header_timeout > 0)
			http_reap(a->header_timeout);
		if(a->heartbeat > 0 && mono_now() >= next_hb) {
			next_hb += a->heartbeat;
			if(next_hb < mono_now())
				next_hb = mono_now() + a->heartbeat;
			hub_heartbeat(a->hub);
		}
		hub_expire(a->hub);  /* --history-age; nothing to do without it */
		trim_after_drop(a->hub, &last, &again);
		pthread_mutex_lock(&tick_mu);
	}
	pthread_mutex_unlock(&tick_mu);
	return NULL;
}

/* ---- the durable store (--store) */

struct store_opts {
	const char *path;          /* NULL: memory only */
	int sync;                  /* --store-sync */
	struct store_limits lim;
	int refused;               /* the store could not open: said so */
};

/*
 * hub_config.store_open for --store: open the file, print its damage
 * warning (one line) or its refusal. SSED_TEST_STORE_MAX_PAGES, a test
 * knob, caps the pages the file may grow by: a simulated full disk.
 */
static struct store *open_store(const struct store_sink *sink, void *arg)
{
	struct store_opts *so = arg;
	const char *pages = getenv("SSED_TEST_STORE_MAX_PAGES");
	char err[1024];
	struct store *s;

	s = store_sqlite_open(so->path, so->sync, &so->lim, sink, err, sizeof(err));
	if(!s) {
		so->refused = 1;
		errorf("%s", err);
		return NULL;
	}
	if(err[0])
		warnf("%s", err);
	if(pages && pages[0])
		store_sqlite_limit_pages(s, (unsigned)strtoul(pages, NULL, 10));
	return s;
}

/* ---- options */

static size_t parse_size(const char *opt, const char *v, size_t min, size_t max)
{
	char num[32];
	size_t len = strlen(v), mult = 1;
	long long n;

	if(len && len < sizeof(num)) {
		switch(v[len - 1]) {
		case 'k': case 'K': mult = 1024; break;
		case 'm': case 'M': mult = 1024 * 1024; break;
		case 'g': case 'G': mult = 1024 * 1024 * 1024; break;
		default: break;
		}
	}
	if(mult == 1)
		return (size_t)parse_num(opt, v, (long long)min, (long long)max);
	memcpy(num, v, len - 1);
	num[len - 1] = '\0';
	n = parse_num(opt, num, 0, (long long)(max / mult));
	if((size_t)n * mult < min)
		usage_error("%s: %s is out of range (at least %zu)", opt, v, min);
	return (size_t)n * mult;
}

/* A duration: a number and s, m, h or d (seconds without a unit), in
 * microseconds; at most a year. */
static uint64_t parse_duration(const char *opt, const char *v)
{
	char num[32];
	size_t len = strlen(v);
	long long unit = 1, n;

	if(len && len < sizeof(num)) {
		switch(v[len - 1]) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: unit = 0; break;
		}
	}
	if(!unit)
		return (uint64_t)parse_num(opt, v, 0, 366LL * 86400) * 1000000u;
	memcpy(num, v, len - 1);
	num[len - 1] = '\0';
	if(!num[0])
		usage_error("%s: '%s' is not a duration (90s, 10m, 1h, 2d)", opt, v);
	n = parse_num(opt, num, 0, 366LL * 86400 / unit);
	return (uint64_t)(n * unit) * 1000000u;
}

/* Read a token file for opt, or a usage error saying why not. */
static void read_token(struct tokens *t, enum token_kind kind, const char *opt,
		       const char *path)
{
	char err[512];

	if(tokens_load(t, kind, opt, path, err, sizeof(err)))
		usage_error("%s: %s", opt, err);
}

/*
 * reload - SIGHUP's work, on the main thread: read the token files again.
 * Whatever else can be reloaded without dropping a stream joins here: the
 * certificate (for new connections; open streams keep their session) and
 * the JWT key (then open streams whose token no longer verifies end). A
 * renewed file that cannot be used keeps the old one and says why.
 */
static void reload(struct ssed_config *cfg, struct tls *tls, struct fan *fan)
{
	char err[512];

	tokens_reload(cfg->tokens);
	if(tls) {
		if(tls_reload(tls, err, sizeof(err)))
			warnf("keeping the old certificate: %s", err);
		else if(!msg_quiet)
			fprintf(stderr, "ssed: certificate reloaded\n");
	}
	if(cfg->jwt) {
		if(jwtkey_reload(cfg->jwt, err, sizeof(err))) {
			warnf("keeping the old --jwt-key-file key: %s", err);
		} else {
			if(!msg_quiet)
				fprintf(stderr, "ssed: --jwt-key-file key reloaded\n");
			fan_recheck(fan);
		}
	}
}

/* Connections busy with a request: all but the streams still in
 * libmicrohttpd (HTTPS) and the idle ones. */
static size_t in_flight(const struct listen_set *ls, struct hub *hub, struct fan *fan)
{
	size_t conns = 0, other, subs = hub_subscribers(hub), detached = fan_detached(fan), i;
	unsigned t;

	for(i = 0; i < ls->n; i++)
		for(t = 0; t < ls->l[i].nd; t++)
			conns += loop_connections(ls->l[i].loop[t]);
	other = (subs > detached ? subs - detached : 0) + http_idle(IDLE_AGE);
	return conns > other ? conns - other : 0;
}

/*
 * drain - the way out on SIGTERM or a first SIGINT: stop accepting at
 * once, answer the requests in flight, and end the streams spread over
 * secs seconds (fan_drain). Returns when the last stream is gone and no
 * request is in flight, when the time is up, or at a second SIGINT or
 * SIGTERM (the caller then stops at once). SIGHUP still reloads.
 */
static void drain(struct listen_set *ls, struct hub *hub, struct fan *fan, double secs,
		  const sigset_t *sigs, struct ssed_config *cfg, struct tls *tls)
{
	double end = mono_now() + secs, left;
	struct timespec ts;
	unsigned t;
	size_t i;
	int sig;

	for(i = 0; i < ls->n; i++) {
		if(!ls->l[i].nd)
			continue;
		__atomic_store_n(&ls->l[i].ctx.draining, 1, __ATOMIC_RELAXED);
		for(t = 0; t < ls->l[i].nd; t++)
			loop_quiesce(ls->l[i].loop[t]);
		/* A socket of its own refuses connections from now on, even
		 * before every HTTP thread has quiesced. One from systemd stays
		 * as it is: its queue waits for the next ssed. The descriptor is
		 * closed once the daemons have stopped. */
		if(ls->l[i].fd >= 0 && !ls->l[i].from_systemd)
			shutdown(ls->l[i].fd, SHUT_RDWR);
	}
	fan_drain(fan, secs);
	for(;;) {
		left = end - mono_now();
		if(left <= 0 || (!hub_subscribers(hub) && !in_flight(ls, hub, fan)))
			return;
		/* Nothing signals "the last one went": look 20 times a second. */
		if(left > 0.05)
			left = 0.05;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		sig = sigtimedwait(sigs, NULL, &ts);
		if(sig == SIGHUP) {
			reload(cfg, tls, fan);
		} else if(sig == SIGINT || sig == SIGTERM) {
			if(!msg_quiet)
				fprintf(stderr, "ssed: %s: stopping at once\n", strsignal(sig));
			return;
		}
	}
}

/*
 * start_daemon - the HTTP servers of listener l: one libmicrohttpd daemon
 * per HTTP thread, all on l's socket, each run by a loop of its own
 * (loop.h says why not libmicrohttpd's thread pool). The connection limit
 * is shared out among them, as libmicrohttpd's pool does.
 */
static int start_daemon(struct listener *l, struct hub *hub, struct fan *fan,
			const struct ssed_config *cfg, struct tls *tls, struct http_budget *budget)
{
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned n = cfg->threads ? cfg->threads : 1, t, limit;
	size_t total = cfg->max_subscribers + RESERVE;
	struct MHD_OptionItem tls_opt[2] = {
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL }
	};

	if(n > LISTEN_THREADS_MAX)
		n = LISTEN_THREADS_MAX;
	if(total > UINT_MAX)
		total = UINT_MAX;
	/* HTTPS: each connection gets the current certificate when it starts
	 * (http_notify, tls_attach); the fallback refuses any it missed. */
	if(l->tls) {
		flags |= MHD_USE_TLS;
		tls_opt[0] = (struct MHD_OptionItem){
			MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)tls_mhd_fallback };
	}
	if(l->v6)
		flags |= MHD_USE_IPv6;
	l->ctx.hub = hub;
	l->ctx.budget = budget;
	l->ctx.fan = fan;
	l->ctx.cfg = cfg;
	l->ctx.is_unix = l->is_unix;
	l->ctx.tls = l->tls ? tls : NULL;
	for(t = 0; t < n; t++) {
		limit = (unsigned)(total / n + (t < total % n));
		l->loop[t] = loop_new();
		if(!l->loop[t]) {
			errorf("cannot start the HTTP server on %s: %s", l->shown, strerror(errno));
			return -1;
		}
		l->d[t] = MHD_start_daemon(flags, 0, http_accept, &l->ctx, http_request, &l->ctx,
			MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
			MHD_OPTION_URI_LOG_CALLBACK, guard_uri, (void *)cfg,
			MHD_OPTION_LISTEN_SOCKET, l->fd,
			MHD_OPTION_CONNECTION_LIMIT, limit ? limit : 1u,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->conn_memory,
			MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout,
			MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
			MHD_OPTION_NOTIFY_CONNECTION, http_notify, &l->ctx,
			MHD_OPTION_ARRAY, tls_opt,
			MHD_OPTION_END);
		if(!l->d[t]) {
			errorf("cannot start the HTTP server on %s", l->shown);
			return -1;
		}
		l->nd = t + 1;
		if(loop_start(l->loop[t], l->d[t])) {
			errorf("cannot start an HTTP thread on %s: %s", l->shown, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Raise the open-file limit as far as allowed; cap max_subscribers by it. */
static void raise_nofile(struct ssed_config *cfg, int asked)
{
	struct rlimit rl;
	size_t room;

	if(getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if(rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
		rl.rlim_cur = 1000000;
	room = rl.rlim_cur > RESERVE + SPARE_FDS + 1 ? (size_t)rl.rlim_cur - RESERVE - SPARE_FDS : 1;
	if(cfg->max_subscribers > room) {
		if(asked)
			warnf("the open-file limit (%llu) caps --max-subscribers at %zu",
			      (unsigned long long)rl.rlim_cur, room);
		cfg->max_subscribers = room;
	}
}

int main(int argc, char **argv)
{
	struct ssed_config cfg = {
		.history = 1000, .history_bytes = 16u << 20, .max_topics = 10000,
		.max_subscribers = (size_t)-1, .max_body = 1u << 20, .heartbeat = 15,
		.retry_ms = -1, .timeout = 60, .header_timeout = 10, .threads = 0, .cors = NULL,
		.conn_memory = 12288, .publish_window = SIZE_MAX, .max_memory = 128u << 20,
	};
	struct listen_set ls = { .n = 0 };
	struct store_opts store = { .path = NULL };
	struct redis_arg redis = { .url = NULL };
	const char *redis_pw_file = NULL;
	char redis_pw_from[PATH_MAX + 8];
	struct hub_config hc;
	struct tick_arg tick;
	pthread_t tick_thread;
	int c, sig, asked_subs = 0, rc = 1, tick_started = 0;
	double drain_secs = DRAIN_DEFAULT;
	struct hub *hub = NULL;
	const char **hosts = NULL, **more;
	struct fan *fan = NULL;
	struct http_budget budget = { 0, 0 };
	const char *tls_cert = NULL, *tls_key = NULL, *jwt_path = NULL;
	struct tls *tls = NULL;
	int ntls = 0;
	char err[512];
	sigset_t sigs;
	size_t i, left;
	unsigned t;
	long ncpu;

	prog_name = "ssed";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	cfg.tokens = tokens_new();
	if(!cfg.tokens) {
		errorf("out of memory");
		return 1;
	}
	while((c = getopt_long(argc, argv, "hl:qu:vV", long_opts, NULL)) != -1) {
		switch(c) {
		case 'h':
			fputs(usage_text, stdout);
			tokens_free(cfg.tokens);
			free(hosts);
			return 0;
		case 'V':
			printf("ssed %s (libsse %s, libmicrohttpd %s)\n", SSE_VERSION, SSE_VERSION,
			       MHD_get_version());
			tokens_free(cfg.tokens);
			free(hosts);
			return 0;
		case 'l': listen_add(&ls, optarg, 0); break;
		case 'u': listen_add(&ls, optarg, 1); break;
		case OPT_TLS_LISTEN:
			listen_add(&ls, optarg, 0);
			ls.l[ls.n - 1].tls = 1;
			ntls++;
			break;
		case OPT_TLS_CERT: tls_cert = optarg; break;
		case OPT_TLS_KEY: tls_key = optarg; break;
		case OPT_JWT_KEY: jwt_path = optarg; break;
		case OPT_JWT_COOKIE:
			if(!optarg[0] || strpbrk(optarg, "=;, \t\r\n\"\\"))
				usage_error("--jwt-cookie: '%s' is not a cookie name", optarg);
			cfg.jwt_cookie = optarg;
			break;
		case OPT_JWT_QUERY: cfg.jwt_query = 1; break;
		case 'q': msg_quiet = 1; break;
		case 'v': msg_verbose++; break;
		case OPT_HISTORY: cfg.history = (size_t)parse_num("--history", optarg, 0, 10000000); break;
		case OPT_HISTORY_BYTES:
			cfg.history_bytes = parse_size("--history-bytes", optarg, 1, (size_t)1 << 40);
			break;
		case OPT_HISTORY_AGE: cfg.history_age_us = parse_duration("--history-age", optarg); break;
		case OPT_MAX_MEMORY:
			cfg.max_memory = parse_size("--max-memory", optarg, 64 * 1024, (size_t)1 << 40);
			break;
		case OPT_STORE:
			if(!optarg[0])
				usage_error("--store: the path is empty");
			store.path = optarg;
			break;
		case OPT_STORE_SYNC: store.sync = 1; break;
		case OPT_HEARTBEAT: cfg.heartbeat = parse_seconds("--heartbeat", optarg, 86400); break;
		case OPT_RETRY: cfg.retry_ms = parse_num("--retry", optarg, 0, 86400000); break;
		case OPT_CORS:
			if(!optarg[0] || strpbrk(optarg, "\r\n"))
				usage_error("--cors: '%s' is not an origin", optarg);
			cfg.cors = optarg;
			break;
		case OPT_DRAIN: drain_secs = parse_seconds("--drain", optarg, 3600); break;
		case OPT_MAX_BODY: cfg.max_body = parse_size("--max-body", optarg, 1, (size_t)1 << 30); break;
		case OPT_MAX_SUBS:
			cfg.max_subscribers = (size_t)parse_num("--max-subscribers", optarg, 0, 10000000);
			asked_subs = 1;
			break;
		case OPT_MAX_TOPICS: cfg.max_topics = (size_t)parse_num("--max-topics", optarg, 1, 10000000); break;
		case OPT_PUB_TOKEN:
			read_token(cfg.tokens, TOKEN_PUBLISH, "--publish-token-file", optarg);
			break;
		case OPT_SUB_TOKEN:
			read_token(cfg.tokens, TOKEN_SUBSCRIBE, "--subscribe-token-file", optarg);
			break;
		case OPT_METRICS_TOKEN:
			read_token(cfg.tokens, TOKEN_METRICS, "--metrics-token-file", optarg);
			break;
		case OPT_NO_BROADCAST: cfg.no_broadcast = 1; break;
		case OPT_ALLOW_HOST:
			if(!optarg[0] || strpbrk(optarg, ":/[] \t\r\n"))
				usage_error("--allow-host: '%s' is not a host name", optarg);
			more = realloc(hosts, (cfg.nallow_hosts + 1) * sizeof(*hosts));
			if(!more)
				usage_error("--allow-host: out of memory");
			hosts = more;
			hosts[cfg.nallow_hosts++] = optarg;
			cfg.allow_hosts = hosts;
			break;
		case OPT_TIMEOUT: cfg.timeout = (unsigned)parse_num("--timeout", optarg, 1, 86400); break;
		case OPT_HEADER_TIMEOUT:
			cfg.header_timeout = parse_seconds("--header-timeout", optarg, 86400);
			break;
		case OPT_CONN_MEMORY:
			cfg.conn_memory = parse_size("--conn-memory", optarg, 2048, (size_t)1 << 20);
			break;
		case OPT_DELIVERY_THREADS:
			cfg.delivery_threads = (unsigned)parse_num("--delivery-threads", optarg, 1, 64);
			break;
		case OPT_PUBLISH_WINDOW:
			cfg.publish_window = (size_t)parse_num("--publish-window", optarg, 0, 1000000);
			break;
		case OPT_REDIS:
			if(!optarg[0])
				usage_error("--redis: give a URL (redis://HOST[:PORT][/DB] or unix:///PATH)");
			redis.url = optarg;
			break;
		case OPT_REDIS_PASSWORD_FILE: redis_pw_file = optarg; break;
		case OPT_THREADS: cfg.threads = (unsigned)parse_num("--threads", optarg, 1, 64); break;
		case OPT_TRUST_PROXY:
			if(!peer_trust_ok(optarg))
				usage_error("--trust-proxy: '%s' is not an IP address or 'unix'", optarg);
			cfg.trust_proxy = optarg;
			break;
		default:
			fprintf(stderr, "Try 'ssed --help' for more information.\n");
			tokens_free(cfg.tokens);
			free(hosts);
			return EXIT_USAGE;
		}
	}
	if(optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if(store.path && redis.url)
		usage_error("--store and --redis: choose one (Redis keeps the history itself)");
	if(store.sync && !store.path)
		usage_error("--store-sync needs --store PATH");
	if(ntls && (!tls_cert || !tls_key))
		usage_error("--tls-listen needs --tls-cert and --tls-key");
	if((tls_cert || tls_key) && !ntls)
		usage_error("--tls-cert and --tls-key need --tls-listen [ADDR:]PORT");
	if(!tls_cert != !tls_key)
		usage_error("--tls-cert and --tls-key go together");
	if(tls_cert) {
		tls = tls_new(tls_cert, tls_key, err, sizeof(err));
		if(!tls)
			usage_error("--tls-cert: %s", err);
	}
	if(jwt_path) {
		cfg.jwt = jwtkey_new(jwt_path, err, sizeof(err));
		if(!cfg.jwt)
			usage_error("--jwt-key-file: %s", err);
	}
	if(!cfg.jwt_cookie)
		cfg.jwt_cookie = ACCESS_COOKIE_DEFAULT;
	if(msg_quiet)
		msg_verbose = 0;
	if(redis_pw_file && !redis.url)
		usage_error("--redis-password-file: only with --redis");
	if(redis.url) {
		/* The password never goes on the command line: a file, or the
		 * environment, read when the backend opens. */
		if(redis_pw_file)
			snprintf(redis_pw_from, sizeof(redis_pw_from), "file:%s", redis_pw_file);
		else if(getenv("SSED_REDIS_PASSWORD"))
			snprintf(redis_pw_from, sizeof(redis_pw_from), "env:SSED_REDIS_PASSWORD");
		else
			redis_pw_from[0] = '\0';
		redis.password_from = redis_pw_from[0] ? redis_pw_from : NULL;
		redis.lim.history = cfg.history;
		redis.lim.history_bytes = cfg.history_bytes;
		redis.lim.history_age_us = cfg.history_age_us;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if(ncpu < 1)
		ncpu = 1;
	if(!cfg.threads)
		cfg.threads = (unsigned)(ncpu > 64 ? 64 : ncpu);
	/* Half the CPUs write: each send costs the kernel about as much again
	 * (ACKs, and on loopback the receiving side), and HTTP needs some. */
	if(!cfg.delivery_threads)
		cfg.delivery_threads = (unsigned)(ncpu / 2 > 64 ? 64 : ncpu / 2 ? ncpu / 2 : 1);
	raise_nofile(&cfg, asked_subs);

	/* Signals go to this thread only, read with sigwait below. A shell
	 * starts background jobs with SIGINT ignored; ssed still stops on it. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	memset(&hc, 0, sizeof(hc));
	hc.history = cfg.history;
	hc.history_bytes = cfg.history_bytes;
	hc.max_topics = cfg.max_topics;
	hc.max_subscribers = cfg.max_subscribers;
	hc.retry_ms = cfg.retry_ms;
	hc.publish_window = cfg.publish_window;
	hc.max_memory = cfg.max_memory;
	hc.history_age_us = cfg.history_age_us;
	hc.ops.suspend = fan_park;
	hc.ops.resume = fan_wake;
	if(store.path) {
		/* Retention on disk is the ring's, restored before the first
		 * connection is accepted (the listeners open after this). */
		store.lim.history = hub_ring_cap(cfg.history);
		store.lim.history_bytes = cfg.history_bytes;
		store.lim.history_age_us = cfg.history_age_us;
		hc.store_open = open_store;
		hc.store_arg = &store;
	}
	if(redis.url) {
		hc.store_open = open_redis;
		hc.store_arg = &redis;
	}
	hub = hub_new(&hc);
	if(!hub) {
		if(store.path && !store.refused)
			errorf("cannot restore the store %s", store.path);
		else if(redis.url && !redis.failed)
			errorf("cannot read the history from Redis");
		else if(!store.path && !redis.url)
			errorf("out of memory");
		goto out;
	}
	fan = fan_start(hub, cfg.delivery_threads, cfg.timeout);
	if(!fan) {
		errorf("cannot start the delivery threads: %s", strerror(errno));
		goto out;
	}
	if(listen_open(&ls))
		goto out;
	cfg.host_check = listen_loopback_only(&ls);
	budget.limit = cfg.max_subscribers < (size_t)-1 - RESERVE ? cfg.max_subscribers + RESERVE
								 : (size_t)-1;
	for(i = 0; i < ls.n; i++)
		if(start_daemon(&ls.l[i], hub, fan, &cfg, tls, &budget))
			goto out;
	tick.hub = hub;
	tick.heartbeat = cfg.heartbeat;
	tick.header_timeout = cfg.header_timeout;
	if(pthread_create(&tick_thread, NULL, ticker_main, &tick) == 0)
		tick_started = 1;
	else
		warnf("no ticker thread: no heartbeats and no header deadline");
	if(!msg_quiet) {
		for(i = 0; i < ls.n; i++)
			fprintf(stderr, "ssed: listening on %s\n", ls.l[i].shown);
	}

	for(;;) {
		c = sigwait(&sigs, &sig);
		if(c == EINTR)
			continue;
		if(c || sig != SIGHUP)
			break;
		reload(&cfg, tls, fan);
	}
	if(drain_secs > 0) {
		if(!msg_quiet)
			fprintf(stderr, "ssed: %s: draining %zu stream(s) over %g s\n", strsignal(sig),
				hub_subscribers(hub), drain_secs);
		drain(&ls, hub, fan, drain_secs, &sigs, &cfg, tls);
	}
	if(!msg_quiet)
		fprintf(stderr, "ssed: %s: stopping\n", strsignal(sig));
	rc = 0;

out:
	/* Stop accepting, end every stream, and only then stop the daemons:
	 * libmicrohttpd aborts when stopped with a suspended connection. */
	for(i = 0; i < ls.n; i++)
		for(t = 0; t < ls.l[i].nd; t++)
			loop_quiesce(ls.l[i].loop[t]);
	if(hub) {
		hub_close(hub);
		if(fan)
			fan_close(fan);
		left = hub_wait_empty(hub, 500);
		if(left)
			notef("%zu stream(s) still closing", left);
	}
	fan_stop(fan);
	if(tick_started) {
		pthread_mutex_lock(&tick_mu);
		tick_stop = 1;
		pthread_cond_signal(&tick_cv);
		pthread_mutex_unlock(&tick_mu);
		pthread_join(tick_thread, NULL);
	}
	/* The HTTP threads first: a daemon in external mode is stopped from
	 * here, and libmicrohttpd then finishes every connection itself. A
	 * daemon not quiesced would close the socket the others share. */
	for(i = 0; i < ls.n; i++)
		for(t = 0; t < LISTEN_THREADS_MAX; t++)
			loop_stop(ls.l[i].loop[t]);
	for(i = 0; i < ls.n; i++) {
		for(t = 0; t < LISTEN_THREADS_MAX; t++) {
			if(ls.l[i].d[t]) {
				MHD_quiesce_daemon(ls.l[i].d[t]);
				MHD_stop_daemon(ls.l[i].d[t]);
			}
			loop_free(ls.l[i].loop[t]);
		}
	}
	listen_close(&ls);
	fan_free(fan);
	hub_free(hub);
	tls_free(tls);
	jwtkey_free(cfg.jwt);
	tokens_free(cfg.tokens);
	free(hosts);
	if(rc == 0 && !msg_quiet)
		fprintf(stderr, "ssed: stopped\n");
	return rc;
}
