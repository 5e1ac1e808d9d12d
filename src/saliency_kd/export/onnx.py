"""The exported model as ONNX: inputs `input_ids`, `attention_mask` (and `token_type_ids` where
the tokenizer makes them), output `logits`; batch and length are dynamic."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


def require_onnx() -> None:
    """A one-line error when the `export` extra is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("onnx", "needs the onnx package: pip install 'saliency-kd[export]'") \
            from None


def input_names(tokenizer) -> list[str]:
    names = ["input_ids", "attention_mask"]
    return names + ["token_type_ids"] if "token_type_ids" in tokenizer.model_input_names \
        else names


def write_onnx(model, tokenizer, path: Path) -> Path:
    """Trace `model` (an exported classifier or multiple-choice scorer) into `path`."""
    import torch

    require_onnx()
    names = input_names(tokenizer)
    mc = type(model).__name__.endswith("MultipleChoice")
    enc = tokenizer(["a short example", "another one"], ["x", "y"] if mc else None,
                    return_tensors="pt", padding=True)
    args = tuple(enc[n].unsqueeze(0) if mc else enc[n] for n in names)
    axes = {0: "batch", 1: "choices", 2: "length"} if mc else {0: "batch", 1: "length"}
    out_axes = {0: "batch", 1: "choices"} if mc else {0: "batch"}

    class Logits(torch.nn.Module):  # positional inputs in, the logits tensor out
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).logits

    with torch.no_grad():
        torch.onnx.export(Logits().eval(), args, str(path), input_names=names,
                          output_names=["logits"], dynamo=False, opset_version=17,
                          dynamic_axes={**{n: axes for n in names}, "logits": out_axes})
    return path
