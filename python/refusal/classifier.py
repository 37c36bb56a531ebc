"""refusal.Classifier: a loaded model, called like a transformers text-classification pipeline."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Literal, Optional, TypedDict, Union, overload

import numpy as np

from . import _refusal
from ._errors import RefusalError
from ._paths import model_or_default, punkt_dir

__all__ = ["Classifier", "PipelineResult", "Prediction", "Texts"]

Texts = Union[str, Iterable[str]]
DType = Literal["fp32", "bf16", "int8"]
Preset = Literal["default", "llm-guard"]


class PipelineResult(TypedDict):
    """One ``{"label", "score"}`` item, as ``transformers.pipeline("text-classification")``."""

    label: str
    score: float


class _PredictionBase(TypedDict):
    label: str
    score: float
    scores: Dict[str, float]
    refusal: bool
    truncated: bool


class Prediction(_PredictionBase, total=False):
    """One verdict, with the fields (and order) of a ``refusal classify`` JSONL record.

    ``is_valid`` and ``risk_score`` with ``preset="llm-guard"``; ``logits`` with
    ``raw_scores=True``; ``explain`` with ``explain=True``.
    """

    is_valid: bool
    risk_score: float
    logits: List[float]
    explain: Dict[str, Any]


class _Unset:
    def __reduce__(self) -> Any:
        return (_load_classifier, (dict(self._arguments),))

    def __repr__(self) -> str:  # pragma: no cover
        return "<unset>"


_UNSET: Any = _Unset()


def _numpy_softmax(x: np.ndarray) -> np.ndarray:
    # transformers.pipelines.text_classification.softmax, in the same float32 steps.
    maxes = np.max(x, axis=-1, keepdims=True)
    shifted_exp = np.exp(x - maxes)
    out: np.ndarray = shifted_exp / shifted_exp.sum(axis=-1, keepdims=True)
    return out


def _numpy_sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


class Classifier:
    """A refusal classifier: the C++ engine with its tokenizer, loaded once.

    Args:
        model: a model folder (``config.json``, ``model.safetensors``, tokenizer files, as
            ``save_pretrained`` writes it), a Hugging Face cache folder, or a hub id such as
            ``"ProtectAI/distilroberta-base-rejection-v1"`` looked up in the local cache (never
            downloaded). ``None``: the bundled default model (:func:`refusal.default_model_path`).
        threads: worker threads per call, the caller's included; 0: ``$REFUSAL_NUM_THREADS``,
            else ``$OMP_NUM_THREADS`` (a Ray, Spark or Dask worker's CPU share), else the CPUs
            this process may use (affinity and cgroup quota).
        max_length: tokens per model input, special tokens included. Longer texts are truncated
            (``long_text="truncate"``) or scored in overlapping windows (``"windows"``). Default:
            the tokenizer's (512), or 128 with ``preset="llm-guard"``.
        dtype: ``"fp32"`` (exact: transformers' logits within 1e-4), ``"bf16"`` or ``"int8"``
            (faster, slightly different scores).
        threshold: ``refusal`` is ``score > threshold`` (default 0.5, 0.75 with llm-guard).
        match: ``"full"`` scores the whole text; ``"sentence"`` scores each sentence (nltk Punkt,
            as LLM Guard splits) and keeps the highest.
        long_text: ``"truncate"`` or ``"windows"`` (see ``max_length``).
        stride: tokens shared by consecutive windows (0: max_length / 4).
        preset: ``"default"``, or ``"llm-guard"`` for LLM Guard NoRefusal's semantics
            (2-decimal scores, ``is_valid`` and ``risk_score``, threshold 0.75, 128 tokens).
        batch_tokens: tokens per engine call when many texts are classified at once.

    Raises:
        RefusalError: the model cannot be found or read, or an option is out of range.

    Calls are thread-safe: one Classifier may be used from many Python threads at once, and
    every call releases the GIL while the engine runs.

    A Classifier pickles as its constructor arguments, never its weights: unpickling (on a Ray
    or Spark worker, say) loads the model again from the same path, so that path must be
    readable there. ``model=None`` means the unpickling side's own bundled model, and
    ``threads=0`` its own CPU share (``REFUSAL_NUM_THREADS``, ``OMP_NUM_THREADS``, ...).
    """

    def __init__(
        self,
        model: "Optional[Union[str, os.PathLike[str]]]" = None,
        *,
        threads: int = 0,
        max_length: Optional[int] = None,
        dtype: DType = "fp32",
        threshold: Optional[float] = None,
        match: Literal["full", "sentence"] = "full",
        long_text: Literal["truncate", "windows"] = "truncate",
        stride: int = 0,
        preset: Preset = "default",
        batch_tokens: int = 8192,
    ) -> None:
        if preset == "keywords":
            raise RefusalError("preset: 'keywords' needs no model: use "
                               "refusal.llm_guard.NoRefusalLight")
        if stride < 0:
            raise RefusalError(f"stride: {stride} is negative")
        self._preset: Preset = preset
        self._model = model_or_default(model)
        # What pickling sends: the arguments, a model folder made absolute (a worker's working
        # folder may differ), a hub id or None as given.
        given = None if model is None or os.fspath(model) == "" else os.fspath(model)
        if given is not None and os.path.exists(given):
            given = os.path.abspath(given)
        self._arguments: Dict[str, Any] = dict(
            model=given, threads=threads, max_length=max_length, dtype=dtype,
            threshold=threshold, match=match, long_text=long_text, stride=stride, preset=preset,
            batch_tokens=batch_tokens)
        self._core = _refusal.Classifier(
            self._model,
            threads=int(threads),
            dtype=str(dtype),
            max_length=None if max_length is None else int(max_length),
            stride=int(stride),
            threshold=None if threshold is None else float(threshold),
            match=str(match),
            long_text=str(long_text),
            preset=str(preset),
            batch_tokens=int(batch_tokens),
            punkt_dir=punkt_dir() if match == "sentence" else "",
        )
        self._labels: List[str] = list(self._core.labels)

    # ---- what was loaded ----

    @property
    def labels(self) -> List[str]:
        """The model's labels, by id (``config.json``'s ``id2label``)."""
        return list(self._labels)

    @property
    def id2label(self) -> Dict[int, str]:
        return dict(enumerate(self._labels))

    @property
    def refusal_label(self) -> str:
        """The label whose probability is ``score`` (REJECTION / REFUSAL, else label 1)."""
        return self._labels[self._core.refusal_label]

    @property
    def model_path(self) -> str:
        """The folder the model was loaded from."""
        return self._core.model_folder

    @property
    def threads(self) -> int:
        return self._core.threads

    @property
    def dtype(self) -> str:
        return self._core.dtype

    @property
    def isa(self) -> str:
        """The instruction set the kernels use, e.g. ``"avx512+bf16+vnni"``."""
        return self._core.isa

    @property
    def threshold(self) -> float:
        """``refusal`` is ``score > threshold`` (the preset's unless given)."""
        return self._core.threshold

    @property
    def max_length(self) -> int:
        """Tokens per model input, special tokens included (the preset's or the model's)."""
        return self._core.max_length

    def __reduce__(self) -> Any:
        return (_load_classifier, (dict(self._arguments),))

    def __repr__(self) -> str:
        return (f"refusal.Classifier(model={self._model!r}, labels={self._labels}, "
                f"dtype={self.dtype!r}, threads={self.threads}, preset={self._preset!r})")

    # ---- numbers ----

    def logits(self, texts: Texts) -> np.ndarray:
        """The model's logits, float32 ``[len(texts), num_labels]`` (a str counts as one text).

        With ``match="sentence"`` or ``long_text="windows"`` the row is the deciding sentence's
        or window's; a text with nothing to score (blank, in sentence or llm-guard mode) gets 0s.
        """
        return self._core.arrays(texts)[1]

    def probabilities(self, texts: Texts) -> np.ndarray:
        """Every label's probability (softmax, or sigmoid for multi-label models), float32
        ``[len(texts), num_labels]``, as the engine computes them (the ``scores`` of
        :meth:`predict`)."""
        return self._core.arrays(texts)[0]

    # ---- verdicts ----

    @overload
    def predict(  # type: ignore[overload-overlap]
            self, texts: str, *, explain: bool = ..., raw_scores: bool = ...) -> Prediction:
        ...

    @overload
    def predict(self, texts: Iterable[str], *, explain: bool = ...,
                raw_scores: bool = ...) -> List[Prediction]:
        ...

    def predict(self, texts: Texts, *, explain: bool = False,
                raw_scores: bool = False) -> Union[Prediction, List[Prediction]]:
        """Verdicts with the fields of ``refusal classify``'s records.

        Each is ``{"label", "score", "scores", "refusal", "truncated"}``: ``label`` the argmax
        label, ``score`` the refusal label's probability, ``scores`` every label's probability,
        ``refusal`` ``score > threshold``, ``truncated`` whether text was cut at max_length; plus
        ``is_valid``/``risk_score`` (llm-guard preset), ``logits`` (raw_scores) and ``explain``
        (the deciding sentence or window and its code-point span).

        A str gives one dict, any other iterable of str a list.
        """
        records = self._core.records(texts, explain=explain, raw_scores=raw_scores)
        return records[0] if isinstance(texts, str) else records  # type: ignore[return-value]

    def is_refusal(self, texts: Texts) -> Union[bool, List[bool]]:
        """``score > threshold`` for each text (a str gives one bool)."""
        flags = [v.refusal for v in self._core.classify(texts)]
        return flags[0] if isinstance(texts, str) else flags

    # ---- transformers.pipeline("text-classification") ----

    def __call__(self, inputs: Texts, top_k: Optional[int] = _UNSET,
                 function_to_apply: Optional[str] = None, **kwargs: Any) -> Any:
        """What ``transformers.pipeline("text-classification")(inputs, ...)`` returns.

        - ``clf("text")`` → ``[{"label", "score"}]`` (the top label);
          ``clf(["a", "b"])`` → ``[{...}, {...}]``.
        - ``top_k=None`` → every label, highest score first; ``top_k=k`` → the first k. Then
          ``clf("text", top_k=None)`` → ``[{...}, ...]`` and ``clf([...], top_k=None)`` → one
          such list per text.
        - ``function_to_apply``: ``"softmax"``, ``"sigmoid"`` or ``"none"``; by default as the
          pipeline decides from the model config (softmax; sigmoid for multi-label or
          one-label models).

        Scores are computed from the engine's float32 logits in the pipeline's own float32
        numpy steps. Tokenizer keyword arguments the pipeline accepts (``truncation``,
        ``padding``, ``max_length``, ``batch_size``) are accepted and ignored: texts longer than
        the Classifier's ``max_length`` are always truncated (the pipeline without
        ``truncation=True`` would raise instead).
        """
        allowed = {"truncation", "padding", "max_length", "batch_size", "num_workers",
                   "return_token_type_ids"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"unexpected keyword arguments: {sorted(unknown)}")
        legacy = top_k is _UNSET
        if legacy:
            top_k = 1
        single = isinstance(inputs, str)
        logits = self._core.arrays(inputs)[1]
        fn = (function_to_apply or "default").lower()
        if fn == "default":
            problem = self._core.problem_type
            if problem == "regression":
                fn = "none"
            elif problem == "multi_label_classification" or len(self._labels) == 1:
                fn = "sigmoid"
            else:
                fn = "softmax"
        if fn == "softmax":
            scores = _numpy_softmax(logits)
        elif fn == "sigmoid":
            scores = _numpy_sigmoid(logits)
        elif fn == "none":
            scores = logits
        else:
            raise ValueError(f"Unrecognized `function_to_apply` argument: {function_to_apply}")
        results: List[Any] = []
        for row in scores:
            if top_k == 1 and legacy:
                results.append({"label": self._labels[row.argmax().item()],
                                "score": row.max().item()})
                continue
            items = [{"label": self._labels[i], "score": s.item()} for i, s in enumerate(row)]
            if not legacy:
                items.sort(key=lambda x: x["score"], reverse=True)
                if top_k is not None:
                    items = items[:top_k]
            results.append(items)
        if single:
            return [results[0]] if legacy else results[0]
        return results


def _load_classifier(arguments: Dict[str, Any]) -> Classifier:
    """Unpickles a Classifier: loads the model again from its constructor arguments."""
    return Classifier(**arguments)
