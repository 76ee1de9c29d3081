/*
 * sse-cat - subscribe to an event stream and print its events.
 *
 * libcurl's write callback feeds the framing library's parser; each event
 * is formatted, written and flushed at once (out.c). Like an EventSource it
 * follows redirects, reconnects after EOF or a network error, waits the
 * server's retry time (backoff.c: never less than a floor, doubled while
 * attempts keep failing), and sends Last-Event-ID so that no event is
 * printed twice; --state keeps that id across runs (state.c).
 *
 * A connection counts as a success only when it brought an event or lasted
 * a while: a server that accepts and closes at once, or says retry: 0 and
 * ends, is a failure like a refused connection, so it is backed off from.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "common.h"
#include "net.h"
#include "out.h"
#include "since.h"
#include "sse.h"
#include "state.h"

#define MAX_TYPES 64
#define MAX_REDIRECTS 10
#define DEFAULT_MAX_EVENT (64ULL << 20)
#define ID_MAX 256
/* A stream that stayed open this long was a working connection. */
#define LIVED_SECS 5.0

enum cat_opt_id {
	OPT_NO_RECONNECT = 400,
	OPT_LAST_EVENT_ID,
	OPT_MAX_RETRIES,
	OPT_MAX_EVENT_SIZE,
	OPT_STATE,
	OPT_EXEC,
	OPT_SINCE,
	OPT_POLL
};

static const char usage_text[] =
"Usage: sse-cat [OPTIONS] URL\n"
"Subscribe to a Server-Sent Events stream and print each event as it arrives.\n"
"\n"
"  -o, --format FORMAT         data (default: the data, then a newline), json (one\n"
"                              object a line: id, event, data), raw (SSE wire format)\n"
"                              or a template: %d data, %i id, %e type, %l data length,\n"
"                              %t receive time (ISO 8601), %U receive time (Unix),\n"
"                              %j the json object, %% a %; \\n \\t \\r \\0 \\e \\\\\n"
"      --exec CMD              run CMD (with sh -c) for each event instead of printing:\n"
"                              the data and a newline on its stdin, SSE_ID and\n"
"                              SSE_EVENT in its environment; one at a time, in order\n"
"  -n, --count N               exit 0 after N events\n"
"  -e, --event TYPE            print only events of TYPE (repeatable)\n"
"  -t, --timeout SECS          exit 3 when no event has arrived for SECS\n"
"  -W, --deadline SECS         exit 3 when SECS have passed since the start\n"
"      --no-reconnect          exit when the stream ends instead of reconnecting\n"
"      --since WHEN            start with what the broker (ssed) retains: all, N (the\n"
"                              last N events), DURATION (90s, 10m, 1h, 2d) or an id\n"
"                              (id:ID when it looks like a number), then follow\n"
"      --poll                  print what the broker retains (or what --since, --state\n"
"                              or --last-event-id ask for) and exit 0\n"
"      --max-retries N         exit 2 after N failed connection attempts in a row\n"
"                              (default: retry for ever)\n"
"      --last-event-id ID      resume after ID on the first connection\n"
"      --state FILE            resume after the event id kept in FILE, and keep\n"
"                              each event's id there\n"
"      --max-event-size SIZE   exit 2 on an event larger than SIZE (default 64M)\n"
NET_HELP
"\n"
"Exit status: 0 done, 1 usage error, 2 connection, HTTP or stream failure,\n"
"3 --timeout or --deadline passed. See sse-cat(1).\n";

static const struct option long_opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "deadline", required_argument, NULL, 'W' },
	{ "event", required_argument, NULL, 'e' },
	{ "exec", required_argument, NULL, OPT_EXEC },
	{ "format", required_argument, NULL, 'o' },
	{ "last-event-id", required_argument, NULL, OPT_LAST_EVENT_ID },
	{ "max-event-size", required_argument, NULL, OPT_MAX_EVENT_SIZE },
	{ "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
	{ "no-reconnect", no_argument, NULL, OPT_NO_RECONNECT },
	{ "poll", no_argument, NULL, OPT_POLL },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "timeout", required_argument, NULL, 't' },
	NET_LONG_OPTS,
	{ NULL, 0, NULL, 0 }
};

struct cat {
	CURL *curl;
	struct sse_parser *parser;
	struct out out;
	const char *types[MAX_TYPES];
	size_t ntypes;
	const char *state;        /* --state FILE */
	long long count, seen;
	double timeout, last_event;
	double deadline;          /* the monotonic time -W ends at; 0 none */
	uint64_t retry_ms;
	unsigned long long max_event;
	long long events;         /* events on this connection */
	int checked;              /* this response's status was looked at */
	int streaming;            /* this response is a 200 event stream */
	int fatal;                /* stop: not an event stream, or an HTTP error */
	long status;
	char body[512];           /* the start of an error reply */
	size_t body_len;
	int done;                 /* --count reached, or stdout closed */
	int failed;               /* an event could not be handled: exit 2 */
	int timed_out;            /* --timeout */
	int past_deadline;        /* --deadline */
	int too_big;              /* an event over --max-event-size */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_event(void *ud, const struct sse_parsed *ev)
{
	struct cat *k = ud;
	size_t i;
	int rc;

	k->last_event = now();
	k->events++;
	if(ev->type_len == 8 && !memcmp(ev->type, "ssed-gap", 8)) {
		warnf("events were missed: the server no longer holds all that came after id '%s'",
		      ev->data);
		return 0;
	}
	for(i = 0; i < k->ntypes; i++)
		if(strlen(k->types[i]) == ev->type_len && !memcmp(k->types[i], ev->type, ev->type_len))
			break;
	if(!k->ntypes || i < k->ntypes) {
		rc = out_event(&k->out, ev);
		if(rc == OUT_CLOSED) {
			k->done = 1;  /* stdout closed (| head): end quietly */
			return 1;
		}
		if(rc == OUT_FAILED) {
			k->failed = 1;
			return 1;
		}
	}
	/* Kept once handled: a rerun neither repeats nor skips this event. */
	if(k->state && state_save(k->state, ev->id, ev->id_len)) {
		k->failed = 1;
		return 1;
	}
	if(k->count && (!k->ntypes || i < k->ntypes) && ++k->seen >= k->count) {
		k->done = 1;
		return 1;
	}
	return 0;
}

static int on_retry(void *ud, uint64_t ms)
{
	((struct cat *)ud)->retry_ms = ms;
	return 0;
}

/* The first bytes of a reply: is it a 200 event stream? */
static void check_response(struct cat *k)
{
	char *type = NULL;

	k->checked = 1;
	curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &k->status);
	curl_easy_getinfo(k->curl, CURLINFO_CONTENT_TYPE, &type);
	if(k->status != 200) {
		k->fatal = 1;
		return;
	}
	if(!type || strncasecmp(type, "text/event-stream", 17) ||
	   (type[17] && type[17] != ';' && type[17] != ' ')) {
		k->fatal = 2;
		snprintf(k->body, sizeof(k->body), "%s", type ? type : "none");
		return;
	}
	k->streaming = 1;
	notef("connected: HTTP 200, %s", type);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
	struct cat *k = ud;
	size_t len = size * n, room;
	int rc;

	if(!k->checked)
		check_response(k);
	if(k->fatal == 1) {
		room = sizeof(k->body) - 1 - k->body_len;
		if(len > room)
			len = room;
		memcpy(k->body + k->body_len, ptr, len);
		k->body_len += len;
		k->body[k->body_len] = '\0';
		return room ? size * n : 0;
	}
	if(k->fatal)
		return 0;
	rc = sse_parser_feed(k->parser, ptr, len);
	if(rc == SSE_ETOOBIG)
		k->too_big = 1;
	return rc ? 0 : len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct cat *k = ud;
	double t = now();

	(void)a; (void)b; (void)c; (void)d;
	if(k->timeout > 0 && t - k->last_event >= k->timeout) {
		k->timed_out = 1;
		return 1;
	}
	if(k->deadline > 0 && t >= k->deadline) {
		k->past_deadline = 1;
		return 1;
	}
	return 0;
}

/* Sleep ms, or less when --timeout or --deadline comes first (then say so). */
static void wait_ms(struct cat *k, double ms)
{
	double left;

	if(k->timeout > 0) {
		left = (k->last_event + k->timeout - now()) * 1000;
		if(left <= ms) {
			ms = left;
			k->timed_out = 1;
		}
	}
	if(k->deadline > 0) {
		left = (k->deadline - now()) * 1000;
		if(left <= ms) {
			ms = left;
			k->past_deadline = 1;
			k->timed_out = 0;
		}
	}
	sleep_ms(ms);
}

/* The headers of one connection: the shared ones, Accept, where to resume. */
static struct curl_slist *conn_headers(const struct net_opts *net, struct sse_parser *p)
{
	struct curl_slist *hdrs = NULL, *h;
	char idh[ID_MAX + 32];
	size_t idlen;
	const char *id = sse_parser_last_id(p, &idlen);

	for(h = net->headers; h; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
	hdrs = curl_slist_append(hdrs, "Cache-Control: no-cache");
	if(idlen && idlen <= ID_MAX) {
		snprintf(idh, sizeof(idh), "Last-Event-ID: %s", id);
		hdrs = curl_slist_append(hdrs, idh);
	}
	return hdrs;
}

int main(int argc, char **argv)
{
	struct net_opts net;
	struct cat k;
	struct sse_callbacks cb;
	struct backoff bo;
	struct curl_slist *hdrs = NULL;
	const char *url, *last_id = NULL, *since = NULL;
	char *hist_url = NULL;
	int c, reconnect = 1, rc = EXIT_FAIL, poll = 0;
	long long max_retries = 0;
	double deadline_secs = 0, started;
	char why[600], where[4200], state_id[ID_MAX + 2], err[200];
	size_t state_len = 0;
	CURLcode res;

	prog_name = "sse-cat";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	memset(&net, 0, sizeof(net));
	memset(&k, 0, sizeof(k));
	k.retry_ms = 3000;
	k.max_event = DEFAULT_MAX_EVENT;
	out_init(&k.out, 0);
	while((c = getopt_long(argc, argv, "e:n:o:t:W:" NET_SHORT_OPTS, long_opts, NULL)) != -1) {
		if(net_option(&net, c, optarg))
			continue;
		switch(c) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("sse-cat %s (libsse %s, %s)\n", SSE_VERSION, SSE_VERSION, curl_version());
			return EXIT_OK;
		case 'o':
			if(out_format(&k.out, optarg, err, sizeof(err)))
				usage_error("--format: %s", err);
			break;
		case OPT_EXEC:
			if(!optarg[0])
				usage_error("--exec: an empty command");
			k.out.exec = optarg;
			break;
		case 'n': k.count = parse_num("--count", optarg, 1, 1LL << 62); break;
		case 'e':
			if(k.ntypes == MAX_TYPES)
				usage_error("--event: at most %d types", MAX_TYPES);
			k.types[k.ntypes++] = optarg;
			break;
		case 't': k.timeout = parse_seconds("--timeout", optarg, 1e9); break;
		case 'W': deadline_secs = parse_seconds("--deadline", optarg, 1e9); break;
		case OPT_NO_RECONNECT: reconnect = 0; break;
		case OPT_SINCE:
			if(!since_ok(optarg))
				usage_error("--since: '%s' is not all, N, DURATION or an id", optarg);
			since = optarg;
			break;
		case OPT_POLL: poll = 1; break;
		case OPT_MAX_RETRIES: max_retries = parse_num("--max-retries", optarg, 1, 1LL << 40); break;
		case OPT_MAX_EVENT_SIZE:
			k.max_event = parse_bytes("--max-event-size", optarg, 1024, 1ULL << 30);
			break;
		case OPT_STATE:
			if(!optarg[0])
				usage_error("--state: an empty file name");
			k.state = optarg;
			break;
		case OPT_LAST_EVENT_ID:
			if(strpbrk(optarg, "\r\n") || strlen(optarg) > ID_MAX)
				usage_error("--last-event-id: at most %d bytes, no CR or LF", ID_MAX);
			last_id = optarg;
			break;
		default:
			fprintf(stderr, "Try 'sse-cat --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if(optind != argc - 1)
		usage_error(optind == argc ? "no URL given" : "one URL only ('%s' is extra)",
			    argv[argc - 1]);
	url = argv[optind];
	if(since || poll) {
		/* The broker ends a poll's stream itself: the end is the exit. */
		hist_url = since_url(url, since, poll);
		if(!hist_url) {
			errorf("out of memory");
			return EXIT_FAIL;
		}
		url = hist_url;
		if(poll)
			reconnect = 0;
	}
	net_finish(&net, url);
	net_where(&net, url, where, sizeof(where));
	if(k.timeout > 0 && k.timeout < 0.001)
		usage_error("--timeout: at least 0.001 seconds");
	if(deadline_secs > 0 && deadline_secs < 0.001)
		usage_error("--deadline: at least 0.001 seconds");
	if(k.out.exec && k.out.kind != OUT_DATA)
		usage_error("--exec does not go with --format (the command gets the data)");
	if(k.state && last_id)
		usage_error("--state and --last-event-id do not go together");
	if(k.state && state_load(k.state, state_id, sizeof(state_id) - 1, &state_len))
		return EXIT_FAIL;
	if(k.state && state_len > ID_MAX) {
		errorf("--state: %s holds an id over %d bytes", k.state, ID_MAX);
		return EXIT_FAIL;
	}

	if(curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errorf("cannot initialise libcurl");
		return EXIT_FAIL;
	}
	memset(&cb, 0, sizeof(cb));
	cb.on_event = on_event;
	cb.on_retry = on_retry;
	cb.ud = &k;
	/* A line holds at most the event's data and a field name. */
	k.parser = sse_parser_new(&cb, (size_t)k.max_event + 64, (size_t)k.max_event);
	k.curl = net_easy(&net, url);
	out_free(&k.out);
	sse_buf_init(&k.out.buf, (size_t)k.max_event * 6 + 4096);  /* JSON: \u00XX is 6 bytes */
	if(!k.parser || !k.curl) {
		errorf("out of memory");
		goto out;
	}
	if(last_id)
		sse_parser_set_last_id(k.parser, last_id, strlen(last_id));
	if(state_len)
		sse_parser_set_last_id(k.parser, state_id, state_len);
	curl_easy_setopt(k.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k.curl, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(k.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(k.curl, CURLOPT_XFERINFODATA, &k);
	curl_easy_setopt(k.curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(k.curl, CURLOPT_CONNECTTIMEOUT, 10L);
	/* As an EventSource: follow redirects, a bounded number of them. */
	curl_easy_setopt(k.curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(k.curl, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	curl_easy_setopt(k.curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	backoff_init(&bo, max_retries);
	started = k.last_event = now();
	if(deadline_secs > 0)
		k.deadline = started + deadline_secs;

	for(;;) {
		double delay, opened, left;

		curl_slist_free_all(hdrs);
		hdrs = conn_headers(&net, k.parser);
		curl_easy_setopt(k.curl, CURLOPT_HTTPHEADER, hdrs);
		k.checked = k.streaming = k.fatal = 0;
		k.body_len = 0;
		k.status = 0;
		k.events = 0;
		/* The deadline bounds the connection too, to the millisecond. */
		if(k.deadline > 0) {
			left = (k.deadline - now()) * 1000;
			curl_easy_setopt(k.curl, CURLOPT_TIMEOUT_MS, left < 1 ? 1L : (long)left);
		}
		opened = now();
		res = curl_easy_perform(k.curl);
		sse_parser_end(k.parser);  /* a half-received event is dropped */
		if(!k.checked && res == CURLE_OK)
			check_response(&k);  /* a reply with no body at all */
		if(k.done) {
			rc = EXIT_OK;
			break;
		}
		if(k.failed)
			break;
		if(k.too_big) {
			errorf("%s: an event is larger than %llu bytes (see --max-event-size)",
			       where, k.max_event);
			break;
		}
		/* libcurl's timer may fire a hair before ours would. */
		if(k.deadline > 0 && (now() >= k.deadline ||
				      (res == CURLE_OPERATION_TIMEDOUT && now() >= k.deadline - 0.05)))
			k.past_deadline = 1;
		if(k.timed_out || k.past_deadline)
			break;
		if(k.fatal == 1 && k.status == 204) {
			notef("HTTP 204: the server asks to stop");
			rc = EXIT_OK;
			break;
		}
		if(k.fatal == 1) {
			net_reason(why, sizeof(why), k.status, k.body, k.body_len);
			errorf("%s: %s", where, why);
			break;
		}
		if(k.fatal == 2) {
			errorf("%s: not an event stream (Content-Type: %s)", where, k.body);
			break;
		}
		if(res == CURLE_TOO_MANY_REDIRECTS) {
			errorf("%s: more than %d redirects", where, MAX_REDIRECTS);
			break;
		}
		if(k.streaming && res == CURLE_OK)
			snprintf(why, sizeof(why), "the server ended the stream");
		else if(k.streaming)
			snprintf(why, sizeof(why), "the stream broke: %s", curl_easy_strerror(res));
		else
			snprintf(why, sizeof(why), "%s", curl_easy_strerror(res));
		if(!reconnect) {
			rc = res == CURLE_OK ? EXIT_OK : EXIT_FAIL;
			if(rc)
				errorf("%s: %s", where, why);
			break;
		}
		if(k.events || (k.streaming && now() - opened >= LIVED_SECS)) {
			backoff_ok(&bo);
			notef("%s", why);
		} else {
			if(backoff_fail(&bo))
				warnf("%s: %s; retrying", where, why);
			else
				notef("%s: %s", where, why);
			if(backoff_exhausted(&bo)) {
				errorf("%s: %s (%lld attempts in a row failed, see --max-retries)",
				       where, why, bo.failures);
				break;
			}
		}
		delay = backoff_delay(&bo, (double)k.retry_ms);
		notef("reconnecting in %.0f ms", delay);
		wait_ms(&k, delay);
		if(k.timed_out || k.past_deadline)
			break;
	}
	if(k.timed_out) {
		if(!msg_quiet)
			errorf("no event for %g s (--timeout)", k.timeout);
		rc = EXIT_TIMEOUT;
	} else if(k.past_deadline) {
		if(!msg_quiet)
			errorf("%g s have passed (--deadline)", deadline_secs);
		rc = EXIT_TIMEOUT;
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(k.curl);
	sse_parser_free(k.parser);
	out_free(&k.out);
	net_free(&net);
	free(hist_url);
	curl_global_cleanup();
	return rc;
}
