"""The steps of a derivation as a reader sees them: bookkeeping rewrites merged into the step they complete.

Contract: :func:`display_steps` takes the engine's steps (each with ``rule``, ``before``, ``after``, ``note``) and
returns the list to show. A step whose result holds a double transpose (``(Aᵀ)ᵀ``) is merged with the
``(Aᵀ)ᵀ = A`` step that removes it, and a rewrite that changes nothing is dropped, so that every shown line changes
the expression and no intermediate form like ``C'(z)ᵀᵀ`` is printed. The merged step keeps the first step's rule
and names both. Every renderer (text, LaTeX, Markdown) shows the same steps. Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from matcalc import ir

#: Engine rules that only tidy the previous step's result.
TIDY = ("transpose-twice", "identity")


@dataclass(frozen=True)
class ShownStep:
    rule: str
    before: ir.Expr | None
    after: ir.Expr
    note: str


def _has_double_transpose(e: ir.Expr) -> bool:
    return any(isinstance(n, ir.Transpose) and isinstance(n.arg, ir.Transpose) for n in ir.walk(e))


def display_steps(steps, *, drop_repeats: bool = True) -> list[ShownStep]:
    """The steps to show (see the module docstring).

    Args:
        steps: the engine's steps.
        drop_repeats: drop a step whose result equals the previous one (the LaTeX view merges such rows itself).
    """
    out: list[ShownStep] = []
    for s in steps:
        step = ShownStep(s.rule, s.before, s.after, s.note or s.rule)
        if out:
            prev = out[-1]
            is_rewrite = not isinstance(step.before, ir.Derivative)
            if step.after == prev.after and (drop_repeats or is_rewrite):
                continue  # a step that changes nothing (a rewrite with no effect, a chain of one link)
            if (is_rewrite and step.rule in TIDY and step.before == prev.after
                    and (_has_double_transpose(prev.after) or prev.rule == "chain-rule")):
                first = prev.note.split(";")[0].strip()
                tidy = step.note.split(";")[0].strip()
                out[-1] = ShownStep(prev.rule, prev.before, step.after, f"{first} · {tidy}")
                continue
        out.append(step)
    return out
