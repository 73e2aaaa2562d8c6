"""numpy-bptt, torch-autograd and torch-nnrnn's public train_step side by side with a step written by hand.

    python benchmarks/numpy_torch_vs_handwritten.py --hidden 64 256 --batch 1 256

The companion of jax_vs_handwritten.py, with the same rounds and the same ratio: each round times every
contender once over the same batches, in an order that alternates from round to round, and the figure is
the median over rounds of the public step's time over the hand-written one's in that round (below 1: the
public step is faster); times are microseconds per record. Every record fills all T steps (the synthetic
workload of the step sweep), plain SGD, one thread in every framework. Run it on an otherwise idle machine.

Each hand-written step is what a careful user writes in that framework, starting, as a user's loop would,
from each Batch's own NumPy arrays, and reading the loss back as a Python float:
- NumPy: the batched forward with its cache of states, backpropagation through time with dW_hh as one
  product over all steps, SGD in place. W_xh's gradient is summed into token columns two ways, by
  `np.add.at` and by a one-hot product; the faster of the two in each round is the yardstick.
- torch-autograd: parameter tensors that require grad, W_xh held (V, H) and gathered by token, a Python
  loop over time, `F.cross_entropy`, `loss.backward()`, and SGD by `torch.optim.SGD` (its default
  foreach update).
- torch-nnrnn: `nn.RNN(V, H)` fed one-hot tokens (its input weight is W_xh and its second bias stays zero,
  as in torch-nnrnn) and an `nn.Linear` head, the same loss, backward and optimizer.

Before timing, one untimed run of every contender from the same parameters on the same batches checks that
the hand-written steps train the same model: their losses must agree with the public step's.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
from handwritten_rounds import add_point_arguments, ratio, side_by_side

from rnnbench.bench.workload import SYNTH_CLASSES, SYNTH_LR, SYNTH_VOCAB, synthetic_batches, synthetic_config

IMPLS = ("numpy-bptt", "torch-autograd", "torch-nnrnn")


def numpy_step(params: dict, scatter: str) -> Callable:
    """The hand-written NumPy SGD step on params (updated in place): Batch -> loss."""
    W_xh_T = np.ascontiguousarray(params["W_xh"].T)  # (V, H): a token's column of W_xh is a row here
    W_hh, b_h, W_hy, b_y = (params[name].copy() for name in ("W_hh", "b_h", "W_hy", "b_y"))
    V, H = W_xh_T.shape

    def step(b) -> float:
        tokens, labels = b.tokens, b.labels  # (B, T), (B,)
        B, T = tokens.shape
        hs = np.empty((T + 1, B, H), W_hh.dtype)  # (T+1, B, H), hs[0] = 0
        hs[0] = 0.0
        xs = W_xh_T[tokens.T] + b_h  # (T, B, H)
        for t in range(T):
            hs[t + 1] = np.tanh(xs[t] + hs[t] @ W_hh.T)
        logits = hs[T] @ W_hy.T + b_y  # (B, C)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(B), labels]).mean()
        dlogits = probs
        dlogits[np.arange(B), labels] -= 1.0
        dlogits /= B  # (B, C)
        dW_hy, db_y = dlogits.T @ hs[T], dlogits.sum(axis=0)
        dh = dlogits @ W_hy  # (B, H)
        dzs = np.empty((T, B, H), W_hh.dtype)  # (T, B, H): dL/d(pre-activation) of each step
        for t in range(T - 1, -1, -1):
            dzs[t] = dh * (1.0 - hs[t + 1] ** 2)
            dh = dzs[t] @ W_hh
        dz = dzs.reshape(T * B, H)  # (T*B, H)
        dW_hh = dz.T @ hs[:T].reshape(T * B, H)
        db_h = dz.sum(axis=0)
        ids = tokens.T.reshape(-1)  # (T*B,), in dz's row order
        if scatter == "add.at":
            dW_xh_T = np.zeros_like(W_xh_T)
            np.add.at(dW_xh_T, ids, dz)
        else:
            one_hot = np.zeros((V, T * B), W_hh.dtype)
            one_hot[ids, np.arange(T * B)] = 1.0
            dW_xh_T = one_hot @ dz  # (V, H)
        for param, grad in ((W_xh_T, dW_xh_T), (W_hh, dW_hh), (b_h, db_h), (W_hy, dW_hy), (b_y, db_y)):
            param -= SYNTH_LR * grad
        return float(loss)

    return step


def torch_step(params: dict, use_nn_rnn: bool) -> Callable:
    """The hand-written PyTorch SGD step (a time loop over tensors, or nn.RNN): Batch -> loss."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    V, H, C = SYNTH_VOCAB, params["W_hh"].shape[0], SYNTH_CLASSES
    if use_nn_rnn:
        rnn, head = nn.RNN(V, H), nn.Linear(H, C)
        with torch.no_grad():
            for tensor, name in ((rnn.weight_ih_l0, "W_xh"), (rnn.weight_hh_l0, "W_hh"), (rnn.bias_ih_l0, "b_h")):
                tensor.copy_(torch.from_numpy(params[name]))
            rnn.bias_hh_l0.zero_()
            head.weight.copy_(torch.from_numpy(params["W_hy"]))
            head.bias.copy_(torch.from_numpy(params["b_y"]))
        rnn.bias_hh_l0.requires_grad_(False)  # the model has one bias b_h, bias_ih here: bias_hh stays zero
        trained = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, *head.parameters()]
        optimizer = torch.optim.SGD(trained, lr=SYNTH_LR)

        def logits_of(tokens: torch.Tensor) -> torch.Tensor:
            x = F.one_hot(tokens.T, V).to(torch.float32)  # (T, B, V)
            _, h_n = rnn(x)  # (1, B, H)
            return head(h_n[0])  # (B, C)

    else:
        p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
        p["W_xh"] = torch.tensor(params["W_xh"].T, requires_grad=True)  # (V, H), gathered by token
        optimizer = torch.optim.SGD(list(p.values()), lr=SYNTH_LR)

        def logits_of(tokens: torch.Tensor) -> torch.Tensor:
            xs = p["W_xh"][tokens.T]  # (T, B, H)
            h = torch.zeros(tokens.shape[0], H)  # (B, H)
            for x in xs:
                h = torch.tanh(x + p["b_h"] + h @ p["W_hh"].T)
            return h @ p["W_hy"].T + p["b_y"]  # (B, C)

    def step(b) -> float:
        loss = F.cross_entropy(logits_of(torch.tensor(b.tokens)), torch.tensor(b.labels))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def contenders(impl: str, hidden: int, batch: int, seq_len: int, n_batches: int) -> dict[str, Callable[[], list]]:
    """name -> a call that runs n_batches steps and returns their losses: the public step, then the hand ones."""
    import impls
    from impls import SGD

    config = synthetic_config(hidden)
    params = impls.init_params(config, seed=0)
    batches = synthetic_batches(batch, seq_len, n_batches)
    model = impls.load(impl, config, params, optimizer=SGD(lr=SYNTH_LR), threads=1)
    if impl == "numpy-bptt":
        hand = {f"hand step ({scatter})": numpy_step(params, scatter) for scatter in ("add.at", "one-hot")}
    else:
        hand = {"hand step": torch_step(params, use_nn_rnn=impl == "torch-nnrnn")}

    def run(step: Callable) -> Callable[[], list[float]]:
        def steps() -> list[float]:
            return [step(b) for b in batches]

        return steps

    calls = {f"{impl} step": run(model.train_step)} | {name: run(step) for name, step in hand.items()}
    # one untimed run (caches, allocator, first-call costs), which also proves that the yardsticks train the
    # same model: from the same parameters on the same batches, every loss agrees with the public step's
    losses = {name: call() for name, call in calls.items()}
    public = losses.pop(f"{impl} step")
    for name, theirs in losses.items():
        if not np.allclose(theirs, public, rtol=1e-3, atol=1e-5):
            raise AssertionError(f"{name} does not train the model {impl} trains: losses {theirs[:3]} vs {public[:3]}")
    return calls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", nargs="+", choices=IMPLS, default=list(IMPLS))
    add_point_arguments(parser)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # NumPy's BLAS, for the hand-written NumPy step (the public models set their own)
    if any(impl.startswith("torch") for impl in args.impl):
        import torch

        torch.set_num_threads(1)
    print(f"V={SYNTH_VOCAB} C={SYNTH_CLASSES} T={args.seq_len} threads=1, median of {args.rounds} rounds")
    for impl in args.impl:
        for hidden in args.hidden:
            for batch in args.batch:
                n = max(8, args.records // batch)
                seconds = side_by_side(contenders(impl, hidden, batch, args.seq_len, n), args.rounds, n * batch)
                line = [f"{impl:<14} H={hidden:<4} B={batch:<4}"]
                line += [f"{name} {statistics.median(values) * 1e6:.2f}" for name, values in seconds.items()]
                line.append(f"step ratio {ratio(seconds, f'{impl} step', 'hand step'):.3f}")
                print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
