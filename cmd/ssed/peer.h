/*
 * peer.h - who a request comes from, as the log names it: the connection's
 * peer address, or, on a connection from a proxy ssed was told to trust
 * (--trust-proxy), the client address that proxy passed on.
 */
#ifndef SSED_PEER_H
#define SSED_PEER_H

#include <microhttpd.h>
#include <stddef.h>

#define PEER_NAME_MAX 160

/*
 * peer_trust_ok - whether spec may be given to --trust-proxy: a numeric
 * IPv4 or IPv6 address, or "unix" (a proxy on a Unix socket listener).
 */
int peer_trust_ok(const char *spec);

/*
 * peer_name - write into out (n bytes, PEER_NAME_MAX is enough) how the
 * log names the client of c: its numeric address ("unix" on a Unix
 * socket). When trusted (a spec peer_trust_ok() accepted; NULL: trust no
 * one) is the peer's own address and the request has X-Forwarded-For, the
 * last entry of that header (the one the proxy added; entries before it
 * are the client's own word) comes first: "CLIENT via PROXY". An entry
 * that is not made of the characters of an address, or is longer than 64,
 * is shown as "?", so a client cannot write into the log.
 * Thread-safe; reads the request's headers, so call it from the request
 * handler.
 */
void peer_name(struct MHD_Connection *c, const char *trusted, char *out, size_t n);

#endif
