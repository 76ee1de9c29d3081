#!/usr/bin/env python3
"""Streams that watch a drain: when each one ends, and how. Standard
library only (selectors, non-blocking sockets).

  drain_clients.py HOST PORT PATH N SLICE

Opens N streams on PATH and one more connection that sends nothing yet.
Prints "ready" once every stream has its opening comment. From then on it
records the moment each stream's connection closes and whether the stream
ended cleanly first (the last chunk, "0\\r\\n\\r\\n"). When the first stream
ends (the drain has begun) it asks GET /healthz on the spare connection
and prints "healthz STATUS". When every stream is closed (or after 60 s)
it prints one line:

  closed C clean K span SECS slices S mean M max X

span: from the first close to the last; the span is cut into slices of
SLICE seconds, and mean and max are the closes per slice.
"""
import resource
import selectors
import socket
import sys
import time

LIMIT = 60  # seconds the whole run may take


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.opened = False
        self.closed_at = None
        self.clean = False


def main():
    host, port, path, n, slice_s = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                    int(sys.argv[4]), float(sys.argv[5]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    sel = selectors.DefaultSelector()
    req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(req)
        s.setblocking(False)
        c = Conn(s)
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    spare = socket.create_connection((host, port))
    start = time.monotonic()
    opened = 0
    open_left = n
    said_ready = asked = False
    health = b""
    while open_left and time.monotonic() - start < LIMIT:
        for key, _ in sel.select(1):
            c = key.data
            try:
                b = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            if not b:
                c.closed_at = time.monotonic()
                c.clean = c.buf.endswith(b"\r\n0\r\n\r\n")
                sel.unregister(c.sock)
                c.sock.close()
                open_left -= 1
                if not asked:
                    asked = True
                    spare.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                    spare.settimeout(10)
                    try:
                        health = spare.recv(4096)
                    except OSError:
                        health = b""
                    print("healthz " + (health.split(b" ")[1].decode() if b" " in health else "none"),
                          flush=True)
                continue
            c.buf = (c.buf + b)[-64:] if c.opened else c.buf + b
            if not c.opened and b": ssed" in c.buf:
                c.opened = True
                opened += 1
                if opened == n and not said_ready:
                    said_ready = True
                    print("ready", flush=True)
    times = sorted(c.closed_at for c in conns if c.closed_at is not None)
    clean = sum(1 for c in conns if c.clean)
    if not times:
        print(f"closed 0 clean 0 span 0 slices 0 mean 0 max 0", flush=True)
        return 1
    span = times[-1] - times[0]
    slices = max(1, int(span / slice_s + 0.999))
    counts = [0] * slices
    for t in times:
        counts[min(slices - 1, int((t - times[0]) / slice_s))] += 1
    print(f"closed {len(times)} clean {clean} span {span:.2f} slices {slices} "
          f"mean {len(times) / slices:.1f} max {max(counts)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
