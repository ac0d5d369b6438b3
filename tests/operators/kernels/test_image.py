"""Image kernels through the registry: every op, the corrupt corpus, header reads, draft tolerance."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher.config import config
from thresher.operators.kernels.base import RowError
from thresher.operators.kernels.image import image_views, view_to_ndarray
from thresher.operators.kernels.registry import get_kernel
from thresher.operators.kernels.tensor import tensor_to_numpy
from thresher.testing.media import corrupt_corpus, image_array, make_images, make_jpeg, make_png


def run(name: str, arr: pa.Array, **options):
    fn = get_kernel(name)
    assert fn is not None, name
    return fn([arr], options)


def binary(items) -> pa.Array:
    return pa.array(items, pa.large_binary())


@pytest.fixture(scope="module")
def encoded() -> pa.Array:
    return binary([*make_images(3), None, make_png(50, 40, mode="RGBA"), make_png(30, 20, mode="L")])


@pytest.fixture(scope="module")
def decoded(encoded) -> pa.Array:
    out = run("image.decode", encoded)
    assert out.errors is None
    return out.values


def test_decode(encoded, decoded) -> None:
    views = image_views(decoded)
    assert [v[2] if v else None for v in views] == ["RGB", "RGB", "RGB", None, "RGBA", "L"]
    assert view_to_ndarray(views[0]).shape == (240, 320, 3)
    rgb = run("image.decode", encoded, mode="RGB").values
    assert {v[2] for v in image_views(rgb) if v} == {"RGB"}


def test_header_reads_match_decoded(encoded, decoded) -> None:
    for name in ("image.width", "image.height", "image.mode"):
        assert run(name, encoded).values.to_pylist() == run(name, decoded).values.to_pylist()
    assert run("image.format", encoded).values.to_pylist() == ["jpeg", "jpeg", "jpeg", None, "png", "png"]
    assert run("image.format", decoded).values.null_count == 6


def test_header_reads_do_not_decode(encoded, monkeypatch) -> None:
    from PIL import ImageFile

    loads = []
    orig = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or orig(self))
    assert run("image.width", encoded).values.to_pylist()[:3] == [320, 200, 64]
    run("image.height", encoded)
    run("image.mode", encoded)
    run("image.format", encoded)
    assert loads == []
    run("image.decode", encoded)
    assert len(loads) >= 2  # the PNGs; JPEGs decode through libjpeg-turbo (simplejpeg) directly


def test_jpeg_fast_path_reads_arrow_views(monkeypatch) -> None:
    """Rows viewed zero-copy from Arrow reach simplejpeg (it refuses pyarrow's signed-char views)."""
    pytest.importorskip("simplejpeg")
    from thresher.operators.kernels import image as kimg

    calls = []
    orig = kimg._sj_decode
    monkeypatch.setattr(kimg, "_sj_decode", lambda *a, **k: calls.append(1) or orig(*a, **k))
    data = binary([make_jpeg(320, 240, seed=s) for s in range(3)])
    for fn, opts in (("image.decode", {}), ("image.decode_resize", {"width": 64, "height": 64}),
                     ("image.decode_resize_encode", {"width": 64, "height": 64})):
        calls.clear()
        assert run(fn, data, **opts).errors is None
        assert len(calls) == 3, fn


def test_decode_resize_encode_matches_the_chain() -> None:
    data = binary([make_jpeg(1024, 768, seed=1), None, b"junk", make_png(300, 200, mode="RGBA")])
    opts = {"width": 224, "height": 224, "mode": "RGB"}
    fused = run("image.decode_resize_encode", data, **opts, quality=95)
    chain = run("image.encode", run("image.decode_resize", data, **opts).values, quality=95).values
    assert fused.values.type == pa.large_binary()
    assert fused.values.is_null().to_pylist() == [False, True, True, False]
    assert fused.errors is not None and "row 2" in fused.errors[2].as_py()
    for f, c in zip(fused.values.to_pylist(), chain.to_pylist()):
        if f is not None:
            a = view_to_ndarray(image_views(run("image.decode", binary([f])).values)[0])
            b = view_to_ndarray(image_views(run("image.decode", binary([c])).values)[0])
            assert a.shape == (224, 224, 3)
            assert psnr(a, b) >= 40.0


def test_resize_crop_thumbnail_convert(decoded) -> None:
    r = run("image.resize", decoded, width=64, height=32).values
    assert r.type.params["shape"] == [32, 64]
    assert {(v[0], v[1]) for v in image_views(r) if v} == {(64, 32)}
    k = run("image.resize", decoded, width=64, height=64, keep_aspect=True).values
    assert [(v[0], v[1]) for v in image_views(k) if v][:2] == [(64, 48), (43, 64)]
    c = run("image.crop", decoded, box=(10, 5, 30, 25)).values
    assert {(v[0], v[1]) for v in image_views(c) if v} == {(20, 20)}
    src = view_to_ndarray(image_views(decoded)[0])
    np.testing.assert_array_equal(view_to_ndarray(image_views(c)[0]), src[5:25, 10:30])
    t = run("image.thumbnail", decoded, size=(50, 50)).values
    assert all(max(v[0], v[1]) <= 50 for v in image_views(t) if v)
    g = run("image.convert", decoded, mode="L").values
    assert {v[2] for v in image_views(g) if v} == {"L"}
    assert g.null_count == 1


def test_encode_roundtrip(decoded) -> None:
    for fmt in ("jpeg", "png", "webp"):
        enc = run("image.encode", decoded, format=fmt, quality=95).values
        assert enc.null_count == 1
        back = run("image.decode", enc).values
        assert run("image.width", back).values.to_pylist() == run("image.width", decoded).values.to_pylist()
    png = run("image.encode", decoded, format="png").values
    back = run("image.decode", png).values
    np.testing.assert_array_equal(view_to_ndarray(image_views(back)[0]), view_to_ndarray(image_views(decoded)[0]))


def test_tensors(decoded) -> None:
    r = run("image.resize", decoded, width=8, height=4).values
    rgb = run("image.convert", r, mode="RGB").values
    t = run("image.to_tensor", rgb).values
    assert t.type.params == {"dtype": "uint8", "shape": [4, 8, 3]}
    arrs = tensor_to_numpy(t)
    np.testing.assert_array_equal(arrs[0], view_to_ndarray(image_views(rgb)[0]))
    n = run("image.normalize", rgb, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)).values
    vals = tensor_to_numpy(n)[0]
    assert vals.dtype == np.float32 and vals.min() >= -1.0 and vals.max() <= 1.0
    np.testing.assert_allclose(vals, arrs[0] / 127.5 - 1.0, atol=1e-5)


def test_hashes(decoded) -> None:
    base = image_array(128, 96, seed=3)
    imgs = get_kernel("image.decode")([binary([make_png(128, 96, seed=3), make_jpeg(128, 96, seed=3, quality=60),
                                                make_png(128, 96, seed=9)])], {}).values
    for name in ("image.phash", "image.dhash"):
        h = run(name, imgs).values
        assert h.type == pa.uint64()
        a, b, c = h.to_pylist()
        assert bin(a ^ b).count("1") <= 6  # the same picture re-encoded
        assert bin(a ^ c).count("1") > 12  # a different picture
    assert base.shape == (96, 128, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def test_decode_resize_matches_decode_then_resize() -> None:
    """The fused draft-mode path: same size and mode, PSNR >= 30 dB vs full decode + resize."""
    data = binary([make_jpeg(1024, 768, seed=s) for s in range(3)] + [make_png(300, 200)])
    for opts in ({"width": 224, "height": 224, "mode": "RGB"}, {"width": 100, "height": 60, "mode": None},
                 {"width": 224, "height": 224, "mode": "L"}, {"width": 128, "height": 128, "keep_aspect": True}):
        fused = run("image.decode_resize", data, **opts).values
        ref = run("image.resize", run("image.decode", data, mode=opts.get("mode")).values,
                  **{k: v for k, v in opts.items() if k != "mode"}).values
        for f, r in zip(image_views(fused), image_views(ref)):
            assert (f[0], f[1], f[2]) == (r[0], r[1], r[2])
            assert psnr(view_to_ndarray(f), view_to_ndarray(r)) >= 30.0
            assert np.abs(view_to_ndarray(f).astype(int) - view_to_ndarray(r)).mean() < 3.0


def test_decode_resize_without_simplejpeg(monkeypatch) -> None:
    from thresher.operators.kernels import image as kimg

    monkeypatch.setattr(kimg, "_simplejpeg", lambda: None)
    data = binary([make_jpeg(1024, 768)])
    fused = run("image.decode_resize", data, width=224, height=224, mode="RGB").values
    ref = run("image.resize", run("image.decode", data, mode="RGB").values, width=224, height=224).values
    assert psnr(view_to_ndarray(image_views(fused)[0]), view_to_ndarray(image_views(ref)[0])) >= 30.0


def test_corrupt_corpus_null_with_errors() -> None:
    corpus = corrupt_corpus()
    names = ["truncated.jpg", "text.jpg", "empty.jpg", "bomb.png"]
    data = binary([make_jpeg(16, 16)] + [corpus[n] for n in names])
    for fn, opts in (("image.decode", {}), ("image.decode_resize", {"width": 8, "height": 8})):
        out = run(fn, data, **opts)
        assert out.values.to_pylist()[0] is not None
        assert out.values.null_count == 4
        errs = out.errors.to_pylist()
        assert errs[0] is None and all(e and f"row {i + 1}" in e for i, e in enumerate(errs[1:]))
        assert "empty" in errs[3]
        assert "pixels" in errs[4] or "bomb" in errs[4]


def test_on_error_raise_names_row_and_source() -> None:
    data = binary([make_jpeg(16, 16), b"not an image"])
    with pytest.raises(RowError, match=r"row 1 \(s3://bucket/bad.jpg\)"):
        run("image.decode", data, on_error="raise", sources=["a.jpg", "s3://bucket/bad.jpg"])


def test_decompression_bomb_cap() -> None:
    data = binary([make_jpeg(200, 100)])
    with config(max_image_pixels=10_000):
        out = run("image.decode", data)
        assert out.values.null_count == 1
        assert "max_image_pixels=10000" in out.errors[0].as_py()
    assert run("image.decode", data).values.null_count == 0


def test_sliced_input() -> None:
    data = binary(make_images(4)).slice(1, 2)
    dec = run("image.decode", data).values
    assert run("image.width", dec).values.to_pylist() == [200, 64]
    assert run("image.width", dec.slice(1)).values.to_pylist() == [64]
