/*
 * sse-cat - subscribe to an event stream and print its events.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "sse.h"

static void usage(void)
{
	printf("Usage: sse-cat [OPTIONS] URL\n"
	       "subscribe to an event stream and print its events (not implemented yet: only these options work).\n"
	       "\n"
	       "  -h, --help     show this help and exit\n"
	       "  -V, --version  show the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	prog_name = "sse-cat";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	while((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch(c) {
		case 'h':
			usage();
			return EXIT_OK;
		case 'V':
			printf("sse-cat %s (libsse %s, %s)\n", SSE_VERSION, SSE_VERSION, curl_version());
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'sse-cat --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	errorf("not implemented yet");
	return EXIT_FAIL;
}
