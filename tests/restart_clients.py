#!/usr/bin/env python3
"""Subscribers and a publisher that keep going across ssed restarts, and
count every way a connection can fail. Standard library only.

  restart_clients.py HOST PORT N

N subscribers on /events/restart, each opening its stream again as soon
as it ends (after 0 to 50 ms, as a browser's EventSource would after its
retry delay), and one publisher posting an event every 20 ms, each on a new
connection. Prints "ready" once all N streams are open, "refused" the
first time a connection is refused, and, when a line "stop" (or the end)
comes on stdin, one line of counts:

  opens O ended E refused R connect_errors C cut_before_reply B published P lost_publishes L

refused: connect() got ECONNREFUSED (nothing listening). connect_errors:
any other failure to connect (a reset, a timeout). cut_before_reply: the
connection was made but closed before a status line came (an ssed that was
stopping). ended: an open stream that ended. lost_publishes: posts that got
no 200 (refused ones are counted in refused too).
"""
import asyncio
import random
import sys

PATH = "/events/restart"
TIMEOUT = 10


class Counts:
    def __init__(self):
        self.c = dict(opens=0, ended=0, refused=0, connect_errors=0,
                      cut_before_reply=0, published=0, lost_publishes=0)
        self.said_refused = False

    def add(self, key):
        self.c[key] += 1
        if key == "refused" and not self.said_refused:
            self.said_refused = True
            print("refused", flush=True)

    def line(self):
        return " ".join(f"{k} {v}" for k, v in self.c.items())


async def connect(host, port, n):
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    except ConnectionRefusedError:
        n.add("refused")
    except (OSError, asyncio.TimeoutError):
        n.add("connect_errors")
    return None, None


async def status_line(r):
    try:
        line = await asyncio.wait_for(r.readline(), TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return None
    return line or None


async def subscriber(host, port, n, opened, stop):
    first = True
    while not stop.is_set():
        r, w = await connect(host, port, n)
        if r:
            w.write(f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            line = await status_line(r)
            if line is None:
                n.add("cut_before_reply")
            elif line.startswith(b"HTTP/1.1 200"):
                n.add("opens")
                if first:
                    opened.append(1)
                    first = False
                try:
                    while not stop.is_set() and await r.read(65536):
                        pass
                except OSError:
                    pass
                if not stop.is_set():
                    n.add("ended")
            else:
                n.add("cut_before_reply")
            w.close()
        await asyncio.sleep(random.uniform(0, 0.05))


async def publisher(host, port, n, stop):
    seq = 0
    while not stop.is_set():
        seq += 1
        body = str(seq).encode()
        r, w = await connect(host, port, n)
        if r:
            w.write(f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
                    f"Connection: close\r\n\r\n".encode() + body)
            line = await status_line(r)
            n.add("published" if line and line.startswith(b"HTTP/1.1 200") else "lost_publishes")
            w.close()
        else:
            n.add("lost_publishes")
        await asyncio.sleep(0.02)


async def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n, opened, stop = Counts(), [], asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(subscriber(host, port, n, opened, stop)) for _ in range(count)]
    tasks.append(asyncio.create_task(publisher(host, port, n, stop)))
    for _ in range(6000):  # 60 s at most
        if len(opened) == count:
            break
        await asyncio.sleep(0.01)
    else:
        print(f"only {len(opened)} of {count} streams opened", flush=True)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(n.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
