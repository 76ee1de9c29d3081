/*
 * test_tls.c - cmd/ssed/tls.c against a real libmicrohttpd daemon over TLS
 * on 127.0.0.1, with certificates openssl makes here, and a GnuTLS client.
 *
 * It proves what tls.h claims: a stream's connection is suspended after
 * its headers and opening bytes, another thread writes chunks through the
 * connection's TLS session (one of them far larger than the socket buffers,
 * so gnutls_record_send returns GNUTLS_E_AGAIN and is called again with the
 * same data), and after the resume libmicrohttpd ends the stream through
 * the same session: the client reads every byte, in order, and the TLS
 * layer (which authenticates every record) never fails. Meanwhile the
 * certificate is renewed: new connections get the new one, the open stream
 * goes on, and a renewal that cannot be read keeps the last good one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../cmd/ssed/tls.h"
#include "tap.h"

#define BIG (1 << 20)

static char dir[64];
static struct tls *tls;

struct stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct MHD_Connection *conn;
	int phase;      /* 0 opening, 1 handed over, 2 done */
	int go;         /* main says: write the rest */
	int suspended;  /* the reader suspended the connection */
	int blocked;    /* the writer met a full socket */
	int eagain, failed;
};

static struct stream st = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0 };

static void deadline_in(struct timespec *ts, int s)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += s;
}

/* Wait (10 s at most) until *flag is set; st.mu held. */
static int wait_flag(int *flag)
{
	struct timespec until;

	deadline_in(&until, 10);
	while(!*flag && pthread_cond_timedwait(&st.cv, &st.mu, &until) == 0)
		;
	return *flag;
}

static void set_flag(int *flag, int v)
{
	pthread_mutex_lock(&st.mu);
	*flag = v;
	pthread_cond_broadcast(&st.cv);
	pthread_mutex_unlock(&st.mu);
}

/* ---- The server side */

static void notify(void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe)
{
	if(!cls)
		return;   /* the daemon that does not attach */
	if(toe == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = tls_attach(cls, c);
	else
		tls_detach(*socket_context);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	int phase;

	(void)cls, (void)pos;
	pthread_mutex_lock(&st.mu);
	phase = st.phase;
	if(phase == 1) {
		/* Handed over: libmicrohttpd's write buffer is empty now. */
		MHD_suspend_connection(st.conn);
		st.suspended = 1;
		pthread_cond_broadcast(&st.cv);
	}
	pthread_mutex_unlock(&st.mu);
	if(phase == 0) {
		set_flag(&st.phase, 1);
		if(max < 8)
			return 0;
		memcpy(buf, "opening\n", 8);
		return 8;
	}
	return phase == 2 ? MHD_CONTENT_READER_END_OF_STREAM : 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls, (void)method, (void)version, (void)upload, (void)upload_size;
	if(!*req) {
		*req = c;
		return MHD_YES;
	}
	if(strcmp(url, "/stream") == 0) {
		pthread_mutex_lock(&st.mu);
		st.conn = c;
		pthread_mutex_unlock(&st.mu);
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, reader, NULL, NULL);
	} else {
		r = MHD_create_response_from_buffer(5, "hello", MHD_RESPMEM_PERSISTENT);
	}
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static struct MHD_Daemon *start(struct tls *t, int *port)
{
	struct sockaddr_in sa;
	struct MHD_Daemon *d;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME,
	                     0, NULL, NULL, handler, NULL,
	                     MHD_OPTION_SOCK_ADDR, &sa,
	                     MHD_OPTION_HTTPS_CERT_CALLBACK, tls_mhd_fallback,
	                     MHD_OPTION_NOTIFY_CONNECTION, notify, t,
	                     MHD_OPTION_END);
	if(d)
		*port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	return d;
}

/* Send all of buf through s, the way a delivery thread would. */
static int write_all(gnutls_session_t s, int fd, const char *buf, size_t len)
{
	struct pollfd p = { fd, POLLOUT, 0 };
	size_t off = 0;
	ssize_t n;
	int waits = 0;

	while(off < len) {
		n = tls_write(s, buf + off, len - off);
		if(n < 0)
			return -1;
		if(n > 0) {
			off += (size_t)n;
			continue;
		}
		/* Full: same buf + off and len - off again once writable. */
		st.eagain++;
		set_flag(&st.blocked, 1);
		if(++waits > 100000 || poll(&p, 1, 10000) != 1)
			return -1;
	}
	return 0;
}

static void *writer(void *arg)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	static char big[BIG + 32];
	int fd, small = 4096, n;

	(void)arg;
	/* The reader suspends on its second call, the hand-over. */
	pthread_mutex_lock(&st.mu);
	if(!wait_flag(&st.suspended)) {
		st.failed = 1;
		pthread_mutex_unlock(&st.mu);
		return NULL;
	}
	pthread_mutex_unlock(&st.mu);
	s = tls_session(st.conn);
	ci = MHD_get_connection_info(st.conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if(!s || !ci) {
		st.failed = 1;
		return NULL;
	}
	fd = ci->connect_fd;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if(write_all(s, fd, "d\r\ndata: first\n\n\r\n", 18))
		st.failed = 1;
	pthread_mutex_lock(&st.mu);
	wait_flag(&st.go);
	pthread_mutex_unlock(&st.mu);
	n = snprintf(big, sizeof(big), "%x\r\n", BIG);
	memset(big + n, 'x', BIG);
	memcpy(big + n + BIG, "\r\n", 2);
	if(write_all(s, fd, "e\r\ndata: second\n\n\r\n", 19) || write_all(s, fd, big, (size_t)n + BIG + 2))
		st.failed = 1;
	/* Nothing half sent: libmicrohttpd may write the last chunk. */
	set_flag(&st.phase, 2);
	MHD_resume_connection(st.conn);
	return NULL;
}

/* ---- The client side */

static gnutls_certificate_credentials_t client_cred;

static int connect_tls(int port, int small, gnutls_session_t *out, int *fdp)
{
	struct timeval tv = { 10, 0 };
	struct sockaddr_in sa;
	gnutls_session_t s;
	int fd, rc, tries = 0;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if(small)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if(connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, client_cred);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 10000);
	do
		rc = gnutls_handshake(s);
	while(rc < 0 && !gnutls_error_is_fatal(rc) && ++tries < 100);
	if(rc < 0) {
		gnutls_deinit(s);
		close(fd);
		return -1;
	}
	*out = s;
	*fdp = fd;
	return 0;
}

static void disconnect(gnutls_session_t s, int fd)
{
	gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	close(fd);
}

/* Read into buf (len so far) until it holds needle; 10 s at most. */
static int read_until(gnutls_session_t s, char *buf, size_t cap, size_t *len, const char *needle)
{
	time_t end = time(NULL) + 10;
	ssize_t n;

	while(!memmem(buf, *len, needle, strlen(needle))) {
		if(time(NULL) > end || *len == cap)
			return -1;
		n = gnutls_record_recv(s, buf + *len, cap - *len);
		if(n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if(n <= 0)
			return -1;
		*len += (size_t)n;
	}
	return 0;
}

/* The DER of the first certificate in PEM file name. */
static int der_of(const char *name, gnutls_datum_t *der)
{
	char path[128];
	gnutls_datum_t pem;
	gnutls_x509_crt_t crt;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if(gnutls_load_file(path, &pem) < 0)
		return -1;
	gnutls_x509_crt_init(&crt);
	rc = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM);
	if(rc == 0)
		rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, der);
	gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);
	return rc;
}

/* Whether the server presented name's certificate first, and n in all. */
static int presents(gnutls_session_t s, const char *name, unsigned n)
{
	const gnutls_datum_t *peers;
	gnutls_datum_t want;
	unsigned got = 0;
	int ok;

	peers = gnutls_certificate_get_peers(s, &got);
	if(!peers || der_of(name, &want))
		return 0;
	ok = got == n && peers[0].size == want.size && memcmp(peers[0].data, want.data, want.size) == 0;
	gnutls_free(want.data);
	return ok;
}

/* A fresh connection: GET /hello, and which certificate it saw. */
static int hello_with(int port, const char *name, unsigned n)
{
	static const char req[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	char buf[4096];
	size_t len = 0;
	gnutls_session_t s;
	int fd, ok;

	if(connect_tls(port, 0, &s, &fd))
		return 0;
	ok = presents(s, name, n) && gnutls_record_send(s, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1 &&
	     read_until(s, buf, sizeof(buf), &len, "\r\n\r\nhello") == 0;
	disconnect(s, fd);
	return ok;
}

static int sh(const char *cmd)
{
	char line[1536];

	snprintf(line, sizeof(line), "cd %s && { %s; } >/dev/null 2>&1", dir, cmd);
	return system(line);
}

static char *path(const char *name)
{
	static char p[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void test_load(void)
{
	char err[256];
	struct tls *t;

	t = tls_new(path("c1.crt"), path("c1.key"), err, sizeof(err));
	tap_ok(t && tls_not_after(t) > (int64_t)time(NULL), "a chain and its key load, with the leaf's expiry");
	tls_free(t);
	t = tls_new(path("missing.crt"), path("c1.key"), err, sizeof(err));
	tap_ok(!t && strstr(err, "missing.crt") && strstr(err, "No such file"),
	       "a missing certificate is named: %s", err);
	t = tls_new(path("c1.crt"), path("c2.key"), err, sizeof(err));
	tap_ok(!t && strstr(err, "c2.key") && !strchr(err, '\n'), "a key that does not match is refused: %s", err);
	t = tls_new(path("junk"), path("c1.key"), err, sizeof(err));
	tap_ok(!t && strstr(err, "junk"), "a file that is not PEM is refused: %s", err);
}

int main(void)
{
	static const char get[] = "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	static char buf[BIG + 4096], want[BIG + 256];
	char err[256], *body;
	struct MHD_Daemon *d;
	gnutls_session_t a;
	pthread_t wt;
	size_t len = 0, wlen;
	int port, fd, ok;

	signal(SIGPIPE, SIG_IGN);
	strcpy(dir, "/tmp/ssed-test-tls-XXXXXX");
	if(!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
#define EC "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	if(sh("openssl req -x509 " EC " -keyout ca.key -out ca.crt -subj /CN=test-ca -days 2 && "
	      "openssl req " EC " -keyout c1.key -out c1.csr -subj /CN=localhost && "
	      "openssl x509 -req -in c1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out c1.leaf && "
	      "cat c1.leaf ca.crt > c1.crt && "
	      "openssl req -x509 " EC " -keyout c2.key -out c2.crt -subj /CN=localhost -days 2 && "
	      "echo not a certificate > junk && cp c1.crt srv.crt && cp c1.key srv.key")) {
		printf("Bail out! openssl could not make the test certificates\n");
		return 1;
	}
	gnutls_certificate_allocate_credentials(&client_cred);
	test_load();

	tls = tls_new(path("srv.crt"), path("srv.key"), err, sizeof(err));
	d = tls ? start(tls, &port) : NULL;
	if(!d) {
		printf("Bail out! no TLS daemon: %s\n", tls ? "MHD_start_daemon" : err);
		return 1;
	}
	tap_ok(hello_with(port, "c1.leaf", 2), "HTTPS with the loaded chain (leaf and CA)");

	/* A stream, handed to the writer thread after its opening bytes. */
	if(pthread_create(&wt, NULL, writer, NULL)) {
		printf("Bail out! no thread\n");
		return 1;
	}
	ok = connect_tls(port, 4096, &a, &fd) == 0;
	ok = ok && gnutls_record_send(a, get, sizeof(get) - 1) == (ssize_t)sizeof(get) - 1;
	ok = ok && read_until(a, buf, sizeof(buf), &len, "data: first\n\n\r\n") == 0;
	tap_ok(ok, "a stream's first chunk, written by another thread through the TLS session, arrives");

	/* Renewal while the stream is open. */
	sh("cp c2.crt srv.crt.new && cp c2.key srv.key.new && mv srv.key.new srv.key && mv srv.crt.new srv.crt");
	err[0] = '\0';
	tap_ok(tls_reload(tls, err, sizeof(err)) == 0, "a renewed certificate loads%s", err);
	tap_ok(hello_with(port, "c2.crt", 1), "a new connection gets the renewed certificate");
	sh("echo broken > srv.crt");
	err[0] = '\0';
	tap_ok(tls_reload(tls, err, sizeof(err)) == -1 && strstr(err, "srv.crt") && !strchr(err, '\n'),
	       "a renewal that cannot be read is refused in one line: %s", err);
	sh("cp c2.crt srv.crt && rm srv.key");
	tap_ok(tls_reload(tls, err, sizeof(err)) == -1 && strstr(err, "srv.key: No such file"),
	       "a missing key is named: %s", err);
	tap_ok(hello_with(port, "c2.crt", 1), "and the last good certificate stays in use");

	/* The rest of the stream, far more than the socket buffers hold. */
	set_flag(&st.go, 1);
	pthread_mutex_lock(&st.mu);
	wait_flag(&st.blocked);
	pthread_mutex_unlock(&st.mu);
	ok = ok && read_until(a, buf, sizeof(buf), &len, "\r\n0\r\n\r\n") == 0;
	pthread_join(wt, NULL);
	wlen = (size_t)snprintf(want, sizeof(want), "8\r\nopening\n\r\nd\r\ndata: first\n\n\r\n"
	                        "e\r\ndata: second\n\n\r\n%x\r\n", BIG);
	memset(want + wlen, 'x', BIG);
	wlen += BIG;
	memcpy(want + wlen, "\r\n0\r\n\r\n", 7);
	wlen += 7;
	body = memmem(buf, len, "\r\n\r\n", 4);
	tap_ok(ok && !st.failed && strncmp(buf, "HTTP/1.1 200", 12) == 0 && body &&
	       len - (size_t)(body + 4 - buf) == wlen && memcmp(body + 4, want, wlen) == 0,
	       "the open stream survives the renewals and ends through libmicrohttpd: every byte in order");
	tap_ok(st.eagain > 0, "the writer met a full socket (GNUTLS_E_AGAIN) %d times and went on", st.eagain);
	if(ok)
		disconnect(a, fd);
	MHD_stop_daemon(d);
	tls_free(tls);

	/* Without tls_attach, no handshake succeeds. */
	d = start(NULL, &port);
	tap_ok(d && connect_tls(port, 0, &a, &fd) == -1, "a connection not attached fails closed");
	if(d)
		MHD_stop_daemon(d);

	gnutls_certificate_free_credentials(client_cred);
	snprintf(buf, sizeof(buf), "rm -rf %s", dir);
	if(system(buf))
		tap_diag("could not remove %s", dir);
	return tap_done();
}
