"""refusal on Spark: an iterator pandas UDF that returns the CLI's record fields as a struct.

    from pyspark.sql import functions as F
    import refusal.spark

    classify = refusal.spark.classify_udf(model="/models/refusal")    # on the driver
    out = df.withColumn("verdict", classify("text")).select("*", "verdict.*")

    # pyspark.ml.functions.predict_batch_udf, for pipelines built on it:
    predict = refusal.spark.predict_batch_udf(model="/models/refusal", batch_size=256)
    df.withColumn("verdict", predict("text"))

Needs ``pip install refusal[spark]`` (pyspark, pandas, pyarrow) and Java 17 for Spark itself. See
docs/scale-out.md.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _refusal
from ._errors import RefusalError
from ._frames import EXPLAIN_FIELDS, ERROR, BatchScorer, result_fields
from ._paths import model_or_default
from .classifier import Classifier

__all__ = ["classify_udf", "predict_batch_udf", "result_schema"]

PathLike = Union[str, "os.PathLike[str]"]

# One BatchScorer per set of options, per Python worker process: Spark reuses its Python
# workers (spark.python.worker.reuse, on by default), so the model loads once per worker, not
# once per task or batch.
_SCORERS: Dict[Tuple[Any, ...], BatchScorer] = {}


def _task_cpus() -> int:
    """spark.task.cpus of the running task, at least 1; 0 outside a Spark task."""
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        return max(1, int(context.cpus())) if context is not None else 0
    except Exception:  # noqa: BLE001
        return 0


def _scorer(options: Dict[str, Any]) -> BatchScorer:
    key = tuple(sorted(options.items()))
    scorer = _SCORERS.get(key)
    if scorer is None:
        kwargs = dict(options)
        explain = kwargs.pop("explain")
        raw_scores = kwargs.pop("raw_scores")
        if kwargs.get("threads") is None:
            kwargs["threads"] = _task_cpus()
        scorer = BatchScorer(Classifier(**kwargs), "text", explain, raw_scores)
        _SCORERS[key] = scorer
    return scorer


def result_schema(labels: Sequence[str], *, preset: str = "default", explain: bool = False,
                  raw_scores: bool = False) -> Any:
    """The Spark StructType of :func:`classify_udf`'s column, for a model with ``labels``."""
    from pyspark.sql import types as T

    explain_types = {str: T.StringType(), int: T.LongType()}
    types = {
        "label": T.StringType(),
        "score": T.DoubleType(),
        "scores": T.StructType([T.StructField(label, T.DoubleType()) for label in labels]),
        "refusal": T.BooleanType(),
        "is_valid": T.BooleanType(),
        "risk_score": T.DoubleType(),
        "truncated": T.BooleanType(),
        "logits": T.ArrayType(T.DoubleType()),
        "explain": T.StructType([T.StructField(n, explain_types[t]) for n, t in EXPLAIN_FIELDS]),
        ERROR: T.StringType(),
    }
    fields = result_fields(preset, explain, raw_scores)
    return T.StructType([T.StructField(f, types[f]) for f in fields])


def _options(model: Optional[PathLike], preset: str, threads: Optional[int],
             explain: bool, raw_scores: bool, options: Dict[str, Any]) -> Dict[str, Any]:
    if preset == "keywords":
        raise RefusalError("preset: 'keywords' needs no model and has no Spark UDF: use "
                           "refusal.llm_guard.NoRefusalLight in a plain UDF")
    # A model folder as an absolute path (the workers' working folder may differ); None: each
    # worker's bundled model.
    path = None if model is None else os.fspath(model)
    if path is not None and os.path.exists(path):
        path = os.path.abspath(path)
    return dict(options, model=path, preset=preset, threads=threads, explain=bool(explain),
                raw_scores=bool(raw_scores))


def classify_udf(model: Optional[PathLike] = None, *, preset: str = "default",
                 threads: Optional[int] = None, explain: bool = False, raw_scores: bool = False,
                 **options: Any) -> Any:
    """An iterator pandas UDF: a string column in, a struct column out with the fields of
    ``refusal classify``'s records: ``label``, ``score``, ``scores`` (a struct, one double per
    label), ``refusal``, [``is_valid``, ``risk_score`` with ``preset="llm-guard"``],
    ``truncated``, [``logits``], [``explain``], and ``error``: null for a classified row, the
    message for a bad one (a null, a text the engine refuses), whose other fields are null. A
    bad row never fails a task.

    The model is loaded once per Python worker and kept for the worker's later tasks. ``model``
    is a path every executor can read (or a hub id in each executor's local cache); it is read
    here once for its labels. ``threads``: engine threads; None: the task's ``spark.task.cpus``.
    ``options``: the other arguments of :class:`refusal.Classifier` (``dtype``, ``threshold``,
    ``match``, ``long_text``, ``max_length``, ``stride``, ``batch_tokens``).
    """
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    opts = _options(model, preset, threads, explain, raw_scores, options)
    labels = _refusal.model_labels(model_or_default(opts["model"]))
    schema = result_schema(labels, preset=preset, explain=explain, raw_scores=raw_scores)

    def classify(batches):  # type: ignore[no-untyped-def]
        scorer = _scorer(opts)
        for texts in batches:
            columns = scorer.columns(scorer.records(texts.tolist()))
            yield pd.DataFrame(columns, columns=scorer.fields, index=texts.index)

    # Spark picks the UDF's kind (iterator of Series in, of DataFrames out) from these hints,
    # which must be real types, not this module's postponed (string) annotations.
    classify.__annotations__ = {"batches": Iterator[pd.Series], "return": Iterator[pd.DataFrame]}
    return pandas_udf(classify, schema)  # type: ignore[call-overload]


def predict_batch_udf(model: Optional[PathLike] = None, *, batch_size: int = 256,
                      preset: str = "default", threads: Optional[int] = None,
                      **options: Any) -> Any:
    """The same classifier through ``pyspark.ml.functions.predict_batch_udf`` (which caches
    the loaded model per Python worker and cuts partitions into ``batch_size`` rows).

    That API allows only numbers, strings and arrays in a struct, and no nulls in numbers, so
    its column is flat: ``label`` (string), ``score`` (double), ``scores`` (array of doubles, in
    label order), ``refusal`` and ``truncated`` (tinyint 0/1), with ``preset="llm-guard"``
    ``is_valid`` (tinyint) and ``risk_score`` (double), and ``error`` (string). A bad row has
    its message in ``error``, a null ``label``, NaN numbers and -1 flags; ``error`` is null in
    the others. Prefer :func:`classify_udf` unless a pipeline needs this API.
    """
    import numpy as np
    from pyspark.ml.functions import predict_batch_udf as spark_predict_batch_udf
    from pyspark.sql import types as T

    opts = _options(model, preset, threads, False, False, options)
    labels = _refusal.model_labels(model_or_default(opts["model"]))
    flags = ["refusal", "truncated"] + (["is_valid"] if preset == "llm-guard" else [])
    fields = result_fields(preset, False, False)
    spark_types = {"label": T.StringType(), "score": T.DoubleType(),
                   "scores": T.ArrayType(T.DoubleType()), "risk_score": T.DoubleType(),
                   ERROR: T.StringType()}
    spark_types.update({f: T.ByteType() for f in flags})
    schema = T.StructType([T.StructField(f, spark_types[f]) for f in fields])

    def make_predict_fn() -> Any:
        scorer = _scorer(opts)

        def predict(texts: np.ndarray) -> Dict[str, np.ndarray]:
            records = scorer.records(list(texts.reshape(-1)))
            out: Dict[str, np.ndarray] = {}
            for f in fields:
                values = [r.get(f) for r in records]
                if f == "scores":
                    out[f] = np.array([[v[label] for label in labels] if v is not None
                                       else [np.nan] * len(labels) for v in values],
                                      dtype=np.float64).reshape(len(values), len(labels))
                elif f in flags:
                    out[f] = np.array([-1 if v is None else int(v) for v in values], np.int8)
                elif f in ("score", "risk_score"):
                    out[f] = np.array([np.nan if v is None else v for v in values], np.float64)
                else:
                    out[f] = np.array(values, dtype=object)
            return out

        return predict

    return spark_predict_batch_udf(make_predict_fn, return_type=schema, batch_size=batch_size)
