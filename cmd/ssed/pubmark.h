/*
 * pubmark.h - publishers that number their events, so that an event sent
 * again is not published twice.
 *
 * A publisher that may send the same events again (its upload was cut, or
 * ssed restarted before the reply) names itself with a key and numbers its
 * events 1, 2, 3, ... (the Ssed-Publisher request header). The table keeps,
 * per key, the highest number published: an event whose number is not
 * above it was published already and is skipped. Numbers from one key come
 * in order (one publisher sends one upload at a time), so one number per
 * key is the whole state.
 *
 * Bounded: PUBMARK_SETS sets of PUBMARK_WAYS keys, the least recently used
 * key of a full set making room (its events, sent again, would then be
 * published again). The slots are allocated at the first use, so a broker
 * whose publishers never number their events spends nothing on them.
 * Not thread-safe: the hub calls it with its lock held.
 */
#ifndef SSED_PUBMARK_H
#define SSED_PUBMARK_H

#include <stddef.h>
#include <stdint.h>

#define PUBMARK_KEY_MAX 64     /* bytes in a key: letters, digits, - _ . */
#define PUBMARK_SETS 512
#define PUBMARK_WAYS 8         /* PUBMARK_SETS * PUBMARK_WAYS keys at most */

struct pubmarks;

/* pubmark_key_ok - 1 when key (klen bytes) is a valid publisher key. */
int pubmark_key_ok(const char *key, size_t klen);

/* pubmarks_new - an empty table; NULL when out of memory. */
struct pubmarks *pubmarks_new(void);
void pubmarks_free(struct pubmarks *m);

/*
 * pubmarks_claim - event number n of key is about to be published. Returns
 * 1 when it is new (n is now key's highest; *prev gets the highest before,
 * for pubmarks_unclaim), 0 when it was published already (n not above the
 * highest), -1 when out of memory (nothing recorded: publish it unmarked).
 */
int pubmarks_claim(struct pubmarks *m, const char *key, size_t klen, uint64_t n,
		   uint64_t *prev);

/* pubmarks_unclaim - the publish of n (claimed with *prev) failed: the
 * highest goes back to prev, unless a later number was claimed since. */
void pubmarks_unclaim(struct pubmarks *m, const char *key, size_t klen, uint64_t n,
		      uint64_t prev);

/* pubmarks_set - at start-up: key's highest is n (a stored mark), unless
 * it is higher already. 0 or -1 (out of memory). */
int pubmarks_set(struct pubmarks *m, const char *key, size_t klen, uint64_t n);

/* pubmarks_count - the keys held. */
size_t pubmarks_count(const struct pubmarks *m);

#endif
