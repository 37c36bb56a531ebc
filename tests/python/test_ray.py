"""refusal.ray on a real local Ray instance (ray.init(num_cpus=2)): Ray Data actors and
classify_files write the CLI's records, also when an actor or the whole job is killed midway
(issue 16). The two-node cluster: test_ray_cluster.py."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import refusal
from conftest import MODEL, RESULT_FIELDS, assert_rows_equal_cli

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

import refusal.ray as rray  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 1024 * 1024)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def eval_dataset(eval_texts):
    return ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(eval_texts)],
                               override_num_blocks=8)


def test_dataset_records_equal_the_cli(local_ray, eval_texts, cli_eval_records):
    ds = rray.classify_dataset(eval_dataset(eval_texts), column="text", model=MODEL, actors=2,
                               cpus_per_actor=1, batch_size=100)
    rows = ds.take_all()
    assert set(rows[0]) == {"id", "text", *RESULT_FIELDS, "error"}
    assert_rows_equal_cli(rows, cli_eval_records)


def test_an_actor_killed_midway_is_replaced_and_every_row_comes_out_once(
        local_ray, eval_texts, cli_eval_records, tmp_path):
    """One actor process kills itself (SIGKILL to its own pid) on its second batch; Ray restarts
    it and retries the batch. Each actor also reports its pid and engine threads."""
    marker = str(tmp_path / "killed")

    class KilledOnce(rray.RefusalPredictor):
        def __init__(self, marker, **kwargs):
            super().__init__(**kwargs)
            self.marker, self.calls = marker, 0

        def __call__(self, batch):
            self.calls += 1
            if self.calls == 2:
                try:
                    os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    with open(self.marker, "w") as f:
                        f.write(str(os.getpid()))
                    os.kill(os.getpid(), signal.SIGKILL)
                except FileExistsError:
                    pass  # the one kill has happened
            out = super().__call__(batch)
            n = out.num_rows
            out = out.append_column("pid", pa.array([os.getpid()] * n))
            return out.append_column("threads", pa.array([self.classifier.threads] * n))

    ds = eval_dataset(eval_texts).map_batches(
        KilledOnce, fn_constructor_kwargs={"marker": marker, "model": str(MODEL)},
        batch_format="pyarrow", batch_size=64, compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=1)  # Ray Data's defaults: max_restarts=-1, max_task_retries=-1
    rows = ds.take_all()
    killed = int(open(marker).read())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # that actor process is gone; its batch was redone
    assert_rows_equal_cli(rows, cli_eval_records)
    assert {r["threads"] for r in rows} == {1}, "threads=None: the actor's num_cpus"


def test_bad_rows_get_an_error_and_never_fail_a_batch(local_ray, clf):
    items = [{"text": "I'm sorry, I can't help with that."}, {"text": None},
             {"text": "Sure! Here it is."}]
    rows = rray.classify_dataset(ray.data.from_items(items), model=MODEL).take_all()
    assert [r["error"] for r in rows] == [None, "field 'text' is not a string (null)", None]
    assert rows[1]["label"] is None and rows[1]["score"] is None
    want = clf.predict([items[0]["text"], items[2]["text"]])
    for row, w in zip([rows[0], rows[2]], want):
        assert {f: row[f] for f in RESULT_FIELDS} == {f: w[f] for f in RESULT_FIELDS}


def test_predictor_takes_arrow_pandas_and_numpy_batches():
    """Same columns in every batch format; a result name the input has becomes predicted_NAME;
    llm-guard adds is_valid and risk_score, explain a struct."""
    import numpy as np

    texts = ["I cannot do that.", "Here is the recipe.", None]
    predictor = rray.RefusalPredictor(str(MODEL), preset="llm-guard", explain=True, threads=1)
    assert predictor.fields == ["label", "score", "scores", "refusal", "is_valid", "risk_score",
                                "truncated", "explain", "error"]
    table = predictor(pa.table({"text": texts, "label": [1, 0, 0]}))
    assert table.column_names == ["text", "label", "predicted_label", "score", "scores",
                                  "refusal", "is_valid", "risk_score", "truncated", "explain",
                                  "error"]
    assert table.schema.field("scores").type == pa.struct([("NORMAL", pa.float64()),
                                                           ("REJECTION", pa.float64())])
    assert table.schema.field("is_valid").type == pa.bool_()
    rows = table.to_pylist()
    frame = predictor(pd.DataFrame({"text": texts, "label": [1, 0, 0]}))
    assert frame.to_dict("records") == rows
    numpy = predictor({"text": np.array(texts, dtype=object), "label": np.array([1, 0, 0])})
    assert [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in numpy.items()}
            for i in range(3)] == rows
    want = refusal.Classifier(str(MODEL), threads=1, preset="llm-guard").predict(texts[:2],
                                                                             explain=True)
    for row, w in zip(rows, want):
        w["predicted_label"] = w.pop("label")
        assert {k: row[k] for k in w} == w
    assert rows[2]["error"] == "field 'text' is not a string (null)"
    with pytest.raises(refusal.RefusalError, match="column 'answer' is not in the batch"):
        rray.RefusalPredictor(str(MODEL), column="answer", threads=1)(pa.table({"text": ["x"]}))


def write_shards(eval_texts, folder):
    """The eval set in three shards: gzipped JSONL, JSONL, CSV."""
    folder.mkdir()
    rows = [{"id": i, "text": t} for i, t in enumerate(eval_texts)]
    a, b, c = rows[:700], rows[700:1300], rows[1300:]
    with gzip.open(folder / "part-0.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in a)
    (folder / "part-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b),
                                         encoding="utf-8")
    pd.DataFrame(c).to_csv(folder / "part-2.csv", index=False)
    return [folder / "part-0.jsonl.gz", folder / "part-1.jsonl", folder / "part-2.csv"]


def cli_outputs(cli, shards, folder):
    folder.mkdir()
    out = {}
    for shard in shards:
        path = rray.output_path(shard, folder)
        subprocess.run([cli, "classify", "--model", str(MODEL), "--input", str(shard),
                        "--output", path, "--progress", "never"], check=True)
        out[os.path.basename(path)] = open(path, "rb").read()
    return out


DRIVER = textwrap.dedent("""
    import sys, ray, refusal.ray
    ray.init(address=sys.argv[1], log_to_driver=False)
    refusal.ray.classify_files(sys.argv[4:], sys.argv[2], model=sys.argv[3], chunk_rows=25)
""")


def test_classify_files_killed_and_rerun_ends_with_the_clis_bytes(
        local_ray, cli, eval_texts, tmp_path):
    shards = write_shards(eval_texts, tmp_path / "in")
    want = cli_outputs(cli, shards, tmp_path / "cli")
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, local_ray, str(out), str(MODEL),
                               *map(str, shards)])
    # Kill the whole job (the driver, and with it its tasks) once some records are out.
    deadline = time.monotonic() + 120
    written = 0
    while time.monotonic() < deadline and driver.poll() is None:
        written = sum(os.path.getsize(p) for p in out.glob("*")) if out.exists() else 0
        if written >= 20000:
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the job ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # Its tasks go with it; wait until nothing writes any more.
    sizes = None
    while sizes != (sizes := [os.path.getsize(p) for p in sorted(out.glob("*"))]):
        time.sleep(2)
    done = {p.name: p.read_bytes() for p in out.glob("*")}
    assert done and any(done[n] != want[n] for n in done), "nothing was left to do"

    counts = rray.classify_files(shards, out, model=MODEL, chunk_rows=25)
    got = {p.name: p.read_bytes() for p in out.glob("*")}
    assert got == want  # byte for byte: every row exactly once, in order
    assert [c.rows for c in counts] == [700, 600, 406]
    assert all(c.errors == 0 and c.resumed + c.written == c.rows for c in counts)
    assert sum(c.resumed for c in counts) > 0, "the rerun did not resume"
    # A finished job run again is skipped shard by shard: nothing written.
    again = rray.classify_files(shards, out, model=MODEL, chunk_rows=25)
    assert [c.written for c in again] == [0, 0, 0]
    assert {p.name: p.read_bytes() for p in out.glob("*")} == want


def running_ray_tasks(name):
    """Pids of the Ray worker processes running a task called `name` now (Ray titles a worker
    process "ray::NAME" while it runs NAME, "ray::IDLE" between tasks)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                title = (proc / "cmdline").read_bytes().split(b"\0")[0].strip()
            except OSError:
                continue  # the process ended
            if title == f"ray::{name}".encode():
                pids.append(int(proc.name))
    return pids


def test_a_classify_files_task_killed_midway_is_retried_and_resumes(
        local_ray, cli, eval_jsonl, tmp_path):
    """The worker process running a shard's task is SIGKILLed once its output is half written;
    Ray retries the task (max_retries), the retry resumes after the last complete chunk, and
    the output ends byte-identical to the CLI's: no row lost, none twice."""
    want = cli_outputs(cli, [eval_jsonl], tmp_path / "cli")["eval.jsonl"]
    out = tmp_path / "out"
    output = out / "eval.jsonl"
    result = {}

    def job():
        try:
            result["counts"] = rray.classify_files([eval_jsonl], out, model=MODEL,
                                                   chunk_rows=25)
        except BaseException as e:  # noqa: BLE001 (re-raised below, in the test's thread)
            result["error"] = e

    thread = threading.Thread(target=job)
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        pids = running_ray_tasks("_classify_shard")
        if pids and output.exists() and output.stat().st_size >= len(want) // 4:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.02)
    thread.join(timeout=300)
    assert not thread.is_alive(), "classify_files did not finish"
    assert killed is not None, "no task was killed midway"
    if "error" in result:
        raise result["error"]
    assert output.read_bytes() == want
    [counts] = result["counts"]
    assert (counts.rows, counts.errors) == (1706, 0)
    assert counts.resumed > 0 and counts.resumed + counts.written == counts.rows, counts


def test_classify_files_checks_its_arguments(tmp_path):
    with pytest.raises(refusal.RefusalError, match="would both be written to"):
        rray.classify_files([tmp_path / "a.jsonl", tmp_path / "x" / "a.jsonl.gz"], tmp_path / "o")
    with pytest.raises(refusal.RefusalError, match="always resumes"):
        rray.classify_files([tmp_path / "a.jsonl"], tmp_path / "o", resume=False)
    assert rray.output_path("/d/part-7.jsonl.gz", "/o") == "/o/part-7.jsonl"
    assert rray.output_path("p.tsv", "/o", "csv") == "/o/p.csv"
