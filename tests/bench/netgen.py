"""Network documents for the depth benchmarks and tests (issue 12): an L-layer MLP and an L-layer residual network.

Contract: :func:`mlp` and :func:`residual` return the text of a matcalc document whose last line is the scalar cost;
:func:`parameters` the comma-separated ``--wrt`` list of every weight and bias. Layer sizes are all ``n`` (a generic
size), so the documents test depth, not shapes. Nothing here imports matcalc.

* MLP: ``let a0 = x``, ``let a_l = sigma(W_l a_{l-1} + b_l)`` for l < L, cost ``sum((W_L a_{L-1} + b_L - y).^2)``
  (a linear last layer and the quadratic cost, Nielsen's chapter 2 without the ½).
* residual: ``let h0 = x``, ``let h_l = h_{l-1} + tanh(W_l h_{l-1})`` for l ≤ L, cost ``sum(h_L.^2)``; each h is used
  twice, so the written-out tree doubles with every layer.
"""

from __future__ import annotations

import sys


def mlp(depth: int) -> str:
    if depth < 1:
        raise ValueError("depth >= 1")
    lines = ["given x: n, y: n", "given " + ", ".join(f"W{k}: n x n, b{k}: n" for k in range(1, depth + 1)),
             "let a0 = x"]
    lines += [f"let a{k} = sigma(W{k} a{k - 1} + b{k})" for k in range(1, depth)]
    lines.append(f"sum((W{depth} a{depth - 1} + b{depth} - y).^2)")
    return "\n".join(lines) + "\n"


def residual(depth: int) -> str:
    if depth < 1:
        raise ValueError("depth >= 1")
    lines = ["given x: n", "given " + ", ".join(f"W{k}: n x n" for k in range(1, depth + 1)), "let h0 = x"]
    lines += [f"let h{k} = h{k - 1} + tanh(W{k} h{k - 1})" for k in range(1, depth + 1)]
    lines.append(f"sum(h{depth}.^2)")
    return "\n".join(lines) + "\n"


def parameters(kind: str, depth: int) -> str:
    if kind == "mlp":
        return ",".join(f"W{k},b{k}" for k in range(1, depth + 1))
    return ",".join(f"W{k}" for k in range(1, depth + 1))


KINDS = {"mlp": mlp, "res": residual}

if __name__ == "__main__":  # python tests/bench/netgen.py mlp 8 > mlp8.mc
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS or not sys.argv[2].isdigit():
        sys.exit(f"usage: python {sys.argv[0]} {'|'.join(KINDS)} L   (an L-layer network as a matcalc document)")
    sys.stdout.write(KINDS[sys.argv[1]](int(sys.argv[2])))
