"""refusal.llm_guard.NoRefusal / NoRefusalLight against LLM Guard v0.3.16.

- Against the committed results of LLM Guard's own NoRefusal on the random test model
  (tests/data/scan/llmguard-norefusal.jsonl.gz, scripts/vectors/make_llmguard_scan_vectors.py): every
  text, both match types, thresholds 0.75 and 0.5. No torch needed.
- Inside the real PyPI llm_guard.scan_output (when llm-guard is installed; it is in
  scripts/test-python.sh's venv, without its heavy dependencies): same results.
- test_reference.py compares with LLM Guard's NoRefusal running live on torch.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import refusal
from conftest import ROOT, import_llm_guard_evaluate, read_jsonl_gz
from refusal.llm_guard import MatchType, NoRefusal, NoRefusalLight

VECTORS = ROOT / "tests" / "data" / "scan" / "llmguard-norefusal.jsonl.gz"
# The sampled texts of the shared data's train/ files the vectors name by file and line; eval/
# texts are the repository's data/eval/ file.
TRAIN_TEXTS = ROOT / "tests" / "data" / "scan" / "llmguard-norefusal.texts.jsonl.gz"


@pytest.fixture(scope="module")
def vectors():
    rows = read_jsonl_gz(VECTORS)
    texts = {(t["file"], t["line"]): t["text"] for t in read_jsonl_gz(TRAIN_TEXTS)}
    cache = {}
    for r in rows:
        if r["file"] == "hand":
            continue
        if r["file"].startswith("eval/"):
            if r["file"] not in cache:
                cache[r["file"]] = [t["text"] for t in read_jsonl_gz(ROOT / "data" / r["file"])]
            r["text"] = cache[r["file"]][r["line"]]
        else:
            r["text"] = texts[(r["file"], r["line"])]
        assert len(r["text"].encode("utf-8")) == r["text_bytes"]
    return rows


@pytest.fixture(scope="module")
def scanners(model_dir):
    return {(m, t): NoRefusal(model=model_dir, threshold=t, match_type=m)
            for m in ("full", "sentence") for t in (0.75, 0.5)}


def test_equals_llm_guard_vectors(vectors, scanners):
    groups = {}
    for r in vectors:
        groups.setdefault((r["match"], r["threshold"]), []).append(r)
    assert set(groups) == set(scanners)
    for key, rows in groups.items():
        got = scanners[key].scan_many([r["text"] for r in rows])
        for r, (sanitized, is_valid, risk) in zip(rows, got):
            assert sanitized == r["text"]
            assert (is_valid, repr(risk)) == (r["is_valid"], r["risk_repr"]), (key, r["i"])
        # scan() one at a time equals scan_many
        for r in rows[:25]:
            assert scanners[key].scan("prompt", r["text"]) == (r["text"], r["is_valid"],
                                                                r["risk_score"])


def test_inside_llm_guard_scan_output(vectors, scanners):
    evaluate = import_llm_guard_evaluate()
    if evaluate is None:
        pytest.skip("llm-guard is not installed")
    light = NoRefusalLight()
    for r in vectors[::7]:
        scanner = scanners[(r["match"], r["threshold"])]
        sanitized, valid, scores = evaluate.scan_output([scanner, light], "a prompt", r["text"])
        assert sanitized == r["text"]
        if r["text"].strip() == "":  # scan_output returns before running any scanner
            assert valid == {} and scores == {}
            continue
        assert valid["NoRefusal"] == r["is_valid"]
        assert repr(scores["NoRefusal"]) == r["risk_repr"]
        assert list(valid) == ["NoRefusal", "NoRefusalLight"]
        assert (valid["NoRefusalLight"], scores["NoRefusalLight"]) == light.scan("", r["text"])[1:]


def test_no_refusal_light_equals_llm_guard(vectors):
    # LLM Guard's NoRefusalLight is BanSubstrings(...): import it if its module imports without
    # the heavy dependencies, else compare with the rule written out.
    ours = NoRefusalLight()
    theirs = None
    if import_llm_guard_evaluate() is not None:
        try:
            from llm_guard.output_scanners.no_refusal import NoRefusalLight as LG  # noqa: F401
            theirs = LG()
        except Exception:
            theirs = None
    texts = [r["text"] for r in vectors[::4]] + ["SORRY", "İ", "As An AI", "hello!"]
    for t in texts:
        if theirs is not None:
            assert ours.scan("p", t) == theirs.scan("p", t)
        low = t.lower()
        hit = any(p.lower() in low for p in NoRefusalLight.PHRASES)
        assert ours.scan("p", t) == (t, not hit, 1.0 if hit else -1.0)
    assert len(NoRefusalLight.PHRASES) == 28


def test_constructor_forms(model_dir):
    a = NoRefusal(model=model_dir, match_type=MatchType.SENTENCE)
    b = NoRefusal(model=Path(model_dir), match_type="sentence")

    class FakeModel:  # llm_guard.model.Model's fields that matter
        path = model_dir
        pipeline_kwargs = {"max_length": 128, "truncation": True}

    c = NoRefusal(model=FakeModel(), match_type="sentence", use_onnx=True)
    text = "I cannot do that. But here is a poem. Roses are red."
    assert a.scan("", text) == b.scan("", text) == c.scan("", text)
    with pytest.raises(ValueError):
        NoRefusal(model=model_dir, match_type="word")
    with pytest.raises(refusal.RefusalError):
        NoRefusal(model=model_dir, threshold=2.0)
    assert NoRefusal(model=model_dir).scan("", "  \n") == ("  \n", True, -1.0)
    assert type(a).__name__ == "NoRefusal"
