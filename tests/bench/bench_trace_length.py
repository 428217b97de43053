"""Benchmark: how long the derivation traces are (issue 11, 4b).

Run: ``python tests/bench/bench_trace_length.py``. For every theorem of ``proofs/`` it takes the derivatives
``matcalc prove`` takes (every derivative on a claim's left side) and counts the steps a reader sees (the rows of
the text output); it prints them per theorem, then the three traces issue 11 names (least squares by W, softmax
cross-entropy by z, binary cross-entropy with a sigmoid by w) and two with a repeated variable, and the totals.
Not a timed test; the proofs are read, not judged.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from matcalc.api import _engine_derivations  # noqa: E402
from matcalc.lang import read_document  # noqa: E402
from matcalc.printing import to_text  # noqa: E402
from matcalc.proofs import load, proof_dir  # noqa: E402
from matcalc.render.steps import display_steps  # noqa: E402

NAMED = [
    ("least squares by W", "sum((W x - y).^2)", "W", "W: n x m, x: m, y: n"),
    ("softmax cross-entropy by z", "-y^T log(softmax(z))", "z", "y: n probability, z: n"),
    ("binary cross-entropy by w", "-(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w)))", "w",
     "X: N x d, w: d, y: N"),
    ("quadratic form by x", "x^T A x", "x", "A: n x n, x: n"),
    ("ridge by w", "sum((X w - y).^2) + lambda w^T w", "w", "X: N x d, w: d, y: N, lambda: scalar"),
]


def _shown(d) -> int:
    return len(display_steps(d.steps))


def proofs_table() -> tuple[int, int]:
    total = count = 0
    print(f"{'theorem':22} {'derivative':44} steps")
    for path in sorted(proof_dir().glob("*.mc")):
        info, text = load(path.stem)
        doc = read_document(text, where=str(info.path))
        for _line, node, d in _engine_derivations(doc):
            n = _shown(d)
            total += n
            count += 1
            label = to_text(node)
            print(f"{info.name:22} {label[:44]:44} {n:5}")
    return total, count


def named_table() -> None:
    from matcalc.api import derive_text

    print()
    print(f"{'trace':28} steps  result")
    for label, text, wrt, given in NAMED:
        d = derive_text(text, wrt=wrt, given=given).items[0].derivation
        print(f"{label:28} {_shown(d):5}  {to_text(d.result)}")


def main() -> None:
    total, count = proofs_table()
    print(f"\n{count} derivatives in proofs/: {total} steps, {total / max(count, 1):.1f} per derivative")
    named_table()


if __name__ == "__main__":
    main()
