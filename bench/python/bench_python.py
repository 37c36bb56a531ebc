#!/usr/bin/env python3
r"""Python-level benchmark: refusal.Classifier vs transformers.pipeline vs optimum's ONNX Runtime
pipeline, on the eval set, same threads, tokenization included (what a Python user runs).

  python3 bench/python/bench_python.py --model build/bench-model --threads 2 \
      --workload data/eval/chatgpt-refusals.jsonl.gz --limit 400 --rounds 2 \
      --json build/bench-python.json

The engines run in two venvs: refusal in .venv-py (scripts/test-python.sh installs the package
there), the peers in .venv-bench (bash scripts/venv.sh bench); --refusal-python and
--peers-python name others.

The model folder is what scripts/make_bench_model.py writes (an HF folder with onnx/ inside: a
randomly initialised model of distilroberta-base-rejection-v1's dimensions).

Engines, each run the way its users call it:
  * refusal:      refusal.Classifier(model, threads=T)(texts)   (one call; the engine groups
                  texts by length itself), and the same with dtype="int8" (--int8);
  * transformers: transformers.pipeline("text-classification", model, tokenizer,
                  truncation=True, max_length=512, batch_size=B)(texts) on PyTorch;
  * ort-fp32:     optimum.pipelines.pipeline(..., accelerator="ort") with
                  ORTModelForSequenceClassification (onnx/model.onnx), same arguments.
Threads: torch.set_num_threads(T) and set_num_interop_threads(1); ORT intra_op T, inter_op 1;
OMP/MKL/OPENBLAS_NUM_THREADS=T for every worker; refusal threads=T.
Every (round, engine) runs in a fresh process (this script with --worker), rounds interleave the
engines; a round times one pass over the texts after a one-batch warm-up. Reported: texts/s, the
median over rounds [min-max], ratios of medians, and top-label agreement with transformers.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ENGINES = ("refusal", "refusal-int8", "transformers", "ort-fp32")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_texts(path, limit):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    return texts[:limit] if limit else texts


def worker(args):
    texts = read_texts(args.workload, args.limit)
    t0 = time.perf_counter()
    info = {}
    if args.worker.startswith("refusal"):
        import refusal
        dtype = "int8" if args.worker == "refusal-int8" else "fp32"
        pipe = refusal.Classifier(args.model, threads=args.threads, dtype=dtype)
        info = {"version": refusal.__version__, "isa": pipe.isa, "threads": pipe.threads,
                "dtype": pipe.dtype}
        call = pipe
    else:
        import torch
        from transformers import AutoTokenizer
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        tok = AutoTokenizer.from_pretrained(args.model)
        if args.worker == "transformers":
            from transformers import AutoModelForSequenceClassification, pipeline
            model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
            pipe = pipeline("text-classification", model=model, tokenizer=tok, device="cpu")
        else:
            import onnxruntime as ort
            from optimum.onnxruntime import ORTModelForSequenceClassification
            from optimum.pipelines import pipeline
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            onnx_dir = os.path.join(args.model, "onnx")
            model = ORTModelForSequenceClassification.from_pretrained(
                onnx_dir, file_name="model.onnx", provider="CPUExecutionProvider",
                session_options=so)
            pipe = pipeline("text-classification", model=model, tokenizer=tok, accelerator="ort")
        info = {"torch_threads": torch.get_num_threads()}

        def call(batch):
            return pipe(batch, truncation=True, max_length=512, batch_size=args.batch_size)
    load_s = time.perf_counter() - t0
    call(texts[:args.batch_size])  # warm-up
    t = time.perf_counter()
    results = call(texts)
    elapsed = time.perf_counter() - t
    with open(args.out, "w") as f:
        json.dump({"engine": args.worker, "load_s": load_s, "texts": len(texts),
                   "seconds": elapsed, "texts_per_s": len(texts) / elapsed, "info": info,
                   "labels": [r["label"] for r in results]}, f)


def versions(python):
    code = ("import importlib.metadata as m, json\nout = {}\n"
            "for p in ['refusal', 'torch', 'transformers', 'tokenizers', 'onnxruntime', "
            "'optimum', 'optimum-onnx', 'numpy']:\n"
            "    try: out[p] = m.version(p)\n    except Exception: pass\nprint(json.dumps(out))")
    p = subprocess.run([python, "-c", code], capture_output=True, text=True, env=worker_env(1))
    return json.loads(p.stdout) if p.returncode == 0 else {}


def worker_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "true"
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="build/bench-model")
    ap.add_argument("--workload", default=os.path.join(
        os.path.dirname(__file__), "..", "..", "data", "eval", "chatgpt-refusals.jsonl.gz"),
        help="gzip JSONL with a text field (default: the repository's eval set)")
    ap.add_argument("--limit", type=int, default=0, help="first N texts only (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32, help="the pipelines' batch_size")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--refusal-python", default=os.path.join(REPO, ".venv-py", "bin", "python"),
                    help="python with the refusal package installed (default: .venv-py's)")
    ap.add_argument("--peers-python", default=os.path.join(REPO, ".venv-bench", "bin", "python"),
                    help="python with torch, transformers, onnxruntime and optimum "
                         "(default: .venv-bench's)")
    ap.add_argument("--json", default="")
    ap.add_argument("--worker", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    engines = [e for e in args.engines.split(",") if e]
    runs = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = engines[r % len(engines):] + engines[:r % len(engines)]
            for e in order:
                python = args.refusal_python if e.startswith("refusal") else args.peers_python
                out = os.path.join(tmp, f"{e}-{r}.json")
                cmd = [python, os.path.abspath(__file__), "--worker", e, "--out", out,
                       "--model", args.model, "--workload", args.workload,
                       "--limit", str(args.limit), "--threads", str(args.threads),
                       "--batch-size", str(args.batch_size)]
                p = subprocess.run(cmd, env=worker_env(args.threads), capture_output=True,
                                   text=True)
                if p.returncode != 0:
                    sys.exit(f"{e} failed:\n{p.stderr[-4000:]}")
                with open(out) as f:
                    res = json.load(f)
                runs[e].append(res)
                print(f"round {r} {e:13s} {res['texts_per_s']:8.1f} texts/s "
                      f"({res['texts']} texts, {res['seconds']:.2f} s)", file=sys.stderr)

    summary = {}
    base_labels = runs["transformers"][0]["labels"] if "transformers" in runs else None
    for e, rs in runs.items():
        tps = [x["texts_per_s"] for x in rs]
        summary[e] = {"texts_per_s": statistics.median(tps), "min": min(tps), "max": max(tps),
                      "rounds": len(tps), "info": rs[0]["info"], "load_s": rs[0]["load_s"]}
        if base_labels is not None:
            same = sum(a == b for a, b in zip(rs[0]["labels"], base_labels))
            summary[e]["label_agreement_vs_transformers"] = same / len(base_labels)
    ratios = {}
    if "refusal" in summary:
        for e in summary:
            if e != "refusal":
                ratios[f"refusal/{e}"] = summary["refusal"]["texts_per_s"] / summary[e]["texts_per_s"]
    if "refusal-int8" in summary and "ort-fp32" in summary:
        ratios["refusal-int8/ort-fp32"] = (summary["refusal-int8"]["texts_per_s"] /
                                           summary["ort-fp32"]["texts_per_s"])
    report = {
        "made_by": "bench/python/bench_python.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "model": args.model, "workload": args.workload, "texts": runs[engines[0]][0]["texts"],
        "threads": args.threads, "batch_size": args.batch_size, "rounds": args.rounds,
        "versions": {"refusal-python": versions(args.refusal_python),
                     "peers-python": versions(args.peers_python)},
        "engines": summary, "ratios": ratios,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "versions"}, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
