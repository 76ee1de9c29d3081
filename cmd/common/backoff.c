/*
 * backoff.c - the wait between connection attempts (see backoff.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"

void backoff_init(struct backoff *b, long long max)
{
	b->failures = 0;
	b->max = max;
	b->seed = (unsigned)getpid() ^ (unsigned)time(NULL);
}

int backoff_fail(struct backoff *b)
{
	return ++b->failures == 1;
}

int backoff_exhausted(const struct backoff *b)
{
	return b->max > 0 && b->failures >= b->max;
}

void backoff_ok(struct backoff *b)
{
	b->failures = 0;
}

double backoff_delay(struct backoff *b, double retry_ms)
{
	double d = retry_ms;
	long long i;

	if(b->failures == 0)
		return d < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : d;
	/* A failing server gets the floor even when it asked for less. */
	if(d < BACKOFF_MIN_MS)
		d = BACKOFF_MIN_MS;
	for(i = 1; i < b->failures && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if(d > BACKOFF_CAP_MS && retry_ms < BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	if(b->failures > 1)
		d *= 0.8 + 0.4 * (double)(rand_r(&b->seed) % 1000) / 1000.0;
	return d;
}

void sleep_ms(double ms)
{
	struct timespec ts;

	if(ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	while(nanosleep(&ts, &ts) && errno == EINTR)
		;
}
