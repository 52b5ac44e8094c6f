# _version.py is written by meson at build time from _version.py.in; this stub
# lets type checkers read the source tree, where that file does not exist.
__version__: str
