/*
 * sse-pub - publish events to an SSE broker.
 *
 * MESSAGE words, or all of stdin with --whole, are one POST whose body is
 * the event's data. Otherwise stdin streams over one connection as a
 * text/event-stream upload: in line mode every line becomes an event the
 * moment it is read (read(2), not stdio, so nothing waits for a buffer to
 * fill); with --raw stdin already is an event stream and passes through.
 * While waiting for stdin the upload also watches its socket, so a broker
 * that goes away ends sse-pub at once instead of leaving it reading stdin.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "net.h"
#include "sse.h"

#define WHOLE_MAX ((size_t)1 << 30)   /* --whole reads at most 1 GiB */
#define LINE_MAX_BYTES ((size_t)64 << 20)

enum mode { MODE_WORDS, MODE_LINES, MODE_WHOLE, MODE_RAW };

enum pub_opt_id {
	OPT_RAW = 400
};

static const char usage_text[] =
"Usage: sse-pub [OPTIONS] URL [MESSAGE...]\n"
"Publish events. With MESSAGE, one event whose data is the words joined by\n"
"spaces; without, one event per line of stdin, each sent as it is read.\n"
"\n"
"  -s, --whole                 all of stdin is one event (lines kept)\n"
"      --raw                   stdin is an SSE stream; its events keep their own\n"
"                              type and id (sse-cat -o raw URL1 | sse-pub --raw URL2)\n"
"  -e, --event TYPE            the event type\n"
"  -i, --id ID                 the event id (with MESSAGE or --whole)\n"
NET_HELP
"\n"
"Exit status: 0 every event accepted, 1 usage error, 2 connection or HTTP\n"
"failure (with how many events were accepted). See sse-pub(1).\n";

static const struct option long_opts[] = {
	{ "event", required_argument, NULL, 'e' },
	{ "id", required_argument, NULL, 'i' },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "whole", no_argument, NULL, 's' },
	NET_LONG_OPTS,
	{ NULL, 0, NULL, 0 }
};

struct pub {
	CURL *curl;
	enum mode mode;
	const char *type;
	struct sse_buf pending;    /* framed bytes not yet handed to libcurl */
	size_t off;
	struct sse_buf line;       /* a line still waiting for its end */
	int eof;
	curl_socket_t sock;        /* the connection's socket, from on_sockopt */
	int server_spoke;          /* the socket turned readable mid-upload */
	int read_error;
	unsigned long framed;      /* events framed so far */
	struct sse_buf reply;
	char in[65536];
};

static int frame_line(struct pub *p, const char *s, size_t n)
{
	struct sse_event e;

	if(n && s[n - 1] == '\r')
		n--;  /* CRLF input */
	memset(&e, 0, sizeof(e));
	e.event = p->type;
	e.event_len = p->type ? strlen(p->type) : 0;
	e.data = s;
	e.data_len = n;
	e.retry = -1;
	p->framed++;
	return sse_frame_event(&p->pending, &e);
}

/* Split what read() gave into lines; frame the complete ones. */
static int take_lines(struct pub *p, const char *s, size_t n)
{
	const char *nl;
	int rc;

	while(n && (nl = memchr(s, '\n', n))) {
		size_t len = (size_t)(nl - s);

		if(p->line.len) {
			rc = sse_buf_append(&p->line, s, len);
			if(!rc)
				rc = frame_line(p, p->line.data, p->line.len);
			sse_buf_clear(&p->line);
		} else {
			rc = frame_line(p, s, len);
		}
		if(rc)
			return rc;
		s = nl + 1;
		n -= len + 1;
	}
	return n ? sse_buf_append(&p->line, s, n) : 0;
}

/*
 * Wait until stdin has something or the server is done with us: it closed
 * the connection, or shut its side after an early error reply. Readable
 * bytes alone prove nothing (TLS sends session tickets after the
 * handshake), so the socket is watched for the peer's end only.
 * Returns 1 for stdin, 0 for the server.
 */
static int wait_stdin(struct pub *p)
{
	struct pollfd fds[2];
	int n = 1;

	fds[0].fd = 0;
	fds[0].events = POLLIN;
	if(p->sock != CURL_SOCKET_BAD) {
		fds[1].fd = p->sock;
		fds[1].events = POLLRDHUP;
		n = 2;
	}
	for(;;) {
		fds[0].revents = 0;
		if(n == 2)
			fds[1].revents = 0;
		if(poll(fds, (nfds_t)n, -1) < 0) {
			if(errno == EINTR)
				continue;
			return 1;
		}
		if(n == 2 && fds[1].revents)
			return 0;
		if(fds[0].revents)
			return 1;
	}
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	struct pub *p = ud;
	size_t max = size * nitems, k;
	ssize_t r;

	while(p->off == p->pending.len) {
		sse_buf_clear(&p->pending);
		p->off = 0;
		if(p->eof)
			return 0;
		if(!wait_stdin(p)) {
			/* End the upload so libcurl reads the reply (or the close). */
			p->server_spoke = 1;
			return 0;
		}
		r = read(0, p->mode == MODE_RAW ? buf : p->in,
			 p->mode == MODE_RAW ? max : sizeof(p->in));
		if(r < 0) {
			if(errno == EINTR || errno == EAGAIN)
				continue;
			p->read_error = errno;
			return CURL_READFUNC_ABORT;
		}
		if(p->mode == MODE_RAW) {
			if(r == 0)
				p->eof = 1;
			return (size_t)r;
		}
		if(r == 0) {
			p->eof = 1;
			/* A last line without its newline is still an event. */
			if(p->line.len && frame_line(p, p->line.data, p->line.len))
				return CURL_READFUNC_ABORT;
			sse_buf_clear(&p->line);
			continue;
		}
		if(take_lines(p, p->in, (size_t)r)) {
			p->read_error = EFBIG;
			return CURL_READFUNC_ABORT;
		}
	}
	k = p->pending.len - p->off;
	if(k > max)
		k = max;
	memcpy(buf, p->pending.data + p->off, k);
	p->off += k;
	return k;
}

/* libcurl tells us each socket it opens: the one to watch mid-upload. */
static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	(void)purpose;
	((struct pub *)ud)->sock = fd;
	return CURL_SOCKOPT_OK;
}

static size_t on_reply(char *ptr, size_t size, size_t n, void *ud)
{
	struct sse_buf *b = ud;
	size_t len = size * n;

	/* Replies are one short line; keep the start of anything longer. */
	if(b->len < b->max)
		sse_buf_append(b, ptr, len < b->max - b->len ? len : b->max - b->len);
	return len;
}

/* url plus ?event=...&id=... (escaped), for a single event's POST. */
static char *url_with(CURL *c, const char *url, const char *type, const char *id)
{
	struct sse_buf u;
	char *esc;

	sse_buf_init(&u, 1 << 20);
	sse_buf_append(&u, url, strlen(url));
	if(type) {
		esc = curl_easy_escape(c, type, 0);
		sse_buf_append(&u, strchr(url, '?') ? "&event=" : "?event=", 7);
		sse_buf_append(&u, esc, strlen(esc));
		curl_free(esc);
	}
	if(id) {
		esc = curl_easy_escape(c, id, 0);
		sse_buf_append(&u, strchr(u.data, '?') ? "&id=" : "?id=", 4);
		sse_buf_append(&u, esc, strlen(esc));
		curl_free(esc);
	}
	return u.data;
}

static int read_all(struct sse_buf *b)
{
	char tmp[65536];
	ssize_t r;

	for(;;) {
		r = read(0, tmp, sizeof(tmp));
		if(r < 0 && errno == EINTR)
			continue;
		if(r < 0) {
			errorf("cannot read stdin: %s", strerror(errno));
			return -1;
		}
		if(r == 0)
			return 0;
		if(sse_buf_append(b, tmp, (size_t)r)) {
			errorf("stdin is larger than %zu bytes", b->max);
			return -1;
		}
	}
}

int main(int argc, char **argv)
{
	struct net_opts net;
	struct pub p;
	struct sse_buf body;
	struct curl_slist *hdrs = NULL;
	const char *url, *id = NULL;
	char *full_url = NULL, why[600];
	int c, i, rc = EXIT_FAIL, raw = 0, whole = 0, stream;
	long status = 0;
	CURLcode res;

	prog_name = "sse-pub";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	memset(&net, 0, sizeof(net));
	memset(&p, 0, sizeof(p));
	p.sock = CURL_SOCKET_BAD;
	while((c = getopt_long(argc, argv, "e:i:s" NET_SHORT_OPTS, long_opts, NULL)) != -1) {
		if(net_option(&net, c, optarg))
			continue;
		switch(c) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			printf("sse-pub %s (libsse %s, %s)\n", SSE_VERSION, SSE_VERSION, curl_version());
			return EXIT_OK;
		case 'e':
			if(!optarg[0] || sse_check_field(optarg, strlen(optarg), 0))
				usage_error("--event: '%s' is empty or holds a line end", optarg);
			p.type = optarg;
			break;
		case 'i':
			if(!optarg[0] || strlen(optarg) > 256 || sse_check_field(optarg, strlen(optarg), 1))
				usage_error("--id: 1 to 256 bytes without CR or LF");
			id = optarg;
			break;
		case 's': whole = 1; break;
		case OPT_RAW: raw = 1; break;
		default:
			fprintf(stderr, "Try 'sse-pub --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if(optind >= argc)
		usage_error("no URL given");
	url = argv[optind++];
	net_finish(&net, url);
	if(whole + raw > 1)
		usage_error("--whole and --raw do not go together");
	if(optind < argc && (whole || raw))
		usage_error("MESSAGE does not go with %s", whole ? "--whole" : "--raw");
	p.mode = optind < argc ? MODE_WORDS : whole ? MODE_WHOLE : raw ? MODE_RAW : MODE_LINES;
	if(id && (p.mode == MODE_LINES || p.mode == MODE_RAW))
		usage_error("--id names one event: use it with MESSAGE or --whole");
	if(raw && p.type)
		usage_error("--event does not go with --raw (the stream names its own types)");
	stream = p.mode == MODE_LINES || p.mode == MODE_RAW;

	if(curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errorf("cannot initialise libcurl");
		return EXIT_FAIL;
	}
	sse_buf_init(&body, WHOLE_MAX);
	sse_buf_init(&p.pending, LINE_MAX_BYTES * 2);
	sse_buf_init(&p.line, LINE_MAX_BYTES);
	sse_buf_init(&p.reply, 4096);
	p.curl = net_easy(&net, url);
	if(!p.curl) {
		errorf("out of memory");
		goto out;
	}
	for(struct curl_slist *h = net.headers; h; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	hdrs = curl_slist_append(hdrs, "Expect:");  /* no 100-continue pause */
	if(p.mode == MODE_WORDS) {
		for(i = optind; i < argc; i++) {
			if(i > optind)
				sse_buf_append(&body, " ", 1);
			sse_buf_append(&body, argv[i], strlen(argv[i]));
		}
	} else if(p.mode == MODE_WHOLE) {
		if(read_all(&body))
			goto out;
		if(body.len && body.data[body.len - 1] == '\n')
			body.len--;  /* the final newline ends the text, as $(...) has it */
	}
	if(stream) {
		hdrs = curl_slist_append(hdrs, "Content-Type: text/event-stream");
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		curl_easy_setopt(p.curl, CURLOPT_POST, 1L);
		curl_easy_setopt(p.curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(p.curl, CURLOPT_READDATA, &p);
		curl_easy_setopt(p.curl, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
		curl_easy_setopt(p.curl, CURLOPT_SOCKOPTDATA, &p);
	} else {
		hdrs = curl_slist_append(hdrs, "Content-Type: text/plain; charset=utf-8");
		full_url = url_with(p.curl, url, p.type, id);
		curl_easy_setopt(p.curl, CURLOPT_URL, full_url);
		curl_easy_setopt(p.curl, CURLOPT_POSTFIELDS, body.data ? body.data : "");
		curl_easy_setopt(p.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
	}
	curl_easy_setopt(p.curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(p.curl, CURLOPT_WRITEFUNCTION, on_reply);
	curl_easy_setopt(p.curl, CURLOPT_WRITEDATA, &p.reply);
	curl_easy_setopt(p.curl, CURLOPT_CONNECTTIMEOUT, 10L);
	res = curl_easy_perform(p.curl);
	curl_easy_getinfo(p.curl, CURLINFO_RESPONSE_CODE, &status);

	if(res == CURLE_OK && status == 200 && !p.server_spoke) {
		unsigned long n = stream ? strtoul(p.reply.data ? p.reply.data : "0", NULL, 10) : 1;

		if(p.mode == MODE_LINES && n != p.framed) {
			errorf("the server published %lu of %lu events", n, p.framed);
			goto out;
		}
		notef("published %lu event(s)", n);
		rc = EXIT_OK;
		goto out;
	}
	if(status && status != 200) {
		net_reason(why, sizeof(why), status, p.reply.data ? p.reply.data : "", p.reply.len);
	} else if(p.read_error) {
		snprintf(why, sizeof(why), "cannot read stdin: %s", strerror(p.read_error));
	} else if(p.server_spoke) {
		snprintf(why, sizeof(why), "the server closed the connection");
	} else {
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(res));
	}
	if(p.mode == MODE_LINES)
		errorf("%s (%lu event(s) sent; the last ones may not have been published)",
		       why, p.framed);
	else if(p.mode == MODE_RAW)
		errorf("%s (the stream was cut off)", why);
	else
		errorf("%s (nothing published)", why);
out:
	free(full_url);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(p.curl);
	sse_buf_free(&body);
	sse_buf_free(&p.pending);
	sse_buf_free(&p.line);
	sse_buf_free(&p.reply);
	net_free(&net);
	curl_global_cleanup();
	return rc;
}
