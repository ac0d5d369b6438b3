"""Text corpora with planted duplicates, for dedup tests and demos."""

from __future__ import annotations

import random


def planted_corpus(n_base: int = 300, seed: int = 0) -> tuple[list[str], dict[int, int]]:
    """Base documents plus near copies (a word changed) and exact copies; maps copy -> base.

    Every third base document gets a near copy (one of its 80 words replaced, word 3-gram
    Jaccard about 0.93), every seventh from the second on an exact copy.

    >>> docs, origin = planted_corpus(30)
    >>> len(docs), docs[origin[len(docs) - 1]] == docs[-1]
    (45, True)
    """
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    docs: list[str] = []
    origin: dict[int, int] = {}
    for _ in range(n_base):
        docs.append(" ".join(rng.choice(vocab) for _ in range(80)))
    for b in range(0, n_base, 3):
        words = docs[b].split()
        for k in rng.sample(range(len(words)), 1):
            words[k] = rng.choice(vocab)
        origin[len(docs)] = b
        docs.append(" ".join(words))
    for b in range(1, n_base, 7):
        origin[len(docs)] = b
        docs.append(docs[b])
    return docs, origin
