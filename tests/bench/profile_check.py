"""Profile: where the time of one cold ``matcalc check`` and of ``matcalc prove`` goes (issue 14, Speed).

Contract: prints five sections, each measured in fresh processes running this tree's code (see benchutil). Sections 3
to 5 count CPU seconds, so that a busy machine changes them little; sections 1 and 2 are wall seconds:

1. imports (``python -X importtime``) of the simple check and of ``prove eq2``: self time summed by top-level package
   (sympy, numpy, mpmath, rich, matcalc's own modules one by one, the rest), and which matcalc module first pulls in
   each heavy package;
2. interpreter teardown: ``python -c "import sympy, numpy"`` against the same ending in ``os._exit(0)``, and the
   check run through ``matcalc.cli.main`` ending in ``SystemExit`` against flushing and ``os._exit`` (interleaved,
   medians over ``--runs``);
3. cProfile (timer: CPU seconds, ``time.process_time``) of the check and of ``prove eq2``: cold (imports inside),
   with the heavy imports done beforehand, and a second identical call in the same process; each split into
   imports / parse / symbolic / exact / numeric / diagnose / engine derivations / rendering by the cumulative time
   of the functions that own those stages (looked up by module path and name; "—" when the function was not
   called, or has moved); the modules still imported during the call; the top functions by own time;
4. ``prove all`` in one process (``MATCALC_WORKERS=1``), the heavy modules imported first: per theorem, the CPU
   seconds in the symbolic, exact and numeric methods and the rest;
5. the slowest single calls of the exact and the numeric method in ``prove all``.

The stage functions are today's (``matcalc/verify/judge.py``: ``run_symbolic``, ``run_exact``, ``run_numeric``, ``judge``;
``matcalc/lang/typer.py``: ``read_document``; ...); after a reorganisation, update ``STAGES`` and ``PER_THEOREM``.
Not a test.

Run: ``python tests/bench/profile_check.py [--runs 5] [--only 1,2,3,4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import add_pyc_option, child_env, machine_line, run, set_pyc  # noqa: E402

CHECK = ["check", "d/dx x^T A x = (A + A^T) x", "--given", "A: n x n, x: n"]
EQ2 = ["prove", "eq2"]
HEAVY = ("sympy", "numpy", "mpmath", "rich")

#: stage → (path suffix of the module, function name); cumulative time in cProfile
STAGES = [
    ("parse (read_document)", "matcalc/lang/typer.py", "read_document"),
    ("judge (all methods)", "matcalc/verify/judge.py", "judge"),
    ("  symbolic", "matcalc/verify/judge.py", "run_symbolic"),
    ("  exact", "matcalc/verify/judge.py", "run_exact"),
    ("  numeric", "matcalc/verify/judge.py", "run_numeric"),
    ("  diagnose", "matcalc/verify/diagnose.py", "diagnose"),
    ("engine derivations (prove)", "matcalc/api.py", "_engine_derivations"),
    ("render (rich print)", "matcalc/cli.py", "_render_result"),
]


# ───────────────────────────── 1. imports ─────────────────────────────


def importtime(args: list[str]) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for every import of ``python -X importtime -m matcalc ARGS``."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "matcalc", *args], env=child_env(),
                       capture_output=True, text=True)
    out = []
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            out.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    return out


def _parents(rows: list[tuple[int, int, int, str]]) -> list[int | None]:
    """Index of each import's parent: importtime prints a module after its children, so the parent of a line is the
    next line of smaller depth."""
    out: list[int | None] = []
    for i, (_, _, depth, _) in enumerate(rows):
        out.append(next((j for j in range(i + 1, len(rows)) if rows[j][2] < depth), None))
    return out


def import_report(label: str, args: list[str], runs: int) -> None:
    samples = [importtime(args) for _ in range(runs)]
    per_key: dict[str, list[int]] = {}
    for rows in samples:
        groups: dict[str, int] = {}
        for self_us, _, _, mod in rows:
            top = mod.split(".")[0]
            key = mod if top == "matcalc" else top
            groups[key] = groups.get(key, 0) + self_us
        for key, us in groups.items():
            per_key.setdefault(key, []).append(us)
    med = {k: statistics.median(v + [0] * (runs - len(v))) for k, v in per_key.items()}
    total = statistics.median(sum(r[0] for r in rows) for rows in samples)
    print(f"\n1. imports of `matcalc {' '.join(args[:2])}` (python -X importtime; self time, median of {runs} runs): "
          f"{total / 1e6:.3f} s in all")
    own = sum(v for k, v in med.items() if k.startswith("matcalc"))
    print(f"   {'matcalc (all its modules)':<32} {own / 1e6:7.3f} s {100 * own / total:5.1f} %")
    for key, us in sorted(med.items(), key=lambda kv: -kv[1]):
        if us >= 5000:
            print(f"   {key:<32} {us / 1e6:7.3f} s {100 * us / total:5.1f} %")
    rows = samples[-1]
    parents = _parents(rows)
    for top in HEAVY:
        outer = [i for i, r in enumerate(rows) if r[3].split(".")[0] == top
                 and (parents[i] is None or rows[parents[i]][3].split(".")[0] != top)]
        if not outer:
            print(f"   {top}: not imported")
            continue
        by: dict[str, int] = {}
        for i in outer:
            j, who = parents[i], "a lazy import at run time"
            while j is not None:
                if rows[j][3].startswith("matcalc"):
                    who = rows[j][3]
                    break
                j = parents[j]
            by[who] = by.get(who, 0) + rows[i][1]
        print(f"   {top}: {sum(by.values()) / 1e6:.3f} s cumulative, pulled in by "
              + ", ".join(f"{w} ({us / 1e6:.3f} s)" for w, us in sorted(by.items(), key=lambda kv: -kv[1])))


# ───────────────────────────── 2. teardown ─────────────────────────────

MAIN_EXIT = "import sys; from matcalc.cli import main; raise SystemExit(main(sys.argv[1:]))"
MAIN_OS_EXIT = ("import os, sys; from matcalc.cli import main; c = main(sys.argv[1:]); sys.stdout.flush(); "
                "sys.stderr.flush(); os._exit(c)")


def teardown(runs: int) -> None:
    pairs = [
        ("import sympy, numpy", [sys.executable, "-c", "import sympy, numpy"],
         [sys.executable, "-c", "import sympy, numpy, os; os._exit(0)"]),
        ("check via cli.main", [sys.executable, "-c", MAIN_EXIT, *CHECK],
         [sys.executable, "-c", MAIN_OS_EXIT, *CHECK]),
    ]
    print(f"\n2. interpreter teardown: normal exit against os._exit (medians of {runs} interleaved runs, wall / CPU s)")
    for label, normal, fast in pairs:
        a, b = [], []
        for _ in range(runs):
            a.append(run(normal))
            b.append(run(fast))
        ma, mb = statistics.median(r.wall for r in a), statistics.median(r.wall for r in b)
        ca, cb = statistics.median(r.cpu for r in a), statistics.median(r.cpu for r in b)
        print(f"   {label:<22} normal {ma:6.3f} / {ca:6.3f}   os._exit {mb:6.3f} / {cb:6.3f}   "
              f"teardown ≈ {ma - mb:6.3f} s wall, {ca - cb:6.3f} s CPU")


# ───────────────────────────── 3. cProfile ─────────────────────────────

CHILD = r"""
import cProfile, io, json, os, pstats, sys, time
mode, out, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
from matcalc.cli import main
if mode in ("preloaded", "second"):
    import sympy, numpy, rich.console, rich.table, rich.text
    import matcalc.verify.exact, matcalc.verify.numeric, matcalc.verify.symbolic, matcalc.engine, matcalc.verify.diagnose
    import matcalc.render.text, matcalc.lang, matcalc.api, matcalc.engine.simplify
real = sys.stdout
sys.stdout = io.StringIO()
if mode == "second":
    main(argv)
before = set(sys.modules)
prof = cProfile.Profile(time.process_time)
t0 = time.process_time()
prof.enable()
main(argv)
prof.disable()
wall = time.process_time() - t0
sys.stdout = real
prof.dump_stats(out)
new = {}
for m in set(sys.modules) - before:
    key = ".".join(m.split(".")[:2])
    new[key] = new.get(key, 0) + 1
print(json.dumps({"wall": wall, "new": new}))
"""


def profile_once(mode: str, args: list[str]):
    import pstats

    with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as fh:
        path = fh.name
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, mode, path, *args], env=child_env(MATCALC_WORKERS="1"),
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(p.stderr[-2000:])
        data = json.loads(p.stdout.strip().splitlines()[-1])
        return data["wall"], pstats.Stats(path), data["new"]
    finally:
        os.unlink(path)


def cumulative(stats, suffix: str, name: str) -> float | None:
    found = [v[3] for (f, _, fn), v in stats.stats.items() if fn == name and f.endswith(suffix)]
    return max(found) if found else None


def imports_time(stats) -> float:
    """Cumulative time of the import calls (``_find_and_load`` is recursive; cProfile counts the outermost)."""
    return sum(v[3] for (f, _, fn), v in stats.stats.items() if fn == "_find_and_load")


def profile_report(label: str, args: list[str], top: int) -> None:
    print(f"\n3. cProfile of `matcalc {' '.join(args[:2])}` (in-process main() under the profiler, which "
          f"slows it; CPU seconds; imports overlap the stages that trigger them; — not called)")
    results = {mode: profile_once(mode, args) for mode in ("cold", "preloaded", "second")}
    print(f"   {'stage':<30} {'cold':>8} {'preloaded':>10} {'2nd call':>9}")
    print(f"   {'total (profiled)':<30} " + " ".join(f"{results[m][0]:{w}.3f}" for m, w in
                                                    (("cold", 8), ("preloaded", 10), ("second", 9))))
    print(f"   {'imports (_find_and_load)':<30} " + " ".join(f"{imports_time(results[m][1]):{w}.3f}" for m, w in
                                                            (("cold", 8), ("preloaded", 10), ("second", 9))))
    for stage, suffix, name in STAGES:
        vals = [cumulative(results[m][1], suffix, name) for m in ("cold", "preloaded", "second")]
        txt = " ".join(f"{v:{w}.3f}" if v is not None else f"{'—':>{w}}" for v, w in zip(vals, (8, 10, 9)))
        print(f"   {stage:<30} {txt}")
    new = results["preloaded"][2]
    print("   modules still imported during the call after the preload: "
          + ", ".join(f"{k} ({v})" for k, v in sorted(new.items(), key=lambda kv: -kv[1])))
    stats = results["preloaded"][1]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    print(f"   top {top} functions by own time (imports preloaded):")
    for (f, line, fn), (cc, nc, tt, ct, _) in rows:
        short = re.sub(r".*/(site-packages|lib/python3\.\d+|wt/[^/]+)/", "", f)
        print(f"     {tt:7.3f} own {ct:7.3f} cum {nc:>8} calls  {short}:{line} {fn}")


# ───────────────────────────── 4. prove all per theorem ─────────────────────────────

PER_THEOREM = r"""
import json, os, sys, time
os.environ["MATCALC_WORKERS"] = "1"
t_start = time.process_time()
from matcalc import api
from matcalc.verify import judge as verdict
import matcalc.verify.exact, matcalc.verify.numeric, matcalc.verify.symbolic, matcalc.engine, matcalc.lang  # noqa
t_imports = time.process_time() - t_start
rows, calls, current = {}, [], ["?"]
def hook(name):
    fn = getattr(verdict, name)
    def wrapped(lhs, rhs, *a, **k):
        t0 = time.process_time()
        try:
            return fn(lhs, rhs, *a, **k)
        finally:
            dt = time.process_time() - t0
            rows.setdefault(current[0], {}).setdefault(name, 0.0)
            rows[current[0]][name] += dt
            calls.append((dt, name, current[0], str(lhs)[:60] + " = " + str(rhs)[:40]))
    setattr(verdict, name, wrapped)
for name in ("run_symbolic", "run_exact", "run_numeric"):
    hook(name)
one = api.prove_one
def prove_one(name, **k):
    current[0] = name
    t0 = time.process_time()
    r = one(name, **k)
    rows.setdefault(name, {})["total"] = time.process_time() - t0
    rows[name]["claims"] = len(r.report.results)
    return r
api.prove_one = prove_one
res = api.prove_many(["all"])
print(json.dumps({"rows": rows, "calls": sorted(calls, reverse=True)[:12], "verdict": res.verdict,
                  "cpu": time.process_time() - t_start, "imports": t_imports}))
"""


def per_theorem() -> None:
    p = subprocess.run([sys.executable, "-c", PER_THEOREM], env=child_env(MATCALC_WORKERS="1"), capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    data = json.loads(p.stdout.strip().splitlines()[-1])
    rows = data["rows"]
    print(f"\n4. `prove all` in one process (MATCALC_WORKERS=1), per theorem, CPU seconds (verdict {data['verdict']}; "
          f"{data['cpu']:.2f} s in all, of which {data['imports']:.2f} s importing matcalc, SymPy and numpy first)")
    print(f"   {'theorem':<20} {'claims':>6} {'total':>7} {'symbolic':>9} {'exact':>7} {'numeric':>8} {'rest':>7}")
    sums = {"total": 0.0, "run_symbolic": 0.0, "run_exact": 0.0, "run_numeric": 0.0, "claims": 0}
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1].get("total", 0)):
        s, e, n, t = (r.get(k, 0.0) for k in ("run_symbolic", "run_exact", "run_numeric", "total"))
        for k in sums:
            sums[k] += r.get(k, 0)
        print(f"   {name:<20} {r.get('claims', 0):>6} {t:7.3f} {s:9.3f} {e:7.3f} {n:8.3f} {t - s - e - n:7.3f}")
    s, e, n, t = (sums[k] for k in ("run_symbolic", "run_exact", "run_numeric", "total"))
    print(f"   {'sum':<20} {sums['claims']:>6} {t:7.3f} {s:9.3f} {e:7.3f} {n:8.3f} {t - s - e - n:7.3f}")
    print("\n5. the slowest single method calls in `prove all` (CPU s, method, theorem, claim):")
    for dt, name, th, text in data["calls"]:
        print(f"   {dt:6.3f} {name[4:]:<8} {th:<18} {text}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Prints the five sections; not a test.")
    ap.add_argument("--runs", type=int, default=5, help="runs for the importtime and teardown medians (default 5)")
    ap.add_argument("--top", type=int, default=15, help="functions listed by own time (default 15)")
    ap.add_argument("--only", default="1,2,3,4", help="sections to run, e.g. 1,3 (4 includes 5)")
    add_pyc_option(ap)
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    print(machine_line())
    print(set_pyc(args.pyc))
    run([sys.executable, "-m", "matcalc", *CHECK])  # warm-up (byte code, page cache)
    if "1" in only:
        import_report("check", CHECK, args.runs)
        import_report("prove eq2", EQ2, args.runs)
        import_report("--help", ["--help"], 1)
    if "2" in only:
        teardown(args.runs)
    if "3" in only:
        profile_report("check", CHECK, args.top)
        profile_report("prove eq2", EQ2, args.top)
    if "4" in only:
        per_theorem()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
