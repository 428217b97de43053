"""Benchmark: closed-form size (issue 11, item 4a) — how long ``derive``'s results are against the textbook's.

Run: ``python tests/bench/bench_closed_form.py [--verbose]``. The corpus is every true derivative claim
``d/dX e = R`` (or ``grad``/``jacobian``) with a textbook right side R in the project's claim tables —
``tests/test_claims.py`` TRUE, ``tests/test_derive.py`` PARSED (expected results), the ``equal`` derivative claims of
``tests/test_exact.py`` DOCUMENTS — and the textbook identities named in issues 11 and 13 (:data:`TEXTBOOK`). For
each claim the engine derives the left side (as ``derive`` does; with the claim's ``let`` names used where their
values appear, as "the correct result is" shows it) and the ratio size(result) / size(R) is taken, size
being the IR node count of the tree (a ``let`` name counts 1). Each result is also compared with R by the numeric
method (a mismatch is a wrong corpus entry or a wrong derivative and is reported). Prints the share of claims at
≤ 1.0× and ≤ 1.5×, and the worst cases. Goal: ≥ 95 % at ≤ 1.0× and every case ≤ 1.5×. Not a timed test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from matcalc import ir  # noqa: E402

# the named identities (textbook right sides): (claim, given)
TEXTBOOK = [
    ("d/dX logdet(X^T X) = 2 X (X^T X)^-1", "X: n x m"),
    ("d/dX log(det(X^T X)) = 2 X (X^T X)^-1", "X: n x m"),
    ("d/dX log(det(X)) = X^-T", "X: n x n"),
    ("d/dX det(X) = det(X) X^-T", "X: n x n"),
    ("d/dX tr(X^3) = 3 (X^2)^T", "X: n x n"),
    ("d/dX tr(X^2) = 2 X^T", "X: n x n"),
    ("d/dx sum(a ⊙ x ⊙ b ⊙ x) = 2 a ⊙ b ⊙ x", "a: n, b: n, x: n"),
    ("d/dA tr(A)^2 = 2 tr(A) eye(n)", "A: n x n"),
    ("d/dA sum(eye(n) ⊙ A)^2 = 2 tr(A) eye(n)", "A: n x n"),
    ("d/dX logdet(inv(X)) = -X^-T", "X: n x n"),
    ("d/dX tr(inv(X)) = -(X^-2)^T", "X: n x n"),
    ("d/dX tr(X B X) = X^T B^T + B^T X^T", "X: n x n, B: n x n"),
    ("d/dw ‖X w − y‖^2 = 2 X^T (X w − y)", "X: N x d, w: d, y: N"),
    ("d/dw ‖X w − y‖^2 / N = (2/N) X^T (X w − y)", "X: N x d, w: d, y: N, N: scalar"),
    ("d/dw ‖X w − y‖^2 + lambda ‖w‖^2 = 2 X^T (X w − y) + 2 lambda w", "X: N x d, w: d, y: N, lambda: scalar"),
    ("d/dX sqrt(tr(X^T X)) = X / sqrt(tr(X^T X))", "X: n x m"),
    ("d/dX ‖X‖ = X / ‖X‖", "X: n x m"),
    ("d/dx (x^T A x)/(x^T x) = (2/(x^T x)) (A x - ((x^T A x)/(x^T x)) x)", "A: n x n symmetric, x: n"),
    ("d/dw -(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w))) = X^T (sigma(X w) - y)", "X: N x d, w: d, y: N"),
    ("d/dw (sum(softplus(X w)) - y^T X w) = X^T (sigma(X w) - y)", "X: N x d, w: d, y: N"),
    ("d/dx sum(sigma(x)) = sigma(x) ⊙ (1 - sigma(x))", "x: n"),
    ("d/dx sum(tanh(x)) = 1 - tanh(x).^2", "x: n"),
    ("d/dx sum(log(1 + exp(-x))) = -sigma(-x)", "x: n"),
    ("d/dx x^T x = 2 x", "x: n"),
    ("d/dx a^T x + x^T a = 2 a", "a: n, x: n"),
    ("d/dX tr(X^T X) = 2 X", "X: n x m"),
    ("d/dX tr(X X^T) = 2 X", "X: n x m"),
    ("d/dX tr(A X^T) = A", "A: n x m, X: n x m"),
    ("d/dX tr(X^T A X) = (A + A^T) X", "A: n x n, X: n x m"),
    ("d/dX tr(X^T S X) = 2 S X", "S: n x n symmetric, X: n x m"),
    ("d/dX a^T X b = a b^T", "a: n, X: n x m, b: m"),
    ("d/dX a^T X^T b = b a^T", "a: m, X: n x m, b: n"),
    ("d/dX a^T inv(X) b = -X^-T a b^T X^-T", "a: n, X: n x n, b: n"),
    ("d/dX logdet(X^T S X) = 2 S X (X^T S X)^-1", "S: n x n spd, X: n x m"),
    ("d/dz -y^T log(softmax(z)) = softmax(z) - y", "y: n probability, z: n"),
    # second order (issue 13 item 2): the derivative of a gradient
    ("jacobian(grad(x^T A x, x), x) = A + A^T", "A: n x n, x: n"),
    ("jacobian(grad(‖X w - y‖^2, w), w) = 2 X^T X", "X: N x d, w: d, y: N"),
    ("jacobian(grad(sum(softplus(X w)) - y^T X w, w), w) = X^T diag(sigma(X w) ⊙ (1 - sigma(X w))) X",
     "X: N x d, w: d, y: N"),
    ("jacobian(grad(-(y^T log(sigma(X w)) + (1 - y)^T log(1 - sigma(X w))), w), w) = "
     "X^T diag(sigma(X w) ⊙ (1 - sigma(X w))) X", "X: N x d, w: d, y: N"),
    ("jacobian(softmax(z), z) = diag(softmax(z)) - softmax(z) softmax(z)^T", "z: n"),
    ("jacobian(grad(-y^T log(softmax(z)), z), z) = diag(softmax(z)) - softmax(z) softmax(z)^T",
     "y: n probability, z: n"),
]


def size(e: ir.Expr) -> int:
    """IR nodes of the tree (repeats counted; a ``let`` name counts 1)."""
    if isinstance(e, ir.Named):
        return 1
    return 1 + sum(size(k) for k in ir.children(e))


def corpus() -> list[tuple[str, str, str]]:
    """``(source, claim, given)`` for every true derivative claim with a textbook right side."""
    import test_claims
    import test_derive
    import test_exact

    out = [("claims", c, g) for c, g in test_claims.TRUE]
    out += [("derive", f"d/d{wrt} ({text}) = {want}", given) for text, wrt, given, want, _ in test_derive.PARSED]
    for given, text in test_exact.DOCUMENTS:
        lines = [ln.strip() for ln in text.strip().splitlines()]
        keep = [ln for ln in lines if not ln.endswith("# different")]
        out.append(("exact", "\n".join(ln.split("#")[0].rstrip() for ln in keep), given))
    out += [("textbook", c, g) for c, g in TEXTBOOK]
    return out


def measure(verbose: bool = False, names: bool = True) -> list[dict]:
    from matcalc.document import Claim
    from matcalc.engine import closed_form
    from matcalc.lang import read_document
    from matcalc.printing import to_text
    from matcalc.verify.numeric import check_equal

    rows = []
    for source, text, given in corpus():
        doc = read_document(text, given=given)
        for st in doc.statements:
            if not isinstance(st, Claim) or not isinstance(st.lhs, ir.Derivative):
                continue
            lhs = st.lhs
            try:
                known = tuple(n for side in (lhs, st.rhs) for n in ir.walk(side) if isinstance(n, ir.Named)
                              or side is st.rhs and isinstance(n, ir.Derivative)) if names else ()
                got = closed_form(lhs, known)
            except Exception as ex:  # noqa: BLE001 - an engine gap is reported, not fatal
                rows.append({"source": source, "claim": to_text(lhs) + " = " + to_text(st.rhs), "error": str(ex)})
                continue
            same = check_equal(got, st.rhs, free=st.free, budget_s=3.0).status
            rows.append({"source": source, "claim": to_text(lhs) + " = " + to_text(st.rhs), "result": to_text(got),
                         "ratio": size(got) / size(st.rhs), "numeric": same})
            if verbose:
                r = rows[-1]
                print(f"{r['ratio']:5.2f}  {r['claim']}\n       derive: {r['result']}  [{same}]")
    return rows


def report(rows: list[dict]) -> None:
    ok = [r for r in rows if "ratio" in r]
    n = len(ok)
    le1 = sum(r["ratio"] <= 1.0 for r in ok)
    le15 = sum(r["ratio"] <= 1.5 for r in ok)
    print(f"claims: {len(rows)} ({len(rows) - n} not derived)")
    print(f"≤ 1.0×: {le1}/{n} = {100 * le1 / n:.1f} %   ≤ 1.5×: {le15}/{n} = {100 * le15 / n:.1f} %   "
          f"(goal ≥ 95 % and 100 %)")
    bad = [r for r in ok if r["numeric"] != "equal"]
    for r in bad:
        print(f"  numeric {r['numeric']}: {r['claim']}  — derive: {r['result']}")
    print("worst:")
    for r in sorted(ok, key=lambda r: -r["ratio"])[:12]:
        if r["ratio"] <= 1.0:
            break
        print(f"  {r['ratio']:4.2f}×  {r['claim']}\n         derive: {r['result']}")
    for r in rows:
        if "error" in r:
            print(f"  not derived: {r['claim']}: {r['error'][:120]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-names", action="store_true", help="do not write the claim's let names and right-side "
                    "derivatives into the result (derive's bare result)")
    args = ap.parse_args()
    report(measure(args.verbose, names=not args.no_names))


if __name__ == "__main__":
    main()
