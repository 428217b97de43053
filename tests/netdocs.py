"""Backpropagation programs of networks as matcalc documents, written by hand (not by the engine).

Contract: :func:`mlp_program` and :func:`residual_program` return the text of a document that declares an L-layer
network, defines its forward pass with ``let``s, the δ's of backpropagation (Nielsen's BP1/BP2) as ``let``s, and
claims each parameter's gradient (BP3/BP4) — the shape ``derive FILE --format mc`` writes. ``mutate`` names one
deliberate mistake (a δ or a gradient off by a factor 2, a missing transpose, σ' for tanh') to plant at a layer.
Shared by the tests (tests/test_network_check.py) and the benchmark (tests/bench/bench_network_check.py).
"""

from __future__ import annotations

#: The mistakes :func:`mlp_program` / :func:`residual_program` can plant: what changes, in words.
MUTATIONS = {
    "delta2": "a δ doubled",
    "grad2": "a gradient doubled",
    "transpose": "a missing transpose in a δ",
    "activation": "the wrong activation's derivative in a δ",
}


def mlp_program(L: int, mutate: str | None = None, at: int = 1) -> str:
    """An L-layer MLP ``a_l = σ(W_l a_{l-1} + b_l)``, cost ``sum((z_L - y).^2)``, and its backprop program.

    With ``mutate`` (a key of :data:`MUTATIONS`) one line at layer ``at`` is wrong; ``mutate="transpose"`` and
    ``"activation"`` need a hidden layer (``at < L``)."""
    cost = f"sum((z{L} - y).^2)"
    lines = ["given x: n, y: n", "given " + ", ".join(f"W{l}: n x n, b{l}: n" for l in range(1, L + 1)),
             "let a0 = x"]
    for l in range(1, L + 1):
        lines.append(f"let z{l} = W{l} a{l - 1} + b{l}")
        if l < L:
            lines.append(f"let a{l} = sigma(z{l})")
    for l in range(L, 0, -1):
        if l == L:
            rhs = f"2 (z{L} - y)"
        else:
            w = f"W{l + 1}" if (mutate == "transpose" and at == l) else f"W{l + 1}ᵀ"
            act = f"(1 - tanh(z{l}).^2)" if (mutate == "activation" and at == l) else f"sigma'(z{l})"
            rhs = f"({w} δ{l + 1}) ⊙ {act}"
        if mutate == "delta2" and at == l:
            rhs = f"2 ({rhs})"
        lines.append(f"let δ{l} = {rhs}")
    for l in range(1, L + 1):
        k = "2 " if (mutate == "grad2" and at == l) else ""
        lines.append(f"d/dW{l} {cost} = {k}δ{l} a{l - 1}ᵀ")
        lines.append(f"d/db{l} {cost} = δ{l}")
    return "\n".join(lines) + "\n"


def residual_program(L: int, mutate: str | None = None, at: int = 1) -> str:
    """An L-layer residual network ``h_l = h_{l-1} + tanh(W_l h_{l-1})``, cost ``sum(h_L.^2)``, and its backprop
    program: ``δ_L = 2 h_L``, ``δ_{l-1} = δ_l + W_lᵀ (δ_l ⊙ tanh'(z_l))``, ``d/dW_l = (δ_l ⊙ tanh'(z_l)) h_{l-1}ᵀ``
    (``tanh'`` written ``1 - tanh(z).^2``); ``δ_l`` is the derivative by ``h_l``."""
    cost = f"sum(h{L}.^2)"
    lines = ["given x: n", "given " + ", ".join(f"W{l}: n x n" for l in range(1, L + 1)), "let h0 = x"]
    for l in range(1, L + 1):
        lines.append(f"let z{l} = W{l} h{l - 1}")
        lines.append(f"let h{l} = h{l - 1} + tanh(z{l})")

    def deriv(l: int) -> str:
        if mutate == "activation" and at == l:
            return f"sigma'(z{l})"
        return f"(1 - tanh(z{l}).^2)"

    for l in range(L, 0, -1):
        if l == L:
            rhs = f"2 h{L}"
        else:
            w = f"W{l + 1}" if (mutate == "transpose" and at == l) else f"W{l + 1}ᵀ"
            rhs = f"δ{l + 1} + {w} (δ{l + 1} ⊙ {deriv(l + 1)})"
        if mutate == "delta2" and at == l:
            rhs = f"2 ({rhs})"
        lines.append(f"let δ{l} = {rhs}")
    for l in range(1, L + 1):
        k = "2 " if (mutate == "grad2" and at == l) else ""
        lines.append(f"d/dW{l} {cost} = {k}(δ{l} ⊙ {deriv(l)}) h{l - 1}ᵀ")
    return "\n".join(lines) + "\n"


def program(kind: str, L: int, mutate: str | None = None, at: int = 1) -> str:
    return {"mlp": mlp_program, "res": residual_program}[kind](L, mutate, at)


if __name__ == "__main__":  # python tests/netdocs.py mlp 4 [mutation layer]
    import sys

    args = sys.argv[1:]
    print(program(args[0], int(args[1]), args[2] if len(args) > 2 else None, int(args[3]) if len(args) > 3 else 1),
          end="")
