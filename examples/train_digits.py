"""Train a LeNet-style network on scikit-learn's handwritten digits with convreg.nn.

    python examples/train_digits.py                 # cython backend, seed 0
    python examples/train_digits.py --plot out/     # also save loss.png and kernels.png

The digits (1797 images of 8x8 pixels, 10 classes) ship inside
scikit-learn, so nothing is downloaded. The network is the chapter's pattern,
convolution, ReLU, pooling, twice, then dense layers; every convolution and
pooling, forward and backward, runs on the chosen convreg backend. A run is
reproducible from its seed. Needs ``pip install "convreg[examples]"``.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import convreg
from convreg import nn


def lenet(rng: np.random.Generator, backend: str | None) -> nn.Sequential:
    """1x8x8 -> conv 16 (3x3, pad 1) -> pool -> conv 32 (3x3, pad 1) -> pool -> 128 -> 10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng, backend=backend), nn.ReLU(),
        nn.MaxPool2d(2, backend=backend),                                    # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1, rng=rng, backend=backend), nn.ReLU(),
        nn.MaxPool2d(2, backend=backend),                                    # 32 x 2 x 2
        nn.Flatten(),
        nn.Linear(128, 128, rng=rng), nn.ReLU(), nn.Dropout(0.2, rng=rng),
        nn.Linear(128, 10, rng=rng),
    )


def load(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    return tuple(train_test_split(X, digits.target, test_size=0.2, random_state=seed,
                                  stratify=digits.target))


def accuracy(net: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    net.eval()
    predicted = np.concatenate([net(X[i:i + 256]).argmax(axis=1) for i in range(0, len(X), 256)])
    net.train()
    return float((predicted == y).mean())


def train(epochs: int = 12, batch_size: int = 32, lr: float = 0.05, seed: int = 0,
          backend: str | None = "cython", progress: bool = True) -> dict:
    """Train and return the history: per-step losses, per-epoch test accuracy, the net."""
    from tqdm.auto import tqdm

    X_train, X_test, y_train, y_test = load(seed)
    rng = np.random.default_rng(seed)
    net = lenet(rng, backend)
    loss_fn = nn.CrossEntropyLoss()
    opt = nn.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    history: dict = {"loss": [], "test_accuracy": [], "net": net}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        opt.lr = lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / epochs))  # cosine decay
        order = rng.permutation(len(X_train))
        batches = range(0, len(order), batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch:2d}/{epochs}", unit="batch", leave=False,
                   disable=None if progress else True)  # a bar on a terminal only
        for i in bar:
            idx = order[i:i + batch_size]
            loss = loss_fn(net(X_train[idx]), y_train[idx])
            opt.zero_grad()
            net.backward(loss_fn.backward())
            opt.step()
            history["loss"].append(loss)
            bar.set_postfix(loss=f"{loss:.3f}")
        acc = accuracy(net, X_test, y_test)
        history["test_accuracy"].append(acc)
        if progress:
            tqdm.write(f"epoch {epoch:2d}: loss {np.mean(history['loss'][-len(batches):]):.4f}, "
                       f"test accuracy {acc:.2%}")
    history["seconds"] = time.perf_counter() - start
    return history


def figures(history: dict) -> dict:
    """Matplotlib figures of a run: "loss" (every step's loss and the test accuracy after
    every epoch) and "kernels" (the first layer's learned 3x3 kernels, one colour scale)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(history["loss"], lw=0.8)
    left.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="training loss")
    epochs = np.arange(1, len(history["test_accuracy"]) + 1)
    right.plot(epochs, 100 * np.array(history["test_accuracy"]), "o-")
    right.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy on held-out digits")
    fig.tight_layout()
    kernels = history["net"][0].weight.data[:, 0]
    limit = float(np.abs(kernels).max())
    kfig, axes = plt.subplots(2, len(kernels) // 2, figsize=(len(kernels) // 2 * 1.25, 3.2))
    for k, ax in zip(kernels, axes.ravel()):
        image = ax.imshow(k, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    kfig.suptitle("learned first-layer 3x3 kernels")
    kfig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    return {"loss": fig, "kernels": kfig}


def plot(history: dict, directory: pathlib.Path) -> list[pathlib.Path]:
    """Save the figures of :func:`figures` as loss.png and kernels.png in ``directory``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures(history).items():
        paths.append(directory / f"{name}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="cython",
                        help="convreg backend for the convolutions and pooling (default cython)")
    parser.add_argument("--plot", type=pathlib.Path, help="save loss.png and kernels.png here")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no per-epoch lines: the result only")
    args = parser.parse_args(argv)
    history = train(args.epochs, args.batch_size, args.lr, args.seed, args.backend,
                    progress=not args.quiet)
    epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
    print(f"test accuracy {history['test_accuracy'][-1]:.2%} after {epochs} "
          f"in {history['seconds']:.1f} s on backend {args.backend!r} "
          f"({convreg.get_num_threads()} threads)")
    if args.plot:
        for path in plot(history, args.plot):
            print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
