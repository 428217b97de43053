"""Derivatives of documents as programs (issue 12): backpropagation with named δ's, `derive --format mc`, and the
numeric check of the program (matcalc/engine/program.py, api.derive_text, render/mc.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from matcalc import ir
from matcalc.api import check_text, derive_text
from matcalc.cli import main

# the network documents of the benchmark (tests/bench/netgen.py), one generator for both
_spec = importlib.util.spec_from_file_location("netgen", Path(__file__).parent / "bench" / "netgen.py")
netgen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netgen)
mlp, res = netgen.mlp, netgen.residual


def mlp_wrt(L: int) -> str:
    return netgen.parameters("mlp", L)


def res_wrt(L: int) -> str:
    return netgen.parameters("res", L)


def derive_cli(capsys, tmp_path, text: str, wrt: str, fmt: str = "text") -> tuple[int, str]:
    path = tmp_path / "net.mc"
    path.write_text(text, encoding="utf-8")
    code = main(["derive", str(path), "--wrt", wrt, "--format", fmt])
    out, _err = capsys.readouterr()
    return code, out


def program_lines(out: str) -> dict[str, tuple[str, str]]:
    """``name -> (value, note)`` of the printed program (text format)."""
    rows = {}
    for ln in out.splitlines():
        m = re.match(r"^  (\S+)\s+= (.*?)(?:\s{2,}(.*))?$", ln)
        if m:
            rows[m.group(1)] = (m.group(2).strip(), (m.group(3) or "").strip())
    return rows


# ───────────────────────────── the round trip: derive --format mc, then check ─────────────────────────────


@pytest.mark.parametrize("kind,L", [("mlp", 1), ("mlp", 2), ("mlp", 4), ("res", 1), ("res", 2), ("res", 4)])
def test_format_mc_round_trip_checks_as_verified(capsys, tmp_path, kind, L) -> None:
    text, wrt = (mlp(L), mlp_wrt(L)) if kind == "mlp" else (res(L), res_wrt(L))
    code, out = derive_cli(capsys, tmp_path, text, wrt, "mc")
    assert code == 0, out
    claims = [ln for ln in out.splitlines() if ln.startswith("d/d")]
    assert len(claims) == len(wrt.split(","))  # one claim per requested derivative
    report = check_text(out)
    assert [r.verdict for r in report.results] == ["verified"] * len(claims), out
    assert report.verdict == "verified"


def test_an_altered_delta_is_refuted_and_the_others_still_verified(capsys, tmp_path) -> None:
    code, out = derive_cli(capsys, tmp_path, mlp(3), mlp_wrt(3), "mc")
    assert code == 0 and "let δ2 = " in out
    altered = re.sub(r"let δ2 = ([^#\n]*?)\s*#", r"let δ2 = 2 (\1)   #", out)
    assert altered != out
    report = check_text(altered)
    verdicts = {r.text.split()[0]: r.verdict for r in report.results}
    # δ2 feeds the gradients of layers 1 and 2; layer 3's do not use it
    assert verdicts["d/dW3"] == verdicts["d/db3"] == "verified"
    for w in ("d/dW2", "d/db2", "d/dW1", "d/db1"):
        assert verdicts[w] == "refuted", (w, altered)
    assert report.verdict == "refuted"


def test_format_mc_of_a_plain_derivation(capsys, tmp_path) -> None:
    code, out = derive_cli(capsys, tmp_path, "given A: n x n, x: n\nx^T A x\n", "x", "mc")
    assert code == 0
    assert "given A: n x n, x: n" in out and "d/dx xᵀ A x = " in out
    assert check_text(out).verdict == "verified"


# ───────────────────────────── what the program says ─────────────────────────────


def test_mlp_program_is_nielsens_algorithm(capsys, tmp_path) -> None:
    L = 4
    code, out = derive_cli(capsys, tmp_path, mlp(L), mlp_wrt(L))
    assert code == 0, out
    rows = program_lines(out)
    # the forward program: z_l new, a_l = σ(z_l)
    for l in range(1, L + 1):
        assert rows[f"z{l}"][1] == "new name"
    for l in range(1, L):
        assert rows[f"a{l}"][0] == f"σ(z{l})"
    # BP1 for the last layer, BP2 for the others: δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ'(z_l)
    assert rows[f"δ{L}"] == (f"2 (z{L} - y)", f"BP1   (δ{L} = ∂C/∂z{L})")
    for l in range(1, L):
        assert rows[f"δ{l}"][0] == f"(W{l + 1}ᵀ δ{l + 1}) ⊙ σ'(z{l})"
        assert rows[f"δ{l}"][1].startswith("BP2")
    # BP4 and BP3
    for l in range(1, L + 1):
        assert rows[f"∂C/∂W{l}"] == (f"δ{l} a{l - 1}ᵀ", "BP4")
        assert rows[f"∂C/∂b{l}"] == (f"δ{l}", "BP3")
    # one line per layer in the backward program, not per parameter
    assert sum(1 for k in rows if k.startswith("δ")) == L
    assert "numeric check ✓" in out


def test_residual_deltas_pass_the_error_straight_back(capsys, tmp_path) -> None:
    L = 4
    code, out = derive_cli(capsys, tmp_path, res(L), res_wrt(L))
    assert code == 0, out
    rows = program_lines(out)
    assert rows[f"δ_h{L}"][0] == f"2 h{L}"
    found = 0
    for l in range(2, L + 1):
        if f"δ_h{l - 1}" in rows:
            assert rows[f"δ_h{l - 1}"][0].startswith(f"δ_h{l} + "), rows[f"δ_h{l - 1}"]
            found += 1
    assert found >= L - 2
    for l in range(2, L + 1):
        assert rows[f"δ_z{l}"][0] == f"δ_h{l} ⊙ tanh'(z{l})"
    for l in range(1, L + 1):  # each layer's error is named, so every gradient is BP4's
        assert rows[f"∂C/∂W{l}"] == (f"δ_z{l} h{l - 1}ᵀ", "BP4")
    assert rows["δ_z1"] == ("(δ_h2 + W2ᵀ δ_z2) ⊙ tanh'(z1)", "BP2; the errors of h1 written in place   (δ_z1 = ∂C/∂z1)")


def test_attention_result_uses_the_let_name() -> None:
    text = "given K: m x d, V: m x p, q: d, τ: 1\nlet s = softmax(K q / τ)\nsum(V^T s)\n"
    r = derive_text(text, wrt="q")
    result = str(r.items[0].derivation.result)
    assert "softmax" not in result and "s sᵀ" in result and "diag(s)" in result
    assert r.verdict == "verified"


def test_a_document_delta_names_the_adjoint(capsys, tmp_path) -> None:
    text = ("given x: n, y: n, W1: n x n, b1: n, W2: n x n, b2: n\n"
            "let z1 = W1 x + b1\nlet a1 = sigma(z1)\nlet z2 = W2 a1 + b2\n"
            "let delta2 = grad(sum((z2 - y).^2), z2)\n"
            "sum((z2 - y).^2)\n")
    code, out = derive_cli(capsys, tmp_path, text, "W1,b1,W2,b2")
    assert code == 0, out
    rows = program_lines(out)
    assert "delta2" in rows and rows["∂C/∂W2"][0] == "delta2 a1ᵀ"
    code, doc = derive_cli(capsys, tmp_path, text, "W1,b1,W2,b2", "mc")
    assert "let delta2 = grad(" in doc and re.search(r"^delta2 = 2 \(z2 - y\)", doc, re.M), doc
    assert check_text(doc).verdict == "verified"


def test_json_has_the_program_and_keeps_the_spec_fields(capsys, tmp_path) -> None:
    import json

    code, out = derive_cli(capsys, tmp_path, mlp(2), mlp_wrt(2), "json")
    data = json.loads(out)
    assert data["verdict"] == "verified"
    assert [d["wrt"] for d in data["derivatives"]] == ["W1", "b1", "W2", "b2"]
    assert data["derivatives"][0]["result"] == "δ1 a0ᵀ"
    kinds = [(p["name"], p["kind"]) for p in data["program"]]
    assert ("z1", "new") in kinds and ("δ2", "delta") in kinds and ("∂C/∂W1", "gradient") in kinds
    assert any(p["kind"] == "cost" and p["value"] == "sum((z2 - y).^2)" for p in data["program"])


@pytest.mark.parametrize("cost_line", ["sum((z2 - y).^2)", "let C = sum((z2 - y).^2)\nC"])
def test_json_program_lines_have_the_text_outputs_names(capsys, tmp_path, cost_line) -> None:
    """Review 5 #18: the cost line had "name": null in JSON (the text calls it C) and the gradients were ∂/∂W1 (the
    text: ∂C/∂W1). Every JSON line now has a name, and the names are the text output's, in the same order."""
    import json

    text = ("given x: n, y: n, W1: n x n, b1: n, W2: n x n, b2: n\n"
            "let z1 = W1 x + b1\nlet a1 = sigma(z1)\nlet z2 = W2 a1 + b2\n" + cost_line + "\n")
    code, out = derive_cli(capsys, tmp_path, text, "W1,b1,W2,b2")
    assert code == 0, out
    rows = program_lines(out)
    code, js = derive_cli(capsys, tmp_path, text, "W1,b1,W2,b2", "json")
    program = json.loads(js)["program"]
    assert all(isinstance(p["name"], str) and p["name"] for p in program), program
    assert [p["name"] for p in program] == list(rows)
    cost = [p for p in program if p["kind"] == "cost" or p["note"] == "the cost"]
    assert len(cost) == 1 and cost[0]["name"] == "C" and rows["C"][0] == cost[0]["value"] == "sum((z2 - y).^2)"
    assert [p["name"] for p in program if p["kind"] == "gradient"] == ["∂C/∂W1", "∂C/∂b1", "∂C/∂W2", "∂C/∂b2"]


def test_one_deep_variable_is_a_program_with_one_error_per_layer(capsys, tmp_path) -> None:
    """By W1 alone the errors on the way are still one δ per layer (BP1, BP2, BP2), never one nested expression."""
    code, out = derive_cli(capsys, tmp_path, mlp(3), "W1")
    assert code == 0, out
    rows = program_lines(out)
    assert rows["δ3"] == ("2 (z3 - y)", "BP1   (δ3 = ∂C/∂z3)")
    assert rows["δ2"] == ("(W3ᵀ δ3) ⊙ σ'(z2)", "BP2   (δ2 = ∂C/∂z2)")
    assert rows["δ1"] == ("(W2ᵀ δ2) ⊙ σ'(z1)", "BP2   (δ1 = ∂C/∂z1)")
    assert rows["∂C/∂W1"] == ("δ1 a0ᵀ", "BP4")
    assert "numeric check ✓" in out


def test_single_variable_through_one_let_keeps_todays_trace() -> None:
    r = derive_text(mlp(2), wrt="W2")
    assert r.program is None and len(r.items[0].derivation.steps) > 1


# ───────────────────────────── the numeric check is real ─────────────────────────────


def test_a_wrong_rule_is_caught_by_the_numeric_check(monkeypatch) -> None:
    """If the engine's vector–Jacobian product of σ were twice too big, derive's own check must say so."""
    from matcalc.engine import program

    real = program._primes

    def wrong(e):
        out = real(e)
        if any(isinstance(x, ir.Apply) and x.fn == "sigma" and x.order == 1 for x in ir.walk(out)):
            return ir.Scale(ir.Num(2), out)
        return out

    monkeypatch.setattr(program, "_primes", wrong)
    r = derive_text(mlp(3), wrt=mlp_wrt(3))
    assert r.program is not None
    assert r.verdict == "refuted"
    assert r.items[0].numeric.status == "different"


def test_output_is_linear_in_depth(capsys, tmp_path) -> None:
    sizes = {}
    for L in (8, 16, 32):
        code, out = derive_cli(capsys, tmp_path, mlp(L), mlp_wrt(L))
        assert code == 0
        sizes[L] = len(out.splitlines())
    # a fixed number of lines per layer (give or take the wrapped line of the numeric check)
    assert abs((sizes[32] - sizes[16]) - 2 * (sizes[16] - sizes[8])) <= 3, sizes
    for L in (4, 8):
        code, out = derive_cli(capsys, tmp_path, res(L), res_wrt(L))
        assert code == 0
        sizes[("res", L)] = len(out.splitlines())
    assert sizes[("res", 8)] < 2.5 * sizes[("res", 4)]


def test_the_forward_program_is_compared_with_the_cost() -> None:
    from matcalc.document import Bare
    from matcalc.engine.program import backprop
    from matcalc.lang import read_document

    doc = read_document(mlp(3))
    cost = [s for s in doc.statements if isinstance(s, Bare)][-1].expr
    prog = backprop(cost, [doc.env.vars["W1"], doc.env.vars["b3"]])
    assert prog.faithful()
    prog.cost = ir.Scale(ir.Num(2), prog.cost)
    assert not prog.faithful()


def test_latex_and_markdown_show_the_program(capsys, tmp_path) -> None:
    code, tex = derive_cli(capsys, tmp_path, mlp(2), mlp_wrt(2), "latex")
    assert code == 0 and tex.isascii()
    assert r"\section*{Backpropagation}" in tex
    assert r"\delta_{1} &= \left(W_{2}^{\top} \delta_{2}\right) \odot \sigma'\left(z_{1}\right) && \text{BP2}" in tex
    assert r"\frac{\partial C}{\partial W_{1}} &= \delta_{1} a_{0}^{\top} && \text{BP4}" in tex
    code, md = derive_cli(capsys, tmp_path, mlp(2), mlp_wrt(2), "markdown")
    assert "| `δ1` | `(W2ᵀ δ2) ⊙ σ'(z1)` | BP2 (δ1 = ∂C/∂z1) |" in md
    assert "| `∂C/∂b2` | `δ2` | BP3 |" in md


def test_a_cost_that_is_a_let_name(capsys, tmp_path) -> None:
    text = ("given x: n, y: n, W1: n x n, W2: n x n\nlet a1 = tanh(W1 x)\nlet C = sum((W2 a1 - y).^2)\nC\n")
    code, out = derive_cli(capsys, tmp_path, text, "W1,W2")
    assert code == 0, out
    rows = program_lines(out)
    assert rows["C"] == ("sum((z2 - y).^2)", "the cost")  # the let is the cost: its target stays in it
    assert rows["δ2"][0] == "2 (z2 - y)" and rows["δ1"][0] == "(W2ᵀ δ2) ⊙ tanh'(z1)"
    code, doc = derive_cli(capsys, tmp_path, text, "W1,W2", "mc")
    assert "d/dW1 C = δ1 xᵀ" in doc and check_text(doc).verdict == "verified"


def test_a_definition_in_a_vjp_is_written_with_its_name() -> None:
    text = ("given K: m x d, V: m x p, q: d, W: m x m\nlet s = softmax(K q)\nlet u = W s\n"
            "sum(V^T s) + sum(u.^2)\n")
    r = derive_text(text, wrt="q,W")
    assert r.program is not None and r.verdict == "verified"
    (delta,) = [ln for ln in r.program.backward if ln.of == "z_s"]
    assert str(delta.value) == "s ⊙ (V ones(p) + Wᵀ δ_u) - sᵀ (V ones(p) + Wᵀ δ_u) s"


# ───────────────────────────── the round trip at depth 256 (residual) ─────────────────────────────


@pytest.fixture(scope="module")
def res256_program() -> str:
    """``derive --format mc`` of a 256-layer residual network by every weight (δ's written with ``tanh'(z)``)."""
    from matcalc.render.mc import derive_document

    result = derive_text(res(256), wrt=res_wrt(256), cli=True)
    assert result.exit_code == 0
    return derive_document(result)


def test_residual_256_round_trip_is_verified(res256_program) -> None:
    """Every one of the 256 claims verified (235 before session 4: tanh'(z) lost its digits at saturated layers, and
    the rounding that caused was taken for a difference)."""
    report = check_text(res256_program)
    assert [r.verdict for r in report.results] == ["verified"] * 256


@pytest.mark.parametrize("mistake,pattern,repl,wrong", [
    ("a δ off by a factor 1.001", r"let δ_h2 = ([^#\n]*?)\s*#", r"let δ_h2 = 1.001 (\1)   #", 2),
    ("a term dropped from a δ", r"let δ_h3 = δ_h4 \+ W4ᵀ δ_z4\s*#", r"let δ_h3 = δ_h4   #", 3),
], ids=["delta-times-1.001", "dropped-term"])
def test_residual_256_planted_mistake_is_never_verified(res256_program, mistake, pattern, repl, wrong) -> None:
    """One small mistake deep in the 256-layer program: the gradients it reaches (layers 1..wrong) are never
    verified, every other one is."""
    altered = re.sub(pattern, repl, res256_program)
    assert altered != res256_program, mistake
    report = check_text(altered)
    verdicts = [r.verdict for r in report.results]
    assert all(v in ("refuted", "inconclusive") for v in verdicts[:wrong]), (mistake, verdicts[:wrong])
    assert verdicts[wrong:] == ["verified"] * (256 - wrong), mistake


def test_constant_factors_of_an_adjoint_written_in_place_are_folded(capsys, tmp_path) -> None:
    """``a_k = a_{k-1} + a_{k-1}``: a δ that holds an adjoint written in place shows one factor, ``4 δ5``, not
    ``2 (2 δ5)``; the values stay the derivatives (the round trip is verified)."""
    text = "given x: n\nlet a0 = x\n" + "".join(f"let a{k} = a{k - 1} + a{k - 1}\n" for k in range(1, 7)) + "sum(a6)\n"
    code, out = derive_cli(capsys, tmp_path, text, "x")
    assert code == 0, out
    rows = program_lines(out)
    deltas = {k: v for k, (v, _note) in rows.items() if k.startswith("δ")}
    assert deltas and not any("(2 " in v for v in deltas.values()), deltas
    # each δ is 2^(distance) times the next named one: 4 where one adjoint is written in place
    assert any(re.fullmatch(r"4 δ\d+", v) for v in deltas.values()), deltas
    code, prog = derive_cli(capsys, tmp_path, text, "x", "mc")
    assert [r.verdict for r in check_text(prog).results] == ["verified"]


def test_mc_comments_name_rules_as_a_student_reads_them(capsys, tmp_path) -> None:
    """Review 5 #18: a constant in a layer (tanh(30 (W1 a0 + b1))) made derive --format mc write "# the engine's
    rules: scale-arg, matmul-left" into the student's document. The comment names the rules by their statements;
    no engine id appears in any format, and the document still checks."""
    from matcalc.engine.rules import RULES

    text = ("given x: n, y: n\ngiven W1: n x n, b1: n, W2: n x n, b2: n\n"
            "let a0 = x\nlet a1 = tanh(30 (W1 a0 + b1))\nsum((W2 a1 + b2 - y).^2)\n")
    code, doc = derive_cli(capsys, tmp_path, text, "W1,b1,W2,b2", "mc")
    assert code == 0, doc
    line = next(ln for ln in doc.splitlines() if ln.startswith("d/dW1"))
    assert line.endswith("# chain rule: ∂(x z)/∂x = I z; ∂(A B)/∂A: dY = dA B"), line
    code, out = derive_cli(capsys, tmp_path, text, "W1,b1,W2,b2")
    for shown in (doc, out):
        assert "the engine's rules" not in shown
        ids = [r for r in RULES if "-" in r and re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", shown)]
        assert not ids, ids
    assert re.search(r"^d/dW2 .* = δ2 a1ᵀ   # BP4$", doc, re.M), doc
    assert check_text(doc).verdict == "verified"
