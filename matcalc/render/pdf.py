"""PDF output: a LaTeX document compiled with pdflatex.

Contract: :func:`write_pdf` writes the :func:`matcalc.render.latex.document` of a result (or a LaTeX text) next to
the output path and compiles it with ``pdflatex -no-shell-escape`` in a temporary directory, with a timeout; it raises
:class:`~matcalc.errors.UsageError` when pdflatex is missing, fails (with the log's first error) or times out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from matcalc.errors import UsageError
from matcalc.render.latex import document

PDFLATEX_TIMEOUT_S = 120
MAX_PASSES = 4


def _needs_rerun(tmp: Path, toc_before: bytes | None) -> bool:
    """Whether the last pass changed what the next one reads: the log says "Rerun", or the .toc it wrote differs
    from the one it read (LaTeX itself does not notice a table of contents that moved the pages)."""
    log = (tmp / "doc.log").read_text(encoding="utf-8", errors="replace") if (tmp / "doc.log").exists() else ""
    if "Rerun to get" in log or "Label(s) may have changed" in log:
        return True
    return toc_before != _toc(tmp)


def _toc(tmp: Path) -> bytes | None:
    toc = tmp / "doc.toc"
    return toc.read_bytes() if toc.exists() else None


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("!"):
            return "\n".join(lines[i:i + 6]).strip()
    tail = [ln for ln in lines if ln.strip()][-6:]
    return "\n".join(tail).strip() or "(no log)"


def pdf_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """The PDF and the LaTeX source :func:`write_pdf` writes for the output name ``out``."""
    out_path = Path(out)
    if out_path.suffix.lower() in (".pdf", ".tex"):
        pdf_path = out_path.with_suffix(".pdf")
    else:
        pdf_path = out_path.with_name(out_path.name + ".pdf")
    return pdf_path, pdf_path.with_suffix(".tex")


def write_pdf(result: Any, out: str | os.PathLike, *, timeout_s: float = PDFLATEX_TIMEOUT_S,
              handout: bool = False) -> Path:
    """Write ``result``'s LaTeX document next to ``out`` and compile it to a PDF at ``out`` (with ``.pdf``).

    Runs ``pdflatex -interaction=nonstopmode -halt-on-error -no-shell-escape`` in a temporary directory, with a
    timeout, until the table of contents and the links are settled: at least twice, again while the log asks for a
    rerun (a table of contents that moves the pages moves its own page numbers), at most :data:`MAX_PASSES` times.

    Raises:
        UsageError: pdflatex is missing, fails (the message holds the log's first error), or times out.
    """
    text = result if isinstance(result, str) else document(result, handout=handout)
    pdf_path, tex_path = pdf_paths(out)
    exe = shutil.which("pdflatex")
    if exe is None:
        raise UsageError("pdflatex not found: install texlive-latex-base and texlive-latex-recommended "
                         "(Debian/Ubuntu: apt-get install texlive-latex-base texlive-latex-recommended)")
    if pdf_path.parent and not pdf_path.parent.exists():
        raise UsageError(f"cannot write {pdf_path}: the directory {pdf_path.parent} does not exist")
    tex_path.write_text(text, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="matcalc-latex-") as tmp:
        src = Path(tmp) / "doc.tex"
        src.write_text(text, encoding="utf-8")
        cmd = [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"]
        env = dict(os.environ, openout_any="p", openin_any="p")
        for n_pass in range(MAX_PASSES):
            toc_before = _toc(Path(tmp))
            try:
                proc = subprocess.run(cmd, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, timeout=timeout_s, env=env)
            except subprocess.TimeoutExpired:
                raise UsageError(f"pdflatex did not finish within {timeout_s:g} s on {tex_path}") from None
            except OSError as exc:
                raise UsageError(f"cannot run pdflatex: {exc}") from None
            if proc.returncode != 0:
                log_file = Path(tmp) / "doc.log"
                log = (log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists()
                       else proc.stdout.decode("utf-8", "replace"))
                raise UsageError(f"pdflatex failed on {tex_path}:\n{_first_error(log)}")
            if n_pass >= 1 and not _needs_rerun(Path(tmp), toc_before):
                break
        shutil.copyfile(Path(tmp) / "doc.pdf", pdf_path)
    return pdf_path
