"""Check an installed convreg against the source tree it was built from.

Every file under src/convreg that the package needs at run time (Python
modules, type stubs, py.typed, the CUDA sources the cupy backend reads) must
be installed: meson.build lists them by hand, and a forgotten one would work
in a developer's editable install and fail only on a user's machine. The
compiled kernels must import, and the version must be meson.build's.

Usage: python .ci/check_installed.py SOURCE_ROOT   (run outside the checkout)
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import sys

RUNTIME = {".py", ".pyi", ".cu", ".typed"}
BUILD_ONLY = {"_version.pyi"}  # the stub of the file meson writes; the .py is installed


def main(root: pathlib.Path) -> int:
    import convreg
    from convreg._cy import _conv, _corr2d, _implicit_gemm, _openmp, _pool  # noqa: F401

    src = root / "src" / "convreg"
    installed = pathlib.Path(convreg.__file__).parent
    if installed.resolve().is_relative_to(src.resolve()):
        print(f"convreg was imported from the source tree ({installed}), not an install")
        return 1
    wanted = {p.relative_to(src) for p in src.rglob("*")
              if p.suffix in RUNTIME and p.name not in BUILD_ONLY}
    missing = sorted(str(p) for p in wanted if not (installed / p).is_file())
    if missing:
        print("not installed (add them to meson.build's install_sources):\n  " + "\n  ".join(missing))
        return 1
    meson = (root / "meson.build").read_text()
    version = re.search(r"version\s*:\s*'([^']+)'", meson)
    expected = version.group(1) if version else "?"
    found = {convreg.__version__, importlib.metadata.version("convreg")}
    if found != {expected}:
        print(f"version mismatch: meson.build says {expected}, the install says {sorted(found)}")
        return 1
    print(f"convreg {expected}: {len(wanted)} run-time files installed in {installed}; kernels import")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
