"""Benchmark: the cold start of ``matcalc`` as ratios against ``python -c "import sympy, numpy"`` (issue 14, Speed).

Contract: prints one table — what, median wall seconds, ratio, goal, pass/fail — for fresh processes of

* ``matcalc check "d/dx x^T A x = (A + A^T) x" --given "A: n x n, x: n"`` (goal ≤ 1.2× the baseline),
* ``matcalc prove eq2`` (goal ≤ 1.6×),
* ``matcalc prove all`` (goal ≤ 6×),
* ``matcalc --help`` (absolute: goal < 0.5 s, the target of bench_prove.py; its ratio is shown for information).

The baseline ``python -c "import sympy, numpy"`` is measured in the same run, interleaved: each subject run is
preceded by a baseline run, and a ratio is the median over ``--runs`` rounds (default 7) of subject / the baseline run
just before it, which cancels most of the noise of a shared machine. The table also gives the median CPU seconds
(user + system, children included) and the CPU ratio. Before the table, ``--help`` and the check are timed once with
each launcher (``python -m matcalc``, the console script, and ``matcalc`` as found on PATH when that is a different
file, e.g. a pyenv shim) and the script says which launcher the table uses (``--launcher auto``: the console script
when installed, because its overhead is what users pay). Every process runs the code of this tree, with compiled
modules cached unless ``--pyc env`` (see benchutil); one untimed warm-up run of each command comes first.
Exit status 0 whatever the figures (not a timed test); 1 if a command's exit status is not the expected one.

Run: ``python tests/bench/bench_startup.py [--runs 7] [--launcher auto|module|script] [--skip-all] [--pyc cache|env]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import (BASELINE, Series, add_pyc_option, child_env, machine_line, module_launcher,  # noqa: E402
                       path_script, run, script_launcher, set_pyc)

CHECK = ["check", "d/dx x^T A x = (A + A^T) x", "--given", "A: n x n, x: n"]

#: (label, arguments, goal kind, goal value, expected exit status)
SUBJECTS = [
    ("check (one simple claim)", CHECK, "ratio", 1.2, 0),
    ("prove eq2", ["prove", "eq2"], "ratio", 1.6, 0),
    ("prove all", ["prove", "all"], "ratio", 6.0, 0),
    ("--help", ["--help"], "seconds", 0.5, 0),
]


def compare_launchers(env: dict[str, str]) -> None:
    """Time ``--help`` and the check once with each launcher available (after one untimed warm-up run of each)."""
    launchers = [("python -m matcalc", module_launcher())]
    script = script_launcher()
    if script:
        launchers.append((f"console script {script[0]}", script))
    on_path = path_script()
    if on_path and (not script or Path(on_path).resolve() != Path(script[0]).resolve()):
        launchers.append((f"matcalc on PATH {on_path}", [on_path]))
    print("launchers (one run each, wall s / CPU s):")
    for label, cmd in launchers:
        run([*cmd, "--help"], env=env)  # warm the page cache and the byte-code cache
        run([*cmd, *CHECK], env=env)
        h = run([*cmd, "--help"], env=env)
        c = run([*cmd, *CHECK], env=env)
        print(f"  {label:<70} --help {h.wall:5.2f} / {h.cpu:5.2f}   check {c.wall:5.2f} / {c.cpu:5.2f}")


def choose_launcher(which: str) -> tuple[str, list[str]]:
    script = script_launcher()
    if which == "script" or (which == "auto" and script):
        if not script:
            raise SystemExit("no matcalc console script is installed for this interpreter")
        return f"the console script {script[0]}", script
    return f"{sys.executable} -m matcalc", module_launcher()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Prints a table; exit status 1 only if a command fails.")
    ap.add_argument("--runs", type=int, default=7, help="rounds of interleaved runs (default 7)")
    ap.add_argument("--launcher", choices=("auto", "module", "script"), default="auto",
                    help="how matcalc is started (default auto: the console script if installed)")
    ap.add_argument("--skip-all", action="store_true", help="leave out `matcalc prove all` (the slow one)")
    ap.add_argument("--no-launchers", action="store_true", help="skip the one-off comparison of launchers")
    add_pyc_option(ap)
    args = ap.parse_args(argv)

    pyc_line = set_pyc(args.pyc)
    env = child_env()
    print(machine_line())
    print(pyc_line)
    if not args.no_launchers:
        compare_launchers(env)
    label, launcher = choose_launcher(args.launcher)
    print(f'the table uses {label}; baseline: {BASELINE[0]} -c "{BASELINE[2]}"')
    subjects = [s for s in SUBJECTS if not (args.skip_all and s[1] == ["prove", "all"])]
    series = {s[0]: Series(s[0]) for s in subjects}
    for _, cmd, *_ in subjects:  # warm-up: fill the byte-code cache and the page cache
        run(BASELINE, env=env)
        run([*launcher, *cmd], env=env)
    for i in range(args.runs):
        k = i % len(subjects)
        for name, cmd, *_ in subjects[k:] + subjects[:k]:  # rotate the order from round to round
            series[name].base.append(run(BASELINE, env=env))
            series[name].runs.append(run([*launcher, *cmd], env=env))
        print(f"  round {i + 1}/{args.runs} done", file=sys.stderr, flush=True)

    base = [b for s in series.values() for b in s.base]
    base_wall = sorted(b.wall for b in base)[len(base) // 2]
    base_cpu = sorted(b.cpu for b in base)[len(base) // 2]
    print(f"\nmedians over {args.runs} cold processes each (baseline: {len(base)} runs, median {base_wall:.3f} s wall, "
          f"{base_cpu:.3f} s CPU)")
    print(f"{'what':<26} {'median s':>9} {'ratio':>7} {'goal':>9} {'result':>7} {'CPU s':>7} {'CPU ratio':>9}  exit")
    failed = False
    for name, cmd, kind, goal, code in subjects:
        s = series[name]
        if kind == "ratio":
            ok, goal_txt = s.ratio <= goal, f"≤ {goal:g}×"
        else:
            ok, goal_txt = s.wall < goal, f"< {goal:g} s"
        codes = ",".join(map(str, sorted(s.codes)))
        failed |= s.codes != {code}
        print(f"{name:<26} {s.wall:9.3f} {s.ratio:6.2f}× {goal_txt:>9} {'pass' if ok else 'FAIL':>7} "
              f"{s.cpu:7.3f} {s.cpu_ratio:8.2f}×  {codes}")
    print("(ratio: median of subject / the baseline run just before it; --help's goal is absolute)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
