"""The three independent checks of a claim (SPEC section 5).

Contract: this package module stays tiny and imports nothing heavy. The methods live in submodules that callers
import when a check runs: :mod:`matcalc.verify.exact` (SymPy, entry by entry at small concrete sizes) and the
numeric and symbolic methods. The exact and numeric methods import nothing from the rule engine, the simplifier or
the symbolic method (the package ``matcalc.engine`` and :mod:`matcalc.verify.symbolic`).
"""

from __future__ import annotations

__all__: list[str] = []
