"""Settings (issue 17 item 6): th.config as documented, every name and value checked at the call."""

from __future__ import annotations

import pyarrow as pa
import pytest

import thresher as th
from thresher.config import get_config


def test_th_config_call_attribute_and_context_manager() -> None:
    # was: th.config(...) raised "module is not callable" (th.config was the module)
    import thresher.config  # importing the submodule must not shadow the callable  # noqa: F401

    before = get_config()
    try:
        handle = th.config(max_download_bytes="64MB")  # the documented call applies at once
        assert th.config.max_download_bytes == 64 << 20 == get_config().max_download_bytes
        with th.config(max_download_bytes=1000, download_retries=0) as cfg:
            assert cfg.max_download_bytes == 1000 and th.config.download_retries == 0
        assert th.config.max_download_bytes == 64 << 20  # the block restored what it found
        th.config.max_image_pixels = 5000  # attribute assignment is checked too
        assert get_config().max_image_pixels == 5000
        with pytest.raises(th.SettingError, match="must be an integer"):
            th.config.max_image_pixels = "many"
        assert "max_download_bytes" in repr(handle)
    finally:
        th.config(**{f: getattr(before, f) for f in before.__dataclass_fields__})
    assert get_config() == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_downlod_bytes": 1}, "did you mean 'max_download_bytes'"),
        ({"max_download_bytes": "lots"}, "size like '512MB'"),
        ({"max_download_bytes": 0}, "must be positive"),
        ({"download_timeout": -1}, "positive number of seconds"),
        ({"download_retries": 1.5}, "integer >= 0"),
        ({"allowed_url_schemes": "https"}, "list of scheme names"),
        ({"kernel_threads": 0}, "integer >= 1"),
        ({"max_video_frames": True}, "integer >= 1"),
    ],
)
def test_config_rejects_bad_names_and_values_at_the_call(changes: dict[str, object], message: str) -> None:
    before = get_config()
    with pytest.raises(th.SettingError, match=message):
        th.config(**changes)
    with pytest.raises(ValueError):  # SettingError is a ValueError too
        th.config(**changes)
    assert get_config() == before  # nothing half-applied


def test_memory_budget_and_executor_options_checked_at_the_call() -> None:
    # was: set_memory_budget("lots") accepted, failing at the next collect
    with pytest.raises(th.SettingError, match="memory_budget.*'lots'"):
        th.set_memory_budget("lots")
    th.set_memory_budget("256MB")
    th.set_memory_budget(None)
    with pytest.raises(th.SettingError):
        th.set_progress("yes")  # type: ignore[arg-type]
    df = th.from_pydict({"a": [1, 2, 3]})
    # was: a raw TypeError locally, silently ignored on Ray
    with pytest.raises(th.SettingError, match="'memory_budgt' for the local runner.*did you mean 'memory_budget'"):
        df.collect(memory_budgt="1GB")
    with pytest.raises(th.SettingError, match="'num_cpus' for the local runner.*ray runner only"):
        df.collect(num_cpus=2)
    with pytest.raises(th.SettingError, match="target_batch_bytes"):
        df.collect(target_batch_bytes="big")
    with pytest.raises(th.SettingError, match="did you mean 'ray'"):
        th.set_runner("rey")
    assert df.collect(memory_budget="64MB", num_threads=2).to_pydict() == {"a": [1, 2, 3]}


def test_ray_executor_rejects_option_typos_before_starting() -> None:
    pytest.importorskip("ray")
    import sys

    df = th.from_pydict({"a": [1]})
    started = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    with pytest.raises(th.SettingError, match="'memory_budgt' for the ray runner.*did you mean 'memory_budget'"):
        df.collect(runner="ray", memory_budgt="1GB")
    with pytest.raises(th.SettingError, match="'shuffle_partition' for the ray runner.*did you mean 'shuffle_partitions'"):
        th.set_runner("ray", shuffle_partition=4)
    assert th.get_runner_name() == "local"
    # the check happens before any Ray cluster is started
    assert started == ("ray" in sys.modules and sys.modules["ray"].is_initialized())


def test_from_pydict_schema_takes_names_and_foreign_dtypes() -> None:
    # was: AttributeError ('str' object has no attribute 'kind')
    df = th.from_pydict({"a": [1, 2], "b": [1.5, None], "s": ["x", "y"]}, schema={"a": "int32", "b": "float32"})
    assert df.to_arrow().schema.field("a").type == pa.int32()
    assert df.to_arrow().schema.field("b").type == pa.float32()
    assert th.from_pydict({"a": [1]}, schema={"a": pa.int16()}).schema["a"] == th.DataType.int16()
    pl = pytest.importorskip("polars")
    assert th.from_pydict({"a": [1]}, schema={"a": pl.Float64}).schema["a"] == th.DataType.float64()
    assert th.from_pydict({"a": [1]}, schema=pa.schema([("a", pa.int8())])).schema["a"] == th.DataType.int8()
    with pytest.raises(th.ThresherError, match="'zz'"):
        th.from_pydict({"a": [1]}, schema={"zz": "int64"})
    with pytest.raises(th.ThresherTypeError, match="unknown data type"):
        th.from_pydict({"a": [1]}, schema={"a": "int65"})
