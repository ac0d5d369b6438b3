"""Any OpenAI-compatible HTTP endpoint (OpenAI, vLLM serve, llama.cpp, TGI, ...) through ``httpx``.

Requests to ``/v1/chat/completions`` and ``/v1/embeddings`` run concurrently (asyncio, bounded by a
semaphore). Connection errors, timeouts and 5xx answers are retried with exponential backoff and
jitter; a 429 waits for ``Retry-After`` (seconds or an HTTP date) when the server sends it, else
backs off. Every request has a time limit, and the whole call an optional deadline. Token usage
from the responses is accumulated in :attr:`OpenAIProvider.usage`.

Examples
--------
>>> p = OpenAIProvider("http://127.0.0.1:1/v1", model="m", embedding_dim=8)
>>> p.embedding_dim()
8
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
import numpy as np

from thresher.errors import ThresherExecutionError
from thresher.udfs.ai.providers.base import GenerationParams, PromptInput, TokenUsage, to_messages

__all__ = ["OpenAIProvider", "OpenAIRequestError"]

T = TypeVar("T")


class OpenAIRequestError(ThresherExecutionError):
    """A request failed for good (a 4xx other than 429, or retries exhausted)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OpenAIProvider:
    """Chat completions and embeddings from an OpenAI-compatible server.

    Parameters
    ----------
    base_url : str
        E.g. ``"http://localhost:8000/v1"`` (``/v1`` is appended when missing).
    model : str
        Model name sent in each request.
    api_key : str, optional
        Bearer token (default: ``$OPENAI_API_KEY`` when set).
    max_concurrency : int
        Requests in flight at once.
    max_retries : int
        Retries per request on 429, 5xx, timeouts and connection errors.
    backoff_s, max_backoff_s : float
        Exponential backoff base and cap (with full jitter).
    timeout_s : float
        Time limit of one request.
    deadline_s : float, optional
        Time limit of one ``generate``/``embed`` call, retries included.
    embedding_dim : int, optional
        Embedding size when known (else asked from the server with one tiny request).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_concurrency: int = 16,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 60.0,
        deadline_s: float | None = None,
        embedding_dim: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        url = base_url.rstrip("/")
        self.base_url = url if url.endswith("/v1") else url + "/v1"
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.headers = dict(headers or {})
        self.usage = TokenUsage()
        self.retries = 0  # retried requests, for observability
        self._dim = embedding_dim
        self._lock = threading.Lock()

    def load(self) -> None:
        """Nothing to load: clients are opened per call."""

    def embedding_dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    # -- public calls ------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[PromptInput], params: GenerationParams | None = None) -> list[str]:
        """One chat completion per prompt, concurrently; results in input order."""
        params = params or GenerationParams()

        def body(p: PromptInput) -> dict[str, Any]:
            req: dict[str, Any] = {
                "model": self.model,
                "messages": to_messages(p, params.system_prompt),
                "max_tokens": params.max_new_tokens,
                "temperature": params.temperature,
                "top_p": params.top_p,
            }
            if params.stop:
                req["stop"] = list(params.stop)
            if params.seed is not None:
                req["seed"] = params.seed
            req.update(params.extra)
            return req

        async def one(client: httpx.AsyncClient, p: PromptInput) -> str:
            data = await self._post(client, "/chat/completions", body(p))
            self._count(data)
            return str(data["choices"][0]["message"].get("content") or "")

        return self._run(lambda client: [one(client, p) for p in prompts])

    def embed(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Embeddings via ``/embeddings``, ``batch_size`` texts per request."""
        chunks = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]

        async def one(client: httpx.AsyncClient, chunk: list[str]) -> list[list[float]]:
            data = await self._post(client, "/embeddings", {"model": self.model, "input": chunk})
            self._count(data)
            rows = sorted(data["data"], key=lambda d: d.get("index", 0))
            return [r["embedding"] for r in rows]

        parts = self._run(lambda client: [one(client, c) for c in chunks])
        flat = [v for part in parts for v in part]
        if not flat:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        out = np.asarray(flat, dtype=np.float32)
        self._dim = out.shape[1]
        return out

    # -- machinery ---------------------------------------------------------------------------------
    def _count(self, data: dict[str, Any]) -> None:
        u = data.get("usage") or {}
        details = u.get("prompt_tokens_details") or {}
        with self._lock:
            self.usage.add(
                prompt=int(u.get("prompt_tokens", 0)),
                completion=int(u.get("completion_tokens", 0)),
                cached=int(details.get("cached_tokens", 0) or 0),
            )

    def _run(self, make: Callable[[httpx.AsyncClient], list[Awaitable[T]]]) -> list[T]:
        async def main() -> list[T]:
            headers = {"Content-Type": "application/json", **self.headers}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            limits = httpx.Limits(max_connections=self.max_concurrency)
            sem = asyncio.Semaphore(self.max_concurrency)
            async with httpx.AsyncClient(
                base_url=self.base_url, headers=headers, timeout=self.timeout_s, limits=limits
            ) as client:

                async def bounded(aw: Awaitable[T]) -> T:
                    async with sem:
                        return await aw

                gathered = asyncio.gather(*(bounded(aw) for aw in make(client)))
                if self.deadline_s is None:
                    return list(await gathered)
                try:
                    return list(await asyncio.wait_for(gathered, self.deadline_s))
                except asyncio.TimeoutError as exc:
                    raise OpenAIRequestError(f"{self.base_url}: call exceeded its {self.deadline_s}s deadline") from exc

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(main())
        # Called from inside an event loop (e.g. an async actor): run on a helper thread.
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                box["error"] = exc

        t = threading.Thread(target=target)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    def _delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * (2**attempt)))

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                resp = await client.post(path, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last, wait = f"{type(exc).__name__}: {exc}", self._delay(attempt)
            else:
                if resp.status_code < 300:
                    return resp.json()  # type: ignore[no-any-return]
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                if resp.status_code == 429:
                    wait = _retry_after(resp) or self._delay(attempt)
                elif resp.status_code >= 500:
                    wait = self._delay(attempt)
                else:
                    raise OpenAIRequestError(f"{self.base_url}{path}: {last}", resp.status_code)
            if attempt == self.max_retries:
                break
            with self._lock:
                self.retries += 1
            await asyncio.sleep(min(wait, self.max_backoff_s))
        raise OpenAIRequestError(f"{self.base_url}{path}: gave up after {self.max_retries} retries ({last})")


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` (or ``retry-after-ms``) header, if any."""
    ms = resp.headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None
