"""The derivative engine: the chain-rule composer, the rule table, the simplifier (SPEC sections 3 and 4).

Contract: this package re-exports what the rest of matcalc imports from ``matcalc.engine`` —
:func:`differentiate`, :func:`differentiate_many`, :func:`expand_derivatives`, :func:`closed_form`, :func:`with_lets`,
:func:`intern`, :func:`node_count` and the records :class:`Step` and :class:`Derivation`. The parts live in
submodules, each importing only those below it: :mod:`.differentiation` (the entry point) over :mod:`.textbook` (the
textbook form of results, with :mod:`.monomials`), :mod:`.entry` (derivatives by one entry) and :mod:`.lecture` (the
lecture's presentation of a chain), over :mod:`.compose` (the composer's walks), over :mod:`.rules` (the rule table;
:mod:`.rulecheck` proves it, with SymPy) and :mod:`.simplify` (the rewrite rules), over :mod:`.index` (entries,
deltas, index sums, the componentwise form), over :mod:`.build` (small constructors and tests). Nothing here
imports SymPy.
"""

from __future__ import annotations

from matcalc.engine.compose import Derivation, Step, intern, node_count
from matcalc.engine.differentiation import (
    closed_form, differentiate, differentiate_many, expand_derivatives, with_lets,
)

__all__ = ["Step", "Derivation", "closed_form", "differentiate", "differentiate_many", "expand_derivatives", "intern",
           "node_count", "with_lets"]
