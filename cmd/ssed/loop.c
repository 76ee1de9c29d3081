/*
 * loop.c - an HTTP thread running one libmicrohttpd daemon. See loop.h for
 * why ssed drives libmicrohttpd's loop itself.
 *
 * One pass: ask libmicrohttpd how long it may sleep (MHD_get_timeout: 0
 * when connections it already knows to be ready wait, the nearest
 * connection timeout otherwise, none when there is none), poll the daemon's
 * epoll descriptor and the wake-up eventfd for that long (not at all for
 * 0), then MHD_run(), which takes every ready event and never sleeps. A
 * wake-up that comes while the thread is busy is read at its next wait.
 * Whatever must not race a pass (MHD_quiesce_daemon, libmicrohttpd's
 * connection count, which cleans up closed connections when asked) is
 * done here, between passes.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"
#include "loop.h"

struct loop {
	struct MHD_Daemon *d;
	int efd;                   /* eventfd: loop_wake */
	int stop;                  /* atomic: loop_stop asked */
	int quiesce;               /* atomic: loop_quiesce asked */
	unsigned conns;            /* atomic: connections after the last pass */
	int started;
	pthread_t tid;
};

static _Thread_local struct loop *current;

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	const union MHD_DaemonInfo *di;
	struct pollfd p[2];
	MHD_UNSIGNED_LONG_LONG to;
	uint64_t v;
	unsigned n;
	int ms, again = 0, failed = 0;

	current = l;
	di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
	p[0] = (struct pollfd){ .fd = di ? di->epoll_fd : -1, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = l->efd, .events = POLLIN };
	while(!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		ms = -1;
		if(again)
			ms = 0;
		else if(MHD_get_timeout(l->d, &to) == MHD_YES)
			ms = to > INT_MAX ? INT_MAX : (int)to;
		/* Work waiting already: no need to ask the kernel first. */
		if(ms != 0 && poll(p, 2, ms) < 0) {
			if(errno != EINTR && !failed++)
				warnf("the HTTP loop cannot wait: %s", strerror(errno));
			if(errno != EINTR)
				usleep(10000);  /* not a spin while it lasts */
			continue;
		}
		if(ms != 0 && (p[1].revents & POLLIN) && read(l->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another read took it; nothing else can fail */
		}
		if(__atomic_load_n(&l->quiesce, __ATOMIC_ACQUIRE) == 1) {
			MHD_quiesce_daemon(l->d);
			__atomic_store_n(&l->quiesce, 2, __ATOMIC_RELEASE);
		}
		MHD_run(l->d);
		/* A daemon at its connection limit takes its listening socket
		 * out of epoll, and puts it back only at the start of a pass:
		 * when connections went in this one, run another at once. */
		di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		n = di ? di->num_connections : 0;
		again = n < __atomic_load_n(&l->conns, __ATOMIC_RELAXED);
		__atomic_store_n(&l->conns, n, __ATOMIC_RELAXED);
	}
	current = NULL;
	return NULL;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if(!l)
		return NULL;
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if(l->efd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

int loop_start(struct loop *l, struct MHD_Daemon *d)
{
	int rc;

	l->d = d;
	rc = pthread_create(&l->tid, NULL, loop_main, l);
	if(rc) {
		errno = rc;
		return -1;
	}
	l->started = 1;
	return 0;
}

void loop_wake(struct loop *l)
{
	uint64_t one = 1;

	if(l && write(l->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending anyway. */
	}
}

struct loop *loop_current(void)
{
	return current;
}

void loop_quiesce(struct loop *l)
{
	int zero = 0;

	if(l && __atomic_compare_exchange_n(&l->quiesce, &zero, 1, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		loop_wake(l);
}

unsigned loop_connections(const struct loop *l)
{
	return l ? __atomic_load_n(&l->conns, __ATOMIC_RELAXED) : 0;
}

void loop_stop(struct loop *l)
{
	if(!l || !l->started)
		return;
	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	loop_wake(l);
	pthread_join(l->tid, NULL);
	l->started = 0;
}

void loop_free(struct loop *l)
{
	if(!l)
		return;
	close(l->efd);
	free(l);
}
