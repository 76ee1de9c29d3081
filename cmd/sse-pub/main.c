/*
 * sse-pub - publish events to an SSE broker.
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
	printf("Usage: sse-pub [OPTIONS] URL [MESSAGE...]\n"
	       "publish events to an SSE broker (not implemented yet: only these options work).\n"
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

	prog_name = "sse-pub";
	std_fds();
	signal(SIGPIPE, SIG_IGN);
	while((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch(c) {
		case 'h':
			usage();
			return EXIT_OK;
		case 'V':
			printf("sse-pub %s (libsse %s, %s)\n", SSE_VERSION, SSE_VERSION, curl_version());
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'sse-pub --help' for more information.\n");
			return EXIT_USAGE;
		}
	}
	errorf("not implemented yet");
	return EXIT_FAIL;
}
