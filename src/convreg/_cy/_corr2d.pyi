from ._typing import Array

def corr2d_valid(X: Array, K: Array, Y: Array, num_threads: int) -> None: ...

TINY_MAX_WORK: int

def corr2d_tiny(X: Array, K: Array, Y: Array) -> None: ...
