/*
 * test_pubmark.c - publishers' highest numbers (cmd/ssed/pubmark.c): what
 * counts as sent again, the undo of a failed publish, the keys allowed,
 * and the bound (a full set gives up its least recently used key).
 *
 * pubmark.c is included, not linked: the unit-test rule links libsse alone.
 */
#include <stdio.h>

#include "../../cmd/ssed/pubmark.c"
#include "tap.h"

static int claim(struct pubmarks *m, const char *key, uint64_t n)
{
	uint64_t prev = 0;

	return pubmarks_claim(m, key, strlen(key), n, &prev);
}

int main(void)
{
	struct pubmarks *m = pubmarks_new();
	char key[PUBMARK_KEY_MAX + 2];
	uint64_t prev = 0;
	size_t i, evicted;
	int all;

	tap_ok(m && pubmarks_count(m) == 0 && !m->slots, "a new table holds nothing and no slots");
	tap_ok(claim(m, "a", 1) == 1 && claim(m, "a", 2) == 1, "1 then 2: both new");
	tap_ok(claim(m, "a", 2) == 0 && claim(m, "a", 1) == 0, "2 and 1 again: sent before");
	tap_ok(claim(m, "b", 1) == 1, "another key numbers on its own");
	tap_ok(claim(m, "a", 5) == 1 && claim(m, "a", 4) == 0, "a number may skip ahead; below it is old");

	/* A failed publish gives its number back, unless a later one came. */
	tap_ok(pubmarks_claim(m, "a", 1, 6, &prev) == 1 && prev == 5, "claim 6 after 5");
	pubmarks_unclaim(m, "a", 1, 6, prev);
	tap_ok(claim(m, "a", 6) == 1, "after its undo, 6 is new again");
	tap_ok(pubmarks_claim(m, "a", 1, 7, &prev) == 1 && claim(m, "a", 8) == 1, "7, then 8");
	pubmarks_unclaim(m, "a", 1, 7, prev);
	tap_ok(claim(m, "a", 8) == 0, "the undo of 7 after 8 changes nothing");

	/* Restored marks: never lower one. */
	tap_ok(pubmarks_set(m, "c", 1, 10) == 0 && claim(m, "c", 10) == 0 && claim(m, "c", 11) == 1,
	       "a restored mark: up to it is old");
	tap_ok(pubmarks_set(m, "c", 1, 3) == 0 && claim(m, "c", 11) == 0, "a lower restored mark changes nothing");

	tap_ok(pubmark_key_ok("Az09-_.", 7) && !pubmark_key_ok("", 0) && !pubmark_key_ok("a b", 3) &&
	       !pubmark_key_ok("a/b", 3) && !pubmark_key_ok("a\0b", 3), "keys: letters, digits, - _ . only");
	memset(key, 'k', sizeof(key));
	tap_ok(pubmark_key_ok(key, PUBMARK_KEY_MAX) && !pubmark_key_ok(key, PUBMARK_KEY_MAX + 1),
	       "keys: 1 to %d bytes", PUBMARK_KEY_MAX);

	/* The bound: many more keys than slots; the table never holds more,
	 * and a key in use stays while others come and go. */
	pubmarks_free(m);
	m = pubmarks_new();
	claim(m, "kept", 1);
	all = 1;
	for(i = 0; i < 20 * PUBMARK_SETS * PUBMARK_WAYS; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		all &= claim(m, key, 1) == 1;
		all &= claim(m, "kept", 1) == 0;  /* used all along */
	}
	tap_ok(all, "%d keys, and one used all along stays known", 20 * PUBMARK_SETS * PUBMARK_WAYS);
	tap_ok(pubmarks_count(m) == (size_t)PUBMARK_SETS * PUBMARK_WAYS, "the table holds %zu keys, its bound",
	       pubmarks_count(m));
	for(i = evicted = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		evicted += claim(m, key, 1) == 1;
	}
	if(!tap_ok(evicted == 100, "the oldest keys were forgotten: their numbers are new again"))
		tap_diag("%zu of 100 new again", evicted);
	pubmarks_free(m);
	return tap_done();
}
