"""Tests of the theorem library: the files in proofs/ and matcalc/proofs.py (finding, listing, loading).

The lecture's table (THEOREMS.md) is restated here on purpose, independently of ``matcalc.proofs.LECTURE``, so a
theorem dropped from either place fails a test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from matcalc import proofs
from matcalc.errors import UsageError

REPO = Path(__file__).resolve().parent.parent
PROOFS = REPO / "proofs"

# THEOREMS.md's table, in the lecture's order
TABLE = [
    "gradient", "jacobian", "chain-scalar", "chain-jacobian", "neuron", "layer", "cost",
    "elementwise-add", "elementwise-sub", "elementwise-mul", "elementwise-div", "elementwise-max",
    "hadamard", "scalar-expansion", "sum", "neuron-activation", "cost-weights", "cost-bias", "gradient-descent",
    "layer-jacobians", "node-error", "eq1", "eq2", "eq3", "eq4", "eq4-vec", "eq-tie", "backprop",
    "nielsen-p1", "nielsen-e2", "nielsen-e3", "nielsen-p2",
]
# Parr & Howard's theorems are stated in their numerator layout
PARR_HOWARD = {"gradient", "jacobian", "chain-scalar", "chain-jacobian", "elementwise-add", "elementwise-sub",
               "elementwise-mul", "elementwise-div", "elementwise-max", "hadamard", "scalar-expansion", "sum",
               "neuron-activation", "cost-weights", "cost-bias", "layer-jacobians", "eq-tie"}
# Nielsen's theorems printed componentwise: the theorem states them with entries and index sums too
COMPONENTWISE = {"layer", "eq1", "eq2", "eq3", "eq4", "eq4-vec", "backprop", "nielsen-e2"}
# the four equations hold for any cost and activation: declared generic functions, never a concrete one
GENERIC = {"eq1", "eq2", "eq3", "eq4", "eq4-vec"}


def _code_lines(text: str) -> list[str]:
    """The lines without comments, blank lines dropped."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.strip():
            out.append(line)
    return out


def _text(name: str) -> str:
    return (PROOFS / f"{name}.mc").read_text(encoding="utf-8")


# ───────────────────────────── the files ─────────────────────────────


@pytest.mark.parametrize("name", TABLE)
def test_every_theorem_has_a_file_with_headers(name: str) -> None:
    path = PROOFS / f"{name}.mc"
    assert path.is_file(), f"proofs/{name}.mc is missing"
    lines = _code_lines(_text(name))
    assert re.match(rf"^theorem {re.escape(name)}: \S", lines[0]), lines[0]
    assert lines[1].startswith("source: "), lines[1]
    source = lines[1]
    assert "layout" in source, "the source line says which layout the theorem uses"
    assert re.search(r"Nielsen|Parr & Howard", source)


@pytest.mark.parametrize("name", TABLE)
def test_every_theorem_makes_a_claim(name: str) -> None:
    lines = _code_lines(_text(name))[2:]
    claims = [ln for ln in lines
              if "=" in ln and not re.match(r"\s*(let\b|=|layout\b)", ln)]
    assert claims, f"{name} states no claim"


@pytest.mark.parametrize("name", sorted(PARR_HOWARD))
def test_parr_howard_theorems_use_numerator_layout(name: str) -> None:
    lines = _code_lines(_text(name))
    assert "layout numerator" in [ln.strip() for ln in lines]
    assert "numerator" in lines[1]


@pytest.mark.parametrize("name", sorted(COMPONENTWISE))
def test_componentwise_forms_beside_matrix_forms(name: str) -> None:
    body = "\n".join(_code_lines(_text(name))[2:])
    assert re.search(r"\w\[\w+(, \w+)?\]", body), f"{name} has no entries"
    assert re.search(r"sum_\w|d/d\w+\[", body), f"{name} has no index sum or derivative by an entry"


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_four_equations_are_generic(name: str) -> None:
    body = "\n".join(_code_lines(_text(name)))
    assert re.search(r"^C: R\^\w+ -> R", body, re.M), "a generic cost C: R^n -> R"
    assert re.search(r"^sigma: R -> R", body, re.M), "a generic activation sigma: R -> R"
    for concrete in ("relu", "tanh", "softmax", "logsumexp", "exp(", "log("):
        assert concrete not in body


def test_derivation_chains_of_the_proofs() -> None:
    """Nielsen's (36)-(39) and (40)-(45) and the BP3/BP4 exercise are written out as `=` steps."""
    for name, at_least in (("eq1", 4), ("eq2", 5), ("eq3", 2), ("eq4", 3), ("eq4-vec", 4)):
        steps = [ln for ln in _code_lines(_text(name)) if ln.lstrip().startswith("=")]
        assert len(steps) >= at_least, name


def test_backprop_covers_several_depths() -> None:
    body = _text("backprop")
    for depth in ("L = 2", "L = 3", "L = 4"):
        assert f"# {depth}" in body
    for w in ("W2", "W3", "W4"):
        assert f"grad(C4(a4), {w})" in body


# ───────────────────────────── parsed and typed ─────────────────────────────


def _document(name: str):
    from matcalc.lang import read_document

    return read_document(_text(name), where=str(PROOFS / f"{name}.mc"))


@pytest.mark.parametrize("name", TABLE)
def test_every_theorem_parses_and_types(name: str) -> None:
    from matcalc.document import Claim, ErrorLine, Step

    doc = _document(name)
    errors = [f"line {s.line}: {s.error}" for s in doc.statements if isinstance(s, ErrorLine)]
    assert not errors, errors
    assert doc.theorem is not None and doc.theorem.name == name
    assert doc.source_note and "layout" in doc.source_note
    claims = [s for s in doc.statements if isinstance(s, Claim)]
    assert claims and all(c.lhs is not None and c.rhs is not None for c in claims)
    for s in doc.statements:
        if isinstance(s, Step):
            assert s.expr is not None and s.prev is not None, f"line {s.line}: a step with nothing before it"


def test_generic_functions_are_declared_in_the_four_equations() -> None:
    for name in GENERIC:
        funcs = _document(name).env.funcs
        assert funcs["C"].kind == "vector" and funcs["sigma"].kind == "entrywise", name


def test_componentwise_claims_have_free_indices() -> None:
    from matcalc.document import Claim, Step

    for name in ("layer", "eq1", "eq2", "eq3", "eq4", "eq4-vec"):
        doc = _document(name)
        free = [s for s in doc.statements if isinstance(s, (Claim, Step)) and s.free]
        assert free, f"{name} has no claim with a free index"


def test_every_claim_and_step_holds_numerically() -> None:
    """A quick finite-difference check of every claim and step of every theorem (one random point each)."""
    from matcalc.document import Claim, Step
    from matcalc.verify import numeric

    failures = []
    for name in TABLE:
        for s in _document(name).statements:
            if isinstance(s, Claim):
                lhs, rhs = s.lhs, s.rhs
            elif isinstance(s, Step):
                lhs, rhs = s.prev, s.expr
            else:
                continue
            r = numeric.check_equal(lhs, rhs, free=s.free, seed=1, points=1, budget_s=10.0)
            if r.status != "equal":
                failures.append(f"{name}:{s.line}: {r.status} {r.detail}")
    assert not failures, failures


def _eq2_with(claims: str) -> str:
    """eq2's declarations and definitions followed by ``claims``."""
    keep = []
    for line in _text("eq2").splitlines():
        code = line.split("#", 1)[0].strip()
        if code.startswith(("theorem", "source", "let")) or ":" in code or not code:
            keep.append(line)
    return "\n".join(keep) + "\n" + claims + "\n"


def test_broken_eq2_is_refuted_with_a_diagnosis() -> None:
    """The other direction: eq2 with a transpose dropped, or with the chain factor sigma' dropped, is refuted."""
    import matcalc

    report = matcalc.check(_eq2_with("layout numerator\nd/dz C(z2) = (W^T delta2) ⊙ sigma'(z)"))
    assert report.verdict == "refuted"
    assert "transpose" in (report.results[0].diagnosis or "")
    report = matcalc.check(_eq2_with("grad(C(z2), z) = W^T delta2"))
    assert report.verdict == "refuted"
    report = matcalc.check(_eq2_with("grad(C(z2), z) = (W^T delta2) ⊙ sigma'(z)"))
    assert report.verdict == "verified"


# ───────────────────────────── matcalc/proofs.py ─────────────────────────────


def test_proof_dir_is_the_checkout_folder() -> None:
    assert proofs.proof_dir().resolve() == PROOFS.resolve()


def test_list_theorems_in_lecture_order() -> None:
    infos = proofs.list_theorems()
    names = [t.name for t in infos]
    assert names[:len(TABLE)] == TABLE
    by_name = {t.name: t for t in infos}
    assert by_name["eq2"].part == "4.2.2"
    assert by_name["gradient"].part == "1.5.1"
    assert by_name["eq2"].title == "The error of any layer (BP2)"
    assert by_name["eq2"].source.startswith("Nielsen, ch. 2, (BP2)")
    assert by_name["eq2"].path.name == "eq2.mc"
    assert all(t.title and t.source for t in infos)


def test_load_by_name_and_by_path(tmp_path: Path) -> None:
    info, text = proofs.load("eq4-vec")
    assert info.name == "eq4-vec" and "theorem eq4-vec:" in text
    mine = tmp_path / "mine.mc"
    mine.write_text("theorem mine: My own theorem\nsource: homework 3\nx: n\nd/dx x^T x = 2 x\n", encoding="utf-8")
    info, text = proofs.load(str(mine))
    assert (info.name, info.title, info.source, info.part) == ("mine", "My own theorem", "homework 3", "")
    assert text.endswith("= 2 x\n")
    info, _ = proofs.load(mine)  # a Path works too
    assert info.path == mine


def test_load_a_file_without_headers_uses_its_stem(tmp_path: Path) -> None:
    bare = tmp_path / "quick.mc"
    bare.write_text("x: n\nd/dx x^T x = 2 x\n", encoding="utf-8")
    info, _ = proofs.load(bare)
    assert (info.name, info.title, info.source) == ("quick", "", "")


@pytest.mark.parametrize("wrong, suggestion", [("eq5", "eq4"), ("backprob", "backprop"), ("Gradient", "gradient"),
                                                ("nielsen-p3", "nielsen-p2")])
def test_unknown_name_suggests(wrong: str, suggestion: str) -> None:
    with pytest.raises(UsageError) as err:
        proofs.load(wrong)
    assert "did you mean" in str(err.value) and suggestion in str(err.value)


def test_unknown_name_without_a_near_one() -> None:
    with pytest.raises(UsageError) as err:
        proofs.load("zzzzqqq")
    assert "unknown theorem 'zzzzqqq'" in str(err.value)
    assert "did you mean" not in str(err.value)


def test_shipped_file_name_works_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    info, _ = proofs.load("eq2.mc")
    assert info.name == "eq2" and info.path.parent.resolve() == PROOFS.resolve()


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such theorem file"):
        proofs.load(str(tmp_path / "nothere.mc"))


def test_read_headers() -> None:
    text = "# a comment\n\ntheorem t1: A title  # trailing comment\nsource: Somewhere (1)\nx: n\n"
    assert proofs.read_headers(text) == ("t1", "A title", "Somewhere (1)")
    assert proofs.read_headers("x: n\nx = x\n") == (None, "", "")


def test_proofs_module_imports_nothing_heavy() -> None:
    code = ("import sys; import matcalc.proofs as p; p.list_theorems(); "
            "print(sorted(m for m in ('sympy', 'numpy', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
