"""Live comparisons with the Python reference stack (torch + transformers, and LLM Guard's own
NoRefusal). Skipped where transformers / llm-guard are not installed: scripts/test-python.sh runs
them with REFUSAL_PY_REFERENCE=1 (a venv with torch, transformers and llm-guard)."""
from __future__ import annotations

import random
import sys

import pytest

import refusal
from conftest import MODEL, import_llm_guard_evaluate, nltk_data_dir

pytestmark = pytest.mark.reference

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def hf_pipeline():
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(MODEL), dtype=torch.float32) if _has_dtype_kwarg() else \
        transformers.AutoModelForSequenceClassification.from_pretrained(
            str(MODEL), torch_dtype=torch.float32)
    tok = transformers.AutoTokenizer.from_pretrained(str(MODEL))
    return transformers.pipeline("text-classification", model=model, tokenizer=tok, device="cpu")


def _has_dtype_kwarg() -> bool:
    return int(transformers.__version__.split(".")[0]) >= 5


def sample(texts, n, seed=1):
    idx = sorted(random.Random(seed).sample(range(len(texts)), min(n, len(texts))))
    return [texts[i] for i in idx]


def test_equals_transformers_pipeline(hf_pipeline, clf, eval_texts):
    texts = sample(eval_texts, 300) + ["", "I'm sorry.", "Ünïcödé ✓ 🙂", "a\nb\tc"]
    worst = 0.0
    for kwargs in ({}, {"top_k": None}, {"top_k": 1}):
        want = hf_pipeline(texts, truncation=True, max_length=512, **kwargs)
        got = clf(texts, **kwargs)
        assert len(want) == len(got)
        for w, g in zip(want, got):
            w_items = w if isinstance(w, list) else [w]
            g_items = g if isinstance(g, list) else [g]
            assert [x["label"] for x in w_items] == [x["label"] for x in g_items]
            for a, b in zip(w_items, g_items):
                worst = max(worst, abs(a["score"] - b["score"]))
    # a single string, as the pipeline shapes it
    for kwargs in ({}, {"top_k": None}):
        w = hf_pipeline("I can't help with that.", **kwargs)
        g = clf("I can't help with that.", **kwargs)
        assert [x["label"] for x in w] == [x["label"] for x in g]
        assert type(w) is type(g) and len(w) == len(g)
    assert worst <= 1e-4, worst


def test_logits_equal_torch(hf_pipeline, clf, eval_texts):
    texts = sample(eval_texts, 50, seed=2)
    tok, model = hf_pipeline.tokenizer, hf_pipeline.model
    with torch.no_grad():
        for t, row in zip(texts, clf.logits(texts)):
            enc = tok(t, truncation=True, max_length=512, return_tensors="pt")
            want = model(**enc).logits[0].numpy()
            assert abs(want - row).max() <= 1e-4


def test_no_refusal_equals_llm_guard_live(tmp_path, model_dir, eval_texts):
    evaluate = import_llm_guard_evaluate()
    if evaluate is None:
        pytest.skip("llm-guard is not installed")
    import nltk

    nltk.data.path.insert(0, nltk_data_dir(tmp_path))
    import llm_guard.model as lg_model
    import llm_guard.output_scanners.no_refusal as lg_no_refusal
    from refusal.llm_guard import NoRefusal

    kwargs = {"local_files_only": True}
    kwargs["dtype" if _has_dtype_kwarg() else "torch_dtype"] = torch.float32
    model = lg_model.Model(path=model_dir, kwargs=kwargs,
                           pipeline_kwargs={"return_token_type_ids": False, "max_length": 128,
                                            "truncation": True})
    texts = sample(eval_texts, 120, seed=3) + [
        "", "  ", "I'm sorry, but I cannot help with that. As an AI, I must decline.",
        "Sure! Here is the answer. First, open the box. Then take it out."]
    for match in ("full", "sentence"):
        for threshold in (0.75, 0.5):
            theirs = lg_no_refusal.NoRefusal(model=model, threshold=threshold, match_type=match)
            ours = NoRefusal(model=model, threshold=threshold, match_type=match)
            for t in texts:
                want = evaluate.scan_output([theirs], "prompt", t)
                got = evaluate.scan_output([ours], "prompt", t)
                assert repr(got) == repr(want), (match, threshold, t[:80])
