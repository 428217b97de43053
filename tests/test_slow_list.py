"""Issue 13's slow list: powers, inverses and determinants of one matrix, nested inverses, nested σ.

The true claims are verified by the normal form together with the numeric method (the exact method's proof would take
minutes at n = 3 and is not needed: it gets a short run that looks for a difference); their false twins are refuted.
No timing here (tests/bench/bench_slow_list.py measures it); the expected verdicts are written out.
"""

from __future__ import annotations

import pytest

import matcalc

A = "A: n x n"


def _nested_sigma(k: int) -> tuple[str, str]:
    """``d/dx sum(σ^k(x))`` = the product of the k σ' by the chain rule, and the twin without the innermost σ'(x)."""
    inner, args = "x", []
    for _ in range(k):
        args.append(inner)
        inner = f"sigma({inner})"
    rhs = " ⊙ ".join(f"sigma'({a})" for a in reversed(args))
    wrong = " ⊙ ".join(f"sigma'({a})" for a in reversed(args[1:]))
    return f"d/dx sum({inner}) = {rhs}", f"d/dx sum({inner}) = {wrong}"


TRUE = [
    ("d/dA tr(A^20) = 20 (A^19)^T", A),
    ("inv(A^64) = inv(A)^64", A),
    ("det(A^20) = det(A)^20", A),
    ("inv(inv(inv(A))) = inv(A)", A),
    ("d/dA tr(inv(inv(A)) B) = B^T", "A: n x n, B: n x n"),
    (_nested_sigma(20)[0], "x: n"),
]
FALSE = [
    ("d/dA tr(A^20) = 20 A^19", A),  # the transpose forgotten
    ("inv(A^8) = inv(A)^7", A),
    ("det(A^3) = 3 det(A)", A),
    ("inv(inv(inv(A))) = A", A),
    (_nested_sigma(20)[1], "x: n"),  # a derivative of ~1e-13: confirmed by the complex step's Taylor slope
]


@pytest.mark.parametrize("claim,given", TRUE, ids=[c for c, _ in TRUE])
def test_true_claims_of_the_slow_list_are_verified(claim: str, given: str) -> None:
    res = matcalc.check(claim, given=given).results[0]
    assert res.verdict == "verified", {k: m.detail for k, m in res.methods.items()}
    assert res.methods["symbolic"].status == "equal"
    assert res.methods["numeric"].status == "equal"
    assert res.methods["exact"].status in ("equal", "unknown")  # never "different"


@pytest.mark.parametrize("claim,given", FALSE, ids=[c for c, _ in FALSE])
def test_false_twins_are_refuted(claim: str, given: str) -> None:
    res = matcalc.check(claim, given=given).results[0]
    assert res.verdict == "refuted", {k: m.detail for k, m in res.methods.items()}
    assert res.methods["symbolic"].status != "equal"
    assert res.counterexample


def test_sigma_prime_as_an_atom_and_written_out() -> None:
    # σ' kept as an atom proves the chain of 20 at once; written out in σ it still proves σ ⊙ (1 − σ) = σ'
    from matcalc.verify.symbolic import equivalent
    from matcalc.lang import read_document

    doc = read_document("sigma'(W x) = sigma(W x) ⊙ (1 - sigma(W x))", given="W: n x m, x: m")
    assert equivalent(doc.statements[-1].lhs, doc.statements[-1].rhs)
    doc = read_document("sigma'(W x) = sigma(W x) ⊙ (1 + sigma(W x))", given="W: n x m, x: m")
    assert not equivalent(doc.statements[-1].lhs, doc.statements[-1].rhs)
    # the atom forms differ, but writing σ' out in σ makes them equal: the second pass still runs
    for claim, given in [("tanh'(x) ⊙ y = (1 - tanh(x).^2) ⊙ y", "x: n, y: n"),
                         ("sigma''(x) ⊙ y = sigma'(x) ⊙ (y - 2 sigma(x) ⊙ y)", "x: n, y: n"),
                         ("sigma(sigma'(x)) = sigma(sigma(x) ⊙ (1 - sigma(x)))", "x: n")]:
        doc = read_document(claim, given=given)
        assert equivalent(doc.statements[-1].lhs, doc.statements[-1].rhs), claim


def test_the_forgotten_innermost_factor_is_tried_first() -> None:
    # the chain stopped one link early: the diagnosis tries the innermost function's factor first (it was tried last,
    # after the other 19, and the 20-nested σ twin took 3.3 s of its own diagnosis)
    import matcalc
    from matcalc.lang import read_document
    from matcalc.verify.diagnose import _candidates

    claim = "d/dx sum(sigma(sigma(sigma(x)))) = sigma'(sigma(sigma(x))) ⊙ sigma'(sigma(x))"
    [c] = [s for s in read_document(claim, given="x: n").statements if getattr(s, "rhs", None) is not None]
    chain = [m for m, _l, _r in _candidates(c.lhs, c.rhs) if m.startswith("a chain factor is missing")]
    assert chain[0] == "a chain factor is missing: multiply by σ'(x) entrywise"
    rep = matcalc.check(claim, given="x: n")
    assert rep.verdict == "refuted" and rep.results[-1].diagnosis.startswith(chain[0])
