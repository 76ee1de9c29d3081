/*
 * jwtkey.c - the current token key behind a read-write lock (see jwtkey.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtkey.h"

struct jwtkey {
	pthread_rwlock_t lock;     /* readers verify; the reload writes */
	struct access_key *key;
	char *path;
};

struct jwtkey *jwtkey_new(const char *path, char *err, size_t errlen)
{
	struct jwtkey *k = calloc(1, sizeof(*k));

	if(!k || !(k->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		free(k);
		return NULL;
	}
	k->key = access_key_load(path, err, errlen);
	if(!k->key) {
		free(k->path);
		free(k);
		return NULL;
	}
	pthread_rwlock_init(&k->lock, NULL);
	return k;
}

int jwtkey_reload(struct jwtkey *k, char *err, size_t errlen)
{
	struct access_key *fresh = access_key_load(k->path, err, errlen), *old;

	if(!fresh)
		return -1;
	pthread_rwlock_wrlock(&k->lock);
	old = k->key;
	k->key = fresh;
	pthread_rwlock_unlock(&k->lock);
	access_key_free(old);  /* no reader holds it: they held the lock */
	return 0;
}

void jwtkey_free(struct jwtkey *k)
{
	if(!k)
		return;
	access_key_free(k->key);
	pthread_rwlock_destroy(&k->lock);
	free(k->path);
	free(k);
}

int jwtkey_verify(struct jwtkey *k, const char *token, size_t len, int64_t now,
                  struct access_token **out, char *err, size_t errlen)
{
	int rc;

	pthread_rwlock_rdlock(&k->lock);
	rc = access_verify(k->key, token, len, now, out, err, errlen);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

int jwtkey_reverify(struct jwtkey *k, const struct access_token *t, int64_t now,
                    char *err, size_t errlen)
{
	int rc;

	pthread_rwlock_rdlock(&k->lock);
	rc = access_reverify(k->key, t, now, err, errlen);
	pthread_rwlock_unlock(&k->lock);
	return rc;
}
