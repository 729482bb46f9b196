"""Karpathy's min-char-rnn on the engine: a character-level language model of the Zen of Python.

The text is PEP 20 as ``import this`` prints it (856 characters, 45 distinct). One-hot
characters (batch 1) go into a 100-unit tanh RNN with a softmax output over the vocabulary;
the loss of a chunk of 25 characters is the sum over its steps of the cross-entropy of the
next character. As in min-char-rnn: Adagrad with lr 0.1, every gradient entry clipped to
[-5, 5], the hidden state carried from chunk to chunk but detached (truncated BPTT: gradients
stop at the chunk boundary), state reset when the text starts over, and the smoothed loss
0.999 * smooth + 0.001 * loss starting at -log(1 / vocab) * 25 (a uniform guess, 95.2).
After 5,000 iterations it is 9.9 to 18.9 over seeds 0-9 (15.6 for the default seed 0).

The engine and the numpy loop compute the same thing in a different order (rows vs columns),
so they agree to the last bits only at first: Adagrad's g / sqrt(mem + 1e-8) has slope 1e4
at g = 0, which magnifies those bits in the entries whose gradient is near zero (the loss
difference grows about tenfold per iteration from 1e-14), and after a few hundred iterations
the two are different runs of the same algorithm (seed 0: engine 15.6, numpy loop 11.2).
With 16 hidden units they stay within 1e-9 for 40 iterations (tests/test_examples.py).

Initialisation is min-char-rnn's, not the library's default (Glorot, orthogonal W): weights
randn * 0.01, biases zero. min-char-rnn writes column vectors (Wxh of shape (hidden, vocab)); we write rows
(``h W + x U``), so U, W, V hold the transposes of Wxh, Whh, Why drawn from the same seed.

``--numpy-reference`` also runs min-char-rnn's own hand-written numpy loop from the same
initial weights, in lockstep, and prints both smoothed losses and the time per iteration.

Run: python examples/char_rnn.py [--iterations 5000] [--numpy-reference]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np

from tinygrad_rnn import Tensor, nn, no_grad, optim
from tinygrad_rnn import data as datasets
from tinygrad_rnn import functional as F


def chunks(ids: np.ndarray, seq_length: int) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """(inputs, next characters, start over?) for consecutive chunks, forever, as min-char-rnn walks the text."""
    p = 0
    while True:
        yield ids[p : p + seq_length], ids[p + 1 : p + seq_length + 1], p == 0
        p += seq_length
        if p + seq_length + 1 >= len(ids):
            p = 0


class EngineCharRNN:
    """The model on the engine: nn.RNN (U, W, b) and nn.Linear (V, c); BPTT is ``loss.backward()``."""

    def __init__(self, init: dict[str, np.ndarray], lr: float) -> None:
        hidden, vocab = init["Wxh"].shape
        self.rnn, self.head = nn.RNN(vocab, hidden), nn.Linear(hidden, vocab)
        for p, w in ((self.rnn.U, init["Wxh"]), (self.rnn.W, init["Whh"]), (self.head.V, init["Why"])):
            p.data[...] = w.T
        self.params = [*self.rnn.parameters(), *self.head.parameters()]
        self.optimizer = optim.Adagrad(self.params, lr=lr)
        self.onehot = np.eye(vocab)
        self.h: Tensor | None = None

    def step(self, inputs: np.ndarray, targets: np.ndarray, start_over: bool) -> float:
        hs, h_last = self.rnn(self.onehot[inputs][:, None, :], None if start_over else self.h)
        loss = F.sequence_loss([self.head(h) for h in hs], targets[:, None])  # summed over the 25 steps
        self.optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_value(self.params, 5.0)
        self.optimizer.step()
        self.h = h_last.detach()  # the next chunk starts here, but its gradient stops here
        return loss.item()

    @no_grad()
    def sample(self, first: int, length: int, rng: np.random.Generator) -> list[int]:
        """Characters drawn one at a time from softmax(o(t)), each fed back as the next input."""
        h, ix, out = Tensor(np.zeros((1, self.rnn.hidden_size))), first, []
        for _ in range(length):
            h = self.rnn.cell(Tensor(self.onehot[ix][None]), h)
            ix = int(rng.choice(len(self.onehot), p=F.softmax(self.head(h)).data[0]))
            out.append(ix)
        return out


class NumpyMinCharRNN:
    """min-char-rnn's loss, hand-written BPTT and Adagrad, column vectors, in plain numpy."""

    def __init__(self, init: dict[str, np.ndarray], lr: float) -> None:
        self.p = {k: v.copy() for k, v in init.items()}
        self.mem = {k: np.zeros_like(v) for k, v in init.items()}
        self.lr, self.h = lr, np.zeros_like(init["bh"])

    def step(self, inputs: np.ndarray, targets: np.ndarray, start_over: bool) -> float:
        Wxh, Whh, Why, bh, by = (self.p[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
        xs, hs, ps, loss = {}, {-1: np.zeros_like(bh) if start_over else self.h}, {}, 0.0
        for t, (i, j) in enumerate(zip(inputs, targets, strict=True)):
            xs[t] = np.zeros((Wxh.shape[1], 1))
            xs[t][i] = 1
            hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
            y = Why @ hs[t] + by
            ps[t] = np.exp(y) / np.sum(np.exp(y))
            loss -= np.log(ps[t][j, 0])
        d = {k: np.zeros_like(v) for k, v in self.p.items()}
        dh_next = np.zeros_like(bh)
        for t in reversed(range(len(inputs))):
            dy = ps[t].copy()
            dy[targets[t]] -= 1
            d["Why"] += dy @ hs[t].T
            d["by"] += dy
            da = (1 - hs[t] * hs[t]) * (Why.T @ dy + dh_next)
            d["bh"] += da
            d["Wxh"] += da @ xs[t].T
            d["Whh"] += da @ hs[t - 1].T
            dh_next = Whh.T @ da
        for k, g in d.items():
            np.clip(g, -5, 5, out=g)
            self.mem[k] += g * g
            self.p[k] -= self.lr * g / np.sqrt(self.mem[k] + 1e-8)
        self.h = hs[len(inputs) - 1]
        return float(loss)


def initial_weights(hidden: int, vocab: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """min-char-rnn's initialisation, in its column-vector shapes: weights randn * 0.01, biases 0."""
    H, V = hidden, vocab
    init = {k: rng.standard_normal(s) * 0.01 for k, s in (("Wxh", (H, V)), ("Whh", (H, H)), ("Why", (V, H)))}
    return init | {"bh": np.zeros((H, 1)), "by": np.zeros((V, 1))}


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, printing the smoothed loss; returns it by iteration, the times and the sample."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="chunks to train on (default 5000)")
    parser.add_argument("--print-every", type=int, default=500, help="iterations between reports (default 500)")
    parser.add_argument("--hidden", type=int, default=100, help="hidden units (default 100)")
    parser.add_argument("--seq-length", type=int, default=25, help="steps per chunk = truncation (default 25)")
    parser.add_argument("--lr", type=float, default=0.1, help="Adagrad learning rate (default 0.1)")
    parser.add_argument("--sample-length", type=int, default=200, help="characters to generate (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--numpy-reference", action="store_true", help="also run min-char-rnn's numpy loop")
    args = parser.parse_args(argv)

    text = datasets.zen_of_python()
    chars, index = datasets.char_vocab(text)
    ids = np.array([index[ch] for ch in text])
    rng = np.random.default_rng(args.seed)
    H, V = args.hidden, len(chars)
    init = initial_weights(H, V, rng)
    models = {"engine": EngineCharRNN(init, args.lr)}
    if args.numpy_reference:
        models["numpy"] = NumpyMinCharRNN(init, args.lr)
    print(f"{len(text)} characters, vocabulary {V}, {H} hidden units, chunks of {args.seq_length}")

    smooth = dict.fromkeys(models, -np.log(1.0 / V) * args.seq_length)
    seconds, history = dict.fromkeys(models, 0.0), {}
    for n, chunk in enumerate(islice(chunks(ids, args.seq_length), args.iterations)):
        for name, model in models.items():  # in lockstep, so both see the same machine load
            started = time.perf_counter()
            loss = model.step(*chunk)
            seconds[name] += time.perf_counter() - started
            smooth[name] = 0.999 * smooth[name] + 0.001 * loss
        if n % args.print_every == 0 or n == args.iterations - 1:
            history[n] = dict(smooth)
            print(f"iter {n:6d}   smoothed loss " + "   ".join(f"{k} {v:7.3f}" for k, v in smooth.items()))

    per_iter = {k: v / args.iterations for k, v in seconds.items()}
    print("time per iteration: " + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in per_iter.items()))
    if args.numpy_reference:
        print(f"engine / numpy: {per_iter['engine'] / per_iter['numpy']:.2f}x")
    sample = "".join(chars[i] for i in models["engine"].sample(ids[0], args.sample_length, rng))
    print(f"\nsample from the engine's model, starting after {chars[ids[0]]!r}:\n{sample}")
    return {"history": history, "seconds_per_iteration": per_iter, "sample": sample}


if __name__ == "__main__":
    main()
