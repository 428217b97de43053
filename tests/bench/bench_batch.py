"""Benchmark: claims per second and a batch of 200 homework documents (issue 14, Speed). Not a timed test.

Contract: prints two tables.

(a) Claims per second on the 50 textbook claims of ``CLAIMS`` (all true; ``d/dx a^T x = a``, ``d/dX tr(A X) = A^T``,
    …), checked

    * one process each: ``matcalc check CLAIM --given DECLS`` (the baseline; ``--per-process K`` runs the first K),
    * one cold process looping over the Python API (``matcalc.check``), start-up included; also its warm rate (after
      the first claim) and the slowest claims,
    * two such processes in parallel, half the claims each (what a ``--jobs 2`` batch mode could reach on 2 cores),
    * one process through the CLI batch mode ``matcalc check --claims FILE.jsonl --format csv``, with ``--jobs 1``
      and ``--jobs 2`` when offered, one ``{"claim": ..., "given": ...}`` per line, when ``matcalc check --help``
      mentions ``--claims`` (every claim must come out verified); otherwise the row says "not available".

    Goal: ≥ 20 claims/s on 2 cores (judged on the batch-mode row; the other rows are for comparison).

(b) 200 homework documents of 30 lines (``homework_gen.py``: renamed and combined variations of tests/homework/*.mc,
    one or two derivation chains and a few claims each, some wrong), written to a temporary folder:
    ``matcalc check DIR --jobs 2 --format csv`` when ``matcalc check --help`` mentions ``--jobs`` (its verdicts are
    compared with the Python API loop's, document by document); otherwise one process per
    document for ``--sample`` (10) documents spread over the set, extrapolated to 200 and labelled so. Also two
    Python-API processes over all the documents (``--api-docs``, 0 to skip). Goal: < 120 s.

Each row gives wall seconds, items per wall second and CPU seconds (user + system of the processes, robust on a busy
machine). Every process runs the code of this tree, with compiled modules cached unless ``--pyc env`` (see
benchutil); the launcher is the console script when installed
(``--launcher``). Exit status 0 whatever the figures; 1 if a run fails unexpectedly (a claim not verified, a
crash).

Run: ``python tests/bench/bench_batch.py [--per-process 50] [--sample 10] [--api-docs 200] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import (add_pyc_option, child_env, machine_line, module_launcher, run, script_launcher,  # noqa: E402
                       set_pyc)
from homework_gen import documents  # noqa: E402

#: 50 textbook identities, all true: (claim, declarations).
CLAIMS = [
    ("d/dx a^T x = a", "a: n, x: n"),
    ("d/dx x^T a = a", "a: n, x: n"),
    ("d/dx x^T x = 2 x", "x: n"),
    ("d/dx x^T A x = (A + A^T) x", "A: n x n, x: n"),
    ("d/dx x^T S x = 2 S x", "S: n x n symmetric, x: n"),
    ("d/dx A x = A", "A: m x n, x: n"),
    ("d/dx ‖x‖^2 = 2 x", "x: n"),
    ("d/dx ‖x - a‖^2 = 2 (x - a)", "a: n, x: n"),
    ("d/dx ‖A x - b‖^2 = 2 A^T (A x - b)", "A: m x n, x: n, b: m"),
    ("d/dx (A x - b)^T (A x - b) = 2 A^T (A x - b)", "A: m x n, x: n, b: m"),
    ("d/dx a^T A x = A^T a", "A: m x n, x: n, a: m"),
    ("d/dx x^T A b = A b", "A: n x m, x: n, b: m"),
    ("d/dx sum(x) = ones(n)", "x: n"),
    ("d/dx sum(exp(x)) = exp(x)", "x: n"),
    ("d/dx logsumexp(x) = softmax(x)", "x: n"),
    ("d/dx ‖x‖ = x / ‖x‖", "x: n"),
    ("d/dx exp(x) = diag(exp(x))", "x: n"),
    ("d/dx sigma(x) = diag(sigma'(x))", "x: n, sigma: R -> R"),
    ("d/dx sigma(W x + b) = diag(sigma'(W x + b)) W", "W: m x n, x: n, b: m, sigma: R -> R"),
    ("d/dx x ⊙ a = diag(a)", "a: n, x: n"),
    ("d/dx a^T (x ⊙ x) = 2 a ⊙ x", "a: n, x: n"),
    ("d/dx c x = c eye(n)", "c: scalar, x: n"),
    ("d/dx (a^T x)^2 = 2 (a^T x) a", "a: n, x: n"),
    ("d/dx (a^T x) (b^T x) = (b^T x) a + (a^T x) b", "a: n, b: n, x: n"),
    ("d/dx x^T A^T A x = 2 A^T A x", "A: m x n, x: n"),
    ("d/dX tr(A X) = A^T", "A: n x m, X: m x n"),
    ("d/dX tr(X A) = A^T", "A: n x m, X: m x n"),
    ("d/dX tr(X) = eye(n)", "X: n x n"),
    ("d/dX tr(X^T A) = A", "A: m x n, X: m x n"),
    ("d/dX tr(A X B) = A^T B^T", "A: p x m, X: m x n, B: n x p"),
    ("d/dX tr(X^T X) = 2 X", "X: m x n"),
    ("d/dX tr(X A X^T) = X (A + A^T)", "A: n x n, X: m x n"),
    ("d/dX tr(X^T A X) = (A + A^T) X", "A: m x m, X: m x n"),
    ("d/dX ‖X‖^2 = 2 X", "X: m x n"),
    ("d/dX ‖X - A‖^2 = 2 (X - A)", "A: m x n, X: m x n"),
    ("d/dX a^T X b = a b^T", "a: m, X: m x n, b: n"),
    ("d/dX a^T X^T b = b a^T", "a: n, X: m x n, b: m"),
    ("d/dX a^T X a = a a^T", "a: n, X: n x n"),
    ("d/dX logdet(X) = X^-T", "X: n x n spd"),
    ("d/dX det(X) = det(X) X^-T", "X: n x n"),
    ("d/dX tr(X^-1 A) = -(X^-1 A X^-1)^T", "A: n x n, X: n x n"),
    ("d/dW ‖W x - y‖^2 = 2 (W x - y) x^T", "W: n x m, x: m, y: n"),
    ("d/dW (W x - y)^T (W x - y) = 2 (W x - y) x^T", "W: n x m, x: m, y: n"),
    ("d/dW sum(W x) = ones(n) x^T", "W: n x m, x: m"),
    ("d/dW a^T sigma(W x) = (a ⊙ sigma'(W x)) x^T", "W: n x m, x: m, a: n, sigma: R -> R"),
    ("d/dW ‖sigma(W x + b) - y‖^2 = 2 ((sigma(W x + b) - y) ⊙ sigma'(W x + b)) x^T",
     "W: n x m, x: m, b: n, y: n, sigma: R -> R"),
    ("d/db ‖sigma(W x + b) - y‖^2 = 2 (sigma(W x + b) - y) ⊙ sigma'(W x + b)",
     "W: n x m, x: m, b: n, y: n, sigma: R -> R"),
    ("grad(C(sigma(z)), z) = C'(sigma(z)) ⊙ sigma'(z)", "C: R^n -> R, sigma: R -> R, z: n"),
    ("grad(C(W x + b), b) = C'(W x + b)", "C: R^n -> R, W: n x m, x: m, b: n"),
    ("grad(C(W x + b), x) = W^T C'(W x + b)", "C: R^n -> R, W: n x m, x: m, b: n"),
]

CLAIMS_PER_S_GOAL = 20.0
DOCS_GOAL_S = 120.0

#: The body of a cold process that judges claims (JSONL) or documents (a folder) with the Python API and prints, as
#: JSON, each item's wall seconds, verdict and CPU seconds. Run as ``python -c API_LOOP KIND PATH``.
API_LOOP = r"""
import json, sys, time
t_start = time.perf_counter()
import matcalc
kind, path = sys.argv[1], sys.argv[2]
out = []
if kind == "claims":
    items = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    for it in items:
        t0, c0 = time.perf_counter(), time.process_time()
        r = matcalc.check(it["claim"], given=it.get("given"))
        out.append((it["claim"], time.perf_counter() - t0, r.verdict, time.process_time() - c0))
else:
    import pathlib
    for f in sorted(pathlib.Path(path).glob("*.mc")):
        t0, c0 = time.perf_counter(), time.process_time()
        r = matcalc.check(f.read_text(encoding="utf-8"))
        out.append((f.name, time.perf_counter() - t0, r.verdict, time.process_time() - c0))
print(json.dumps({"items": out, "in_process": time.perf_counter() - t_start}))
"""


def check_help(launcher: list[str], env: dict[str, str]) -> str:
    return run([*launcher, "check", "--help"], env=env).stdout


def write_jsonl(path: Path, claims: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"claim": c, "given": g}, ensure_ascii=False) + "\n" for c, g in claims),
                    encoding="utf-8")


def api_processes(kind: str, paths: list[Path], env: dict[str, str]) -> tuple[float, float, list]:
    """Run one API-loop process per path in parallel: the wall time of all, their CPU seconds, and every item's
    (name, wall seconds, verdict, CPU seconds)."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", API_LOOP, kind, str(p)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for p in paths]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    items: list[tuple[str, float, str]] = []
    for (stdout, stderr), p in zip(outs, procs):
        if p.returncode != 0:
            raise SystemExit(f"an API-loop process failed (exit {p.returncode}):\n{stderr[-2000:]}")
        items += [tuple(x) for x in json.loads(stdout.strip().splitlines()[-1])["items"]]
    return wall, cpu, items


HEADER = f"{'items':>5} {'wall s':>8} {'per s':>9} {'CPU s':>7} {'goal':>12} {'result':>6}  note"


def row(what: str, n: int, wall: float | None, goal: str = "", ok: bool | None = None, note: str = "",
        cpu: float | None = None) -> None:
    if wall is None:
        print(f"{what:<52} {n:>5} {'—':>8} {'—':>9} {'—':>7} {goal:>12} {'':>6}  {note}")
        return
    mark = "" if ok is None else ("pass" if ok else "FAIL")
    cpu_txt = f"{cpu:7.2f}" if cpu is not None else f"{'':>7}"
    print(f"{what:<52} {n:>5} {wall:8.2f} {n / wall:9.2f} {cpu_txt} {goal:>12} {mark:>6}  {note}")


def part_a(args: argparse.Namespace, launcher: list[str], env: dict[str, str], tmp: Path, help_text: str) -> bool:
    bad = False
    print(f"\n(a) claims per second: {len(CLAIMS)} textbook claims, all true")
    print(f"{'what':<52} {HEADER}")
    k = min(args.per_process, len(CLAIMS))
    t0, cpu = time.perf_counter(), 0.0
    if not k:
        print("one process each: skipped (--per-process 0)")
    for claim, given in CLAIMS[:k]:
        r = run([*launcher, "check", claim, "--given", given], env=env)
        cpu += r.cpu
        if r.code != 0:
            print(f"  not verified (exit {r.code}): {claim}\n{r.stdout[-600:]}{r.stderr[-600:]}")
            bad = True
    if k:
        row("one process each (matcalc check CLAIM)", k, time.perf_counter() - t0, cpu=cpu)

    everything = tmp / "claims.jsonl"
    write_jsonl(everything, CLAIMS)
    wall, cpu, items = api_processes("claims", [everything], env)
    warm, warm_cpu = sum(x[1] for x in items[1:]), sum(x[3] for x in items[1:])
    row("one process, Python API loop (cold start included)", len(items), wall, cpu=cpu)
    row("  the same, warm (after the first claim)", len(items) - 1, warm, cpu=warm_cpu)
    halves = [tmp / "claims_a.jsonl", tmp / "claims_b.jsonl"]
    write_jsonl(halves[0], CLAIMS[0::2])
    write_jsonl(halves[1], CLAIMS[1::2])
    wall2, cpu2, items2 = api_processes("claims", halves, env)
    row("two processes in parallel, Python API loop", len(items2), wall2, cpu=cpu2)
    not_verified = [x[0] for x in items + items2 if x[2] != "verified"]
    if not_verified:
        print(f"  not verified: {not_verified}")
        bad = True

    goal = f"≥ {CLAIMS_PER_S_GOAL:g}/s"
    if "--claims" in help_text:
        for jobs in (["--jobs", "1"], ["--jobs", "2"]) if "--jobs" in help_text else ([],):
            r = run([*launcher, "check", "--claims", str(everything), "--format", "csv", *jobs], env=env)
            verdicts = [line.split(",")[1] for line in r.stdout.splitlines()[1:] if line]
            if r.code != 0 or verdicts != ["verified"] * len(CLAIMS):
                print(f"  batch mode: exit {r.code}, verdicts {verdicts}\n{r.stderr[-600:]}")
                bad = True
            judged = jobs != ["--jobs", "1"]  # the goal is for 2 cores: the --jobs 2 row (or the only one)
            row(" ".join(["CLI batch mode (check --claims FILE.jsonl", *jobs]) + ")", len(CLAIMS), r.wall,
                goal if judged else "", len(CLAIMS) / r.wall >= CLAIMS_PER_S_GOAL if judged else None,
                f"exit {r.code}", cpu=r.cpu)
    else:
        row("CLI batch mode (check --claims FILE.jsonl)", len(CLAIMS), None, goal, note="not available")
    print("slowest claims in the warm API loop (wall / CPU s): "
          + "; ".join(f"{x[1]:.2f} / {x[3]:.2f} {x[0]}" for x in sorted(items[1:], key=lambda x: -x[3])[:5]))
    print(f"first claim (imports included): {items[0][1]:.2f} s wall, {items[0][3]:.2f} s CPU")
    return bad


def part_b(args: argparse.Namespace, launcher: list[str], env: dict[str, str], tmp: Path, help_text: str) -> bool:
    bad = False
    folder = tmp / "homework"
    folder.mkdir()
    docs = documents(args.docs, lines=30, seed=0)
    for name, text in docs:
        (folder / name).write_text(text, encoding="utf-8")
    judged = sum(1 for _, t in docs for line in map(str.strip, t.splitlines())
                 if line.startswith("=") or (" = " in line and not line.startswith(("#", "let"))))
    print(f"\n(b) {len(docs)} homework documents of 30 lines ({judged} claims and steps) in {folder}")
    print(f"{'what':<52} {HEADER.replace('items', ' docs')}")
    goal = f"< {DOCS_GOAL_S:g} s"
    batch_verdicts: dict[str, str] = {}
    if "--jobs" in help_text:
        r = run([*launcher, "check", str(folder), "--jobs", "2", "--format", "csv"], env=env)
        bad |= r.code not in (0, 1)
        for line in r.stdout.splitlines()[1:]:
            if line.strip():
                name, verdict = line.split(",")[:2]
                batch_verdicts[Path(name).name] = verdict
        if len(batch_verdicts) != len(docs):
            print(f"  check DIR --jobs 2 reported {len(batch_verdicts)} documents of {len(docs)}\n{r.stderr[-600:]}")
            bad = True
        row("matcalc check DIR --jobs 2 (--format csv)", len(docs), r.wall, goal, r.wall < DOCS_GOAL_S,
            f"exit {r.code}", cpu=r.cpu)
    else:
        step = max(1, len(docs) // args.sample)
        sample = docs[::step][: args.sample]
        t0, cpu = time.perf_counter(), 0.0
        for name, _ in sample:
            r = run([*launcher, "check", str(folder / name)], env=env)
            cpu += r.cpu
            if r.code not in (0, 1):
                print(f"  {name}: exit {r.code}\n{r.stderr[-600:]}")
                bad = True
        wall = time.perf_counter() - t0
        row(f"one process per document ({len(sample)} measured)", len(sample), wall, cpu=cpu)
        est = wall * len(docs) / len(sample)
        row(f"  EXTRAPOLATED to {len(docs)} (×{len(docs) / len(sample):g}; no --jobs)", len(docs), est, goal,
            est < DOCS_GOAL_S, "estimate, not measured", cpu=cpu * len(docs) / len(sample))
        row("matcalc check DIR --jobs 2", len(docs), None, goal, note="not available")
    if args.api_docs:
        n = min(args.api_docs, len(docs))
        parts = [tmp / "api_a", tmp / "api_b"]
        for i, p in enumerate(parts):
            p.mkdir()
            for name, text in docs[:n][i::2]:
                (p / name).write_text(text, encoding="utf-8")
        wall, cpu, items = api_processes("docs", parts, env)
        row("two processes in parallel, Python API loop", len(items), wall, goal, wall < DOCS_GOAL_S,
            "what --jobs 2 could reach", cpu=cpu)
        if batch_verdicts:
            api_verdicts = {x[0]: x[2] for x in items}
            differ = sorted(n for n in api_verdicts if batch_verdicts.get(n) != api_verdicts[n])
            print(f"batch verdicts against the API loop's: "
                  f"{'all the same' if not differ else f'{len(differ)} differ: ' + ', '.join(differ[:8])}")
            bad |= bool(differ)
        counts: dict[str, int] = {}
        for x in items:
            counts[x[2]] = counts.get(x[2], 0) + 1
        print("verdicts: " + ", ".join(f"{v} {c}" for v, c in sorted(counts.items()))
              + "; slowest documents (wall / CPU s): "
              + "; ".join(f"{x[1]:.2f} / {x[3]:.2f} {x[0]}" for x in sorted(items, key=lambda x: -x[3])[:5]))
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Prints two tables; exit status 1 only if a run fails unexpectedly.")
    ap.add_argument("--launcher", choices=("auto", "module", "script"), default="auto",
                    help="how matcalc is started (default auto: the console script if installed)")
    ap.add_argument("--per-process", type=int, default=len(CLAIMS), metavar="K",
                    help=f"claims run one process each (default all {len(CLAIMS)})")
    ap.add_argument("--docs", type=int, default=200, help="homework documents to generate (default 200)")
    ap.add_argument("--sample", type=int, default=10,
                    help="documents timed one process each when there is no --jobs (default 10)")
    ap.add_argument("--api-docs", type=int, default=200,
                    help="documents judged by two Python-API processes (default 200; 0 skips)")
    ap.add_argument("--only", choices=("a", "b"), help="run one part only")
    ap.add_argument("--keep", metavar="DIR", help="write the claims and documents to DIR and keep them")
    add_pyc_option(ap)
    args = ap.parse_args(argv)

    pyc_line = set_pyc(args.pyc)
    env = child_env()
    script = script_launcher()
    launcher = script if (args.launcher == "script" or (args.launcher == "auto" and script)) else module_launcher()
    print(machine_line())
    print(f"launcher: {' '.join(launcher)}; {pyc_line}")
    help_text = check_help(launcher, env)
    run([*launcher, "check", CLAIMS[0][0], "--given", CLAIMS[0][1]], env=env)  # warm-up (byte code, page cache)
    print(f"batch options in `matcalc check --help`: --claims {'yes' if '--claims' in help_text else 'no'}, "
          f"--jobs {'yes' if '--jobs' in help_text else 'no'}")
    if args.keep:
        tmp = Path(args.keep)
        tmp.mkdir(parents=True, exist_ok=True)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="matcalc-bench-"))
    try:
        bad = False
        if args.only in (None, "a"):
            bad |= part_a(args, launcher, env, tmp, help_text)
        if args.only in (None, "b"):
            bad |= part_b(args, launcher, env, tmp, help_text)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
