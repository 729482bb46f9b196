"""The ``tinygrad-rnn`` command.

    tinygrad-rnn train --data mnist5k --hidden 150 --epochs 10 --batch 150 --lr 0.001 --seed 42 --out DIR

User errors (bad arguments, unreadable data, an unwritable directory, a checkpoint that does not
fit) print one line and exit non-zero, never a traceback: 2 for bad arguments, 1 for the rest,
130 for Ctrl-C (after saving a checkpoint).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import TinygradRNNError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not the whole usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinygrad-rnn", description="Train recurrent networks and draw backpropagation through time.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train",
        help="train the row-sequence classifier (each image read row by row)",
        description="Train an RNN that reads each 28x28 digit as 28 steps of 28 pixels (SeqToVec, Adam).",
    )
    train.add_argument("--data", default="mnist5k", help="'mnist5k' (bundled, 4,000/1,000 split) or a directory "
                       "with the MNIST IDX files (default: mnist5k)")  # fmt: skip
    train.add_argument("--hidden", type=_positive_int, default=150, help="recurrent units (default 150)")
    train.add_argument("--epochs", type=_positive_int, default=10, help="passes over the training set (default 10)")
    train.add_argument("--batch", type=_positive_int, default=150, help="mini-batch size (default 150)")
    train.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate (default 0.001)")
    train.add_argument("--seed", type=int, default=42, help="seed of the split, the init and the shuffles")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="default float32")
    train.add_argument("--clip", type=_positive_float, default=None, help="clip the gradient norm to this value")
    train.add_argument("--out", required=True, help="directory for metrics.json and checkpoint.npz")
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    return parser


def _train(args: argparse.Namespace) -> int:
    from .training import TrainConfig, train

    config = TrainConfig(
        data=args.data,
        hidden=args.hidden,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        dtype=args.dtype,
        clip=args.clip,
    )
    epochs = train(config, args.out, resume=args.resume)
    if epochs:
        last = epochs[-1]
        print(
            f"epoch {last['epoch']}: train loss {last['train_loss']:.4f}, test accuracy "
            f"{last['test_accuracy']:.4f}; metrics and checkpoint in {args.out}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .training import TrainingInterrupted

    try:
        return {"train": _train}[args.command](args)
    except TrainingInterrupted as e:
        print(f"tinygrad-rnn: {e}", file=sys.stderr)
        return 130
    except (TinygradRNNError, OSError, ValueError) as e:
        print(f"tinygrad-rnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tinygrad-rnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
