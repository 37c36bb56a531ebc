"""Issue 16: Ray, Spark and Dask tell a worker its CPU share through OMP_NUM_THREADS. Two worker
processes with OMP_NUM_THREADS=1 and the default threads=0 each run one engine thread: however
many cores the machine has, no more than 2 threads are busy, and together they use no more
than 2 CPUs."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import EVAL, MODEL

WORKER = textwrap.dedent("""
    import gzip, json, sys, time
    import refusal
    clf = refusal.Classifier(sys.argv[1])          # threads=0: the environment decides
    texts = [json.loads(l)["text"] for l in gzip.open(sys.argv[2], "rt")][:200]
    print(clf.threads, flush=True)
    sys.stdin.readline()                            # go
    end = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < end:
        clf.logits(texts)
""")

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict:
    """Thread id → CPU seconds (user + system) of every thread of process `pid`."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "REFUSAL_NUM_THREADS"])
def test_two_workers_with_one_thread_each_keep_two_threads_busy(variable):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "REFUSAL_NUM_THREADS")}
    env[variable] = "1"
    seconds = 3.0
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(MODEL), str(EVAL),
                                 str(seconds)], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for w in workers:
            assert w.stdout.readline().strip() == "1", "threads=0 did not take the variable"
        before = [thread_cpu_seconds(w.pid) for w in workers]
        start = time.monotonic()
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        time.sleep(seconds * 0.9)
        after = [thread_cpu_seconds(w.pid) for w in workers]
        wall = time.monotonic() - start
    finally:
        for w in workers:
            w.stdin.close()
            w.wait(timeout=60)
    busy = []
    total = 0.0
    for b, a in zip(before, after):
        for tid, cpu in a.items():
            used = cpu - b.get(tid, 0.0)
            total += used
            if used > 0.1 * wall:
                busy.append(used)
    assert 1 <= len(busy) <= 2, f"busy threads: {busy} in {wall:.1f} s"
    # Every thread of both processes, the idle ones included: at most 2 CPUs' worth.
    assert total <= 2 * wall + 0.1, f"{total:.2f} CPU s in {wall:.2f} s"
