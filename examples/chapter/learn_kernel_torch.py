"""
Learning the kernel with PyTorch autograd
=========================================

The edge kernel learned with PyTorch's autograd and optimiser, on convreg's kernels.

Run it on its own with::

    python examples/chapter/learn_kernel_torch.py [--backend NAME]

The chapter's loop as the chapter writes it in PyTorch: ``loss.backward()``
and ``torch.optim.SGD``. ``convreg.torch.Conv2d`` is ``torch.nn.Conv2d``
whose forward and backward run on a convreg backend (``pip install
"convreg[torch]"``).
"""

import argparse

import torch

import convreg.torch as ct

parser = argparse.ArgumentParser(
    description="The chapter's kernel-learning loop in PyTorch, on convreg's kernels.")
parser.add_argument("--backend", default=None, help="convreg backend (default: automatic)")
args = parser.parse_args()

X = torch.ones(6, 8)
X[:, 2:6] = 0
K = torch.tensor([[1.0, -1.0]])
Y = ct.corr2d(X, K)  # the edges: 1 where white turns black, -1 where black turns white
X, Y = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)

torch.manual_seed(0)
conv = ct.Conv2d(1, 1, kernel_size=(1, 2), bias=False, backend=args.backend)
optimizer = torch.optim.SGD(conv.parameters(), lr=3e-2)
for i in range(10):
    loss = ((conv(X) - Y) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()  # convreg's conv2d_grad_weight, through torch.library's autograd
    optimizer.step()
    if (i + 1) % 2 == 0:
        print(f"epoch {i + 1}, loss {loss.item():.3f}")
print("learned kernel:", conv.weight.data.reshape(1, 2).numpy())
