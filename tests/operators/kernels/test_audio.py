"""Audio kernels: decode with resampling, duration from the header, segments, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher.config import config
from thresher.operators.kernels.registry import get_kernel
from thresher.operators.kernels.tensor import tensor_to_numpy
from thresher.testing.media import audio_array, corrupt_corpus, make_audio


def run(name: str, arr: pa.Array, **options):
    return get_kernel(name)([arr], options)


@pytest.fixture(scope="module")
def audio() -> pa.Array:
    return pa.array([make_audio(seconds=2.0), None, make_audio(seconds=1.0, fmt="wav", channels=1,
                                                              sample_rate=22_050)], pa.large_binary())


def test_decode_native(audio) -> None:
    out = tensor_to_numpy(run("audio.decode", audio).values)
    assert out[0].shape == (2, 88_200) and out[1] is None and out[2].shape == (1, 22_050)
    ref = audio_array(2.0, 44_100, 2)
    np.testing.assert_allclose(out[0], ref, atol=2e-4)  # 16-bit FLAC is lossless up to quantization


def test_decode_resampled_mono(audio) -> None:
    out = tensor_to_numpy(run("audio.decode", audio, sample_rate=16_000, channels=1).values)
    assert out[0].shape[0] == 1 and abs(out[0].shape[1] - 32_000) <= 32
    assert out[0].dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out[0][0]))
    peak_hz = np.argmax(spectrum) * 16_000 / out[0].shape[1]
    assert abs(peak_hz - 220) < 5 or abs(peak_hz - 440) < 5


def test_duration_and_segments(audio) -> None:
    assert run("audio.duration", audio).values.to_pylist() == pytest.approx([2.0, None, 1.0])
    segs = run("audio.segment", audio, window_seconds=0.5, sample_rate=8_000, channels=1).values.to_pylist()
    assert len(segs[0]) == 4 and segs[1] is None and len(segs[2]) == 2
    assert segs[0][0]["shape"] == [1, 4000]
    drop = run("audio.segment", audio, window_seconds=0.75, drop_last=True).values.to_pylist()
    assert len(drop[0]) == 2


def test_bad_audio_and_caps(audio) -> None:
    data = pa.array([corrupt_corpus()["text.flac"], b"", b"\x00" * 100], pa.large_binary())
    out = run("audio.decode", data)
    assert out.values.null_count == 3 and all(e is not None for e in out.errors.to_pylist())
    with config(max_audio_duration=1.5):
        out = run("audio.decode", audio)
        assert out.values.null_count == 2 and "max_audio_duration" in out.errors[0].as_py()


def test_worker_processes_give_the_thread_path_results(audio, monkeypatch) -> None:
    """Decoding in worker processes (big batches) returns exactly what the kernel threads return,
    errors and the max_audio_duration of this process's config included."""
    from thresher.operators.kernels import audio as kernels
    from thresher.operators.kernels import media_procs

    bad = pa.array([corrupt_corpus()["text.flac"], make_audio(seconds=3.0, seed=4), b""], pa.large_binary())
    cases = [(audio, {}), (audio, {"sample_rate": 16_000, "channels": 1}), (bad, {"sample_rate": 8_000})]
    with config(kernel_threads=2):
        want = [run("audio.decode", a, **o) for a, o in cases]
        want_seg = run("audio.segment", audio, window_seconds=0.5, sample_rate=8_000, channels=1)
        with config(max_audio_duration=1.5):
            want_cap = run("audio.decode", audio)
        monkeypatch.setattr(kernels, "PROCESS_MIN_BYTES", 0)
        assert kernels._use_processes([memoryview(b"ab"), memoryview(b"cd")])
        got = [run("audio.decode", a, **o) for a, o in cases]
        got_seg = run("audio.segment", audio, window_seconds=0.5, sample_rate=8_000, channels=1)
        with config(max_audio_duration=1.5):
            got_cap = run("audio.decode", audio)
    assert media_procs.process_pool_size() == 2
    for w, g in [*zip(want, got), (want_seg, got_seg), (want_cap, got_cap)]:
        assert g.values.equals(w.values)
        assert (g.errors is None) == (w.errors is None)
        if w.errors is not None:
            assert g.errors.to_pylist() == w.errors.to_pylist()
    assert "max_audio_duration" in got_cap.errors[0].as_py()


def test_a_crashed_worker_fails_one_call_and_is_replaced() -> None:
    from thresher.operators.kernels import media_procs

    with pytest.raises(media_procs.WorkerCrashed):
        media_procs.process_call("os", "_exit", 3)
    assert [media_procs.process_call("math", "sqrt", 16.0) for _ in range(4)] == [4.0] * 4
    with pytest.raises(ZeroDivisionError):
        media_procs.process_call("operator", "truediv", 1, 0)
