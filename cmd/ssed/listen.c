/*
 * listen.c - listening sockets: TCP, Unix, and those handed over by systemd.
 * The contract is in listen.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "listen.h"

#define SD_LISTEN_FDS_START 3

void listen_add(struct listen_set *s, const char *spec, int is_unix)
{
	struct listener *l;

	if(s->n == LISTEN_MAX)
		usage_error("at most %d listeners", LISTEN_MAX);
	l = &s->l[s->n++];
	memset(l, 0, sizeof(*l));
	l->spec = spec;
	l->is_unix = is_unix;
	l->fd = -1;
}

/* "http://ADDR:PORT" or "unix:PATH" for a bound socket. */
static void show_bound(struct listener *l)
{
	char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	struct sockaddr_storage ss;
	struct sockaddr_un *su = (struct sockaddr_un *)&ss;
	socklen_t sl = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	getsockname(l->fd, (struct sockaddr *)&ss, &sl);
	if(ss.ss_family == AF_UNIX) {
		size_t plen = sl > offsetof(struct sockaddr_un, sun_path)
			? sl - offsetof(struct sockaddr_un, sun_path) : 0;

		if(plen && !su->sun_path[0])  /* abstract: shown with '@', as ss(8) does */
			snprintf(l->shown, sizeof(l->shown), "unix:@%.*s", (int)(plen - 1),
				 su->sun_path + 1);
		else
			snprintf(l->shown, sizeof(l->shown), "unix:%.*s",
				 (int)strnlen(su->sun_path, plen), su->sun_path);
		return;
	}
	if(getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
		       NI_NUMERICHOST | NI_NUMERICSERV)) {
		strcpy(hbuf, "?");
		strcpy(pbuf, "?");
	}
	snprintf(l->shown, sizeof(l->shown), l->v6 ? "%s://[%s]:%s" : "%s://%s:%s",
		 l->tls ? "https" : "http", hbuf, pbuf);
}

static int open_tcp(struct listener *l)
{
	char host[128] = "127.0.0.1", port[16];
	const char *spec = l->spec, *colon;
	struct addrinfo hints, *res, *ai;
	int fd = -1, one = 1, rc;
	char *end;
	long p;

	if(spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if(!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			usage_error("--listen: '%s' is not [ADDR]:PORT", spec);
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if(colon) {
			if((size_t)(colon - spec) >= sizeof(host))
				usage_error("--listen: address too long in '%s'", spec);
			memcpy(host, spec, (size_t)(colon - spec));
			host[colon - spec] = '\0';
			if(!host[0])
				strcpy(host, "127.0.0.1");
		}
	}
	snprintf(port, sizeof(port), "%s", colon ? colon + 1 : spec);
	errno = 0;
	p = strtol(port, &end, 10);
	if(!port[0] || *end || p < 0 || p > 65535)
		usage_error("--listen: '%s' has no port from 0 to 65535", spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if(rc) {
		errorf("cannot listen on %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	errno = 0;
	for(ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if(fd < 0)
			continue;
		/* A restarted ssed binds its port again at once. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if(bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) {
			l->v6 = ai->ai_family == AF_INET6;
			break;
		}
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if(fd < 0) {
		errorf("cannot listen on %s: %s", spec, strerror(errno ? errno : EADDRNOTAVAIL));
		return -1;
	}
	l->fd = fd;
	show_bound(l);
	return 0;
}

static int open_unix(struct listener *l)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if(strlen(l->spec) >= sizeof(sa.sun_path)) {
		errorf("cannot listen on %s: path too long", l->spec);
		return -1;
	}
	if(lstat(l->spec, &st) == 0) {
		if(!S_ISSOCK(st.st_mode)) {
			errorf("cannot listen on %s: exists and is not a socket", l->spec);
			return -1;
		}
		unlink(l->spec);  /* stale, from an ssed that did not stop cleanly */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if(fd < 0) {
		errorf("cannot listen on %s: %s", l->spec, strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, l->spec);
	if(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		errorf("cannot listen on %s: %s", l->spec, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(l->shown, sizeof(l->shown), "unix:%s", l->spec);
	l->remove_path = 1;
	l->fd = fd;
	return 0;
}

/* A descriptor from systemd: a listening stream socket of a kind we serve. */
static int check_handed(int fd, const char *name, struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss), ol;
	int type = 0, listening = 0;

	ol = sizeof(type);
	if(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) || type != SOCK_STREAM) {
		errorf("descriptor %d from systemd (%s) is not a stream socket", fd, name);
		return -1;
	}
	ol = sizeof(listening);
	if(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) || !listening) {
		errorf("descriptor %d from systemd (%s) is not listening (Accept=yes is not "
		       "supported: use Accept=no)", fd, name);
		return -1;
	}
	if(getsockname(fd, (struct sockaddr *)&ss, &sl) ||
	   (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)) {
		errorf("descriptor %d from systemd (%s) is not a TCP or Unix socket", fd, name);
		return -1;
	}
	l->is_unix = ss.ss_family == AF_UNIX;
	l->v6 = ss.ss_family == AF_INET6;
	return 0;
}

/*
 * The sd_listen_fds(3) protocol. Names are optional; one per descriptor when
 * given (systemd sends "unknown" for an unnamed one).
 */
static int take_systemd(struct listen_set *s, size_t *taken)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	struct listener mine[LISTEN_MAX];
	char name[64];
	long long pid, nfds;
	size_t i, len;
	char *end;
	int rc = -1;

	*taken = 0;
	if(!pid_s || !fds_s)
		return 0;
	errno = 0;
	pid = strtoll(pid_s, &end, 10);
	if(errno || *end || pid != (long long)getpid()) {
		rc = 0;  /* meant for another process: not ours to take */
		goto out;
	}
	errno = 0;
	nfds = strtoll(fds_s, &end, 10);
	if(errno || *end || nfds < 0 || nfds > LISTEN_MAX ||
	   (size_t)nfds + s->n > LISTEN_MAX) {
		errorf("LISTEN_FDS=%s: not a number of sockets from 0 to %d, with the listeners "
		       "asked for", fds_s, LISTEN_MAX);
		goto out;
	}
	for(i = 0; i < (size_t)nfds; i++) {
		int fd = SD_LISTEN_FDS_START + (int)i;
		struct listener *l = &mine[i];

		/* The i-th colon-separated name, if there are that many. */
		snprintf(name, sizeof(name), "unnamed");
		if(names) {
			const char *p = names;
			size_t k;

			for(k = 0; k < i && p; k++) {
				p = strchr(p, ':');
				if(p)
					p++;
			}
			if(p) {
				len = strcspn(p, ":");
				if(len)
					snprintf(name, sizeof(name), "%.*s", (int)len, p);
			}
		}
		memset(l, 0, sizeof(*l));
		l->fd = -1;
		l->from_systemd = 1;
		if(fcntl(fd, F_SETFD, FD_CLOEXEC)) {
			errorf("descriptor %d from systemd (%s): %s", fd, name, strerror(errno));
			goto out;
		}
		if(check_handed(fd, name, l))
			goto out;
		l->fd = fd;
		show_bound(l);
		len = strlen(l->shown);
		snprintf(l->shown + len, sizeof(l->shown) - len, " (from systemd: %s)", name);
	}
	/* Ahead of the listeners asked for, in systemd's order. */
	memmove(s->l + nfds, s->l, s->n * sizeof(s->l[0]));
	memcpy(s->l, mine, (size_t)nfds * sizeof(s->l[0]));
	s->n += (size_t)nfds;
	*taken = (size_t)nfds;
	rc = 0;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

int listen_open(struct listen_set *s)
{
	size_t i, taken;

	if(take_systemd(s, &taken))
		return -1;
	if(!s->n)  /* a Unix socket alone, or sockets from systemd alone, are fine */
		listen_add(s, "127.0.0.1:8080", 0);
	for(i = taken; i < s->n; i++)
		if((s->l[i].is_unix ? open_unix : open_tcp)(&s->l[i]))
			return -1;
	return 0;
}

void listen_close(struct listen_set *s)
{
	size_t i;

	for(i = 0; i < s->n; i++) {
		if(s->l[i].fd >= 0)
			close(s->l[i].fd);
		s->l[i].fd = -1;
		if(s->l[i].remove_path)
			unlink(s->l[i].spec);
		s->l[i].remove_path = 0;
	}
}

int listen_loopback_only(const struct listen_set *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i;

	for(i = 0; i < s->n; i++) {
		if(s->l[i].is_unix)
			continue;
		sl = sizeof(ss);
		if(getsockname(s->l[i].fd, (struct sockaddr *)&ss, &sl))
			return 0;
		if(ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

			if((ntohl(a->sin_addr.s_addr) >> 24) != 127)
				return 0;
		} else if(ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

			if(!IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) &&
			   !(IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127))
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}
