"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["convreg", "convreg.correlate", "convreg.conv", "convreg.pool", "convreg.shapes",
           "convreg.registry", "convreg.threads", "convreg.nn", "convreg.nn.layers",
           "convreg.nn.loss", "convreg.nn.module", "convreg.nn.optim", "convreg.plugins.cupy",
           "convreg.torch", "convreg.planner"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "convreg.torch":
        pytest.importorskip("torch", reason="convreg.torch needs PyTorch: pip install torch")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
