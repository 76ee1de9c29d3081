/*
 * access.h - per-topic access with signed tokens (JWT).
 *
 * A key (access_key_load) is either an HMAC secret or a PEM public key, and
 * its kind alone decides which algorithms a token may name:
 *   HMAC secret (any file that is not PEM, at least 32 bytes once one
 *     trailing line end is removed):          HS256, HS384, HS512
 *   RSA public key ("BEGIN PUBLIC KEY"):       RS256, RS384, RS512
 *   EC public key on P-256 / P-384 / P-521:    ES256 / ES384 / ES512
 * "none" is never accepted, and a token naming HS256 is refused under a
 * public key (the algorithm confusion where the public key's PEM text is
 * used as an HMAC secret). A file holding a private key or a certificate
 * is refused with a message saying what to give instead.
 *
 * A verified token (access_verify) carries its grants, the claim
 *   "ssed": {"publish": ["a", "chat.*"], "subscribe": ["*"]}
 * Each entry is a topic name, or a prefix followed by one '*' at its end
 * ("chat.*" matches every topic starting with "chat.", "*" every topic).
 * A missing "ssed" claim or list grants nothing; a malformed one makes the
 * token invalid. "exp" and "nbf" (numbers, seconds since the epoch) are
 * checked against the caller's clock: valid while nbf <= now < exp. A
 * token without "exp" does not expire. A header or payload naming one
 * member twice is malformed; so is a header with "crit".
 *
 * An HS256 token with standard tools (tests/unit/test_access.c runs this;
 * the secret is on openssl's command line while it runs):
 *   b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
 *   h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
 *   p=$(printf '{"exp":%d,"ssed":{"subscribe":["chat.*"]}}' \
 *       $(($(date +%s) + 3600)) | b64url)
 *   s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC \
 *       -macopt key:"$(cat secret)" -binary | b64url)
 *   echo "$h.$p.$s"
 *
 * Errors: functions that can fail return 0 or a negative enum access_err
 * and fill a caller's err[] with one line. No token, secret or key text
 * ever appears in err[]: at most a file name and what was wrong.
 *
 * Threads: a key and a token handle are immutable once made; any number of
 * threads may verify with one key and check one token at the same time.
 * Swapping the key a server uses (on SIGHUP) is the caller's business;
 * access_reverify() tells whether a stream's token still verifies under the
 * new key, so streams that no longer do can be ended.
 *
 * The request helpers below are pure functions of header values, so the
 * HTTP layer passes what libmicrohttpd gives it and the rules are tested
 * here without a server.
 */
#ifndef SSED_ACCESS_H
#define SSED_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#define ACCESS_TOKEN_MAX 8192      /* bytes in a token */
#define ACCESS_KEY_FILE_MAX 65536  /* bytes in a key file */
#define ACCESS_GRANTS_MAX 1024     /* entries in one publish or subscribe list */
#define ACCESS_PATTERN_MAX 256     /* bytes in one entry */
#define ACCESS_HMAC_MIN 32         /* bytes in an HMAC secret (RFC 7518 3.2) */
#define ACCESS_COOKIE_DEFAULT "ssed_token"

enum access_err {
	ACCESS_OK = 0,
	ACCESS_ENOMEM = -1,
	ACCESS_EKEY = -2,       /* key file unreadable or unusable */
	ACCESS_EMALFORMED = -3, /* not a well-formed signed JWT */
	ACCESS_EALG = -4,       /* algorithm not accepted with this key */
	ACCESS_ESIG = -5,       /* signature does not verify */
	ACCESS_EEXPIRED = -6,   /* now >= exp */
	ACCESS_ENOTYET = -7,    /* now < nbf */
	ACCESS_ECLAIM = -8      /* exp, nbf or the "ssed" claim malformed */
};

/* access_strerror - a constant string for an enum access_err. */
const char *access_strerror(int err);

enum access_key_kind { ACCESS_KEY_HMAC, ACCESS_KEY_RSA, ACCESS_KEY_EC };

struct access_key;
struct access_token;

/*
 * access_key_load - read the key file at path (see the top of this file
 * for what it may hold). Returns a new key, or NULL with err filled
 * ("PATH: why"). Each call makes a new object: a reload loads the renewed
 * file and the caller swaps pointers; the old key stays valid until freed.
 */
struct access_key *access_key_load(const char *path, char *err, size_t errlen);

/* access_key_free - free it, wiping the secret; NULL is fine. The caller
 * makes sure no thread still verifies with it. */
void access_key_free(struct access_key *k);

/* access_key_kind - what kind of key k is. */
enum access_key_kind access_key_kind(const struct access_key *k);

/*
 * access_verify - verify the len bytes at token (not NUL-terminated) with
 * key k at time now (seconds since the epoch): form, algorithm, signature,
 * exp, nbf and the "ssed" claim. Returns 0 and a new handle in *out (free
 * with access_token_free), or a negative enum access_err with err filled.
 */
int access_verify(const struct access_key *k, const char *token, size_t len,
                  int64_t now, struct access_token **out, char *err, size_t errlen);

/*
 * access_reverify - whether token t (made by access_verify under any key)
 * still verifies under key k at time now: 0, or a negative enum access_err
 * with err filled. The grants in t are unchanged either way.
 */
int access_reverify(const struct access_key *k, const struct access_token *t,
                    int64_t now, char *err, size_t errlen);

/* access_token_free - free it, wiping the token's text; NULL is fine. */
void access_token_free(struct access_token *t);

/* access_token_expiry - the token's exp (seconds since the epoch), or 0
 * when it has none. */
int64_t access_token_expiry(const struct access_token *t);

/* access_may_publish - non-zero when t grants publishing to the topic
 * (len bytes at topic). */
int access_may_publish(const struct access_token *t, const char *topic, size_t len);

/*
 * access_may_subscribe - which of the n topics (topics[i], lens[i] bytes)
 * t does not grant subscribing to. A stream merging several topics needs
 * every one. Writes the indexes refused, in order, to refused[] (room for
 * n) and returns how many: 0 means allowed.
 */
size_t access_may_subscribe(const struct access_token *t, size_t n,
                            const char *const *topics, const size_t *lens,
                            size_t *refused);

/* ---- Request helpers: pure functions of header values. */

/*
 * access_bearer - the token in an Authorization header value: the scheme
 * "Bearer" (any case), one or more spaces, then the token up to trailing
 * white space. Returns 0 with *tok, *len pointing into value, or -1 when
 * value is NULL, another scheme or empty.
 */
int access_bearer(const char *value, const char **tok, size_t *len);

/*
 * access_cookie - the value of cookie name in a Cookie header value
 * ("a=1; b=2", spaces around ';' and '=' tolerated, a value in double
 * quotes given without them). The first cookie of that name wins. Returns
 * 0 with *val, *len pointing into header, or -1 when absent or empty.
 */
int access_cookie(const char *header, const char *name, const char **val, size_t *len);

/* Where a request's token was found. */
enum access_from {
	ACCESS_FROM_NONE = 0,
	ACCESS_FROM_HEADER,   /* Authorization: Bearer */
	ACCESS_FROM_COOKIE,   /* publishing then needs access_origin_ok() */
	ACCESS_FROM_QUERY     /* only when query_ok */
};

struct access_source {
	const char *authorization;  /* header values, NULL when absent */
	const char *cookie;
	const char *query;          /* the query parameter's decoded value */
	const char *cookie_name;    /* NULL: ACCESS_COOKIE_DEFAULT */
	int query_ok;               /* the user turned query tokens on */
};

/*
 * access_find_token - the request's token: a Bearer Authorization header
 * first, then the cookie, then the query parameter if query_ok. Returns
 * where it came from, with *tok, *len pointing into src's strings, or
 * ACCESS_FROM_NONE.
 */
enum access_from access_find_token(const struct access_source *src,
                                   const char **tok, size_t *len);

/*
 * access_origin_ok - whether a publish authorised by a cookie comes from
 * an allowed page (CSRF): origin is the Origin header value (NULL when
 * absent: refused; "null": refused). With nallowed > 0 it must equal one of
 * allowed[] ("scheme://host[:port]", default ports and case ignored), or
 * one of them is "*". With none, it must name the same host and port as
 * the Host header value host, with scheme https when tls, else http.
 * Returns non-zero when allowed.
 */
int access_origin_ok(const char *origin, const char *const *allowed, size_t nallowed,
                     const char *host, int tls);

/*
 * access_deadline_ms - when a stream on a token expiring at exp_s
 * (seconds) ends, spread so that clients do not reconnect together: now_ms
 * plus 80 to 100 % of the time left, chosen by r (uniform over uint32_t:
 * 0 gives 100 %, UINT32_MAX just over 80 %). Returns 0 when exp_s is 0 (no
 * expiry), now_ms when already expired.
 */
int64_t access_deadline_ms(int64_t now_ms, int64_t exp_s, uint32_t r);

#endif
