#!/usr/bin/env python3
"""Long libFuzzer runs of every target in fuzz/ (docs/security.md#fuzzing): builds the `fuzz`
preset, runs each target for --seconds (default 600) from its committed seeds, --jobs at a
time (default 2), and writes what each run did (executions, coverage, corpus, findings) to
fuzz/results/long-runs.md and .json. Exit code 1 when a run found something.

    nice -n 19 python3 scripts/fuzz-long.py                    # every target, 10 min each
    python3 scripts/fuzz-long.py --seconds 20 --targets rows   # a quick check

Each target runs with the options of its CI test (fuzz/CMakeLists.txt: -max_len, -dict,
-timeout, -rss_limit_mb), read from CTest, only longer; its new inputs go to
build/fuzz/long/corpus_TARGET (kept between runs), its log and any crash/leak/timeout/oom input
to build/fuzz/long/. A finding: reproduce with `build/fuzz/fuzz/fuzz_TARGET FILE`, fix, and keep
the input as fuzz/corpus/TARGET/regress_NAME with a regression test.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "fuzz")
FINDING_PREFIXES = ("crash-", "leak-", "timeout-", "oom-")


def ci_commands():
    """{target: its CI test's command line} from CTest (fuzz_NAME_short)."""
    out = subprocess.run(["ctest", "--test-dir", BUILD, "-L", "fuzz", "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    commands = {}
    for test in json.loads(out)["tests"]:
        m = re.fullmatch(r"fuzz_(\w+)_short", test["name"])
        if m:
            # CTest leaves out the command of a test whose executable is not built (--no-build
            # after building only some targets).
            commands[m.group(1)] = test.get("command")
    return commands


def long_command(ci, seconds, work, artifacts):
    """The CI command with a longer time, our own work corpus and artifact folder."""
    binary, rest = ci[0], ci[1:]
    options = [a for a in rest if a.startswith("-")]
    corpora = [a for a in rest if not a.startswith("-")]
    replaced = {"-max_total_time": str(seconds), "-artifact_prefix": artifacts + os.sep}
    cmd = [binary]
    for o in options:
        key = o.split("=", 1)[0]
        cmd.append(f"{key}={replaced.pop(key)}" if key in replaced else o)
    cmd += [f"{k}={v}" for k, v in replaced.items()]
    cmd.append("-print_final_stats=1")
    # The first corpus folder is where libFuzzer writes new inputs: ours; the seeds follow.
    return cmd + [work] + corpora[1:]


def parse_log(text):
    """libFuzzer's final numbers: executions, exec/s, cov, ft, corpus, peak RSS, the error."""
    r = {}
    for key, name in [("number_of_executed_units", "executions"),
                      ("average_exec_per_sec", "exec_per_s"),
                      ("new_units_added", "new_units"), ("peak_rss_mb", "peak_rss_mb")]:
        m = re.search(rf"^stat::{key}:\s*(\d+)", text, re.M)
        r[name] = int(m.group(1)) if m else None
    status = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", text, re.M)
    if status:
        n, cov, ft, corp, size = status[-1]
        r.update(cov=int(cov), ft=int(ft), corpus_units=int(corp), corpus_size=size)
        if r["executions"] is None:
            r["executions"] = int(n)
    r["done"] = re.search(r"^#\d+\s+DONE\s", text, re.M) is not None
    errors = re.findall(r"^(?:==\d+== ?)?(ERROR: .*|SUMMARY: .*|.*runtime error: .*)$", text, re.M)
    r["error"] = errors[0][:300] if errors else None
    return r


def run_target(name, ci, seconds, long_dir):
    work = os.path.join(long_dir, f"corpus_{name}")
    artifacts = os.path.join(long_dir, f"artifacts_{name}")
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    before = set(os.listdir(artifacts))
    # Relative to the repository root, where it runs: the command in the results reads well.
    cmd = long_command(ci, seconds, os.path.relpath(work, ROOT), os.path.relpath(artifacts, ROOT))
    log_path = os.path.join(long_dir, f"{name}.log")
    start = time.time()
    with open(log_path, "w") as log:
        # Generous: a unit that hangs is libFuzzer's own -timeout finding, not ours to kill.
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                timeout=seconds + 300).returncode
        except subprocess.TimeoutExpired:
            rc = "killed: ran 300 s past its time"
    wall = time.time() - start
    with open(log_path, errors="replace") as f:
        result = parse_log(f.read())
    findings = sorted(f for f in set(os.listdir(artifacts)) - before
                      if f.startswith(FINDING_PREFIXES))
    result.update(target=name, seconds=seconds, wall_s=round(wall, 1), exit_code=rc,
                  corpus_files=len(os.listdir(work)),
                  findings=[os.path.relpath(os.path.join(artifacts, f), ROOT) for f in findings],
                  log=os.path.relpath(log_path, ROOT),
                  command=" ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                                   for a in cmd))
    result["clean"] = rc == 0 and not findings and result["done"]
    print(f"{name}: {'clean' if result['clean'] else 'NOT CLEAN'} "
          f"execs={result['executions']} cov={result.get('cov')} ft={result.get('ft')} "
          f"findings={len(findings)} ({wall:.0f} s)", flush=True)
    return result


def tool_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def write_results(results, args, out_dir, started):
    os.makedirs(out_dir, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip() != ""
    meta = {"started": started, "commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "seconds_per_target": args.seconds, "jobs": args.jobs, "cpus": os.cpu_count(),
            "machine": platform.machine(), "compiler": tool_version(["clang++-14", "--version"]),
            "command": " ".join(["python3", "scripts/fuzz-long.py"] + sys.argv[1:])}
    with open(os.path.join(out_dir, "long-runs.json"), "w") as f:
        json.dump({"run": meta, "targets": results}, f, indent=1)
        f.write("\n")
    lines = [
        "# Long fuzz runs", "",
        f"Written by `{meta['command']}` (scripts/fuzz-long.py) on {started}, commit "
        f"{meta['commit']}: each target {args.seconds} s, {args.jobs} at a time, on "
        f"{meta['cpus']} CPUs ({meta['machine']}, {meta['compiler']}; ASan + UBSan). "
        "Executions, `cov` (coverage points) and `ft` (features) are libFuzzer's final numbers; "
        "corpus: the units in its corpus at the end (seeds and what it kept) / their size.", "",
        "| Target | Seconds | Executions | exec/s | cov | ft | Corpus | Peak RSS (MB) "
        "| Findings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        found = ", ".join(f"`{f}`" for f in r["findings"]) or (
            "none" if r["clean"] else f"exit {r['exit_code']}: {r['error'] or 'see ' + r['log']}")
        corpus = f"{r.get('corpus_units', '?')} / {r.get('corpus_size', '?')}"
        lines.append(f"| `fuzz_{r['target']}` | {r['wall_s']:.0f} | {r['executions']} | "
                     f"{r['exec_per_s']} | {r.get('cov')} | {r.get('ft')} | {corpus} | "
                     f"{r['peak_rss_mb']} | {found} |")
    with open(os.path.join(out_dir, "long-runs.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=600, help="per target (default 600)")
    ap.add_argument("--jobs", type=int, default=2, help="targets at once (default 2)")
    ap.add_argument("--targets", help="comma-separated names (default: every target)")
    ap.add_argument("--out", default=os.path.join(ROOT, "fuzz", "results"),
                    help="results folder (default fuzz/results)")
    ap.add_argument("--no-build", action="store_true", help="use build/fuzz as it is")
    args = ap.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if not args.no_build:
        subprocess.run(["cmake", "--preset", "fuzz"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", "--preset", "fuzz", "--target", "fuzz_all",
                        "-j", str(args.jobs)], cwd=ROOT, check=True)
    commands = ci_commands()
    names = args.targets.split(",") if args.targets else sorted(commands)
    unknown = [n for n in names if n not in commands]
    if unknown:
        raise SystemExit(f"no fuzz target {', '.join(unknown)}; known: {', '.join(commands)}")
    unbuilt = [n for n in names if commands[n] is None]
    if unbuilt:
        raise SystemExit(f"not built in {os.path.relpath(BUILD, ROOT)}: "
                         f"{', '.join('fuzz_' + n for n in unbuilt)} (run without --no-build)")
    long_dir = os.path.join(BUILD, "long")
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda n: run_target(n, commands[n], args.seconds, long_dir),
                                names))
    write_results(results, args, args.out, started)
    print(f"results: {os.path.relpath(os.path.join(args.out, 'long-runs.md'), ROOT)}")
    sys.exit(0 if all(r["clean"] for r in results) else 1)


if __name__ == "__main__":
    main()
