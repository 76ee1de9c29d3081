/*
 * tls.c - certificate generations for libmicrohttpd's GnuTLS sessions, and
 * writes through a session from ssed's own threads (see tls.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/x509.h>

#include "tls.h"

struct tls_creds {
	atomic_uint refs;
	gnutls_certificate_credentials_t cred;
	int64_t not_after;
};

struct tls {
	pthread_mutex_t mu;     /* guards cur and the first reference to it */
	struct tls_creds *cur;
	char *cert_path, *key_path;
};

/* Whether path can be opened for reading; err says why not. */
static int readable(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");

	if(!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return 0;
	}
	fclose(f);
	return 1;
}

static struct tls_creds *creds_load(const char *cert, const char *key, char *err, size_t errlen)
{
	gnutls_x509_crt_t *crts = NULL;
	struct tls_creds *g;
	unsigned n = 0, i;
	int rc;

	if(!readable(cert, err, errlen) || !readable(key, err, errlen))
		return NULL;
	g = calloc(1, sizeof(*g));
	if(!g || gnutls_certificate_allocate_credentials(&g->cred) < 0) {
		snprintf(err, errlen, "%s: out of memory", cert);
		free(g);
		return NULL;
	}
	atomic_init(&g->refs, 1);
	rc = gnutls_certificate_set_x509_key_file2(g->cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if(rc < 0) {
		/* GnuTLS's message names the problem, never the key's bytes. */
		snprintf(err, errlen, "%s, %s: %s", cert, key, gnutls_strerror(rc));
		goto bad;
	}
	rc = gnutls_certificate_get_x509_crt(g->cred, 0, &crts, &n);
	if(rc < 0 || n == 0) {
		snprintf(err, errlen, "%s: %s", cert, rc < 0 ? gnutls_strerror(rc) : "no certificate");
		goto bad;
	}
	g->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crts[0]);
	for(i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return g;
bad:
	gnutls_certificate_free_credentials(g->cred);
	free(g);
	return NULL;
}

static void creds_unref(struct tls_creds *g)
{
	if(g && atomic_fetch_sub(&g->refs, 1) == 1) {
		gnutls_certificate_free_credentials(g->cred);
		free(g);
	}
}

struct tls *tls_new(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	struct tls *t = calloc(1, sizeof(*t));

	if(!t || !(t->cert_path = strdup(cert_path)) || !(t->key_path = strdup(key_path))) {
		snprintf(err, errlen, "%s: out of memory", cert_path);
		goto bad;
	}
	t->cur = creds_load(cert_path, key_path, err, errlen);
	if(!t->cur)
		goto bad;
	if(pthread_mutex_init(&t->mu, NULL)) {
		snprintf(err, errlen, "%s: no mutex", cert_path);
		creds_unref(t->cur);
		goto bad;
	}
	return t;
bad:
	if(t) {
		free(t->cert_path);
		free(t->key_path);
		free(t);
	}
	return NULL;
}

int tls_reload(struct tls *t, char *err, size_t errlen)
{
	struct tls_creds *g, *old;

	g = creds_load(t->cert_path, t->key_path, err, errlen);
	if(!g)
		return -1;
	pthread_mutex_lock(&t->mu);
	old = t->cur;
	t->cur = g;
	pthread_mutex_unlock(&t->mu);
	creds_unref(old);   /* freed now, or when its last connection closes */
	return 0;
}

void tls_free(struct tls *t)
{
	if(!t)
		return;
	creds_unref(t->cur);
	pthread_mutex_destroy(&t->mu);
	free(t->cert_path);
	free(t->key_path);
	free(t);
}

int64_t tls_not_after(struct tls *t)
{
	int64_t v;

	pthread_mutex_lock(&t->mu);
	v = t->cur->not_after;
	pthread_mutex_unlock(&t->mu);
	return v;
}

struct tls_creds *tls_attach(struct tls *t, struct MHD_Connection *c)
{
	gnutls_session_t s = tls_session(c);
	struct tls_creds *g;

	if(!s)
		return NULL;
	pthread_mutex_lock(&t->mu);
	g = t->cur;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&t->mu);
	if(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, g->cred) < 0) {
		creds_unref(g);
		return NULL;
	}
	return g;
}

void tls_detach(struct tls_creds *g)
{
	creds_unref(g);
}

int tls_mhd_fallback(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
                     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                     gnutls_pcert_st **pcert, unsigned int *pcert_length,
                     gnutls_privkey_t *privkey)
{
	(void)s, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
	*pcert = NULL;
	*pcert_length = 0;
	*privkey = NULL;
	return -1;
}

gnutls_session_t tls_session(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

ssize_t tls_write(gnutls_session_t s, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = gnutls_record_send(s, buf, len);
	while(n == GNUTLS_E_INTERRUPTED);
	if(n >= 0)
		return n;
	return n == GNUTLS_E_AGAIN ? 0 : -1;
}
