"""The model class of a folder `saliency-kd export` writes: the student's backbone with its
label head, pooled as the student pools (mean over the tokens, or the first token).

Copied into the exported folder as `modeling_saliency_kd.py` (it imports transformers and torch
only, never saliency_kd), so that `transformers` loads the folder with `trust_remote_code=True`:

    pipeline("text-classification", model=folder, trust_remote_code=True)
    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)

Why not BertForSequenceClassification: its head reads the first token through BERT's pooler
(a dense layer and a tanh), and a sentence-transformers student (MiniLM) pools the mean of its
tokens; neither can be written as the other, so such a folder would predict something else.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MultipleChoiceModelOutput, SequenceClassifierOutput


class SaliencyKDConfig(PretrainedConfig):
    """The student's pooling and labels around its backbone's own configuration (`backbone`,
    a dict with its `model_type`). A model type of its own: without `trust_remote_code`,
    transformers refuses the folder instead of loading a standard head of random weights."""

    model_type = "saliency_kd"

    def __init__(self, backbone: dict | None = None, pooling: str = "mean", **kwargs) -> None:
        self.backbone = dict(backbone or {})
        self.pooling = pooling
        super().__init__(**kwargs)

    def backbone_config(self) -> PretrainedConfig:
        spec = dict(self.backbone)
        return AutoConfig.for_model(spec.pop("model_type"), **spec)


class SaliencyKDPreTrainedModel(PreTrainedModel):
    config_class = SaliencyKDConfig
    base_model_prefix = "backbone"
    _supports_sdpa = True  # the backbone's attention decides; these let it
    _supports_flash_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:  # every weight comes from the file
        pass


def _pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, how: str) -> torch.Tensor:
    if how == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        attention_mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class _Scorer(SaliencyKDPreTrainedModel):
    def __init__(self, config) -> None:
        super().__init__(config)
        inner = config.backbone_config()
        self.backbone = AutoModel.from_config(inner)
        self.label_head = nn.Linear(inner.hidden_size, self.outputs(config))
        self.post_init()

    @staticmethod
    def outputs(config) -> int:
        return 1

    def scores(self, input_ids=None, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                               **kwargs).last_hidden_state
        pooled = _pool(hidden, attention_mask, self.config.pooling)
        return self.label_head(pooled)


class SaliencyKDForSequenceClassification(_Scorer):
    """Classification: one logit per label (`config.id2label`)."""

    @staticmethod
    def outputs(config) -> int:
        return config.num_labels

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                **_: object) -> SequenceClassifierOutput:
        logits = self.scores(input_ids, attention_mask, token_type_ids)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class SaliencyKDForMultipleChoice(_Scorer):
    """Multiple choice: inputs (batch, choices, length), one score per (context, choice) pair,
    as `BertForMultipleChoice` shapes them."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                **_: object) -> MultipleChoiceModelOutput:
        n = input_ids.shape[1]
        flat = [t.reshape(-1, t.shape[-1]) if t is not None else None
                for t in (input_ids, attention_mask, token_type_ids)]
        logits = self.scores(*flat).view(-1, n)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return MultipleChoiceModelOutput(loss=loss, logits=logits)


def _known_to_pipelines() -> None:
    """`pipeline(...)` logs an error for a class missing from its lists of supported classes
    (it runs it all the same); list ours there, where this version of transformers has them."""
    try:
        from transformers.models.auto import modeling_auto as auto
    except ImportError:
        return
    for table, cls in (("MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
                        SaliencyKDForSequenceClassification),
                       ("MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES", SaliencyKDForMultipleChoice)):
        names = getattr(auto, table, None)
        if isinstance(names, dict):
            names.setdefault(f"saliency_kd_{cls.__name__}", cls.__name__)


_known_to_pipelines()
