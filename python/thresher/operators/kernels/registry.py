"""Kernels by function name: how a registered function is computed over Arrow arrays.

Functions that Polars can compute are lowered to Polars (``operators/expr_to_polars.py``);
everything else (media, url, tensor, embedding) has a kernel registered here with ``@kernel``.
A kernel takes the evaluated argument arrays (literals already broadcast to the batch length)
and the call's options, and returns a :class:`KernelOutput`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from thresher.operators.kernels.base import KernelOutput

KernelFn = Callable[[Sequence[pa.Array], dict[str, Any]], KernelOutput]

_KERNELS: dict[str, KernelFn] = {}
_MODULES = ("url", "image", "video", "audio", "tensor", "embedding", "minhash_kernels")
_loaded = False


def kernel(name: str) -> Callable[[KernelFn], KernelFn]:
    """Register ``fn`` as the kernel of function ``name``."""

    def deco(fn: KernelFn) -> KernelFn:
        _KERNELS[name] = fn
        return fn

    return deco


_load_lock = threading.Lock()


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _load_lock:  # worker threads look kernels up concurrently: none may see a half-loaded registry
        if _loaded:
            return
        for m in _MODULES:
            try:
                importlib.import_module(f"thresher.operators.kernels.{m}")
            except ModuleNotFoundError as exc:
                if exc.name != f"thresher.operators.kernels.{m}":
                    raise
        _loaded = True


def get_kernel(name: str) -> KernelFn | None:
    if name not in _KERNELS:
        _load()
    return _KERNELS.get(name)
