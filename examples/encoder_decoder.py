"""Sequence to sequence of another length: an encoder-decoder RNN learns to reverse a sequence.

The input is L random symbols (L from 2 to 6, one length per batch), one-hot; the output is
the same symbols in reverse order followed by an <end> symbol, L + 1 steps. An encoder RNN
reads the input and hands its last state to a decoder RNN, whose input at each step is the
previous output (``nn.EncoderDecoder``; Goodfellow et al., Deep Learning, sec. 10.4)::

    encoder  h(t) = tanh(b + h(t-1) W + x(t) U)                          t = 1 .. L
    decoder  s(k) = tanh(b' + s(k-1) W' + y(k-1) U'),  o(k) = c + s(k) V     k = 1 .. L + 1

In training the decoder is teacher-forced, fed the true y(k-1) (``targets=``); to evaluate, it
generates closed loop (``steps=``) from its own previous answer, the argmax made one-hot
again. The script prints, per input length, the accuracy at each output position and how
often the whole output is right, on held-out sequences. The decoder writes the last symbols
read first; the early ones must survive the whole trip through the fixed-size state.

Run: python examples/encoder_decoder.py [--steps 1500] [--symbols 6] [--hidden 64]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from tinygrad_rnn import Tensor, nn, no_grad, optim
from tinygrad_rnn import functional as F


def reverse_task(n: int, length: int, n_symbols: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One-hot inputs (L, n, symbols) and output codes (L + 1, n): reversed, then <end> = n_symbols."""
    codes = rng.integers(0, n_symbols, size=(length, n))
    end = np.full((1, n), n_symbols)
    return np.eye(n_symbols)[codes], np.concatenate([codes[::-1], end])


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, then print per-position accuracies; returns {length: (per position, whole sequence)}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps (default 1500)")
    parser.add_argument("--symbols", type=int, default=6, help="distinct input symbols (default 6)")
    parser.add_argument("--min-length", type=int, default=2, help="shortest input (default 2)")
    parser.add_argument("--max-length", type=int, default=6, help="longest input (default 6)")
    parser.add_argument("--hidden", type=int, default=64, help="units in each RNN (default 64)")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step (default 32)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.min_length <= args.max_length:
        parser.error("need 1 <= --min-length <= --max-length")

    n_out = args.symbols + 1  # the symbols and <end>
    onehot = np.eye(n_out)
    model = nn.EncoderDecoder(args.symbols, args.hidden, n_out, seed=args.seed)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    lengths = range(args.min_length, args.max_length + 1)
    print(f"reverse {lengths.start}-{lengths.stop - 1} of {args.symbols} symbols, then <end>: {model}")

    started, running = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        x, y = reverse_task(args.batch, int(rng.choice(lengths)), args.symbols, rng)
        loss = F.sequence_loss(model(x, targets=onehot[y]), y) / len(y)  # mean cross-entropy per output
        optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm(model.parameters(), 5.0)
        optimizer.step()
        running.append(loss.item())
        if step % max(1, args.steps // 5) == 0 or step == args.steps:
            elapsed = time.perf_counter() - started
            print(f"step {step:5d}   cross-entropy per output {np.mean(running):.4f}   {elapsed:5.1f} s")
            running = []

    def feed_back_argmax(o: Tensor) -> Tensor:
        return Tensor(onehot[o.data.argmax(axis=1)])

    print("\nclosed-loop accuracy on 500 held-out sequences per length, by output position")
    results = {}
    with no_grad():
        for length in lengths:
            x, y = reverse_task(500, length, args.symbols, np.random.default_rng([args.seed, length]))
            outputs = model(x, steps=len(y), feedback=feed_back_argmax)
            right = np.stack([o.data.argmax(axis=1) for o in outputs]) == y
            per_position, whole = right.mean(axis=1), right.all(axis=0).mean()
            results[length] = (per_position, whole)
            cells = " ".join(f"{a:5.2f}" for a in per_position)
            print(f"L={length}  positions 1..{length} then <end>: {cells}   whole output right: {whole:.2f}")
    return results


if __name__ == "__main__":
    main()
