"""Tests of the document renderers (issue 6): LaTeX documents that compile, PDF, fragments, Markdown, the rule table.

Every document is compiled with ``pdflatex -halt-on-error -no-shell-escape``; a machine without pdflatex FAILS these
tests (CI installs texlive-latex-base and texlive-latex-recommended). Golden files in ``tests/golden/`` pin the
documents of a few derivations exactly; regenerate them deliberately with ``MATCALC_REGEN_GOLDEN=1``. Hostile
strings (``\\input{/etc/passwd}``, every LaTeX special, Unicode) must come out as inert text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from matcalc import ir
from matcalc.document import Bare, Claim, Declaration, Document, Env, FuncDecl, Header, Let, Step
from matcalc.errors import UsageError
from matcalc.render import latex as L
from matcalc.render import pdf as pdf_mod
from matcalc.render import rows as rows_mod
from matcalc.render.markdown import code_span, markdown, md_escape
from matcalc.results import CheckReport, ClaimResult, MethodResult

GOLDEN = Path(__file__).parent / "golden"
ALLOWED_PACKAGES = {"amsmath", "amssymb", "amsthm", "bm", "hyperref"}
HOSTILE = [
    r"\input{/etc/passwd}",
    r"\write18{touch /tmp/matcalc-pwned}",
    r"\immediate\write18{id} \catcode`\%=11 \def\x{y} \end{document}",
    r"# $ % & _ { } ~ ^ \ < > |",
    "^^5cinput^^7b/etc/passwd^^7d",
    "}]} \\item[x] \\begin{verbatim}",
    "Unicode: × ‖ ⊙ ⊘ ⊗ ✓ ✗ σ δ ∂ ∇ ℝ → ≤ ≈ · ᵀ ⁻¹ x₁ é ü ☃ 😀 \u200b \x00 \x1b[31m",
]


# ───────────────────────────── helpers ─────────────────────────────


def pdflatex_exe() -> str:
    exe = shutil.which("pdflatex")
    assert exe, ("pdflatex is required for these tests: apt-get install texlive-latex-base "
                 "texlive-latex-recommended (.ci/run does this)")
    return exe


def compile_tex(text: str, tmp_path: Path, name: str = "doc") -> tuple[Path, str]:
    """Compile ``text`` twice like write_pdf does; returns the PDF and the log; fails the test on a LaTeX error."""
    exe = pdflatex_exe()
    d = tmp_path / name
    d.mkdir()
    (d / "doc.tex").write_text(text, encoding="utf-8")
    for _ in range(2):
        proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
                              cwd=d, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        log = (d / "doc.log").read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0, pdf_mod._first_error(log)
    pdf = d / "doc.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    return pdf, log


def opened_files(log: str) -> list[str]:
    """The files TeX opened, from the log's ``(path`` records."""
    return re.findall(r"\((/[^\s()]+)", log)


_OT1 = {11: "ff", 12: "fi", 13: "fl", 14: "ffi", 15: "ffl", 123: "-", 124: "-"}


def _pdf_string(s: bytes) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == 0x5C and i + 1 < len(s):
            n = s[i + 1]
            if 0x30 <= n <= 0x37:
                j = i + 1
                while j < len(s) and j < i + 4 and 0x30 <= s[j] <= 0x37:
                    j += 1
                code = int(s[i + 1:j], 8)
                out.append(_OT1.get(code, chr(code)))
                i = j
                continue
            out.append({0x6E: "\n", 0x72: "\r", 0x74: "\t"}.get(n, chr(n)))
            i += 2
            continue
        out.append(_OT1.get(c, chr(c)))
        i += 1
    return "".join(out)


def pdf_text(pdf: Path) -> str:
    """The text of a PDF: pdftotext when installed, else the literal strings of its content streams."""
    exe = shutil.which("pdftotext")
    if exe:
        return subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, check=True,
                              timeout=60).stdout.decode("utf-8", "replace")
    data = pdf.read_bytes()
    chunks = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        for arr in re.finditer(rb"\[(.*?)\]\s*TJ|\(((?:\\.|[^\\)])*)\)\s*Tj", content, re.S):
            if arr.group(1) is not None:
                parts = re.findall(rb"\(((?:\\.|[^\\)])*)\)|(-?\d+(?:\.\d+)?)", arr.group(1))
                for s, num in parts:
                    if num:
                        if float(num) < -200:
                            chunks.append(" ")
                    else:
                        chunks.append(_pdf_string(s))
            else:
                chunks.append(_pdf_string(arr.group(2)))
            chunks.append(" ")
    return "".join(chunks)


def squash(s: str) -> str:
    """Only ASCII letters and digits, lower case: robust to line breaks, hyphenation and spacing."""
    return re.sub(r"[^a-z0-9]", "", s.lower())


def check_packages(tex: str) -> None:
    used = set()
    for m in re.finditer(r"\\usepackage(?:\[[^\]]*\])?\{([^}]*)\}", tex):
        used.update(p.strip() for p in m.group(1).split(","))
    assert used <= ALLOWED_PACKAGES, used - ALLOWED_PACKAGES
    assert "\\RequirePackage" not in tex


def balanced(s: str) -> bool:
    depth, i = 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


# ───────────────────────────── hand-built results (IR, no parser needed) ─────────────────────────────

W = ir.Var("W", ("n", "m"))
X = ir.Var("x", ("m", 1))
Y = ir.Var("y", ("n", 1))
R = ir.Add((ir.MatMul((W, X)), ir.Neg(Y)))
LSQ = ir.MatMul((ir.Transpose(R), R))
GOOD = ir.Scale(ir.Num(2), ir.MatMul((R, ir.Transpose(X))))
BAD = ir.Scale(ir.Num(2), ir.MatMul((X, ir.Transpose(R))))


def hand_report(title: str | None = "Least squares", hostile: str = "") -> CheckReport:
    doc = Document(
        statements=[
            Header(1, 1, "theorem t: x", key="theorem", name="t", value=title or ""),
            Declaration(2, 1, "W: n x m, x: m, y: n", names=(W, X, Y, FuncDecl("sigma", "entrywise"),
                                                           FuncDecl("C", "vector", "n"))),
            Let(3, 1, "let r = W x - y", name="r", value=R),
            Bare(4, 1, "d/dW ‖W x - y‖^2", expr=ir.Derivative(LSQ, W)),
        ],
        env=Env(inferred=["A: n x n (inferred)" + hostile]),
        source="",
    )
    results = [
        ClaimResult(5, "= 2 (W x - y) x^T" + hostile, "verified", kind="step", lhs=ir.Derivative(LSQ, W), rhs=GOOD,
                    against_line=4,
                    methods={"symbolic": MethodResult("equal", "same normal form"),
                             "exact": MethodResult("equal", "at n=2, m=3"),
                             "numeric": MethodResult("equal", "3e-12 at 3 points " + hostile)}),
        ClaimResult(6, "= 2 x (W x - y)^T", "refuted", kind="step", lhs=GOOD, rhs=BAD, against_line=5,
                    diagnosis="transposed: the correct result is 2 (W x − y) xᵀ " + hostile,
                    counterexample={"sizes": {"n": 2, "m": 3}, "point": {"W": [[1, 2, 3], [4, 5, 6]], "x": [1, 0, 1]},
                                    "entries": [{"entry": (1, 2), "lhs": 2.0, "rhs": 3.5}], "note": hostile},
                    methods={"symbolic": MethodResult("different", "transposed shapes: n×m and m×n"),
                             "exact": MethodResult("different", "entry (1, 2) differs")}),
        ClaimResult(7, "= 2 x^T (W x - y)", "verified", kind="step", lhs=BAD, rhs=BAD, against_line=6, after_wrong=6,
                    vs_start="follows from line 6, but the chain no longer equals line 4",
                    methods={"exact": MethodResult("equal", "at n=2, m=3")}),
        ClaimResult(8, "= W x ⊙ x" + hostile, "error", kind="error",
                    error="cannot take the entrywise product of W x (n×1) and x (m×1)" + hostile),
        ClaimResult(9, "d/dx x^T A x = 2 A x", "inconclusive", lhs=GOOD, rhs=GOOD,
                    methods={"numeric": MethodResult("unknown", "budget ran out")}),
    ]
    return CheckReport(doc, results, title=title, where="homework/" + hostile)


def hand_derive(expr: ir.Expr, *wrts: ir.Expr, layout: str = "mixed"):
    from matcalc.api import DeriveItem, DeriveResult
    from matcalc.engine import differentiate

    items = [DeriveItem(w, differentiate(expr, w, layout=layout), MethodResult("equal", "agrees with finite "
                                                                                 "differences"))
             for w in wrts]
    return DeriveResult(expr=expr, items=items, layout=layout, inferred=[])


def hand_theorem(name: str, title: str, part: str, source: str = "Nielsen, ch. 2, (BP2)", hostile: str = ""):
    from matcalc.api import TheoremResult
    from matcalc.engine import differentiate

    rep = hand_report(title, hostile)
    rep.document.statements.insert(3, Claim(4, 1, "claim", lhs=ir.Derivative(LSQ, W), rhs=GOOD))
    d = differentiate(LSQ, W)
    return TheoremResult(name=name, title=title, source=source + hostile, part=part, document=rep.document,
                         report=rep, derivations=[(4, ir.Derivative(LSQ, W), d)], seconds=0.25)


# ───────────────────────────── escaping ─────────────────────────────


@pytest.mark.parametrize("ch,expected", [
    ("\\", r"\textbackslash{}"), ("#", r"\#"), ("$", r"\$"), ("%", r"\%"), ("&", r"\&"), ("_", r"\_"),
    ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"),
])
def test_escape_text_each_special(ch: str, expected: str) -> None:
    assert L.escape_text(f"a{ch}b") == f"a{expected}b"


def test_escape_text_plain_text_unchanged() -> None:
    assert L.escape_text("Nielsen, ch. 2, (BP2) and the proof (40)-(45)") == \
        "Nielsen, ch. 2, (BP2) and the proof (40)-(45)"


def test_escape_text_maps_unicode_to_macros() -> None:
    out = L.escape_text("2 (W x − y) xᵀ ⊙ σ'(z) ‖x‖² ✓ ✗ × · A⁻¹")
    assert out.isascii()
    for macro in (r"\odot", r"\sigma", r"\Vert", r"\checkmark", r"\times", r"\cdot", r"{}^{\top}", r"{}^{- 1}",
                  r"{}^{2}"):
        assert macro in out, macro
    assert "$$" not in out  # adjacent math pieces never make display math


def test_escape_text_unknown_unicode_and_control_characters() -> None:
    out = L.escape_text("é ☃ \x00\x1b")
    assert out.isascii() and "\x00" not in out and "\x1b" not in out
    assert out.startswith("e ?")


def test_hostile_input_never_reaches_latex_as_a_command() -> None:
    for s in HOSTILE:
        for out in (L.escape_text(s), L.math_text(s)):
            assert out.isascii()
            assert "\\input" not in out and "\\write" not in out and "\\catcode" not in out
            assert "\\end{document}" not in out and "^^" not in out
            assert balanced(out), out


def test_math_text_is_text_inside_math() -> None:
    out = L.math_text("judged against line 4 ✓ × x_1")
    assert out.startswith(r"\text{judged against line 4 }")
    assert r"\checkmark" in out and r"\times" in out and r"\_" in out


def test_formula_math_typesets_rule_statements() -> None:
    assert L.formula_math("∂(w_i + x_i)/∂w_j = δ_ij") == r"\partial (w_{i} + x_{i})/\partial w_{j} = \delta _{i j}"
    assert L.formula_math("diag(u) v = u ⊙ v") == r"\operatorname{diag}(u) v = u \odot v"
    assert L.formula_math("∂(x / z)/∂z = −x / z²") == r"\partial (x / z)/\partial z = - x / z{}^{2}"
    for s in HOSTILE:
        out = L.formula_math(s)
        assert out.isascii() and balanced(out) and "\\input" not in out and "\\write" not in out


def test_hostile_strings_compile_as_inert_text(tmp_path: Path) -> None:
    body = "\n\n".join(L.escape_text(s) + "\n\n$" + L.math_text(s) + "$\n\n$" + L.formula_math(s) + "$"
                         for s in HOSTILE)
    tex = L._preamble("x") + body + L._END
    assert tex.isascii()
    pdf, log = compile_tex(tex, tmp_path)
    assert not any("passwd" in f for f in opened_files(log))
    assert not Path("/tmp/matcalc-pwned").exists()
    assert "input" in pdf_text(pdf)


# ───────────────────────────── documents ─────────────────────────────


def test_check_document_content_and_compiles(tmp_path: Path) -> None:
    rep = hand_report()
    tex = L.document(rep)
    assert tex.isascii()
    check_packages(tex)
    assert tex.startswith("% Generated by matcalc") and "\\documentclass[11pt]{article}" in tex
    assert tex.rstrip().endswith("\\end{document}")
    assert "\\begin{align*}" in tex
    # the steps, from the IR: 2 (W x - y) x^T and the wrong 2 x (W x - y)^T
    assert r"\frac{\partial}{\partial W}" in tex and r"x^{\top}" in tex
    assert r"\checkmark\ \text{verified (line 5)}" in tex and r"\times\ \text{refuted (line 6)}" in tex
    assert r"\checkmark\ \text{follows (line 7), after the error in line 6}" in tex
    assert "Diagnosis:" in tex and "transposed" in tex and "Counterexample:" in tex and "n=2, m=3" in tex
    assert "but line 6 was wrong" not in tex  # after_wrong == against_line: 'that line'
    assert "Follows from line 6 --- but that line was wrong; the chain no longer equals line 4" in tex
    assert r"W \in \mathbb{R}^{n \times m}" in tex and r"\sigma\colon \mathbb{R} \to \mathbb{R}" in tex
    assert r"C\colon \mathbb{R}^{n} \to \mathbb{R}" in tex
    assert r"r &= W x - y" in tex
    assert "\\paragraph{Verdict.} $\\times$ \\textbf{refuted}" in tex
    compile_tex(tex, tmp_path)


def test_check_document_with_hostile_strings_compiles_and_stays_inert(tmp_path: Path) -> None:
    hostile = " ".join(HOSTILE)
    rep = hand_report(title=r"\input{/etc/passwd} " + hostile, hostile=hostile)
    tex = L.document(rep)
    assert tex.isascii()
    assert "\\input" not in tex and "\\write18" not in tex and "\\catcode" not in tex
    assert r"\textbackslash{}input\{/etc/passwd\}" in tex
    pdf, log = compile_tex(tex, tmp_path)
    assert not any("passwd" in f for f in opened_files(log))
    assert "etcpasswd" in squash(pdf_text(pdf))  # printed as text


def test_claim_text_is_reprinted_from_the_ir_not_passed_through() -> None:
    rep = hand_report()
    rep.results[0].text = r"\input{/etc/passwd} = 2 (W x - y) x^T"
    tex = L.document(rep)
    assert "passwd" not in tex  # verified step: only the IR is printed


def test_derive_document_compiles_with_rules_annotated(tmp_path: Path) -> None:
    res = hand_derive(LSQ, W)
    tex = L.document(res)
    check_packages(tex)
    # the lecture's rows: each numbered, its rules in the legend under the same number
    assert re.search(r"(&& |\\tag\*\{\$)\\text\{\(2\)\}", tex)
    assert "\\item[{(2) Jacobian}]" in tex and "\\item[{(3) gradient}]" in tex
    assert "\\boxed{" in tex and "\\longmapsto" not in tex
    assert tex.count("\\begin{align*}") == tex.count("\\end{align*}") >= 1
    compile_tex(tex, tmp_path)


def test_derivation_rows_are_the_engine_steps_ending_at_the_result() -> None:
    from matcalc.printing import to_latex

    res = hand_derive(LSQ, W)
    d = res.items[0].derivation
    head = rows_mod.derive_head(res, res.items[0])
    view = rows_mod.DerivationView(head, d)
    from matcalc.render.steps import display_steps

    shown = display_steps(d.steps, drop_repeats=False)
    # the lecture: one row per shown step, f = uᵀ u with u = W x − y, ∂f/∂u, ∇_W f, and the result
    assert len(view.rows) == len(shown) == 4
    assert view.rows[0].startswith("&f = u^{\\top} u, \\quad u = W x - y && ")
    assert view.rows[1].startswith("\\frac{\\partial f}{\\partial u} &= 2 u^{\\top} && ")
    assert view.rows[2].startswith("\\nabla_{W} f &= 2 u x^{\\top} && ")
    assert view.rows[-1].startswith("&= " + to_latex(d.result) + " && ")
    assert [label for label, _ in view.legend] == ["(1) outer and inner functions", "(2) Jacobian", "(3) gradient",
                                                   "(4) result"]


def test_derivation_view_merges_repeated_equalities_and_continues_chains() -> None:
    from matcalc.engine import Derivation, Step
    from matcalc.printing import to_latex

    head = ir.Derivative(LSQ, W)
    g = ir.Derivative(LSQ, R, "grad")
    t2 = ir.Transpose(ir.Transpose(R))
    steps = [Step("dot", g, t2, "∂(wᵀ x)/∂w = xᵀ"), Step("transpose-twice", t2, R, "(Aᵀ)ᵀ = A"),
             Step("symmetric-convention", None, W, "W is symmetric: entries independent"),
             Step("matmul-left", head, GOOD, "∂(A B)/∂A"), Step("chain-rule", head, GOOD, "Jacobian chain rule")]
    view = rows_mod.DerivationView(head, Derivation(LSQ, W, GOOD, steps))
    assert view.rows == [  # the double transpose is tidied into the step that made it (render/steps.py)
        to_latex(g) + " &= " + to_latex(R) + r" && \text{dot}",
        to_latex(head) + " &= " + to_latex(GOOD) + r" && \text{matrix product (left factor), Jacobian chain rule}",
    ]
    assert view.notes == ["W is symmetric: entries independent"]
    assert [lab for lab, _ in view.legend] == ["dot", "symmetric argument",
                                               "matrix product (left factor)", "Jacobian chain rule"]
    assert "(Aᵀ)ᵀ = A" in dict(view.legend)["dot"]
    # a derivation whose steps stop short of the result ends with a row that states it
    view2 = rows_mod.DerivationView(head, Derivation(LSQ, W, GOOD, steps[:2]))
    assert view2.rows[-1] == to_latex(head) + " &= " + to_latex(GOOD) + r" && \text{result}"


def test_wide_displays_use_tags_and_a_smaller_font(tmp_path: Path) -> None:
    def terms(k: int) -> str:
        return " + ".join(rf"\sigma\left(W_{{{i}}} x\right) \odot \mathit{{mask}}" for i in range(k))

    narrow = L._align([r"a &= b && \text{Jacobian chain rule}"])
    assert narrow.startswith("\\begin{align*}") and r"&& \text{Jacobian chain rule}" in narrow
    tagged = L._align([r"\nabla_{z} C &= " + terms(4) + r" && \text{Jacobian chain rule}", r"&= b && \text{sum}"])
    assert r"\tag*{$\text{Jacobian chain rule}$}" in tagged and r"\tag*{$\text{sum}$}" in tagged
    assert " && " not in tagged and tagged.startswith("\\begin{align*}")
    smaller = L._align([r"\nabla_{z} C &= " + terms(6) + r" && \text{Jacobian chain rule}"])
    assert r"\tag*" in smaller and re.match(r"\{\\(small|footnotesize|scriptsize)\n\\begin\{align\*\}", smaller)
    two_lines = L._align([r"\nabla_{z} " + terms(4) + " &= " + terms(6) + r" && \text{Jacobian chain rule}",
                          "&= " + terms(3) + r" && \text{sum}"])
    assert ("& \\nabla_{z} " + terms(4) + " \\\\\n    &= " + terms(6)) in two_lines  # L, then = R below it
    assert r"\tag*{$\text{sum}$}" in two_lines
    tex = L._preamble("x") + narrow + tagged + smaller + two_lines + L._END
    _, log = compile_tex(tex, tmp_path)
    assert "Overfull \\hbox" not in log
    huge = L._align([r"\nabla_{z} C &= " + terms(30) + r" && \text{Jacobian chain rule}"])
    assert huge.startswith("{\\scriptsize")  # the smallest step; beyond it the display overflows


def test_prove_document_groups_by_part_with_toc_and_summary(tmp_path: Path) -> None:
    from matcalc.api import ProveResult

    ths = [hand_theorem("gradient", "The gradient of a scalar function", "1.5.1"),
           hand_theorem("eq2", "The error of any layer (BP2)", "4.2.2"),
           hand_theorem("neuron", "The neuron function", "2.1"),
           hand_theorem("nielsen-p1", "Backpropagation with Sigma' matrices", "ex."),
           hand_theorem("cost", "The cost function", "3.1"),
           hand_theorem("mine", r"My \input{/etc/passwd} theorem_1 & co", "", hostile=" # $ % & _ { } ~ ^ \\")]
    res = ProveResult(theorems=ths, seconds=1.5)
    tex = L.document(res)
    check_packages(tex)
    assert "\\tableofcontents" in tex and "\\newtheorem{theorem}{Theorem}[section]" in tex
    sections = re.findall(r"\\section\{([^}]*)\}", tex)
    assert sections == ["Gradients and Jacobians", "Neurons and layers", "Cost derivatives", "Backpropagation",
                        "Exercises", "Further theorems"]
    assert tex.index("The neuron function") < tex.index("The cost function") < tex.index("The error of any layer")
    assert tex.count("\\begin{theorem}[{") == 6
    assert "\\section*{Summary}" in tex and "\\begin{tabular}" in tex
    assert "\\input" not in tex
    pdf, log = compile_tex(tex, tmp_path)
    text = squash(pdf_text(pdf))
    for t in ths:
        assert squash(t.title) in text, t.title
    assert not any("passwd" in f for f in opened_files(log))


def test_single_theorem_is_one_theorem_environment_with_proof(tmp_path: Path) -> None:
    from matcalc.api import ProveResult

    th = hand_theorem("eq2", "The error of any layer (BP2)", "4.2.2")
    th.report.results = [r for r in th.report.results if r.verdict == "verified"]
    tex = L.document(ProveResult(theorems=[th]))
    assert "\\begin{theorem}[{The error of any layer (BP2)}]" in tex
    assert "\\begin{proof}[Proof (checked by matcalc)]" in tex and "\\tableofcontents" not in tex
    assert "\\textit{Source:} Nielsen, ch. 2, (BP2)" in tex
    assert "Then\n\\begin{align*}" in tex
    compile_tex(tex, tmp_path)
    th2 = hand_theorem("eq2", "The error of any layer (BP2)", "4.2.2")  # with a refuted step: no proof box
    tex2 = L.document(ProveResult(theorems=[th2]))
    assert "\\begin{proof}" not in tex2 and "Attempted proof (not verified)" in tex2


def test_rules_document_compiles(tmp_path: Path) -> None:
    rows = [{"name": "dot", "statement": "∂(wᵀ x)/∂w = xᵀ", "source": "Parr & Howard, A5 #1 50%",
             "index_form": "∂(Σ_k w_k x_k)/∂w_j = x_j"},
            {"name": r"\input{/etc/passwd}", "statement": "[i = j] ‖x‖² ⊙ ⊗", "source": "", "index_form": ""}]
    tex = L.rules_document(rows, verified={"dot": (True, "proved"), r"\input{/etc/passwd}": (False, "x_1 % fail")})
    check_packages(tex)
    assert "\\input" not in tex
    compile_tex(tex, tmp_path)


# ───────────────────────────── fragments and Markdown ─────────────────────────────

FORBIDDEN_IN_FRAGMENTS = ("align*", "\\DeclareMathOperator", "\\bm", "\\begin{align}", "\\usepackage",
                          "\\newcommand", "\\documentclass", "\\paragraph", "\\section", "\\boxed")


@pytest.mark.parametrize("make", [lambda: hand_report(), lambda: hand_derive(LSQ, W),
                                  lambda: hand_derive(ir.Apply("sigma", ir.MatMul((W, X))), X, W)])
def test_fragment_is_one_aligned_block(make) -> None:
    res = make()
    frag = L.fragment(res)
    assert frag.startswith("$$\n\\begin{aligned}\n") and frag.endswith("\n\\end{aligned}\n$$")
    assert frag.count("$$") == 2 and frag.count("\\begin{aligned}") == 1
    for bad in FORBIDDEN_IN_FRAGMENTS:
        assert bad not in frag, bad
    assert frag.isascii() and balanced(frag)
    assert res._repr_latex_() == frag
    bundle = res._repr_mimebundle_()
    assert bundle["text/latex"] == frag and bundle["text/plain"]


#: Macros that both KaTeX and MathJax (v3, default TeX packages with ams) render in math mode.
WEB_MATH_MACROS = {
    "begin", "end", "text", "frac", "left", "right", "top", "odot", "oslash", "otimes", "circ", "cdot", "times",
    "operatorname", "mathbf", "mathit", "mathrm", "mathbb", "nabla", "partial", "sum", "prod", "sqrt", "log", "exp",
    "sin", "cos", "tanh", "det", "max", "min", "quad", "qquad", "lVert", "rVert", "lvert", "rvert", "Vert", "vert",
    "to", "mapsto", "longmapsto", "backslash", "wedge", "sim", "ldots", "cdots", "checkmark", "colon", "le", "ge",
    "ne", "approx", "equiv", "in", "notin", "pm", "infty", "forall", "exists", "langle", "rangle", "leftarrow",
    "Rightarrow", "Leftrightarrow", "leftrightarrow", "lceil", "rceil", "lfloor", "rfloor", "ll", "gg", "div",
    "subset", "subseteq", "cup", "cap", "square", "blacksquare", "star", "dagger", "ddagger", "ell", "emptyset",
    "vee", "neg", "bot", "propto", "surd", "int", "oplus", "bullet", "boxed",
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "varpi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon", "phi",
    "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
    "Psi", "Omega",
}


def test_fragments_use_only_web_math_macros(proved, marked) -> None:
    results = [hand_report(hostile=" ".join(HOSTILE)), hand_derive(LSQ, W), proved, marked,
               hand_derive(ir.Apply("sigma", ir.Add((ir.MatMul((W, X)), Y))), X, W)]
    used: set[str] = set()
    for res in results:
        frag = L.fragment(res)
        used |= set(re.findall(r"\\([a-zA-Z]+)", frag))
        assert balanced(frag)
    assert used <= WEB_MATH_MACROS, used - WEB_MATH_MACROS
    assert {"text", "checkmark", "times"} <= used


def test_fragment_with_hostile_text_is_inert() -> None:
    frag = L.fragment(hand_report(hostile=" ".join(HOSTILE)))
    assert "\\input" not in frag and "\\write18" not in frag and balanced(frag)
    # '$' inside a fragment would end the math: every dollar in the body is escaped
    body = frag[2:-2]
    assert "$" not in body.replace("\\$", "")


def test_markdown_check_report() -> None:
    md = markdown(hand_report())
    assert md.startswith("# Least squares\n")
    assert "$$\n\\begin{aligned}" in md and "align*" not in md and "DeclareMathOperator" not in md
    assert "- **line 5** ✓ **verified** `= 2 (W x - y) xᵀ`" in md  # re-printed from the IR
    assert "- **line 6** ✗ **refuted**" in md and "**diagnosis:** transposed" in md
    assert "**counterexample:** sizes m=3, n=2" in md
    assert "**symbolic** ✓ same normal form · **exact** ✓ at n=2, m=3" in md
    assert "- **line 9** ? **inconclusive**" in md
    assert "**✗ refuted**" in md


def test_markdown_derive_and_prove() -> None:
    from matcalc.api import ProveResult

    md = markdown(hand_derive(LSQ, W))
    assert md.startswith("# derive `(W x - y)ᵀ (W x - y)`") and "## ∂/∂W (n×m)" in md
    assert "\\nabla_{W} f &= 2 u x^{\\top} && \\text{(3)}" in md and "align*" not in md
    assert "| 3 | `∇_W f = 2 u xᵀ` |" in md  # the table gives each step's equation with its rules
    ths = [hand_theorem("eq2", "The error of any layer (BP2)", "4.2.2"),
           hand_theorem("eq1", "The error of the last layer (BP1)", "4.2.1")]
    md2 = markdown(ProveResult(theorems=ths))
    assert "| 4.2.2 | eq2 | The error of any layer (BP2) |" in md2
    assert "## eq1: The error of the last layer (BP1)" in md2 and "align*" not in md2


def test_markdown_escapes_user_text() -> None:
    hostile = "<script>alert(1)</script> **bold** [x](javascript:1) `tick` $x$ | &amp;"
    md = markdown(hand_report(title=hostile, hostile=hostile))
    assert "\\<script\\>" in md.splitlines()[0]
    assert "\\*\\*bold\\*\\*" in md.splitlines()[0]
    assert md_escape("a|b") == "a\\|b"
    assert code_span("a ` b") == "``a ` b``"
    assert code_span("`x`") == "`` `x` ``"


# ───────────────────────────── PDF ─────────────────────────────


def test_write_pdf_writes_tex_and_pdf(tmp_path: Path) -> None:
    pdflatex_exe()
    out = pdf_mod.write_pdf(hand_report(), str(tmp_path / "report.pdf"))
    assert out == tmp_path / "report.pdf" and out.read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "report.tex").read_text().startswith("% Generated by matcalc")
    assert "leastsquares" in squash(pdf_text(out))
    out2 = pdf_mod.write_pdf(hand_derive(LSQ, W), str(tmp_path / "d.tex"))  # -o d.tex: the PDF is d.pdf
    assert out2 == tmp_path / "d.pdf" and out2.exists()


def test_write_pdf_without_pdflatex_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(UsageError) as exc:
        pdf_mod.write_pdf(hand_report(), str(tmp_path / "x.pdf"))
    assert "pdflatex not found: install texlive-latex-base and texlive-latex-recommended" in str(exc.value)
    assert not (tmp_path / "x.pdf").exists()


def test_write_pdf_reports_the_first_latex_error(tmp_path: Path) -> None:
    pdflatex_exe()
    bad = "\\documentclass{article}\n\\begin{document}\nok\n\\undefinedmatcalcmacro\n\\end{document}\n"
    with pytest.raises(UsageError) as exc:
        pdf_mod.write_pdf(bad, str(tmp_path / "bad.pdf"))
    msg = str(exc.value)
    assert "pdflatex failed" in msg and "! Undefined control sequence." in msg
    assert "\\undefinedmatcalcmacro" in msg
    assert not (tmp_path / "bad.pdf").exists()


def test_cli_main_prints_usage_error_for_missing_pdflatex(tmp_path: Path, monkeypatch, capsys) -> None:
    from matcalc.api import ProveResult
    from matcalc import cli

    monkeypatch.setattr("matcalc.api.prove_many", lambda names, **kw: ProveResult(
        theorems=[hand_theorem("eq2", "The error of any layer (BP2)", "4.2.2")]))
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code = cli.main(["prove", "eq2", "--pdf", "-o", str(tmp_path / "eq2.pdf")])
    assert code == 2
    assert "pdflatex not found" in capsys.readouterr().err


# ───────────────────────────── golden files ─────────────────────────────


def _golden_cases():
    A = ir.Var("A", ("n", "n"))
    x = ir.Var("x", ("n", 1))
    Wm = ir.Var("W", ("n", "m"))
    xm = ir.Var("x", ("m", 1))
    b = ir.Var("b", ("n", 1))
    return {
        "derive_least_squares": lambda: hand_derive(LSQ, W),
        "derive_quadratic_form": lambda: hand_derive(ir.MatMul((ir.Transpose(x), A, x)), x),
        "derive_layer": lambda: hand_derive(ir.Apply("sigma", ir.Add((ir.MatMul((Wm, xm)), b))), xm, Wm),
    }


@pytest.mark.parametrize("name", sorted(_golden_cases()))
def test_golden_derivation_documents(name: str) -> None:
    tex = L.document(_golden_cases()[name]())
    path = GOLDEN / f"{name}.tex"
    if os.environ.get("MATCALC_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(tex, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; create it with MATCALC_REGEN_GOLDEN=1"
    assert tex == path.read_text(encoding="utf-8"), (
        f"{path.name} changed; if deliberate, regenerate with MATCALC_REGEN_GOLDEN=1 and review the diff")


def test_golden_files_compile(tmp_path: Path) -> None:
    files = sorted(GOLDEN.glob("*.tex"))
    assert len(files) >= 3
    for i, f in enumerate(files):
        compile_tex(f.read_text(encoding="utf-8"), tmp_path, name=f"g{i}")


# ───────────────────────────── the rule table ─────────────────────────────


def test_render_rules_all_formats(monkeypatch) -> None:
    from rich.console import Console

    from matcalc.render.rules import render_rules, rule_rows

    rows = rule_rows()
    assert len(rows) > 10 and all(r["name"] and r["statement"] for r in rows)
    code, out = render_rules(verify=False, fmt="json")
    assert code == 0 and [r["name"] for r in json.loads(out)["rules"]] == [r["name"] for r in rows]
    code, md = render_rules(verify=False, fmt="markdown")
    assert code == 0 and md.count("\n| ") == len(rows) + 2  # header, rule, rows
    code, tex = render_rules(verify=False, fmt="latex")
    assert code == 0 and tex.isascii()
    check_packages(tex)
    code, table = render_rules(verify=False, fmt="text")
    console = Console(color_system=None, width=200, record=True, file=open(os.devnull, "w"))
    console.print(table)
    text = console.export_text()
    assert code == 0 and rows[0]["name"] in text


def test_render_rules_verify_names_the_failing_rule(monkeypatch) -> None:
    import matcalc.engine.rulecheck as rules_mod
    from matcalc.render.rules import render_rules, rule_rows

    names = [r["name"] for r in rule_rows()]
    fake = [(n, n != names[1], "index proof ✓" if n != names[1] else "finite differences differ") for n in names]
    monkeypatch.setattr(rules_mod, "verify_rules", lambda **kw: fake)
    code, out = render_rules(verify=True, fmt="json")
    data = json.loads(out)
    assert code == 1 and data["failing"] == [names[1]]
    assert [r["verified"] for r in data["rules"]].count(False) == 1
    code, md = render_rules(verify=True, fmt="markdown")
    assert code == 1 and f"1 rule failed: {md_escape(names[1])}" in md
    monkeypatch.setattr(rules_mod, "verify_rules", lambda **kw: [(n, True, "ok") for n in names])
    code, out = render_rules(verify=True, fmt="json")
    assert code == 0 and json.loads(out)["failing"] == []
    # a rule the verifier says nothing about is not verified
    monkeypatch.setattr(rules_mod, "verify_rules", lambda **kw: [(n, True, "ok") for n in names[1:]])
    code, out = render_rules(verify=True, fmt="json")
    assert code == 1 and json.loads(out)["failing"] == [names[0]]


# ───────────────────────────── through the real pipeline (parser, engine, verifiers, proofs) ─────────────────────────────

HOMEWORK = Path(__file__).parent / "homework"
FAST_THEOREMS = ["gradient", "neuron", "cost-bias", "eq1", "eq3", "nielsen-e2"]


@pytest.fixture(scope="module")
def proved():
    from matcalc.api import prove_many

    return prove_many(FAST_THEOREMS)


@pytest.fixture(scope="module")
def marked():
    from matcalc.api import check_text

    return check_text((HOMEWORK / "least_squares_transpose.mc").read_text(encoding="utf-8"),
                      where="least_squares_transpose.mc")


def test_prove_many_is_one_document_that_compiles(proved, tmp_path: Path) -> None:
    from matcalc.proofs import list_theorems

    tex = L.document(proved)
    check_packages(tex)
    assert tex.isascii() and "\\tableofcontents" in tex
    assert tex.count("\\begin{theorem}[{") == len(FAST_THEOREMS)
    sections = re.findall(r"\\section\{([^}]*)\}", tex)
    assert sections == ["Gradients and Jacobians", "Neurons and layers", "Cost derivatives", "Backpropagation",
                        "Exercises"]
    assert r"&& \text{Jacobian chain rule}" in tex
    pdf, log = compile_tex(tex, tmp_path)
    text = squash(pdf_text(pdf))
    titles = {t.name: t.title for t in list_theorems()}
    for name in FAST_THEOREMS:
        assert squash(titles[name]) in text, titles[name]
    assert "contents" in text and "summary" in text


def test_prove_document_mirrors_the_terminal_content(proved) -> None:
    t = next(t for t in proved.theorems if t.name == "eq1")
    tex = L.document(type(proved)(theorems=[t]))
    assert t.verdict == "verified" and "\\begin{proof}[Proof (checked by matcalc)]" in tex
    for r in t.report.results:
        assert f"(line {r.line})" in tex and f"\\item[{{Line {r.line}}}]" in tex
    for name in ("symbolic", "exact", "numeric"):
        assert f"\\emph{{{name}}}" in tex
    assert L.escape_text(t.source) in tex


def test_marked_homework_document_and_fragment(marked, tmp_path: Path) -> None:
    assert marked.verdict == "refuted"
    tex = L.document(marked)
    wrong = [r for r in marked.results if r.verdict == "refuted"]
    assert wrong and all(f"\\times\\ \\text{{refuted (line {r.line})}}" in tex for r in wrong)
    assert "Diagnosis:" in tex
    compile_tex(tex, tmp_path)
    frag = marked._repr_latex_()
    assert frag.startswith("$$\n\\begin{aligned}") and "align*" not in frag
    md = markdown(marked)
    assert "✗ **refuted**" in md and "align*" not in md


def test_cli_prove_eq2_latex_compiles(tmp_path: Path) -> None:
    from matcalc import cli

    out = tmp_path / "eq2.tex"
    assert cli.main(["prove", "eq2", "--format", "latex", "-o", str(out)]) == 0
    tex = out.read_text(encoding="utf-8")
    assert "\\begin{theorem}[{The error of any layer (BP2)}]" in tex
    assert r"\odot \sigma'\left(z\right)" in tex and r"W^{\top}" in tex
    compile_tex(tex, tmp_path)


def test_cli_pdf_for_a_theorem(tmp_path: Path) -> None:
    from matcalc import cli

    pdflatex_exe()
    out = tmp_path / "th.pdf"
    assert cli.main(["prove", "gradient", "neuron", "--pdf", "-o", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-" and (tmp_path / "th.tex").exists()
    text = squash(pdf_text(out))
    assert "thegradientofascalarfunction" in text and "theneuronfunction" in text


def test_cli_check_and_derive_latex_and_markdown(tmp_path: Path) -> None:
    from matcalc import cli

    hw = str(HOMEWORK / "least_squares_transpose.mc")
    assert cli.main(["check", hw, "--format", "latex", "-o", str(tmp_path / "c.tex")]) == 1
    compile_tex((tmp_path / "c.tex").read_text(encoding="utf-8"), tmp_path, "c")
    assert cli.main(["derive", "x^T A x", "--wrt", "x", "--given", "A: n x n, x: n", "--format", "latex",
                     "-o", str(tmp_path / "d.tex")]) == 0
    d = (tmp_path / "d.tex").read_text(encoding="utf-8")
    assert r"\left(A + A^{\top}\right) x" in d
    compile_tex(d, tmp_path, "d")
    assert cli.main(["derive", "x^T A x", "--wrt", "x", "--given", "A: n x n, x: n", "--format", "markdown",
                     "-o", str(tmp_path / "d.md")]) == 0
    md = (tmp_path / "d.md").read_text(encoding="utf-8")
    assert "$$\n\\begin{aligned}" in md and "align*" not in md


def test_every_theorem_of_the_library_typesets(tmp_path: Path) -> None:
    """Every theorem file's statements, steps and engine derivations, in one lecture document, compile.

    The verifier is not run here (the verdicts are placeholders, marked inconclusive); what is tested is the
    typesetting of every expression the library holds. ``matcalc prove all --pdf`` runs the verifier too.
    """
    from matcalc.api import ProveResult, TheoremResult, _engine_derivations
    from matcalc.document import Claim, ErrorLine, Step
    from matcalc.lang import read_document
    from matcalc.proofs import list_theorems, load

    theorems = []
    for info in list_theorems():
        _, text = load(info.name)
        doc = read_document(text, where=str(info.path))
        placeholder = {"symbolic": MethodResult("unknown", "not run: a typesetting test")}
        results = []
        for s in doc.statements:
            if isinstance(s, Claim):
                results.append(ClaimResult(s.line, s.text, "inconclusive", lhs=s.lhs, rhs=s.rhs, methods=placeholder))
            elif isinstance(s, Step) and s.prev is not None:
                results.append(ClaimResult(s.line, s.text, "inconclusive", kind="step", lhs=s.prev, rhs=s.expr,
                                           against_line=s.prev_line, methods=placeholder))
            elif isinstance(s, ErrorLine):
                results.append(ClaimResult(s.line, s.text, "error", kind="error", error=str(s.error)))
        assert results, info.name
        theorems.append(TheoremResult(name=info.name, title=info.title, source=info.source, part=info.part,
                                      document=doc, report=CheckReport(doc, results), seconds=0.0,
                                      derivations=_engine_derivations(doc)))
    assert len(theorems) >= 32
    tex = L.document(ProveResult(theorems=theorems))
    check_packages(tex)
    assert tex.isascii() and tex.count("\\begin{theorem}[{") == len(theorems)
    pdf, log = compile_tex(tex, tmp_path)
    text = squash(pdf_text(pdf))
    for t in theorems:
        assert squash(t.title) in text, t.title
    assert len(re.findall(r"Overfull \\hbox \((\d{3,})", log)) == 0  # nothing 100pt or more off the page


def test_a_program_page_explains_the_program_not_chain_rule_traces() -> None:
    """derive of a network document by several weights prints a forward and a backward program: the page's opening
    paragraph describes that form (errors δ_v = ∂C/∂v, BP1, BP2, BP4), not chain-rule traces; a δ of h3 is set
    δ_{h_{3}} like h3 itself, and the names a note lists are set as names."""
    import matcalc

    doc = ("given x: n\ngiven W1: n x n, W2: n x n, W3: n x n\nlet h0 = x\nlet h1 = h0 + tanh(W1 h0)\n"
           "let h2 = h1 + tanh(W2 h1)\nlet h3 = h2 + tanh(W3 h2)\nsum(h3.^2)\n")
    res = matcalc.derive(doc, "W1,W2,W3")
    assert res.program is not None
    tex = L.document(res)
    body = tex[tex.index(r"\maketitle"):]
    assert "outer and inner functions" not in body and "chain rule gives it" not in body
    assert r"\delta_{v} = \partial C / \partial v" in body and "BP1" in body and "BP4" in body
    assert r"\delta_{h_{3}} &= 2 h_{3}" in body
    assert r"\mathit{h3}" not in body and r"\text{BP2; the errors of } h_{1}\text{ written in place}" in body
    chain = L.document(matcalc.derive("sum((W x - y).^2)", "W", given="W: n x m, x: m, y: n"))
    assert "chain rule gives it" in chain and r"\delta_{v}" not in chain
