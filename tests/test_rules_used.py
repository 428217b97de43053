"""The "Rules used" lists of a LaTeX document (review5 finding 15): every numbered step of a derivation is looked up
under a label no other step shares, each rule is stated once per list, and the lists of a lecture belong to their
theorem (a number means the same step everywhere it is read). Declared function names in the evidence are set as
the rest of the document sets them (σ, not "sigma").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matcalc.render import latex as L

from test_render_latex import compile_tex, pdf_text


@pytest.fixture(scope="module")
def eq2():
    from matcalc.api import prove_many

    return prove_many(["eq2"])


@pytest.fixture(scope="module")
def several():
    from matcalc.api import prove_many

    return prove_many(["eq2", "eq1", "neuron"])


def _lists(tex: str) -> list[list[tuple[str, str]]]:
    """Each "Rules used" list: its (label, statement) items."""
    out = []
    for block in re.findall(r"\\paragraph\{Rules used[^}]*\}\s*\{\\small\\begin\{description\}(.*?)\\end\{description\}",
                            tex, re.S):
        out.append(re.findall(r"\\item\[\{(.*?)\}\] (.*)", block))
    return out


def _step_tags(tex: str) -> list[str]:
    """The step numbers annotating the derivations' rows: ``&& \\text{(14.2)}``."""
    return [n for ann in re.findall(r"&& \\text\{([^}]*)\}", tex) for n in re.findall(r"\(\d+(?:\.\d+)?\)", ann)]


def test_each_step_number_is_one_step_and_each_rule_is_stated_once(eq2) -> None:
    tex = L.document(eq2)
    lists = _lists(tex)
    assert len(lists) == 1, lists
    items = lists[0]
    labels = [n for label, note in items for n in re.findall(r"\(\d+(?:\.\d+)?\)", label + " " + (
        note.rsplit("(also ", 1)[1] if "(also " in note else ""))]
    assert len(labels) == len(set(labels)), labels  # no two entries under "(1)"
    assert len({label for label, _s in items}) == len(items)
    statements = [s for _l, s in items]
    assert len(statements) == len(set(statements)), statements  # no rule stated twice
    for a in statements:  # nor once as a longer version of another
        assert not any(b != a and b.startswith(a) for b in statements), a
    tags = _step_tags(tex)
    assert len(tags) == len(set(tags)), tags  # the two derivations' steps are told apart
    assert set(tags) == set(labels)  # every numbered step is looked up in the list, and nothing else is there


def test_eq2_pdf_has_no_repeated_rule_number(eq2, tmp_path: Path) -> None:
    pdf, _log = compile_tex(L.document(eq2), tmp_path, "eq2")
    text = pdf_text(pdf)
    tail = text[text.index("Rules used"):]
    numbers = re.findall(r"^\s*(\(\d+(?:\.\d+)?\))", tail, re.M)
    assert numbers and len(numbers) == len(set(numbers)), numbers


def test_a_lecture_lists_the_rules_of_each_theorem_with_it(several) -> None:
    tex = L.document(several)
    lists = _lists(tex)
    with_derivations = [t for t in several.theorems if t.derivations]
    assert len(lists) == len(with_derivations) >= 2
    for items in lists:
        labels = [n for label, note in items for n in re.findall(r"\(\d+(?:\.\d+)?\)", label + " " + (
            note.rsplit("(also ", 1)[1] if "(also " in note else ""))]
        assert len(labels) == len(set(labels)), labels
    assert "Glossary of rules" not in tex  # no list whose numbers belong to no theorem in particular


def test_declared_functions_are_typeset_in_the_evidence(eq2) -> None:
    tex = L.document(eq2)
    assert "(sigma, C)" not in tex
    assert re.search(r"instantiations of \$\(\\sigma, C\)\$ in turn", tex), re.findall(r"instantiations[^\n]*", tex)[:2]


def test_a_formula_ending_in_a_word_leaves_no_lone_backslash() -> None:
    """``like zL)`` in a rule's note: the word's spacing must not end the formula as ``\\`` (then ``$`` is ``\\$``)."""
    from matcalc.render.tex import formula_math, prose_math

    assert not formula_math("like zL").endswith("\\")
    assert prose_math("a column, like zL); v").count("$") % 2 == 0
    assert r"\$" not in prose_math("a column, like zL); v")


def test_consecutive_claims_share_one_display(eq2) -> None:
    """Lines 14 and 15 (and 24, 25) of eq2 are claims one after the other: one display, their ✓ columns aligned."""
    tex = L.document(eq2)
    blocks = re.findall(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", tex, re.S)
    both = [b for b in blocks if "verified (line 14)" in b]
    assert both and "verified (line 15)" in both[0]
    assert any("verified (line 24)" in b and "verified (line 25)" in b for b in blocks)
    assert not any("verified (line 15)" in b and "(line 18)" in b for b in blocks)  # a chain keeps its own display


def test_claims_together_groups_only_single_claims() -> None:
    chains = [["a &= b && x"], ["c &= d && y"], ["e && (line 3)", "&= f && z"], ["g &= h && w"], ["& text && v"],
              ["i &= j && u"], ["k &= l && t"]]
    assert L.claims_together(chains) == [["a &= b && x", "c &= d && y"], ["e && (line 3)", "&= f && z"],
                                         ["g &= h && w"], ["& text && v"], ["i &= j && u", "k &= l && t"]]
