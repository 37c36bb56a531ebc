"""refusal.classify_file: `refusal classify --input FILE --output FILE` from Python."""
from __future__ import annotations

import os
import sys
from typing import Literal, NamedTuple, Optional, Union

from . import _refusal
from ._paths import model_or_default, punkt_dir

__all__ = ["JobCounts", "classify_file"]

PathLike = Union[str, "os.PathLike[str]"]


class JobCounts(NamedTuple):
    """What a batch job did. ``errors > 0`` is the CLI's exit code 3."""

    rows: int      #: input rows in all
    resumed: int   #: rows already in the output (resume=True), not written again
    written: int   #: records written by this call
    errors: int    #: bad rows, each written with an "error" field

    @property
    def ok(self) -> int:
        """Rows classified without error."""
        return self.rows - self.errors


def classify_file(
    input: PathLike,
    output: PathLike = "-",
    *,
    model: Optional[PathLike] = None,
    field: str = "text",
    input_format: Literal["auto", "jsonl", "csv", "tsv", "txt"] = "auto",
    output_format: Literal["jsonl", "csv"] = "jsonl",
    preset: Literal["default", "llm-guard", "keywords"] = "default",
    threshold: Optional[float] = None,
    match: Literal["full", "sentence"] = "full",
    long_text: Literal["truncate", "windows"] = "truncate",
    max_length: Optional[int] = None,
    stride: int = 0,
    explain: bool = False,
    raw_scores: bool = False,
    resume: bool = False,
    threads: int = 0,
    dtype: Literal["fp32", "bf16", "int8"] = "fp32",
    batch_size: int = 32,
    chunk_rows: int = 4096,
    progress: Literal["auto", "always", "never"] = "auto",
) -> JobCounts:
    """Classifies every row of a file, as ``refusal classify --input INPUT --output OUTPUT``.

    The same engine code path as the CLI, so the output is byte-identical to the CLI's with the
    same options: one record per input row, in input order (.jsonl, .jsonl.gz, .csv, .tsv, .txt
    in; JSONL or CSV out); other input fields pass through; a bad row (invalid JSON, missing
    field, invalid UTF-8) is written with an ``error`` field and counted, never dropped;
    ``resume=True`` continues an interrupted job from what ``output`` already holds.

    Args:
        input: the input file, or "-" for stdin (gzip is detected from the content).
        output: the output file, or "-" for stdout (written to file descriptor 1).
        model: model folder or hub id (local cache); None: the bundled default model. Not used
            with ``preset="keywords"``.
        preset: "default" (threshold 0.5, 512 tokens), "llm-guard" (NoRefusal: threshold 0.75,
            128 tokens, is_valid and risk_score) or "keywords" (NoRefusalLight, no model).
        Other arguments: the CLI options of the same names (``--format`` is ``input_format``,
        ``--long`` is ``long_text``).

    Returns:
        JobCounts(rows, resumed, written, errors).

    Raises:
        RefusalError: the model or the input cannot be read, the output cannot be written, or
            an option is invalid (the CLI's exit code 1 or 2).
    """
    model_path = "" if preset == "keywords" else model_or_default(model)
    if os.fspath(output) == "-":
        sys.stdout.flush()
    job = _refusal.FileJobOptions()
    job.input = os.fspath(input)
    job.output = os.fspath(output)
    job.field = field
    job.input_format = input_format
    job.output_format = output_format
    job.explain = bool(explain)
    job.raw_scores = bool(raw_scores)
    job.resume = bool(resume)
    job.batch_size = int(batch_size)
    job.chunk_rows = int(chunk_rows)
    job.progress = progress
    counts = _refusal.classify_file(
        model_path, int(threads), dtype, preset, threshold, match, long_text, max_length,
        int(stride), punkt_dir() if match == "sentence" else "", job)
    return JobCounts(counts["rows"], counts["resumed"], counts["written"], counts["errors"])
