#!/usr/bin/env python3
"""Soak test for `refusal serve`: minutes of hostile and normal traffic at once, on loopback
only, then checks that the server is unharmed. Python standard library only; every loop is
bounded in time and in count.

    python3 bench/server/soak.py --refusal build/release/refusal --duration 600 --json soak.json

Phases:
  1. baseline   the well-behaved clients alone (--baseline-seconds): their p50 / p99
  2. soak       --duration seconds of, all at once:
                - the same well-behaved keep-alive clients (POST /scan/output, /predict and
                  /v1/classify in turn, texts from the eval set)
                - --idle idle keep-alive connections (one request each, then silence; reopened
                  when the server closes them)
                - slow senders (one body byte every --slow-interval seconds)
                - clients that vanish mid-body, and mid-response (reset without reading)
                - oversized bodies (Content-Length 100 MB, a 64 KiB header) and malformed
                  requests (bad JSON, invalid UTF-8, wrong Content-Type, garbage request lines,
                  bad Content-Length, broken chunked encoding)
                each kind of hostile client opening at most --hostile-rate connections a second
  3. settle     clients gone; wait until the server's connections are closed
Checks (exit code 1 when one fails):
  - resident memory at the end within 10% of its value after the first tenth of the soak
    (the warm-up: every kind of traffic seen once)
  - open file descriptors back to their count before the soak (no leaked sockets)
  - no 5xx answer except the documented 503 (and 429 is a 4xx): 500s are failures
  - p99 of the well-behaved clients during the soak within 2x their baseline p99 (they send on
    a fixed schedule, --rate a second each, and latency counts from the scheduled time), and
    every one of their requests answered 200
  - the server still answers, and exits 0 on SIGTERM
The server runs with `--cache-size 0` (every request goes through the model) unless
--cache-size says otherwise, and with the model given by --model (default: the random test
model, so that the load generator and the server share 2 cores without the model dominating).
"""
import argparse
import json
import os
import random
import resource
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadtest import HOST, load_texts, read_response, request_bytes  # noqa: E402


def proc_stats(pid):
    """Resident memory (kB), open descriptors and threads of a process."""
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_kb": rss, "fds": fds, "threads": threads}


class Tally:
    """Statuses and errors of one kind of client, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = {}
        self.errors = 0
        self.attempts = 0
        self.latencies = []

    def status(self, code, latency=None):
        with self.lock:
            self.statuses[code] = self.statuses.get(code, 0) + 1
            if latency is not None:
                self.latencies.append(latency)

    def error(self):
        with self.lock:
            self.errors += 1

    def attempt(self):
        with self.lock:
            self.attempts += 1

    def summary(self):
        lat = sorted(self.latencies)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

        return {"attempts": self.attempts, "answers": sum(self.statuses.values()),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
                "connection_errors": self.errors, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                "max_ms": round(lat[-1] * 1000, 2) if lat else None}


def payloads(texts):
    out = []
    for i, t in enumerate(texts):
        kind = i % 3
        if kind == 0:
            out.append(request_bytes("/scan/output", json.dumps({"prompt": "", "output": t})))
        elif kind == 1:
            out.append(request_bytes("/predict", json.dumps({"inputs": t, "truncate": True})))
        else:
            out.append(request_bytes("/v1/classify", json.dumps({"texts": [t]})))
    return out


def well_behaved(port, reqs, deadline, cap, tally, rate):
    """A keep-alive client sending `rate` requests a second on a fixed schedule, one at a time,
    reconnecting when the server closes. Latency counts from the scheduled time, so a stall
    shows in every request it delays (no coordinated omission)."""
    sock, buf = None, b""
    next_at = time.perf_counter()
    end = next_at + (deadline - time.time())
    for i in range(cap):
        if time.perf_counter() >= end:
            break
        wait = next_at - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t0 = next_at
        next_at += 1.0 / rate
        tally.attempt()
        try:
            if sock is None:
                sock = socket.create_connection((HOST, port), timeout=60)
                buf = b""
            sock.sendall(reqs[i % len(reqs)])
            status, _, buf = read_response(sock, buf)
            tally.status(status, time.perf_counter() - t0)
            if buf is None:
                sock.close()
                sock = None
        except (OSError, ConnectionError):
            tally.error()
            if sock:
                sock.close()
            sock = None
    if sock:
        sock.close()
    # Requests due before the end that a stall kept from being sent count as late as they are.
    now = time.perf_counter()
    while next_at < end and i < cap:
        tally.attempt()
        tally.status("unsent", now - next_at)
        next_at += 1.0 / rate
        i += 1


def idle_connections(port, count, deadline, stop, tally):
    """`count` keep-alive connections, each sends GET /healthz, reads the answer and goes
    silent; one the server closes is opened again (until the deadline)."""
    sel = selectors.DefaultSelector()
    request = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    open_count = 0

    def open_one():
        nonlocal open_count
        tally.attempt()
        try:
            s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(request)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, {"buf": b"", "answered": False})
            open_count += 1
        except OSError:
            tally.error()

    for _ in range(count):
        if time.time() >= deadline or stop.is_set():
            break
        open_one()
    while time.time() < deadline and not stop.is_set():
        for key, _ in sel.select(timeout=0.5):
            s, state = key.fileobj, key.data
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                state["buf"] += chunk
                if not state["answered"] and b"\r\n\r\n" in state["buf"]:
                    state["answered"] = True
                    tally.status(int(state["buf"].split(b" ", 2)[1]))
                continue
            # Closed by the server (keep-alive timeout): reopen, bounded by the deadline.
            sel.unregister(s)
            s.close()
            open_count -= 1
            if not state["answered"]:
                tally.error()
            if time.time() < deadline and not stop.is_set():
                open_one()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()


def hostile(port, deadline, cap, rate, tally, action):
    """Runs `action(sock)` on fresh connections, at most `rate` a second, until the deadline or
    the cap."""
    next_at = time.perf_counter()
    for _ in range(cap):
        if time.time() >= deadline:
            break
        wait = next_at - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        next_at += 1.0 / rate
        tally.attempt()
        try:
            with socket.create_connection((HOST, port), timeout=30) as s:
                status = action(s)
                if status is not None:
                    tally.status(status)
        except (OSError, ConnectionError, ValueError, IndexError):
            tally.error()


def status_of(sock):
    """The status of the server's answer, or None when it closed without one."""
    try:
        status, _, _ = read_response(sock)
        return status
    except (ConnectionError, OSError):
        return None


def slow_sender(interval):
    def action(s):
        body = json.dumps({"prompt": "", "output": "slow " * 40}).encode()
        s.sendall(f"POST /scan/output HTTP/1.1\r\nHost: {HOST}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for b in body:  # dropped at the server's request_read_timeout
            s.sendall(bytes([b]))
            time.sleep(interval)
        return status_of(s)
    return action


def vanish_mid_body(s):
    s.sendall(f"POST /v1/classify HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
              "Content-Length: 1000\r\n\r\n{\"texts\": [\"half a bo".encode())
    time.sleep(0.01)
    return None


def vanish_mid_response(texts):
    def action(s):
        body = json.dumps({"texts": random.sample(texts, 32), "explain": True})
        s.sendall(request_bytes("/v1/classify", body))
        s.recv(10)  # the answer has started
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return None  # closed with a reset, the rest unread
    return action


def oversized(kind):
    def action(s):
        if kind == "body":
            s.sendall(f"POST /scan/output HTTP/1.1\r\nHost: {HOST}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
                      .encode() + b"x" * 65536)
        else:
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * 65536}\r\n\r\n"
                      .encode())
        return status_of(s)
    return action


MALFORMED = [
    request_bytes("/scan/output", '{"prompt": "", "output": '),
    request_bytes("/predict", '{"inputs": [[["deep"]]]}'),
    request_bytes("/v1/classify", '{"texts": "not a list", "threshold": 7}'),
    b"POST /v1/classify HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
    b'{"text":"\xff\xfe"}',
    b"POST /predict HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"POST /scan/output HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /scan/output HTTP/1.1\r\nContent-Length: -5\r\n\r\n{}",
    b"POST /scan/output HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n",
    request_bytes("/scan/output", json.dumps({"prompt": "", "output": "x" * 200000})),
    request_bytes("/v1/classify", "[" * 100000 + "]" * 100000),
]


def malformed(i):
    def action(s):
        s.sendall(MALFORMED[i % len(MALFORMED)])
        s.shutdown(socket.SHUT_WR)
        return status_of(s)
    return action


def run_threads(targets):
    threads = [threading.Thread(target=t, args=a, daemon=True) for t, a in targets]
    for t in threads:
        t.start()
    return threads


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refusal", default="build/release/refusal")
    ap.add_argument("--model", default="tests/data/models/random-roberta-tok")
    ap.add_argument("--data", default="data/eval/chatgpt-refusals.jsonl.gz")
    ap.add_argument("--duration", type=float, default=600, help="soak seconds (default 600)")
    ap.add_argument("--baseline-seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=2, help="well-behaved clients")
    ap.add_argument("--rate", type=float, default=50,
                    help="requests a second of each well-behaved client (default 50)")
    ap.add_argument("--hostile-rate", type=float, default=10,
                    help="connections a second of each hostile client (default 10)")
    ap.add_argument("--idle", type=int, default=1000, help="idle keep-alive connections")
    ap.add_argument("--slow", type=int, default=4, help="slow senders at once")
    ap.add_argument("--slow-interval", type=float, default=0.5)
    ap.add_argument("--cap", type=int, default=200000, help="most requests per client")
    ap.add_argument("--cache-size", default="0")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for `refusal serve`; repeat it for more "
                         "(--server-arg=--http-threads --server-arg=1100)")
    ap.add_argument("--server-log", help="the server's stderr (default: discarded)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    # 1,000 connections and their server ends: raise the descriptor limit (the server inherits).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * args.idle + 200:
        raise SystemExit(f"the descriptor limit ({hard}) is too low for {args.idle} connections")

    texts = load_texts(args.data, 1706)
    reqs = payloads(texts)
    random.seed(1)
    cmd = [args.refusal, "serve", "--model", args.model, "--port", "0", "--access-log", "false",
           "--cache-size", args.cache_size] + args.server_arg
    log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = server.stdout.readline()
    if "listening on" not in line:
        server.kill()
        raise SystemExit("server did not start: " + line)
    port = int(line.rsplit(":", 1)[1])
    results = {"command": cmd, "duration_s": args.duration, "idle_connections": args.idle,
               "well_behaved_clients": args.clients, "samples": []}
    at_start = proc_stats(server.pid)

    # 1. Baseline: the well-behaved clients alone.
    base = Tally()
    deadline = time.time() + args.baseline_seconds
    for t in run_threads([(well_behaved, (port, reqs[k::args.clients], deadline, args.cap, base,
                                          args.rate)) for k in range(args.clients)]):
        t.join()
    results["baseline"] = base.summary()
    time.sleep(1)
    before = proc_stats(server.pid)
    print(f"baseline: {results['baseline']}", flush=True)

    # 2. Soak: everything at once, sampled every 5 s.
    stop = threading.Event()
    deadline = time.time() + args.duration
    tallies = {k: Tally() for k in ["well_behaved", "idle", "slow", "vanish_mid_body",
                                     "vanish_mid_response", "oversized_body", "oversized_header",
                                     "malformed"]}
    targets = [(well_behaved, (port, reqs[k::args.clients], deadline, args.cap,
                               tallies["well_behaved"], args.rate)) for k in range(args.clients)]
    targets.append((idle_connections, (port, args.idle, deadline, stop, tallies["idle"])))
    hr = args.hostile_rate
    targets += [(hostile, (port, deadline, args.cap, hr, tallies["slow"],
                           slow_sender(args.slow_interval))) for _ in range(args.slow)]
    targets.append((hostile, (port, deadline, args.cap, hr, tallies["vanish_mid_body"],
                              vanish_mid_body)))
    targets.append((hostile, (port, deadline, args.cap, hr, tallies["vanish_mid_response"],
                              vanish_mid_response(texts))))
    targets.append((hostile, (port, deadline, args.cap, hr, tallies["oversized_body"],
                              oversized("body"))))
    targets.append((hostile, (port, deadline, args.cap, hr, tallies["oversized_header"],
                              oversized("header"))))
    # The malformed requests share one client's rate, in turn.
    for i in range(len(MALFORMED)):
        targets.append((hostile, (port, deadline, args.cap // len(MALFORMED),
                                  hr / len(MALFORMED), tallies["malformed"], malformed(i))))
    t0 = time.time()
    threads = run_threads(targets)
    warm = None
    while time.time() < deadline:
        time.sleep(min(5, max(0, deadline - time.time())))
        s = proc_stats(server.pid)
        s["t"] = round(time.time() - t0, 1)
        results["samples"].append(s)
        if warm is None and s["t"] >= args.duration / 10:
            warm = s
        print(f"t={s['t']}s rss={s['rss_kb']} kB fds={s['fds']} threads={s['threads']} "
              f"well-behaved answers={sum(tallies['well_behaved'].statuses.values())} "
              f"idle answered={sum(tallies['idle'].statuses.values())}",
              flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=60)

    # 3. Settle: every client gone; the server closes its ends within its timeouts.
    settle_deadline = time.time() + 30
    after = proc_stats(server.pid)
    while after["fds"] > before["fds"] and time.time() < settle_deadline:
        time.sleep(1)
        after = proc_stats(server.pid)
    alive = Tally()
    well_behaved(port, reqs, time.time() + 30, 20, alive, args.rate)
    server.send_signal(signal.SIGTERM)
    try:
        exit_code = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        exit_code = "killed after 60 s"

    results.update({"at_start": at_start, "before_soak": before, "warm": warm, "after": after,
                    "soak": {k: t.summary() for k, t in tallies.items()},
                    "after_soak_requests": alive.summary(), "exit_code": exit_code})
    five_xx = {k: {c: n for c, n in t.statuses.items()
                   if isinstance(c, int) and 500 <= c < 600 and c != 503}
               for k, t in tallies.items()}
    p99_base = results["baseline"]["p99_ms"]
    p99_soak = results["soak"]["well_behaved"]["p99_ms"]
    warm = warm or before
    checks = {
        "rss_flat_within_10pct": abs(after["rss_kb"] - warm["rss_kb"]) <= 0.10 * warm["rss_kb"],
        "no_leaked_fds": after["fds"] <= before["fds"],
        "no_5xx_but_503": not any(five_xx.values()),
        "well_behaved_all_answered": (tallies["well_behaved"].statuses.get(200, 0) ==
                                      tallies["well_behaved"].attempts),
        "p99_within_2x_baseline": p99_soak is not None and p99_soak <= 2 * p99_base,
        "answers_after_soak": alive.statuses.get(200, 0) == 20,
        "exit_0_on_sigterm": exit_code == 0,
    }
    results["five_xx"] = {k: {str(c): n for c, n in v.items()} for k, v in five_xx.items()}
    results["p99_ratio"] = round(p99_soak / p99_base, 2) if p99_soak and p99_base else None
    results["rss_change_pct"] = round(100 * (after["rss_kb"] - warm["rss_kb"]) / warm["rss_kb"], 1)
    results["checks"] = checks
    print(json.dumps({k: results[k] for k in ["baseline", "soak", "before_soak", "warm", "after",
                                              "p99_ratio", "rss_change_pct", "five_xx",
                                              "exit_code", "checks"]}, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
