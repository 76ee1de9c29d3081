#!/usr/bin/env python3
"""report.py RAW REPEAT - medians of bench/run.sh's raw figures as the
Markdown of bench/RESULTS.md, and bench/out/chart.dat for the chart."""
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

raw, repeat = sys.argv[1], sys.argv[2]
vals = defaultdict(list)
order = []
for line in open(raw):
    parts = line.split()
    if len(parts) != 4:
        continue
    scen, server, metric, value = parts
    key = (scen, server, metric)
    if key not in vals:
        order.append(key)
    if value != "NaN":
        vals[key].append(float(value))
med = {k: statistics.median(v) if v else None for k, v in vals.items()}


def fmt(x):
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}"


def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


BURST = int(os.environ.get("BURST_EVENTS", "1000"))
TITLES = {
    "idle_1000": "Idle, 1,000 subscribers",
    "idle_10000": "Idle, 10,000 subscribers",
    "burst_1000": f"Fan-out burst: 1,000 subscribers, {BURST:,} events as fast as replies come",
    "burst_10000": f"Fan-out burst: 10,000 subscribers, {BURST:,} events as fast as replies come",
    "rate100_1000": "Fan-out at 100 events/s: 1,000 subscribers, 1,000 events offered",
    "rate100_10000": "Fan-out at 100 events/s: 10,000 subscribers, 1,000 events offered",
    "pass_1000": "One event at a time: 1,000 subscribers, 20 events at 2/s",
    "pass_10000": "One event at a time: 10,000 subscribers, 20 events at 2/s",
    "limit": "As many idle subscribers as ssed's open-file limit allows, then one more and a publish",
    "one_sub": "One subscriber, 100,000 events as fast as possible",
    "one_req": "One request per event: one subscriber, 100,000 POSTs over one connection, and the server's CPU for them",
    "pipe": "Pipe: 1,000,000 lines into one subscriber (seconds; lower is better)",
    "tls_1000": f"TLS beside plain HTTP, one ssed: 1,000 subscribers idle, then {BURST:,} events as fast as replies come",
    "tls_10000": f"TLS beside plain HTTP, one ssed: 10,000 subscribers idle, then {BURST:,} events as fast as replies come",
    "store_pipe": "--store: `seq 1 " + f"{int(os.environ.get('STORE_EVENTS', '1000000')):,}" + " | sse-pub` into one topic, beside memory mode",
    "store_req": "--store: one request per event over one connection, beside memory mode",
    "store_latency": "--store: publish round trip (curl, one connection), beside memory mode",
    "store_startup": "--store: restart with " + f"{int(os.environ.get('STARTUP_EVENTS', '1000000')):,}" + " retained events over " + f"{int(os.environ.get('STARTUP_TOPICS', '1000')):,}" + " topics (seconds to the listening line)",
    "store_steady": "--store: file size under a steady load of " + f"{int(os.environ.get('STEADY_EVENTS', '10000000')):,}" + " events into one topic (history 2000)",
}
for n in (1000, 10000):
    TITLES[f"store_burst_{n}"] = f"--store: fan-out burst, {n:,} subscribers, {BURST:,} events, beside memory mode"
CN = int(os.environ.get("CLUSTER_N", "30000"))
TITLES.update({
    f"cluster_burst_{CN}": f"Three nodes on one Redis: {CN:,} subscribers spread over them, "
                           f"{BURST:,} events to one node as fast as replies come",
    f"cluster_rate100_{CN}": f"Three nodes on one Redis: {CN:,} subscribers spread over them, "
                             "1,000 events at 100/s to one node",
    "cluster_req": "Three nodes on one Redis: one POST per event to one node, one subscriber on another",
})
for n in (1000, 10000):
    TITLES[f"node_burst_{n}"] = (f"One node's fan-out burst, {n:,} subscribers: "
                                 "--redis (ssed) against memory mode (ssed_memory)")

print("# Benchmark results: ssed, nchan and the roofline side by side\n")
print("Made by `make bench` (bench/run.sh): both servers on loopback, the same load client "
      "(`build/bench/sse-load`), alternating, " + repeat + " rounds; each figure is the median of "
      "the rounds. The machine is shared and noisy: compare the ratios of one run, not absolute "
      "figures across runs.\n")
print(f"- machine: {cpu()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
try:
    v = subprocess.run(["bin/ssed", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"- ssed: {v}")
except OSError:
    pass
try:
    v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-nchan"],
                       capture_output=True, text=True).stdout.strip()
    if v:
        print(f"- nchan: Debian libnginx-mod-nchan {v}, config `bench/nchan.conf.in`")
except OSError:
    pass
print("- ssed: `ssed --history 2000 --history-bytes 256M --heartbeat 60`, its defaults otherwise "
      "(on 2 CPUs: 2 HTTP threads, 1 delivery thread; a publish window of 500 events, a quarter of the history); nchan: 2 workers, eventsource subscriber, "
      "buffer 2000, new subscribers at the newest message")
print("- load: `sse-load sub` holds the streams (from 127.0.0.1–127.0.0.20, over as many processes as "
      "the open-file limit needs) and measures latency from a send timestamp in each event; "
      "`sse-load pub` POSTs one event per request over one keep-alive connection (the same for both "
      "servers), stopping after " + os.environ.get("PUBLISH_SECS", "20") + " s if the events are not "
      "all out by then (`events_published` says how many went; the subscribers are told the count, "
      "so `lost` stays exact); in the one-subscriber scenario ssed takes its streamed publish "
      "(`sse-load stream`), nchan one POST per event")
print("- order: the servers take turns within each scenario, and each round starts with the next "
      "one (ssed, nchan, roofline; then nchan, roofline, ssed; ...), so none always runs first")
print("- roofline: `bench/roofline.c`, a request thread and a send thread, a shared framed log per "
      "topic, one send per subscriber per wake and nothing else (no history limit, heartbeats, resume, "
      "limits or pacing): the cost of the sends themselves; in the one-subscriber scenario it takes "
      "one POST per event")
print("- `send_calls` (fan-out scenarios): the server's send, sendto, sendmsg and writev calls "
      "while the events went out, counted with `perf stat` on the syscall tracepoints (NaN where perf "
      "may not trace). A send's cost is mostly the kernel's TCP path, the same for every server: "
      "deliveries per call is how well a server batches")
print("- `server_cpu_s` and `client_cpu_s` (fan-out scenarios): the server's user and system time "
      "from the first publish to the last delivery, and that of the receiving streams (`sse-load "
      "sub`, from the moment all were open). On 2 CPUs they share the machine: in a burst the "
      "streams' receiving takes most of it, and what a server spends is taken from them")
print("- `one_more_status` and `publish_status` are HTTP statuses (the medians of three equal "
      "values); no ratio is taken of them\n")

scens = []
for s, _, _ in order:
    if s not in scens:
        scens.append(s)
for s in scens:
    print(f"## {TITLES.get(s, s)}\n")
    servers = []
    metrics = []
    for (sc, srv, m) in order:
        if sc != s:
            continue
        if srv not in servers:
            servers.append(srv)
        if m not in metrics:
            metrics.append(m)
    refs = [r for r in ("nchan", "roofline", "ssed_memory") if r in servers and "ssed" in servers]
    cols = servers + [f"ssed / {r}" for r in refs]
    # Scenarios that compare one ssed with itself: https over http, and
    # --store over memory mode.
    pairs = [(x, y) for x, y in (("https", "http"), ("ssed_store", "ssed"))
             if x in servers and y in servers]
    cols += [f"{x} / {y}" for x, y in pairs]
    print("| metric | " + " | ".join(cols) + " |")
    print("| --- |" + " --- |" * len(cols))
    for m in metrics:
        row = [fmt(med.get((s, srv, m))) for srv in servers]
        for ref in refs:
            if m.endswith("_status") or m == "streams_held":
                row.append("—")
                continue
            a, b = med.get((s, "ssed", m)), med.get((s, ref, m))
            row.append(f"{a / b:.2f}" if a is not None and b else "—")
        for x, y in pairs:
            a, b = med.get((s, x, m)), med.get((s, y, m))
            row.append(f"{a / b:.2f}" if a is not None and b else "—")
        print(f"| {m} | " + " | ".join(row) + " |")
    print()

os.makedirs("bench/out", exist_ok=True)
with open("bench/out/chart.dat", "w") as f:
    for n in (1000, 10000):
        row = [med.get((f"{k}_{n}", srv, m)) for k in ("burst", "rate100") for srv in ("ssed", "nchan")
               for m in ("deliveries_per_s", "p99_ms")]
        if row[0] is not None:
            f.write(f"{n} " + " ".join("NaN" if x is None else str(x) for x in row) + "\n")
