"""Render a pyarrow Table for notebooks and terminals, media included.

Images show as small inline thumbnails (base64 JPEG, or PNG when they have alpha), encoded images
and videos as a thumbnail of the picture / first frame, audio as its duration, tensors and
embeddings as their shape and first values. Used by ``DataFrame._repr_html_`` and ``show``.

Examples
--------
>>> import pyarrow as pa
>>> print(table_to_text(pa.table({"a": [1, 2], "b": ["x", None]})))
a | b
--+-----
1 | x
2 | null
(2 rows)
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pyarrow as pa

THUMBNAIL = 96
_TEXT_WIDTH = 40


def _kind(t: pa.DataType) -> str:
    return str(getattr(t, "kind", "")) if isinstance(t, pa.ExtensionType) else ""


def _pil_from_struct(v: dict[str, Any]) -> Any:
    from PIL import Image

    return Image.frombuffer(v["mode"], (v["width"], v["height"]), v["data"], "raw", v["mode"], 0, 1)


def _thumb_uri(im: Any) -> str:
    im = im.copy()
    im.thumbnail((THUMBNAIL, THUMBNAIL))
    buf = io.BytesIO()
    if im.mode in ("RGBA", "LA"):
        im.save(buf, format="PNG")
        mime = "png"
    else:
        im.convert("RGB" if im.mode != "L" else "L").save(buf, format="JPEG", quality=80)
        mime = "jpeg"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def _encoded_image(data: bytes) -> Any | None:
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        im.draft("RGB", (THUMBNAIL, THUMBNAIL))
        if im.size[0] * im.size[1] > 50_000_000:
            return None
        im.load()
        return im
    except Exception:  # noqa: BLE001 - not an image: shown as bytes
        return None


def _first_frame(data: bytes) -> Any | None:
    try:
        import av

        with av.open(io.BytesIO(data)) as c:
            for frame in c.decode(video=0):
                return frame.to_image()
    except Exception:  # noqa: BLE001 - not a decodable video
        return None
    return None


def _audio_duration(data: bytes) -> float | None:
    try:
        import av

        with av.open(io.BytesIO(data)) as c:
            s = c.streams.audio[0]
            if s.duration is not None:
                return float(s.duration * s.time_base)
            return c.duration / 1e6 if c.duration else None
    except Exception:  # noqa: BLE001
        return None


def _short(v: Any, width: int = _TEXT_WIDTH) -> str:
    # floats to 6 significant digits, as Polars prints them (0.1 + 0.2 shows as 0.3)
    s = "null" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
    s = s.replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def _vector_summary(v: Any, kind: str) -> str:
    if isinstance(v, dict) and "shape" in v:
        head = v["data"][:4]
        return f"{kind}{tuple(v['shape'])} [{', '.join(f'{x:.3g}' for x in head)}{', …' if len(v['data']) > 4 else ''}]"
    arr = np.asarray(v)
    head = ", ".join(f"{x:.3g}" for x in arr[:4].tolist())
    return f"{kind}[{arr.size}] [{head}{', …' if arr.size > 4 else ''}]"


def cell_text(value: Any, t: pa.DataType) -> str:
    """A one-line text rendering of one value of type ``t``."""
    if value is None:
        return "null"
    kind = _kind(t)
    if kind == "image":
        return f"<image {value['width']}x{value['height']} {value['mode']}>"
    if kind in ("file", "video"):
        return f"<{kind} {len(value)} bytes>"
    if kind == "audio":
        d = _audio_duration(value)
        return f"<audio {d:.2f} s>" if d is not None else f"<audio {len(value)} bytes>"
    if kind in ("tensor", "embedding"):
        return _vector_summary(value, kind)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return _short(value)


def cell_html(value: Any, t: pa.DataType) -> str:
    """An HTML rendering of one value: thumbnails for pictures and videos."""
    if value is None:
        return "<i>null</i>"
    kind = _kind(t)
    im = None
    if kind == "image":
        im = _pil_from_struct(value)
    elif kind == "video":
        im = _first_frame(value)
    elif kind == "file" or (isinstance(value, bytes) and value[:4] in (b"\xff\xd8\xff\xe0", b"\x89PNG", b"\xff\xd8\xff\xe1")):
        im = _encoded_image(value)
    if im is not None:
        title = html.escape(cell_text(value, t))
        return f'<img src="{_thumb_uri(im)}" title="{title}" style="max-width:{THUMBNAIL}px;max-height:{THUMBNAIL}px"/>'
    return html.escape(cell_text(value, t))


def table_to_html(table: pa.Table | pa.RecordBatch, max_rows: int = 20) -> str:
    """An HTML table of the first ``max_rows`` rows, with column types in the header."""
    head = table.slice(0, max_rows)
    cols = []
    for _name, col in zip(head.schema.names, head.columns):
        t = col.type
        cols.append([cell_html(v, t) for v in col.to_pylist()])
    th = "".join(f"<th>{html.escape(n)}<br/><small>{html.escape(_type_name(f.type))}</small></th>"
                 for n, f in zip(head.schema.names, head.schema))
    body = "".join("<tr>" + "".join(f"<td>{c[i]}</td>" for c in cols) + "</tr>" for i in range(head.num_rows))
    more = f"<p>{table.num_rows} rows (showing {head.num_rows})</p>" if table.num_rows > head.num_rows else \
        f"<p>{table.num_rows} rows</p>"
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>{more}"


def _type_name(t: pa.DataType) -> str:
    """Thresher's name of the type (``string``, ``embedding[float32, 384]``), not Arrow's ``large_string``."""
    from thresher.datatypes import DataType

    try:
        return str(DataType.from_arrow(t))
    except Exception:  # noqa: BLE001 - a type Thresher has no name for: Arrow's
        return str(t)


def table_to_text(table: pa.Table | pa.RecordBatch, max_rows: int = 20) -> str:
    """A plain-text grid of the first ``max_rows`` rows (media summarized, never dumped)."""
    head = table.slice(0, max_rows)
    names = head.schema.names
    cols = [[cell_text(v, c.type) for v in c.to_pylist()] for c in head.columns]
    widths = [max([len(n)] + [len(x) for x in c]) for n, c in zip(names, cols)]
    lines = [" | ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    for i in range(head.num_rows):
        lines.append(" | ".join(c[i].ljust(w) for c, w in zip(cols, widths)).rstrip())
    suffix = f"({table.num_rows} rows" + (f", showing {head.num_rows})" if table.num_rows > head.num_rows else ")")
    lines.append(suffix)
    return "\n".join(lines)
