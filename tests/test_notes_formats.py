"""What a line's reader is told, in every format (review5 findings 5, 6, 13): the notes on how a line was read
(a derivative's scope, σ as the logistic function, a symmetric argument) reach Markdown, LaTeX/PDF and Gradescope
as they reach the terminal; the problem's checks are named; a PDF does not tell its reader about a command-line flag.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import matcalc
from matcalc.render import latex as L
from matcalc.render.gradescope import gradescope_results
from matcalc.render.markdown import markdown
from matcalc.render.text import to_plain

from test_render_latex import compile_tex, pdf_text, squash

HW = "\n".join([
    "given X: N x d, w: d, y: N, lambda: scalar",
    "problem: d/dw (1/N) ‖X w - y‖^2 + lambda ‖w‖^2",
    "d/dw (1/N) ‖X w - y‖^2 + lambda ‖w‖^2",
    "  = (1/N) d/dw (X w - y)^T (X w - y) + lambda d/dw w^T w",
    "  = (2/N) X^T (X w - y) + 2 lambda w",
    "  = (2/N) (X^T X + lambda I) w - (2/N) X^T y",
])

#: (claim, given, a phrase of the note the terminal prints)
NOTED = [
    ("d/dx x^T A x + c^T x = (A + A^T) x + c", "A: n x n, x: n, c: n", "covers only the first term"),
    ("d/dx x^T A x + c^T x = (A + A^T) x + c^T x", "A: n x n, x: n, c: n", "verified as written"),
    ("d/dx sum(sigma(x)) = sigma(x) ⊙ (1 - sigma(x))", "x: n", "read as the logistic function"),
    ("d/dS tr(S B) = B", "S: n x n symmetric, B: n x n", "taken along symmetric directions"),
]


@pytest.fixture(scope="module")
def noted():
    return [(matcalc.check(c, given=g), phrase) for c, g, phrase in NOTED]


def test_the_terminal_prints_each_note(noted) -> None:
    for report, phrase in noted:
        assert report.results[0].notes, report.results[0]
        assert phrase in " ".join(to_plain(report).split())


def test_markdown_prints_each_note(noted) -> None:
    for report, phrase in noted:
        md = " ".join(markdown(report).split())
        assert phrase in md, md
        assert "**note:**" in md


def test_gradescope_prints_each_note_in_the_test_output(noted) -> None:
    for report, phrase in noted:
        out = gradescope_results(report)["tests"][0]["output"]
        assert phrase in " ".join(out.split()), out


def test_latex_prints_each_note_and_it_compiles(noted, tmp_path: Path) -> None:
    for i, (report, phrase) in enumerate(noted):
        tex = L.document(report)
        assert r"\textbf{Note:}" in tex
        pdf, _log = compile_tex(tex, tmp_path, f"n{i}")
        assert squash(phrase) in squash(pdf_text(pdf)), phrase


def test_a_handout_leaves_out_the_evidence_but_not_the_notes(noted) -> None:
    report, _phrase = noted[0]
    tex = L.document(report, handout=True)
    assert "covers only the first term" in " ".join(tex.split())


@pytest.fixture(scope="module")
def hw():
    return matcalc.check(HW)


def test_pdf_counterexample_does_not_name_a_command_line_flag(hw, tmp_path: Path) -> None:
    tex = L.document(hw)
    assert "--full" not in tex and "{-}{-}full" not in tex
    text = pdf_text(compile_tex(tex, tmp_path, "hw")[0])
    assert "full" not in text.replace("fully", "")
    assert re.search(r"\(\d+ more values\)", " ".join(text.split())), text
    # the terminal still tells its reader how to see them
    assert "more with --full" in to_plain(hw)


def test_latex_evidence_names_the_problem_checks(hw, tmp_path: Path) -> None:
    tex = L.document(hw)
    text = " ".join(pdf_text(compile_tex(tex, tmp_path, "hwp")[0]).split())
    assert "ends in a closed form" in text
    assert "starts from the problem" in text
    # every evidence item of a problem check says which check it is
    items = [ln for ln in tex.splitlines() if ln.startswith(r"\item[{Line ")]
    assert any("closed form" in i for i in items) and any("problem" in i for i in items), items


def test_markdown_and_gradescope_name_the_problem_checks(hw) -> None:
    md = markdown(hw)
    closed = [ln for ln in md.splitlines() if ln.startswith("- **line") and "closed form" in ln]
    start = [ln for ln in md.splitlines() if ln.startswith("- **line") and "starts from the problem" in ln]
    assert closed and start, md
    names = [t["name"] for t in gradescope_results(hw)["tests"]]
    assert any("ends in a closed form" in n for n in names) and any("starts from the problem" in n for n in names)
