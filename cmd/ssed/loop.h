/*
 * loop.h - an HTTP thread: it runs one libmicrohttpd daemon, started in
 * external epoll mode (MHD_USE_EPOLL, no internal thread), and never lets
 * libmicrohttpd wait itself.
 *
 * Why not libmicrohttpd's own threads: in 0.9.75 (and upstream since), its
 * epoll loop drains the ready list MAX_EVENTS (128) events at a time and
 * calls epoll_wait again, with the full timeout, while a call returned
 * exactly 128. When those were the last events, the thread sleeps holding
 * 128 connections whose requests it has read readiness for: they are served
 * only when some unrelated event comes, or a connection's idle timeout
 * (never, when every other connection is a suspended stream). Here the
 * thread waits in poll() on the daemon's epoll descriptor and on an eventfd
 * of its own, and MHD_run() then works with a zero timeout, so it never
 * sleeps with events in hand.
 *
 * Without an internal thread libmicrohttpd has no wake-up channel: whoever
 * resumes a connection of this daemon from another thread calls loop_wake()
 * after MHD_resume_connection(), or the resume waits for the next event.
 *
 * Threads: loop_wake(), loop_quiesce(), loop_connections() and
 * loop_current() (which names the caller's own loop) from any thread; the
 * rest from the one that owns the loop (main).
 */
#ifndef SSED_LOOP_H
#define SSED_LOOP_H

#include <microhttpd.h>

struct loop;

/* loop_new - a loop not running yet; NULL with errno when its eventfd or
 * memory cannot be had. */
struct loop *loop_new(void);

/* loop_start - run d on a thread of its own until loop_stop(). d must be in
 * external epoll mode. 0, or -1 with errno when the thread cannot start. */
int loop_start(struct loop *l, struct MHD_Daemon *d);

/* loop_wake - make l run its daemon again soon: after a resume done on
 * another thread. Safe on a NULL loop, and on one not running or stopped. */
void loop_wake(struct loop *l);

/* loop_current - the loop running on the calling thread; NULL elsewhere. */
struct loop *loop_current(void);

/* loop_quiesce - have l's thread stop its daemon from accepting
 * (MHD_quiesce_daemon) before its next pass, and return at once. The
 * daemon is quiesced on its own thread: libmicrohttpd aborts when that
 * races a pass. NULL is fine. */
void loop_quiesce(struct loop *l);

/* loop_connections - the connections l's daemon had after its last pass
 * (libmicrohttpd's own count may be read only on the loop's thread).
 * 0 for NULL. */
unsigned loop_connections(const struct loop *l);

/* loop_stop - end the thread once its current pass is done and join it.
 * The daemon is left to the caller: MHD_quiesce_daemon, which is safe from
 * any thread from now on, then MHD_stop_daemon. Safe on a loop never
 * started. */
void loop_stop(struct loop *l);

/* loop_free - free a stopped (or never started) loop; NULL is fine. */
void loop_free(struct loop *l);

#endif
