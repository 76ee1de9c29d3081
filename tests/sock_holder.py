#!/usr/bin/env python3
"""Hold a listening socket across ssed restarts, the way systemd's socket
units do, and hand it to each new ssed (sd_listen_fds(3): descriptor 3,
LISTEN_FDS=1, LISTEN_FDNAMES, LISTEN_PID set to the new process's id).

  sock_holder.py ERRFILE SSED [ARGS...]

Binds 127.0.0.1 on a port the kernel picks and prints "port N". Then reads
commands on stdin, one a line, and answers each on stdout:
  start     start ssed; "started PID" once it printed its "listening on" lines
  stop      SIGTERM to ssed, wait for it; "stopped RC"
  restart   stop, then start
At the end of stdin ssed is stopped. ssed's stderr goes to ERRFILE.
"""
import os
import signal
import socket
import subprocess
import sys
import threading

WAIT = 20  # seconds a start or a stop may take at most


class Ssed:
    def __init__(self, errfile, argv):
        self.err = open(errfile, "ab", buffering=0)
        self.argv = argv
        self.proc = None

    def start(self):
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="held")
        # LISTEN_PID must be ssed's own id: sh sets it, then execs in place.
        self.proc = subprocess.Popen(
            ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'] + self.argv,
            env=env, pass_fds=(3,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        up = threading.Event()
        threading.Thread(target=self.copy, args=(self.proc.stderr, up), daemon=True).start()
        if not up.wait(WAIT):
            return "start failed: no 'listening on' within %d s" % WAIT
        return "started %d" % self.proc.pid

    def copy(self, pipe, up):
        for line in pipe:
            self.err.write(line)
            if b"listening on" in line:
                up.set()

    def stop(self):
        if not self.proc:
            return "stopped none"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed"
        self.proc = None
        return "stopped %s" % rc


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: sock_holder.py ERRFILE SSED [ARGS...]")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)
    os.set_inheritable(3, True)
    print("port %d" % s.getsockname()[1], flush=True)
    ssed = Ssed(sys.argv[1], sys.argv[2:])
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "start":
            print(ssed.start(), flush=True)
        elif cmd == "stop":
            print(ssed.stop(), flush=True)
        elif cmd == "restart":
            print(ssed.stop(), flush=True)
            print(ssed.start(), flush=True)
        elif cmd:
            print("unknown command " + cmd, flush=True)
    ssed.stop()


if __name__ == "__main__":
    main()
