#!/usr/bin/env python3
r"""Scale-out benchmark (issue 16): eval-set texts/s of the `refusal classify` CLI, of Ray Data
with refusal.ray (1 actor x 2 CPUs; 2 actors x 1 CPU) and of Spark local[2] with
refusal.spark.classify_udf, on one machine, interleaved round by round. Not a test: run it on a
quiet machine and record the table in docs/scale-out.md.

  bash bench/scaleout/run.sh [ARGS]     # builds the CLI and .venv-py, then runs this script

  .venv-py/bin/python bench/scaleout/bench_scaleout.py --cli build/release/refusal \
      [--model data/models/default] [--repeat 4] [--rounds 3] [--json FILE]

The venv is the Python tests' (scripts/venv.sh py, then `pip install .`; run.sh does both): it
has refusal, ray, pyspark, pandas and pyarrow. Spark needs Java 17.

What is measured, per engine and round: the wall time of one whole job over the input, the
eval set (data/eval/chatgpt-refusals.jsonl.gz, 1,706 texts) repeated --repeat times as JSONL
{"id", "text"}; texts/s = rows / wall. fp32, the model's default options.
  * cli: `refusal classify --model M --input FILE --output /dev/null --threads 2`, a fresh
    process (its model load included).
  * ray-1x2, ray-2x1: ray.data.read_json(FILE) -> refusal.ray.classify_dataset(actors=A,
    cpus_per_actor=C, batch_size=256) -> materialize(), on ray.init(num_cpus=2) started once
    before the rounds (the actors and their model loads are inside the timed job, the Ray
    instance is not).
  * spark-local2: spark.read.json(FILE) in 8 partitions -> classify_udf(model) -> written to
    Spark's "noop" sink, on a SparkSession with master local[2] started once before the rounds
    (spark.task.cpus=1: two tasks of one engine thread each).
The engines run in turn within each round (the order rotated every round); each engine's
result is its median round, with min and max, and its ratio to the CLI's median. The issue's
target: every engine >= 0.85 of the CLI. --limit N runs the first N texts only (a quick check
that the script works; the numbers of a short run mostly measure start-up).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "data" / "eval" / "chatgpt-refusals.jsonl.gz"


def write_input(path: Path, repeat: int, limit: int) -> int:
    with gzip.open(EVAL, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    if limit:
        texts = texts[:limit]
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(repeat):
            for t in texts:
                out.write(json.dumps({"id": rows, "text": t}) + "\n")
                rows += 1
    return rows


def cli_job(cli: str, model: str, path: Path) -> Callable[[], None]:
    def run() -> None:
        subprocess.run([cli, "classify", "--model", model, "--input", str(path), "--output",
                        os.devnull, "--threads", "2", "--progress", "never"], check=True)
    return run


def ray_job(model: str, path: Path, actors: int, cpus: int) -> Callable[[], None]:
    import ray
    import refusal.ray

    def run() -> None:
        # The actors hold every CPU of the instance; a read task that asked for one would wait
        # for them forever (Ray Data deadlocks), so the reads ask for none.
        ds = ray.data.read_json(str(path), ray_remote_args={"num_cpus": 0})
        ds = refusal.ray.classify_dataset(ds, model=model, actors=actors, cpus_per_actor=cpus,
                                          batch_size=256)
        ds.materialize()
    return run


def spark_job(spark, model: str, path: Path) -> Callable[[], None]:
    import refusal.spark

    classify = refusal.spark.classify_udf(model=model)

    def run() -> None:
        df = spark.read.json(str(path)).repartition(8)
        df.select("id", classify("text").alias("v")).write.format("noop").mode(
            "overwrite").save()
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", default=str(ROOT / "build" / "release" / "refusal"))
    parser.add_argument("--model", default=str(ROOT / "data" / "models" / "default"))
    parser.add_argument("--repeat", type=int, default=4, help="eval set copies (default 4)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N eval texts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="cli,ray-1x2,ray-2x1,spark-local2")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    wanted = args.only.split(",")
    model = os.path.abspath(args.model)

    tmp = Path(tempfile.mkdtemp(prefix="refusal-scaleout-"))
    path = tmp / "input.jsonl"
    rows = write_input(path, args.repeat, args.limit)
    part = f", first {args.limit} texts" if args.limit else ""
    print(f"input: {rows} texts ({args.repeat} x the eval set{part}); model {model}; "
          f"{args.rounds} rounds", flush=True)

    jobs: Dict[str, Callable[[], None]] = {}
    if "cli" in wanted:
        jobs["cli"] = cli_job(args.cli, model, path)
    if any(w.startswith("ray") for w in wanted):
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        if "ray-1x2" in wanted:
            jobs["ray-1x2"] = ray_job(model, path, 1, 2)
        if "ray-2x1" in wanted:
            jobs["ray-2x1"] = ray_job(model, path, 2, 1)
    if "spark-local2" in wanted:
        from pyspark.sql import SparkSession

        os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = (SparkSession.builder.master("local[2]").appName("refusal-bench")
                 .config("spark.ui.enabled", "false").config("spark.task.cpus", "1")
                 .config("spark.driver.memory", "2g").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        jobs["spark-local2"] = spark_job(spark, model, path)

    times: Dict[str, List[float]] = {name: [] for name in jobs}
    names = list(jobs)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            start = time.perf_counter()
            jobs[name]()
            times[name].append(time.perf_counter() - start)
            print(f"round {r + 1} {name}: {times[name][-1]:.2f} s "
                  f"({rows / times[name][-1]:.1f} texts/s)", flush=True)

    results = []
    cli_rate = rows / statistics.median(times["cli"]) if "cli" in times else None
    print("\n| engine | texts/s (median) | min–max | vs CLI |")
    print("|---|---|---|---|")
    for name in names:
        rate = rows / statistics.median(times[name])
        lo, hi = rows / max(times[name]), rows / min(times[name])
        ratio = rate / cli_rate if cli_rate else None
        results.append({"engine": name, "texts": rows, "seconds": times[name],
                        "texts_per_s": rate, "vs_cli": ratio})
        print(f"| {name} | {rate:.1f} | {lo:.1f}–{hi:.1f} | "
              f"{'' if ratio is None else f'{ratio:.2f}'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "rounds": args.rounds,
                                               "model": model, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
