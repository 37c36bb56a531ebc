"""refusal.Classifier: the transformers pipeline's outputs, logits, errors."""
from __future__ import annotations

import gzip
import json
import math
import os
import shutil

import numpy as np
import pytest

import refusal
from conftest import MODEL, ROOT

PIPELINE_VECTORS = ROOT / "tests" / "data" / "classify" / "pipeline-eval.jsonl.gz"


def test_pipeline_vectors(clf, eval_texts):
    """Equal to transformers.pipeline('text-classification') on the transformers-made random
    model (vectors from scripts/vectors/make_classify_vectors.py, transformers 5.24), every eval row."""
    with gzip.open(PIPELINE_VECTORS, "rt", encoding="utf-8") as f:
        want = [json.loads(line) for line in f]
    assert len(want) == len(eval_texts)
    top = clf(eval_texts)
    every = clf(eval_texts, top_k=None)
    worst = 0.0
    for w, t, e in zip(want, top, every):
        assert t["label"] == w["label"]
        worst = max(worst, abs(t["score"] - w["score"]))
        assert [d["label"] for d in e] == sorted(w["scores"], key=lambda k: -w["scores"][k])
        for d in e:
            worst = max(worst, abs(d["score"] - w["scores"][d["label"]]))
    assert worst <= 1e-4, worst


def test_pipeline_shapes(clf):
    one = clf("I'm sorry, but I can't help with that.")
    assert isinstance(one, list) and len(one) == 1 and set(one[0]) == {"label", "score"}
    assert isinstance(one[0]["score"], float) and one[0]["label"] in clf.labels
    many = clf(["a", "b", "c"])
    assert len(many) == 3 and all(isinstance(d, dict) for d in many)
    every = clf("text", top_k=None)
    assert [type(d) for d in every] == [dict, dict]
    assert every[0]["score"] >= every[1]["score"]
    assert math.isclose(sum(d["score"] for d in every), 1.0, rel_tol=1e-6)
    nested = clf(["a", "b"], top_k=None)
    assert len(nested) == 2 and all(len(x) == 2 for x in nested)
    top1 = clf(["a", "b"], top_k=1)
    assert len(top1) == 2 and all(isinstance(x, list) and len(x) == 1 for x in top1)
    assert clf("a", top_k=1) == [every_top(clf("a", top_k=None))]
    assert clf([]) == []
    assert clf("a", truncation=True, max_length=512) == clf("a")
    with pytest.raises(TypeError):
        clf("a", not_an_option=1)
    # tuples, generators and numpy string arrays are texts too
    assert clf(("a", "b")) == clf(t for t in ["a", "b"]) == clf(np.array(["a", "b"]))


def every_top(items):
    return items[0]


def test_function_to_apply(clf):
    text = ["Sure, here is the recipe."]
    logits = clf.logits(text)[0]
    none = clf(text, top_k=None, function_to_apply="none")[0]
    assert {d["label"]: d["score"] for d in none} == pytest.approx(
        dict(zip(clf.labels, logits.tolist())))
    sig = clf(text, top_k=None, function_to_apply="sigmoid")[0]
    assert {d["label"]: d["score"] for d in sig} == pytest.approx(
        dict(zip(clf.labels, (1 / (1 + np.exp(-logits))).tolist())))
    with pytest.raises(ValueError):
        clf(text, function_to_apply="bogus")


def test_logits_and_probabilities(clf):
    texts = ["I'm sorry, I can't do that.", "Here is the answer: 42.", ""]
    logits = clf.logits(texts)
    assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
    assert logits.shape == (3, 2)
    assert clf.logits("one text").shape == (1, 2)
    assert clf.logits([]).shape == (0, 2)
    probs = clf.probabilities(texts)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), atol=1e-6)
    # the same text gives the same numbers whatever the batch around it
    np.testing.assert_array_equal(clf.logits(texts[1]), logits[1:2])


def test_predict_record(clf):
    r = clf.predict("I'm sorry, but I can't help with that.")
    assert list(r) == ["label", "score", "scores", "refusal", "truncated"]
    assert r["score"] == pytest.approx(r["scores"][clf.refusal_label])
    assert r["refusal"] == (r["score"] > 0.5)
    rs = clf.predict(["a", "b"], explain=True, raw_scores=True)
    assert len(rs) == 2 and list(rs[0])[-2:] == ["logits", "explain"]
    assert rs[0]["explain"]["text"] == "a"
    long = clf.predict("word " * 1000)
    assert long["truncated"] is True
    assert clf.is_refusal(["a", "b"]) == [x["refusal"] for x in rs]


def test_properties(clf):
    assert clf.labels == ["NORMAL", "REJECTION"]
    assert clf.id2label == {0: "NORMAL", 1: "REJECTION"}
    assert clf.refusal_label == "REJECTION"
    assert os.path.samefile(clf.model_path, MODEL)
    assert clf.threads == 2 and clf.dtype == "fp32" and clf.isa
    assert "refusal.Classifier" in repr(clf)
    assert refusal.__version__


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_dtypes(dtype, eval_texts):
    fast = refusal.Classifier(str(MODEL), dtype=dtype, threads=1)
    exact = refusal.Classifier(str(MODEL), threads=1)
    texts = eval_texts[:20]
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast.probabilities(texts), exact.probabilities(texts), atol=0.05)


def test_llm_guard_preset_and_sentence_mode(model_dir):
    c = refusal.Classifier(model_dir, preset="llm-guard", match="sentence")
    r = c.predict("I can't help with that. Here is something else.")
    assert list(r) == ["label", "score", "scores", "refusal", "is_valid", "risk_score",
                       "truncated"]
    assert r["score"] == round(r["score"], 2)
    blank = c.predict("   ")
    assert blank["is_valid"] is True and blank["risk_score"] == -1.0


def test_errors_are_python_exceptions(model_dir, tmp_path):
    assert issubclass(refusal.RefusalError, ValueError)
    with pytest.raises(refusal.RefusalError, match="no such folder|not found|config.json"):
        refusal.Classifier(str(tmp_path / "missing"))
    with pytest.raises(refusal.RefusalError, match="dtype"):
        refusal.Classifier(model_dir, dtype="fp8")
    with pytest.raises(refusal.RefusalError, match="max_length"):
        refusal.Classifier(model_dir, max_length=2)
    with pytest.raises(refusal.RefusalError, match="max_length: 100000 is more than"):
        refusal.Classifier(model_dir, max_length=100000)
    with pytest.raises(refusal.RefusalError, match="threshold"):
        refusal.Classifier(model_dir, threshold=1.5)
    with pytest.raises(refusal.RefusalError, match="match"):
        refusal.Classifier(model_dir, match="word")
    with pytest.raises(refusal.RefusalError, match="preset"):
        refusal.Classifier(model_dir, preset="nope")
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(refusal.RefusalError):
        refusal.Classifier(str(bad))
    c = refusal.Classifier(model_dir, threads=1)
    with pytest.raises(refusal.RefusalError, match=r"texts\[1\]: expected str, got int"):
        c(["ok", 3])
    with pytest.raises(refusal.RefusalError, match="expected a str or a list of str"):
        c.logits(None)
    with pytest.raises(refusal.RefusalError, match="bytes"):
        c.predict(b"bytes")
    with pytest.raises(refusal.RefusalError, match="UTF-8"):
        c.predict("lone \ud800 surrogate")
    assert c.predict("still works")["label"] in c.labels


def test_default_model(monkeypatch, tmp_path, model_dir):
    monkeypatch.setenv("REFUSAL_DATA_DIR", str(tmp_path))
    try:
        path = refusal.default_model_path()
    except refusal.RefusalError as e:
        assert "bundled default model" in str(e) and str(tmp_path) in str(e)
        with pytest.raises(refusal.RefusalError, match="bundled default model"):
            refusal.Classifier()
    else:  # a bundled model is installed (or in the source tree)
        assert os.path.exists(os.path.join(path, "config.json"))
    shutil.copytree(model_dir, tmp_path / "models" / "default")
    assert os.path.samefile(refusal.default_model_path(), tmp_path / "models" / "default")
    assert refusal.Classifier(threads=1).labels == ["NORMAL", "REJECTION"]
