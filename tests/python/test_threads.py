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
    # the same calls, one after another (results may differ in the last bit between different
    # batches, never between threads)
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
    c = refusal.Classifier(str(MODEL), threads=1)
    texts = eval_texts * 2
    ticks = 0
    stop = threading.Event()

    def spin():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    start = time.perf_counter()
    c.logits(texts)
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    # With the GIL held for the whole call the spinner could not tick at all.
    if elapsed > 0.2:
        assert ticks > 10, (ticks, elapsed)
