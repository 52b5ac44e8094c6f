"""Dask arrays in, dask arrays out: convreg's ops as lazy, chunked computations.

The model is dask-image's ``ndfilters``: a chunk of the output needs its
chunk of the input plus a halo as wide as the kernel reaches, which
``map_overlap`` supplies; batched layer ops run chunk by chunk along the
batch with ``map_blocks``. Each chunk is an ordinary NumPy (or CuPy) array
and is computed by ``convreg``'s own front end, so it is dispatched by its
own type through the registry: NumPy chunks go to ``cython``, CuPy chunks to
``cupy``. The caller's backend selection (``backend=``, ``use_backend``,
``set_backend``, ``CONVREG_BACKEND``) is read when the graph is built and
passed to every chunk as an argument, because context variables do not
follow a task into a worker thread or process. Each chunk's kernel runs on
its worker's thread alone (``convreg.threads.limited(1)``): dask already
runs one chunk per core, and an OpenMP team per worker would oversubscribe.

Chunking rules: ``corr2d``/``convolve2d`` take any chunking (chunks smaller
than the halo are merged first); ``conv2d`` with stride 1 takes chunks along
the batch and along height and width; every other layer op takes chunks
along the batch (and, for pooling, the channels) and rechunks height and
width into one chunk, which the docstrings of the front ends state.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import registry
from ._arrays import compute_dtype
from .shapes import corr2d_padding

__all__ = ["is_dask", "corr2d", "convolve2d", "conv2d", "conv2d_grad_input",
           "conv2d_grad_weight", "pool", "pool_grad"]


def _one_thread(block: Any) -> Any:
    """Run a chunk's kernel on the worker's own thread: dask is the parallelism here."""
    @functools.wraps(block)
    def run(*args: Any, **kwargs: Any) -> Any:
        from .threads import limited

        with limited(1):
            return block(*args, **kwargs)

    return run


def is_dask(*objs: Any) -> bool:
    """True when any argument is a dask collection (checked by type, without importing dask)."""
    for o in objs:  # a loop, not any(genexpr): this runs on every call, tiny ones too
        if type(o) is not np.ndarray and o is not None \
                and type(o).__module__.partition(".")[0] == "dask":
            return True
    return False


def _da() -> Any:
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - a dask array implies dask is importable
        raise ImportError("dask arrays need dask: pip install 'convreg[dask]'") from exc
    return da


def _selection(op: str, backend: str | None, meta: Any) -> str | None:
    """The caller's backend choice, checked now against the chunks' type (``_meta``)."""
    name = backend if backend is not None else registry._requested()[0]
    registry.dispatch(op, name, type(meta))  # raises BackendError now, not in a worker
    return name


def _small(arr: Any, name: str, meta: Any) -> Any:
    """A small operand (kernel, weight, bias) as an in-memory array of the chunks' type."""
    if is_dask(arr):
        arr = arr.compute()
    if isinstance(meta, np.ndarray):
        return np.asarray(arr)
    if type(arr) is not type(meta):
        raise TypeError(f"{name} must be an array of the same type as the dask array's chunks "
                        f"({type(meta).__module__}.{type(meta).__name__}); got "
                        f"{type(arr).__module__}.{type(arr).__name__}")
    return arr


def _at_least(chunks: tuple[int, ...], size: int) -> tuple[int, ...]:
    """Chunks along one axis merged so that each (but a sole one) is at least ``size``."""
    out: list[int] = []
    for c in chunks:
        if out and out[-1] < size:
            out[-1] += c
        else:
            out.append(c)
    if len(out) > 1 and out[-1] < size:
        last = out.pop()
        out[-1] += last
    return tuple(out)


# -- single images --------------------------------------------------------


def _halo(x: Any, axes: tuple[int, int], reach: tuple[int, int], before: tuple[int, int],
          out_len: tuple[int, int], block: Any, out_chunks: dict[int, Any], dtype: Any) -> Any:
    """A windowed op with zero fill along two axes, chunk by chunk with a halo.

    Output position ``i`` along an axis reads the input from ``i - before``
    to ``i - before + reach`` (``reach = k_eff - 1``), zero outside the input.
    Every chunk is extended by a halo of ``depth`` on both sides (zeros beyond
    the array's edges, supplied by ``map_overlap``), ``block(ext)`` computes
    the op's valid outputs over the extended chunk, and the chunk's own
    outputs are cut from them, ``depth - before`` in. The last chunk along an
    axis also yields the outputs past the input's end ("full" mode, padded
    layers); the final slice drops those past ``out_len`` ("valid" mode).
    """
    def plan(x: Any) -> tuple[list[int], list[int]]:
        extra = [max(0, n - x.shape[a]) for a, n in zip(axes, out_len)]
        return extra, [max(b, r + e - b) for r, b, e in zip(reach, before, extra)]

    extra, depth = plan(x)
    short = {a: (0, d - x.shape[a]) for a, d in zip(axes, depth) if d > x.shape[a]}
    if short:  # a halo wider than the array: zeros at the end give it room (sliced off below)
        x = _da().pad(x, [short.get(a, (0, 0)) for a in range(x.ndim)])
        extra, depth = plan(x)
    x = x.rechunk({a: _at_least(x.chunks[a], d) for a, d in zip(axes, depth)})
    chunks = list(x.chunks)
    for a, e in zip(axes, extra):
        chunks[a] = chunks[a][:-1] + (chunks[a][-1] + e,)
    for a, c in out_chunks.items():
        chunks[a] = c

    def cut(ext: Any, block_info: Any = None) -> Any:
        location = block_info[0]["chunk-location"]
        numblocks = block_info[0]["num-chunks"]
        out = block(ext)
        index = [slice(None)] * out.ndim
        for a, d, b, e in zip(axes, depth, before, extra):
            own = ext.shape[a] - 2 * d + (e if location[a] == numblocks[a] - 1 else 0)
            index[a] = slice(d - b, d - b + own)
        return out[tuple(index)]

    y = x.map_overlap(cut, depth={a: d for a, d in zip(axes, depth)}, boundary=0, trim=False,
                      chunks=tuple(chunks), dtype=dtype, meta=x._meta.astype(dtype))
    index = [slice(None)] * y.ndim
    for a, n in zip(axes, out_len):
        index[a] = slice(0, n)
    return y[tuple(index)]


@_one_thread
def _corr2d_block(ext: Any, K: Any, backend: str | None) -> Any:
    from . import corr2d

    return corr2d(ext, K, backend=backend)


def _single(op: str, X: Any, K: Any, mode: str, backend: str | None) -> Any:
    from ._validate import check_mode

    da = _da()
    X = X if isinstance(X, da.Array) else da.asarray(X)
    mode = check_mode(mode)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D dask array; got {X.ndim}-D of shape {X.shape}")
    K = _small(K, "K", X._meta)
    if K.ndim != 2 or 0 in K.shape:
        raise ValueError(f"K must be a non-empty 2-D array; got shape {K.shape}")
    if mode == "valid" and (K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]):
        raise ValueError(f"{op}: kernel of shape {K.shape} is larger than the input of shape "
                         f"{X.shape}; mode='valid' needs kh <= height and kw <= width")
    dtype = compute_dtype(X=X._meta, K=K)
    name = _selection("corr2d", backend, X._meta)
    top, bottom, left, right = corr2d_padding(K.shape, mode)
    if op == "convolve2d":  # correlation with the kernel turned, padding mirrored
        K = K[::-1, ::-1]
        top, bottom, left, right = bottom, top, right, left
    K = K.astype(dtype, copy=True)
    kh, kw = K.shape
    out_len = (X.shape[0] + top + bottom - kh + 1, X.shape[1] + left + right - kw + 1)
    return _halo(X.astype(dtype), (0, 1), (kh - 1, kw - 1), (top, left), out_len,
                 functools.partial(_corr2d_block, K=K, backend=name), {}, dtype)


def corr2d(X: Any, K: Any, *, mode: str = "valid", backend: str | None = None) -> Any:
    return _single("corr2d", X, K, mode, backend)


def convolve2d(X: Any, K: Any, *, mode: str = "valid", backend: str | None = None) -> Any:
    return _single("convolve2d", X, K, mode, backend)


# -- layers ---------------------------------------------------------------------


def _batched(x: Any, name: str) -> Any:
    da = _da()
    x = x if isinstance(x, da.Array) else da.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must be a 4-D (N, C, H, W) dask array; got {x.ndim}-D of "
                         f"shape {x.shape} (unbatched input: add the batch axis with x[None])")
    return x


def _whole(x: Any, axes: tuple[int, ...]) -> Any:
    """``x`` with each of ``axes`` in one chunk (chunks along the others kept)."""
    return x.rechunk({a: -1 for a in axes}) if any(len(x.chunks[a]) > 1 for a in axes) else x


@_one_thread
def _conv_block(block: Any, w: Any, b: Any, kw: dict[str, Any]) -> Any:
    from . import conv2d as conv2d_

    return conv2d_(block, w, b, **kw)


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, *, backend: str | None = None) -> Any:
    from .conv import _problem

    x = _batched(x, "x")
    w = _small(weight, "weight", x._meta)
    b = None if bias is None else _small(bias, "bias", x._meta)
    dtype = compute_dtype(x=x._meta, weight=w, bias=b)
    p = _problem("conv2d", x.shape, w.shape, stride, padding, dilation, groups, dtype)
    name = _selection("conv2d", backend, x._meta)
    x = _whole(x.astype(dtype), (1,))
    w = w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    spatial = len(x.chunks[2]) > 1 or len(x.chunks[3]) > 1
    if spatial and p.stride == (1, 1):
        # a halo along height and width: each chunk is a valid convolution of
        # its extended block, the zero padding supplied by map_overlap's fill
        reach = tuple(d * (k - 1) for d, k in zip(p.dilation, w.shape[2:]))
        kw = dict(dilation=p.dilation, groups=p.groups, backend=name)
        block = functools.partial(_conv_block, w=w, b=b, kw=kw)
        return _halo(x, (2, 3), reach, (p.padding[0], p.padding[2]), p.y_shape[2:], block,
                     {1: (w.shape[0],)}, dtype)
    x = _whole(x, (2, 3))
    kw = dict(stride=p.stride, padding=padding, dilation=p.dilation, groups=p.groups,
              backend=name)
    return x.map_blocks(functools.partial(_conv_block, w=w, b=b, kw=kw),
                        chunks=(x.chunks[0], (w.shape[0],), (p.y_shape[2],), (p.y_shape[3],)),
                        dtype=dtype, meta=x._meta.astype(dtype))


@_one_thread
def _grad_input_block(g: Any, w: Any, chw: tuple[int, int, int], kw: dict[str, Any]) -> Any:
    from . import conv2d_grad_input as grad

    return grad(g, w, (g.shape[0], *chw), **kw)


def conv2d_grad_input(grad_output: Any, weight: Any, input_shape: Any, stride: Any = 1,
                      padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                      backend: str | None = None) -> Any:
    g = _whole(_batched(grad_output, "grad_output"), (1, 2, 3))
    w = _small(weight, "weight", g._meta)
    name = _selection("conv2d_grad_input", backend, g._meta)
    N, C, H, W = tuple(input_shape)
    if g.shape[0] != N:
        raise ValueError(f"grad_output has batch {g.shape[0]} but input_shape {tuple(input_shape)}")
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, backend=name)
    dtype = compute_dtype(grad_output=g._meta, weight=w)
    return g.map_blocks(functools.partial(_grad_input_block, w=w, chw=(C, H, W), kw=kw),
                        chunks=(g.chunks[0], (C,), (H,), (W,)), dtype=dtype,
                        meta=g._meta.astype(dtype))


@_one_thread
def _grad_weight_block(x: Any, g: Any, weight_shape: tuple[int, ...], kw: dict[str, Any]) -> Any:
    from . import conv2d_grad_weight as grad

    return grad(x, g, weight_shape, **kw)


def conv2d_grad_weight(x: Any, grad_output: Any, weight_shape: Any, stride: Any = 1,
                       padding: Any = 0, dilation: Any = 1, groups: int = 1, *,
                       backend: str | None = None) -> Any:
    x = _whole(_batched(x, "x"), (1, 2, 3))
    g = _batched(grad_output, "grad_output").rechunk({0: x.chunks[0], 1: -1, 2: -1, 3: -1})
    name = _selection("conv2d_grad_weight", backend, x._meta)
    shape = tuple(weight_shape)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, backend=name)
    dtype = compute_dtype(x=x._meta, grad_output=g._meta)
    # one partial gradient per batch chunk, stacked, then summed
    from dask.delayed import delayed

    da = _da()
    block = delayed(_grad_weight_block, pure=True)
    parts = [da.from_delayed(block(xb, gb, shape, kw), shape=shape, dtype=dtype,
                             meta=x._meta.astype(dtype))
             for xb, gb in zip(x.to_delayed().ravel(), g.to_delayed().ravel())]
    return da.stack(parts).sum(axis=0)


@_one_thread
def _pool_block(block: Any, op: str, kw: dict[str, Any]) -> Any:
    import convreg

    return getattr(convreg, op)(block, **kw)



def pool(op: str, x: Any, kw: dict[str, Any], backend: str | None) -> Any:
    """``max_pool2d``/``avg_pool2d`` on a dask array, chunk by chunk over batch and channels."""
    from .pool import _window

    x = _whole(_batched(x, "x"), (2, 3))
    name = _selection(op, backend, x._meta)
    dtype = compute_dtype(x=x._meta)
    window = _window(op, x.shape, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                     kw.get("dilation", 1), kw.get("ceil_mode", False), dtype)
    out = window.y_shape[2:]
    return x.map_blocks(functools.partial(_pool_block, op=op, kw=dict(kw, backend=name)),
                        chunks=(x.chunks[0], x.chunks[1], (out[0],), (out[1],)), dtype=dtype,
                        meta=x._meta.astype(dtype))


@_one_thread
def _max_grad_block(g: Any, x: Any, kw: dict[str, Any]) -> Any:
    from . import max_pool2d_grad

    return max_pool2d_grad(g, x, **kw)


@_one_thread
def _avg_grad_block(g: Any, hw: tuple[int, int], kw: dict[str, Any]) -> Any:
    from . import avg_pool2d_grad

    return avg_pool2d_grad(g, g.shape[:2] + hw, **kw)


def pool_grad(op: str, grad_output: Any, x_or_shape: Any, kw: dict[str, Any], backend: str | None) -> Any:
    """The pooling gradients on dask arrays, chunk by chunk over batch and channels."""
    g = _whole(_batched(grad_output, "grad_output"), (2, 3))
    name = _selection(op, backend, g._meta)
    dtype = compute_dtype(grad_output=g._meta)
    kw = dict(kw, backend=name)
    if op == "max_pool2d_grad":
        x = _whole(_batched(x_or_shape, "x"), (2, 3)).rechunk(g.chunks[:2] + (-1, -1))
        return _da().map_blocks(functools.partial(_max_grad_block, kw=kw), g, x,
                                chunks=x.chunks, dtype=dtype, meta=g._meta.astype(dtype))
    N, C, H, W = tuple(x_or_shape)
    return g.map_blocks(functools.partial(_avg_grad_block, hw=(H, W), kw=kw),
                        chunks=(g.chunks[0], g.chunks[1], (H,), (W,)), dtype=dtype,
                        meta=g._meta.astype(dtype))
