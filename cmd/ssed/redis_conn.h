/*
 * redis_conn.h - where a Redis is and how to log in: the URL forms ssed
 * accepts, the password from a file or the environment, and a connection
 * with timeouts, AUTH and SELECT done. Used by store_redis.c only.
 *
 * No error message written here contains a password: a malformed URL is
 * described by the part that is wrong, never echoed whole.
 */
#ifndef SSED_REDIS_CONN_H
#define SSED_REDIS_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct redis_addr {
	char *host;        /* TCP host (brackets of an IPv6 literal removed), or NULL */
	int port;          /* 6379 unless given */
	char *path;        /* Unix socket path, or NULL */
	char *user;        /* ACL user, or NULL */
	char *pass;        /* password, or NULL */
	long db;           /* SELECT db, 0 by default */
	long log;          /* the shared log's length, 0: the default */
};

/*
 * redis_addr_parse - fill a from url: redis://[user:password@]host[:port][/db]
 * or unix:///path, each with an optional query db=N, log=N, user=NAME.
 * user and password may be percent-encoded. 0, or -1 with a reason in err;
 * a parsed address is freed with redis_addr_free either way.
 */
int redis_addr_parse(struct redis_addr *a, const char *url, char *err, size_t errlen);
void redis_addr_free(struct redis_addr *a);

/* redis_addr_password - use pass instead of the URL's password. 0, or -1
 * when out of memory. */
int redis_addr_password(struct redis_addr *a, const char *pass);

/*
 * redis_dial - connect within connect_ms, set a command timeout of cmd_ms,
 * AUTH and SELECT as a says. The context, or NULL with a reason in err.
 */
redisContext *redis_dial(const struct redis_addr *a, int connect_ms, int cmd_ms,
			 char *err, size_t errlen);

#endif
