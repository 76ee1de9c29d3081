/*
 * tls.h - the certificate ssed serves HTTPS with, renewed without a restart,
 * and how a stream's bytes go through a connection's TLS session.
 *
 * Certificates. tls_new() loads --tls-cert (PEM, the leaf first, then any
 * chain) and --tls-key (PEM) into a GnuTLS credentials object, one
 * "generation". tls_reload() (on SIGHUP) loads the files again into a new
 * generation and makes it current; if they cannot be read or do not match,
 * the current generation stays and err says why in one line.
 *
 * How new connections get the renewed certificate. libmicrohttpd creates
 * each connection's GnuTLS session with its own credentials object, made
 * once at start. MHD_OPTION_HTTPS_CERT_CALLBACK could pick a certificate
 * per handshake, but its callback (gnutls_certificate_retrieve_function2)
 * has no closure argument, so it would need file-scope state, and what it
 * returns must outlive a handshake gnutls gives no end signal for. So ssed
 * replaces the session's credentials instead: in its
 * MHD_OPTION_NOTIFY_CONNECTION callback, at MHD_CONNECTION_NOTIFY_STARTED,
 * it calls tls_attach(), which sets the current generation on the
 * connection's session (gnutls_credentials_set) before any handshake byte
 * is read: libmicrohttpd 0.9.75 calls STARTED after gnutls_init and
 * gnutls_credentials_set (daemon.c new_connection_prepare_ then
 * new_connection_process_), in the thread that will run the handshake.
 * libmicrohttpd still needs a certificate source at start: pass
 *   MHD_OPTION_HTTPS_CERT_CALLBACK, tls_mhd_fallback
 * which refuses every handshake, so a connection that was not attached
 * fails closed rather than being served some other certificate.
 *
 * The lifetime rule: reference counts. A generation is held by the tls
 * object while it is current, and by every connection attached to it from
 * STARTED until MHD_CONNECTION_NOTIFY_CLOSED, where the caller calls
 * tls_detach(). A gnutls session uses its credentials only while it
 * exists, and libmicrohttpd deinitialises the session before CLOSED (or,
 * on its early-failure path, just after it, without touching the
 * credentials). So a handshake on any thread always has its generation
 * alive, however many reloads happen meanwhile; an old generation is
 * freed when its last connection closes. Open streams keep their session
 * and are never dropped by a reload.
 *
 * Delivery threads. After the headers, ssed's delivery threads write a
 * stream's bytes themselves while libmicrohttpd keeps the connection
 * suspended. For a TLS connection they must write through its session,
 * never to the socket: tls_session() gives it (MHD_get_connection_info
 * with MHD_CONNECTION_INFO_GNUTLS_SESSION; NULL for plain HTTP), and
 * tls_write() sends through it. What makes that sound, from libmicrohttpd
 * 0.9.75's source (daemon.c internal_suspend_connection_,
 * MHD_cleanup_connections, send_tls_adapter):
 * - A suspended connection is off the daemon's lists, its epoll set and its
 *   timeout lists: libmicrohttpd neither reads, writes, times out nor
 *   closes it, so the session has one user, the delivery thread. The
 *   hand-over (a queue under a mutex) and the return (the delivery thread
 *   stops touching the session, then calls MHD_resume_connection, which
 *   takes libmicrohttpd's mutex) order every access between the threads.
 * - libmicrohttpd calls the content reader again only once its write
 *   buffer is empty, so at the hand-over no record is half sent in GnuTLS.
 * - gnutls_record_send() takes at most one record (16 KiB) per call, so a
 *   large buffer takes several calls. When the socket is full it returns
 *   GNUTLS_E_AGAIN and keeps the record half sent inside the session: the
 *   next call must pass the same data and length (tls_write returns 0 for
 *   this). The delivery thread therefore keeps those bytes unchanged until
 *   they are taken, waits for EPOLLOUT, and calls again; coalescing still
 *   works, because the next call may pass more bytes only after the
 *   pending ones are taken. A chunk header and its data should go out in
 *   one buffer (or between gnutls_record_cork and _uncork), not in two
 *   calls, or each becomes a record of its own.
 * - Before resuming for a clean end (libmicrohttpd then writes the last
 *   chunk through the same session), nothing may be half sent; for an end
 *   by error it does not matter, the connection is closed.
 * - The delivery thread must not read the raw socket (the bytes are TLS
 *   records libmicrohttpd may still need); EPOLLRDHUP / EPOLLHUP / EPOLLERR
 *   tell it the peer went away, as for plain HTTP.
 * tests/unit/test_tls.c runs exactly this against a real daemon.
 *
 * Threads: tls_attach, tls_detach, tls_reload and tls_not_after may run on
 * any threads at once. tls_free only once no connection is attached (after
 * MHD_stop_daemon).
 */
#ifndef SSED_TLS_H
#define SSED_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

struct tls;
struct tls_creds;

/*
 * tls_new - load cert_path (PEM chain) and key_path (PEM private key).
 * Returns the object, or NULL with err filled ("FILE: why"). The paths are
 * copied: tls_reload() reads the same paths again.
 */
struct tls *tls_new(const char *cert_path, const char *key_path, char *err, size_t errlen);

/*
 * tls_reload - load the files again and make them current for new
 * connections. Returns 0, or -1 with err filled (one line, the file and
 * why) and the current certificate unchanged.
 */
int tls_reload(struct tls *t, char *err, size_t errlen);

/* tls_free - free it; every connection must be detached. NULL is fine. */
void tls_free(struct tls *t);

/* tls_not_after - when the current leaf certificate expires (seconds
 * since the epoch), for logging. */
int64_t tls_not_after(struct tls *t);

/*
 * tls_attach - from the MHD_OPTION_NOTIFY_CONNECTION callback at
 * MHD_CONNECTION_NOTIFY_STARTED: give connection c's session the current
 * certificate. Returns the generation it now holds, for tls_detach() at
 * MHD_CONNECTION_NOTIFY_CLOSED (keep it in the socket context), or NULL
 * when c is not a TLS connection or the session refused the credentials
 * (the handshake then fails through tls_mhd_fallback).
 */
struct tls_creds *tls_attach(struct tls *t, struct MHD_Connection *c);

/* tls_detach - release what tls_attach returned; NULL is fine. */
void tls_detach(struct tls_creds *g);

/* tls_mhd_fallback - for MHD_OPTION_HTTPS_CERT_CALLBACK: refuses every
 * handshake (only a connection tls_attach missed gets here). */
int tls_mhd_fallback(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
                     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                     gnutls_pcert_st **pcert, unsigned int *pcert_length,
                     gnutls_privkey_t *privkey);

/* tls_session - connection c's TLS session, or NULL for plain HTTP. */
gnutls_session_t tls_session(struct MHD_Connection *c);

/*
 * tls_write - send up to len bytes of buf through session s (its socket
 * non-blocking). Returns the bytes taken (at most one record's worth, so
 * call again for the rest), 0 when the socket is full (a record may be
 * half sent: wait for EPOLLOUT and call again with the same buf and len),
 * or -1 when the connection failed.
 */
ssize_t tls_write(gnutls_session_t s, const void *buf, size_t len);

#endif
