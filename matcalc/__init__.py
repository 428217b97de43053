"""matcalc: a symbolic matrix-calculus verifier.

Derives Jacobians and gradients of vector and matrix expressions with named rules at generic sizes, checks every
claim by three independent methods (normal forms, exact entry-by-entry algebra with SymPy, finite differences), checks
derivations line by line and writes LaTeX proofs. The Python API (SPEC section 7)::

    import matcalc
    matcalc.check("d/dx x^T A x = (A + A^T) x", given="A: n x n, x: n")
    matcalc.derive("sum((W x - y).^2)", "W", given="W: n x m, x: m, y: n")
    matcalc.prove("eq2")

Each returns a result object that prints as text, renders as LaTeX in Jupyter and in rich, and has ``to_json()``.
Importing matcalc is cheap: SymPy and numpy load only when a check runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["check", "derive", "prove", "__version__"]


def _need_seed(seed) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")


def check(text, given=None, layout: str = "mixed", *, seed: int = 0, problem: str | None = None):
    """Judge every claim and step of ``text`` (a claim, a whole document, or a file).

    Args:
        text: a claim such as ``"d/dx x^T A x = (A + A^T) x"``, a document, a :class:`pathlib.Path` or a string
            naming an existing ``.mc`` file.
        given: declarations in force: ``"A: n x n, x: n"`` or a mapping ``{"A": "n x n", "x": "n"}``.
        layout: ``"mixed"`` (default), ``"numerator"`` or ``"denominator"``.
        seed: the random seed of the numeric method.
        problem: the expression the derivation must start from, ending in a closed form (as ``--problem``).

    Returns:
        A :class:`matcalc.results.CheckReport`; ``.verdict`` is ``verified``, ``refuted``, ``error`` or
        ``inconclusive``.
    """
    from matcalc.api import check_text, read_source
    from matcalc.deep import run_deep

    _need_seed(seed)
    source, where = read_source(text)
    return run_deep(check_text, source, given=given, layout=layout, seed=seed, where=where, problem=problem)


def derive(expr: str, wrt, given=None, layout: str = "mixed", *, seed: int = 0, order: int = 1):
    """Derive ``expr`` (an expression, a document, a :class:`pathlib.Path` or a string naming an existing ``.mc``
    file: its last expression) by the variables named in ``wrt`` (comma-separated, or a list) and check the result
    numerically; ``given`` as for :func:`check`; ``order=2`` gives the Hessian.

    Returns:
        A :class:`matcalc.results.DeriveResult` with the closed form, the steps and the numeric check.
    """
    from matcalc.api import derive_text, read_source
    from matcalc.deep import run_deep

    _need_seed(seed)
    source, where = read_source(expr)
    return run_deep(derive_text, source, wrt=wrt, given=given, layout=layout, seed=seed, order=order, where=where)


def prove(name: str, *, seed: int = 0):
    """Prove the theorem ``name`` from ``proofs/`` (or a path to a theorem file).

    Returns:
        A :class:`matcalc.results.ProveResult`.
    """
    from matcalc.api import prove_many
    from matcalc.deep import run_deep

    _need_seed(seed)
    return run_deep(prove_many, [name], seed=seed, progress=False)
