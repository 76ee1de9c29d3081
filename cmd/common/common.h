/*
 * common.h - what ssed's programs share: messages, exit codes, numbers.
 */
#ifndef SSE_COMMON_H
#define SSE_COMMON_H

#include <stddef.h>

#include "sse.h"

#define SSE_COMMON_VERSION SSE_VERSION

/* Exit statuses of sse-pub and sse-cat (see their man pages). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_USAGE = 1,      /* bad options or arguments */
	EXIT_FAIL = 2,       /* connection, HTTP or protocol failure */
	EXIT_TIMEOUT = 3     /* sse-cat --timeout or --deadline passed */
};

/* The program name used in messages; set once by main(). */
extern const char *prog_name;
/* 1 (-q) prints errors only... and errorf() still prints; 0 is normal. */
extern int msg_quiet;
/* Incremented by each -v. */
extern int msg_verbose;

/* "<prog>: error: ..." on stderr. */
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<prog>: warning: ..." on stderr, unless quiet. */
void warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<prog>: ..." on stderr when verbose. */
void notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * usage_error - print "<prog>: error: ..." and a hint to try --help, then
 * exit with EXIT_USAGE.
 */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * parse_num - a whole decimal number in [min, max] from the value of option
 * opt, or a usage error naming both.
 */
long long parse_num(const char *opt, const char *value, long long min, long long max);

/*
 * parse_seconds - a non-negative number of seconds, fractions allowed
 * ("0.5"), at most max; a usage error naming the option otherwise.
 */
double parse_seconds(const char *opt, const char *value, double max);

/*
 * parse_bytes - a number of bytes, with an optional K, M or G suffix (powers
 * of 1024), in [min, max]; a usage error naming the option otherwise.
 */
unsigned long long parse_bytes(const char *opt, const char *value,
			      unsigned long long min, unsigned long long max);

/* std_fds - make sure fds 0, 1 and 2 are open (on /dev/null if not). */
void std_fds(void);

/* random_hex - fill buf (len bytes, NUL included) with random hex digits,
 * up to 32 of them: from the kernel, or, should it have none to give,
 * from the clock and the process id. */
void random_hex(char *buf, size_t len);

#endif
