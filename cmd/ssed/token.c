/*
 * token.c - the bearer tokens and their files (see token.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "token.h"

struct tokens {
	pthread_rwlock_t lock;
	char *tok[TOKEN_KINDS];    /* NULL: none needed */
	size_t len[TOKEN_KINDS];
	const char *path[TOKEN_KINDS];
	const char *opt[TOKEN_KINDS];
};

struct tokens *tokens_new(void)
{
	struct tokens *t = calloc(1, sizeof(*t));

	if(t && pthread_rwlock_init(&t->lock, NULL)) {
		free(t);
		return NULL;
	}
	return t;
}

void tokens_free(struct tokens *t)
{
	int k;

	if(!t)
		return;
	for(k = 0; k < TOKEN_KINDS; k++)
		free(t->tok[k]);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The token in path, malloc'd, or NULL with the reason in err. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	char *buf = NULL, *nl;
	struct stat st;
	ssize_t got;
	size_t n = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if(fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		goto fail;
	}
	if(!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a file", path);
		goto fail;
	}
	if(st.st_mode & (S_IRGRP | S_IROTH))
		warnf("'%s' may be read by group or others: the token is a secret (chmod 600)",
		      path);
	buf = malloc(TOKEN_MAX + 2);
	if(!buf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* The first line and one byte more: enough to see it is too long. */
	while(n < TOKEN_MAX + 1) {
		got = read(fd, buf + n, TOKEN_MAX + 1 - n);
		if(got < 0 && errno == EINTR)
			continue;
		if(got < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
			goto fail;
		}
		if(got == 0)
			break;
		n += (size_t)got;
		if(memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	nl = memchr(buf, '\n', n);
	if(nl)
		n = (size_t)(nl - buf);
	if(n > TOKEN_MAX) {
		snprintf(err, errlen, "'%s': the token is longer than %d bytes", path, TOKEN_MAX);
		goto fail;
	}
	while(n && is_space(buf[n - 1]))
		n--;
	buf[n] = '\0';
	if(!n) {
		snprintf(err, errlen, "'%s' holds no token on its first line", path);
		goto fail;
	}
	if(strlen(buf) != n) {
		snprintf(err, errlen, "'%s': the token holds a NUL byte", path);
		goto fail;
	}
	close(fd);
	*len = n;
	return buf;
fail:
	if(fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int tokens_load(struct tokens *t, enum token_kind kind, const char *opt, const char *path,
		char *err, size_t errlen)
{
	char *tok, *old;
	size_t len;

	tok = read_file(path, &len, err, errlen);
	if(!tok)
		return -1;
	pthread_rwlock_wrlock(&t->lock);
	old = t->tok[kind];
	t->tok[kind] = tok;
	t->len[kind] = len;
	t->path[kind] = path;
	t->opt[kind] = opt;
	pthread_rwlock_unlock(&t->lock);
	free(old);
	return 0;
}

int tokens_needed(struct tokens *t, enum token_kind kind)
{
	int on;

	pthread_rwlock_rdlock(&t->lock);
	on = t->tok[kind] != NULL;
	pthread_rwlock_unlock(&t->lock);
	return on;
}

int tokens_check(struct tokens *t, enum token_kind kind, const char *given, size_t len)
{
	unsigned char d;
	const char *tok;
	size_t tlen, i;
	int ok;

	pthread_rwlock_rdlock(&t->lock);
	tok = t->tok[kind];
	tlen = t->len[kind];
	if(!tok) {
		ok = 1;
	} else {
		d = (unsigned char)(len != tlen);
		for(i = 0; i < len; i++)
			d |= (unsigned char)(given[i] ^ tok[i < tlen ? i : 0]);
		ok = d == 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return ok;
}

int tokens_reload(struct tokens *t)
{
	char err[512];
	int k, done = 0, failed = 0;

	for(k = 0; k < TOKEN_KINDS; k++) {
		if(!t->path[k])  /* set at start-up only: no lock needed */
			continue;
		if(tokens_load(t, (enum token_kind)k, t->opt[k], t->path[k], err, sizeof(err))) {
			warnf("%s: %s; the old token stays", t->opt[k], err);
			failed++;
		} else {
			done++;
		}
	}
	if(!msg_quiet)
		fprintf(stderr, "ssed: reloaded: %d token file(s) read, %d kept their old token\n",
			done, failed);
	return failed;
}
