"""The three independent checks of a claim (SPEC section 5), and the verdict read off them.

Contract: this package module imports nothing, so importing :mod:`matcalc.verify.exact` or
:mod:`matcalc.verify.numeric` pulls in nothing else. The submodules: :mod:`~matcalc.verify.judge` (``judge``,
``combine``, the method runners), :mod:`~matcalc.verify.guard` (the hard time guard), the exact method
(:mod:`matcalc.verify.exact`, SymPy entry by entry at small concrete sizes), the numeric method
(:mod:`matcalc.verify.numeric`, finite differences in float64), the symbolic method (normal forms) and
:mod:`~matcalc.verify.diagnose` (naming the mistake in a refuted claim). The exact and numeric methods import nothing
from the rule engine, the simplifier or the symbolic method
(the package ``matcalc.engine`` and :mod:`matcalc.verify.symbolic`).
"""

from __future__ import annotations

__all__: list[str] = []
