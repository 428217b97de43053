"""Benchmark: derivatives of networks at depth through the CLI, cold processes (issue 12, Deliver 5).

Run: ``python tests/bench/bench_networks.py [--depths 1,4,16,64,256] [--kinds mlp,res] [--timeout 300]``.
For an L-layer MLP and residual network (tests/bench/netgen.py) it runs, each in a fresh process:

* ``matcalc derive FILE --wrt <every weight and bias>``: wall and CPU seconds, exit status, lines printed;
* ``matcalc derive FILE --wrt … --format mc`` into a file, then ``matcalc check`` of that file: seconds, the
  claims and their verdicts (the round trip: every claim should be verified).

It ends with the growth ratios L=256 / L=16 (the goal: ≤ 20 for time and lines, i.e. linear in L) and the 64-layer
derive times (goal: under 2 s on these 2-core machines), next to the baseline (``python -c "import sympy, numpy"``)
measured in the same run. Not a timed test: the figures depend on the machine and its load, printed first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import BASELINE, machine_line, module_launcher, run  # noqa: E402
from netgen import KINDS, parameters  # noqa: E402


def _verdicts(text: str) -> str:
    """The claims' verdicts of a ``check --format json`` report, counted (``-`` when it is not JSON)."""
    try:
        claims = json.loads(text).get("claims", [])
    except ValueError:
        return "-"
    counts: dict[str, int] = {}
    for c in claims:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    return " ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def one(kind: str, depth: int, folder: Path, timeout: float) -> dict:
    doc = folder / f"{kind}{depth}.mc"
    doc.write_text(KINDS[kind](depth))
    wrt = parameters(kind, depth)
    cli = module_launcher()
    row: dict = {"kind": kind, "L": depth}
    try:
        d = run([*cli, "derive", str(doc), "--wrt", wrt], timeout=timeout)
        row.update(derive_s=d.wall, derive_cpu=d.cpu, derive_rc=d.code, lines=len(d.stdout.splitlines()))
    except Exception as exc:  # a timeout is a figure too
        row.update(derive_s=float("inf"), derive_cpu=float("inf"), derive_rc=type(exc).__name__, lines=0)
    try:
        m = run([*cli, "derive", str(doc), "--wrt", wrt, "--format", "mc"], timeout=timeout)
        prog = folder / f"{kind}{depth}.program.mc"
        prog.write_text(m.stdout)
        row.update(mc_rc=m.code, mc_lines=len(m.stdout.splitlines()))
        c = run([*cli, "check", str(prog), "--format", "json"], timeout=timeout)
        row.update(check_s=c.wall, check_cpu=c.cpu, check_rc=c.code, verdicts=_verdicts(c.stdout))
    except Exception as exc:
        row.update(check_s=float("inf"), check_cpu=float("inf"), check_rc=type(exc).__name__, verdicts="-")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depths", default="1,4,16,64,256")
    ap.add_argument("--kinds", default="mlp,res")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    depths = [int(x) for x in args.depths.split(",")]
    print(machine_line())
    base = run(BASELINE)
    print(f"baseline (python -c 'import sympy, numpy'): {base.wall:.2f} s wall, {base.cpu:.2f} s CPU")
    print(f"{'net':4} {'L':>4} {'derive s':>9} {'cpu':>6} {'rc':>3} {'lines':>6} {'mc lines':>8} "
          f"{'check s':>8} {'cpu':>6} {'rc':>3}  verdicts")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for depth in depths:
                r = one(kind, depth, Path(tmp), args.timeout)
                rows.append(r)
                print(f"{kind:4} {depth:4} {r['derive_s']:9.2f} {r['derive_cpu']:6.2f} {r['derive_rc']!s:>3} "
                      f"{r['lines']:6} {r.get('mc_lines', 0):8} {r['check_s']:8.2f} {r['check_cpu']:6.2f} "
                      f"{r.get('check_rc', '-')!s:>3}  {r['verdicts']}", flush=True)
    for kind in args.kinds.split(","):
        by = {r["L"]: r for r in rows if r["kind"] == kind}
        if 16 in by and 256 in by:
            a, b = by[16], by[256]
            print(f"{kind}: L=256/L=16 derive time {b['derive_s'] / a['derive_s']:.1f}x, lines "
                  f"{b['lines'] / max(a['lines'], 1):.1f}x, check time {b['check_s'] / a['check_s']:.1f}x "
                  "(goal <= 20)")
        if 64 in by:
            print(f"{kind}: L=64 derive {by[64]['derive_s']:.2f} s (goal < 2 s)")


if __name__ == "__main__":
    main()
