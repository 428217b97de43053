"""Claims and derivations by structured variables: ``symmetric``, ``spd`` and ``diagonal`` matrices.

README "Symmetric matrices": a derivative by a symmetric (or spd) matrix is the symmetric part ``(G + Gᵀ)/2`` of the
gradient G with independent entries, in all three methods, and the verdict says so in a note; a ``diagonal``
variable is differentiated with independent entries. True claims are verified by both independent methods, false
ones refuted by both; the note is in the result, the text output and the JSON. Expected values are written out here
(and derivation results are compared with numpy formulas at a random point), never computed by the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import matcalc
from matcalc.cli import main
from matcalc.verify.numeric import Point, evaluate

SYM = "S: n x n symmetric, x: n, y: n, B: n x n"
SPD = "P: n x n spd, B: n x n"
DIAG = "D: n x n diagonal, A: n x n, x: n, y: n"

SYM_NOTE = ("S is symmetric: a derivative by S is taken along symmetric directions, the symmetric part (G + Gᵀ)/2 of "
            "the unconstrained gradient G")
SPD_NOTE = ("P is symmetric: a derivative by P is taken along symmetric directions, the symmetric part (G + Gᵀ)/2 of "
            "the unconstrained gradient G")
DIAG_NOTE = ("D is diagonal: a derivative by D is taken entry by entry as if every entry were free (the unconstrained "
             "gradient G), not restricted to diagonal directions (I ⊙ G)")

#: (claim, declarations, verdict, note). The true ones hold under the (G + Gᵀ)/2 convention; the false ones are the
#: unconstrained gradient where it is not symmetric, the Cookbook-style factor 2, or a missing transpose.
CLAIMS = [
    ("d/dS x^T S x = x x^T", SYM, "verified", SYM_NOTE),
    ("d/dS x^T S x = 2 x x^T", SYM, "refuted", SYM_NOTE),
    ("d/dS tr(S B) = (B + B^T)/2", SYM, "verified", SYM_NOTE),
    ("d/dS tr(S B) = B", SYM, "refuted", SYM_NOTE),
    ("d/dS tr(S B) = B^T", SYM, "refuted", SYM_NOTE),
    ("d/dS x^T S y = (x y^T + y x^T)/2", SYM, "verified", SYM_NOTE),
    ("d/dS x^T S y = x y^T", SYM, "refuted", SYM_NOTE),
    ("d/dP logdet(P) = P^-1", SPD, "verified", SPD_NOTE),
    ("d/dP logdet(P) = 2 P^-1", SPD, "refuted", SPD_NOTE),
    ("d/dP tr(P B) = (B + B^T)/2", SPD, "verified", SPD_NOTE),
    ("d/dP tr(P B) = B", SPD, "refuted", SPD_NOTE),
    ("d/dD tr(A D) = A^T", DIAG, "verified", DIAG_NOTE),
    ("d/dD tr(A D) = A", DIAG, "refuted", DIAG_NOTE),
    ("d/dD x^T D y = x y^T", DIAG, "verified", DIAG_NOTE),
    ("d/dD x^T D y = y x^T", DIAG, "refuted", DIAG_NOTE),
]


@pytest.mark.parametrize("claim,given,verdict,note", CLAIMS, ids=[c[0] for c in CLAIMS])
def test_claims_by_structured_variables(claim: str, given: str, verdict: str, note: str) -> None:
    res = matcalc.check(claim, given=given).results[0]
    assert res.verdict == verdict
    assert res.notes == [note]
    want = "equal" if verdict == "verified" else "different"
    # both independent methods decide, and the same way: the convention is theirs, not only the engine's
    assert res.methods["exact"].status == want
    assert res.methods["numeric"].status == want
    if verdict == "refuted":
        assert res.counterexample


def test_a_derivative_by_an_unstructured_matrix_has_no_note() -> None:
    res = matcalc.check("d/dB tr(S B) = S", given=SYM).results[0]
    assert res.verdict == "verified"
    assert res.notes == []


def test_the_issue_reproduction_prints_the_note_and_exits_0(capsys) -> None:
    code = main(["check", "d/dS x^T S x = x x^T", "--given", "S: n x n symmetric, x: n"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    assert "verified" in out
    flat = " ".join(out.split())  # the note may wrap
    assert SYM_NOTE in flat


def test_a_refuted_claim_by_a_symmetric_matrix_exits_1_with_the_note(capsys) -> None:
    code = main(["check", "d/dS tr(S B) = B", "--given", SYM])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "refuted" in out and "counterexample" in out
    assert SYM_NOTE in " ".join(out.split())


@pytest.mark.parametrize("claim,given,verdict,note", [CLAIMS[0], CLAIMS[3], CLAIMS[7], CLAIMS[11]],
                         ids=["sym-true", "sym-false", "spd-true", "diag-true"])
def test_check_json_carries_the_note(capsys, claim: str, given: str, verdict: str, note: str) -> None:
    code = main(["check", claim, "--given", given, "--format", "json"])
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert code == (0 if verdict == "verified" else 1)
    assert data["verdict"] == verdict
    (c,) = data["claims"]
    assert c["verdict"] == verdict
    assert c["notes"] == [note]


# ───────────── derive by structured variables ─────────────

N = 3


def _point(seed: int = 0) -> Point:
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(N, N))
    vals = {
        "S": (g + g.T) / 2,
        "P": g @ g.T + N * np.eye(N),
        "D": np.diag(rng.normal(size=N)),
        "A": rng.normal(size=(N, N)),
        "B": rng.normal(size=(N, N)),
        "x": rng.normal(size=(N, 1)),
        "y": rng.normal(size=(N, 1)),
    }
    return Point(sizes={"n": N}, values=vals)


#: (expression, wrt, declarations, the expected derivative as a numpy formula of the point's values)
DERIVE = [
    ("x^T S x", "S", SYM, lambda v: v["x"] @ v["x"].T),
    ("tr(S B)", "S", SYM, lambda v: (v["B"] + v["B"].T) / 2),
    ("x^T S y", "S", SYM, lambda v: (v["x"] @ v["y"].T + v["y"] @ v["x"].T) / 2),
    ("logdet(P)", "P", SPD, lambda v: np.linalg.inv(v["P"])),
    ("tr(P B)", "P", SPD, lambda v: (v["B"] + v["B"].T) / 2),
    ("tr(A D)", "D", DIAG, lambda v: v["A"].T),
    ("x^T D y", "D", DIAG, lambda v: v["x"] @ v["y"].T),
]


@pytest.mark.parametrize("expr,wrt,given,want", DERIVE, ids=[f"{d[0]} by {d[1]}" for d in DERIVE])
def test_derive_by_structured_variables(expr: str, wrt: str, given: str, want) -> None:
    r = matcalc.derive(expr, wrt, given=given)
    assert r.verdict == "verified"
    (item,) = r.items
    assert item.numeric.status == "equal"
    for seed in (0, 1):
        p = _point(seed)
        got = evaluate(item.derivation.result, p)
        assert np.allclose(got, want(p.values), rtol=1e-10, atol=1e-12)
    rules = [s.rule for s in item.derivation.steps]
    if wrt in ("S", "P"):
        assert "symmetric-convention" in rules
    else:
        assert "symmetric-convention" not in rules


def test_derive_states_the_symmetric_convention_in_text_and_json(capsys) -> None:
    code = main(["derive", "tr(S B)", "--wrt", "S", "--given", SYM])
    out, err = capsys.readouterr()
    assert code == 0, err
    flat = " ".join(out.split())
    assert "S is symmetric: the gradient is the symmetric part (G + Gᵀ)/2 of the unconstrained gradient G" in flat
    code = main(["derive", "tr(S B)", "--wrt", "S", "--given", SYM, "--format", "json"])
    data = json.loads(capsys.readouterr()[0])
    assert code == 0 and data["verdict"] == "verified"
    (d,) = data["derivatives"]
    notes = [s["note"] for s in d["steps"] if s["rule"] == "symmetric-convention"]
    assert len(notes) == 1 and notes[0].startswith("S is symmetric: the gradient is the symmetric part (G + Gᵀ)/2")
    assert d["numeric"]["status"] == "equal"


def test_derive_note_reads_as_a_sentence_in_text(capsys) -> None:
    """The text output shows a rule's first clause (up to a semicolon): it must not leave a parenthesis open."""
    main(["derive", "x^T S x", "--wrt", "S", "--given", SYM])
    flat = " ".join(capsys.readouterr()[0].split())
    assert "of the unconstrained gradient G (the derivative along symmetric directions) " in flat


def test_a_structured_name_is_its_own_transpose_in_the_simplifier() -> None:
    from matcalc import ir
    from matcalc.engine.simplify import simplify

    for props in ("symmetric", "spd", "diagonal"):
        M = ir.Var("M", ("n", "n"), frozenset({props}))
        assert simplify(ir.Transpose(M)) == M, props
    plain = ir.Var("M", ("n", "n"), frozenset())
    assert simplify(ir.Transpose(plain)) == ir.Transpose(plain)
    positive = ir.Var("M", ("n", "n"), frozenset({"positive"}))
    assert simplify(ir.Transpose(positive)) == ir.Transpose(positive)


def test_a_jacobian_by_a_symmetric_matrix_averages_the_columns_of_s_ij_and_s_ji() -> None:
    """vec(dS x) = (xᵀ ⊗ I) vec(dS); along symmetric directions the columns of S[i, j] and S[j, i] are averaged,
    (xᵀ ⊗ I + I ⊗ xᵀ)/2, in both independent methods. The independent-entries Jacobian is never verified."""
    given = "S: n x n symmetric, x: n"
    res = matcalc.check("d/dS (S x) = (kron(x^T, I) + kron(I, x^T))/2", given=given).results[0]
    assert res.verdict == "verified"
    assert res.methods["exact"].status == "equal" and res.methods["numeric"].status == "equal"
    res = matcalc.check("d/dS (S x) = kron(x^T, I)", given=given).results[0]
    assert res.verdict != "verified"
    assert res.methods["exact"].status == "different" and res.methods["numeric"].status == "different"
    # without the structure, the plain Jacobian is the right one
    res = matcalc.check("d/dA (A x) = kron(x^T, I)", given="A: n x n, x: n").results[0]
    assert res.verdict == "verified"


#: (expression, declarations, the Jacobian along symmetric directions as a numpy formula): vec(dY) = J vec(dS),
#: numerator layout, J = J_free (I + K)/2 — the columns of S[i, j] and S[j, i] averaged. Written out by hand.
def _avg_columns(j: np.ndarray, n: int) -> np.ndarray:
    out = j.copy()
    for a in range(n):
        for b in range(n):
            out[:, a + n * b] = (j[:, a + n * b] + j[:, b + n * a]) / 2
    return out


JACOBIANS = [
    ("S x", SYM, lambda v, n: _avg_columns(np.kron(v["x"].T, np.eye(n)), n)),
    ("S B", SYM, lambda v, n: _avg_columns(np.kron(v["B"].T, np.eye(n)), n)),
]


@pytest.mark.parametrize("expr,given,want", JACOBIANS, ids=[j[0] for j in JACOBIANS])
def test_derive_a_jacobian_by_a_symmetric_matrix_is_taken_along_symmetric_directions(expr, given, want) -> None:
    """derive's Jacobian by a symmetric S is the one the checkers judge (it used to treat the entries as
    independent, and its own numeric check said ✗)."""
    r = matcalc.derive(expr, "S", given=given)
    assert r.verdict == "verified"
    (item,) = r.items
    assert item.numeric.status == "equal"
    notes = [s.note for s in item.derivation.steps if s.rule == "symmetric-convention"]
    assert len(notes) == 1 and "along symmetric directions" in notes[0]
    for seed in (0, 1):
        p = _point(seed)
        got = evaluate(item.derivation.result, p)
        assert np.allclose(got, want(p.values, N), rtol=1e-10, atol=1e-12)
        free = np.kron(p.values["x"].T, np.eye(N)) if expr == "S x" else np.kron(p.values["B"].T, np.eye(N))
        assert not np.allclose(got, free)  # the independent-entries Jacobian would differ


@pytest.mark.parametrize("claim,given", [
    ("d/dS logdet(S) = 2 inv(S) - inv(S) ⊙ eye(n)", "S: n x n spd"),
    ("d/dS x^T S x = 2 x x^T - (x x^T) ⊙ eye(n)", "S: n x n symmetric, x: n"),
])
def test_the_cookbook_convention_is_named(claim, given):
    # refuted (matcalc's convention is (G + Gᵀ)/2), and the diagnosis names the convention the student used rather
    # than "a Hadamard product where a matrix product belongs"
    rep = matcalc.check(claim, given=given)
    assert rep.verdict == "refuted"
    assert "Matrix Cookbook's convention" in rep.results[-1].diagnosis
