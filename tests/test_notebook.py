"""matcalc in a real Jupyter notebook: a notebook is executed with nbclient (a real IPython kernel) and its outputs
are inspected as a student's notebook would show them.

Each cell that ends in a result must display exactly once (no rich HTML block beside it), with a non-empty
``text/plain`` (the text report), ``text/latex`` and ``text/markdown`` (with no heading: the notebook's outline stays
the student's); ``print(result)`` prints the text report; a refuted claim shows its diagnosis and counterexample; a
list of theorems has a short repr.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import ipykernel  # noqa: F401  (the test extra: pip install -e .[test])
import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

CELLS = [
    # 0: the kernel runs this worktree's matcalc
    f"import sys; sys.path.insert(0, {str(ROOT)!r})\nimport matcalc\nprint(matcalc.__file__)",
    # 1: a verified claim, the cell ends in the result
    'ok = matcalc.check("d/dx x^T A x = (A + A^T) x", given={"A": "n x n", "x": "n"})\nok',
    # 2: a refuted claim
    'bad = matcalc.check("d/dx sigma(x) = sigma(x)", given="x: 1")\nbad',
    # 3: print(result) is the text report
    "print(bad)",
    # 4: a derivation
    'd = matcalc.derive("sum((W x - y).^2)", "W", given="W: n x m, x: m, y: n")\nd',
    # 5: a proof
    'p = matcalc.prove("eq2")\np',
    # 6: the theorems of a proof: a short repr, not the records' fields
    "p.theorems",
    # 7: the repr of a report
    "repr(bad)",
]


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute(env=env)
    return nb


def _outputs(nb, i: int) -> list:
    return nb.cells[i].outputs


def _single_display(nb, i: int) -> dict:
    outs = _outputs(nb, i)
    assert len(outs) == 1, [o.get("output_type") for o in outs]  # displayed once
    out = outs[0]
    assert out.output_type == "execute_result"
    return out.data


def test_the_kernel_runs_this_worktree(executed) -> None:
    text = "".join(o.get("text", "") for o in _outputs(executed, 0))
    assert Path(text.strip()).resolve() == ROOT / "matcalc" / "__init__.py"


@pytest.mark.parametrize("cell", [1, 2, 4, 5])
def test_a_result_displays_once_with_text_latex_markdown(executed, cell: int) -> None:
    data = _single_display(executed, cell)
    assert "text/html" not in data  # no rich HTML block beside the LaTeX/Markdown display
    assert data["text/plain"].strip()
    assert not data["text/plain"].startswith("<")  # the report itself, not a bare repr
    assert data["text/latex"].startswith("$$") and "\\begin{aligned}" in data["text/latex"]
    md = data["text/markdown"]
    assert md.strip()
    assert not [ln for ln in md.splitlines() if re.match(r"#{1,6} ", ln)], md  # no heading in the outline


def test_verified_claim_says_so(executed) -> None:
    data = _single_display(executed, 1)
    assert "1 of 1 claims verified" in data["text/plain"]
    assert "✓ verified" in data["text/plain"]
    assert "verified" in data["text/markdown"]


def test_refuted_claim_shows_diagnosis_and_counterexample(executed) -> None:
    data = _single_display(executed, 2)
    for fmt in ("text/plain", "text/markdown"):
        assert "refuted" in data[fmt]
        assert "the correct result is σ'(x)" in data[fmt], fmt
        assert "counterexample" in data[fmt], fmt
    assert "x=1" in data["text/plain"]
    assert "counterexample" in data["text/latex"] and "the correct result is" in data["text/latex"]
    # the values in matcalc's notation, not SymPy's
    cx = data["text/plain"][data["text/plain"].index("counterexample"):]  # a note may name exp(-x), matcalc's own
    assert "**" not in cx and "exp(" not in cx
    assert "e^-1" in data["text/plain"]


def test_print_shows_the_text_report(executed) -> None:
    outs = _outputs(executed, 3)
    assert [o.output_type for o in outs] == ["stream"]
    text = outs[0].text
    assert "0 of 1 claims verified" in text and "✗ refuted" in text and "counterexample" in text
    plain = _single_display(executed, 2)["text/plain"]
    assert text.rstrip("\n") == plain  # str(result) is the text report, the same as the display's text/plain


def test_reprs_are_short(executed) -> None:
    theorems = _single_display(executed, 6)["text/plain"]
    assert len(theorems) < 200, theorems
    assert re.fullmatch(r"\[<TheoremResult eq2 verified: (\d+) of \1 steps follow; (\d+) of \2 claims verified>]", theorems), theorems
    assert _single_display(executed, 7)["text/plain"] == "'<CheckReport refuted: 0 of 1 claims verified>'"
