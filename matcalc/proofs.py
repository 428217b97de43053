"""The theorem library: finding, listing and loading the ``.mc`` theorem files of ``proofs/``.

Contract: :func:`proof_dir` is the folder of the shipped theorem files — ``proofs/`` beside the package in a source
checkout (an editable install), else ``matcalc/proofs_data/`` inside an installed package (pyproject maps
``proofs/`` there as package data). :func:`list_theorems` returns a :class:`TheoremInfo` per file, in the lecture's
order (the order of THEOREMS.md's table; files outside the table follow, by name). :func:`load` takes a theorem name
or a path to any theorem file (a user's own) and returns its info and text; an unknown name raises
:class:`~matcalc.errors.UsageError` with a "did you mean" suggestion. Only the ``theorem`` and ``source`` header lines
are read here, by a cheap line scan, so ``matcalc list`` stays fast; the full parse is
``matcalc.lang.read_document``. This module imports nothing heavy (no SymPy, numpy or rich).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from matcalc.errors import UsageError

__all__ = ["TheoremInfo", "LECTURE", "proof_dir", "list_theorems", "load", "read_headers"]

#: The lecture's syllabus: (theorem name, lecture part), in the order of THEOREMS.md's table.
LECTURE: tuple[tuple[str, str], ...] = (
    ("gradient", "1.5.1"),
    ("jacobian", "1.5.2"),
    ("chain-scalar", "1.5.3"),
    ("chain-jacobian", "1.5.4"),
    ("neuron", "2.1"),
    ("layer", "2.2-2.3"),
    ("cost", "3.1"),
    ("elementwise-add", "3.2.1"),
    ("elementwise-sub", "3.2.1"),
    ("elementwise-mul", "3.2.1"),
    ("elementwise-div", "3.2.1"),
    ("elementwise-max", "3.2.1"),
    ("hadamard", "3.2.2"),
    ("scalar-expansion", "3.2.3"),
    ("sum", "3.2.4"),
    ("neuron-activation", "3.3"),
    ("cost-weights", "3.4-3.5"),
    ("cost-bias", "3.6"),
    ("gradient-descent", "3.7-3.8"),
    ("layer-jacobians", "3.9"),
    ("node-error", "4.1"),
    ("eq1", "4.2.1"),
    ("eq2", "4.2.2"),
    ("eq3", "4.2.3"),
    ("eq4", "4.2.4"),
    ("eq4-vec", "4.2.5"),
    ("eq-tie", "4.3"),
    ("backprop", "4.4"),
    ("nielsen-p1", "ex."),
    ("nielsen-e2", "ex."),
    ("nielsen-e3", "ex."),
    ("nielsen-p2", "ex."),
    # "Looking forward": second order (THEOREMS.md section C)
    ("hessian-quadratic", "fwd."),
    ("hessian-least-squares", "fwd."),
    ("hessian-logistic", "fwd."),
    ("hessian-softmax-ce", "fwd."),
    ("gauss-newton", "fwd."),
    ("hessian-chain-linear", "fwd."),
)
_PART = dict(LECTURE)
_ORDER = {name: i for i, (name, _) in enumerate(LECTURE)}

_THEOREM_RE = re.compile(r"^theorem\s+([^\s:]+)\s*:\s*(.*)$")
_SOURCE_RE = re.compile(r"^source\s*:\s*(.*)$")


@dataclass(frozen=True)
class TheoremInfo:
    """One theorem file: its ``name`` and ``title`` (the ``theorem`` header), its ``source`` (the ``source``
    header), its ``path``, and ``part``, the lecture part it belongs to (``"4.2.2"``; ``""`` outside the lecture)."""

    name: str
    title: str
    source: str
    path: Path
    part: str = ""


def _strip_comment(text: str) -> str:
    i = text.find("#")
    return (text[:i] if i >= 0 else text).strip()


def read_headers(text: str) -> tuple[str | None, str, str]:
    """The ``theorem`` name and title and the ``source`` text of a document, by a cheap scan of its lines.

    Returns ``(name, title, source)``; ``name`` is ``None`` when there is no ``theorem`` header, and the title or
    source is ``""`` when missing. The first header of each kind counts.
    """
    name: str | None = None
    title = ""
    source: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if name is None:
            m = _THEOREM_RE.match(line)
            if m:
                name, title = m.group(1), _strip_comment(m.group(2))
                continue
        if source is None:
            m = _SOURCE_RE.match(line)
            if m:
                source = _strip_comment(m.group(1))
                continue
        if name is not None and source is not None:
            break
    return name, title, source or ""


def _has_theorems(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.mc"))


def proof_dir() -> Path:
    """The folder of the shipped theorem files.

    A source checkout (the package's parent holds ``pyproject.toml`` and ``proofs/``) wins; then the package data
    ``matcalc/proofs_data/`` of an installed package; then a ``proofs/`` beside the package however installed.

    Raises:
        UsageError: when no folder of theorem files is found.
    """
    pkg = Path(__file__).resolve().parent
    checkout = pkg.parent / "proofs"
    if (pkg.parent / "pyproject.toml").is_file() and _has_theorems(checkout):
        return checkout
    data = pkg / "proofs_data"
    if _has_theorems(data):
        return data
    if _has_theorems(checkout):
        return checkout
    raise UsageError(f"the theorem files were not found (looked in {checkout} and {data}); "
                     "reinstall matcalc or point prove at a theorem file")


def _info(path: Path, text: str) -> TheoremInfo:
    name, title, source = read_headers(text)
    name = name or path.stem
    return TheoremInfo(name=name, title=title, source=source, path=path, part=_PART.get(name, ""))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the theorem file {path}: {exc}") from None


def list_theorems() -> list[TheoremInfo]:
    """Every theorem file of :func:`proof_dir`, in the lecture's order (others after, by name)."""
    infos = [_info(p, _read(p)) for p in proof_dir().glob("*.mc")]
    return sorted(infos, key=lambda t: (_ORDER.get(t.name, len(_ORDER)), t.name, str(t.path)))


def _looks_like_path(arg: str) -> bool:
    return arg.endswith(".mc") or "/" in arg or "\\" in arg or Path(arg).is_file()


def load(name_or_path: str | Path) -> tuple[TheoremInfo, str]:
    """A theorem's info and text, by its name (``"eq2"``) or by the path of a theorem file (a user's own works).

    Raises:
        UsageError: an unknown name (with the nearest names as a suggestion) or a file that cannot be read.
    """
    arg = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(arg):
        path = Path(arg)
        if not path.is_file():
            if path.name == arg and path.suffix == ".mc" and (proof_dir() / arg).is_file():
                return load(path.stem)  # "eq2.mc": the shipped theorem of that name
            raise UsageError(f"no such theorem file: {arg}")
        text = _read(path)
        return _info(path, text), text
    folder = proof_dir()
    direct = folder / f"{arg}.mc"
    if direct.is_file():
        text = _read(direct)
        info = _info(direct, text)
        if info.name == arg:
            return info, text
    theorems = list_theorems()
    for info in theorems:
        if info.name == arg:
            return info, _read(info.path)
    names = [t.name for t in theorems]
    close = difflib.get_close_matches(arg, names, n=3, cutoff=0.5)
    if not close:
        close = [n for n in names if arg.lower() in n.lower()][:3]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"unknown theorem {arg!r}{hint} (`matcalc list` shows them all)")
