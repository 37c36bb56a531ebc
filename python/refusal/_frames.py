"""What the Ray and Spark adapters share: one batch of column values in, ``refusal classify``'s
records out, and the typed columns those records fill.

The records are the C++ library's own (``io::verdict_record`` through
``Classifier.records(..., errors=True)``): a text the engine cannot classify gets
``{"error": message}`` and costs no other row. Values that are not text at all (null, a number,
a str with a lone surrogate) are turned into such error records here, before the engine sees
the batch, so that one bad row never fails a batch.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _refusal
from ._errors import RefusalError
from .classifier import Classifier

#: The field a bad row's message goes in (a good row's is null), as in the CLI's records.
ERROR = "error"
#: Prefix of a result field whose name an input column already has (the CLI's rule:
#: src/io/record_writer.cpp, result_field_name).
PREDICTED_PREFIX = "predicted_"

#: The fields of ``explain`` (io::verdict_record), with their Python types.
EXPLAIN_FIELDS: Tuple[Tuple[str, type], ...] = (
    ("text", str), ("start", int), ("end", int), ("segment", int), ("window", int),
    ("segments", int), ("windows", int))

_JSON_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "number", float: "number",
                    list: "array", tuple: "array", dict: "object"}


def result_fields(preset: str, explain: bool, raw_scores: bool) -> List[str]:
    """The fields of a record for these options, in order (the C++ library's list), and
    ``error``."""
    return [*_refusal.record_columns(preset, explain, raw_scores), ERROR]


def not_text(column: str, value: Any) -> Optional[str]:
    """Why ``value`` cannot be classified (the CLI's wording for a JSONL row), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"field '{column}' is not valid UTF-8 (lone surrogate at character {e.start})"
        return None
    kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
    return f"field '{column}' is not a string ({kind})"


class BatchScorer:
    """A Classifier and the record fields it fills: ``records(values)`` gives one record per
    value, in order; ``fields`` names the result fields (``error`` last)."""

    def __init__(self, classifier: Classifier, column: str, explain: bool, raw_scores: bool):
        self.classifier = classifier
        self.column = column
        self.explain = bool(explain)
        self.raw_scores = bool(raw_scores)
        self.fields: List[str] = result_fields(classifier._preset, self.explain, self.raw_scores)
        self.labels: List[str] = classifier.labels

    def records(self, values: Sequence[Any]) -> List[Dict[str, Any]]:
        core = self.classifier._core
        if all(type(v) is str for v in values):
            try:
                return core.records(values, self.explain, self.raw_scores, True)
            except RefusalError:
                pass  # a lone surrogate: find it below, row by row
        out: List[Optional[Dict[str, Any]]] = [None] * len(values)
        rows: List[int] = []
        for i, v in enumerate(values):
            problem = not_text(self.column, v)
            if problem is None:
                rows.append(i)
            else:
                out[i] = {ERROR: problem}
        texts = [values[i] for i in rows]
        for i, record in zip(rows, core.records(texts, self.explain, self.raw_scores, True)):
            out[i] = record
        return out  # type: ignore[return-value]

    def columns(self, records: Sequence[Dict[str, Any]]) -> Dict[str, List[Any]]:
        """The records column by column: one list per field, None where a record lacks it."""
        return {name: [r.get(name) for r in records] for name in self.fields}


def output_names(fields: Sequence[str], input_columns: Sequence[str]) -> Dict[str, str]:
    """Each result field's column name: ``predicted_NAME`` when the input has a NAME column."""
    taken = set(input_columns)
    return {f: PREDICTED_PREFIX + f if f in taken else f for f in fields}


def check_column(column: str, columns: Sequence[str]) -> None:
    if column not in columns:
        raise RefusalError(f"column '{column}' is not in the batch (its columns: "
                           f"{', '.join(map(str, columns)) or 'none'})")
