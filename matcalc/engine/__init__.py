"""The derivative engine: the chain-rule composer, the rule table, the simplifier (SPEC sections 3 and 4).

Contract: this package re-exports what the rest of matcalc imports from ``matcalc.engine`` —
:func:`differentiate`, :func:`differentiate_many`, :func:`expand_derivatives`, :func:`intern`, :func:`node_count`
and the records :class:`Step` and :class:`Derivation`. The parts live in submodules: :mod:`.differentiation`
(the entry point), :mod:`.compose` (the composer's walks), :mod:`.entry` (derivatives by one entry),
:mod:`.lecture` (the lecture's presentation of a chain), :mod:`.rules` (the rule table), :mod:`.rulecheck` (its proofs,
with SymPy), :mod:`.simplify` (the
rewrite rules), :mod:`.index` (entries, deltas, index sums, the componentwise form) and :mod:`.build` (small
constructors and tests shared by the others). Nothing here imports SymPy.
"""

from __future__ import annotations

from matcalc.engine.compose import Derivation, Step, intern, node_count
from matcalc.engine.differentiation import differentiate, differentiate_many, expand_derivatives

__all__ = ["Step", "Derivation", "differentiate", "differentiate_many", "expand_derivatives", "intern", "node_count"]
