#!/usr/bin/env python3
"""Publish events round-robin over several ssed nodes, one keep-alive
connection per node; each publish waits for its reply. Standard library only.

  pub_rr.py COUNT TOPICS NODES [DELAY]

Event i (from 0) carries data "e<i>" and goes to topic TOPICS[i % len] on
node NODES[(i // len) % len(NODES)] (comma-separated lists; a node is
HOST:PORT), DELAY seconds apart (default 0). Prints "ok COUNT" and exits 0
once every event got a 200, or names the first that did not and exits 1.
"""
import http.client
import socket
import sys
import time


def main():
    count = int(sys.argv[1])
    topics = sys.argv[2].split(",")
    nodes = sys.argv[3].split(",")
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    conns = {}
    for i in range(count):
        topic = topics[i % len(topics)]
        node = nodes[(i // len(topics)) % len(nodes)]
        try:
            if node not in conns:
                host, port = node.rsplit(":", 1)
                conns[node] = http.client.HTTPConnection(host, int(port), timeout=10)
                conns[node].connect()
                # Headers and body leave in two writes: without this,
                # Nagle and delayed ACKs cost 40 ms a publish.
                conns[node].sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[node].request("POST", "/events/" + topic, ("e%d" % i).encode())
            r = conns[node].getresponse()
            r.read()
        except (OSError, http.client.HTTPException) as e:
            print("e%d on %s: %s" % (i, node, e))
            return 1
        if r.status != 200:
            print("e%d on %s: status %d" % (i, node, r.status))
            return 1
        if delay:
            time.sleep(delay)
    print("ok %d" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
