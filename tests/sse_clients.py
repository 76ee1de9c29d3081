#!/usr/bin/env python3
"""Raw-socket clients for the bats suites: many streams at once, a stalled
reader, and hand-made (bad) HTTP requests. Standard library only.

  sse_clients.py many HOST PORT PATH N COUNT   N streams; each must get data 1..COUNT in order
                                               (each number may be followed by a space and more)
  sse_clients.py stall HOST PORT PATH          subscribe, then never read
  sse_clients.py raw HOST PORT HEX             send bytes, print the status line
  sse_clients.py slowloris HOST PORT SECS      a header line every SECS, never the end; print the outcome

openings(), fd_count() and wait_until() are for the tests' own Python
(import them from here).

'many' prints "ready" once every stream is open (after its opening
comment), then waits for the events and prints "ok N COUNT" or the first
problem; it exits 0 only when every stream got every event once, in order.
"""
import asyncio
import os
import selectors
import socket
import sys
import time


class Stream:
    def __init__(self):
        self.buf = b""
        self.body = b""
        self.chunked = False
        self.head_done = False
        self.opened = False
        self.line = b""
        self.data = []
        self.events = []

    def feed(self, b):
        """Decode HTTP framing, then SSE lines; returns False on a protocol error."""
        self.buf += b
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return True
            head = self.buf[:end].decode("latin-1").lower()
            if not head.startswith("http/1.1 200"):
                raise RuntimeError("bad status: " + head.splitlines()[0])
            self.chunked = "transfer-encoding: chunked" in head
            self.buf = self.buf[end + 4:]
            self.head_done = True
        if self.chunked:
            while True:
                nl = self.buf.find(b"\r\n")
                if nl < 0:
                    break
                size = int(self.buf[:nl].split(b";")[0], 16)
                if len(self.buf) < nl + 2 + size + 2:
                    break
                self.text(self.buf[nl + 2:nl + 2 + size])
                self.buf = self.buf[nl + 2 + size + 2:]
        else:
            self.text(self.buf)
            self.buf = b""

    def text(self, b):
        self.line += b
        while b"\n" in self.line:
            one, self.line = self.line.split(b"\n", 1)
            if one.startswith(b": ssed"):
                self.opened = True
            elif one.startswith(b"data:"):
                self.data.append(one[5:].lstrip(b" ").decode())
            elif one == b"":
                if self.data:
                    self.events.append("\n".join(self.data))
                self.data = []


async def open_stream(host, port, path, phase=None, idx=0):
    r, w = await asyncio.open_connection(host, port)
    if phase is not None:
        phase[idx] = "connected"
    w.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await w.drain()
    s = Stream()
    got = b""
    while not s.opened:
        b = await r.read(65536)
        if not b:
            w.close()
            raise RuntimeError(f"closed before the stream opened, after {got[:80]!r}")
        got += b
        if phase is not None:
            phase[idx] = "answered"
        s.feed(b)
    return r, w, s


async def one_stream(host, port, path, count, ready, results, idx, phase):
    r, w, s = await open_stream(host, port, path, phase, idx)
    ready.append(idx)
    while len(s.events) < count:
        b = await r.read(65536)
        if not b:
            break
        s.feed(b)
    w.close()
    results[idx] = s.events


async def many(host, port, path, n, count, limit):
    ready, results, phase = [], {}, {}
    tasks = [asyncio.create_task(one_stream(host, port, path, count, ready, results, i, phase))
             for i in range(n)]
    deadline = time.monotonic() + limit
    while len(ready) < n:
        if time.monotonic() > deadline:
            opened = set(ready)
            waiting = [i for i in range(n) if i not in opened]
            print(f"only {len(ready)} of {n} streams opened; of the others, "
                  f"{sum(1 for i in waiting if i not in phase)} still connecting, "
                  f"{sum(1 for i in waiting if phase.get(i) == 'connected')} connected with "
                  f"no reply, {sum(1 for i in waiting if phase.get(i) == 'answered')} with part "
                  f"of a reply", flush=True)
            return 1
        failed = [i for i, t in enumerate(tasks) if t.done() and t.exception()]
        if failed:
            print(f"{len(failed)} stream(s) failed (first: #{failed[0]} of {n}, "
                  f"{len(ready)} open, {time.monotonic() - deadline + limit:.1f} s in): "
                  f"{tasks[failed[0]].exception()}", flush=True)
            for t in tasks:
                t.cancel()
            return 1
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    done, pending = await asyncio.wait(tasks, timeout=max(1, deadline - time.monotonic()))
    if pending:
        print(f"{len(pending)} streams did not get all {count} events in time", flush=True)
        return 1
    want = [str(i) for i in range(1, count + 1)]
    for i in range(n):
        # An event's data is its number, and maybe a space and padding.
        got = [e.split(" ", 1)[0] for e in results.get(i) or []]
        if got != want:
            print(f"stream {i}: got {len(got)} events, first bad at "
                  f"{next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), len(got))}",
                  flush=True)
            return 1
    print(f"ok {n} {count}", flush=True)
    return 0


def openings(socks, secs):
    """Wait up to secs, on every socket at once, for each subscribe already
    sent on socks to open (its opening comment) or to be closed by the
    server. Returns (opened, cut, silent): silent ones got neither."""
    sel = selectors.DefaultSelector()
    data = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        data[s] = b""
    opened = cut = 0
    end = time.monotonic() + secs
    while sel.get_map() and time.monotonic() < end:
        for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
            s = key.fileobj
            b = s.recv(4096)
            data[s] += b
            if b": ssed" in data[s] or not b:
                sel.unregister(s)
                opened += b": ssed" in data[s]
                cut += not b
    silent = len(sel.get_map())
    sel.close()
    return opened, cut, silent


def fd_count(pid):
    """How many descriptors process pid has open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_until(cond, secs=10):
    """Call cond until it is true, for at most secs; its last value."""
    end = time.monotonic() + secs
    while not cond() and time.monotonic() < end:
        time.sleep(0.002)
    return cond()


def stall(host, port, path):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    print("stalled", flush=True)
    time.sleep(120)


def raw(host, port, hexbytes):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(bytes.fromhex(hexbytes))
    data = b""
    try:
        while b"\r\n" not in data:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    print(data.split(b"\r\n")[0].decode("latin-1") if data else "(closed)")


def slowloris(host, port, every):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    try:
        while time.monotonic() - start < 25:
            time.sleep(every)
            s.sendall(b"X-a: b\r\n")
            s.sendall(b"X-a: b\r\n")
    except OSError:
        print(f"closed after {time.monotonic() - start:.0f}s")
        return
    print("still open")


def main():
    cmd = sys.argv[1]
    if cmd == "many":
        host, port, path, n, count = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
        sys.exit(asyncio.run(many(host, port, path, n, count, 60)))
    if cmd == "stall":
        stall(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "raw":
        raw(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "slowloris":
        slowloris(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
