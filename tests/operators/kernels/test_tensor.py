"""Tensor and embedding kernels: vectorized math vs NumPy, nulls, NumPy round trips."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher.operators.kernels.base import RowError
from thresher.operators.kernels.embedding import embedding_from_numpy, embedding_to_numpy
from thresher.operators.kernels.registry import get_kernel
from thresher.operators.kernels.tensor import tensor_from_numpy, tensor_to_numpy


def k(name: str, *args, **options):
    return get_kernel(name)(list(args), options)


def test_embedding_numpy_roundtrip_and_math() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 16)).astype("float32"), rng.normal(size=(50, 16)).astype("float32")
    ea, eb = embedding_from_numpy(a), embedding_from_numpy(b)
    assert ea.type.params == {"dtype": "float32", "dim": 16}
    np.testing.assert_array_equal(embedding_to_numpy(ea), a)
    cos = k("embedding.cosine_similarity", ea, eb).values.to_numpy()
    ref = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(cos, ref, rtol=1e-5)
    np.testing.assert_allclose(k("embedding.dot", ea, eb).values.to_numpy(), (a * b).sum(1), rtol=1e-5)
    n = embedding_to_numpy(k("embedding.normalize", ea).values)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, rtol=1e-5)
    sliced = k("embedding.dot", ea.slice(10, 5), eb.slice(20, 5)).values.to_numpy()
    np.testing.assert_allclose(sliced, (a[10:15] * b[20:25]).sum(1), rtol=1e-5)


def test_embedding_literal_and_nulls() -> None:
    storage = pa.FixedSizeListArray.from_arrays(pa.array([3.0, 4.0, 0.0, 0.0, 1.0, 0.0], pa.float32()), 2,
                                                mask=pa.array([False, True, False]))
    from thresher.datatypes import DataType

    e = pa.ExtensionArray.from_storage(DataType.embedding("float32", 2).to_arrow(), storage)
    q = pa.array([[1.0, 0.0]] * 3, pa.large_list(pa.float64()))  # a broadcast literal
    assert k("embedding.cosine_similarity", e, q).values.to_pylist() == pytest.approx([0.6, None, 1.0])
    assert k("embedding.normalize", e).values.null_count == 1
    assert np.isnan(embedding_to_numpy(e)[1]).all()


def test_tensor_fixed_and_variable() -> None:
    t = tensor_from_numpy(np.arange(24, dtype="float32").reshape(2, 3, 4))
    assert k("tensor.shape", t).values.to_pylist() == [[3, 4], [3, 4]]
    r = k("tensor.reshape", t, shape=(4, -1)).values
    assert r.type.params["shape"] == [4, 3]
    np.testing.assert_array_equal(tensor_to_numpy(r), np.arange(24, dtype="float32").reshape(2, 4, 3))
    v = tensor_from_numpy([np.ones((2, 2), "float32"), None, np.arange(6, dtype="float32").reshape(2, 3)])
    assert k("tensor.shape", v).values.to_pylist() == [[2, 2], None, [2, 3]]
    norm = tensor_to_numpy(k("tensor.normalize", v).values)
    assert norm[1] is None and norm[2].shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(norm[2]), 1.0, rtol=1e-6)
    assert k("tensor.dot", v, v).values.to_pylist() == [4.0, None, 55.0]
    bad = k("tensor.reshape", v, shape=(4,))
    assert bad.values.to_pylist()[0] is not None and "row 2" in bad.errors[2].as_py()
    with pytest.raises(RowError, match="row 2"):
        k("tensor.reshape", v, shape=(4,), on_error="raise")
    mism = k("tensor.cosine_similarity", v, tensor_from_numpy([np.ones(4), np.ones(1), np.ones(5)]))
    assert mism.values.to_pylist()[2] is None and "length 6 and 5" in mism.errors[2].as_py()


def test_large_batch_matches_numpy() -> None:
    """100k x 128 cosine similarities and norms in one call agree with a NumPy reference."""
    m = np.random.default_rng(1).normal(size=(100_000, 128)).astype("float32")
    other = m[::-1].copy()
    e, f = embedding_from_numpy(m), embedding_from_numpy(other)
    got = np.asarray(k("embedding.cosine_similarity", e, f).values.to_numpy(zero_copy_only=False))
    want = (m * other).sum(1) / (np.linalg.norm(m, axis=1) * np.linalg.norm(other, axis=1))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    normed = k("embedding.normalize", e).values
    np.testing.assert_allclose(np.linalg.norm(embedding_to_numpy(normed), axis=1), 1.0, rtol=1e-5)
