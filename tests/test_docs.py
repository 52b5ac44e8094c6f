"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["convreg", "convreg.correlate", "convreg.conv", "convreg.pool", "convreg.shapes",
           "convreg.registry", "convreg.threads", "convreg.nn", "convreg.nn.layers",
           "convreg.nn.loss", "convreg.nn.module", "convreg.nn.optim", "convreg.plugins.cupy",
           "convreg.torch", "convreg.planner", "convreg.bench"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "convreg.torch":
        pytest.importorskip("torch", reason="convreg.torch needs PyTorch: pip install torch")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_the_api_reference_lists_every_public_name():
    import pathlib

    import convreg
    import convreg.nn
    import convreg.testing

    docs = pathlib.Path(__file__).resolve().parents[1] / "docs"
    api = (docs / "api.rst").read_text()
    entries = {line.strip() for line in api.splitlines() if line.startswith("   ")}
    missing = [n for n in convreg.__all__ if n not in entries and n not in ("__version__",
                                                                            "planner")]
    missing += [f"nn.{n}" for n in convreg.nn.__all__ if n not in entries and n != "optim"]
    assert "optim.SGD" in entries
    assert not missing, f"docs/api.rst lacks {missing}"
    # convreg.torch's section is written by docs/conf.py; it names the module's every export.
    conf = (docs / "conf.py").read_text()
    torch_names = ["conv2d", "corr2d", "max_pool2d", "avg_pool2d", "Conv2d"]
    assert all(f"   {n}\n" in conf for n in torch_names)
    kit = [n for n in ("check", "conformance_tests", "CheckResult", "Failure", "applicable",
                       "kit_settings", "assert_close") if n not in entries]
    assert not kit, f"docs/api.rst lacks convreg.testing's {kit}"
