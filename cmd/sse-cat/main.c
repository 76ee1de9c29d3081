/*
 * sse-cat - subscribe to an event stream and print its events.
 *
 * libcurl's write callback feeds the framing library's parser; each event
 * is formatted, written and flushed at once. Like an EventSource it
 * reconnects after EOF or a network error, waits the server's retry time
 * (with capped, jittered backoff while the server stays down), and sends
 * Last-Event-ID so that no event is printed twice.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "net.h"
#include "sse.h"

#define MAX_TYPES 64
#define BACKOFF_CAP_MS 30000

enum format { FMT_DATA, FMT_JSON, FMT_RAW };

enum cat_opt_id {
	OPT_NO_RECONNECT = 400,
	OPT_LAST_EVENT_ID
};

static const char usage_text[] =
"Usage: sse-cat [OPTIONS] URL\n"
"Subscribe to a Server-Sent Events stream and print each event as it arrives.\n"
"\n"
"  -o, --format FORMAT         data (default: the data, then a newline), json (one\n"
"                              object a line: id, event, data) or raw (SSE wire format)\n"
"  -n, --count N               exit 0 after N events\n"
"  -e, --event TYPE            print only events of TYPE (repeatable)\n"
"  -t, --timeout SECS          exit 3 when no event has arrived for SECS\n"
"      --no-reconnect          exit when the stream ends instead of reconnecting\n"
"      --last-event-id ID      resume after ID on the first connection\n"
NET_HELP
"\n"
"Exit status: 0 done, 1 usage error, 2 connection, HTTP or stream failure,\n"
"3 --timeout passed. See sse-cat(1).\n";

static const struct option long_opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "event", required_argument, NULL, 'e' },
	{ "format", required_argument, NULL, 'o' },
	{ "last-event-id", required_argument, NULL, OPT_LAST_EVENT_ID },
	{ "no-reconnect", no_argument, NULL, OPT_NO_RECONNECT },
	{ "timeout", required_argument, NULL, 't' },
	NET_LONG_OPTS,
	{ NULL, 0, NULL, 0 }
};

struct cat {
	CURL *curl;
	struct sse_parser *parser;
	enum format fmt;
	const char *types[MAX_TYPES];
	size_t ntypes;
	long long count, seen;
	double timeout, last_event;
	uint64_t retry_ms;
	int checked;              /* this response's status was looked at */
	int streaming;            /* this response is a 200 event stream */
	int fatal;                /* stop: not an event stream, or an HTTP error */
	long status;
	char body[512];           /* the start of an error reply */
	size_t body_len;
	int done;                 /* --count reached, or stdout closed */
	int timed_out;
	struct sse_buf out;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void json_str(struct sse_buf *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char e[6];
	size_t i;

	sse_buf_append(o, "\"", 1);
	for(i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if(c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			sse_buf_append(o, e, 2);
		} else if(c == '\n') {
			sse_buf_append(o, "\\n", 2);
		} else if(c == '\r') {
			sse_buf_append(o, "\\r", 2);
		} else if(c == '\t') {
			sse_buf_append(o, "\\t", 2);
		} else if(c < 0x20 || c == 0x7f) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			sse_buf_append(o, e, 6);
		} else {
			/* The parser hands over valid UTF-8 only: bytes pass as they are. */
			sse_buf_append(o, s + i, 1);
		}
	}
	sse_buf_append(o, "\"", 1);
}

static int format(struct cat *k, const struct sse_parsed *ev)
{
	struct sse_event e;

	sse_buf_clear(&k->out);
	switch(k->fmt) {
	case FMT_DATA:
		sse_buf_append(&k->out, ev->data, ev->data_len);
		return sse_buf_append(&k->out, "\n", 1);
	case FMT_JSON:
		sse_buf_append(&k->out, "{\"id\":", 6);
		json_str(&k->out, ev->id, ev->id_len);
		sse_buf_append(&k->out, ",\"event\":", 9);
		json_str(&k->out, ev->type, ev->type_len);
		sse_buf_append(&k->out, ",\"data\":", 8);
		json_str(&k->out, ev->data, ev->data_len);
		return sse_buf_append(&k->out, "}\n", 2);
	case FMT_RAW:
		sse_event_from_parsed(&e, ev);
		return sse_frame_event(&k->out, &e);
	}
	return 0;
}

static int on_event(void *ud, const struct sse_parsed *ev)
{
	struct cat *k = ud;
	size_t i;

	k->last_event = now();
	if(ev->type_len == 8 && !memcmp(ev->type, "ssed-gap", 8)) {
		warnf("events were missed: the server no longer holds all that came after id '%s'",
		      ev->data);
		return 0;
	}
	if(k->ntypes) {
		for(i = 0; i < k->ntypes; i++)
			if(strlen(k->types[i]) == ev->type_len && !memcmp(k->types[i], ev->type, ev->type_len))
				break;
		if(i == k->ntypes)
			return 0;
	}
	if(format(k, ev))
		return 0;  /* only a huge event can fail here; the parser caps it */
	if(fwrite(k->out.data, 1, k->out.len, stdout) != k->out.len || fflush(stdout)) {
		k->done = 1;  /* stdout closed (| head): end quietly */
		return 1;
	}
	if(k->count && ++k->seen >= k->count) {
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
	if(sse_parser_feed(k->parser, ptr, len))
		return 0;
	return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct cat *k = ud;

	(void)a; (void)b; (void)c; (void)d;
	if(k->timeout > 0 && now() - k->last_event >= k->timeout) {
		k->timed_out = 1;
		return 1;
	}
	return 0;
}

/* Sleep ms, or less when --timeout runs out first (then say so). */
static void wait_ms(struct cat *k, double ms)
{
	struct timespec ts;
	double left;

	if(k->timeout > 0) {
		left = (k->last_event + k->timeout - now()) * 1000;
		if(left <= ms) {
			ms = left > 0 ? left : 0;
			k->timed_out = 1;
		}
	}
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	while(nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct net_opts net;
	struct cat k;
	struct sse_callbacks cb;
	struct curl_slist *hdrs = NULL;
	const char *url, *last_id = NULL;
	int c, reconnect = 1, attempt = 0, rc = EXIT_FAIL;
	char why[600], idh[320];
	unsigned seed;
	CURLcode res;

	prog_name = "sse-cat";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	memset(&net, 0, sizeof(net));
	memset(&k, 0, sizeof(k));
	k.retry_ms = 3000;
	while((c = getopt_long(argc, argv, "e:n:o:t:" NET_SHORT_OPTS, long_opts, NULL)) != -1) {
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
			if(!strcmp(optarg, "data"))
				k.fmt = FMT_DATA;
			else if(!strcmp(optarg, "json"))
				k.fmt = FMT_JSON;
			else if(!strcmp(optarg, "raw"))
				k.fmt = FMT_RAW;
			else
				usage_error("--format: '%s' is not data, json or raw", optarg);
			break;
		case 'n': k.count = parse_num("--count", optarg, 1, 1LL << 62); break;
		case 'e':
			if(k.ntypes == MAX_TYPES)
				usage_error("--event: at most %d types", MAX_TYPES);
			k.types[k.ntypes++] = optarg;
			break;
		case 't': k.timeout = parse_seconds("--timeout", optarg, 1e9); break;
		case OPT_NO_RECONNECT: reconnect = 0; break;
		case OPT_LAST_EVENT_ID:
			if(strpbrk(optarg, "\r\n") || strlen(optarg) > 256)
				usage_error("--last-event-id: at most 256 bytes, no CR or LF");
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
	net_finish(&net, url);
	if(k.timeout > 0 && k.timeout < 0.001)
		usage_error("--timeout: at least 0.001 seconds");

	if(curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errorf("cannot initialise libcurl");
		return EXIT_FAIL;
	}
	memset(&cb, 0, sizeof(cb));
	cb.on_event = on_event;
	cb.on_retry = on_retry;
	cb.ud = &k;
	k.parser = sse_parser_new(&cb, 0, 0);
	k.curl = net_easy(&net, url);
	sse_buf_init(&k.out, SSE_DEFAULT_MAX_EVENT * 8);
	if(!k.parser || !k.curl) {
		errorf("out of memory");
		goto out;
	}
	if(last_id)
		sse_parser_set_last_id(k.parser, last_id, strlen(last_id));
	curl_easy_setopt(k.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k.curl, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(k.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(k.curl, CURLOPT_XFERINFODATA, &k);
	curl_easy_setopt(k.curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(k.curl, CURLOPT_CONNECTTIMEOUT, 10L);
	seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	k.last_event = now();

	for(;;) {
		size_t idlen;
		const char *id = sse_parser_last_id(k.parser, &idlen);
		double delay;

		/* Each connection: the shared headers, Accept, and where to resume. */
		curl_slist_free_all(hdrs);
		hdrs = NULL;
		for(struct curl_slist *h = net.headers; h; h = h->next)
			hdrs = curl_slist_append(hdrs, h->data);
		hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
		hdrs = curl_slist_append(hdrs, "Cache-Control: no-cache");
		if(idlen) {
			snprintf(idh, sizeof(idh), "Last-Event-ID: %s", id);
			hdrs = curl_slist_append(hdrs, idh);
		}
		curl_easy_setopt(k.curl, CURLOPT_HTTPHEADER, hdrs);
		k.checked = k.streaming = k.fatal = 0;
		k.body_len = 0;
		k.status = 0;
		res = curl_easy_perform(k.curl);
		sse_parser_end(k.parser);  /* a half-received event is dropped */
		if(!k.checked && res == CURLE_OK)
			check_response(&k);  /* a reply with no body at all */
		if(k.done) {
			rc = EXIT_OK;
			break;
		}
		if(k.timed_out)
			break;
		if(k.fatal == 1 && k.status == 204) {
			notef("HTTP 204: the server asks to stop");
			rc = EXIT_OK;
			break;
		}
		if(k.fatal == 1) {
			net_reason(why, sizeof(why), k.status, k.body, k.body_len);
			errorf("%s", why);
			break;
		}
		if(k.fatal == 2) {
			errorf("not an event stream (Content-Type: %s)", k.body);
			break;
		}
		if(res == CURLE_OK || k.streaming) {
			attempt = 0;
			if(res == CURLE_OK)
				notef("the stream ended");
			else
				notef("the stream broke: %s", curl_easy_strerror(res));
		} else {
			attempt++;
			snprintf(why, sizeof(why), "%s", curl_easy_strerror(res));
			if(!reconnect) {
				errorf("%s: %s", url, why);
				break;
			}
			notef("cannot connect: %s", why);
		}
		if(!reconnect) {
			rc = res == CURLE_OK ? EXIT_OK : EXIT_FAIL;
			if(rc)
				errorf("the stream broke: %s", curl_easy_strerror(res));
			break;
		}
		/* The server's retry time; doubled per failed attempt, capped,
		 * with +-20% jitter so that many clients do not return at once. */
		delay = (double)k.retry_ms;
		if(attempt > 1) {
			int i;

			for(i = 1; i < attempt && delay < BACKOFF_CAP_MS; i++)
				delay *= 2;
			if(delay > BACKOFF_CAP_MS && k.retry_ms < BACKOFF_CAP_MS)
				delay = BACKOFF_CAP_MS;
			delay *= 0.8 + 0.4 * (double)(rand_r(&seed) % 1000) / 1000.0;
		}
		notef("reconnecting in %.0f ms", delay);
		wait_ms(&k, delay);
		if(k.timed_out)
			break;
	}
	if(k.timed_out) {
		if(!msg_quiet)
			errorf("no event for %g s (--timeout)", k.timeout);
		rc = EXIT_TIMEOUT;
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(k.curl);
	sse_parser_free(k.parser);
	sse_buf_free(&k.out);
	net_free(&net);
	curl_global_cleanup();
	return rc;
}
