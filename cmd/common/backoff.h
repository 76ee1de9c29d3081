/*
 * backoff.h - the wait between connection attempts that sse-cat and sse-pub
 * share: the server's retry time (never below BACKOFF_MIN_MS), doubled for
 * each failed attempt in a row, capped at BACKOFF_CAP_MS, with +-20% jitter
 * so that many clients do not return at the same instant. Whatever a server
 * says (retry: 0) or does (accept and close), a client never spins.
 */
#ifndef SSE_BACKOFF_H
#define SSE_BACKOFF_H

#define BACKOFF_MIN_MS 100.0
#define BACKOFF_CAP_MS 30000.0

struct backoff {
	long long failures;        /* failed attempts in a row */
	long long max;             /* --max-retries: give up after this many; 0 never */
	unsigned seed;
};

/* backoff_init - no failures yet; max 0 retries for ever. */
void backoff_init(struct backoff *b, long long max);

/*
 * backoff_fail - count one more failed attempt. Returns 1 when it was the
 * first of a run (the moment to say so on stderr), 0 otherwise.
 */
int backoff_fail(struct backoff *b);

/* backoff_exhausted - 1 when --max-retries failed attempts were made in a row. */
int backoff_exhausted(const struct backoff *b);

/* backoff_ok - an attempt succeeded: the next failure starts a new run. */
void backoff_ok(struct backoff *b);

/* backoff_delay - the milliseconds to wait before the next attempt. */
double backoff_delay(struct backoff *b, double retry_ms);

/* sleep_ms - sleep ms milliseconds, through signals that interrupt. */
void sleep_ms(double ms);

#endif
