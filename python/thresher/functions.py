"""AI functions usable in any expression: ``prompt``, ``embed_text``, ``embed_image``.

>>> import thresher as th
>>> e = th.functions.embed_text(th.col("text"), model="all-MiniLM-L6-v2")
>>> type(e).__name__
'UDFCall'
"""

from __future__ import annotations

from thresher.udfs.ai.model_functions import embed_image, embed_text, prompt

__all__ = ["embed_image", "embed_text", "prompt"]
