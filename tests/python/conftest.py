"""Shared fixtures for the Python package's tests (run by scripts/test-python.sh).

The package under test is the installed `refusal` (pip install .). The CLI-parity tests run the
`refusal` binary: $REFUSAL_CLI, else build/release/refusal (scripts/test.sh builds it).
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "data" / "models" / "random-roberta-tok"
PUNKT = ROOT / "data" / "punkt_tab" / "english"


# The human-labelled eval set, as installed with the project (data/eval/README.md).
EVAL = ROOT / "data" / "eval" / "chatgpt-refusals.jsonl.gz"


def read_jsonl_gz(path: Path) -> list:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def model_dir() -> str:
    return str(MODEL)


@pytest.fixture(scope="session")
def eval_texts() -> list:
    return [r["text"] for r in read_jsonl_gz(EVAL)]


@pytest.fixture(scope="session")
def clf():
    import refusal

    return refusal.Classifier(str(MODEL), threads=2)


@pytest.fixture(scope="session")
def cli() -> str:
    candidates = [os.environ.get("REFUSAL_CLI", ""), str(ROOT / "build" / "release" / "refusal")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("no refusal CLI binary (set REFUSAL_CLI or build build/release/refusal)")


def import_llm_guard_evaluate():
    """llm_guard.evaluate (scan_output) and llm_guard.util from the installed PyPI llm-guard,
    without running llm_guard/__init__.py, which imports every scanner (presidio, spacy, torch,
    ...). The functions themselves are LLM Guard's, unchanged. None when llm-guard is missing."""
    if "llm_guard.evaluate" in sys.modules:
        return sys.modules["llm_guard.evaluate"]
    try:
        spec = importlib.util.find_spec("llm_guard")
    except ValueError:
        return None
    if spec is None or spec.origin is None:
        return None
    base = Path(spec.origin).parent
    for name, sub in (("llm_guard", ""), ("llm_guard.output_scanners", "output_scanners"),
                      ("llm_guard.input_scanners", "input_scanners")):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [str(base / sub) if sub else str(base)]
            sys.modules[name] = mod
    try:
        import llm_guard.util as util
        util.configure_logger(log_level="ERROR", stream=sys.stderr)
        import llm_guard.evaluate as evaluate
    except ImportError:
        return None
    return evaluate


def nltk_data_dir(tmp: Path) -> str:
    """An nltk_data tree with tokenizers/punkt_tab/english = data/punkt_tab/english."""
    dest = tmp / "tokenizers" / "punkt_tab" / "english"
    dest.mkdir(parents=True, exist_ok=True)
    for f in PUNKT.iterdir():
        shutil.copyfile(f, dest / f.name)
    return str(tmp)


# ---- the scale-out tests (test_ray*.py, test_spark.py): the CLI's records of the eval set ----

#: The result fields of a default-preset record (io::verdict_record), in order.
RESULT_FIELDS = ["label", "score", "scores", "refusal", "truncated"]


@pytest.fixture(scope="session")
def eval_jsonl(tmp_path_factory, eval_texts) -> Path:
    """The 1,706 eval texts as JSONL rows {"id": i, "text": ...}."""
    path = tmp_path_factory.mktemp("eval") / "eval.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                            for i, t in enumerate(eval_texts)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def cli_eval_records(cli, eval_jsonl, tmp_path_factory) -> list:
    """`refusal classify` on eval_jsonl with the test model (fp32): one record per text."""
    import subprocess

    out = tmp_path_factory.mktemp("cli") / "eval-records.jsonl"
    p = subprocess.run([cli, "classify", "--model", str(MODEL), "--input", str(eval_jsonl),
                        "--output", str(out), "--progress", "never"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == list(range(len(records)))
    return records


def assert_rows_equal_cli(rows, cli_records, fields=RESULT_FIELDS):
    """`rows` (dicts with "id", the result fields and "error") hold, for every id exactly once,
    the CLI's record's result fields, value for value (floats bit for bit)."""
    ids = sorted(r["id"] for r in rows)
    assert ids == list(range(len(cli_records))), "not every row exactly once"
    for row in sorted(rows, key=lambda r: r["id"]):
        want = cli_records[row["id"]]
        got = {f: row[f] for f in fields}
        assert got == {f: want[f] for f in fields}, f"row {row['id']}"
        assert row.get("error") is None
