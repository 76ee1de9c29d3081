/*
 * test_access.c - signed tokens and per-topic grants (cmd/ssed/access.c).
 *
 * Every key is made here: HMAC secrets written by the test, RSA and EC key
 * pairs by openssl in a temporary directory removed at the end. HS and RS
 * tokens are signed with libjwt; ES256 tokens by hand with GnuTLS (libjwt
 * 1.10.2 signs ES256 with a 132-byte signature, which is not JOSE's).
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <jwt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cmd/ssed/access.h"
#include "tap.h"

#define NOW 1700000000LL
#define SECRET "0123456789abcdef0123456789abcdef-a-test-secret"
#define SECRET2 "another secret, also long enough to be accepted here"

static char dir[64];
static char err[256];

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	path_of(path, sizeof(path), name);
	f = fopen(path, "wb");
	if(!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

static char *read_all(const char *name, size_t *len)
{
	char path[128], *buf = malloc(65536);
	FILE *f;

	path_of(path, sizeof(path), name);
	f = fopen(path, "rb");
	if(!f || !buf) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static struct access_key *load(const char *name)
{
	char path[128];

	path_of(path, sizeof(path), name);
	return access_key_load(path, err, sizeof(err));
}

/* A token signed by libjwt with alg and key over the claims (JSON). */
static char *sign(jwt_alg_t alg, const void *key, size_t keylen, const char *claims)
{
	jwt_t *jwt = NULL;
	char *tok = NULL;

	if(jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, claims) == 0 &&
	   jwt_set_alg(jwt, alg, key, (int)keylen) == 0)
		tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	if(!tok) {
		printf("Bail out! libjwt could not sign\n");
		exit(1);
	}
	return tok;
}

static char *hs(const char *claims)
{
	return sign(JWT_ALG_HS256, SECRET, strlen(SECRET), claims);
}

static void b64url(const unsigned char *in, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned long acc = 0;
	int bits = 0;
	size_t i;

	for(i = 0; i < len; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while(bits >= 6) {
			bits -= 6;
			*out++ = a[(acc >> bits) & 63];
		}
	}
	if(bits)
		*out++ = a[(acc << (6 - bits)) & 63];
	*out = '\0';
}

/* "header.payload." with the header and payload given as JSON text. */
static char *unsigned_token(const char *head, const char *body)
{
	char *t = malloc(strlen(head) * 2 + strlen(body) * 2 + 8);

	b64url((const unsigned char *)head, strlen(head), t);
	strcat(t, ".");
	b64url((const unsigned char *)body, strlen(body), t + strlen(t));
	strcat(t, ".");
	return t;
}

/* An ES256 token signed the JOSE way (r || s, 32 bytes each). */
static char *es256(const char *privname, const char *claims)
{
	gnutls_datum_t pem, data, sig = { NULL, 0 }, r = { NULL, 0 }, s = { NULL, 0 };
	gnutls_privkey_t key;
	unsigned char rs[64];
	size_t len;
	char *t = unsigned_token("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims), *p;

	pem.data = (unsigned char *)read_all(privname, &len);
	pem.size = (unsigned)len;
	data.data = (unsigned char *)t;
	data.size = (unsigned)(strlen(t) - 1);
	memset(rs, 0, sizeof(rs));
	if(gnutls_privkey_init(&key) || gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0) ||
	   gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &data, &sig) ||
	   gnutls_decode_rs_value(&sig, &r, &s) || r.size > 33 || s.size > 33) {
		printf("Bail out! cannot sign ES256\n");
		exit(1);
	}
	/* DER integers may carry a leading zero or be short. */
	memcpy(rs + 32 - (r.size > 32 ? 32 : r.size), r.data + (r.size > 32), r.size > 32 ? 32 : r.size);
	memcpy(rs + 64 - (s.size > 32 ? 32 : s.size), s.data + (s.size > 32), s.size > 32 ? 32 : s.size);
	p = realloc(t, strlen(t) + 100);
	b64url(rs, 64, p + strlen(p));
	gnutls_free(sig.data);
	gnutls_free(r.data);
	gnutls_free(s.data);
	gnutls_privkey_deinit(key);
	free(pem.data);
	return p;
}

static int verify(const struct access_key *k, const char *tok, int64_t now, struct access_token **t)
{
	struct access_token *tmp = NULL;
	const char *sig;
	int rc;

	err[0] = '\0';
	rc = access_verify(k, tok, strlen(tok), now, t ? t : &tmp, err, sizeof(err));
	access_token_free(tmp);
	/* No error line may carry the token, its signature or the secret. */
	sig = strrchr(tok, '.');
	sig = sig && strlen(sig) > 4 ? sig + 1 : NULL;
	if(rc && ((*tok && strstr(err, tok)) || (sig && strstr(err, sig)) || strstr(err, "0123456789abcdef"))) {
		tap_ok(0, "error line leaks the token or the secret: %s", err);
	}
	return rc;
}

static int sh(const char *cmd)
{
	char line[1024];

	snprintf(line, sizeof(line), "cd %s && { %s; } >/dev/null 2>&1", dir, cmd);
	return system(line);
}

static void test_keys(void)
{
	struct access_key *k;

	write_file("hmac", SECRET "\n", strlen(SECRET) + 1);
	k = load("hmac");
	tap_ok(k && access_key_kind(k) == ACCESS_KEY_HMAC, "an HMAC secret file loads");
	access_key_free(k);

	write_file("short", "short secret\n", 13);
	k = load("short");
	tap_ok(!k && strstr(err, "at least 32 bytes") && !strstr(err, "short secret"),
	       "a short HMAC secret is refused without showing it: %s", err);

	write_file("empty", "", 0);
	k = load("empty");
	tap_ok(!k && strstr(err, "empty"), "an empty key file is refused: %s", err);

	k = load("does-not-exist");
	tap_ok(!k && strstr(err, "does-not-exist") && strstr(err, "No such file"),
	       "a missing key file names the file and the reason: %s", err);

	k = load("rsa.pub");
	tap_ok(k && access_key_kind(k) == ACCESS_KEY_RSA, "an RSA public key loads");
	access_key_free(k);
	k = load("ec.pub");
	tap_ok(k && access_key_kind(k) == ACCESS_KEY_EC, "an EC P-256 public key loads");
	access_key_free(k);

	k = load("rsa.key");
	tap_ok(!k && strstr(err, "private key") && !strstr(err, "MII"),
	       "a private key file is refused: %s", err);
	k = load("ec.crt");
	tap_ok(!k && strstr(err, "certificate"), "a certificate is refused, with how to get its key: %s", err);
	write_file("bad.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 56);
	k = load("bad.pem");
	tap_ok(!k && strstr(err, "not a PEM public key"), "a broken PEM file is refused: %s", err);
}

static void test_grants(const struct access_key *k)
{
	const char *topics[] = { "a", "b.c", "c", "b.", "b", "ab" };
	size_t lens[6], refused[6], n, i;
	struct access_token *t = NULL;
	char *tok;

	for(i = 0; i < 6; i++)
		lens[i] = strlen(topics[i]);
	tok = hs("{\"sub\":\"u1\",\"ssed\":{\"publish\":[\"news\",\"chat.*\"],\"subscribe\":[\"a\",\"b.*\"]}}");
	tap_ok(verify(k, tok, NOW, &t) == 0 && t, "an HS256 token verifies: %s", err);
	if(!t)
		return;
	tap_ok(access_may_publish(t, "news", 4), "publish: an exact topic is granted");
	tap_ok(!access_may_publish(t, "newsx", 5) && !access_may_publish(t, "new", 3),
	       "publish: an exact grant is not a prefix");
	tap_ok(access_may_publish(t, "chat.room1", 10) && access_may_publish(t, "chat.", 5),
	       "publish: chat.* grants every topic starting with chat.");
	tap_ok(!access_may_publish(t, "chat", 4) && !access_may_publish(t, "chatx", 5),
	       "publish: chat.* does not grant chat or chatx");
	tap_ok(!access_may_publish(t, "a", 1), "publish: a subscribe grant does not allow publishing");
	n = access_may_subscribe(t, 6, topics, lens, refused);
	tap_ok(n == 3 && refused[0] == 2 && refused[1] == 4 && refused[2] == 5,
	       "subscribe: the refused topics are named (c, b, ab), the granted pass (got %zu)", n);
	n = access_may_subscribe(t, 2, topics, lens, refused);
	tap_ok(n == 0, "subscribe: a stream of granted topics only is allowed");
	tap_ok(access_token_expiry(t) == 0, "a token without exp has no expiry");
	access_token_free(t);
	free(tok);

	tok = hs("{\"ssed\":{\"subscribe\":[\"*\"]}}");
	t = NULL;
	verify(k, tok, NOW, &t);
	n = t ? access_may_subscribe(t, 6, topics, lens, refused) : 99;
	tap_ok(t && n == 0 && !access_may_publish(t, "a", 1), "\"*\" grants every topic, and only for its list");
	access_token_free(t);
	free(tok);

	tok = hs("{\"sub\":\"nobody\"}");
	t = NULL;
	tap_ok(verify(k, tok, NOW, &t) == 0 && t && !access_may_publish(t, "a", 1) &&
	       access_may_subscribe(t, 1, topics, lens, refused) == 1,
	       "a token without the ssed claim is valid and grants nothing");
	access_token_free(t);
	free(tok);

	static const char *const bad[] = {
		"{\"ssed\":5}",
		"{\"ssed\":{\"publish\":\"a\"}}",
		"{\"ssed\":{\"publish\":[1]}}",
		"{\"ssed\":{\"subscribe\":[\"\"]}}",
		"{\"ssed\":{\"subscribe\":[\"a*b\"]}}",
		"{\"ssed\":{\"subscribe\":[\"**\"]}}",
		"{\"exp\":\"tomorrow\"}",
		"{\"nbf\":[1]}",
	};
	for(i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tok = hs(bad[i]);
		tap_ok(verify(k, tok, NOW, NULL) == ACCESS_ECLAIM, "a malformed claim is refused: %s -> %s",
		       bad[i], err);
		free(tok);
	}
}

static void test_times(const struct access_key *k)
{
	struct access_token *t = NULL;
	char *tok;

	tok = hs("{\"exp\":1700000100,\"nbf\":1700000000,\"ssed\":{\"subscribe\":[\"*\"]}}");
	tap_ok(verify(k, tok, NOW, &t) == 0 && t && access_token_expiry(t) == NOW + 100,
	       "valid at nbf, with its expiry");
	access_token_free(t);
	tap_ok(verify(k, tok, NOW + 99, NULL) == 0, "valid one second before exp");
	tap_ok(verify(k, tok, NOW + 100, NULL) == ACCESS_EEXPIRED && strstr(err, "expired"),
	       "expired at exp: %s", err);
	tap_ok(verify(k, tok, NOW + 100000, NULL) == ACCESS_EEXPIRED, "expired long after exp");
	tap_ok(verify(k, tok, NOW - 1, NULL) == ACCESS_ENOTYET && strstr(err, "nbf"),
	       "not valid before nbf: %s", err);
	free(tok);

	tok = hs("{\"exp\":1700000100.5}");
	tap_ok(verify(k, tok, NOW + 99, NULL) == 0 && verify(k, tok, NOW + 100, NULL) == ACCESS_EEXPIRED,
	       "a fractional exp counts");
	free(tok);
}

/* Replace the payload of tok with body, keeping its header and signature. */
static char *swap_payload(const char *tok, const char *body)
{
	const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	char *t = malloc(strlen(tok) + strlen(body) * 2 + 8);

	memcpy(t, tok, (size_t)(d1 - tok) + 1);
	b64url((const unsigned char *)body, strlen(body), t + (d1 - tok) + 1);
	strcat(t, d2);
	return t;
}

static void test_refusals(const struct access_key *hk, const struct access_key *rk,
                          const struct access_key *ek)
{
	char *tok, *t2, big[ACCESS_TOKEN_MAX + 2];
	size_t len, i;
	char *pem = read_all("rsa.pub", &len);
	jwt_t *jwt = NULL;

	tok = hs("{\"ssed\":{\"publish\":[\"a\"]}}");
	t2 = strdup(tok);
	t2[strlen(t2) - 2] = t2[strlen(t2) - 2] == 'A' ? 'B' : 'A';
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_ESIG, "a changed signature is refused: %s", err);
	free(t2);
	t2 = swap_payload(tok, "{\"ssed\":{\"publish\":[\"*\"]}}");
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_ESIG, "a changed payload is refused: %s", err);
	free(t2);
	t2 = sign(JWT_ALG_HS256, SECRET2, strlen(SECRET2), "{\"ssed\":{\"publish\":[\"a\"]}}");
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_ESIG, "a token signed with another secret is refused");
	free(t2);
	tap_ok(verify(rk, tok, NOW, NULL) == ACCESS_EALG && strstr(err, "HS256"),
	       "HS256 under an RSA key is refused: %s", err);
	free(tok);

	/* Algorithm confusion: HMAC keyed with the public key's PEM text. */
	tok = sign(JWT_ALG_HS256, pem, len, "{\"ssed\":{\"publish\":[\"*\"]}}");
	tap_ok(jwt_decode(&jwt, tok, (unsigned char *)pem, (int)len) == 0,
	       "(libjwt alone would accept an HS256 token keyed with the public key)");
	jwt_free(jwt);
	tap_ok(verify(rk, tok, NOW, NULL) == ACCESS_EALG, "algorithm confusion (HS256 with the RSA public "
	       "key as secret) is refused: %s", err);
	free(tok);

	/* "none", however spelled, and under every kind of key. */
	tok = sign(JWT_ALG_NONE, NULL, 0, "{\"ssed\":{\"publish\":[\"*\"]}}");
	tap_ok(verify(hk, tok, NOW, NULL) == ACCESS_EALG && strstr(err, "none"),
	       "alg none is refused under an HMAC key: %s", err);
	tap_ok(verify(rk, tok, NOW, NULL) == ACCESS_EALG, "alg none is refused under an RSA key");
	tap_ok(verify(ek, tok, NOW, NULL) == ACCESS_EALG, "alg none is refused under an EC key");
	free(tok);
	tok = unsigned_token("{\"alg\":\"None\"}", "{\"ssed\":{\"publish\":[\"*\"]}}");
	tap_ok(verify(hk, tok, NOW, NULL) == ACCESS_EALG, "alg None is refused");
	free(tok);
	tok = unsigned_token("{\"typ\":\"JWT\"}", "{}");
	tap_ok(verify(hk, tok, NOW, NULL) == ACCESS_EALG, "a header without alg is refused");
	free(tok);

	/* RS256 and ES256. */
	tok = read_all("rsa.key", &len);
	t2 = sign(JWT_ALG_RS256, tok, len, "{\"ssed\":{\"publish\":[\"x\"]}}");
	free(tok);
	{
		struct access_token *t = NULL;

		tap_ok(verify(rk, t2, NOW, &t) == 0 && t && access_may_publish(t, "x", 1),
		       "an RS256 token verifies under its public key: %s", err);
		access_token_free(t);
	}
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_EALG, "RS256 under an HMAC key is refused");
	tap_ok(verify(ek, t2, NOW, NULL) == ACCESS_EALG, "RS256 under an EC key is refused");
	free(t2);
	tok = read_all("rsa2.key", &len);
	t2 = sign(JWT_ALG_RS256, tok, len, "{}");
	free(tok);
	tap_ok(verify(rk, t2, NOW, NULL) == ACCESS_ESIG, "RS256 by another RSA key is refused");
	free(t2);

	tok = es256("ec.key", "{\"exp\":1700000010,\"ssed\":{\"subscribe\":[\"s.*\"]}}");
	{
		struct access_token *t = NULL;
		const char *topic = "s.1";
		size_t l = 3, refused;

		tap_ok(verify(ek, tok, NOW, &t) == 0 && t && access_may_subscribe(t, 1, &topic, &l, &refused) == 0,
		       "an ES256 token verifies under its public key: %s", err);
		access_token_free(t);
	}
	tap_ok(verify(rk, tok, NOW, NULL) == ACCESS_EALG, "ES256 under an RSA key is refused");
	tap_ok(verify(ek, tok, NOW + 10, NULL) == ACCESS_EEXPIRED, "an ES256 token expires too");
	free(tok);
	tok = es256("ec2.key", "{}");
	tap_ok(verify(ek, tok, NOW, NULL) == ACCESS_ESIG, "ES256 by another EC key is refused");
	free(tok);

	/* libjwt 1.10.2 signs ES256 with 132 bytes; JOSE says 64. */
	tok = read_all("ec.key", &len);
	t2 = sign(JWT_ALG_ES256, tok, len, "{}");
	free(tok);
	tap_ok(verify(ek, t2, NOW, NULL) == ACCESS_ESIG && strstr(err, "length"),
	       "an ES256 signature of the wrong length is refused: %s", err);
	free(t2);

	/* Two values for one name: refused before anyone reads either. */
	t2 = unsigned_token("{\"alg\":\"HS256\"}", "{\"exp\":1,\"exp\":9999999999}");
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_EMALFORMED, "a payload with a duplicate name is refused");
	free(t2);
	t2 = unsigned_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}");
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_EMALFORMED, "a header with a duplicate name is refused");
	free(t2);

	/* Malformed. */
	static const char *const junk[] = {
		"abc", "a.b", "a.b.c.d", ".b.c", "a..c", "e30.e30.a+b", "e30.e30.a=",
		"bm90IGpzb24.e30.c2ln", "e30.bm90IGpzb24.c2ln", "W10.e30.c2ln",
	};
	for(i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		tap_ok(verify(hk, junk[i], NOW, NULL) != 0 && err[0], "a malformed token is refused: %s -> %s",
		       junk[i], err);
	tap_ok(access_verify(hk, "", 0, NOW, (struct access_token **)&tok, err, sizeof(err)) ==
	       ACCESS_EMALFORMED, "an empty token is refused");
	memset(big, 'a', sizeof(big));
	tap_ok(access_verify(hk, big, sizeof(big), NOW, (struct access_token **)&tok, err, sizeof(err)) ==
	       ACCESS_EMALFORMED, "an over-long token is refused");
	tok = hs("{}");
	tap_ok(access_verify(hk, tok, strlen(tok) + 1, NOW, (struct access_token **)&t2, err, sizeof(err)) ==
	       ACCESS_EMALFORMED, "a token with a NUL byte is refused");
	free(tok);
	t2 = unsigned_token("{\"alg\":\"HS256\",\"crit\":[\"x\"],\"x\":1}", "{}");
	tap_ok(verify(hk, t2, NOW, NULL) == ACCESS_EMALFORMED, "a critical header extension is refused");
	free(t2);
	free(pem);
}

/* The man page's recipe: an HS256 token with openssl and the shell alone. */
static void test_shell_recipe(const struct access_key *k)
{
	struct access_token *t = NULL;
	const char *topic = "chat.1";
	size_t len, l = 6, refused;
	char *tok;

	if(sh("b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }; "
	      "h=$(printf '{\"alg\":\"HS256\",\"typ\":\"JWT\"}' | b64url); "
	      "p=$(printf '{\"exp\":%d,\"ssed\":{\"subscribe\":[\"chat.*\"]}}' 1700003600 | b64url); "
	      "s=$(printf '%s.%s' \"$h\" \"$p\" | openssl dgst -sha256 -mac HMAC "
	      "-macopt key:\"$(cat hmac)\" -binary | b64url); "
	      "printf '%s.%s.%s' \"$h\" \"$p\" \"$s\" > shell.jwt")) {
		tap_ok(0, "the shell recipe ran");
		return;
	}
	tok = read_all("shell.jwt", &len);
	tap_ok(verify(k, tok, NOW, &t) == 0 && t && access_may_subscribe(t, 1, &topic, &l, &refused) == 0 &&
	       access_token_expiry(t) == 1700003600, "a token made with openssl and the shell verifies: %s", err);
	access_token_free(t);
	free(tok);
}

static void test_reload(const struct access_key *k)
{
	struct access_token *t = NULL;
	struct access_key *k2;
	char *tok;

	write_file("hmac2", SECRET2, strlen(SECRET2));
	k2 = load("hmac2");
	tok = hs("{\"exp\":1700000100,\"ssed\":{\"subscribe\":[\"*\"]}}");
	verify(k, tok, NOW, &t);
	free(tok);
	tap_ok(t && k2, "a second key loads beside the first");
	if(!t || !k2)
		goto out;
	tap_ok(access_reverify(k, t, NOW + 50, err, sizeof(err)) == 0, "a stream's token still verifies under its key");
	tap_ok(access_reverify(k2, t, NOW + 50, err, sizeof(err)) == ACCESS_ESIG,
	       "under a new key it does not: %s", err);
	tap_ok(access_reverify(k, t, NOW + 100, err, sizeof(err)) == ACCESS_EEXPIRED,
	       "re-verification also checks exp");
out:
	access_token_free(t);
	access_key_free(k2);
}

static void test_request(void)
{
	const char *v;
	size_t len;
	struct access_source src;

#define COOKIE(h, name, want) \
	tap_ok(want ? access_cookie(h, name, &v, &len) == 0 && len == strlen(want ? want : "") && \
	              memcmp(v, want ? want : "", len) == 0 : access_cookie(h, name, &v, &len) == -1, \
	       "cookie %s in [%s]", name, h ? h : "(none)")
	COOKIE("ssed_token=abc", "ssed_token", "abc");
	COOKIE("a=1; ssed_token=abc.def.ghi; b=2", "ssed_token", "abc.def.ghi");
	COOKIE("a=1;ssed_token=x;b=2", "ssed_token", "x");
	COOKIE("  ssed_token = spaced  ; x=y", "ssed_token", "spaced");
	COOKIE("ssed_token=\"quoted\"", "ssed_token", "quoted");
	COOKIE("xssed_token=1; ssed_token=2", "ssed_token", "2");
	COOKIE("ssed_tokenx=1", "ssed_token", NULL);
	COOKIE("ssed_token=", "ssed_token", NULL);
	COOKIE("ssed_token=1; ssed_token=2", "ssed_token", "1");
	COOKIE("flag; ssed_token=z", "ssed_token", "z");
	COOKIE("a=ssed_token=q", "ssed_token", NULL);
	COOKIE("sess=1; tok=t9", "tok", "t9");
	COOKIE(NULL, "ssed_token", NULL);

#define BEARER(h, want) \
	tap_ok(want ? access_bearer(h, &v, &len) == 0 && len == strlen(want ? want : "") && \
	              memcmp(v, want ? want : "", len) == 0 : access_bearer(h, &v, &len) == -1, \
	       "bearer in [%s]", h ? h : "(none)")
	BEARER("Bearer abc.def", "abc.def");
	BEARER("bearer   abc  ", "abc");
	BEARER("BEARER\tx", "x");
	BEARER("Basic dXNlcjpwYXNz", NULL);
	BEARER("Bearer", NULL);
	BEARER("Bearer   ", NULL);
	BEARER("Bearerabc", NULL);
	BEARER(NULL, NULL);

	memset(&src, 0, sizeof(src));
	src.authorization = "Bearer hhh";
	src.cookie = "ssed_token=ccc";
	src.query = "qqq";
	tap_ok(access_find_token(&src, &v, &len) == ACCESS_FROM_HEADER && len == 3 && memcmp(v, "hhh", 3) == 0,
	       "the Authorization header comes first");
	src.authorization = "Basic zzz";
	tap_ok(access_find_token(&src, &v, &len) == ACCESS_FROM_COOKIE && memcmp(v, "ccc", 3) == 0,
	       "then the cookie");
	src.cookie = "other=1";
	tap_ok(access_find_token(&src, &v, &len) == ACCESS_FROM_NONE, "a query token is ignored unless enabled");
	src.query_ok = 1;
	tap_ok(access_find_token(&src, &v, &len) == ACCESS_FROM_QUERY && memcmp(v, "qqq", 3) == 0,
	       "and used when enabled");
	src.cookie = "other=1; mine=mmm";
	src.cookie_name = "mine";
	tap_ok(access_find_token(&src, &v, &len) == ACCESS_FROM_COOKIE && memcmp(v, "mmm", 3) == 0,
	       "the cookie's name is configurable");
}

static void test_origin(void)
{
	const char *allowed[] = { "https://app.example", "http://127.0.0.1:3000" };
	const char *any[] = { "*" };

	tap_ok(access_origin_ok("http://127.0.0.1:8080", NULL, 0, "127.0.0.1:8080", 0), "origin: same host and port");
	tap_ok(access_origin_ok("http://LOCALHOST", NULL, 0, "localhost:80", 0), "origin: default port, any case");
	tap_ok(access_origin_ok("https://h.example", NULL, 0, "h.example", 1), "origin: https on a TLS listener");
	tap_ok(!access_origin_ok("http://h.example", NULL, 0, "h.example", 1), "origin: http refused on TLS");
	tap_ok(!access_origin_ok("https://h.example", NULL, 0, "h.example", 0), "origin: https refused on plain");
	tap_ok(!access_origin_ok("http://127.0.0.1:8081", NULL, 0, "127.0.0.1:8080", 0), "origin: other port refused");
	tap_ok(!access_origin_ok("http://evil.example", NULL, 0, "h.example", 0), "origin: other host refused");
	tap_ok(!access_origin_ok("http://h.example.evil", NULL, 0, "h.example", 0), "origin: suffixed host refused");
	tap_ok(access_origin_ok("http://[::1]:8080", NULL, 0, "[::1]:8080", 0), "origin: IPv6 literal");
	tap_ok(!access_origin_ok("http://[::1]:8080", NULL, 0, "[::2]:8080", 0), "origin: other IPv6 refused");
	tap_ok(!access_origin_ok(NULL, NULL, 0, "h.example", 0), "origin: absent refused");
	tap_ok(!access_origin_ok("null", any, 1, "h.example", 0), "origin: null refused even with *");
	tap_ok(!access_origin_ok("http://h.example/path", NULL, 0, "h.example", 0), "origin: with a path refused");
	tap_ok(!access_origin_ok("http://h.example", NULL, 0, NULL, 0), "origin: no Host refused");
	tap_ok(access_origin_ok("https://app.example:443", allowed, 2, "other", 0), "origin: in the allowed list");
	tap_ok(access_origin_ok("http://127.0.0.1:3000", allowed, 2, "127.0.0.1:8080", 0),
	       "origin: allowed list, second entry");
	tap_ok(!access_origin_ok("http://127.0.0.1:8080", allowed, 2, "127.0.0.1:8080", 0),
	       "origin: with a list, the Host no longer counts");
	tap_ok(access_origin_ok("http://anything.example", any, 1, "h", 0), "origin: * allows any");
}

static void test_deadline(void)
{
	int64_t now = 1700000000000LL, exp = 1700003600LL, d, lo = now + 3600000LL * 8 / 10;
	uint32_t r = 12345;
	int i, inside = 1, spread = 0;

	tap_ok(access_deadline_ms(now, exp, 0) == exp * 1000, "deadline: r = 0 gives 100 %%");
	d = access_deadline_ms(now, exp, UINT32_MAX);
	tap_ok(d >= lo && d <= lo + 1, "deadline: the largest r gives 80 %% (%lld)", (long long)(d - now));
	for(i = 0; i < 10000; i++) {
		r = r * 1103515245u + 12345u;
		d = access_deadline_ms(now, exp, r);
		if(d < lo || d > exp * 1000)
			inside = 0;
		if(d < now + 3600000LL * 9 / 10)
			spread++;
	}
	tap_ok(inside, "deadline: always within 80-100 %% of the time left");
	tap_ok(spread > 4000 && spread < 6000, "deadline: spread evenly (%d of 10000 below 90 %%)", spread);
	tap_ok(access_deadline_ms(now, 0, r) == 0, "deadline: none without exp");
	tap_ok(access_deadline_ms(now, 1600000000LL, r) == now, "deadline: now when already expired");
}

int main(void)
{
	struct access_key *hk, *rk, *ek;
	char cmd[128];

	strcpy(dir, "/tmp/ssed-test-access-XXXXXX");
	if(!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	if(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key && "
	      "openssl pkey -in rsa.key -pubout -out rsa.pub && "
	      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.key && "
	      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key && "
	      "openssl pkey -in ec.key -pubout -out ec.pub && "
	      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec2.key && "
	      "openssl req -x509 -key ec.key -subj /CN=t -days 1 -out ec.crt")) {
		printf("Bail out! openssl could not make the test keys\n");
		return 1;
	}
	test_keys();
	hk = load("hmac");
	rk = load("rsa.pub");
	ek = load("ec.pub");
	if(!hk || !rk || !ek) {
		printf("Bail out! keys: %s\n", err);
		return 1;
	}
	test_grants(hk);
	test_times(hk);
	test_refusals(hk, rk, ek);
	test_shell_recipe(hk);
	test_reload(hk);
	test_request();
	test_origin();
	test_deadline();
	access_key_free(hk);
	access_key_free(rk);
	access_key_free(ek);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if(system(cmd))
		tap_diag("could not remove %s", dir);
	return tap_done();
}
