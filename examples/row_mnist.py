"""Classify MNIST digits by reading each image as a sequence of its rows.

Geron's setup (Hands-On Machine Learning, ch. 14): a 28x28 digit is 28 time steps of 28
pixels; an RNN of 150 tanh units reads them and a dense layer on the last state h(28) gives
10 logits (``nn.SeqToVec``)::

    h(t) = tanh(b + h(t-1) W + x(t) U),    o = c + h(28) V,    L = cross-entropy(softmax(o), label)

trained with Adam (lr 1e-3) on batches of 150, on the 5,000 bundled digits split 4,000 for
training and 1,000 for testing (seed 42). The model, the loss and the accuracy are written out
below; the epochs, the shuffling and the progress line are the loop the command and the examples share,
``tinygrad_rnn.app.training.fit``, which prints one line per epoch.

Run: python examples/row_mnist.py [--epochs 10] [--hidden 150] [--dtype float32]
(set OMP_NUM_THREADS=1 on a busy machine: small matmuls gain little from more BLAS threads)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from tinygrad_rnn import data, nn, optim
from tinygrad_rnn import functional as F
from tinygrad_rnn.app.training import fit


def loss(model: nn.SeqToVec, images: np.ndarray, labels: np.ndarray):
    """Cross-entropy of the scores after the last row; images (B, 28, 28) become 28 steps."""
    return F.cross_entropy(model(images.transpose(1, 0, 2)), labels)


def accuracy(model: nn.SeqToVec, images: np.ndarray, labels: np.ndarray) -> float:
    scores = model(images.transpose(1, 0, 2)).data
    return float((scores.argmax(axis=1) == labels).mean())


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Train and print one line per epoch; returns the per-epoch numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set (default 10)")
    parser.add_argument("--hidden", type=int, default=150, help="recurrent tanh units (default 150)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--batch", type=int, default=150, help="examples per Adam step (default 150)")
    parser.add_argument("--seed", type=int, default=42, help="split, initialisation and shuffling (default 42)")
    parser.add_argument("--train-size", type=int, default=None, help="use only the first N training digits")
    args = parser.parse_args(argv)

    images, labels = data.mnist5k()
    x_train, x_test, y_train, y_test = data.train_test_split(images.astype(args.dtype), labels, seed=args.seed)
    if args.train_size is not None:
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    model = nn.SeqToVec(28, args.hidden, 10, dtype=args.dtype, seed=args.seed)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    print(f"{len(x_train):,} training and {len(x_test):,} test digits, each 28 steps of 28 pixels")
    print(f"{model}, {args.dtype}, Adam lr 1e-3, batch {args.batch}")
    return fit(
        model,
        optimizer,
        loss,
        (x_train, y_train),
        epochs=args.epochs,
        batch_size=args.batch,
        seed=args.seed,
        evaluate=lambda m: {"test_accuracy": accuracy(m, x_test, y_test)},
        stream=sys.stdout,
    )


if __name__ == "__main__":
    main()
