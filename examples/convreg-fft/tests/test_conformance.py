"""convreg's conformance suite on this backend: one line."""

from convreg.testing import conformance_tests

globals().update(conformance_tests("fft"))
