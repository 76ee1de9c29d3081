/*
 * sse-pub - publish events to an SSE broker.
 *
 * MESSAGE words, all of stdin with --whole, or a file with -f, are one
 * POST whose body is the event's data. Otherwise stdin is read as it comes
 * (input.c: one event per line, per JSON object with --json, or the events
 * of an SSE stream with --raw) and sent in acknowledged batches that
 * survive a broker restart (send.c).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "input.h"
#include "net.h"
#include "send.h"
#include "sse.h"

#define WHOLE_MAX ((size_t)1 << 30)   /* --whole and -f read at most 1 GiB */
#define LINE_MAX_BYTES ((size_t)64 << 20)

enum mode { MODE_WORDS, MODE_WHOLE, MODE_FILE, MODE_LINES, MODE_JSON, MODE_RAW };

enum pub_opt_id {
	OPT_RAW = 400,
	OPT_JSON,
	OPT_MAX_RETRIES
};

static const char usage_text[] =
"Usage: sse-pub [OPTIONS] URL [MESSAGE...]\n"
"Publish events. With MESSAGE, one event whose data is the words joined by\n"
"spaces; without, one event per line of stdin, each sent as it is read.\n"
"\n"
"  -s, --whole                 all of stdin is one event (lines kept)\n"
"  -f, --file FILE             the contents of FILE are one event (lines kept)\n"
"      --json                  each line of stdin is a JSON object: \"data\" (a string,\n"
"                              or any JSON value, sent as its text), \"event\", \"id\"\n"
"      --raw                   stdin is an SSE stream; its events keep their own\n"
"                              type and id (sse-cat -o raw URL1 | sse-pub --raw URL2)\n"
"  -e, --event TYPE            the event type\n"
"  -i, --id ID                 the event id (with MESSAGE, --whole or --file)\n"
"      --max-retries N         reading stdin: exit 2 after N failed attempts in a row\n"
"                              to reach the broker (default: retry for ever)\n"
NET_HELP
"\n"
"Exit status: 0 every event accepted, 1 usage error, 2 connection or HTTP\n"
"failure, or a --json line that is not valid (with how many events the broker\n"
"acknowledged). See sse-pub(1).\n";

static const struct option long_opts[] = {
	{ "event", required_argument, NULL, 'e' },
	{ "file", required_argument, NULL, 'f' },
	{ "id", required_argument, NULL, 'i' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "whole", no_argument, NULL, 's' },
	NET_LONG_OPTS,
	{ NULL, 0, NULL, 0 }
};

/* All of fd into b; name says what it is in messages. 0 or -1. */
static int read_all(int fd, const char *name, struct sse_buf *b)
{
	char tmp[65536];
	ssize_t r;

	for(;;) {
		r = read(fd, tmp, sizeof(tmp));
		if(r < 0 && errno == EINTR)
			continue;
		if(r < 0) {
			errorf("cannot read %s: %s", name, strerror(errno));
			return -1;
		}
		if(r == 0)
			return 0;
		if(sse_buf_append(b, tmp, (size_t)r)) {
			errorf("%s is larger than %zu bytes", name, b->max);
			return -1;
		}
	}
}

int main(int argc, char **argv)
{
	struct net_opts net;
	struct sender s;
	struct input in;
	struct sse_buf body;
	CURL *curl = NULL;
	const char *url, *id = NULL, *type = NULL, *file = NULL;
	char where[4200];
	int c, i, fd, rc = EXIT_FAIL, nmodes = 0;
	long long max_retries = 0;
	enum mode mode = MODE_LINES;

	prog_name = "sse-pub";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	memset(&net, 0, sizeof(net));
	memset(&in, 0, sizeof(in));
	while((c = getopt_long(argc, argv, "e:f:i:s" NET_SHORT_OPTS, long_opts, NULL)) != -1) {
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
			type = optarg;
			break;
		case 'i':
			if(!optarg[0] || strlen(optarg) > 256 || sse_check_field(optarg, strlen(optarg), 1))
				usage_error("--id: 1 to 256 bytes without CR or LF");
			id = optarg;
			break;
		case 's': mode = MODE_WHOLE; nmodes++; break;
		case 'f': mode = MODE_FILE; file = optarg; nmodes++; break;
		case OPT_RAW: mode = MODE_RAW; nmodes++; break;
		case OPT_JSON: mode = MODE_JSON; nmodes++; break;
		case OPT_MAX_RETRIES:
			max_retries = parse_num("--max-retries", optarg, 1, 1LL << 40);
			break;
		default:
			fprintf(stderr, "Try 'sse-pub --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	if(optind >= argc)
		usage_error("no URL given");
	url = argv[optind++];
	net_finish(&net, url);
	net_where(&net, url, where, sizeof(where));
	if(nmodes > 1)
		usage_error("--whole, --file, --json and --raw do not go together");
	if(optind < argc && nmodes)
		usage_error("MESSAGE does not go with %s", mode == MODE_WHOLE ? "--whole" :
			    mode == MODE_FILE ? "--file" : mode == MODE_JSON ? "--json" : "--raw");
	if(optind < argc)
		mode = MODE_WORDS;
	if(id && mode >= MODE_LINES)
		usage_error("--id names one event: use it with MESSAGE, --whole or --file");
	if(type && (mode == MODE_RAW || mode == MODE_JSON))
		usage_error("--event does not go with %s (the input names its own types)",
			    mode == MODE_RAW ? "--raw" : "--json");

	if(curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errorf("cannot initialise libcurl");
		return EXIT_FAIL;
	}
	sse_buf_init(&body, WHOLE_MAX);
	curl = net_easy(&net, url);
	if(!curl) {
		errorf("out of memory");
		goto out;
	}
	sender_init(&s, curl, url, where, net.headers, LINE_MAX_BYTES);
	if(mode >= MODE_LINES) {
		if(input_init(&in, mode == MODE_JSON ? IN_JSON : mode == MODE_RAW ? IN_RAW : IN_LINES,
			      type, 0, LINE_MAX_BYTES)) {
			errorf("out of memory");
			goto done;
		}
		rc = send_stdin(&s, &in, max_retries);
		goto done;
	}
	if(mode == MODE_WORDS) {
		for(i = optind; i < argc; i++) {
			if(i > optind)
				sse_buf_append(&body, " ", 1);
			sse_buf_append(&body, argv[i], strlen(argv[i]));
		}
	} else {
		fd = mode == MODE_WHOLE || !strcmp(file, "-") ? 0 : open(file, O_RDONLY | O_CLOEXEC);
		if(fd < 0) {
			errorf("--file: cannot open %s: %s", file, strerror(errno));
			goto done;
		}
		i = read_all(fd, fd ? file : "stdin", &body);
		if(fd)
			close(fd);
		if(i)
			goto done;
		if(body.len && body.data[body.len - 1] == '\n')
			body.len--;  /* the final newline ends the text, as $(...) has it */
	}
	i = send_one(&s, type, id, body.data, body.len);
	if(i)
		errorf("%s: %s (nothing published)", where, s.why);
	else
		rc = EXIT_OK;
done:
	sender_free(&s);
	input_free(&in);
out:
	curl_easy_cleanup(curl);
	sse_buf_free(&body);
	net_free(&net);
	curl_global_cleanup();
	return rc;
}
