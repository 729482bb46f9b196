"""Classify MNIST digits by reading each image as a sequence of its rows.

Geron's setup (Hands-On Machine Learning, ch. 14): a 28x28 digit is 28 time steps of 28
pixels; an RNN of 150 tanh units reads them and a dense layer on the last state h(28) gives
10 logits (``nn.SeqToVec``)::

    h(t) = tanh(b + h(t-1) W + x(t) U),    o = c + h(28) V,    L = cross-entropy(softmax(o), label)

trained with Adam (lr 1e-3) on batches of 150, on the 5,000 bundled digits split 4,000 for
training and 1,000 for testing (seed 42). The loop is the library's (``tinygrad_rnn.training``);
this script only prints, per epoch, the mean training loss, the test accuracy and the time.

Run: python examples/row_mnist.py [--epochs 10] [--hidden 150] [--dtype float32]
(set OMP_NUM_THREADS=1 on a busy machine: small matmuls gain little from more BLAS threads)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from tinygrad_rnn import optim
from tinygrad_rnn.training import Progress, TrainConfig, batches, evaluate, load_split, make_model, train_epoch


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

    config = TrainConfig(hidden=args.hidden, epochs=args.epochs, batch=args.batch, seed=args.seed, dtype=args.dtype)
    try:
        config.check()
    except ValueError as e:
        parser.error(str(e))
    x_train, y_train, x_test, y_test = load_split(config)
    if args.train_size is not None:
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    model = make_model(config, input_size=x_train.shape[2])
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    print(f"{len(x_train):,} training and {len(x_test):,} test digits, each 28 steps of 28 pixels")
    print(f"{model}, {config.dtype}, Adam lr {config.lr:g}, batch {config.batch}")

    history = []
    for epoch in range(1, config.epochs + 1):
        progress = Progress(epoch=epoch)
        started = time.perf_counter()
        order = batches(len(x_train), config.batch, config.seed, epoch)
        train_epoch(model, optimizer, x_train, y_train, order, progress)
        seconds = time.perf_counter() - started
        accuracy = evaluate(model, x_test, y_test)
        loss = progress.loss_sum / progress.seen
        history.append({"epoch": epoch, "train_loss": loss, "test_accuracy": accuracy, "seconds": seconds})
        print(f"epoch {epoch:3d}   train loss {loss:.4f}   test accuracy {accuracy:.4f}   {seconds:6.2f} s")
    return history


if __name__ == "__main__":
    main()
