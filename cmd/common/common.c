/*
 * common.c - messages, exit codes and number parsing for ssed's programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *prog_name = "ssed";
int msg_quiet;
int msg_verbose;

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s%s\n", prog_name, kind, line);
}

void errorf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
}

void warnf(const char *fmt, ...)
{
	va_list ap;

	if(msg_quiet)
		return;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void notef(const char *fmt, ...)
{
	va_list ap;

	if(!msg_verbose || msg_quiet)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
	exit(EXIT_USAGE);
}

long long parse_num(const char *opt, const char *value, long long min, long long max)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(value, &end, 10);
	if(end == value || *end || errno == ERANGE)
		usage_error("%s: '%s' is not a whole number", opt, value);
	if(n < min || n > max)
		usage_error("%s: %s is out of range (%lld to %lld)", opt, value, min, max);
	return n;
}

double parse_seconds(const char *opt, const char *value, double max)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(value, &end);
	if(end == value || *end || errno == ERANGE || !isfinite(d) || d < 0)
		usage_error("%s: '%s' is not a number of seconds", opt, value);
	if(d > max)
		usage_error("%s: %s is out of range (0 to %g)", opt, value, max);
	return d;
}

unsigned long long parse_bytes(const char *opt, const char *value,
			      unsigned long long min, unsigned long long max)
{
	unsigned long long n, mul = 1;
	char *end;

	errno = 0;
	n = strtoull(value, &end, 10);
	if(end != value && *end && !end[1]) {
		switch(*end) {
		case 'k': case 'K': mul = 1ULL << 10; end++; break;
		case 'm': case 'M': mul = 1ULL << 20; end++; break;
		case 'g': case 'G': mul = 1ULL << 30; end++; break;
		default: break;
		}
	}
	if(end == value || *end || errno == ERANGE || value[0] == '-' || n > max / mul)
		usage_error("%s: '%s' is not a size (bytes, or with K, M or G) of at most %llu",
			    opt, value, max);
	n *= mul;
	if(n < min)
		usage_error("%s: %s is below the least, %llu bytes", opt, value, min);
	return n;
}

void std_fds(void)
{
	int fd;

	/* A program started with a closed 0, 1 or 2 would otherwise open its
	 * sockets there and write protocol bytes into them. */
	do {
		fd = open("/dev/null", O_RDWR);
		if(fd > 2)
			close(fd);
	} while(fd >= 0 && fd <= 2);
}

void random_hex(char *buf, size_t len)
{
	unsigned char r[16];
	struct timespec ts;
	uint64_t t;
	size_t i;

	if(getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		for(i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)((i < 8 ? t : (uint64_t)getpid()) >> (i % 8 * 8));
	}
	if(len)
		buf[0] = '\0';
	for(i = 0; i < sizeof(r) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}
