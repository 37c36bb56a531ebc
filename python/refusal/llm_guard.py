"""Drop-in LLM Guard output scanners: ``NoRefusal`` and ``NoRefusalLight``.

They behave as ``llm_guard.output_scanners.NoRefusal`` / ``NoRefusalLight`` (v0.3.16) do:
``scan(prompt, output)`` returns ``(sanitized_output, is_valid, risk_score)`` with the same
values, so they can sit in ``llm_guard.scan_output([...], prompt, output)`` next to LLM Guard's
own scanners (results are keyed by the class name, ``"NoRefusal"``, as LLM Guard's are).
This module does not import llm_guard, transformers or torch.

    from llm_guard import scan_output
    from refusal.llm_guard import NoRefusal

    scanner = NoRefusal(threshold=0.75, match_type="sentence")
    sanitized, valid, scores = scan_output([scanner], prompt, output)
"""
from __future__ import annotations

import enum
import os
from typing import Any, Iterable, List, Optional, Tuple, Union

from . import _refusal
from ._errors import RefusalError
from .classifier import Classifier, DType

__all__ = ["MatchType", "NoRefusal", "NoRefusalLight"]

ScanResult = Tuple[str, bool, float]


class MatchType(enum.Enum):
    """What NoRefusal scores: each sentence (nltk Punkt) or the full output."""

    SENTENCE = "sentence"
    FULL = "full"


def _match_value(match_type: Any) -> str:
    # A str, this MatchType, or llm_guard's own MatchType (an Enum with the same values).
    value = getattr(match_type, "value", match_type)
    try:
        return MatchType(value).value
    except ValueError:
        raise ValueError(f"{value!r} is not a valid MatchType") from None


def _model_args(model: Any) -> Tuple[Optional[str], Optional[int]]:
    """(path, max_length) from a folder / hub id, or from an ``llm_guard.model.Model``."""
    if model is None:
        return None, None
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model), None
    path = getattr(model, "path", None)
    if not isinstance(path, str):
        raise RefusalError(f"model: expected a folder, a hub id or an llm_guard Model, got "
                           f"{type(model).__name__}")
    kwargs = getattr(model, "pipeline_kwargs", None) or {}
    max_length = kwargs.get("max_length")
    return path, int(max_length) if max_length else None


class NoRefusal:
    """LLM Guard's NoRefusal output scanner on the refusal C++ engine.

    Args:
        model: a model folder or hub id (local cache), an ``llm_guard.model.Model`` (its ``path``
            and ``pipeline_kwargs["max_length"]`` are used), or None for the bundled default
            model. LLM Guard's own default is ``ProtectAI/distilroberta-base-rejection-v1``:
            pass that hub id (in the local cache) or its folder for LLM Guard's verdicts.
        threshold: an output is invalid when a score exceeds it (default: the llm-guard
            preset's, 0.75, LLM Guard's).
        match_type: ``"full"`` (default) or ``"sentence"``, or a ``MatchType`` (this module's or
            LLM Guard's).
        use_onnx: accepted for compatibility and ignored (the C++ engine runs either way).
        threads, dtype: as for :class:`refusal.Classifier`.
        max_length: tokens per model input (default: the model's ``pipeline_kwargs``, else the
            llm-guard preset's 128, as LLM Guard's pipeline).

    ``scan`` gives exactly LLM Guard's results: scores are the REJECTION probability (or
    1 - the NORMAL one) rounded to 2 decimals, the first sentence over the threshold decides
    with ``calculate_risk_score``'s risk (``-0.0`` included), a blank output is
    ``(output, True, -1.0)``; the sanitized output is the output unchanged.
    """

    def __init__(
        self,
        *,
        model: Any = None,
        threshold: Optional[float] = None,
        match_type: Union[MatchType, str, Any] = MatchType.FULL,
        use_onnx: bool = False,
        threads: int = 0,
        dtype: DType = "fp32",
        max_length: Optional[int] = None,
    ) -> None:
        path, model_max_length = _model_args(model)
        self._match_type = MatchType(_match_value(match_type))
        self._classifier = Classifier(
            path,
            threads=threads,
            dtype=dtype,
            max_length=max_length or model_max_length,
            threshold=threshold,
            match=self._match_type.value,
            preset="llm-guard",
        )

    @property
    def classifier(self) -> Classifier:
        """The underlying :class:`refusal.Classifier` (preset ``"llm-guard"``)."""
        return self._classifier

    def scan(self, prompt: str, output: str) -> ScanResult:
        """``(output, is_valid, risk_score)`` for one model output; ``prompt`` is ignored."""
        v = self._classifier._core.classify([output])[0]
        return output, bool(v.is_valid), float(v.risk_score)

    def scan_many(self, outputs: Iterable[str]) -> List[ScanResult]:
        """``scan`` for many outputs in one batched engine call (same results, faster)."""
        outputs = list(outputs)
        verdicts = self._classifier._core.classify(outputs)
        return [(o, bool(v.is_valid), float(v.risk_score)) for o, v in zip(outputs, verdicts)]


class NoRefusalLight:
    """LLM Guard's NoRefusalLight: 28 refusal phrases, case-insensitive substring match.

    ``scan`` returns ``(output, False, 1.0)`` when a phrase occurs in the output (both sides
    lowercased with Python's ``str.lower``), else ``(output, True, -1.0)``. No model.
    """

    #: The phrases, verbatim and in LLM Guard's order.
    PHRASES: Tuple[str, ...] = tuple(_refusal.no_refusal_light_phrases())

    def scan(self, prompt: str, output: str) -> ScanResult:
        """``(output, is_valid, risk_score)``; ``prompt`` is ignored."""
        is_valid, risk, _ = _refusal.no_refusal_light(output)
        return output, bool(is_valid), float(risk)

    def matches(self, output: str) -> List[str]:
        """The (lowercased) phrases found in ``output``, in list order."""
        return list(_refusal.no_refusal_light(output)[2])
