"""``python -m convreg`` (and the ``convreg`` console script)."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
