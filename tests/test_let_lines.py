"""A refuted gradient claim whose mistake is a backward ``let`` line (a δ of backpropagation defined wrongly) names
that line (matcalc.verify.let_lines, README "Checking backpropagation"): the line is named only when, with the δ's
standing for what their names say (δ2 = ∂C/∂z2), the line itself is refuted and the claim is verified; a correct
line — also one that is right under another reading of its name (δ1 = ∂C/∂a1) — is never named."""

from __future__ import annotations

import re

import pytest

from matcalc import ir
from matcalc.lang import read_document
from matcalc.marking import check_document
from matcalc.verify.let_lines import _target
from netdocs import mlp_program, residual_program

#: ``derive mlp2.mc --wrt W1,b1,W2,b2 --format mc`` (tests/bench/netgen.py mlp 2), as matcalc writes it
MLP2 = """given x: n, y: n
given W1: n x n, b1: n, W2: n x n, b2: n
let a0 = x
let z1 = W1 a0 + b1
let a1 = σ(z1)
let z2 = W2 a1 + b2
let δ2 = 2 (z2 - y)
let δ1 = (W2ᵀ δ2) ⊙ σ'(z1)
d/dW1 sum((z2 - y).^2) = δ1 a0ᵀ
d/db1 sum((z2 - y).^2) = δ1
d/dW2 sum((z2 - y).^2) = δ2 a1ᵀ
d/db2 sum((z2 - y).^2) = δ2
"""


def _blamed(text: str) -> tuple[dict[int, set[int]], list[int], object]:
    """For each claim whose diagnosis names let lines: those lines; the refuted claims' lines; the report."""
    rep = check_document(read_document(text))
    named = {}
    for r in rep.results:
        d = r.diagnosis or ""
        m = re.match(r"the mistakes? (?:is|are) on lines? ([\d, ]+):", d)
        lines = {int(x) for x in m.group(1).split(", ")} if m else set()
        lines |= {int(x) for x in re.findall(r"(?:^|; and )line (\d+), let ", d)}
        if lines:
            named[r.line] = lines
    return named, [r.line for r in rep.results if r.verdict == "refuted"], rep


def _line_of(text: str, start: str) -> int:
    return next(i for i, ln in enumerate(text.split("\n"), 1) if ln.startswith(start))


def test_the_written_program_names_no_line() -> None:
    named, refuted, rep = _blamed(MLP2)
    assert rep.verdict == "verified" and not named and not refuted


def test_a_wrong_delta2_is_named_in_every_claim_it_breaks() -> None:
    text = MLP2.replace("let δ2 = 2 (z2 - y)", "let δ2 = z2 - y")
    named, refuted, rep = _blamed(text)
    assert refuted == [9, 10, 11, 12]
    assert named == {line: {7} for line in refuted}  # δ2's line, never δ1's (right given δ2 = ∂C/∂z2)
    r = rep.results[0]
    assert r.diagnosis.startswith("the mistake is on line 7: let δ2 = z2 - y, but δ2 stands for ∂C/∂z2 = 2 (z2 - y)")
    assert "with that δ2 this claim holds" in r.diagnosis
    assert any(n.startswith("taken with line 7 as written: a constant factor is off") for n in r.notes)


def test_two_wrong_lines_are_both_named() -> None:
    text = MLP2.replace("let δ2 = 2 (z2 - y)", "let δ2 = z2 - y").replace("⊙ σ'(z1)", "")
    named, refuted, rep = _blamed(text)
    assert named == {9: {7, 8}, 10: {7, 8}, 11: {7}, 12: {7}}
    # δ1 = W2ᵀ δ2 is ∂C/∂a1 (with δ2 corrected): a reading of its name under which it is right, so it is not
    # called a mistake; what is true is said
    assert rep.results[0].diagnosis.startswith("the mistake is on line 7: let δ2 = z2 - y, but δ2 stands for ")
    assert "; and line 8, let δ1 = W2ᵀ δ2, makes δ1 ∂C/∂a1, not ∂C/∂z1 = (W2ᵀ δ2) ⊙ σ'(z1)" in rep.results[0].diagnosis


def test_a_delta_without_the_activation_derivative_is_named_for_what_it_is() -> None:
    # the classic BP2 slip: δ1 = W2ᵀ δ2 is the error of a1, not of z1
    named, refuted, rep = _blamed(MLP2.replace("⊙ σ'(z1)", ""))
    assert refuted == [9, 10] and named == {9: {8}, 10: {8}}
    assert rep.results[0].diagnosis == (
        "line 8, let δ1 = W2ᵀ δ2, makes δ1 ∂C/∂a1, not ∂C/∂z1 = (W2ᵀ δ2) ⊙ σ'(z1), which its name stands for (C = "
        "sum((z2 - y).^2)); with that δ1 this claim holds")


@pytest.mark.parametrize("mutate, at", [("delta2", 2), ("transpose", 1), ("activation", 2), ("delta2", 1)])
def test_a_planted_mistake_in_a_delta_is_named_and_nothing_else(mutate: str, at: int) -> None:
    text = mlp_program(3, mutate, at)
    wrong = _line_of(text, f"let δ{at} =")
    named, refuted, _ = _blamed(text)
    assert refuted and set(named) == set(refuted)
    assert all(lines == {wrong} for lines in named.values())


@pytest.mark.parametrize("kind, at", [("mlp", 2), ("res", 1)])
def test_a_wrong_gradient_claim_names_no_let(kind: str, at: int) -> None:
    text = (mlp_program if kind == "mlp" else residual_program)(3, "grad2", at)
    named, refuted, _ = _blamed(text)
    assert refuted and not named


@pytest.mark.parametrize("mutate", ["delta2", "transpose", "activation"])
def test_a_residual_network_with_deltas_by_h_is_never_misread(mutate: str) -> None:
    # δ_l is ∂C/∂h_l here, not ∂C/∂z_l: a line may be named only if it is the planted one
    text = residual_program(2, mutate, 1)
    named, refuted, _ = _blamed(text)
    assert refuted
    assert all(lines <= {_line_of(text, "let δ1 =")} for lines in named.values())


def test_a_line_right_under_another_reading_of_its_name_is_not_named() -> None:
    # δ2 and δ1 are the errors of a2 and a1 (not z2, z1): right as written; the W1 claim misses ⊙ σ'(z1)
    text = """given x: n, y: n, W1: n x n, b1: n, W2: n x n, b2: n, W3: n x n, b3: n
let a0 = x
let z1 = W1 a0 + b1
let a1 = sigma(z1)
let z2 = W2 a1 + b2
let a2 = sigma(z2)
let z3 = W3 a2 + b3
let δ3 = 2 (z3 - y)
let δ2 = W3ᵀ δ3
let δ1 = W2ᵀ (δ2 ⊙ sigma'(z2))
d/dW2 sum((z3 - y).^2) = (δ2 ⊙ sigma'(z2)) a1ᵀ
d/dW1 sum((z3 - y).^2) = δ1 a0ᵀ
"""
    named, refuted, _ = _blamed(text)
    assert refuted == [12] and not named


def test_a_delta_defined_as_the_derivative_is_never_named() -> None:
    text = MLP2.replace("let δ2 = 2 (z2 - y)", "let δ2 = grad(sum((z2 - y).^2), z2)").replace(
        "= δ2 a1ᵀ", "= a1 δ2ᵀ")
    named, refuted, _ = _blamed(text)
    assert refuted == [11] and not named


def test_a_student_document_with_a_helper_let() -> None:
    text = """given x: n, y: n, W1: n x n, b1: n, W2: n x n, b2: n
let z1 = W1 x + b1
let a1 = sigma(z1)
let z2 = W2 a1 + b2
let C = 0.5 * sum((z2 - y).^2)
let delta2 = z2 - y
let g1 = W2^T delta2
let delta1 = g1 .* sigma(z1)
d/dW2 C = delta2 a1^T
d/db2 C = delta2
d/dW1 C = delta1 x^T
d/db1 C = delta1
"""
    named, refuted, rep = _blamed(text)
    assert refuted == [11, 12] and named == {11: {8}, 12: {8}}
    d = rep.results[2].diagnosis
    assert "(or in the let it uses: g1 on line 7)" in d and "delta1 stands for ∂C/∂z1 = (W2ᵀ delta2) ⊙ σ'(z1)" in d
    assert "(C = " not in d  # the cost is the let C: no need to spell it out


@pytest.mark.parametrize("name, want", [
    ("δ2", "z2"), ("delta2", "z2"), ("delta_z2", "z2"), ("δ_h2", "h2"), ("dz2", "z2"), ("dC_dz2", "z2"),
    ("d2", None), ("data", None), ("delta", None), ("z2", None),
])
def test_what_a_name_stands_for(name: str, want: str | None) -> None:
    forward = {n: ir.Named(n, ir.Var("q", ("n", 1))) for n in ("z1", "z2", "h2", "a1")}
    got = _target(name, forward, ("n", 1))
    assert (got[0].name if got else None) == want
    assert _target(name, forward, ("n", "n")) is None  # of another shape: not what it stands for


def test_a_line_that_a_verified_claim_reads_as_written_is_not_named() -> None:
    # delta2 = z2 - y is half of ∂C/∂z2, and the entry claim on line 6 (verified) reads it so: the b2 claim's own
    # mistake (a lost factor 2) is what is said, not "the mistake is on line 5"
    doc = """given x: n, y: n, W1: n x n, b1: n, W2: n x n, b2: n
let z1 = W1 x + b1
let a1 = sigma(z1)
let z2 = W2 a1 + b2
let delta2 = z2 - y
d/dW2[j, k] sum((z2 - y).^2) = 2 a1[k] delta2[j]
d/db2 sum((z2 - y).^2) = delta2
"""
    named, refuted, rep = _blamed(doc)
    assert refuted == [7] and not named
    assert rep.results[-1].diagnosis.startswith("a constant factor is off")
    # without the entry claim the same line is named
    named, refuted, _ = _blamed("\n".join(ln for ln in doc.split("\n") if "[j, k]" not in ln))
    assert named == {6: {5}}
