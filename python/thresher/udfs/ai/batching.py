"""Batch shaping shared by the providers: length-sorted token-budget batches and prefix buckets.

Examples
--------
>>> token_budget_batches([5, 1, 9, 2], max_tokens=10, max_items=3)
[[1, 3], [0], [2]]
>>> group_by_prefix([[1] * 20 + [2], [1] * 20 + [3], [4] * 20])
[[0, 1], [2]]
"""

from __future__ import annotations

from collections.abc import Sequence

from thresher.udfs.ai.scheduling import BLOCK_SIZE, PrefixScheduler, PromptRequest

__all__ = ["token_budget_batches", "group_by_prefix", "common_prefix_len"]


def token_budget_batches(lengths: Sequence[int], max_tokens: int, max_items: int) -> list[list[int]]:
    """Split item indices into batches sorted by length, each under a padded-token budget.

    A batch's cost is ``len(batch) * longest``; sorting by length keeps padding small. Every batch
    holds at least one item, so an item longer than the budget still runs (alone).

    Parameters
    ----------
    lengths : Sequence[int]
        Token length of each item.
    max_tokens : int
        Budget of padded tokens per batch.
    max_items : int
        Cap on items per batch.

    Returns
    -------
    list[list[int]]
        Indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = lengths[i]  # ascending order: the newest item is the longest
        if cur and ((len(cur) + 1) * longest > max_tokens or len(cur) >= max_items):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def group_by_prefix(token_ids: Sequence[Sequence[int]], block_size: int = BLOCK_SIZE) -> list[list[int]]:
    """Group prompts into buckets by shared token prefix, largest bucket first (one replica's view).

    Uses :class:`~thresher.udfs.ai.scheduling.PrefixScheduler` with one replica, so a provider
    batches exactly like the distributed policy.
    """
    sched = PrefixScheduler(num_replicas=1, block_size=block_size)
    sched.add(PromptRequest.make(i, t, block_size) for i, t in enumerate(token_ids))
    return sched.buckets()


def common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by all sequences.

    Examples
    --------
    >>> common_prefix_len([[1, 2, 3], [1, 2, 4], [1, 2]])
    2
    """
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
    return n
