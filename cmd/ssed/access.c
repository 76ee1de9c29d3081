/*
 * access.c - signed tokens and per-topic grants (see access.h).
 *
 * libjwt 1.10.2 checks the signature but trusts the token's own header for
 * the algorithm, accepts "none" when no key is given, has no clock checks
 * and signs ES256 with an over-long signature. So this file reads the
 * header itself first: the algorithm must be one the key's kind allows,
 * and an ECDSA signature must have its exact JOSE length (r || s). Only
 * then does libjwt verify, and only the verified claims are read.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <jwt.h>

#include "access.h"

struct grant {
	char *s;
	size_t len;     /* without the '*' */
	int prefix;     /* the entry ended in '*' */
};

struct grants {
	struct grant *v;
	size_t n;
};

struct access_key {
	enum access_key_kind kind;
	unsigned char *bytes;   /* the secret, or the PEM text */
	size_t len;
	unsigned algs;          /* 1u << jwt_alg_t accepted */
	size_t ec_size;         /* bytes of r (and of s) for ECDSA */
};

struct access_token {
	char *text;             /* NUL-terminated, for access_reverify */
	size_t len;
	int64_t exp;
	struct grants pub, sub;
};

static const char *const kind_name[] = { "HMAC secret", "RSA public key", "EC public key" };

const char *access_strerror(int err)
{
	switch(err) {
	case ACCESS_OK: return "success";
	case ACCESS_ENOMEM: return "out of memory";
	case ACCESS_EKEY: return "unusable key";
	case ACCESS_EMALFORMED: return "malformed token";
	case ACCESS_EALG: return "algorithm not accepted";
	case ACCESS_ESIG: return "signature does not verify";
	case ACCESS_EEXPIRED: return "token expired";
	case ACCESS_ENOTYET: return "token not yet valid";
	case ACCESS_ECLAIM: return "malformed claim";
	}
	return "unknown error";
}

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if(err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- Keys */

static int read_file(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
	unsigned char *buf;
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	if(!f)
		return fail(err, errlen, ACCESS_EKEY, "%s: %s", path, strerror(errno));
	buf = malloc(ACCESS_KEY_FILE_MAX + 1);
	if(!buf) {
		fclose(f);
		return fail(err, errlen, ACCESS_ENOMEM, "%s: out of memory", path);
	}
	n = fread(buf, 1, ACCESS_KEY_FILE_MAX + 1, f);
	if(ferror(f) || n > ACCESS_KEY_FILE_MAX || n == 0) {
		int e = ferror(f) ? errno : 0;

		fclose(f);
		free(buf);
		if(e)
			return fail(err, errlen, ACCESS_EKEY, "%s: %s", path, strerror(e));
		return fail(err, errlen, ACCESS_EKEY, "%s: %s", path,
		            n ? "larger than a key file can be" : "empty");
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Which algorithms the PEM public key in k->bytes allows. */
static int pem_key(struct access_key *k, const char *path, char *err, size_t errlen)
{
	gnutls_datum_t pem = { k->bytes, (unsigned)k->len }, x = { NULL, 0 }, y = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	gnutls_pubkey_t pub;
	unsigned bits = 0;
	int rc = ACCESS_EKEY, pk;

	if(strstr((char *)k->bytes, "PRIVATE KEY-----"))
		return fail(err, errlen, ACCESS_EKEY, "%s: holds a private key; give the public key "
		            "(openssl pkey -pubout)", path);
	if(strstr((char *)k->bytes, "CERTIFICATE-----"))
		return fail(err, errlen, ACCESS_EKEY, "%s: holds a certificate; give its public key "
		            "(openssl x509 -pubkey -noout)", path);
	if(gnutls_pubkey_init(&pub) < 0)
		return fail(err, errlen, ACCESS_ENOMEM, "%s: out of memory", path);
	if(gnutls_pubkey_import(pub, &pem, GNUTLS_X509_FMT_PEM) < 0) {
		fail(err, errlen, ACCESS_EKEY, "%s: not a PEM public key", path);
		goto out;
	}
	pk = gnutls_pubkey_get_pk_algorithm(pub, &bits);
	if(pk == GNUTLS_PK_RSA) {
		if(bits < 2048) {
			fail(err, errlen, ACCESS_EKEY, "%s: an RSA key needs at least 2048 bits (has %u)",
			     path, bits);
			goto out;
		}
		k->kind = ACCESS_KEY_RSA;
		k->algs = 1u << JWT_ALG_RS256 | 1u << JWT_ALG_RS384 | 1u << JWT_ALG_RS512;
		rc = 0;
	} else if(pk == GNUTLS_PK_EC && gnutls_pubkey_export_ecc_raw(pub, &curve, &x, &y) == 0) {
		k->kind = ACCESS_KEY_EC;
		rc = 0;
		if(curve == GNUTLS_ECC_CURVE_SECP256R1) {
			k->algs = 1u << JWT_ALG_ES256;
			k->ec_size = 32;
		} else if(curve == GNUTLS_ECC_CURVE_SECP384R1) {
			k->algs = 1u << JWT_ALG_ES384;
			k->ec_size = 48;
		} else if(curve == GNUTLS_ECC_CURVE_SECP521R1) {
			k->algs = 1u << JWT_ALG_ES512;
			k->ec_size = 66;
		} else {
			rc = fail(err, errlen, ACCESS_EKEY, "%s: an EC key must be on P-256, P-384 or P-521",
			          path);
		}
		gnutls_free(x.data);
		gnutls_free(y.data);
	} else {
		fail(err, errlen, ACCESS_EKEY, "%s: only RSA and EC public keys are supported", path);
	}
out:
	gnutls_pubkey_deinit(pub);
	return rc;
}

struct access_key *access_key_load(const char *path, char *err, size_t errlen)
{
	struct access_key *k;

	k = calloc(1, sizeof(*k));
	if(!k) {
		fail(err, errlen, ACCESS_ENOMEM, "%s: out of memory", path);
		return NULL;
	}
	if(read_file(path, &k->bytes, &k->len, err, errlen))
		goto bad;
	if(strstr((char *)k->bytes, "-----BEGIN ")) {
		if(pem_key(k, path, err, errlen))
			goto bad;
		return k;
	}
	/* A secret file usually ends in one line end that is not part of it. */
	if(k->len && k->bytes[k->len - 1] == '\n')
		k->len--;
	if(k->len && k->bytes[k->len - 1] == '\r')
		k->len--;
	if(k->len < ACCESS_HMAC_MIN) {
		fail(err, errlen, ACCESS_EKEY, "%s: an HMAC secret needs at least %d bytes",
		     path, ACCESS_HMAC_MIN);
		goto bad;
	}
	k->kind = ACCESS_KEY_HMAC;
	k->algs = 1u << JWT_ALG_HS256 | 1u << JWT_ALG_HS384 | 1u << JWT_ALG_HS512;
	return k;
bad:
	access_key_free(k);
	return NULL;
}

void access_key_free(struct access_key *k)
{
	if(!k)
		return;
	if(k->bytes) {
		explicit_bzero(k->bytes, k->len);
		free(k->bytes);
	}
	free(k);
}

enum access_key_kind access_key_kind(const struct access_key *k)
{
	return k->kind;
}

/* ---- Tokens */

static int b64url_value(int c)
{
	if(c >= 'A' && c <= 'Z')
		return c - 'A';
	if(c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if(c >= '0' && c <= '9')
		return c - '0' + 52;
	if(c == '-')
		return 62;
	if(c == '_')
		return 63;
	return -1;
}

/* Decode len base64url characters (no padding) into out (room for
 * len * 3 / 4 bytes). Returns the byte count, or -1. */
static long b64url_decode(const char *s, size_t len, unsigned char *out)
{
	unsigned long acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	if(len % 4 == 1)
		return -1;
	for(i = 0; i < len; i++) {
		v = b64url_value((unsigned char)s[i]);
		if(v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if(bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1ul << bits) - 1;
		}
	}
	return (long)n;
}

/* The JSON object in a base64url segment, or NULL. */
static json_t *segment_json(const char *s, size_t len)
{
	unsigned char *buf;
	json_t *j = NULL;
	long n;

	buf = malloc(len * 3 / 4 + 1);
	if(!buf)
		return NULL;
	n = b64url_decode(s, len, buf);
	if(n > 0)
		j = json_loadb((char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	if(j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static const char *const alg_names[] = {
	[JWT_ALG_HS256] = "HS256", [JWT_ALG_HS384] = "HS384", [JWT_ALG_HS512] = "HS512",
	[JWT_ALG_RS256] = "RS256", [JWT_ALG_RS384] = "RS384", [JWT_ALG_RS512] = "RS512",
	[JWT_ALG_ES256] = "ES256", [JWT_ALG_ES384] = "ES384", [JWT_ALG_ES512] = "ES512",
};

/* A NumericDate claim into *v (unchanged when absent): 0, or -1. */
static int numeric_date(json_t *claims, const char *name, int round_up, int64_t *v)
{
	json_t *j = json_object_get(claims, name);
	double d;

	if(!j)
		return 0;
	if(json_is_integer(j)) {
		*v = json_integer_value(j);
		return 0;
	}
	if(!json_is_real(j))
		return -1;
	d = round_up ? ceil(json_real_value(j)) : floor(json_real_value(j));
	if(!(d > -9.2e18 && d < 9.2e18))
		return -1;
	*v = (int64_t)d;
	return 0;
}

static void grants_free(struct grants *g)
{
	size_t i;

	for(i = 0; i < g->n; i++)
		free(g->v[i].s);
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

/* The list claims.ssed.<name> into g: 0, or a negative enum access_err. */
static int grants_read(json_t *ssed, const char *name, struct grants *g, char *err, size_t errlen)
{
	json_t *list = json_object_get(ssed, name), *e;
	const char *s, *star;
	size_t i, len;

	if(!list)
		return 0;
	if(!json_is_array(list) || json_array_size(list) > ACCESS_GRANTS_MAX)
		return fail(err, errlen, ACCESS_ECLAIM, "token: ssed.%s is not a list of at most %d topics",
		            name, ACCESS_GRANTS_MAX);
	g->v = calloc(json_array_size(list) + 1, sizeof(*g->v));
	if(!g->v)
		return fail(err, errlen, ACCESS_ENOMEM, "out of memory");
	json_array_foreach(list, i, e) {
		s = json_string_value(e);
		len = json_string_length(e);
		if(!s || len == 0 || len > ACCESS_PATTERN_MAX || memchr(s, '\0', len))
			return fail(err, errlen, ACCESS_ECLAIM, "token: ssed.%s[%zu] is not a topic", name, i);
		star = memchr(s, '*', len);
		if(star && star != s + len - 1)
			return fail(err, errlen, ACCESS_ECLAIM,
			            "token: ssed.%s[%zu] has a '*' before its end", name, i);
		g->v[g->n].prefix = star != NULL;
		g->v[g->n].len = star ? len - 1 : len;
		g->v[g->n].s = malloc(len + 1);
		if(!g->v[g->n].s)
			return fail(err, errlen, ACCESS_ENOMEM, "out of memory");
		memcpy(g->v[g->n].s, s, len + 1);
		g->n++;
	}
	return 0;
}

/*
 * Verify text (NUL-terminated, len bytes) with k at now. On success, the
 * verified claims in *claims when claims is not NULL, and exp in *exp.
 */
static int verify(const struct access_key *k, const char *text, size_t len, int64_t now,
                  json_t **claims, int64_t *exp, char *err, size_t errlen)
{
	const char *dot1, *dot2, *alg;
	json_t *head = NULL, *body = NULL, *verified = NULL;
	int64_t nbf = INT64_MIN;
	jwt_t *jwt = NULL;
	char *json = NULL;
	int rc, a, found = -1;
	size_t i, siglen;

	dot1 = memchr(text, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - text)) : NULL;
	if(!dot2 || dot1 == text || dot2 == dot1 + 1 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - text)))
		return fail(err, errlen, ACCESS_EMALFORMED, "token: not three dot-separated parts");
	for(i = 0; i < len; i++)
		if(text[i] != '.' && b64url_value((unsigned char)text[i]) < 0)
			return fail(err, errlen, ACCESS_EMALFORMED, "token: a character outside base64url");
	head = segment_json(text, (size_t)(dot1 - text));
	body = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if(!head || !body) {
		rc = fail(err, errlen, ACCESS_EMALFORMED, "token: %s is not a JSON object",
		          head ? "the payload" : "the header");
		goto out;
	}
	alg = json_string_value(json_object_get(head, "alg"));
	for(a = JWT_ALG_HS256; alg && a <= JWT_ALG_ES512; a++)
		if(strcmp(alg, alg_names[a]) == 0)
			found = a;
	if(found < 0 || !(k->algs & 1u << found)) {
		rc = fail(err, errlen, ACCESS_EALG, "token: algorithm %s is not accepted with an %s",
		          found >= 0 ? alg_names[found] : alg && strcasecmp(alg, "none") == 0 ? "none" :
		          "(unknown)", kind_name[k->kind]);
		goto out;
	}
	if(json_object_get(head, "crit")) {
		rc = fail(err, errlen, ACCESS_EMALFORMED, "token: critical header extensions are not supported");
		goto out;
	}
	siglen = len - (size_t)(dot2 + 1 - text);
	if(siglen == 0 || (k->ec_size && siglen != (2 * k->ec_size * 8 + 5) / 6)) {
		rc = fail(err, errlen, ACCESS_ESIG, "token: signature of the wrong length");
		goto out;
	}
	if(jwt_decode(&jwt, text, k->bytes, (int)k->len) || !jwt || (int)jwt_get_alg(jwt) != found) {
		rc = fail(err, errlen, ACCESS_ESIG, "token: signature does not verify");
		goto out;
	}
	/* From here on, only what the signature covers. */
	json = jwt_get_grants_json(jwt, NULL);
	verified = json ? json_loads(json, 0, NULL) : NULL;
	if(!verified || !json_is_object(verified)) {
		rc = fail(err, errlen, ACCESS_EMALFORMED, "token: the payload is not a JSON object");
		goto out;
	}
	*exp = 0;
	if(numeric_date(verified, "exp", 0, exp) || numeric_date(verified, "nbf", 1, &nbf)) {
		rc = fail(err, errlen, ACCESS_ECLAIM, "token: exp or nbf is not a number");
		goto out;
	}
	if(json_object_get(verified, "exp") && now >= *exp) {
		rc = fail(err, errlen, ACCESS_EEXPIRED, "token: expired");
		goto out;
	}
	if(now < nbf) {
		rc = fail(err, errlen, ACCESS_ENOTYET, "token: not valid yet (nbf)");
		goto out;
	}
	rc = 0;
	if(claims) {
		*claims = verified;
		verified = NULL;
	}
out:
	json_decref(head);
	json_decref(body);
	json_decref(verified);
	if(json) {
		explicit_bzero(json, strlen(json));
		free(json);
	}
	jwt_free(jwt);
	return rc;
}

int access_verify(const struct access_key *k, const char *token, size_t len,
                  int64_t now, struct access_token **out, char *err, size_t errlen)
{
	struct access_token *t;
	json_t *claims = NULL, *ssed;
	int rc;

	*out = NULL;
	if(len == 0 || len > ACCESS_TOKEN_MAX || memchr(token, '\0', len))
		return fail(err, errlen, ACCESS_EMALFORMED, "token: empty or longer than %d bytes",
		            ACCESS_TOKEN_MAX);
	t = calloc(1, sizeof(*t));
	if(!t || !(t->text = malloc(len + 1))) {
		free(t);
		return fail(err, errlen, ACCESS_ENOMEM, "out of memory");
	}
	memcpy(t->text, token, len);
	t->text[len] = '\0';
	t->len = len;
	rc = verify(k, t->text, len, now, &claims, &t->exp, err, errlen);
	if(rc)
		goto out;
	ssed = json_object_get(claims, "ssed");
	if(ssed && !json_is_object(ssed)) {
		rc = fail(err, errlen, ACCESS_ECLAIM, "token: the ssed claim is not an object");
		goto out;
	}
	rc = grants_read(ssed, "publish", &t->pub, err, errlen);
	if(!rc)
		rc = grants_read(ssed, "subscribe", &t->sub, err, errlen);
out:
	json_decref(claims);
	if(rc) {
		access_token_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int access_reverify(const struct access_key *k, const struct access_token *t,
                    int64_t now, char *err, size_t errlen)
{
	int64_t exp;

	return verify(k, t->text, t->len, now, NULL, &exp, err, errlen);
}

void access_token_free(struct access_token *t)
{
	if(!t)
		return;
	if(t->text) {
		explicit_bzero(t->text, t->len);
		free(t->text);
	}
	grants_free(&t->pub);
	grants_free(&t->sub);
	free(t);
}

int64_t access_token_expiry(const struct access_token *t)
{
	return t->exp;
}

static int granted(const struct grants *g, const char *topic, size_t len)
{
	size_t i;

	for(i = 0; i < g->n; i++) {
		if(g->v[i].prefix ? len >= g->v[i].len : len == g->v[i].len)
			if(memcmp(topic, g->v[i].s, g->v[i].len) == 0)
				return 1;
	}
	return 0;
}

int access_may_publish(const struct access_token *t, const char *topic, size_t len)
{
	return granted(&t->pub, topic, len);
}

size_t access_may_subscribe(const struct access_token *t, size_t n,
                            const char *const *topics, const size_t *lens,
                            size_t *refused)
{
	size_t i, m = 0;

	for(i = 0; i < n; i++)
		if(!granted(&t->sub, topics[i], lens[i]))
			refused[m++] = i;
	return m;
}

/* ---- Request helpers */

static int is_space(int c)
{
	return c == ' ' || c == '\t';
}

int access_bearer(const char *value, const char **tok, size_t *len)
{
	const char *p, *end;

	if(!value || strncasecmp(value, "Bearer", 6) != 0 || !is_space(value[6]))
		return -1;
	for(p = value + 6; is_space(*p); p++)
		;
	for(end = p + strlen(p); end > p && is_space(end[-1]); end--)
		;
	if(end == p)
		return -1;
	*tok = p;
	*len = (size_t)(end - p);
	return 0;
}

int access_cookie(const char *header, const char *name, const char **val, size_t *len)
{
	size_t nlen = strlen(name), klen;
	const char *p = header, *k, *v, *end;

	if(!header || nlen == 0)
		return -1;
	while(*p) {
		while(is_space(*p) || *p == ';')
			p++;
		k = p;
		while(*p && *p != '=' && *p != ';')
			p++;
		for(klen = (size_t)(p - k); klen && is_space(k[klen - 1]); klen--)
			;
		if(*p != '=')
			continue;   /* a name without a value: skip it */
		for(v = p + 1; is_space(*v); v++)
			;
		for(p = v; *p && *p != ';'; p++)
			;
		for(end = p; end > v && is_space(end[-1]); end--)
			;
		if(klen != nlen || memcmp(k, name, nlen) != 0)
			continue;
		if(end - v >= 2 && *v == '"' && end[-1] == '"') {
			v++;
			end--;
		}
		if(end == v)
			return -1;
		*val = v;
		*len = (size_t)(end - v);
		return 0;
	}
	return -1;
}

enum access_from access_find_token(const struct access_source *src,
                                   const char **tok, size_t *len)
{
	if(access_bearer(src->authorization, tok, len) == 0)
		return ACCESS_FROM_HEADER;
	if(access_cookie(src->cookie, src->cookie_name ? src->cookie_name : ACCESS_COOKIE_DEFAULT,
	                 tok, len) == 0)
		return ACCESS_FROM_COOKIE;
	if(src->query_ok && src->query && *src->query) {
		*tok = src->query;
		*len = strlen(src->query);
		return ACCESS_FROM_QUERY;
	}
	return ACCESS_FROM_NONE;
}

struct origin {
	int https;
	const char *host;
	size_t hlen;
	long port;
};

/*
 * Parse "host[:port]" (host may be "[v6]") up to end into o, port
 * defaulting by o->https. Returns 0, or -1.
 */
static int parse_hostport(const char *s, const char *end, struct origin *o)
{
	const char *colon = NULL, *p;
	long port = 0;

	if(s == end)
		return -1;
	if(*s == '[') {
		p = memchr(s, ']', (size_t)(end - s));
		if(!p)
			return -1;
		p++;
		if(p < end && *p != ':')
			return -1;
		colon = p < end ? p : NULL;
	} else {
		for(p = s; p < end; p++) {
			if(*p == ':')
				colon = p;
			else if(*p == '/' || *p == '@' || is_space(*p))
				return -1;
		}
	}
	o->host = s;
	o->hlen = (size_t)((colon ? colon : end) - s);
	if(o->hlen == 0)
		return -1;
	if(!colon) {
		o->port = o->https ? 443 : 80;
		return 0;
	}
	if(colon + 1 == end || end - colon > 6)
		return -1;
	for(p = colon + 1; p < end; p++) {
		if(!isdigit((unsigned char)*p))
			return -1;
		port = port * 10 + (*p - '0');
	}
	if(port < 1 || port > 65535)
		return -1;
	o->port = port;
	return 0;
}

/* Parse an origin "scheme://host[:port]". Returns 0, or -1. */
static int parse_origin(const char *s, struct origin *o)
{
	if(strncasecmp(s, "https://", 8) == 0) {
		o->https = 1;
		s += 8;
	} else if(strncasecmp(s, "http://", 7) == 0) {
		o->https = 0;
		s += 7;
	} else {
		return -1;
	}
	return parse_hostport(s, s + strlen(s), o);
}

static int same_origin(const struct origin *a, const struct origin *b)
{
	return a->https == b->https && a->port == b->port && a->hlen == b->hlen &&
	       strncasecmp(a->host, b->host, a->hlen) == 0;
}

int access_origin_ok(const char *origin, const char *const *allowed, size_t nallowed,
                     const char *host, int tls)
{
	struct origin o, a;
	size_t i;

	if(!origin || parse_origin(origin, &o))
		return 0;
	if(nallowed) {
		for(i = 0; i < nallowed; i++)
			if(strcmp(allowed[i], "*") == 0 || (parse_origin(allowed[i], &a) == 0 && same_origin(&o, &a)))
				return 1;
		return 0;
	}
	a.https = tls != 0;
	if(!host || parse_hostport(host, host + strlen(host), &a))
		return 0;
	return same_origin(&o, &a);
}

int64_t access_deadline_ms(int64_t now_ms, int64_t exp_s, uint32_t r)
{
	int64_t exp_ms;
	double left;

	if(exp_s == 0)
		return 0;
	exp_ms = exp_s > INT64_MAX / 1000 ? INT64_MAX : exp_s < INT64_MIN / 1000 ? INT64_MIN : exp_s * 1000;
	if(exp_ms <= now_ms)
		return now_ms;
	/* The cut is at most a fifth of what is left: no overflow either way. */
	left = (double)exp_ms - (double)now_ms;
	return exp_ms - (int64_t)(left * 0.2 * ((double)r / 4294967296.0));
}
