/*
 * store_sqlite.h - the embedded durable backend's knobs beyond store.h,
 * for its tests and benchmark. ssed itself uses only store_sqlite_open()
 * (declared in store.h) and the ops table.
 */
#ifndef SSED_STORE_SQLITE_H
#define SSED_STORE_SQLITE_H

#include <stdint.h>

#include "store.h"

/*
 * store_sqlite_set_clock - take sequence numbers and the age limit's "now"
 * from now_us(ud) instead of the wall clock (microseconds). Call it right
 * after store_sqlite_open(), before restore or any append.
 */
void store_sqlite_set_clock(struct store *s, uint64_t (*now_us)(void *ud), void *ud);

/*
 * store_sqlite_flush - wait until a fill has run since the call: what
 * was acknowledged before it is in SQLite (unless that fill failed), the
 * trims queued before it applied. The store's row counts and retention
 * are then exact, as a test wants them.
 */
void store_sqlite_flush(struct store *s);

/*
 * store_sqlite_hold - from now on, no fill until close: what is
 * acknowledged stays in the log only (for tests of reading it back).
 */
void store_sqlite_hold(struct store *s);

/*
 * store_sqlite_limit_pages - from the next transaction on, the file may
 * grow by at most extra pages beyond its size then (SQLite's
 * max_page_count): a simulated full disk. 0 lifts the limit.
 */
void store_sqlite_limit_pages(struct store *s, unsigned extra);

#endif
