"""One Classifier called from many Python threads at once: same results, no crash, GIL free."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import refusal
from conftest import MODEL


def test_threads_share_one_classifier(clf, eval_texts):
    texts = eval_texts[:96]
    chunks = [texts[i::8] for i in range(8)]
    # the same calls, one after another
    want = [(clf.logits(c), clf.predict(c)) for c in chunks]

    def work(i):
        out = []
        for _ in range(3):
            out.append((clf.logits(chunks[i]), clf.predict(chunks[i]), clf(chunks[i], top_k=None)))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    for i, runs in enumerate(results):
        for logits, pred, _ in runs:
            np.testing.assert_array_equal(logits, want[i][0])
            assert pred == want[i][1]


def test_llm_guard_scanner_threads(model_dir, eval_texts):
    from refusal.llm_guard import NoRefusal

    scanner = NoRefusal(model=model_dir, match_type="sentence", threads=1)
    texts = eval_texts[:64]
    want = [scanner.scan("", t) for t in texts]
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda t: scanner.scan("", t), texts))
    assert got == want


def test_gil_is_released_during_inference(eval_texts):
    """While one thread is inside a long classify call, another Python thread keeps running.

    The main thread records a timestamp per loop turn (one per millisecond) while a worker thread
    runs `logits`. A call that held the GIL from start to end would leave one gap as long as the
    call itself between two turns; with the GIL released the longest gap is a scheduling hiccup.
    The call is made long enough (texts repeated until one call takes >= 0.5 s) for the two to
    be far apart.
    """
    c = refusal.Classifier(str(MODEL), threads=1)
    texts = eval_texts[:64]
    while True:
        start = time.perf_counter()
        c.logits(texts)
        if time.perf_counter() - start >= 0.5 or len(texts) >= 64 * len(eval_texts):
            break
        texts = texts * 2

    call = {}
    started = threading.Event()

    def classify():
        started.set()
        call["start"] = time.perf_counter()
        c.logits(texts)
        call["end"] = time.perf_counter()

    worker = threading.Thread(target=classify)
    turns = []
    worker.start()
    started.wait()
    while worker.is_alive():
        turns.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()

    duration = call["end"] - call["start"]
    inside = [t for t in turns if call["start"] <= t <= call["end"]]
    marks = [call["start"], *inside, call["end"]]
    longest_gap = max(b - a for a, b in zip(marks, marks[1:]))
    assert duration >= 0.25, f"the call took {duration:.3f} s: too short to tell"
    assert longest_gap < 0.5 * duration, (
        f"the main thread stood still for {longest_gap:.3f} s of a {duration:.3f} s call: "
        "the GIL was held")
