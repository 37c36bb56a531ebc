#!/usr/bin/env python3
"""Replicas or threads? `refusal serve` scaled out behind haproxy against scaled up, on this
machine, loopback only (docs/deploy.md#sizing records the results).

    python3 bench/server/replicas.py --refusal build/release/refusal --json replicas.json

Phases, each --duration seconds of --clients keep-alive clients (bench/server/loadtest.py's
load generator: two client processes) sending POST /scan/output with the eval set's texts
(cache off, so every request runs the model):
  offline     `refusal classify --preset llm-guard --threads T` over the same texts (T = the
              CPUs), the texts/s one process reaches without HTTP (its start, timed on one
              text, not counted)
  1x{T}       one replica with T engine threads, clients straight to it
  1x{T}-lb    the same replica behind haproxy (what the balancer itself costs)
  {T}x1-lb    T replicas of one thread each behind haproxy
Printed: requests/s, p50 and p99 latency per phase, and the ratios the issue asks about.
Python standard library and Debian's haproxy; every loop is bounded in time and count.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from loadtest import run_clients, scan_payloads  # noqa: E402
from replicas import Haproxy, Replica, free_port, load_texts  # noqa: E402


def offline(args, texts, threads):
    """`refusal classify`'s texts/s, less its start (process, model load: what a server pays
    once), timed on a one-text run."""
    def run(path):
        t0 = time.perf_counter()
        subprocess.run([args.refusal, "classify", "--preset", "llm-guard", "--model", args.model,
                        "--threads", str(threads), "--input", path, "--output", os.devnull,
                        "--progress", "never"], check=True)
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        one, path = os.path.join(tmp, "one.jsonl"), os.path.join(tmp, "texts.jsonl")
        with open(one, "w", encoding="utf-8") as f:
            f.write(json.dumps({"text": texts[0]}) + "\n")
        with open(path, "w", encoding="utf-8") as f:
            for _ in range(args.offline_repeat):
                for t in texts:
                    f.write(json.dumps({"text": t}) + "\n")
        startup = min(run(one) for _ in range(3))
        seconds = run(path)
    n = args.offline_repeat * len(texts)
    return {"texts": n, "seconds": round(seconds, 2), "startup_s": round(startup, 3),
            "texts_per_s": round(n / max(seconds - startup, 1e-6), 1)}


def serve_flags(threads):
    return ["--threads", str(threads), "--cache-size", "0", "--access-log", "false",
            "--http-threads", "128", "--queue-capacity", "4096"]


def phase(args, payloads, replicas, threads, balancer):
    ports = [free_port() for _ in range(replicas)]
    procs = [Replica(args.refusal, args.model, p, *serve_flags(threads)) for p in ports]
    lb = None
    try:
        port = ports[0]
        if balancer:
            lb = Haproxy(ports, balance=args.balance)
            for name in lb.names:
                lb.wait_until(name, up=True)
            port = lb.port
        run_clients(port, payloads, 4, 1.0)  # warm-up
        return run_clients(port, payloads, args.clients, args.duration)
    finally:
        if lb:
            lb.close()
        for p in procs:
            p.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refusal", default="build/release/refusal")
    ap.add_argument("--model", default="data/models/default")
    ap.add_argument("--data", default="data/eval/chatgpt-refusals.jsonl.gz")
    ap.add_argument("--texts", type=int, default=1706)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--offline-repeat", type=int, default=2,
                    help="times the texts are classified for the offline baseline")
    ap.add_argument("--cpus", type=int, default=os.cpu_count(),
                    help="T: threads of the one replica, replicas of one thread")
    ap.add_argument("--balance", default="roundrobin", help="haproxy's balance algorithm")
    ap.add_argument("--json")
    args = ap.parse_args()

    texts = load_texts(args.data, args.texts)
    random.Random(0).shuffle(texts)
    payloads = scan_payloads(texts)
    t = args.cpus
    results = {"model": args.model, "texts": len(texts), "clients": args.clients,
               "duration_s": args.duration, "cpus": t, "balance": args.balance,
               "load_average_before": os.getloadavg()}
    results["offline"] = offline(args, texts, t)
    print("offline:", json.dumps(results["offline"]), flush=True)
    for name, replicas, threads, balancer in (("1x%d" % t, 1, t, False),
                                              ("1x%d-lb" % t, 1, t, True),
                                              ("%dx1-lb" % t, t, 1, True)):
        r = phase(args, payloads, replicas, threads, balancer)
        results[name] = r
        print(name + ":", json.dumps(r), flush=True)
    results["load_average_after"] = os.getloadavg()
    one, many = results["1x%d" % t], results["%dx1-lb" % t]
    results["replicas_vs_threads"] = round(many["ok_per_s"] / one["ok_per_s"], 3)
    results["server_vs_offline"] = round(one["ok_per_s"] / results["offline"]["texts_per_s"], 3)
    print("%dx1 behind haproxy / 1x%d: %.0f%% (goal >= 90%%); one replica / offline: %.0f%% "
          "(goal >= 80%%)" % (t, t, 100 * results["replicas_vs_threads"],
                              100 * results["server_vs_offline"]))
    # The table of docs/deploy.md#sizing, ready to paste.
    print("| Setup (%d clients) | Requests/s | p50 ms | p99 ms | Errors / non-200 |"
          % args.clients)
    print("|---|---|---|---|---|")
    for name, label in (("1x%d" % t, "1 replica × %d threads" % t),
                        ("1x%d-lb" % t, "1 replica × %d threads, behind haproxy" % t),
                        ("%dx1-lb" % t, "%d replicas × 1 thread, behind haproxy" % t)):
        r = results[name]
        print("| %s | %.1f | %s | %s | %d / %d |" % (label, r["ok_per_s"], r["p50_ms"],
                                                   r["p99_ms"], r["errors"],
                                                   r["requests"] - r["ok"]))
    print("| `refusal classify` offline, %d threads | %.1f (texts/s) | | | |"
          % (t, results["offline"]["texts_per_s"]))
    print("Load average before / after: %s / %s"
          % tuple(" ".join("%.2f" % x for x in results[k])
                  for k in ("load_average_before", "load_average_after")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
