"""df.dedup: exact, fuzzy, semantic and image near-duplicates through the DataFrame API."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import thresher as th
from thresher import col
from thresher.testing.text import planted_corpus


def test_exact_keeps_first_and_groups() -> None:
    df = th.from_pydict({"t": ["a", "b", "a", None, "b", None], "k": [1, 2, 3, 4, 5, 6]})
    assert df.dedup.exact("t").to_pydict()["k"] == [1, 2, 4, 6]
    assert df.dedup.exact("t", keep="last").to_pydict()["k"] == [3, 4, 5, 6]
    g = df.dedup.exact("t", return_groups=True, id_column="k").to_pydict()
    assert g == {"id": [1, 2, 3, 4, 5, 6], "group_id": [1, 2, 1, 4, 2, 6],
                 "is_kept": [True, True, False, True, False, True]}


def test_exact_on_binary_and_ints() -> None:
    df = th.from_pydict({"b": [b"x", b"y", b"x"], "i": [5, 5, 6]})
    assert df.dedup.exact("b").count_rows() == 2
    assert df.dedup.exact("i").count_rows() == 2


def test_fuzzy_finds_planted_duplicates_and_is_batch_size_invariant() -> None:
    docs, origin = planted_corpus()
    df = th.from_pydict({"id": list(range(len(docs))), "text": docs})
    groups = df.dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word", verify=True,
                            return_groups=True, id_column="id").to_pydict()
    group = dict(zip(groups["id"], groups["group_id"]))
    found = sum(group[c] == group[b] for c, b in origin.items())
    assert found / len(origin) >= 0.95
    # unrelated base documents never merge
    bases = [group[i] for i in range(300)]
    assert len(set(bases)) == 300
    kept = df.dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word", verify=True).to_pydict()["id"]
    kept_small = df.into_batches(37).dedup.fuzzy("text", threshold=0.8, ngram=3, unit="word",
                                                  verify=True).to_pydict()["id"]
    assert kept == kept_small
    assert len(kept) == len(docs) - found


def test_fuzzy_transitive_chain_is_one_group() -> None:
    base = [f"tok{i}" for i in range(60)]
    a = " ".join(base)
    b = " ".join(base[:57] + ["x1", "x2", "x3"])
    c = " ".join(base[:54] + ["x1", "x2", "x3", "y1", "y2", "y3"])
    df = th.from_pydict({"t": [a, b, c, "completely different words here and there"]})
    g = df.dedup.fuzzy("t", threshold=0.85, ngram=2, unit="word", bands=32, rows=4,
                       return_groups=True).to_pydict()
    assert g["group_id"][:3] == [0, 0, 0] and g["group_id"][3] == 3


def test_minhash_expression_matches_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    from thresher.operators.kernels.minhash import shingle

    text = "the quick brown fox jumps over the lazy dog"
    df = th.from_pydict({"t": [text]})
    sig = df.select(col("t").minhash(num_perm=64, ngram=3, unit="word", hash="sha1_32")).to_pydict()["t"][0]
    m = datasketch.MinHash(num_perm=64, seed=1)
    for s in shingle(pa.array([text]), 3, "word").to_pylist()[0]:
        m.update(s.encode())
    assert sig == m.hashvalues.tolist()


def test_semantic_planted_clusters() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 32)).astype(np.float32)
    vecs, ids = [], []
    for c in range(20):
        for j in range(5):
            v = centers[c] + (0 if j == 0 else 0.01) * rng.normal(size=32).astype(np.float32)
            vecs.append(v / np.linalg.norm(v))
            ids.append(c * 10 + j)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(vecs)), 32)
    df = th.from_arrow(pa.table({"id": ids, "e": emb}))
    out = df.dedup.semantic("e", eps=0.01, n_clusters=4).to_pydict()
    assert len(out["id"]) == 20
    assert sorted({i // 10 for i in out["id"]}) == list(range(20))
    prio = df.with_columns(p=col("id") % 10)
    best = prio.dedup.semantic("e", eps=0.01, n_clusters=4, priority="p").to_pydict()["id"]
    assert all(i % 10 == 4 for i in best)


def test_image_near_duplicates_by_phash() -> None:
    from PIL import Image

    from thresher.testing.media import image_array, make_jpeg

    base = [make_jpeg(256, 256, seed=s) for s in range(6)]
    import io

    def recompress(b: bytes, q: int) -> bytes:
        im = Image.open(io.BytesIO(b))
        out = io.BytesIO()
        im.resize((200, 200)).save(out, format="JPEG", quality=q)
        return out.getvalue()

    del image_array
    blobs = base + [recompress(base[0], 60), recompress(base[3], 40)]
    df = th.from_pydict({"id": list(range(len(blobs))), "b": blobs})
    out = df.dedup.image(col("b").image.decode(), max_distance=8).to_pydict()["id"]
    assert out == [0, 1, 2, 3, 4, 5]


def test_fuzzy_verify_spills_shingles_and_decides_the_same() -> None:
    from thresher.expressions.expr import Column
    from thresher.operators.dedup import DedupOperator, DedupState

    docs, _ = planted_corpus(120, seed=4)
    table = pa.table({"t": docs})
    params = {"threshold": 0.8, "ngram": 3, "unit": "word", "verify": True}
    results = []
    for limit in (1 << 30, 2000):  # in memory; spilled after the first kilobytes
        op = DedupOperator("fuzzy", Column("t"), params, th.from_arrow(table).schema)
        op.spill_bytes = limit
        state = DedupState()
        for b in table.to_batches(max_chunksize=17):
            one = DedupState()
            op.keys(b, one)
            op.merge(state, one)
        assert state.shingles is not None and state.shingles.spilled == (limit == 2000)
        results.append(op.decide(state))
    (g0, k0), (g1, k1) = results
    assert (~k0).sum() > 20
    assert np.array_equal(g0, g1) and np.array_equal(k0, k1)
