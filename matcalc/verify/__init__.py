"""The three independent checks of a claim (SPEC section 5).

Contract: this package module stays tiny and imports nothing heavy. The methods live in submodules that callers
import when a check runs: :mod:`matcalc.verify.exact` (SymPy, entry by entry at small concrete sizes) and the
numeric and symbolic methods. The exact and numeric methods import nothing from the rule engine, the simplifier or
the normaliser (``matcalc.engine``, ``matcalc.rules``, ``matcalc.simplify``, ``matcalc.normal``).
"""

from __future__ import annotations

__all__: list[str] = []
