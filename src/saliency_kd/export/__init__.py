"""`saliency-kd export`: a trained encoder student as a Hugging Face folder that `transformers`
loads on its own (`pipeline("text-classification", model=folder, trust_remote_code=True)`),
with `id2label`, and optionally as ONNX.

What is exact, and what is not standard: the folder holds the student's backbone and label
head, and predicts exactly what the student predicts (tests/export/ compares them). Its class
is not `BertForSequenceClassification`, whose head reads the first token through BERT's pooler
(dense + tanh): a student pools the mean of its tokens (or the raw first token), which no
standard head of a BERT computes. So the folder ships its class (`modeling_saliency_kd.py`,
~80 lines of torch) and `transformers` asks for `trust_remote_code=True` instead of loading a
head of random weights without a word. The rationale-tagging head is not part of the exported
model (`saliency_kd.load_student` serves it).

A seq2seq or causal student needs no export: its model/ folder is already a standard
`AutoModelForSeq2SeqLM` / `AutoModelForCausalLM` folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..settings import opt

MODELING = Path(__file__).with_name("modeling_saliency_kd.py")


@dataclass
class ExportConfig:
    """What `saliency-kd export MODEL_DIR --out DIR` writes."""

    out: str = opt("", required=True)
    """The folder to write (new or empty, or an earlier export's)."""
    onnx: bool = False
    """Also write model.onnx (needs the `export` extra: onnx, onnxruntime)."""
    overwrite: bool = False
    """Write into an existing folder that is not an earlier export."""


def export(model_dir: str | Path, cfg: ExportConfig) -> Path:
    """Write the student of `model_dir` as a transformers folder (and ONNX) in `cfg.out`."""
    from ..artifact import claim_output_dir
    from ..errors import loading
    from ..student import load_student

    if not cfg.out:
        raise ConfigError("out", "give the folder to write (--out)")
    with loading("model", model_dir, "student model folder"):
        student = load_student(model_dir)
    if student.family != "encoder":
        raise ConfigError("model", f"a {student.family} student's folder is already a standard "
                                   "transformers model folder; there is nothing to export")
    if student.together:
        raise ConfigError("model", "this student reads every choice in one sequence (pooling "
                                   "'choices'), which no transformers multiple-choice class "
                                   "takes; serve it with saliency_kd.load_student")
    out = claim_output_dir(cfg.out, "export", cfg.overwrite)
    model = to_transformers(student)
    model.save_pretrained(out)
    shutil.copyfile(MODELING, out / MODELING.name)
    student.tokenizer.model_max_length = student.max_length
    student.tokenizer.save_pretrained(out)
    (out / "saliency_kd.json").write_text(json.dumps(
        {"from": str(model_dir), "task": student.task.name,
         "pooling": model.config.pooling, "class": type(model).__name__}, indent=1) + "\n")
    if cfg.onnx:
        from .onnx import write_onnx

        write_onnx(model, student.tokenizer, out / "model.onnx")
    return out


def to_transformers(student):
    """The student's backbone and label head in the exported class (on CPU, eval mode)."""
    from .modeling_saliency_kd import (
        SaliencyKDConfig,
        SaliencyKDForMultipleChoice,
        SaliencyKDForSequenceClassification,
    )

    net = student.net
    cls = SaliencyKDForMultipleChoice if student.multiple_choice else \
        SaliencyKDForSequenceClassification
    auto = "AutoModelForMultipleChoice" if student.multiple_choice else \
        "AutoModelForSequenceClassification"
    labels = {} if student.multiple_choice else {
        "id2label": dict(enumerate(student.task.label_names)),
        "label2id": {name: i for i, name in enumerate(student.task.label_names)}}
    config = SaliencyKDConfig(
        backbone=net.backbone.config.to_dict(), pooling=net.pooling,
        architectures=[cls.__name__], **labels,
        auto_map={"AutoConfig": f"{MODELING.stem}.SaliencyKDConfig",
                  auto: f"{MODELING.stem}.{cls.__name__}"})
    model = cls(config)
    model.backbone.load_state_dict(net.backbone.state_dict())
    model.label_head.load_state_dict(net.label_head.state_dict())
    return model.to("cpu").eval()
