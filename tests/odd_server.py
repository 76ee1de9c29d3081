#!/usr/bin/env python3
"""A scripted HTTP server for streams ssed would never send. Listens on
127.0.0.1, an ephemeral port, printed as "port N" once it is ready.

Paths:
  /wrongtype     200 with Content-Type text/plain
  /204           204 No Content
  /404           404 with a one-line reason
  /json          awkward events (control characters, quotes, invalid UTF-8, emoji), then EOF
  /retry         1st: retry: 150, id 1, EOF; 2nd: id 2, EOF; then 204
  /stuck         one event, then silence
  /gap           an ssed-gap event, then one event, then EOF
  /log           what /retry saw: one line per connection: "<ms since start> <Last-Event-ID>"
  /retry0        retry: 0 and a comment, then EOF: no event, ever
  /close         reads the request, closes without a reply
  /redirect/N    N redirects (301, 302, 303, 307, 308 in turn), then /json
  /loop          a redirect to itself
  /big?n=BYTES   id 1, one event of BYTES bytes of data, then EOF
  /count?p=PATH  how many GETs PATH has had
  POST anything  200 with "1" (a publish that took one event)

odd_server.py --tls CERT KEY serves the same over HTTPS.
"""
import http.server
import ssl
import sys
import threading
import time

START = time.monotonic()
LOG = []
COUNT = {}
LOCK = threading.Lock()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def stream(self, body, close=True):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def simple(self, code, ctype, body):
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if code != 204:
            self.wfile.write(body)

    def do_GET(self):
        p = self.path.split("?")[0]
        with LOCK:
            COUNT[p] = COUNT.get(p, 0) + 1
            n = COUNT[p]
        if p == "/retry0":
            self.stream(b"retry: 0\n: nothing\n\n")
        elif p == "/close":
            self.close_connection = True
        elif p.startswith("/redirect/"):
            left = int(p.split("/")[2])
            codes = [301, 302, 303, 307, 308]
            self.send_response(codes[left % 5])
            self.send_header("Location", "/redirect/%d" % (left - 1) if left > 1 else "/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p == "/big":
            size = int(self.path.split("n=")[1])
            self.stream(b"id: 1\ndata: " + b"x" * size + b"\n\n")
        elif p == "/count":
            want = self.path.split("p=")[1]
            with LOCK:
                self.simple(200, "text/plain", b"%d\n" % COUNT.get(want, 0))
        elif p == "/wrongtype":
            self.simple(200, "text/plain", b"data: not a stream\n\n")
        elif p == "/204":
            self.simple(204, "", b"")
        elif p == "/404":
            self.simple(404, "text/plain", b"no such stream\n")
        elif p == "/json":
            self.stream(b'data: q"\\\x01\x1f\x7f\t\n\n'
                        b"data: \xff\xfe bad\n\n"
                        b"data: \xf0\x9f\x98\x80\n\n"
                        b"event: t\nid: 7\ndata: a\ndata: b\n\n")
        elif p == "/retry":
            with LOCK:
                LOG.append("%d %s" % ((time.monotonic() - START) * 1000,
                                      self.headers.get("Last-Event-ID", "-")))
            if n == 1:
                self.stream(b"retry: 150\nid: 1\ndata: one\n\n")
            elif n == 2:
                self.stream(b"id: 2\ndata: two\n\n")
            else:
                self.simple(204, "", b"")
        elif p == "/stuck":
            self.stream(b"data: x\n\n")
            time.sleep(30)
        elif p == "/gap":
            self.stream(b"event: ssed-gap\ndata: 41\n\nid: 50\ndata: after\n\n")
        elif p == "/log":
            with LOCK:
                self.simple(200, "text/plain", ("\n".join(LOG) + "\n").encode())
        else:
            self.simple(404, "text/plain", b"not found\n")


    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
        self.simple(200, "text/plain", b"1\n")


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("port", srv.server_address[1], flush=True)
    threading.Timer(120, srv.shutdown).start()  # never outlive a test run
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
