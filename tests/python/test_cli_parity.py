"""The package's outputs equal the `refusal classify` CLI's on the same inputs."""
from __future__ import annotations

import gzip
import json
import subprocess

import pytest

import refusal
from conftest import EVAL, MODEL

CASES = {
    "default": ({}, []),
    "llm-guard-sentence": ({"preset": "llm-guard", "match": "sentence"},
                           ["--preset", "llm-guard", "--match", "sentence"]),
    "windows": ({"long_text": "windows", "max_length": 64, "explain": True, "raw_scores": True},
                ["--long", "windows", "--max-length", "64", "--explain", "--raw-scores"]),
    "threshold-int8": ({"threshold": 0.3, "dtype": "int8"},
                       ["--threshold", "0.3", "--dtype", "int8"]),
}


@pytest.fixture(scope="module")
def small_input(tmp_path_factory, eval_texts):
    """200 eval texts (plus blank and non-ASCII ones) as JSONL with only a text field."""
    texts = eval_texts[:200] + ["", "   ", "Je suis désolé, je ne peux pas. 我不能帮你。"]
    path = tmp_path_factory.mktemp("in") / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path, texts


def run_cli(cli, args):
    p = subprocess.run([cli, "classify", *args], capture_output=True, text=True)
    assert p.returncode in (0, 3), p.stderr
    return p


def cli_records(cli, path, out, flags):
    run_cli(cli, ["--model", str(MODEL), "--input", str(path), "--output", str(out),
                  "--progress", "never", *flags])
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", CASES)
def test_predict_equals_cli(cli, small_input, tmp_path, name):
    """predict() on all texts at once vs the CLI's batches, and text by text vs the CLI with
    --batch-size 1: identical (a text's numbers do not depend on its batch)."""
    kwargs, flags = dict(CASES[name][0]), CASES[name][1]
    path, texts = small_input
    explain = kwargs.pop("explain", False)
    raw = kwargs.pop("raw_scores", False)
    clf = refusal.Classifier(str(MODEL), **kwargs)
    records = cli_records(cli, path, tmp_path / "cli.jsonl", flags)
    got = clf.predict(texts, explain=explain, raw_scores=raw)
    assert len(records) == len(got)
    for rec, g, t in zip(records, got, texts):
        assert rec.pop("text") == t
        assert rec == json.loads(json.dumps(g))
    records = cli_records(cli, path, tmp_path / "cli1.jsonl", [*flags, "--batch-size", "1"])
    for rec, t in zip(records, texts):
        assert rec.pop("text") == t
        assert rec == json.loads(json.dumps(clf.predict(t, explain=explain, raw_scores=raw)))


@pytest.mark.parametrize("name", CASES)
def test_classify_file_equals_cli(cli, small_input, tmp_path, name):
    kwargs, flags = dict(CASES[name][0]), CASES[name][1]
    path, _ = small_input
    want, got = tmp_path / "cli.jsonl", tmp_path / "py.jsonl"
    run_cli(cli, ["--model", str(MODEL), "--input", str(path), "--output", str(want),
                  "--progress", "never", *flags])
    counts = refusal.classify_file(path, got, model=str(MODEL), progress="never", **kwargs)
    assert got.read_bytes() == want.read_bytes()
    assert counts.rows == counts.written == counts.ok and counts.errors == 0


def test_classify_file_eval_csv_and_keywords(cli, tmp_path):
    for flags, kwargs in ((["--output-format", "csv"], {"output_format": "csv"}),
                          (["--preset", "keywords"], {"preset": "keywords"})):
        want, got = tmp_path / "cli.out", tmp_path / "py.out"
        run_cli(cli, ["--model", str(MODEL), "--input", str(EVAL), "--output", str(want),
                      "--progress", "never", *flags])
        counts = refusal.classify_file(EVAL, got, model=str(MODEL), progress="never", **kwargs)
        assert got.read_bytes() == want.read_bytes()
        assert counts.errors == 0 and counts.rows > 1000


def test_classify_file_bad_rows_and_resume(cli, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "fine"}\n{"nope": 1}\nnot json\n{"text": "also fine"}\n'
                   '{"text": 5}\n', encoding="utf-8")
    want, got = tmp_path / "cli.jsonl", tmp_path / "py.jsonl"
    p = subprocess.run([cli, "classify", "--model", str(MODEL), "--input", str(src), "--output",
                        str(want), "--progress", "never"], capture_output=True, text=True)
    assert p.returncode == 3
    counts = refusal.classify_file(src, got, model=str(MODEL), progress="never")
    assert got.read_bytes() == want.read_bytes()
    assert counts == refusal.JobCounts(rows=5, resumed=0, written=5, errors=3)
    # resume: cut the output after two records and a half, finish it
    lines = want.read_bytes().split(b"\n")
    got.write_bytes(b"\n".join(lines[:2]) + b"\n" + lines[2][:7])
    counts = refusal.classify_file(src, got, model=str(MODEL), progress="never", resume=True)
    assert got.read_bytes() == want.read_bytes()
    assert counts.resumed == 2 and counts.written == 3


def test_classify_file_errors(tmp_path):
    with pytest.raises(refusal.RefusalError):
        refusal.classify_file(tmp_path / "missing.jsonl", tmp_path / "o.jsonl",
                              model=str(MODEL))
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "x"}\n')
    with pytest.raises(refusal.RefusalError, match="input file"):
        refusal.classify_file(src, src, model=str(MODEL))
    with pytest.raises(refusal.RefusalError, match="preset"):
        refusal.classify_file(src, tmp_path / "o.jsonl", model=str(MODEL), preset="x")
    with pytest.raises(refusal.RefusalError):
        refusal.classify_file(src, tmp_path / "o.jsonl", model=str(tmp_path / "nomodel"))


def test_gzip_input_jsonl(tmp_path, clf):
    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": 7, "text": "I'm sorry, I can't."}) + "\n")
    out = tmp_path / "o.jsonl"
    refusal.classify_file(src, out, model=str(MODEL), progress="never")
    rec = json.loads(out.read_text())
    assert rec["id"] == 7 and rec["label"] == clf.predict("I'm sorry, I can't.")["label"]
