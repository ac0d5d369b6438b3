"""``df.dedup``: exact, fuzzy (MinHash + LSH + connected components), semantic and image dedup.

Every method either drops duplicates (keeping one representative per group) or, with
``return_groups=True``, returns one row per input row — ``id``, ``group_id``, ``is_kept`` — so the
groups can be inspected before anything is removed. Removal is a filter by row position, not a
join. Which row is kept: the first in input order (``exact`` with ``keep="last"``: the last;
``semantic``: the highest ``priority``, ties by input order).

Examples
--------
>>> import thresher as th
>>> df = th.from_pydict({"t": ["a cat", "a cat", "a dog"]})
>>> df.dedup.exact("t").to_pydict()
{'t': ['a cat', 'a dog']}
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from thresher.datatypes import Schema
from thresher.errors import ThresherTypeError
from thresher.expressions.expr import Column, Expr
from thresher.planner.logical import Dedup, LogicalPlan, Project

F = TypeVar("F", bound="Frame")


class Frame(Protocol):
    """What the namespace needs of a frame (the DataFrame; this module never imports it)."""

    @property
    def plan(self) -> LogicalPlan: ...

    @property
    def schema(self) -> Schema: ...

    @property
    def columns(self) -> list[str]: ...

    def with_columns(self: F, *exprs: Any, **named: Any) -> F: ...

    def _with(self: F, plan: LogicalPlan) -> F: ...


def _expr(e: Any) -> Expr:
    if isinstance(e, str):
        return Column(e)
    if isinstance(e, Expr):
        return e
    raise ThresherTypeError(f"expected a column name or expression, got {e!r}")


class DedupNamespace(Generic[F]):
    def __init__(self, df: F) -> None:
        self._df = df

    def _make(self, method: str, key: Any, params: dict[str, Any], return_groups: bool,
              priority: Any = None, id_column: str | None = None) -> F:
        key_expr = _expr(key)
        base = self._df
        if not isinstance(key_expr, Column):
            # compute an expression key (a decode + hash, a MinHash) in a parallel map stage of its
            # own, so the dedup stage only gathers keys
            base = base.with_columns(__dedup_key=key_expr)
            key_expr = Column("__dedup_key")
        node = Dedup(base.plan, method, key_expr, tuple(sorted(params.items())),
                     "groups" if return_groups else "filter",
                     _expr(priority) if priority is not None else None, id_column)
        if not return_groups and base is not self._df:
            return self._df._with(Project(node, tuple(Column(c) for c in self._df.columns)))
        return self._df._with(node)

    def exact(self, column: Any, keep: str = "first", return_groups: bool = False,
              id_column: str | None = None) -> F:
        """Drop rows whose ``column`` (text, bytes, any type) is identical to an earlier row's.

        ``keep``: "first" (default), "last", or "any" (the first, which is the cheapest to find).
        """
        if keep not in ("first", "last", "any"):
            raise ValueError("keep must be 'first', 'last' or 'any'")
        return self._make("exact", column, {"keep": "last" if keep == "last" else "first"}, return_groups,
                          id_column=id_column)

    def fuzzy(
        self,
        text_column: Any,
        threshold: float = 0.8,
        ngram: int = 5,
        num_perm: int = 128,
        bands: int | None = None,
        rows: int | None = None,
        seed: int = 1,
        verify: bool = False,
        unit: str = "char",
        return_groups: bool = False,
        id_column: str | None = None,
        device: str = "auto",
    ) -> F:
        """Near-duplicate text: MinHash signatures → LSH bands → candidate pairs → components.

        ``bands``/``rows`` default to the pair minimizing false positives + negatives on the
        S-curve ``1-(1-s^r)^b`` at ``threshold``; ``verify=True`` checks each candidate pair's
        exact Jaccard similarity of shingle sets (raises precision). ``device``: ``"auto"`` runs
        signatures, buckets and components on a GPU (CuPy, the ``gpu`` extra) when one is
        there, ``"gpu"`` insists, ``"cpu"`` never; the result is the same. On the Ray executor
        the decision is a shuffle over CPU tasks whatever ``device`` says.

        >>> import thresher as th
        >>> docs = ["the quick brown fox jumps over the lazy dog"] * 2 + ["something else entirely here"]
        >>> th.from_pydict({"t": docs}).dedup.fuzzy("t").count_rows()
        2
        """
        if (bands is None) != (rows is None):
            raise ValueError("give both bands and rows, or neither")
        params: dict[str, Any] = {"threshold": threshold, "ngram": ngram, "num_perm": num_perm, "seed": seed,
                                  "verify": verify, "unit": unit}
        if device not in ("auto", "cpu", "gpu"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
        if device != "auto":
            params["device"] = device
        if bands is not None:
            params["bands"], params["rows"] = bands, rows
        return self._make("fuzzy", text_column, params, return_groups, id_column=id_column)

    def semantic(self, embedding_column: Any, eps: float = 0.05, n_clusters: int = 1, priority: Any = None,
                 seed: int = 0, return_groups: bool = False, id_column: str | None = None,
                 kmeans_sample: int | None = None) -> F:
        """Drop items whose cosine similarity to a kept item of their k-means cluster is ≥ 1 - eps.

        k-means is trained on at most ``kmeans_sample`` rows (default 100,000, chosen by a hash
        of the row position and ``seed``: the same rows on every executor), then every row goes
        to its nearest centroid; so no process holds all embeddings on Ray.
        """
        params: dict[str, Any] = {"eps": eps, "n_clusters": n_clusters, "seed": seed}
        if kmeans_sample is not None:
            if kmeans_sample < 1:
                raise ValueError(f"kmeans_sample must be >= 1, got {kmeans_sample}")
            params["kmeans_sample"] = int(kmeans_sample)
        return self._make("semantic", embedding_column, params, return_groups, priority=priority,
                          id_column=id_column)

    def image(self, column: Any, max_distance: int = 4, hash: str = "phash", return_groups: bool = False,
              id_column: str | None = None) -> F:
        """Near-duplicate images: perceptual hashes within ``max_distance`` bits (Hamming).

        ``column`` is a uint64 hash column, or an image column (hashed with ``hash``).
        """
        key = _expr(column)
        dtype = key.resolve(self._df.schema).dtype
        if dtype.is_binary() or dtype.kind == "file":
            key = key.image.decode(mode="L")  # hashes only need luminance
            dtype = key.resolve(self._df.schema).dtype
        if dtype.kind == "image":
            key = key.image.phash() if hash == "phash" else key.image.dhash()
        return self._make("image", key, {"max_distance": max_distance}, return_groups, id_column=id_column)
