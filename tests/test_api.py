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
