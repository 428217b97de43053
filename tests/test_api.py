"""The Python API (SPEC section 7): matcalc.check / derive / prove, called repeatedly, in any order, and the
result objects' renderings (text, rich, LaTeX for Jupyter, JSON)."""

from __future__ import annotations

import json

from rich.console import Console

import matcalc


def test_api_functions_survive_each_other() -> None:
    # importing the engine module must not shadow the API function matcalc.derive (it once did)
    for _ in range(2):
        d = matcalc.derive("x^T x", "x", given="x: n")
        assert str(d.items[0].derivation.result) == "2 x"
        r = matcalc.check("d/dx x^T x = 2 x", given="x: n")
        assert r.verdict == "verified" and r.exit_code == 0
    assert callable(matcalc.derive) and callable(matcalc.check) and callable(matcalc.prove)


def test_check_result_renders_everywhere() -> None:
    r = matcalc.check("d/dx x^T A x = 2 A x", given="A: n x n, x: n")
    assert r.verdict == "refuted" and r.exit_code == 1
    text = str(r)
    assert "refuted" in text and "symmetric" in text
    latex = r._repr_latex_()
    assert latex.startswith("$$") and "aligned" in latex and "align*" not in latex
    bundle = r._repr_mimebundle_()
    assert set(bundle) >= {"text/plain", "text/latex"}
    data = json.loads(json.dumps(r.to_json()))
    assert data["verdict"] == "refuted" and data["claims"][0]["diagnosis"]
    console = Console(color_system=None, width=100, record=True)
    console.print(r)
    assert "refuted" in console.export_text()


def test_derive_and_prove_results() -> None:
    d = matcalc.derive("sum((W x - y).^2)", "W", given="W: n x m, x: m, y: n")
    assert d.verdict == "verified" and "2 (W x - y) xᵀ" in str(d)
    assert json.loads(json.dumps(d.to_json()))["derivatives"][0]["result"] == "2 (W x - y) xᵀ"
    p = matcalc.prove("eq2")
    assert p.verdict == "verified" and p.exit_code == 0
    assert "The error of any layer" in str(p)
    assert p.to_json()["theorems"][0]["name"] == "eq2"


# ───────────────────────────── paths, mappings, messages (issue 15) ─────────────────────────────

import pathlib  # noqa: E402

import pytest  # noqa: E402

from matcalc.errors import MatcalcError  # noqa: E402

HOMEWORK = pathlib.Path(__file__).resolve().parent / "homework"


def test_check_accepts_a_path_and_a_file_name(monkeypatch) -> None:
    path = HOMEWORK / "least_squares_transpose.mc"
    by_path = matcalc.check(path)
    by_name = matcalc.check(str(path))
    by_text = matcalc.check(path.read_text(encoding="utf-8"))
    assert by_path.where == by_name.where == str(path)
    for r in (by_path, by_name):
        assert [(x.line, x.verdict) for x in r.results] == [(x.line, x.verdict) for x in by_text.results]
    assert by_path.verdict == "refuted"  # the homework has a wrong step
    monkeypatch.chdir(HOMEWORK)
    assert matcalc.check("least_squares_ok.mc").verdict == "verified"  # relative to the working directory
    with pytest.raises(MatcalcError, match="no such file: missing.mc"):
        matcalc.check("missing.mc")


def test_given_as_a_mapping_is_the_same_as_text() -> None:
    claim = "d/dx x^T A x = (A + A^T) x"
    as_map = matcalc.check(claim, given={"A": "n x n", "x": "n"})
    as_text = matcalc.check(claim, given="A: n x n, x: n")
    assert as_map.verdict == as_text.verdict == "verified"
    wrong = matcalc.check("d/dx x^T A x = 2 A x", given={"A": ("n", "n"), "x": "n"})
    assert wrong.verdict == "refuted"  # A is not symmetric: both directions
    d = matcalc.derive("sum((W x - y).^2)", "W", given={"W": "n x m", "x": "m", "y": "n"})
    assert d.verdict == "verified"
    with pytest.raises(TypeError, match="given"):
        matcalc.check(claim, given=["A: n x n"])
    with pytest.raises(TypeError, match=r"given\['x'\]"):
        matcalc.check(claim, given={"A": "n x n", "x": 2.5})


def test_errors_name_arguments_not_flags() -> None:
    with pytest.raises(MatcalcError) as e1:
        matcalc.derive("x^T x", "xx", given="x: n")
    with pytest.raises(MatcalcError) as e2:
        matcalc.check("x^T x", given="x: n")
    with pytest.raises(MatcalcError) as e3:
        matcalc.derive("x^T x", "", given="x: n")
    for e in (e1, e2, e3):
        assert "--" not in str(e.value), str(e.value)
    assert "did you mean x?" in str(e1.value)
    assert "matcalc.derive" in str(e2.value)


def test_cli_errors_name_flags(capsys) -> None:
    from matcalc.cli import main

    assert main(["derive", "x^T x", "--wrt", "xx", "--given", "x: n"]) == 2
    err = capsys.readouterr().err
    assert "--wrt xx" in err and "did you mean x?" in err


def test_did_you_mean_a_theorem() -> None:
    with pytest.raises(MatcalcError, match="did you mean gradient"):
        matcalc.prove("gradiant")


def test_short_reprs() -> None:
    r = matcalc.check("d/dx x^T A x = 2 A x", given="A: n x n, x: n")
    assert repr(r) == "<CheckReport refuted: 0 of 1 claims verified>"
    assert repr(r.results[0]).startswith("<ClaimResult line 1 refuted: d/dx")
    p = matcalc.prove("gradient")
    assert len(repr(p)) < 80 and len(repr(p.theorems)) < 120
    assert repr(p.theorems[0]).startswith("<TheoremResult gradient verified:")
    d = matcalc.derive("x^T x", "x", given="x: n")
    assert repr(d) == "<DeriveResult verified: d/d(x) of xᵀ x>"


def test_as_text_full_shows_every_value() -> None:
    r = matcalc.check("d/dW (W x)^T (W x) = W x x^T", given={"W": "n x m", "x": "m"})
    point = r.results[0].counterexample["point"]
    assert len(point) > 8
    short, full = str(r), r.as_text(full=True)
    assert "more with --full" in short and "more with --full" not in full
    assert all(f"{name}=" in full for name in point)
    assert r.as_text() == short


def test_derive_takes_a_path_like_check(tmp_path) -> None:
    from pathlib import Path

    import matcalc

    doc = tmp_path / "mlp.mc"
    doc.write_text("given W1: n x n, b1: n, W2: n x n, b2: n, x: n, y: n\nlet a1 = sigma(W1 x + b1)\n"
                   "sum((W2 a1 + b2 - y).^2)\n", encoding="utf-8")
    for source in (doc, str(doc)):
        r = matcalc.derive(source, "W1,b1,W2,b2")
        assert r.program is not None and all(it.numeric.status == "equal" for it in r.items)
    assert matcalc.derive(Path(doc), "W2").items[0].numeric.status == "equal"


@pytest.mark.parametrize("call", [
    lambda m: m.check("d/dx x^T x = 2 x", seed="a"),
    lambda m: m.derive("x^T x", "x", seed=1.5),
    lambda m: m.prove("eq2", seed=None),
])
def test_a_seed_that_is_not_an_int_is_a_type_error(call) -> None:
    import matcalc

    with pytest.raises(TypeError, match="seed must be an int"):
        call(matcalc)


def test_shape_error_is_offered_with_the_other_errors() -> None:
    import matcalc
    from matcalc.errors import MatcalcError, ShapeError

    assert issubclass(ShapeError, MatcalcError)
    with pytest.raises(ShapeError):
        matcalc.check("x + A = A", given="x: n, A: n x n")
