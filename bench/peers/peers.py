#!/usr/bin/env python3
r"""Peer benchmark: the `refusal` engine against transformers (PyTorch) and ONNX Runtime (via
optimum, fp32 and int8) on the distilroberta-base-rejection-v1 architecture, interleaved round by
round.

  .venv-bench/bin/python bench/peers/peers.py --model build/bench-model --threads 2 --rounds 3 \
      --shapes 16,64,128,512 --workload data/eval/chatgpt-refusals.jsonl.gz \
      --refusal build/release/refusal --refusal-dtypes fp32,bf16,int8 \
      --json build/peers.json [--only transformers,ort-fp32,ort-int8]

The model folder is what scripts/make_bench_model.py writes (HF folder + onnx/ + onnx-int8/).
The venv: `bash scripts/venv.sh bench` (scripts/requirements/bench.txt).

With --refusal BIN, each round of the latency phase also runs `BIN bench --rounds 1 --json ...`
(the refusal engine, one fresh process per round, every --refusal-dtypes loaded once; its
latency, 32x64 and, with --workload, its workload in that process), in the rotated order with
the peers, and the summary adds every engine's medians and the ratios of refusal's to the peers'
(`summary` in the JSON). Without it, only the peers run.

What is measured, per peer:
  * batch-1 latency at each shape: input_ids = <s> + fixed random ids + </s> (the same ids for
    every peer), all-ones attention mask; warm-up calls, then timed calls until both
    --min-iters and --budget seconds are reached; the round's value is the median call.
  * batch 32x64 throughput (seq/s): 32 rows of fixed random ids of 64 tokens, no padding.
  * realistic workload (texts/s): every text of --workload, run the way a user would, with
    tokenization included: pipeline("text-classification", model, tokenizer, truncation=True,
    max_length=512, batch_size=32) -- transformers' pipeline for PyTorch, optimum's pipeline
    (accelerator="ort") with the ORTModel for ONNX Runtime. Texts in file order, so each batch
    of 32 is padded to its longest text (the pipelines' default).
  The model calls for the first two are direct: `model(input_ids, attention_mask)` under
  torch.inference_mode() for PyTorch, `InferenceSession.run` with numpy inputs for ORT.

Methodology:
  * Every (round, peer) runs in a FRESH PROCESS (a worker: this script with --worker), and
    round r runs every peer once before round r+1 starts (interleaved; the peer order is
    rotated each round). Each value is reported as the median over rounds with min/max.
    The workload phase runs after all micro rounds, with its own round count.
  * ONNX Runtime's int8 kernels are bimodal across processes on some machines (a process is
    either "fast" or "slow" for its whole life). Since each round is a new process, this shows
    as round-to-round spread; the summary gives the median AND the best round (the fast mode)
    and flags a peer whose max/min over rounds exceeds 1.25.
  * Threads: workers get OMP/MKL/OPENBLAS/RAYON_NUM_THREADS=T; torch.set_num_threads(T),
    torch.set_num_interop_threads(1); ORT SessionOptions intra_op_num_threads=T,
    inter_op_num_threads=1 (other options at their defaults).
  * Shared machines: each worker's report carries `foreign_cores`, the CPU that OTHER processes
    used while it ran (from /proc/stat minus the worker's own rusage); --wait-quiet S makes the
    orchestrator wait up to S seconds for an idle machine before each worker, and
    --retry-disturbed N reruns a worker (up to N times) when others used > --disturbed-cores
    during it, keeping the least disturbed try. The tries a run needed are in the report
    (`attempts_*`), and what others used during the kept try (`foreign_cores_*`).
  * --raw-dir DIR keeps each worker's result; with --resume, results already there are reused,
    so an interrupted run goes on, and phases can be run apart (--phases micro / workload) and
    summarised together (--phases micro,workload --resume runs nothing new).
  * Sanity: max |logit difference| of each peer vs transformers on the batch-1 shapes and the
    32x64 batch (first round), and top-label agreement on the workload.
"""

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

PEERS = ["transformers", "ort-fp32", "ort-int8"]
REFUSAL = "refusal"  # the engine under test, run through `refusal bench` (--refusal)
BOS, EOS = 0, 2
FIRST_PLAIN_ID = 4  # ids 0..3 are <s> <pad> </s> <unk>
SEED = 1234


# --------------------------------------------------------------------------------------------
# inputs shared by every peer

def synthetic_ids(length, vocab, rows=1, seed=SEED):
    import numpy as np
    rng = np.random.default_rng(seed + 7919 * length + rows)
    body = rng.integers(FIRST_PLAIN_ID, vocab, size=(rows, length - 2), dtype=np.int64)
    ids = np.empty((rows, length), dtype=np.int64)
    ids[:, 0] = BOS
    ids[:, 1:-1] = body
    ids[:, -1] = EOS
    return ids


def read_workload(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


# --------------------------------------------------------------------------------------------
# worker: one peer, one round, one process

def timed_calls(fn, warmup, min_iters, budget_s, max_iters=1000):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


class TorchPeer:
    def __init__(self, model_dir, threads):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        self.torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.vocab = self.model.config.vocab_size
        self.info = {"attn_implementation": getattr(self.model.config, "_attn_implementation", None),
                     "torch_threads": torch.get_num_threads(),
                     "torch_config": torch.__config__.parallel_info().splitlines()[:12]}

    def prepare(self, ids):
        t = self.torch.from_numpy(ids)
        return (t, self.torch.ones_like(t))

    def run(self, prepared):
        with self.torch.inference_mode():
            return self.model(input_ids=prepared[0], attention_mask=prepared[1]).logits

    def logits(self, prepared):
        return self.run(prepared).float().numpy()

    def pipeline(self):
        from transformers import pipeline
        return pipeline("text-classification", model=self.model, tokenizer=self.tokenizer,
                        truncation=True, max_length=512, batch_size=32)


class OrtPeer:
    def __init__(self, onnx_dir, file_name, threads):
        import onnxruntime as ort
        import torch
        from optimum.onnxruntime import ORTModelForSequenceClassification
        from transformers import AutoTokenizer
        torch.set_num_threads(threads)  # the pipeline's pre/post-processing uses torch
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.model = ORTModelForSequenceClassification.from_pretrained(
            onnx_dir, file_name=file_name, provider="CPUExecutionProvider", session_options=so)
        self.session = self.model.session
        self.tokenizer = AutoTokenizer.from_pretrained(onnx_dir)
        self.vocab = self.model.config.vocab_size
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.info = {"inputs": self.input_names,
                     "providers": self.session.get_providers(),
                     "graph_optimization_level": str(so.graph_optimization_level)}

    def prepare(self, ids):
        import numpy as np
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return {k: v for k, v in feeds.items() if k in self.input_names}

    def run(self, prepared):
        return self.session.run(None, prepared)[0]

    def logits(self, prepared):
        return self.run(prepared).astype("float32")

    def pipeline(self):
        from optimum.pipelines import pipeline
        return pipeline("text-classification", model=self.model, tokenizer=self.tokenizer,
                        accelerator="ort", truncation=True, max_length=512, batch_size=32)


def make_peer(name, model_dir, threads):
    if name == "transformers":
        return TorchPeer(model_dir, threads)
    if name == "ort-fp32":
        return OrtPeer(os.path.join(model_dir, "onnx"), "model.onnx", threads)
    if name == "ort-int8":
        return OrtPeer(os.path.join(model_dir, "onnx-int8"), "model_quantized.onnx", threads)
    raise SystemExit(f"unknown peer {name}")


def worker(args):
    t0 = time.perf_counter()
    peer = make_peer(args.worker, args.model, args.threads)
    out = {"peer": args.worker, "pid": os.getpid(), "load_s": time.perf_counter() - t0,
           "info": peer.info}

    if args.phase == "micro":
        out["shapes"] = {}
        for length in args.shapes:
            prepared = peer.prepare(synthetic_ids(length, peer.vocab))
            times = timed_calls(lambda: peer.run(prepared), args.warmup, args.min_iters, args.budget)
            out["shapes"][str(length)] = {
                "median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
                "iters": len(times), "logits": peer.logits(prepared).tolist()}
        prepared = peer.prepare(synthetic_ids(64, peer.vocab, rows=32))
        times = timed_calls(lambda: peer.run(prepared), 1, max(3, args.min_iters // 2), args.budget)
        med = statistics.median(times)
        out["batch32x64"] = {"median_ms": 1e3 * med, "seq_per_s": 32 / med, "iters": len(times),
                             "logits": peer.logits(prepared).tolist()}
    else:
        texts = read_workload(args.workload)
        if args.workload_limit:
            texts = texts[:args.workload_limit]
        pipe = peer.pipeline()
        pipe(texts[:32])  # warm-up: one batch
        t = time.perf_counter()
        results = pipe(texts)
        elapsed = time.perf_counter() - t
        out["workload"] = {"texts": len(texts), "seconds": elapsed, "texts_per_s": len(texts) / elapsed,
                           "labels": [r["label"] for r in results]}
    with open(args.out, "w") as f:
        json.dump(out, f)


# --------------------------------------------------------------------------------------------
# orchestrator

def versions():
    import importlib.metadata as md
    v = {"python": platform.python_version()}
    for pkg in ["torch", "transformers", "tokenizers", "onnxruntime", "onnx", "optimum", "optimum-onnx", "numpy"]:
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    return v


def machine():
    info = {"platform": platform.platform(), "nproc": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info.update({k: fields.get(k) for k in ["Model name", "Vendor ID", "CPU family", "Model",
                                                  "CPU(s)", "L2 cache", "L3 cache", "Hypervisor vendor"]})
        flags = fields.get("Flags", "").split()
        info["flags_of_interest"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")))
    except OSError:
        pass
    return info


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": values}


def max_abs_diff(a, b):
    import numpy as np
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def worker_command(peer, phase, args, out):
    """The command of one (peer, phase) worker that writes its result as JSON to `out`."""
    if peer == REFUSAL:
        # One `refusal bench` round: latency, 32x64 and (with a workload) the workload.
        return [args.refusal, "bench", "--model", args.model, "--threads", str(args.threads),
                "--rounds", "1", "--seconds", str(args.refusal_seconds),
                "--shapes", *map(str, args.shapes), "--dtype", *args.refusal_dtypes,
                "--workload", args.workload or "", "--json", out]
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", peer, "--phase", phase,
           "--model", args.model, "--threads", str(args.threads), "--out", out,
           "--shapes", ",".join(map(str, args.shapes)), "--warmup", str(args.warmup),
           "--min-iters", str(args.min_iters), "--budget", str(args.budget)]
    if phase == "workload":
        cmd += ["--workload", args.workload, "--workload-limit", str(args.workload_limit)]
    return cmd


def run_worker(peer, phase, round_idx, args, raw_dir):
    """Runs one worker (retrying when disturbed) and keeps its least disturbed try in raw_dir."""
    final = os.path.join(raw_dir, f"{phase}-{peer}-{round_idx}.json")
    if args.resume and os.path.exists(final):
        with open(final) as f:
            result = json.load(f)
        print(f"  round {round_idx} {phase:8s} {peer:12s} kept from {final}", file=sys.stderr, flush=True)
        return result
    out = final + ".part"
    cmd = worker_command(peer, phase, args, out)
    env = dict(os.environ)
    for var in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"]:
        env[var] = str(args.threads)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    env.setdefault("HF_HUB_OFFLINE", "1")
    best = None
    for attempt in range(args.retry_disturbed + 1):
        result = run_worker_once(cmd, env, out, args)
        result["attempt"] = attempt
        print(f"  round {round_idx} {phase:8s} {peer:12s} {result['wall_s']:6.1f}s  "
              f"foreign {result['foreign_cores']:.2f} cores  " + summary_line(result), file=sys.stderr, flush=True)
        if best is None or result["foreign_cores"] < best["foreign_cores"]:
            best = result
        if result["foreign_cores"] <= args.disturbed_cores:
            break
        if attempt < args.retry_disturbed:
            print(f"  disturbed (> {args.disturbed_cores} cores used by others): again", file=sys.stderr, flush=True)
    best["attempts"] = attempt + 1
    with open(final, "w") as f:
        json.dump(best, f)
    os.remove(out)
    return best


def run_worker_once(cmd, env, out, args):
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet, args.quiet_threshold)
    cpu0, ru0 = cpu_busy_s(), children_cpu_s()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t
    foreign = max(0.0, (cpu_busy_s() - cpu0) - (children_cpu_s() - ru0))
    with open(out) as f:
        result = json.load(f)
    # CPU-seconds that other processes used while this worker ran, per wall second: 0 on a quiet
    # machine; anything near 1 means a whole core was taken by someone else.
    result["foreign_cores"] = foreign / wall
    result["wall_s"] = wall
    return result


def cpu_busy_s():
    """Busy CPU-seconds of the whole machine since boot, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])  # guest time is already counted in user
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_quiet(max_wait_s, threshold_cores):
    """Waits (at most max_wait_s) until other processes use under threshold_cores for 2 s."""
    deadline = time.time() + max_wait_s
    while True:
        b0 = cpu_busy_s()
        time.sleep(2.0)
        busy = (cpu_busy_s() - b0) / 2.0
        if busy < threshold_cores:
            return
        if time.time() > deadline:
            print(f"  machine still busy ({busy:.2f} cores) after {max_wait_s:.0f}s; running anyway",
                  file=sys.stderr, flush=True)
            return


def summary_line(r):
    if "refusal" in r:  # a `refusal bench --json` report
        return " ".join(f"{dtype}:" + ",".join(f"{s['ms']['median']:.2f}ms" for s in v["latency"])
                        + f",32x64:{v['batch_seq_per_s']['median']:.1f}seq/s"
                        for dtype, v in r["refusal"].items())
    if "workload" in r and isinstance(r["workload"], dict):
        return f"{r['workload']['texts_per_s']:.1f} texts/s"
    parts = [f"{k}:{v['median_ms']:.2f}ms" for k, v in r["shapes"].items()]
    parts.append(f"32x64:{r['batch32x64']['seq_per_s']:.1f}seq/s")
    return " ".join(parts)


def orchestrate(args):
    peers = args.only
    engines = peers + ([REFUSAL] if args.refusal else [])
    rounds_w = args.workload_rounds if args.workload_rounds is not None else args.rounds
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
              "versions": versions(), "machine": machine(),
              "settings": {"threads": args.threads, "rounds": args.rounds, "workload_rounds": rounds_w,
                           "shapes": args.shapes, "warmup": args.warmup, "min_iters": args.min_iters,
                           "budget_s": args.budget, "workload": args.workload,
                           "wait_quiet_s": args.wait_quiet, "quiet_threshold_cores": args.quiet_threshold,
                           "disturbed_cores": args.disturbed_cores, "retry_disturbed": args.retry_disturbed,
                           "workload_limit": args.workload_limit, "model": os.path.abspath(args.model),
                           "refusal": args.refusal, "refusal_dtypes": args.refusal_dtypes,
                           "refusal_seconds": args.refusal_seconds},
              "peers": {}}
    raw = {p: {"micro": [], "workload": []} for p in engines}
    tmp = None
    raw_dir = args.raw_dir
    if raw_dir is None:
        tmp = tempfile.TemporaryDirectory()
        raw_dir = tmp.name
    os.makedirs(raw_dir, exist_ok=True)
    report["settings"]["raw_dir"] = os.path.abspath(raw_dir) if args.raw_dir else None
    phases = [("micro", args.rounds if "micro" in args.phases else 0),
              ("workload", rounds_w if args.workload and "workload" in args.phases else 0)]
    for phase, n in phases:
        # refusal runs its whole round (its workload included) in the latency phase.
        names = engines if phase == "micro" else peers
        for r in range(n):
            order = names[r % len(names):] + names[:r % len(names)] if names else []
            for p in order:
                raw[p][phase].append(run_worker(p, phase, r, args, raw_dir))
    if tmp is not None:
        tmp.cleanup()

    ref = raw["transformers"]["micro"][0] if "transformers" in peers and raw["transformers"]["micro"] else None
    ref_w = raw["transformers"]["workload"][0] if "transformers" in peers and raw["transformers"]["workload"] else None
    for p in peers:
        rep = {}
        micro = raw[p]["micro"]
        if micro:
            rep["info"] = micro[0]["info"]
            rep["load_s"] = spread([m["load_s"] for m in micro])
            rep["foreign_cores_micro"] = [round(m["foreign_cores"], 3) for m in micro]
            rep["attempts_micro"] = [m.get("attempts") for m in micro]
            rep["latency_ms"] = {str(L): spread([m["shapes"][str(L)]["median_ms"] for m in micro])
                                 for L in args.shapes}
            rep["iters_per_round"] = {str(L): [m["shapes"][str(L)]["iters"] for m in micro] for L in args.shapes}
            rep["batch32x64_seq_per_s"] = spread([m["batch32x64"]["seq_per_s"] for m in micro])
            if ref is not None:
                d = {str(L): max_abs_diff(micro[0]["shapes"][str(L)]["logits"], ref["shapes"][str(L)]["logits"])
                     for L in args.shapes}
                d["32x64"] = max_abs_diff(micro[0]["batch32x64"]["logits"], ref["batch32x64"]["logits"])
                rep["max_abs_logit_diff_vs_transformers"] = d
            rep["logits_batch1"] = {str(L): micro[0]["shapes"][str(L)]["logits"] for L in args.shapes}
        wl = raw[p]["workload"]
        if wl:
            rep["workload_texts"] = wl[0]["workload"]["texts"]
            rep["foreign_cores_workload"] = [round(w["foreign_cores"], 3) for w in wl]
            rep["attempts_workload"] = [w.get("attempts") for w in wl]
            rep["workload_texts_per_s"] = spread([w["workload"]["texts_per_s"] for w in wl])
            if ref_w is not None:
                a, b = wl[0]["workload"]["labels"], ref_w["workload"]["labels"]
                rep["workload_label_agreement_vs_transformers"] = sum(x == y for x, y in zip(a, b)) / len(a)
        bimodal = []
        for key, s in list(rep.get("latency_ms", {}).items()) + [
                ("32x64", rep.get("batch32x64_seq_per_s")), ("workload", rep.get("workload_texts_per_s"))]:
            if s and s["min"] > 0 and s["max"] / s["min"] > 1.25:
                bimodal.append(key)
        rep["spread_over_1.25x"] = bimodal
        report["peers"][p] = rep

    if "transformers" in peers:
        base = report["peers"]["transformers"]
        ratios = {}
        for p in peers:
            rp = report["peers"][p]
            r = {}
            for L in args.shapes:
                if "latency_ms" in rp:
                    r[f"speedup_{L}"] = base["latency_ms"][str(L)]["median"] / rp["latency_ms"][str(L)]["median"]
            if "batch32x64_seq_per_s" in rp:
                r["speedup_32x64"] = rp["batch32x64_seq_per_s"]["median"] / base["batch32x64_seq_per_s"]["median"]
            if "workload_texts_per_s" in rp and "workload_texts_per_s" in base:
                r["speedup_workload"] = rp["workload_texts_per_s"]["median"] / base["workload_texts_per_s"]["median"]
            ratios[p] = r
        report["speedup_vs_transformers_median"] = ratios

    if args.refusal and raw[REFUSAL]["micro"]:  # refusal runs in the latency phase only
        report["refusal"] = summarize_refusal(raw[REFUSAL]["micro"], args)
        report["refusal_rounds"] = raw[REFUSAL]["micro"]
        report["summary"] = engines_summary(report, args)

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print_table(report, args)
    if "summary" in report:
        print_engines(report, args)


# --------------------------------------------------------------------------------------------
# refusal against the peers

PEER_NAMES = {"transformers": "transformers (PyTorch fp32)", "ort-fp32": "ONNX Runtime fp32",
              "ort-int8": "ONNX Runtime int8"}


def summarize_refusal(rounds, args):
    """Per dtype: the spread over rounds of what each `refusal bench --rounds 1` measured."""
    out = {}
    for dtype in args.refusal_dtypes:
        runs = [r["refusal"][dtype] for r in rounds]
        latency = {str(L): spread([run["latency"][i]["ms"]["median"] for run in runs])
                   for i, L in enumerate(args.shapes)}
        gflops = {str(L): statistics.median(run["latency"][i]["gflops"] for run in runs)
                  for i, L in enumerate(args.shapes)}
        workload = [run["workload_texts_per_s"]["median"] for run in runs
                    if run["workload_texts_per_s"]["rounds"]]
        out[dtype] = {"isa": runs[0]["isa"], "threads": rounds[0]["threads"],
                      "latency_ms": latency, "gflops_median": gflops,
                      "batch32x64_seq_per_s": spread([run["batch_seq_per_s"]["median"] for run in runs]),
                      "workload_texts_per_s": spread(workload) if workload else None,
                      "workload_tokens": runs[0]["workload_tokens"],
                      "peak_rss_kb": max(run["peak_rss_kb"] for run in runs),
                      "foreign_cores": [round(r["foreign_cores"], 3) for r in rounds],
                      "attempts": [r.get("attempts") for r in rounds]}
    return out


def engines_summary(report, args):
    """Every engine's medians over the interleaved rounds, and the ratios of refusal's to the
    peers' medians (latency: ours / theirs, below 1 is faster; throughput: ours / theirs)."""
    rows = []
    for key, name in PEER_NAMES.items():
        if key in report["peers"]:
            rep = report["peers"][key]
            rows.append({"engine": name, "latency_ms": rep.get("latency_ms", {}),
                         "batch32x64_seq_per_s": rep.get("batch32x64_seq_per_s"),
                         "workload_texts_per_s": rep.get("workload_texts_per_s")})
    for dtype, rep in report["refusal"].items():
        rows.append({"engine": f"refusal {dtype}", "latency_ms": rep["latency_ms"],
                     "batch32x64_seq_per_s": rep["batch32x64_seq_per_s"],
                     "workload_texts_per_s": rep["workload_texts_per_s"]})
    by_name = {r["engine"]: r for r in rows}

    def median(stat):
        return stat["median"] if stat else None

    def quotient(a, b):
        return a / b if a and b and a > 0 and b > 0 else None

    def ratio(us, them, label, best_round=False):
        if us is None or them is None:
            return None
        # ONNX Runtime's int8 runs fast or slow for a whole process: its best round is its fast
        # mode (lowest latency, highest throughput).
        pick = (lambda s, fast: s[fast] if s else None) if best_round else (lambda s, fast: median(s))
        lat = {}
        for L in map(str, args.shapes):
            q = quotient(median(us["latency_ms"].get(L)), pick(them["latency_ms"].get(L), "min"))
            if q is not None:
                lat[L] = q
        return {"ours_vs": label, "latency": lat,
                "batch32x64": quotient(median(us["batch32x64_seq_per_s"]),
                                       pick(them["batch32x64_seq_per_s"], "max")),
                "workload": quotient(median(us["workload_texts_per_s"]),
                                     pick(them["workload_texts_per_s"], "max"))}

    f32, b16, i8 = (by_name.get(f"refusal {d}") for d in ("fp32", "bf16", "int8"))
    t, ort32, ort8 = (by_name.get(PEER_NAMES[k]) for k in ("transformers", "ort-fp32", "ort-int8"))
    ratios = [ratio(f32, ort32, "refusal fp32 vs ONNX Runtime fp32"),
              ratio(f32, t, "refusal fp32 vs transformers"),
              ratio(i8, ort8, "refusal int8 vs ONNX Runtime int8"),
              ratio(i8, ort8, "refusal int8 vs ONNX Runtime int8, its best round", best_round=True),
              ratio(b16, f32, "refusal bf16 vs refusal fp32")]
    return {"table": rows, "ratios": [r for r in ratios if r is not None]}


def print_engines(report, args):
    def cell(s, digits):
        if not s:
            return "–"
        return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}–{s['max']:.{digits}f}]"

    def times(x):
        return f"{x:.2f}×" if x is not None else "–"

    shapes = [str(L) for L in args.shapes]
    print("\nrefusal (`refusal bench`, one process per round), median [min–max] over rounds:\n")
    print("| engine | threads |" + "".join(f" {L} tok (ms) |" for L in shapes)
          + " 32×64 (seq/s) | eval (texts/s) | peak RSS |")
    print("|---|---|" + "---|" * (len(shapes) + 3))
    for dtype, rep in report["refusal"].items():
        print(f"| refusal {dtype} ({rep['isa']}) | {rep['threads']} |"
              + "".join(f" {cell(rep['latency_ms'][L], 2)}; {rep['gflops_median'][L]:.0f} GFLOP/s |"
                        for L in shapes)
              + f" {cell(rep['batch32x64_seq_per_s'], 1)} | {cell(rep['workload_texts_per_s'], 1)} |"
              + f" {rep['peak_rss_kb'] / 1024:.0f} MB |")

    summary = report["summary"]
    print(f"\nAll engines, median [min–max] over {args.rounds} interleaved rounds:\n")
    print("| engine |" + "".join(f" {L} tok (ms) |" for L in shapes)
          + " 32×64 (seq/s) | eval (texts/s) |")
    print("|---|" + "---|" * (len(shapes) + 2))
    for row in summary["table"]:
        print(f"| {row['engine']} |" + "".join(f" {cell(row['latency_ms'].get(L), 2)} |" for L in shapes)
              + f" {cell(row['batch32x64_seq_per_s'], 1)} | {cell(row['workload_texts_per_s'], 1)} |")

    print("\nRatios of medians (latency: ours / theirs, lower is faster; throughput: ours / "
          "theirs, higher is faster):\n")
    print("| ours vs |" + "".join(f" {L} tok |" for L in shapes) + " 32×64 | eval |")
    print("|---|" + "---|" * (len(shapes) + 2))
    for r in summary["ratios"]:
        print(f"| {r['ours_vs']} |" + "".join(f" {times(r['latency'].get(L))} |" for L in shapes)
              + f" {times(r['batch32x64'])} | {times(r['workload'])} |")


def print_table(report, args):
    print(f"# {report['machine'].get('Model name')} | threads={args.threads} | rounds={args.rounds} | "
          f"{report['date']}")
    print("# " + " ".join(f"{k}={v}" for k, v in report["versions"].items()))
    hdr = ["peer"] + [f"b1x{L} ms" for L in args.shapes] + ["32x64 seq/s", "workload texts/s"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for p, rep in report["peers"].items():
        cells = [p]

        def fmt(s, digits=2):
            if not s:
                return "-"
            return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"
        for L in args.shapes:
            cells.append(fmt(rep.get("latency_ms", {}).get(str(L))))
        cells.append(fmt(rep.get("batch32x64_seq_per_s"), 1))
        cells.append(fmt(rep.get("workload_texts_per_s"), 1))
        print("| " + " | ".join(cells) + " |")
    for p, rep in report["peers"].items():
        if "max_abs_logit_diff_vs_transformers" in rep:
            d = rep["max_abs_logit_diff_vs_transformers"]
            print(f"# {p}: max|dlogit| vs transformers " + " ".join(f"{k}:{v:.2e}" for k, v in d.items())
                  + (f" label agreement {rep['workload_label_agreement_vs_transformers']:.3f}"
                     if "workload_label_agreement_vs_transformers" in rep else ""))
        foreign = rep.get("foreign_cores_micro", []) + rep.get("foreign_cores_workload", [])
        if foreign and max(foreign) > args.disturbed_cores:
            print(f"# {p}: other processes used up to {max(foreign):.2f} cores during a run: numbers disturbed")
        if rep.get("spread_over_1.25x"):
            print(f"# {p}: max/min over rounds > 1.25 at {rep['spread_over_1.25x']} (bimodal?)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="build/bench-model", help="folder from scripts/make_bench_model.py")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the latency/32x64 phase")
    ap.add_argument("--workload-rounds", type=int, default=None, help="rounds of the workload phase (default: --rounds)")
    ap.add_argument("--shapes", default="16,64,128,512", type=lambda s: [int(x) for x in s.split(",") if x])
    ap.add_argument("--workload", default=None, help="gzip JSONL with a `text` field; omitted: no workload phase")
    ap.add_argument("--workload-limit", type=int, default=0, help="first N texts only (0: all)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up calls per shape")
    ap.add_argument("--min-iters", type=int, default=10, help="timed calls per shape and round, at least")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per shape and round, at least")
    ap.add_argument("--wait-quiet", type=float, default=0.0,
                    help="before each worker, wait up to this many seconds for other processes to use "
                         "under --quiet-threshold cores (0: don't wait)")
    ap.add_argument("--quiet-threshold", type=float, default=0.15)
    ap.add_argument("--disturbed-cores", type=float, default=0.1,
                    help="a worker during which other processes used more than this many cores is disturbed")
    ap.add_argument("--retry-disturbed", type=int, default=0,
                    help="run a disturbed worker again, up to this many times (the last try is kept)")
    ap.add_argument("--phases", default="micro,workload", type=lambda s: [x for x in s.split(",") if x],
                    help="micro (batch-1 shapes + 32x64) and/or workload")
    ap.add_argument("--raw-dir", default=None,
                    help="keep each worker's result here (default: a temporary folder)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the results already in --raw-dir instead of running those workers again")
    ap.add_argument("--json", default=None, help="write the full report here")
    ap.add_argument("--only", default=",".join(PEERS), type=lambda s: [x for x in s.split(",") if x],
                    help="the peers to run, comma-separated ('' with --refusal: refusal alone)")
    ap.add_argument("--refusal", default=None, metavar="BIN",
                    help="the refusal binary (e.g. build/release/refusal): run `BIN bench` in every "
                         "round too, and compare")
    ap.add_argument("--refusal-dtypes", default=["fp32"], type=lambda s: [x for x in s.split(",") if x],
                    help="refusal's dtypes, comma-separated (fp32,bf16,int8)")
    ap.add_argument("--refusal-seconds", type=float, default=0.5,
                    help="refusal: seconds per shape per round (`refusal bench --seconds`)")
    ap.add_argument("--dump-ids", default=None, metavar="FILE",
                    help="write the synthetic input ids (each shape, and 32x64) as JSON and exit, so "
                         "that another engine can run the very same inputs")
    ap.add_argument("--vocab", type=int, default=50265, help="vocab size for --dump-ids")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--phase", default="micro", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dump_ids:
        ids = {str(L): synthetic_ids(L, args.vocab)[0].tolist() for L in args.shapes}
        ids["32x64"] = synthetic_ids(64, args.vocab, rows=32).tolist()
        with open(args.dump_ids, "w") as f:
            json.dump(ids, f)
    elif args.worker:
        worker(args)
    else:
        for p in args.only:
            if p not in PEERS:
                ap.error(f"unknown peer {p}; known: {','.join(PEERS)}")
        if not args.only and not args.refusal:
            ap.error("nothing to run: --only names no peer and --refusal is not given")
        if args.refusal and not os.access(args.refusal, os.X_OK):
            ap.error(f"--refusal {args.refusal}: not an executable file (build it: cmake --build --preset release)")
        orchestrate(args)


if __name__ == "__main__":
    main()
