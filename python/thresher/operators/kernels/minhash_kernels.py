"""The ``minhash`` expression's kernel (the algorithm lives in ``kernels/minhash.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from thresher.operators.kernels.base import KernelOutput
from thresher.operators.kernels.minhash import minhash_array
from thresher.operators.kernels.registry import kernel


@kernel("minhash")
def _minhash(args: Sequence[pa.Array], options: dict[str, Any]) -> KernelOutput:
    return KernelOutput(
        minhash_array(args[0], int(options.get("num_perm", 128)), int(options.get("ngram", 5)),
                      options.get("unit", "char"), int(options.get("seed", 1)), options.get("hash", "poly64"))
    )
