"""Credentials, endpoints, regions and retries for object stores: :class:`IOConfig`.

A user passes them once, either per call (``th.read_parquet("s3://b/t", io_config=cfg)``) or as the
session default (``th.set_io_config(cfg)``). Readers and writers capture the effective config when
the plan is built, so it is part of the plan's source and sink objects: plain frozen dataclasses
that pickle to Ray workers. Fields left as None fall back to what the libraries underneath read
from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``,
``AZURE_STORAGE_ACCOUNT_NAME``, ``HF_TOKEN``, ...), so environment variables keep working.

Examples
--------
>>> import thresher as th
>>> cfg = th.IOConfig(s3=th.S3Config(endpoint_url="http://127.0.0.1:9000", region_name="us-east-1"))
>>> cfg.s3.endpoint_url
'http://127.0.0.1:9000'
>>> cfg.replace(s3=cfg.s3.replace(anonymous=True)).s3.anonymous
True
>>> "secret" in repr(th.S3Config(access_key="secret"))
False
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

_T = TypeVar("_T")


def _replace(obj: _T, **changes: Any) -> _T:
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class S3Config:
    """Amazon S3 and S3-compatible stores (MinIO, R2, moto, ...).

    Parameters
    ----------
    endpoint_url : str, optional
        e.g. ``"http://127.0.0.1:9000"``; None: AWS (or ``AWS_ENDPOINT_URL``).
    key_id, access_key, session_token : str, optional
        Static credentials; None: the default AWS credential chain (environment, profile, IMDS).
    region_name : str, optional
        None: ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else us-east-1.
    anonymous : bool
        Unsigned requests (public buckets).
    num_tries : int
        Attempts per request (1 = no retry) on throttling and transient errors.
    connect_timeout_ms, read_timeout_ms : int, optional
        Socket timeouts.
    force_virtual_addressing : bool
        ``bucket.host`` instead of ``host/bucket`` (path style is the default with an endpoint).
    """

    endpoint_url: str | None = None
    key_id: str | None = None
    access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region_name: str | None = None
    anonymous: bool = False
    num_tries: int = 5
    connect_timeout_ms: int | None = None
    read_timeout_ms: int | None = None
    force_virtual_addressing: bool = False

    def replace(self, **changes: Any) -> S3Config:
        """A copy with ``changes`` applied."""
        return _replace(self, **changes)

    def resolved_endpoint(self) -> str | None:
        """``endpoint_url``, else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` from the environment."""
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")

    def resolved_region(self) -> str | None:
        """``region_name``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` from the environment."""
        return self.region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class GCSConfig:
    """Google Cloud Storage.

    Parameters
    ----------
    project_id : str, optional
    credentials : str, optional
        Path to a service-account JSON file (None: application default credentials).
    token : str, optional
        An OAuth2 access token.
    anonymous : bool
        Unauthenticated access to public buckets.
    endpoint_url : str, optional
        A GCS-compatible endpoint (an emulator), e.g. ``"http://127.0.0.1:4443"``.
    num_tries : int
        Attempts per request.
    """

    project_id: str | None = None
    credentials: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    anonymous: bool = False
    endpoint_url: str | None = None
    num_tries: int = 5

    def replace(self, **changes: Any) -> GCSConfig:
        """A copy with ``changes`` applied."""
        return _replace(self, **changes)


@dataclass(frozen=True)
class AzureConfig:
    """Azure Blob Storage / ADLS Gen2 (``az://container/path``, ``abfs://container@account.dfs...``).

    Parameters
    ----------
    storage_account : str, optional
        None: ``AZURE_STORAGE_ACCOUNT_NAME``.
    access_key, sas_token, bearer_token : str, optional
        One way to authenticate (None: the default Azure credential chain).
    tenant_id, client_id, client_secret : str, optional
        A service principal.
    anonymous : bool
        Public containers.
    endpoint_url : str, optional
        e.g. Azurite, ``"http://127.0.0.1:10000/devstoreaccount1"``.
    use_ssl : bool
    num_tries : int
    """

    storage_account: str | None = None
    access_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    anonymous: bool = False
    endpoint_url: str | None = None
    use_ssl: bool = True
    num_tries: int = 5

    def replace(self, **changes: Any) -> AzureConfig:
        """A copy with ``changes`` applied."""
        return _replace(self, **changes)


@dataclass(frozen=True)
class HTTPConfig:
    """Plain HTTP(S) reads (``url.download``, ``read_parquet("https://...")``).

    Parameters
    ----------
    user_agent : str, optional
    bearer_token : str, optional
        Sent as ``Authorization: Bearer ...``.
    headers : tuple of (str, str)
        Extra request headers.
    num_tries : int
        Attempts per request on connection errors, 429 and 5xx.
    """

    user_agent: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    num_tries: int = 3

    def replace(self, **changes: Any) -> HTTPConfig:
        """A copy with ``changes`` applied."""
        return _replace(self, **changes)

    def all_headers(self) -> dict[str, str]:
        """The request headers this config adds."""
        h = dict(self.headers)
        if self.user_agent:
            h["User-Agent"] = self.user_agent
        if self.bearer_token:
            h["Authorization"] = f"Bearer {self.bearer_token}"
        return h


@dataclass(frozen=True)
class HFConfig:
    """Hugging Face Hub (``hf://datasets/org/name/...``) reads.

    Parameters
    ----------
    token : str, optional
        None: ``HF_TOKEN`` or the cached login.
    endpoint_url : str, optional
        A Hub mirror.
    """

    token: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None

    def replace(self, **changes: Any) -> HFConfig:
        """A copy with ``changes`` applied."""
        return _replace(self, **changes)


@dataclass(frozen=True)
class IOConfig:
    """Per-store settings for every reader and writer (like Daft's ``IOConfig``).

    Parameters
    ----------
    s3 : S3Config
    gcs : GCSConfig
    azure : AzureConfig
    http : HTTPConfig
    hf : HFConfig

    Examples
    --------
    >>> import thresher as th
    >>> cfg = th.IOConfig(s3=th.S3Config(region_name="eu-west-1", num_tries=10))
    >>> cfg.s3.num_tries, cfg.gcs.anonymous
    (10, False)
    """

    s3: S3Config = field(default_factory=S3Config)
    gcs: GCSConfig = field(default_factory=GCSConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)
    http: HTTPConfig = field(default_factory=HTTPConfig)
    hf: HFConfig = field(default_factory=HFConfig)

    def __post_init__(self) -> None:
        for name, cls in (("s3", S3Config), ("gcs", GCSConfig), ("azure", AzureConfig), ("http", HTTPConfig),
                          ("hf", HFConfig)):
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise TypeError(f"IOConfig({name}=...) must be a {cls.__name__}, got {type(value).__name__}")

    def replace(self, **changes: Any) -> IOConfig:
        """A copy with ``changes`` applied."""
        return _replace(self, **changes)


_default: IOConfig = IOConfig()
_lock = threading.Lock()


def set_io_config(config: IOConfig | None = None, **stores: Any) -> None:
    """Make ``config`` the session default for every later reader and writer.

    ``set_io_config(s3=th.S3Config(...))`` replaces only the stores given; ``set_io_config()``
    restores the defaults (environment variables only).

    Examples
    --------
    >>> import thresher as th
    >>> th.set_io_config(s3=th.S3Config(region_name="us-west-2"))
    >>> th.get_io_config().s3.region_name
    'us-west-2'
    >>> th.set_io_config()
    """
    global _default
    if config is not None and not isinstance(config, IOConfig):
        raise TypeError(f"set_io_config expects an IOConfig, got {type(config).__name__}")
    with _lock:
        if config is None and not stores:
            _default = IOConfig()
        else:
            _default = (config or _default).replace(**stores) if stores else config  # type: ignore[assignment]


def get_io_config() -> IOConfig:
    """The session default :class:`IOConfig`."""
    return _default


def resolve_io_config(io_config: IOConfig | None) -> IOConfig:
    """``io_config`` itself, or the session default when None (captured when a plan is built)."""
    if io_config is None:
        return _default
    if not isinstance(io_config, IOConfig):
        raise TypeError(f"io_config must be a thresher.IOConfig, got {type(io_config).__name__}")
    return io_config


__all__ = [
    "AzureConfig",
    "GCSConfig",
    "HFConfig",
    "HTTPConfig",
    "IOConfig",
    "S3Config",
    "get_io_config",
    "resolve_io_config",
    "set_io_config",
]
