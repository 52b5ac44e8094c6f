"""Record PyTorch's answers for convreg's layer ops as test vectors.

Run with PyTorch installed (``pip install torch``) to regenerate
``data/torch_vectors.npz``; ``test_torch_vectors.py`` then checks every
backend against these recorded outputs without needing PyTorch. Inputs are
seeded float64 arrays, so the file is reproducible.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

CONV_CASES = [
    dict(x=(2, 4, 9, 8), w=(6, 2, 3, 3), stride=1, padding=1, dilation=1, groups=2, bias=True),
    dict(x=(1, 3, 10, 11), w=(4, 3, 3, 2), stride=(2, 3), padding=(1, 0), dilation=1, groups=1, bias=False),
    dict(x=(2, 2, 12, 12), w=(2, 2, 3, 3), stride=1, padding=2, dilation=(2, 3), groups=1, bias=True),
    dict(x=(1, 3, 7, 8), w=(3, 1, 4, 2), stride=1, padding="same", dilation=1, groups=3, bias=True),
    dict(x=(1, 2, 7, 8), w=(2, 2, 2, 4), stride=1, padding="same", dilation=(2, 1), groups=1, bias=False),
    dict(x=(3, 5, 6, 6), w=(7, 5, 1, 1), stride=2, padding=0, dilation=1, groups=1, bias=True),
    dict(x=(1, 1, 6, 8), w=(1, 1, 1, 2), stride=1, padding="valid", dilation=1, groups=1, bias=False),
]
POOL_CASES = [
    dict(x=(2, 3, 7, 9), k=3, stride=2, padding=1, dilation=1, ceil_mode=False),
    dict(x=(1, 2, 8, 7), k=(2, 3), stride=(2, 2), padding=(1, 1), dilation=1, ceil_mode=True),
    dict(x=(1, 2, 10, 9), k=3, stride=2, padding=0, dilation=1, ceil_mode=True),
    dict(x=(1, 1, 5, 5), k=2, stride=3, padding=1, dilation=1, ceil_mode=True),
    dict(x=(2, 2, 9, 10), k=(3, 2), stride=1, padding=(1, 0), dilation=(2, 3), ceil_mode=False),
    dict(x=(1, 3, 11, 8), k=3, stride=(3, 2), padding=1, dilation=2, ceil_mode=True),
]


def main() -> None:
    rng = np.random.default_rng(2026)
    out: dict[str, np.ndarray] = {}
    for i, c in enumerate(CONV_CASES):
        x = torch.tensor(rng.standard_normal(c["x"]), requires_grad=True)
        w = torch.tensor(rng.standard_normal(c["w"]), requires_grad=True)
        b = torch.tensor(rng.standard_normal(c["w"][0]), requires_grad=True) if c["bias"] else None
        y = F.conv2d(x, w, b, stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                     groups=c["groups"])
        g = torch.tensor(rng.standard_normal(tuple(y.shape)))
        y.backward(g)
        for key, val in dict(x=x, w=w, y=y, g=g, dx=x.grad, dw=w.grad).items():
            out[f"conv{i}_{key}"] = val.detach().numpy()
        if b is not None:
            out[f"conv{i}_b"] = b.detach().numpy()
            out[f"conv{i}_db"] = b.grad.numpy()
    for i, c in enumerate(POOL_CASES):
        # distinct values, so the maximum of each window is unique
        x0 = rng.permutation(int(np.prod(c["x"]))).reshape(c["x"]).astype(np.float64)
        x = torch.tensor(x0, requires_grad=True)
        y = F.max_pool2d(x, c["k"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"])
        g = torch.tensor(rng.standard_normal(tuple(y.shape)))
        y.backward(g)
        out.update({f"max{i}_x": x0, f"max{i}_y": y.detach().numpy(), f"max{i}_g": g.numpy(),
                    f"max{i}_dx": x.grad.numpy()})
        if c["dilation"] == 1:
            for include in (True, False):
                x = torch.tensor(x0, requires_grad=True)
                y = F.avg_pool2d(x, c["k"], c["stride"], c["padding"], c["ceil_mode"], include)
                g = torch.tensor(rng.standard_normal(tuple(y.shape)))
                y.backward(g)
                tag = f"avg{i}_{int(include)}"
                out.update({f"{tag}_y": y.detach().numpy(), f"{tag}_g": g.numpy(),
                            f"{tag}_dx": x.grad.numpy()})
    out["cases"] = np.array(json.dumps(dict(conv=CONV_CASES, pool=POOL_CASES,
                                            torch=torch.__version__)))
    np.savez_compressed(pathlib.Path(__file__).parent / "data" / "torch_vectors.npz", **out)


if __name__ == "__main__":
    main()
