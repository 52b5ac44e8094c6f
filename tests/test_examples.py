"""The examples run from a fresh install and print what the chapter prints."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from conftest import implementing

ROOT = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str, cwd=None) -> str:
    out = subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True,
                         text=True, timeout=600, cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_corr2d_and_edges():
    text = run("chapter/corr2d_and_edges.py")
    assert "[[19. 25.]\n [37. 43.]]" in text and "[ 0.  1.  0.  0.  0. -1.  0.]" in text


def test_learn_kernel_prints_the_loss_every_two_steps_and_lands_near_the_truth():
    text = run("chapter/learn_kernel.py")
    losses = [float(line.split("loss ")[1]) for line in text.splitlines() if "loss" in line]
    assert len(losses) == 5 and losses == sorted(losses, reverse=True) and losses[-1] < 0.05
    k = [float(v) for v in text.split("[[")[1].split("]]")[0].split()]
    assert abs(k[0] - 1) < 0.05 and abs(k[1] + 1) < 0.05


def test_learn_kernel_with_torch_autograd_on_each_backend():
    pytest.importorskip("torch", reason="the torch example needs PyTorch (pip install torch)")
    for backend in implementing("conv2d_grad_weight"):
        text = run("chapter/learn_kernel_torch.py", "--backend", backend)
        losses = [float(line.split("loss ")[1]) for line in text.splitlines() if "loss" in line]
        assert len(losses) == 5 and losses == sorted(losses, reverse=True) and losses[-1] < 0.05
        k = [float(v) for v in text.split("[[")[1].split("]]")[0].split()]
        assert abs(k[0] - 1) < 0.05 and abs(k[1] + 1) < 0.05, text


def test_padding_and_stride():
    text = run("chapter/padding_and_stride.py")
    for shape in ("(8, 8) (formula: (8, 8))", "(4, 4) (formula: (4, 4))",
                  "(2, 2) (formula: (2, 2))"):
        assert shape in text


def test_channels_and_pooling():
    assert "True" in run("chapter/channels.py")
    text = run("chapter/pooling.py")
    assert "[[4. 5.]\n  [7. 8.]]" in text and "[[2. 3.]\n  [5. 6.]]" in text


def test_vgg11_shape_walk():
    text = run("chapter/vgg.py")
    shapes = [line.split(": ")[1] for line in text.splitlines() if line.startswith("Sequential")]
    assert shapes == ["(1, 64, 112, 112)", "(1, 128, 56, 56)", "(1, 256, 28, 28)",
                      "(1, 512, 14, 14)", "(1, 512, 7, 7)"]
    assert text.rstrip().endswith("(1, 10)")


def test_lenet_shape_walk():
    text = run("chapter/lenet.py")
    assert "AvgPool2d  output shape: (1, 16, 5, 5)" in text and "(1, 10)" in text


def test_digits_training_reaches_97_percent_and_plots(tmp_path):
    text = run("train_digits.py", "--plot", str(tmp_path))
    accuracy = float(text.split("test accuracy ")[-1].split("%")[0])
    assert accuracy >= 97.0, text
    assert "epoch 12" in text
    for name in ("loss.png", "kernels.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
