"""Handouts and PDFs as a reader gets them: ``prove all --pdf`` compiled with pdflatex and read back with pdftotext.

The table of contents points at the right pages and links to them; the explanation appears once per document, the
rules used once per theorem, set as mathematics; ``--handout`` leaves the evidence out; ``check --pdf``; no file is
overwritten unless ``-o`` names it or ``--force`` is given; the citations name things a reader has.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if shutil.which("pdflatex") is None or shutil.which("pdftotext") is None:  # pragma: no cover
    pytest.fail("these tests need pdflatex (texlive-latex-base) and pdftotext (poppler-utils)", pytrace=False)


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "matcalc", *argv], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=900)


def pages(pdf: Path) -> list[str]:
    """The text of each page."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\f")


def pdf_objects(pdf: Path) -> bytes:
    """The PDF's objects, its compressed streams inflated (pdflatex packs annotations into object streams)."""
    raw = pdf.read_bytes()
    out = [raw]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", raw, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    return b"\n".join(out)


@pytest.fixture(scope="module")
def lecture(tmp_path_factory) -> tuple[Path, list[str], str]:
    d = tmp_path_factory.mktemp("lecture")
    res = cli("prove", "all", "--pdf", "-o", "lecture.pdf", cwd=d)
    assert res.returncode == 0, res.stderr
    pdf = d / "lecture.pdf"
    return pdf, pages(pdf), (d / "lecture.tex").read_text(encoding="utf-8")


# ───────────────────────────── table of contents ─────────────────────────────


def test_toc_points_at_the_right_pages(lecture) -> None:
    pdf, text, _ = lecture
    toc = "\n".join(text[:3])
    entries = re.findall(r"^\s*(\d+\.\d+)\s+(.+?)\s*(?:\.\s*)+\s*(\d+)\s*$", toc, re.M)
    assert len(entries) >= 32, toc[:2000]
    for number, title, page in entries:
        # the theorem's heading "1.2 The Jacobian matrix" is on the page the table of contents names
        heading = re.compile(rf"^\s*{re.escape(number)}\s+{re.escape(title[:25])}")
        body_pages = [i + 1 for i, p in enumerate(text)
                      if any(heading.match(ln) and ". ." not in ln for ln in p.splitlines())]
        assert body_pages and body_pages[0] == int(page), (number, title, page, body_pages)


def test_toc_links_and_bookmarks(lecture) -> None:
    pdf, _, tex = lecture
    assert "hyperref" in tex
    objects = pdf_objects(pdf)
    assert objects.count(b"/Link") >= 32  # a link per entry of the table of contents
    assert b"/Outlines" in objects  # bookmarks


# ───────────────────────────── explanation and glossary ─────────────────────────────


RULES_USED = "\\paragraph{Rules used.}"


def _rule_lists(tex: str) -> list[str]:
    """Each theorem's "Rules used" list (review5 finding 15: a step's number is looked up in its theorem's list;
    one list for the whole lecture numbered every theorem's steps "(1)" alike)."""
    return [part.split("\\end{description}", 1)[0] for part in tex.split(RULES_USED)[1:]]


def test_explanation_and_glossary_once(lecture) -> None:
    _, text, tex = lecture
    body = "\n".join(text)
    assert body.count("Each derivation is written as the chain rule gives it") == 1
    lists = _rule_lists(tex)
    theorems = tex.count("\\begin{theorem}[{")
    assert 20 <= len(lists) <= theorems  # at most one list per theorem
    assert "Glossary of rules" not in tex
    for block in tex.split("\\begin{theorem}[{")[1:]:
        assert block.count(RULES_USED) <= 1
    assert "The steps of the rule engine, each with the rule" not in body  # the old per-derivation paragraph


def test_glossary_is_mathematics(lecture) -> None:
    _, text, tex = lecture
    lists = "\n".join(_rule_lists(tex))
    assert "\\textasciicircum" not in lists  # no caret printed as text: R^n is a superscript
    assert "\\mathbb{R} ^{n}" in lists or "\\mathbb{R}^{n}" in lists
    # each list as printed: from its heading to the judged claims that follow it (or the page's end)
    printed = [part.split("The claims and the steps", 1)[0] for p in text if "Contents" not in p
               for part in p.split("Rules used.")[1:]]
    assert len(printed) >= 20 and not any("ˆ" in p or "^" in p for p in printed)


def test_glossary_labels_are_not_doubled(lecture) -> None:
    _, _, tex = lecture
    total = 0
    for block in _rule_lists(tex):
        items = re.findall(r"\\item\[\{([^}]*)\}\] (.*)", block)
        total += len(items)
        labels = [label for label, _ in items]
        assert len(labels) == len(set(labels)), labels
        numbers = [n for label, note in items for n in re.findall(r"\(\d+(?:\.\d+)?\)", label + " "
                                                                   + (note.rsplit("(also ", 1)[1] if "(also " in note else ""))]
        assert len(numbers) == len(set(numbers)), numbers  # a step number is one step
        notes = [note for _, note in items]
        assert len(notes) == len(set(notes)), notes  # a rule stated once
        for label, note in items:
            assert not note.lower().startswith(label.lower()), (label, note)
    assert total >= 20


# ───────────────────────────── citations ─────────────────────────────


UNFOLLOWABLE = re.compile(r"SPEC section|THEOREMS(?:\.md)?\s*[AB]?\d|P\\?&H\s*A\d|\(A\d\b|\bA\d\)")


def test_citations_a_reader_can_follow(lecture, tmp_path: Path) -> None:
    _, text, tex = lecture
    assert not UNFOLLOWABLE.search(tex), UNFOLLOWABLE.search(tex)
    # in the PDF's text A3 may be a matrix of the lecture (A_3); the document names are never right
    assert not re.search(r"SPEC|THEOREMS|P&H", "\n".join(text))
    assert "Parr \\& Howard, ``Vector chain rule''" in tex
    for argv in (("rules",), ("rules", "--format", "markdown"), ("prove", "eq2", "--format", "markdown"),
                 ("derive", "sigma(W x + b)", "--wrt", "W", "--given", "W: n x m, x: m, b: n", "--format", "json")):
        out = cli(*argv, cwd=tmp_path).stdout
        assert out.strip() and not UNFOLLOWABLE.search(out), (argv, UNFOLLOWABLE.search(out))


# ───────────────────────────── handouts ─────────────────────────────


def test_prove_handout_leaves_out_the_evidence(tmp_path: Path) -> None:
    full = cli("prove", "gradient", "jacobian", "--pdf", "-o", "full.pdf", cwd=tmp_path)
    hand = cli("prove", "gradient", "jacobian", "--pdf", "--handout", "-o", "hand.pdf", cwd=tmp_path)
    assert full.returncode == hand.returncode == 0, hand.stderr
    full_text, hand_text = "\n".join(pages(tmp_path / "full.pdf")), "\n".join(pages(tmp_path / "hand.pdf"))
    for evidence in ("The evidence for each line", "entry by entry with SymPy", "finite differences", "symbolic"):
        assert evidence in full_text
        assert evidence not in hand_text, evidence
    for kept in ("The Jacobian matrix", "Theorem 1.1", "Rules used", "Verdict"):
        assert kept in hand_text, kept
    assert len(pages(tmp_path / "hand.pdf")) < len(pages(tmp_path / "full.pdf"))


def test_check_pdf_and_handout(tmp_path: Path) -> None:
    hw = tmp_path / "homework.mc"
    shutil.copyfile(ROOT / "tests" / "homework" / "least_squares_transpose.mc", hw)
    res = cli("check", "homework.mc", "--pdf", cwd=tmp_path)
    assert res.returncode == 1, res.stderr  # a wrong step: refuted
    assert (tmp_path / "homework.pdf").is_file() and "homework.pdf" in res.stderr
    text = "\n".join(pages(tmp_path / "homework.pdf"))
    assert "Claims and steps" in text and "Evidence" in text and "refuted" in text
    res = cli("check", "homework.mc", "--pdf", "--handout", "-o", "sheet.pdf", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    sheet = "\n".join(pages(tmp_path / "sheet.pdf"))
    assert "Claims and steps" in sheet and "Evidence" not in sheet and "entry by entry" not in sheet


# ───────────────────────────── no silent overwrite ─────────────────────────────


def test_pdf_never_overwrites_a_default_named_file(tmp_path: Path) -> None:
    precious = b"%PDF-1.4 the teacher's own lecture\n"
    (tmp_path / "lecture.pdf").write_bytes(precious)
    res = cli("prove", "eq2", "eq3", "--pdf", cwd=tmp_path)
    assert res.returncode == 2
    assert "lecture.pdf" in res.stderr and "-o" in res.stderr and "--force" in res.stderr
    assert "Traceback" not in res.stderr
    assert (tmp_path / "lecture.pdf").read_bytes() == precious
    assert not (tmp_path / "lecture.tex").exists()
    # -o naming the file replaces it
    res = cli("prove", "eq2", "eq3", "--pdf", "-o", "lecture.pdf", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "lecture.pdf").read_bytes() != precious
    # --force replaces the default-named file too
    (tmp_path / "lecture.pdf").write_bytes(precious)
    res = cli("prove", "eq2", "eq3", "--pdf", "--force", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "lecture.pdf").read_bytes().startswith(b"%PDF") and \
        (tmp_path / "lecture.pdf").read_bytes() != precious


def test_check_pdf_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "check.pdf").write_bytes(b"mine")
    res = cli("check", "d/dx x^T x = 2 x", "--given", "x: n", "--pdf", cwd=tmp_path)
    assert res.returncode == 2 and "check.pdf" in res.stderr
    assert (tmp_path / "check.pdf").read_bytes() == b"mine"
