"""The one filesystem layer every reader and writer goes through: local, s3, gs, az/abfs, hf, http(s).

A location is a URI string everywhere above this module (``s3://bucket/key``, ``gs://...``,
``az://container/key``, ``hf://datasets/org/name/file``, ``https://...``) or a local path (made
absolute). :func:`resolve` turns it into a ``pyarrow.fs.FileSystem`` plus the path that filesystem
understands, built from an :class:`~thresher.io.config.IOConfig` and cached per process.

Why pyarrow.fs: it is the data path of the readers (``pyarrow.dataset`` reads Parquet row-group
ranges, CSV and JSON straight through it in C++, with no Python in the read loop, and Polars and
pyiceberg accept the same objects), it is kept by the Arrow project, and it covers S3, GCS and
Azure natively. What it lacks comes from fsspec: ``hf://`` and ``http(s)://`` (wrapped with
``pyarrow.fs.PyFileSystem(FSSpecHandler(...))``) and the conditional put (``If-None-Match: *``)
that object-store commits need (:func:`put_if_absent`, through s3fs/gcsfs). Lance and Iceberg reach
the stores with their own clients: :func:`lance_storage_options` and :func:`iceberg_properties`
translate the same IOConfig for them.

Examples
--------
>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> write_bytes(os.path.join(d, "a.txt"), b"hi")
>>> read_bytes(os.path.join(d, "a.txt"))
b'hi'
>>> put_if_absent(os.path.join(d, "a.txt"), b"again")
False
>>> split_uri("s3://bucket/key/x.parquet")
('s3', 'bucket/key/x.parquet')
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import os
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa

from thresher._lazy import lazy_module
from thresher.errors import ThresherIOError
from thresher.io.config import IOConfig, resolve_io_config

if TYPE_CHECKING:
    import pyarrow.fs as pafs
else:
    # ~7 MiB (its S3 module loads the AWS SDK and OpenSSL): a job over local files made of
    # glob listings and local reads never needs it
    pafs = lazy_module("pyarrow.fs")

#: schemes of object stores (no rename, no locks: commits use conditional puts)
OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "azure"})
#: schemes that can only be read
READ_ONLY_SCHEMES = frozenset({"http", "https", "hf"})
KNOWN_SCHEMES = OBJECT_STORE_SCHEMES | READ_ONLY_SCHEMES | {"file", ""}
_GLOB_CHARS = re.compile(r"[*?\[]")


class StorageError(ThresherIOError):
    """An object store or filesystem refused an operation (the message names the location)."""


# --------------------------------------------------------------------------------------------
# URIs
# --------------------------------------------------------------------------------------------


def scheme_of(uri: str) -> str:
    """The lower-case scheme (``""`` for a local path, including ``C:\\...``)."""
    s = urlsplit(uri).scheme.lower() if "://" in uri or uri.lower().startswith("file:") else ""
    return "" if len(s) <= 1 else s


def is_local(uri: str | os.PathLike[str]) -> bool:
    """Whether ``uri`` names the local filesystem (a path or ``file://``)."""
    return scheme_of(os.fspath(uri)) in ("", "file")


def is_object_store(uri: str) -> bool:
    """Whether ``uri`` is on an object store (s3, gs, az/abfs)."""
    return scheme_of(uri) in OBJECT_STORE_SCHEMES


def local_path(uri: str | os.PathLike[str]) -> str:
    """The absolute local path of a path or ``file://`` URI."""
    s = os.fspath(uri)
    if s.lower().startswith("file://"):
        s = s[len("file://"):]
    elif s.lower().startswith("file:"):
        s = s[len("file:"):]
    return os.path.abspath(os.path.expanduser(s))


def normalize(uri: str | os.PathLike[str]) -> str:
    """A canonical location: local paths absolute, URIs with a lower-case scheme and no trailing ``/``."""
    s = os.fspath(uri)
    scheme = scheme_of(s)
    if scheme in ("", "file"):
        return local_path(s)
    if scheme not in KNOWN_SCHEMES:
        raise StorageError(f"unsupported storage scheme {scheme!r} in {s!r}; supported: "
                           f"{sorted(x for x in KNOWN_SCHEMES if x)}")
    rest = s.split("://", 1)[1]
    return f"{scheme}://{rest.rstrip('/') if rest.count('/') else rest}"


def split_uri(uri: str) -> tuple[str, str]:
    """``(scheme, path without scheme)``; the path of a local location is absolute."""
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        return "", local_path(uri)
    return scheme, uri.split("://", 1)[1]


def join(uri: str, *parts: str) -> str:
    """``uri`` joined with relative ``parts`` using ``/`` (``os.path.join`` for local paths)."""
    if is_local(uri):
        return os.path.join(local_path(uri), *parts)
    out = uri.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def parent(uri: str) -> str:
    """The folder that holds ``uri``."""
    if is_local(uri):
        return os.path.dirname(local_path(uri))
    return uri.rstrip("/").rsplit("/", 1)[0]


def basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _to_uri(scheme: str, fs_path: str) -> str:
    return fs_path if scheme == "" else f"{scheme}://{fs_path}"


# --------------------------------------------------------------------------------------------
# Building filesystems from an IOConfig
# --------------------------------------------------------------------------------------------

_CACHE: dict[tuple[str, IOConfig, str], pafs.FileSystem] = {}
_CACHE_LOCK = threading.Lock()


def _split_endpoint(url: str) -> tuple[str, str]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return parts.scheme or "https", parts.netloc + parts.path.rstrip("/")


def _s3(cfg: IOConfig) -> pafs.FileSystem:
    c = cfg.s3
    kw: dict[str, Any] = {}
    endpoint = c.resolved_endpoint()
    if endpoint:
        kw["scheme"], kw["endpoint_override"] = _split_endpoint(endpoint)
    if c.anonymous:
        kw["anonymous"] = True
    elif c.key_id or c.access_key:
        kw.update(access_key=c.key_id, secret_key=c.access_key, session_token=c.session_token)
    region = c.resolved_region()
    if region:
        kw["region"] = region
    if c.connect_timeout_ms is not None:
        kw["connect_timeout"] = c.connect_timeout_ms / 1000
    if c.read_timeout_ms is not None:
        kw["request_timeout"] = c.read_timeout_ms / 1000
    kw["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=max(1, c.num_tries))
    kw["force_virtual_addressing"] = c.force_virtual_addressing
    return pafs.S3FileSystem(**kw)


def _gcs(cfg: IOConfig) -> pafs.FileSystem:
    c = cfg.gcs
    if c.credentials:
        # pyarrow's GCS client takes no key file: gcsfs does
        return pafs.PyFileSystem(pafs.FSSpecHandler(_fsspec_fs("gs", cfg)))
    kw: dict[str, Any] = {"retry_time_limit": datetime.timedelta(seconds=15 * max(1, c.num_tries))}
    if c.anonymous:
        kw["anonymous"] = True
    if c.token:
        kw["access_token"] = c.token
        kw["credential_token_expiration"] = datetime.datetime.now() + datetime.timedelta(hours=1)
    if c.project_id:
        kw["project_id"] = c.project_id
    if c.endpoint_url:
        kw["scheme"], kw["endpoint_override"] = _split_endpoint(c.endpoint_url)
    return pafs.GcsFileSystem(**kw)


def _azure(cfg: IOConfig) -> pafs.FileSystem:
    c = cfg.azure
    account = c.storage_account or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or os.environ.get(
        "AZURE_STORAGE_ACCOUNT")
    if not account:
        raise StorageError("Azure storage needs an account: AzureConfig(storage_account=...) or "
                           "AZURE_STORAGE_ACCOUNT_NAME")
    kw: dict[str, Any] = {"account_name": account}
    key = c.access_key or os.environ.get("AZURE_STORAGE_ACCOUNT_KEY") or os.environ.get("AZURE_STORAGE_KEY")
    if key and not c.anonymous:
        kw["account_key"] = key
    if c.sas_token:
        kw["sas_token"] = c.sas_token
    if c.client_id:
        kw.update(client_id=c.client_id, client_secret=c.client_secret, tenant_id=c.tenant_id)
    if c.endpoint_url:
        scheme, authority = _split_endpoint(c.endpoint_url)
        kw.update(blob_storage_authority=authority, dfs_storage_authority=authority, blob_storage_scheme=scheme,
                  dfs_storage_scheme=scheme)
    elif not c.use_ssl:
        kw.update(blob_storage_scheme="http", dfs_storage_scheme="http")
    return pafs.AzureFileSystem(**kw)


def _fsspec_fs(scheme: str, cfg: IOConfig) -> Any:
    """An fsspec filesystem for ``scheme`` configured from ``cfg`` (hf, http, and conditional puts)."""
    try:
        import fsspec
    except ImportError:
        raise StorageError(f"{scheme}:// needs fsspec (pip install fsspec)") from None
    kw: dict[str, Any] = {}
    if scheme in ("s3", "s3a"):
        c = cfg.s3
        endpoint = c.resolved_endpoint()
        kw = {"anon": c.anonymous, "skip_instance_cache": True}
        if c.key_id or c.access_key:
            kw.update(key=c.key_id, secret=c.access_key, token=c.session_token)
        ck: dict[str, Any] = {}
        if endpoint:
            ck["endpoint_url"] = endpoint
        region = c.resolved_region()
        if region:
            ck["region_name"] = region
        kw["client_kwargs"] = ck
        kw["config_kwargs"] = {"retries": {"max_attempts": max(1, c.num_tries), "mode": "standard"}}
        scheme = "s3"
    elif scheme in ("gs", "gcs"):
        c2 = cfg.gcs
        kw = {"skip_instance_cache": True}
        if c2.anonymous:
            kw["token"] = "anon"  # noqa: S105 - gcsfs's spelling of "no credentials"
        elif c2.credentials:
            kw["token"] = c2.credentials
        elif c2.token:
            kw["token"] = c2.token
        if c2.project_id:
            kw["project"] = c2.project_id
        if c2.endpoint_url:
            kw["endpoint_url"] = c2.endpoint_url
        scheme = "gs"
    elif scheme in ("az", "abfs", "abfss", "azure"):
        c3 = cfg.azure
        kw = {"skip_instance_cache": True}
        if c3.storage_account:
            kw["account_name"] = c3.storage_account
        for k, v in (("account_key", c3.access_key), ("sas_token", c3.sas_token), ("tenant_id", c3.tenant_id),
                     ("client_id", c3.client_id), ("client_secret", c3.client_secret)):
            if v:
                kw[k] = v
        if c3.anonymous:
            kw["anon"] = True
        scheme = "abfs"
    elif scheme == "hf":
        if cfg.hf.token:
            kw["token"] = cfg.hf.token
        if cfg.hf.endpoint_url:
            kw["endpoint"] = cfg.hf.endpoint_url
    elif scheme in ("http", "https"):
        headers = cfg.http.all_headers()
        if headers:
            kw["client_kwargs"] = {"headers": headers}
    try:
        return fsspec.filesystem(scheme, **kw)
    except (ImportError, ValueError) as e:
        pkg = {"s3": "s3fs", "gs": "gcsfs", "abfs": "adlfs", "hf": "huggingface_hub", "http": "aiohttp",
               "https": "aiohttp"}.get(scheme, scheme)
        raise StorageError(f"{scheme}:// needs the {pkg} package ({e})") from None


def filesystem(uri: str, io_config: IOConfig | None = None) -> pafs.FileSystem:
    """The ``pyarrow.fs.FileSystem`` for ``uri`` under ``io_config`` (cached per process)."""
    cfg = resolve_io_config(io_config)
    scheme = scheme_of(uri)
    if scheme not in KNOWN_SCHEMES:
        raise StorageError(f"unsupported storage scheme {scheme!r} in {uri!r}; supported: "
                           f"{sorted(x for x in KNOWN_SCHEMES if x)}")
    key_scheme = {"file": "", "s3a": "s3", "gcs": "gs", "abfss": "az", "abfs": "az", "azure": "az",
                  "https": "http"}.get(scheme, scheme)
    # the HF and HTTP handlers are per host; object stores per config
    extra = urlsplit(uri).netloc if key_scheme == "http" else ""
    key = (key_scheme, cfg, extra)
    with _CACHE_LOCK:
        fs = _CACHE.get(key)
    if fs is not None:
        return fs
    if key_scheme == "":
        fs = pafs.LocalFileSystem()
    elif key_scheme == "s3":
        fs = _s3(cfg)
    elif key_scheme == "gs":
        fs = _gcs(cfg)
    elif key_scheme == "az":
        fs = _azure(cfg)
    else:
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(_fsspec_fs(scheme, cfg)))
    with _CACHE_LOCK:
        _CACHE[key] = fs
    return fs


def resolve(uri: str, io_config: IOConfig | None = None) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path on it)`` for a location."""
    fs = filesystem(uri, io_config)
    scheme, path = split_uri(uri)
    if scheme in ("abfs", "abfss") and "@" in path.split("/", 1)[0]:
        # abfs://container@account.dfs.core.windows.net/key -> container/key
        head, _, rest = path.partition("/")
        path = head.split("@", 1)[0] + ("/" + rest if rest else "")
    if scheme in ("http", "https"):
        path = uri  # fsspec's HTTP filesystem takes whole urls
    return fs, path


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def storage_error(uri: str, action: str, exc: BaseException) -> StorageError:
    """A :class:`StorageError` saying what failed on which location, and why in plain words."""
    text = str(exc)
    low = text.lower()
    if "parquet magic bytes not found" in low or "not a parquet file" in low or "invalid parquet" in low \
            or "couldn't deserialize thrift" in low or "parquet file size is 0" in low:
        why = "not a valid Parquet file (corrupt or truncated)"
    elif "no_such_bucket" in low or "nosuchbucket" in low or "bucket does not exist" in low \
            or "specified bucket does not exist" in low:
        bucket = split_uri(uri)[1].split("/", 1)[0]
        why = f"bucket {bucket!r} does not exist"
    elif isinstance(exc, FileNotFoundError) or "no such file" in low or "not found" in low or "nosuchkey" in low \
            or "path does not exist" in low or "does not exist" in low:
        why = "no such file or object"
    elif "access denied" in low or "accessdenied" in low or "forbidden" in low or isinstance(exc, PermissionError) \
            or "invalidaccesskeyid" in low or "signaturedoesnotmatch" in low:
        why = "access denied (check the credentials in th.IOConfig or the environment)"
    else:
        why = text.splitlines()[0] if text else type(exc).__name__
    return StorageError(f"{action} {uri}: {why}")


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One file of a listing."""

    uri: str
    size: int
    mtime: datetime.datetime | None


def _hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) for part in rel.split("/"))


def _walk(uri: str, io_config: IOConfig | None) -> list[FileEntry]:
    """Every file under folder ``uri`` (``_``/``.``-prefixed files and folders skipped)."""
    fs, path = resolve(uri, io_config)
    scheme = split_uri(uri)[0]
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=False))
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "listing", e) from None
    out = []
    base = path.rstrip("/") + "/"
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(base):] if info.path.startswith(base) else info.base_name
        if _hidden(rel):
            continue
        out.append(FileEntry(_to_uri(scheme, info.path), int(info.size or 0), _mtime(info)))
    out.sort(key=lambda e: e.uri)
    return out


def _mtime(info: pafs.FileInfo) -> datetime.datetime | None:
    m = info.mtime
    if m is None:
        return None
    return m if m.tzinfo is not None else m.replace(tzinfo=datetime.timezone.utc)


def info(uri: str, io_config: IOConfig | None = None) -> pafs.FileInfo:
    """The ``FileInfo`` of one location (type NotFound when missing)."""
    fs, path = resolve(uri, io_config)
    try:
        return fs.get_file_info(path)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "reading", e) from None


def glob(pattern: str, io_config: IOConfig | None = None) -> list[FileEntry]:
    """Files matching ``pattern`` (``*``, ``?``, ``[...]``, ``**`` any depth), sorted by location.

    A folder lists every file under it; a plain file lists itself; a miss is an empty list.
    """
    scheme = scheme_of(pattern)
    if scheme in ("http", "https"):
        return [FileEntry(pattern, -1, None)]
    norm = normalize(pattern) if not _GLOB_CHARS.search(pattern) else (
        local_path(pattern) if is_local(pattern) else pattern)
    if not _GLOB_CHARS.search(norm):
        i = info(norm, io_config)
        if i.type == pafs.FileType.File:
            return [FileEntry(norm, int(i.size or 0), _mtime(i))]
        if i.type == pafs.FileType.Directory:
            return _walk(norm, io_config)
        if not is_local(norm):
            _raise_if_no_bucket(norm, io_config)
        return []
    # the longest folder prefix without wildcards is listed, the rest matched with fnmatch
    sep = os.sep if is_local(norm) else "/"
    head, parts = [], norm.split(sep)
    for p in parts:
        if _GLOB_CHARS.search(p):
            break
        head.append(p)
    base = sep.join(head) or sep
    i = info(base, io_config)
    if i.type != pafs.FileType.Directory:
        if i.type == pafs.FileType.NotFound and not is_local(base):
            _raise_if_no_bucket(base, io_config)
        return []
    fs, base_path = resolve(base, io_config)
    scheme2 = split_uri(base)[0]
    recursive = "**" in norm or len(parts) - len(head) > 1
    try:
        infos = fs.get_file_info(pafs.FileSelector(base_path, recursive=recursive, allow_not_found=True))
    except (OSError, pa.ArrowException) as e:
        raise storage_error(base, "listing", e) from None
    rx = _glob_regex(split_uri(norm)[1] if scheme2 else norm, "/" if scheme2 else os.sep)
    out = [FileEntry(_to_uri(scheme2, x.path), int(x.size or 0), _mtime(x)) for x in infos
           if x.type == pafs.FileType.File and rx.fullmatch(x.path)]
    out.sort(key=lambda e: e.uri)
    return out


def _glob_regex(pattern: str, sep: str) -> re.Pattern[str]:
    """A regex for a glob where ``*`` stays within one folder and ``**/`` spans any depth."""
    s = re.escape(sep)
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**" + sep, i):
            out.append(f"(?:.*{s})?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(f"[^{s}]*")
            i += 1
        elif pattern[i] == "?":
            out.append(f"[^{s}]")
            i += 1
        elif pattern[i] == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(fnmatch.translate(pattern[i:j + 1])[4:-3])
                i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def expand_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], suffixes: tuple[str, ...],
                 io_config: IOConfig | None = None) -> list[str]:
    """Expand globs and folders into a sorted list of file locations; error naming what matched nothing."""
    return [e.uri for e in expand_entries(paths, suffixes, io_config)]


def expand_entries(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], suffixes: tuple[str, ...],
                   io_config: IOConfig | None = None) -> list[FileEntry]:
    """:func:`expand_paths` with each file's size and mtime from the same listing (size -1 for
    http(s), which is not asked): a reader that knows the size skips a HEAD per file open."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[FileEntry] = []
    for p in items:
        s = os.fspath(p)
        if scheme_of(s) in ("http", "https"):
            out.append(FileEntry(s, -1, None))
            continue
        if _GLOB_CHARS.search(s):
            matched = glob(s, io_config)
            if not matched:
                raise StorageError(f"no files match {s!r}")
            out.extend(matched)
            continue
        loc = normalize(s)
        i = info(loc, io_config)
        if i.type == pafs.FileType.File:
            out.append(FileEntry(loc, -1 if i.size is None else int(i.size), _mtime(i)))
        elif i.type == pafs.FileType.Directory:
            found = [e for e in _walk(loc, io_config) if not suffixes or e.uri.endswith(suffixes)]
            if not found:
                raise StorageError(f"no {'/'.join(suffixes)} files under folder {s!r}")
            out.extend(found)
        else:
            if not is_local(loc):
                _raise_if_no_bucket(loc, io_config)
            raise StorageError(f"file not found: {s!r}")
    return out


def _raise_if_no_bucket(uri: str, io_config: IOConfig | None) -> None:
    scheme, path = split_uri(uri)
    bucket = path.split("/", 1)[0]
    if not bucket or scheme in READ_ONLY_SCHEMES:
        return
    i = info(f"{scheme}://{bucket}", io_config)
    if i.type == pafs.FileType.NotFound:
        raise StorageError(f"{uri}: bucket {bucket!r} does not exist")


# --------------------------------------------------------------------------------------------
# Bytes in and out
# --------------------------------------------------------------------------------------------


def open_input_file(uri: str, io_config: IOConfig | None = None) -> Any:
    """A random-access input file (Parquet footers, row groups)."""
    fs, path = resolve(uri, io_config)
    try:
        return fs.open_input_file(path)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "opening", e) from None


def read_bytes(uri: str, io_config: IOConfig | None = None, max_bytes: int | None = None) -> bytes:
    """The whole object; with ``max_bytes``, refuse a larger one (StorageError) without reading it all."""
    if is_local(uri):
        path = local_path(uri)
        try:
            with open(path, "rb") as fh:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except OSError as e:
            raise storage_error(uri, "reading", e) from None
    else:
        fs, path = resolve(uri, io_config)
        try:
            with fs.open_input_stream(path) as fh:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except (OSError, pa.ArrowException) as e:
            raise storage_error(uri, "reading", e) from None
    if max_bytes is not None and len(data) > max_bytes:
        raise StorageError(f"reading {uri}: more than max_bytes={max_bytes} bytes")
    return bytes(data)


def fsync_dir(path: str) -> None:
    """Make a rename or a new file in folder ``path`` durable (no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(uri: str, data: bytes, io_config: IOConfig | None = None) -> None:
    """Write ``data`` at ``uri`` atomically: readers see the old object or the whole new one.

    Local: a temp file in the same folder, fsync, ``os.replace``, fsync of the folder. Object
    stores: one PUT (objects appear whole).
    """
    if is_local(uri):
        path = local_path(uri)
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        fsync_dir(d)
        return
    fs, path = resolve(uri, io_config)
    try:
        with fs.open_output_stream(path) as fh:
            fh.write(data)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "writing", e) from None


def put_if_absent(uri: str, data: bytes, io_config: IOConfig | None = None) -> bool:
    """Create ``uri`` holding ``data`` only if nothing is there; True when this call created it.

    Atomic against concurrent callers: local files through a hard link of a complete temp file
    (fails if the name exists), S3 and GCS through a conditional put (``If-None-Match: *`` /
    ``ifGenerationMatch=0``), which the stores evaluate server-side.
    """
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        path = local_path(uri)
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        fsync_dir(d)
        return True
    if scheme in READ_ONLY_SCHEMES:
        raise StorageError(f"{scheme}:// locations are read-only: cannot write {uri}")
    fs = _conditional_fs(scheme, resolve_io_config(io_config))
    _, path = split_uri(uri)
    try:
        if scheme in ("s3", "s3a"):
            fs.pipe_file(path, data, mode="create")
        elif scheme in ("gs", "gcs"):
            fs.pipe_file(path, data, ifGenerationMatch=0)
        else:
            fs.pipe_file(path, data, overwrite=False)
    except FileExistsError:
        return False
    except OSError as e:
        text = str(e)
        if "PreconditionFailed" in text or "412" in text or "precondition" in text.lower() \
                or "BlobAlreadyExists" in text or "ConditionNotMet" in text:
            return False
        raise storage_error(uri, "writing", e) from None
    return True


_COND: dict[tuple[str, IOConfig], Any] = {}


def _conditional_fs(scheme: str, cfg: IOConfig) -> Any:
    key = ({"s3a": "s3", "gcs": "gs", "abfss": "az", "abfs": "az", "azure": "az"}.get(scheme, scheme), cfg)
    fs = _COND.get(key)
    if fs is None:
        fs = _COND[key] = _fsspec_fs(scheme, cfg)
    return fs


def exists(uri: str, io_config: IOConfig | None = None) -> bool:
    if is_local(uri):
        return os.path.exists(local_path(uri))
    return info(uri, io_config).type != pafs.FileType.NotFound


def delete(uri: str, io_config: IOConfig | None = None) -> None:
    """Remove one file (no error when it is already gone)."""
    if is_local(uri):
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_path(uri))
        return
    fs, path = resolve(uri, io_config)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass
    except (OSError, pa.ArrowException) as e:
        if "not found" not in str(e).lower() and "does not exist" not in str(e).lower():
            raise storage_error(uri, "deleting", e) from None


def delete_dir(uri: str, io_config: IOConfig | None = None) -> None:
    """Remove a folder and everything under it (no error when missing)."""
    fs, path = resolve(uri, io_config)
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.delete_dir(path)


def copy(src: str, dst: str, io_config: IOConfig | None = None) -> None:
    """Copy one file on the same store (a server-side copy on object stores)."""
    fs, spath = resolve(src, io_config)
    _, dpath = resolve(dst, io_config)
    try:
        if is_local(dst):
            os.makedirs(os.path.dirname(dpath), exist_ok=True)
        fs.copy_file(spath, dpath)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(src, f"copying to {dst}:", e) from None


def _makedirs_local(path: str, attempts: int = 8) -> None:
    """``os.makedirs(path, exist_ok=True)`` that survives a concurrent writer removing an empty
    parent between two of its steps: a sink's abort/commit removes its staging folder's parents
    when they are empty (``_staging/<job>``), and another process writing the same job may be
    between creating ``_staging/<job>`` and its own folder inside it."""
    for _ in range(attempts - 1):
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    os.makedirs(path, exist_ok=True)


def makedirs(uri: str, io_config: IOConfig | None = None) -> None:
    """Create a folder (a no-op on object stores, which have none)."""
    if is_local(uri):
        _makedirs_local(local_path(uri))


def open_output_stream(uri: str, io_config: IOConfig | None = None) -> Any:
    """A writable stream; on object stores the object appears whole when the stream closes."""
    fs, path = resolve(uri, io_config)
    if is_local(uri):
        _makedirs_local(os.path.dirname(path))
    try:
        return fs.open_output_stream(path)
    except (OSError, pa.ArrowException) as e:
        raise storage_error(uri, "writing", e) from None


def check_writable(uri: str, what: str) -> None:
    """Refuse a sink location no writer can write (http, hf, unknown schemes), before any work."""
    s = os.fspath(uri)
    scheme = scheme_of(s)
    if scheme in READ_ONLY_SCHEMES:
        raise StorageError(f"{what} cannot write to {s!r}: {scheme}:// is read-only")
    if scheme not in KNOWN_SCHEMES:
        raise StorageError(f"{what} cannot write to {s!r}: unknown storage scheme {scheme!r} "
                           f"(supported: local paths, s3://, gs://, az://, abfs://)")
    if scheme in OBJECT_STORE_SCHEMES and not split_uri(s)[1].strip("/"):
        raise StorageError(f"{what} needs a bucket in {s!r}")


# --------------------------------------------------------------------------------------------
# Options for the table formats' own clients
# --------------------------------------------------------------------------------------------


def lance_storage_options(uri: str, io_config: IOConfig | None = None) -> dict[str, str] | None:
    """Lance's ``storage_options`` (object_store keys) for ``uri`` from an IOConfig."""
    cfg = resolve_io_config(io_config)
    scheme = scheme_of(uri)
    opts: dict[str, str] = {}
    if scheme in ("s3", "s3a"):
        c = cfg.s3
        endpoint = c.resolved_endpoint()
        if endpoint:
            opts["aws_endpoint"] = endpoint
            if endpoint.startswith("http://"):
                opts["allow_http"] = "true"
            if not c.force_virtual_addressing:
                opts["aws_virtual_hosted_style_request"] = "false"
        if c.key_id:
            opts["aws_access_key_id"] = c.key_id
        if c.access_key:
            opts["aws_secret_access_key"] = c.access_key
        if c.session_token:
            opts["aws_session_token"] = c.session_token
        region = c.resolved_region()
        if region:
            opts["aws_region"] = region
        if c.anonymous:
            opts["aws_skip_signature"] = "true"
    elif scheme in ("gs", "gcs"):
        g = cfg.gcs
        if g.credentials:
            opts["google_service_account"] = g.credentials
        if g.anonymous:
            opts["google_skip_signature"] = "true"
    elif scheme in ("az", "abfs", "abfss", "azure"):
        a = cfg.azure
        for k, v in (("account_name", a.storage_account), ("account_key", a.access_key), ("sas_token", a.sas_token),
                     ("bearer_token", a.bearer_token), ("tenant_id", a.tenant_id), ("client_id", a.client_id),
                     ("client_secret", a.client_secret)):
            if v:
                opts[k] = v
        if a.endpoint_url:
            opts["azure_storage_endpoint"] = a.endpoint_url
            if a.endpoint_url.startswith("http://"):
                opts["allow_http"] = "true"
    return opts or None


def iceberg_properties(io_config: IOConfig | None = None) -> dict[str, str]:
    """pyiceberg FileIO properties (``s3.endpoint``, ``gcs.*``, ``adls.*``) from an IOConfig."""
    cfg = resolve_io_config(io_config)
    c = cfg.s3
    props: dict[str, str] = {}
    endpoint = c.resolved_endpoint()
    if endpoint:
        props["s3.endpoint"] = endpoint
        if not c.force_virtual_addressing:
            props["s3.force-virtual-addressing"] = "false"
    if c.key_id:
        props["s3.access-key-id"] = c.key_id
    if c.access_key:
        props["s3.secret-access-key"] = c.access_key
    if c.session_token:
        props["s3.session-token"] = c.session_token
    region = c.resolved_region()
    if region:
        props["s3.region"] = region
    if c.anonymous:
        props["s3.anonymous"] = "true"
    g = cfg.gcs
    if g.project_id:
        props["gcs.project-id"] = g.project_id
    if g.token:
        props["gcs.oauth2.token"] = g.token
    if g.endpoint_url:
        props["gcs.service.host"] = g.endpoint_url
    a = cfg.azure
    for k, v in (("adls.account-name", a.storage_account), ("adls.account-key", a.access_key),
                 ("adls.sas-token", a.sas_token), ("adls.tenant-id", a.tenant_id), ("adls.client-id", a.client_id),
                 ("adls.client-secret", a.client_secret)):
        if v:
            props[k] = v
    return props


__all__ = [
    "FileEntry",
    "StorageError",
    "check_writable",
    "copy",
    "delete",
    "exists",
    "expand_entries",
    "expand_paths",
    "filesystem",
    "glob",
    "iceberg_properties",
    "is_local",
    "is_object_store",
    "join",
    "lance_storage_options",
    "normalize",
    "put_if_absent",
    "read_bytes",
    "resolve",
    "split_uri",
    "write_bytes",
]
