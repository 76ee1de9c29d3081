/*
 * listen.h - the broker's listening sockets: TCP ports and Unix sockets it
 * opens itself, and sockets handed over by systemd (socket activation).
 *
 * A listen_set is filled in two steps. While the options are read,
 * listen_add() records each --listen and --unix-socket. listen_open() then
 * takes the sockets systemd passed, if any, and opens the ones asked for;
 * with neither, it opens 127.0.0.1:8080. listen_close() closes every socket
 * and removes the Unix socket files ssed made itself (never one systemd
 * made: the socket unit owns it, and it must outlive a restart).
 *
 * Socket activation follows sd_listen_fds(3) without libsystemd: when
 * LISTEN_PID is this process, LISTEN_FDS sockets start at descriptor 3, and
 * LISTEN_FDNAMES names them (colon-separated; FileDescriptorName= in the
 * .socket unit). Each must be a listening stream socket (TCP over IPv4 or
 * IPv6, or Unix): a connected one (Accept=yes) or a datagram socket is an
 * error. The three variables are removed from the environment once read,
 * so nothing ssed starts takes them for its own. A Unix socket from systemd
 * is a Unix listener like one from -u: tokens are not asked for on it.
 *
 * The set lives in main() and is used by one thread; nothing here is
 * thread-safe and nothing here keeps state of its own.
 */
#ifndef SSED_LISTEN_H
#define SSED_LISTEN_H

#include <stddef.h>

#include "ssed.h"

#define LISTEN_MAX 16
#define LISTEN_THREADS_MAX 64   /* --threads at most */

struct loop;

struct listener {
	const char *spec;          /* as given to -l or -u; NULL when from systemd */
	int fd;                    /* -1 until open */
	int is_unix;
	int v6;                    /* an IPv6 TCP socket (libmicrohttpd wants to know) */
	int from_systemd;
	int tls;                   /* --tls-listen: serves HTTPS */
	int remove_path;           /* a Unix socket file this ssed made: unlinked at close */
	char shown[160];           /* how the start-up line names it */
	/* main()'s: the HTTP servers on this socket, one per HTTP thread (loop.h),
	 * and what their handler is given */
	struct MHD_Daemon *d[LISTEN_THREADS_MAX];
	struct loop *loop[LISTEN_THREADS_MAX];
	unsigned nd;
	struct http_ctx ctx;
};

struct listen_set {
	struct listener l[LISTEN_MAX];
	size_t n;
};

/*
 * listen_add - record a listener to open: a TCP "[ADDR:]PORT" (is_unix 0)
 * or a Unix socket path (is_unix 1). spec is kept, not copied: it must live
 * as long as the set (argv does). More than LISTEN_MAX is a usage error
 * (prints and exits 1).
 */
void listen_add(struct listen_set *s, const char *spec, int is_unix);

/*
 * listen_open - take systemd's sockets (placed first, in the order systemd
 * passed them), then open every listener recorded; with none at all, add
 * and open 127.0.0.1:8080. Returns 0, or -1 after printing one error line
 * (a socket that cannot be opened, or a handed-over descriptor that is not
 * a listening stream socket). A bad --listen value is a usage error
 * (prints and exits 1). Sockets opened before a failure stay in the set
 * for listen_close().
 */
int listen_open(struct listen_set *s);

/*
 * listen_close - close every socket still open in the set (a listener
 * whose fd was handed to libmicrohttpd and taken back, or never handed),
 * and unlink the Unix socket files listen_open() created.
 */
void listen_close(struct listen_set *s);

/*
 * listen_loopback_only - 1 when every open TCP listener is bound to a
 * loopback address (Unix sockets do not count): then ssed answers only
 * loopback Host names (guard_host), against DNS rebinding. 0 otherwise,
 * or when an address cannot be read.
 */
int listen_loopback_only(const struct listen_set *s);

#endif
