"""Benchmark: ``matcalc check`` of a network's backprop program, cold processes, MLP and residual networks of depth
L = 1, 4, 16, 64, 256 (issue 12, Deliver 4 and 5; goal: linear in L, ratio L=256 / L=16 ≤ 20, seconds at L = 64).

Contract: writes each document with tests/netdocs.py (the forward ``let``s, the δ's, one claim per parameter: what
``derive FILE --format mc`` writes), runs ``python -m matcalc check FILE --format json`` on it in a fresh process
(this tree's code, see benchutil) and prints per document: wall and CPU seconds, claims, the verdict counts, and the
reader's message when it does not take the document (its let-nesting limit, until that changes); then the ratios
L=256 / L=16 of CPU seconds per kind. ``--mutate grad2`` (or ``delta2``, ``transpose``, ``activation``) checks a copy
with that mistake at layer 1 instead (every claim but the ones it reaches should stay verified). Not a test.

Run: ``python tests/bench/bench_network_check.py [--depths 1,4,16,64,256] [--kinds mlp,res] [--mutate M]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from benchutil import child_env, machine_line, module_launcher, run  # noqa: E402
from netdocs import program  # noqa: E402


def one(kind: str, L: int, mutate: str | None, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / f"{kind}{L}.mc"
        f.write_text(program(kind, L, mutate, 1))
        try:
            r = run([*module_launcher(), "check", str(f), "--format", "json"], env=child_env(), timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - a timeout is a figure of the benchmark, not a crash
            return {"kind": kind, "L": L, "wall": timeout, "cpu": float("nan"), "claims": 0, "verdicts": {},
                    "note": f"no answer within {timeout:g} s ({type(exc).__name__})"}
    out = {"kind": kind, "L": L, "wall": r.wall, "cpu": r.cpu, "code": r.code, "claims": 0, "verdicts": {}, "note": ""}
    try:
        rep = json.loads(r.stdout)
    except json.JSONDecodeError:
        out["note"] = (r.stderr or r.stdout).strip().splitlines()[0][:110] if (r.stderr or r.stdout).strip() else ""
        return out
    claims = rep.get("claims", [])
    out["claims"] = len(claims)
    out["verdicts"] = dict(Counter(c.get("verdict") for c in claims))
    errors = [c for c in claims if c.get("verdict") == "error"]
    if errors:
        out["note"] = f"line {errors[0].get('line')}: {str(errors[0].get('error', ''))[:90]}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depths", default="1,4,16,64,256")
    ap.add_argument("--kinds", default="mlp,res")
    ap.add_argument("--mutate", default=None, help="grad2, delta2, transpose or activation, at layer 1")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()
    depths = [int(x) for x in args.depths.split(",")]
    print(machine_line())
    print(f"matcalc check of backprop programs{' with ' + args.mutate + ' at layer 1' if args.mutate else ''}: "
          f"cold processes, one run each")
    print(f"{'network':<10} {'L':>4} {'wall s':>8} {'cpu s':>8} {'claims':>7}  verdicts / note")
    rows: dict[tuple, dict] = {}
    for kind in args.kinds.split(","):
        for L in depths:
            r = one(kind, L, args.mutate, args.timeout)
            rows[(kind, L)] = r
            verdicts = ", ".join(f"{v} {k}" for k, v in sorted(r["verdicts"].items()))
            print(f"{kind:<10} {L:>4} {r['wall']:8.2f} {r['cpu']:8.2f} {r['claims']:>7}  {verdicts}"
                  f"{'  — ' + r['note'] if r['note'] else ''}", flush=True)
    for kind in args.kinds.split(","):
        a, b = rows.get((kind, 16)), rows.get((kind, 256))
        if a and b and a["claims"] and b["verdicts"].get("verified", 0) + b["verdicts"].get("refuted", 0) + b["verdicts"].get("inconclusive", 0) == (2 * 256 if kind == "mlp" else 256):
            print(f"{kind}: L=256 / L=16 = {b['cpu'] / a['cpu']:.1f} (CPU seconds), {b['wall'] / a['wall']:.1f} "
                  f"(wall); goal ≤ 20")
        elif a and b:
            print(f"{kind}: no ratio L=256 / L=16: {b['note'] or 'the L=256 document was not fully read'}")


if __name__ == "__main__":
    main()
