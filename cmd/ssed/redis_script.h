/*
 * redis_script.h - the Lua script through which every node appends to the
 * shared Redis (the one ordering authority), its arguments, and the few
 * reply readers the Redis backend shares. No state: each caller keeps its
 * connection and that connection's script digest.
 */
#ifndef SSED_REDIS_SCRIPT_H
#define SSED_REDIS_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "store.h"

#define REDIS_PREFIX "ssed:"
#define REDIS_HEAD_ARGS 12   /* EVALSHA sha 0 and the script's ARGV 1..9 */

/* The strings of the fixed arguments, filled by redis_script_args. */
struct redis_head {
	char floor[24], epoch[64], hist[24], hbytes[24], age[24], cnt[24];
};

/*
 * redis_script_args - fill argv[3..REDIS_HEAD_ARGS) and their lengths for
 * mode "h" (hello) or "a" (append cnt events, whose topic, id ("" none, or
 * "=" and the id), frame and time_us follow from argv[REDIS_HEAD_ARGS]).
 * floor: the highest seq the caller has seen; the script gives out seqs
 * above it. The strings live in h.
 */
void redis_script_args(const struct store_limits *lim, const char *logmax, const char *mode,
		       uint64_t floor, size_t cnt, struct redis_head *h, const char **argv,
		       size_t *len);

/*
 * redis_script_run - EVALSHA the script with argv[0..argc), argv[0..3)
 * filled here. sha (41 bytes, "" at first) is the connection's digest: the
 * script is loaded when it is empty, and again once when Redis answers
 * NOSCRIPT (a restart, SCRIPT FLUSH). The reply (an append's: {first seq,
 * the log's entry count}), or NULL with a reason in errmsg: c->err is set
 * when the connection failed, else Redis answered an error.
 */
redisReply *redis_script_run(redisContext *c, char *sha, const char **argv, size_t *argvlen,
			     int argc, char *errmsg, size_t errlen);

/* What the hello mode says of the data set. */
struct redis_hello {
	char epoch[64];
	uint64_t since, last, n;
};

/*
 * redis_script_hello - start an epoch when Redis has none (a new or
 * emptied data set) and report it. 0, STORE_EDOWN (connection failed) or
 * STORE_EIO, with a reason in err.
 */
int redis_script_hello(redisContext *c, char *sha, const struct store_limits *lim,
		       const char *logmax, uint64_t floor, struct redis_hello *out,
		       char *err, size_t errlen);

/* A decimal number at s[0..n), a reply's integer or string value (0 when
 * neither), and the value of a stream entry's field (NULL when absent). */
uint64_t redis_u64(const char *s, size_t n);
uint64_t redis_reply_u64(const redisReply *r);
const redisReply *redis_field(const redisReply *f, const char *name);

#endif
