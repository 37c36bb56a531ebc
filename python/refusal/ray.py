"""refusal on Ray: Ray Data ``map_batches`` actors and one resumable task per file shard.

    import ray, refusal.ray

    ds = ray.data.read_json("answers/*.jsonl.gz")
    ds = refusal.ray.classify_dataset(ds, column="text", model="/models/refusal", actors=4,
                                      cpus_per_actor=4)
    ds.write_parquet("verdicts/")

    # or, by hand:
    ds.map_batches(refusal.ray.RefusalPredictor, fn_constructor_kwargs={"model": "/models/refusal"},
                   batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=4), num_cpus=4)

    # the CLI's own output files, one task per shard, resumable:
    refusal.ray.classify_files(["in/part-0.jsonl.gz", ...], "out/", model="/models/refusal")

Needs ``pip install refusal[ray]``. See docs/scale-out.md.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Union

from ._errors import RefusalError
from ._frames import EXPLAIN_FIELDS, BatchScorer, check_column, output_names
from .batch import JobCounts, classify_file
from .classifier import Classifier

__all__ = ["RefusalPredictor", "arrow_type", "classify_dataset", "classify_files", "output_path"]

PathLike = Union[str, "os.PathLike[str]"]


def _actor_cpus() -> int:
    """This Ray worker's CPU share (its actor's or task's num_cpus), at least 1; 0 (the
    library's default: OMP_NUM_THREADS, which Ray sets to the same share) outside Ray."""
    try:
        import ray

        if not ray.is_initialized():
            return 0
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    except Exception:  # not in a Ray worker  # noqa: BLE001
        return 0
    return max(1, int(cpus)) if cpus else 0


def arrow_type(field: str, labels: Sequence[str]) -> Any:
    """The pyarrow type of a result field (``scores`` is a struct of the model's labels)."""
    import pyarrow as pa

    explain_types = {str: pa.string(), int: pa.int64()}
    types = {
        "label": pa.string(),
        "score": pa.float64(),
        "scores": pa.struct([(label, pa.float64()) for label in labels]),
        "refusal": pa.bool_(),
        "is_valid": pa.bool_(),
        "risk_score": pa.float64(),
        "truncated": pa.bool_(),
        "logits": pa.list_(pa.float64()),
        "explain": pa.struct([(name, explain_types[t]) for name, t in EXPLAIN_FIELDS]),
        "error": pa.string(),
    }
    return types[field]


class RefusalPredictor:
    """A callable class for ``Dataset.map_batches``: the model loads once per actor, and every
    batch comes back with the result columns appended.

    The columns are the fields of ``refusal classify``'s records, typed: ``label`` (string),
    ``score`` (float64), ``scores`` (struct of float64, one per label), ``refusal`` (bool),
    ``is_valid`` and ``risk_score`` with ``preset="llm-guard"``, ``truncated`` (bool),
    ``logits`` (list of float64) with ``raw_scores``, ``explain`` (struct) with ``explain``,
    and ``error`` (string): null for a classified row; for a bad row (a null, a number, a text
    the engine refuses) its message, with the other result columns null. A bad row never fails
    the batch. A result column whose name the input already has is named ``predicted_NAME``, as
    in the CLI's records.

    Batches may be pyarrow Tables (``batch_format="pyarrow"``, the fastest), pandas DataFrames
    or dicts of numpy arrays; the result has the batch's format.

    Args:
        model: the model folder or hub id, as a path that every worker can read (the model is
            loaded on the worker, never shipped through the object store); None: each worker's
            bundled default model.
        column: the column holding the texts.
        threads: engine threads; None: the actor's ``num_cpus``.
        explain, raw_scores: add the ``explain`` / ``logits`` columns.
        Other arguments: as for :class:`refusal.Classifier`.
    """

    def __init__(self, model: Optional[PathLike] = None, *, column: str = "text",
                 preset: str = "default", dtype: str = "fp32", threads: Optional[int] = None,
                 threshold: Optional[float] = None, match: str = "full",
                 long_text: str = "truncate", max_length: Optional[int] = None, stride: int = 0,
                 batch_tokens: int = 8192, explain: bool = False,
                 raw_scores: bool = False) -> None:
        classifier = Classifier(
            model, threads=_actor_cpus() if threads is None else threads,
            preset=preset, dtype=dtype, threshold=threshold,  # type: ignore[arg-type]
            match=match, long_text=long_text,  # type: ignore[arg-type]
            max_length=max_length, stride=stride, batch_tokens=batch_tokens)
        self._scorer = BatchScorer(classifier, column, explain, raw_scores)

    @property
    def classifier(self) -> Classifier:
        return self._scorer.classifier

    @property
    def fields(self) -> List[str]:
        """The result fields this predictor appends, in order (``error`` last)."""
        return list(self._scorer.fields)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        scorer = self._scorer
        if isinstance(batch, pa.Table):
            check_column(scorer.column, batch.column_names)
            columns = scorer.columns(scorer.records(batch.column(scorer.column).to_pylist()))
            names = output_names(scorer.fields, batch.column_names)
            for field, values in columns.items():
                batch = batch.append_column(
                    names[field], pa.array(values, type=arrow_type(field, scorer.labels)))
            return batch
        if isinstance(batch, dict):  # batch_format="numpy"
            import numpy as np

            check_column(scorer.column, list(batch))
            columns = scorer.columns(scorer.records(list(batch[scorer.column])))
            names = output_names(scorer.fields, list(batch))
            out = dict(batch)
            for field, values in columns.items():
                array = np.empty(len(values), dtype=object)
                array[:] = values
                out[names[field]] = array
            return out
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover
            pd = None
        if pd is not None and isinstance(batch, pd.DataFrame):
            check_column(scorer.column, list(batch.columns))
            columns = scorer.columns(scorer.records(batch[scorer.column].tolist()))
            names = output_names(scorer.fields, list(batch.columns))
            out = batch.copy(deep=False)
            for field, values in columns.items():
                out[names[field]] = pd.Series(values, index=batch.index, dtype=object)
            return out
        raise RefusalError(f"RefusalPredictor: a batch must be a pyarrow Table, a pandas "
                           f"DataFrame or a dict of numpy arrays, got {type(batch).__name__}")


def classify_dataset(ds: Any, column: str = "text", model: Optional[PathLike] = None, *,
                     preset: str = "default", actors: int = 1, cpus_per_actor: int = 1,
                     batch_size: int = 256, **options: Any) -> Any:
    """``ds`` with the result columns of :class:`RefusalPredictor` appended (lazily, as every
    Ray Data transform).

    ``actors`` actors of ``cpus_per_actor`` CPUs each, every one holding one model copy and
    running ``cpus_per_actor`` engine threads. An actor that dies (its process killed, its node
    lost) is restarted and its batches retried (Ray Data's actor pools default to
    ``max_restarts=-1`` and ``max_task_retries=-1``), so every row still comes out exactly
    once. Actors that take every CPU of the cluster leave none for the reads upstream, and the
    job waits forever: keep ``actors * cpus_per_actor`` below the cluster's CPUs, or read with
    ``ray_remote_args={"num_cpus": 0}``. ``options``: the other arguments of
    :class:`RefusalPredictor` (``dtype``, ``threshold``, ``explain``, ...).
    """
    import ray.data

    if actors < 1 or cpus_per_actor < 1 or batch_size < 1:
        raise RefusalError(f"actors ({actors}), cpus_per_actor ({cpus_per_actor}) and "
                           f"batch_size ({batch_size}) must be at least 1")
    kwargs: Dict[str, Any] = dict(options, model=None if model is None else os.fspath(model),
                                  column=column, preset=preset)
    kwargs.setdefault("threads", cpus_per_actor)
    return ds.map_batches(
        RefusalPredictor, fn_constructor_kwargs=kwargs, batch_format="pyarrow",
        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor)


_EXTENSIONS = (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".txt")


def output_path(input: PathLike, output_dir: PathLike, output_format: str = "jsonl") -> str:
    """Where :func:`classify_files` writes the records of ``input``: ``output_dir`` / the input's
    name without ``.gz`` and its format extension, plus ``.jsonl`` or ``.csv``."""
    name = os.path.basename(os.fspath(input))
    if name.endswith(".gz"):
        name = name[:-3]
    for ext in _EXTENSIONS:
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    if output_format not in ("jsonl", "csv"):
        raise RefusalError(f"output_format: '{output_format}' is not one of 'jsonl', 'csv'")
    return os.path.join(os.fspath(output_dir), f"{name}.{output_format}")


def _classify_shard(input: str, output: str, options: Dict[str, Any]) -> JobCounts:
    threads = options.pop("threads", None)
    return classify_file(input, output, resume=True,
                         threads=_actor_cpus() if threads is None else threads, **options)


def classify_files(inputs: Sequence[PathLike], output_dir: PathLike, *,
                   model: Optional[PathLike] = None, output_format: str = "jsonl",
                   cpus_per_task: int = 1, max_retries: int = 3,
                   **options: Any) -> List[JobCounts]:
    """``refusal classify --input SHARD --output OUT --resume`` for every shard, one Ray task
    each, ``cpus_per_task`` CPUs and engine threads per task.

    Each output (:func:`output_path`) is exactly the file the CLI writes for its shard, written
    by the same library job with ``resume``: a finished shard is read and skipped, a
    half-written one goes on from its last complete chunk, a task whose worker dies is retried
    (``max_retries``) and resumes. So a killed job, run again, ends with the same bytes as one
    that was never stopped, and no row twice. ``output_dir`` must be shared by every node.

    ``options``: the other arguments of :func:`refusal.classify_file` (``field``, ``preset``,
    ``dtype``, ``explain``, ...; not ``resume``, always on). Returns the shards' JobCounts, in
    the order of ``inputs``. Raises RefusalError when two inputs would write the same output,
    or when a shard fails (the others finish first).
    """
    import ray

    if "resume" in options:
        raise RefusalError("classify_files always resumes: drop the resume argument")
    if cpus_per_task < 1:
        raise RefusalError(f"cpus_per_task: {cpus_per_task} is less than 1")
    inputs = [os.fspath(i) for i in inputs]
    outputs = [output_path(i, output_dir, output_format) for i in inputs]
    seen: Dict[str, str] = {}
    for i, o in zip(inputs, outputs):
        if o in seen:
            raise RefusalError(f"{seen[o]} and {i} would both be written to {o}")
        seen[o] = i
    os.makedirs(os.fspath(output_dir), exist_ok=True)
    job: Dict[str, Any] = dict(options, model=None if model is None else os.fspath(model),
                               output_format=output_format, progress="never")
    job.setdefault("threads", cpus_per_task)
    task = ray.remote(_classify_shard).options(num_cpus=cpus_per_task, max_retries=max_retries)
    refs = [task.remote(i, o, dict(job)) for i, o in zip(inputs, outputs)]
    results: List[Optional[JobCounts]] = [None] * len(refs)
    errors: List[str] = []
    for n, ref in enumerate(refs):
        try:
            results[n] = ray.get(ref)
        except Exception as e:  # noqa: BLE001 (every shard's failure is reported)
            cause = getattr(e, "cause", None) or e
            errors.append(f"{inputs[n]}: {cause}")
    if errors:
        raise RefusalError("classify_files: " + "; ".join(errors))
    return results  # type: ignore[return-value]
