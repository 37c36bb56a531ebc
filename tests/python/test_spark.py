"""refusal.spark on a real local Spark cluster, local-cluster[2,1,1024]: two executor JVMs, each
with its own Python workers. The UDFs write the CLI's records, also when an executor is killed
midway (issue 16). Needs Java 17 (openjdk-17-jre-headless)."""
from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import MODEL, RESULT_FIELDS, assert_rows_equal_cli

pyspark = pytest.importorskip("pyspark")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import refusal.spark as rspark  # noqa: E402

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        pytest.skip("no java: install openjdk-17-jre-headless (packages/debian.txt)")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors' Python: this venv's
    session = (SparkSession.builder.master("local-cluster[2,1,1024]")
               .appName("refusal-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.executor.memory", "512m")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "128")
               .config("spark.task.maxFailures", "4")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def eval_frame(spark, eval_texts):
    frame = pd.DataFrame({"id": range(len(eval_texts)), "text": eval_texts})
    return spark.createDataFrame(frame).repartition(4)


def rows_of(frame):
    return [r.asDict(recursive=True) for r in frame.collect()]


def test_classify_udf_records_equal_the_cli(eval_frame, cli_eval_records):
    classify = rspark.classify_udf(model=MODEL)
    out = eval_frame.select("id", classify("text").alias("v")).select("id", "v.*")
    assert out.columns == ["id", *RESULT_FIELDS, "error"]
    assert_rows_equal_cli(rows_of(out), cli_eval_records)


def test_an_executor_killed_midway_loses_no_row(spark, eval_frame, cli_eval_records, tmp_path):
    """A Python worker kills its executor's JVM (SIGKILL) on its second batch; Spark starts
    another executor and reruns the lost tasks: every row still comes out exactly once."""
    from pyspark.sql.functions import pandas_udf

    marker = str(tmp_path / "killed")

    # Local, so that Spark pickles it by value (workers cannot import this test module).
    def executor_jvm(pid: int) -> int:
        """The Spark executor JVM above Python worker `pid` (its parent, or the daemon's)."""
        while pid > 1:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"CoarseGrainedExecutorBackend" in cmdline:
                return pid
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        raise AssertionError("no executor JVM above this Python worker")

    def kill_once(batches):
        for n, texts in enumerate(batches):
            if n == 1:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    jvm = executor_jvm(os.getpid())
                    Path(marker).write_text(str(jvm))
                    os.kill(jvm, signal.SIGKILL)
                except FileExistsError:
                    pass
            yield pd.Series([0] * len(texts))

    kill_once.__annotations__ = {"batches": Iterator[pd.Series], "return": Iterator[pd.Series]}
    kill_once = pandas_udf(kill_once, "int")

    classify = rspark.classify_udf(model=MODEL)
    # "k" is kept to the end, or Spark would prune the UDF away.
    out = (eval_frame.select("id", "text", kill_once("text").alias("k"))
           .select("id", "k", classify("text").alias("v")).select("id", "k", "v.*"))
    rows = rows_of(out)
    assert {r.pop("k") for r in rows} == {0}
    assert os.path.exists(marker), "no executor was killed"
    with pytest.raises(ProcessLookupError):
        os.kill(int(Path(marker).read_text()), 0)
    assert_rows_equal_cli(rows, cli_eval_records)


def test_predict_batch_udf_equals_the_cli(eval_frame, cli_eval_records):
    predict = rspark.predict_batch_udf(model=MODEL, batch_size=100)
    out = eval_frame.select("id", predict("text").alias("v")).select("id", "v.*")
    assert out.columns == ["id", *RESULT_FIELDS, "error"]
    rows = rows_of(out)
    assert sorted(r["id"] for r in rows) == list(range(len(cli_eval_records)))
    for row in rows:
        want = cli_eval_records[row["id"]]
        assert (row["label"], row["score"]) == (want["label"], want["score"])
        assert row["scores"] == [want["scores"]["NORMAL"], want["scores"]["REJECTION"]]
        assert (row["refusal"], row["truncated"]) == (int(want["refusal"]),
                                                      int(want["truncated"]))
        assert row["error"] is None


def test_bad_rows_get_an_error_and_never_fail_a_task(spark, clf):
    texts = ["I'm sorry, I can't help with that.", None, "Sure! Here it is."]
    frame = spark.createDataFrame(pd.DataFrame({"id": [0, 1, 2], "text": texts}))
    classify = rspark.classify_udf(model=MODEL, preset="llm-guard", raw_scores=True)
    rows = rows_of(frame.select("id", classify("text").alias("v")).select("id", "v.*")
                   .orderBy("id"))
    assert [r["error"] for r in rows] == [None, "field 'text' is not a string (null)", None]
    assert rows[1]["label"] is None and rows[1]["is_valid"] is None
    import refusal

    want = refusal.Classifier(str(MODEL), threads=1, preset="llm-guard").predict(
        [texts[0], texts[2]], raw_scores=True)
    for row, w in zip([rows[0], rows[2]], want):
        assert {k: row[k] for k in w} == w
