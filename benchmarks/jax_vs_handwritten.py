"""jax-scan's public train_step and train_epoch side by side with the plainest JAX step one would write by hand.

    python benchmarks/jax_vs_handwritten.py --hidden 64 256 --batch 1 256
    python benchmarks/jax_vs_handwritten.py --kernels --hidden 64 256 --batch 1 2 4 8 16

The hand-written step is the textbook one: parameters in a dict, W_xh stored (V, H) and gathered by
token, `lax.scan` over time (unrolled as jax-scan does), `jax.value_and_grad` of the mean cross-entropy,
plain SGD, the whole step under one `jax.jit` with the parameters donated; it takes each Batch's own token
and label arrays, as a user's loop would (the jitted call converts them), and its loss is read back as a
Python float, as jax-scan's public step does. It is written
twice, with h @ W_hh.T and with a `lax.dot_general` contracting W_hh's second axis, and the faster of the
two in each round is the yardstick. Its epoch is a `lax.scan` of that step over the stacked batches under
one `jax.jit`, the yardstick of jax-scan's fused `train_epoch`; it too starts from the list of batches,
and stacks their arrays (np.concatenate, the cheaper way) inside the timed call. Every record fills all T steps (the synthetic workload of the step
sweep), so neither side masks.

Each round times every contender once, in an order that alternates from round to round, on the same
batches; the ratio printed is the median over rounds of jax-scan's time over the hand-written one's
in the same round (a ratio below 1: jax-scan is faster); times are microseconds per record. Run it on an otherwise idle machine.

--kernels times the recurrence's matmul alone instead: a jitted loop of h <- tanh(h W) over many steps,
(B, H) x (H, H), in the three ways one can write it (contracting W's second axis as `lax.dot_general`, as
h @ W.T, and W's first axis as plain h @ W), nanoseconds per step. It shows what XLA's CPU dot costs
per step as B grows from 1, apart from everything else a training step does.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
from handwritten_rounds import add_point_arguments, ratio, side_by_side

from rnnbench.bench.workload import SYNTH_CLASSES, SYNTH_LR, SYNTH_VOCAB, synthetic_batches


def handwritten(T: int, dot_general: bool) -> tuple[Callable, Callable]:
    """The hand-written jitted SGD step, (params, tokens (B, T), labels (B,)) -> (params, loss), and its
    epoch, (params, tokens (N, B, T), labels (N, B)) -> (params, losses (N,)), a `lax.scan` of the step."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def matmul_t(a, w):  # a @ w.T
        return lax.dot_general(a, w, (((1,), (1,)), ((), ()))) if dot_general else a @ w.T

    def loss_fn(p, tokens, labels):
        xs = p["W_xh"][tokens.T]  # (T, B, H)

        def body(h, x):
            return jnp.tanh(x + p["b_h"] + matmul_t(h, p["W_hh"])), None

        h0 = jnp.zeros((tokens.shape[0], p["W_hh"].shape[0]), xs.dtype)
        h, _ = lax.scan(body, h0, xs, unroll=min(T, 8))  # (B, H)
        logits = matmul_t(h, p["W_hy"]) + p["b_y"]  # (B, C)
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    def step(p, tokens, labels):
        loss, g = jax.value_and_grad(loss_fn)(p, tokens, labels)
        return jax.tree_util.tree_map(lambda w, d: w - SYNTH_LR * d, p, g), loss

    def epoch(p, tokens, labels):
        return lax.scan(lambda p, batch: step(p, *batch), p, (tokens, labels))

    return jax.jit(step, donate_argnums=0), jax.jit(epoch, donate_argnums=0)


def contenders(hidden: int, batch: int, seq_len: int, n_batches: int) -> dict[str, Callable[[], object]]:
    """name -> a call that runs n_batches steps (or one fused epoch of them) and returns once done."""
    import jax

    import impls
    from impls import SGD
    from rnnbench.bench.workload import synthetic_config

    config = synthetic_config(hidden)
    params = impls.init_params(config, seed=0)
    batches = synthetic_batches(batch, seq_len, n_batches)
    model = impls.load("jax-scan", config, params, optimizer=SGD(lr=SYNTH_LR))
    epoch_model = impls.load("jax-scan", config, params, optimizer=SGD(lr=SYNTH_LR))

    def public_steps():
        for b in batches:
            model.train_step(b)

    def public_epoch():
        epoch_model.train_epoch(batches)

    calls = {"jax-scan step": public_steps, "jax-scan epoch": public_epoch}
    for label, dot_general in (("h @ W.T", False), ("dot_general", True)):
        step, epoch = handwritten(seq_len, dot_general)
        state = [jax.device_put(dict(params, W_xh=np.ascontiguousarray(params["W_xh"].T)))]

        def steps(step=step, state=state):
            for b in batches:
                state[0], loss = step(state[0], b.tokens, b.labels)
                float(np.asarray(loss))

        def fused(epoch=epoch, state=state):
            tokens = np.concatenate([b.tokens for b in batches]).reshape(n_batches, batch, seq_len)
            labels = np.concatenate([b.labels for b in batches]).reshape(n_batches, batch)
            state[0], losses = epoch(state[0], tokens, labels)
            np.asarray(losses).tolist()

        calls[f"hand step ({label})"] = steps
        calls[f"hand epoch ({label})"] = fused
    for call in calls.values():
        call()  # compile, and one untimed run
    return calls


KERNEL_STEPS = 256  # recurrence steps per timed call of --kernels


def kernels(hidden: int, batches: list[int], rounds: int) -> None:
    """Print, per B, the median nanoseconds per step of h <- tanh(h W) in each way of writing the matmul."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    forms = {
        "dot_general (W's 2nd axis)": lambda h, w: lax.dot_general(h, w, (((1,), (1,)), ((), ()))),
        "h @ W.T": lambda h, w: h @ w.T,
        "h @ W (W's 1st axis)": lambda h, w: h @ w,
    }

    def loop(matmul):
        def run(w, h):  # (H, H), (B, H) -> (B, H)
            return lax.fori_loop(0, KERNEL_STEPS, lambda _, h: jnp.tanh(matmul(h, w)), h, unroll=8)

        return jax.jit(run)

    rng = np.random.default_rng(0)
    w = jnp.asarray((rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)).astype(np.float32))
    calls = {}
    for batch in batches:
        h = jnp.ones((batch, hidden), jnp.float32)
        for form, matmul in forms.items():
            fn = loop(matmul)
            fn(w, h).block_until_ready()  # compile
            calls[(batch, form)] = lambda fn=fn, h=h: fn(w, h).block_until_ready()
    seconds = side_by_side(calls, rounds, KERNEL_STEPS)
    for batch in batches:
        cells = (f"{form} {statistics.median(seconds[(batch, form)]) * 1e9:.0f}" for form in forms)
        print(f"H={hidden:<4} B={batch:<4} ns per step | " + " | ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_point_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kernels", action="store_true", help="time the recurrence's matmul alone (see above)")
    args = parser.parse_args(argv)

    from impls import jax_common

    jax_common.set_xla_threads(args.threads)
    if args.kernels:
        for hidden in args.hidden:
            kernels(hidden, args.batch, args.rounds)
        return
    print(f"V={SYNTH_VOCAB} C={SYNTH_CLASSES} T={args.seq_len} threads={args.threads}, median of {args.rounds} rounds")
    for hidden in args.hidden:
        for batch in args.batch:
            n = max(8, args.records // batch)
            calls = contenders(hidden, batch, args.seq_len, n)
            seconds = side_by_side(calls, args.rounds, n * batch)
            line = [f"H={hidden:<4} B={batch:<4}"]
            for name, values in seconds.items():
                line.append(f"{name} {statistics.median(values) * 1e6:.2f}")
            for kind in ("step", "epoch"):
                line.append(f"{kind} ratio {ratio(seconds, f'jax-scan {kind}', f'hand {kind}'):.3f}")
            print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
