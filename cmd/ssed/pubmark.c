/*
 * pubmark.c - the highest event number published per publisher key (see
 * pubmark.h): a set-associative table, least recently used out.
 */
#include <stdlib.h>
#include <string.h>

#include "pubmark.h"

struct slot {
	uint64_t n;              /* the highest number published */
	uint64_t used;           /* the table's clock at the last use */
	unsigned char klen;      /* 0: free */
	char key[PUBMARK_KEY_MAX];
};

struct pubmarks {
	struct slot *slots;      /* PUBMARK_SETS * PUBMARK_WAYS, at the first use */
	uint64_t clock;
	size_t count;
};

int pubmark_key_ok(const char *key, size_t klen)
{
	size_t i;

	if(!klen || klen > PUBMARK_KEY_MAX)
		return 0;
	for(i = 0; i < klen; i++) {
		char c = key[i];

		if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

struct pubmarks *pubmarks_new(void)
{
	return calloc(1, sizeof(struct pubmarks));
}

void pubmarks_free(struct pubmarks *m)
{
	if(!m)
		return;
	free(m->slots);
	free(m);
}

/* FNV-1a: keys are short and chosen by publishers, not by an attacker who
 * gains by colliding them (a collision only shares a set of 8). */
static size_t set_of(const char *key, size_t klen)
{
	uint32_t h = 2166136261u;
	size_t i;

	for(i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return (size_t)(h % PUBMARK_SETS) * PUBMARK_WAYS;
}

/* key's slot, made (evicting the set's least recently used) when create
 * is set. NULL: not there, or out of memory. */
static struct slot *find(struct pubmarks *m, const char *key, size_t klen, int create)
{
	struct slot *set, *victim;
	size_t i;

	if(!m->slots) {
		if(!create)
			return NULL;
		m->slots = calloc((size_t)PUBMARK_SETS * PUBMARK_WAYS, sizeof(*m->slots));
		if(!m->slots)
			return NULL;
	}
	set = m->slots + set_of(key, klen);
	for(i = 0; i < PUBMARK_WAYS; i++)
		if(set[i].klen == klen && !memcmp(set[i].key, key, klen)) {
			set[i].used = ++m->clock;
			return &set[i];
		}
	if(!create)
		return NULL;
	victim = &set[0];
	for(i = 0; i < PUBMARK_WAYS; i++) {
		if(!set[i].klen) {
			victim = &set[i];
			break;
		}
		if(set[i].used < victim->used)
			victim = &set[i];
	}
	if(!victim->klen)
		m->count++;
	memcpy(victim->key, key, klen);
	victim->klen = (unsigned char)klen;
	victim->n = 0;
	victim->used = ++m->clock;
	return victim;
}

int pubmarks_claim(struct pubmarks *m, const char *key, size_t klen, uint64_t n,
		   uint64_t *prev)
{
	struct slot *s = find(m, key, klen, 1);

	if(!s)
		return -1;
	if(n <= s->n)
		return 0;
	*prev = s->n;
	s->n = n;
	return 1;
}

void pubmarks_unclaim(struct pubmarks *m, const char *key, size_t klen, uint64_t n,
		      uint64_t prev)
{
	struct slot *s = find(m, key, klen, 0);

	if(s && s->n == n)
		s->n = prev;
}

int pubmarks_set(struct pubmarks *m, const char *key, size_t klen, uint64_t n)
{
	struct slot *s = find(m, key, klen, 1);

	if(!s)
		return -1;
	if(n > s->n)
		s->n = n;
	return 0;
}

size_t pubmarks_count(const struct pubmarks *m)
{
	return m->count;
}
