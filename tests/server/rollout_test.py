#!/usr/bin/env python3
"""A zero-loss rollout: two `refusal serve` replicas behind haproxy on loopback, steady traffic
from many keep-alive clients, and both replicas replaced one after the other the way a
Kubernetes rollout does it (SIGTERM with a shutdown delay, the new replica started, traffic
waits for it to be ready). Passes when no request failed or went unanswered and every answer is
the one `refusal classify` gives for that text.

    REFUSAL_BINARY=build/release/refusal python3 tests/server/rollout_test.py

Run by ctest from the repository root (tests/server/CMakeLists.txt); about 15 s. Python
standard library and Debian's haproxy (packages/debian.txt); loopback only; every loop is
bounded in time.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replicas import HOST, Haproxy, Replica, free_port, llm_guard_answers, load_texts  # noqa



class Clients:
    """Keep-alive clients through the balancer, each checking every answer."""

    def __init__(self, port, texts, answers, count):
        self.port = port
        self.bodies = [json.dumps({"prompt": "", "output": t}) for t in texts]
        self.answers = answers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []  # (time, what)
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in range(count)]
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def fail(self, what):
        with self.lock:
            self.failures.append((round(time.monotonic() - self.t0, 2), what))

    def run(self, k):
        conn = None
        i = k
        deadline = time.monotonic() + 120  # a bound, never reached in a passing run
        while not self.stop.is_set() and time.monotonic() < deadline:
            i = (i + 7) % len(self.bodies)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                conn.request("POST", "/scan/output", body=self.bodies[i],
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    self.fail("status %d: %r" % (r.status, body[:200]))
                elif json.loads(body) != self.answers[i]:
                    self.fail("wrong answer for text %d: %r" % (i, body[:200]))
                else:
                    with self.lock:
                        self.ok += 1
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.fail("%s: %s" % (type(e).__name__, e))
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def answered(self):
        with self.lock:
            return self.ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refusal", default=os.environ.get("REFUSAL_BINARY",
                                                        "build/release/refusal"))
    # The random test model with the real tokenizer: fast, so the clients send thousands of
    # requests a second and a lost one would show (with --shutdown-delay 0 hundreds fail).
    ap.add_argument("--model", default="tests/data/models/random-roberta-tok")
    ap.add_argument("--data", default="data/eval/chatgpt-refusals.jsonl.gz")
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--shutdown-delay", type=float, default=2.0,
                    help="the replicas' --shutdown-delay: more than haproxy needs to see "
                         "/readyz fail (checks every 200 ms); 0 shows what goes wrong without")
    ap.add_argument("--steady", type=float, default=1.5,
                    help="seconds of traffic before, between and after the two replacements")
    args = ap.parse_args()

    texts = load_texts(args.data, args.texts)
    answers = llm_guard_answers(args.refusal, args.model, texts)
    refusals = sum(not a["is_valid"] for a in answers)
    print("%d texts, %d of them refusals by `refusal classify`" % (len(texts), refusals))

    flags = ["--threads", "1", "--cache-size", "0", "--shutdown-delay", str(args.shutdown_delay)]
    ports = [free_port(), free_port()]
    replicas = [Replica(args.refusal, args.model, p, *flags) for p in ports]
    retired = []
    lb = None
    clients = None
    try:
        lb = Haproxy(ports)
        for name in lb.names:
            lb.wait_until(name, up=True)
        clients = Clients(lb.port, texts, answers, args.clients)
        time.sleep(args.steady)
        for k, name in enumerate(lb.names):
            old = replicas[k]
            before = clients.answered()
            t0 = time.monotonic()
            old.terminate()
            lb.wait_until(name, up=False)
            seen_down = time.monotonic() - t0
            code = old.wait(timeout=args.shutdown_delay + 30)
            exited = time.monotonic() - t0
            replicas[k] = Replica(args.refusal, args.model, ports[k], *flags)
            lb.wait_until(name, up=True)
            print("replica %s: haproxy saw it not ready after %.2f s, exit code %d after "
                  "%.2f s (%d answers from it after SIGTERM), the new one routed to after "
                  "%.2f s; %d answers meanwhile"
                  % (name, seen_down, code, exited, old.answered(after_signal=True),
                     time.monotonic() - t0, clients.answered() - before))
            retired.append((name, old, code))
            time.sleep(args.steady)
        clients.finish()
    finally:
        if clients:
            clients.finish()
        if lb:
            lb.close()
        for r in replicas:
            r.close()

    new_answers = [r.answered() for r in replicas]
    print("answered: %d, failed: %d; by the new replicas: %s"
          % (clients.answered(), len(clients.failures), new_answers))
    for when, what in clients.failures[:20]:
        print("  failure at %.2f s: %s" % (when, what))
    problems = []
    if clients.failures:
        problems.append("%d failed requests" % len(clients.failures))
    for name, old, code in retired:
        if code != 0:
            problems.append("replica %s exited %d: %s" % (name, code, "".join(old.stderr[-5:])))
    if min(new_answers) == 0:
        problems.append("a new replica answered nothing: traffic did not move to it")
    if clients.answered() < 100:
        problems.append("only %d answers: too little traffic to show anything"
                        % clients.answered())
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print("passed: zero failed or dropped requests, every answer correct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
