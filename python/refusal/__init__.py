"""refusal: is this LLM answer a refusal? The refusal C++ engine for Python.

    import refusal

    clf = refusal.Classifier("path/to/model")            # or a hub id in the local HF cache
    clf("I'm sorry, but I can't help with that.")       # like transformers.pipeline(...)
    # [{'label': 'REJECTION', 'score': 0.99...}]
    clf.predict(["Sure, here it is.", "I can't help."])  # refusal classify's records
    clf.logits(["..."])                                 # numpy float32 [n, labels]

    from refusal.llm_guard import NoRefusal             # LLM Guard's scanner, drop-in
    refusal.classify_file("answers.jsonl.gz", "verdicts.jsonl", model="...")

    import refusal.ray, refusal.spark                   # on a cluster: docs/scale-out.md

See docs/python.md.
"""
from __future__ import annotations

from typing import Any

from . import _refusal
from ._errors import RefusalError
from ._paths import default_model_path
from .batch import JobCounts, classify_file
from .classifier import Classifier, PipelineResult, Prediction

__version__: str = _refusal.version()

__all__ = [
    "Classifier",
    "JobCounts",
    "PipelineResult",
    "Prediction",
    "RefusalError",
    "classify_file",
    "default_model_path",
    "llm_guard",
    "ray",
    "spark",
    "__version__",
]


def __getattr__(name: str) -> Any:  # refusal.llm_guard, .ray, .spark without importing up front
    if name in ("llm_guard", "ray", "spark"):
        import importlib

        return importlib.import_module(".llm_guard", __name__)
    raise AttributeError(f"module 'refusal' has no attribute {name!r}")
