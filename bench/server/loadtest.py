#!/usr/bin/env python3
"""Load and fault tests for `refusal serve`, from a second process, on loopback only.

Python standard library only. Every loop is bounded in count and in time.

    python3 bench/server/loadtest.py --refusal build/release/refusal \
        --model tests/data/models/random-roberta-tok \
        --data data/eval/chatgpt-refusals.jsonl.gz --duration 8 --json results.json

Parts (default: all):
  load        requests/s, p50/p99 at 1, 16 and 64 concurrent keep-alive clients on
              POST /scan/output, texts from the eval set (cache off, so every request runs
              the model); the offline baseline is `refusal classify --preset llm-guard` on the
              same texts
  saturate    256 clients against a 16-text queue: 429s (with Retry-After), no timeouts
  faults      clients that vanish mid-request, 1 byte/s clients, a 100 MB body
  sigterm     SIGTERM under load: every accepted request is answered, exit code 0
"""
import argparse
import gzip
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"


def load_texts(path, limit):
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if isinstance(rec.get("text"), str) and rec["text"].strip():
                texts.append(rec["text"])
            if len(texts) >= limit:
                break
    return texts


def start_server(args, *extra):
    cmd = [args.refusal, "serve", "--model", args.model, "--port", "0", "--access-log", "false",
           *extra]
    log = open(args.server_log, "a") if args.server_log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    if "listening on" not in line:
        p.kill()
        raise SystemExit("server did not start: " + line)
    port = int(line.rsplit(":", 1)[1])
    return p, port


def stop_server(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        return -9


def request_bytes(path, body, keep_alive=True):
    b = body.encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n"
            + ("" if keep_alive else "Connection: close\r\n") + "\r\n")
    return head.encode() + b


def read_response(sock, buf=b""):
    """Reads one response; returns (status, body, rest_of_buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    close = False
    for h in lines[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
        if k.strip().lower() == b"connection" and v.strip().lower() == b"close":
            close = True
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return status, rest[:length], (None if close else rest[length:])


def client_loop(port, payloads, deadline, max_requests, out):
    """One keep-alive client: requests until the deadline or the cap."""
    lat, statuses, errors = [], {}, 0
    sock, buf, i = None, b"", 0
    while time.time() < deadline and i < max_requests:
        req = payloads[i % len(payloads)]
        i += 1
        t0 = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection((HOST, port), timeout=30)
                buf = b""
            sock.sendall(req)
            status, _, buf = read_response(sock, buf)
            lat.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if buf is None:  # the server said Connection: close
                sock.close()
                sock = None
        except (OSError, ConnectionError):
            errors += 1
            if sock:
                sock.close()
            sock = None
    if sock:
        sock.close()
    out.append((lat, statuses, errors))


def worker_process(port, payloads, clients, seconds, max_requests, q):
    out = []
    deadline = time.time() + seconds
    threads = [threading.Thread(target=client_loop,
                                args=(port, payloads[k::clients] or payloads, deadline,
                                      max_requests, out))
               for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put(out)


def run_clients(port, payloads, clients, seconds, max_requests=100000):
    procs = 1 if clients == 1 else 2
    q = mp.Queue()
    per = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
    t0 = time.perf_counter()
    ps = [mp.Process(target=worker_process,
                     args=(port, payloads[k::procs], per[k], seconds, max_requests, q))
          for k in range(procs)]
    for p in ps:
        p.start()
    results = []
    for _ in ps:
        results.extend(q.get())
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[0])
    statuses = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    errors = sum(r[2] for r in results)

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

    ok = statuses.get(200, 0)
    return {"clients": clients, "seconds": round(wall, 2), "requests": len(lat),
            "ok": ok, "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "errors": errors, "rps": round(len(lat) / seconds, 1),
            "ok_per_s": round(ok / seconds, 1),
            "p50_ms": round(pct(0.50), 2) if lat else None,
            "p99_ms": round(pct(0.99), 2) if lat else None,
            "mean_ms": round(statistics.mean(lat) * 1000, 2) if lat else None}


def scan_payloads(texts):
    return [request_bytes("/scan/output", json.dumps({"prompt": "", "output": t}))
            for t in texts]


def part_load(args, texts, results):
    # Offline baseline: the engine on the same texts, same settings, one process.
    # The texts several times over, so start-up (model load) is a small part of the time.
    rep = args.offline_repeat
    tmp = "/tmp/refusal-loadtest-texts.jsonl"
    with open(tmp, "w") as f:
        for _ in range(rep):
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
    t0 = time.perf_counter()
    subprocess.run([args.refusal, "classify", "--preset", "llm-guard", "--model", args.model,
                    "--input", tmp, "--output", "/dev/null", "--progress", "never"], check=True)
    offline = rep * len(texts) / (time.perf_counter() - t0)
    os.remove(tmp)
    results["offline_texts_per_s"] = round(offline, 1)
    print(f"offline: {offline:.1f} texts/s ({rep * len(texts)} texts, refusal classify)",
          flush=True)
    p, port = start_server(args, "--cache-size", "0", "--http-threads", "128",
                           "--queue-capacity", "4096")
    payloads = scan_payloads(texts)
    run_clients(port, payloads, 4, 1.0)  # warm-up
    results["load"] = []
    for c in (1, 16, 64):
        r = run_clients(port, payloads, c, args.duration)
        results["load"].append(r)
        print(json.dumps(r), flush=True)
    results["load_exit"] = stop_server(p)


def part_saturate(args, texts, results):
    p, port = start_server(args, "--cache-size", "0", "--http-threads", "300",
                           "--queue-capacity", "16", "--request-timeout", "10")
    r = run_clients(port, scan_payloads(texts), 256, args.duration)
    results["saturate"] = r
    print("saturate:", json.dumps(r), flush=True)
    results["saturate_exit"] = stop_server(p)


def rss_kb(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0])
    return vals


def healthy(port):
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(request_bytes("/scan/output", json.dumps({"prompt": "", "output": "Sure."})))
    status, _, _ = read_response(s)
    s.close()
    return status == 200


def part_faults(args, texts, results):
    p, port = start_server(args, "--request-read-timeout", "3", "--read-timeout", "2",
                           "--max-body-bytes", str(1 << 20), "--http-threads", "32")
    f = {}
    # 1. Vanishing clients: half a body then close; a whole request then close unread.
    t0 = time.perf_counter()
    for i in range(100):
        s = socket.create_connection((HOST, port), timeout=5)
        req = request_bytes("/scan/output", json.dumps({"prompt": "", "output": texts[i]}))
        s.sendall(req[: len(req) // 2] if i % 2 == 0 else req)
        s.close()
    time.sleep(0.5)
    f["vanishing_clients"] = {"clients": 100, "server_alive": p.poll() is None,
                              "healthy_after": healthy(port),
                              "seconds": round(time.perf_counter() - t0, 2)}
    print("vanishing:", f["vanishing_clients"], flush=True)
    # 2. 1 byte a second: dropped at the request deadline; others are served meanwhile.
    slow_results = []

    def slow_client():
        s = socket.create_connection((HOST, port), timeout=30)
        req = request_bytes("/scan/output", json.dumps({"prompt": "", "output": "hi"}))
        t = time.perf_counter()
        sent = 0
        try:
            for b in req:
                s.send(bytes([b]))
                sent += 1
                time.sleep(1.0)
                if time.perf_counter() - t > 20:
                    break
        except OSError:
            pass
        slow_results.append({"bytes_sent": sent, "dropped_after_s": round(time.perf_counter() - t, 1)})
        s.close()

    slow = [threading.Thread(target=slow_client) for _ in range(8)]
    for t in slow:
        t.start()
    normal = run_clients(port, scan_payloads(texts[:200]), 4, 4.0)
    for t in slow:
        t.join()
    f["slow_clients"] = {"clients": 8, "results": slow_results,
                         "normal_clients_meanwhile": normal}
    print("slow:", f["slow_clients"], flush=True)
    # 3. A 100 MB body.
    before = rss_kb(p.pid)
    s = socket.create_connection((HOST, port), timeout=30)
    size = 100 * 1024 * 1024
    s.sendall((f"POST /scan/output HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {size}\r\n\r\n").encode())
    t0 = time.perf_counter()
    chunk = b"a" * (1 << 20)
    sent = 0
    status = None
    try:
        while sent < size:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    try:
        status, body, _ = read_response(s)
    except (OSError, ConnectionError) as e:
        body = str(e).encode()
    s.close()
    after = rss_kb(p.pid)
    f["body_100mb"] = {"status": status, "body": body.decode(errors="replace"),
                       "bytes_sent": sent, "seconds": round(time.perf_counter() - t0, 2),
                       "rss_kb_before": before, "rss_kb_after": after,
                       "healthy_after": healthy(port)}
    print("100MB:", f["body_100mb"], flush=True)
    results["faults"] = f
    results["faults_exit"] = stop_server(p)


def part_sigterm(args, texts, results):
    p, port = start_server(args, "--cache-size", "0", "--http-threads", "64")
    outcomes = {"ok": 0, "other_status": 0, "refused": 0, "no_response": 0}
    lock = threading.Lock()
    stop_at = time.time() + 30
    term_sent = threading.Event()
    after_term = {"ok": 0}

    def client(k):
        i = k
        while time.time() < stop_at:
            req = request_bytes("/scan/output",
                                json.dumps({"prompt": "", "output": texts[i % len(texts)]}),
                                keep_alive=False)
            i += 16
            try:
                s = socket.create_connection((HOST, port), timeout=10)
            except OSError:
                with lock:
                    outcomes["refused"] += 1
                if term_sent.is_set():
                    return
                continue
            try:
                s.sendall(req)
                status, _, _ = read_response(s)
                with lock:
                    outcomes["ok" if status == 200 else "other_status"] += 1
                    if term_sent.is_set():
                        after_term["ok"] += 1
            except (OSError, ConnectionError):
                with lock:
                    outcomes["no_response"] += 1
            finally:
                s.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    term_sent.set()
    code = p.wait(timeout=30)
    exit_s = time.perf_counter() - t0
    for t in threads:
        t.join()
    results["sigterm"] = {"outcomes": outcomes, "answered_after_sigterm": after_term["ok"],
                          "exit_code": code, "exit_seconds": round(exit_s, 2)}
    print("sigterm:", results["sigterm"], flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--refusal", default="build/release/refusal")
    ap.add_argument("--model", default="tests/data/models/random-roberta-tok")
    ap.add_argument("--data", default="data/eval/chatgpt-refusals.jsonl.gz")
    ap.add_argument("--texts", type=int, default=1706)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--offline-repeat", type=int, default=8,
                    help="times the texts are classified for the offline baseline")
    ap.add_argument("--json")
    ap.add_argument("--server-log", help="append the servers' stderr here (default: dropped)")
    ap.add_argument("parts", nargs="*", default=["load", "saturate", "faults", "sigterm"])
    args = ap.parse_args()
    texts = load_texts(args.data, args.texts)
    random.Random(0).shuffle(texts)
    results = {"texts": len(texts), "model": args.model, "cpus": os.cpu_count()}
    for part in args.parts:
        globals()["part_" + part](args, texts, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
