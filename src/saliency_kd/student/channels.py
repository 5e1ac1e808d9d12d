"""Explanation channels: how the teacher's rationale reaches a student's training.

A channel turns the teacher's word-level explanation of an example into one extra loss term,
weighted `1 - alpha` against the label loss (so `alpha = 1` is standard training, bit for bit:
a zero-weighted term is never computed). Each channel is a small function registered under a
name, like the attribution methods:

- `tag` (encoder, by name): a token-tagging head beside the classifier learns which words are
  rationale words. It shares the encoder's features but never touches the decision itself.
- `attention` (encoder, causal, seq2seq; the encoder's default): KL divergence from the
  teacher's word distribution to the student's last-layer attention at its decision position,
  merged from sub-words to words (Pruthi et al., TACL 2022: attention regularisation toward the
  teacher's explanation). The decision position: the encoder's [CLS] (or its pooled tokens, or
  its choices' own tokens); a causal LM's answer position (the one whose logits predict the
  first answer token) looking at the prompt; a seq2seq decoder's first answer step, its
  cross-attention over the encoder's tokens.
- `attribution` (encoder): KL divergence from the teacher's word distribution to the student's
  own input-gradient saliency (double backward), normalised per example (AD-KD, Wu et al., ACL
  2023; Ross et al., 2017).
- `generate` (seq2seq, causal): the student writes the rationale words after its answer; the
  family's own loss computes it.

The teacher's word distribution: uniform over the rationale words (the top-k of the teacher's
file), or weighted by |word score| ** (1 / temperature) (`ChannelOptions.weighting`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..errors import ConfigError
from ..registry import Registry, doc_line
from ..settings import PositiveFloat
from ..words import count_words
from .items import TrainItem

# The floor of a student's word mass inside the log: attention or saliency may put exactly no
# mass on a word, and log(0) would make the loss infinite where its gradient is still useful.
EPS = 1e-8


@dataclass
class ChannelOptions:
    """How the teacher's explanation is turned into a target for the student."""

    weighting: Literal["uniform", "score"] = "uniform"
    """Target over the rationale words: `uniform`, or `score` (|word score| ** (1/temperature),
    normalised; random and gold-evidence files carry their own scores)."""
    temperature: PositiveFloat = 1.0
    """With weighting `score`: above 1 flattens the teacher's word distribution, below 1
    sharpens it."""
    heads: list[int] | None = None
    """`attention`: the last layer's heads whose attention is averaged (default: all)."""

    def validate(self) -> None:
        if self.weighting not in ("uniform", "score"):
            raise ConfigError("weighting", f"'{self.weighting}' is not one of uniform, score")
        if self.temperature <= 0:
            raise ConfigError("channel_temperature", "must be positive")


@dataclass
class PairTargets:
    """The teacher's explanation laid over a batch of encoder inputs (one row per input pair)."""

    token_word: torch.Tensor
    """[P, T] teacher word index of each token, -1 for special tokens, separators, padding."""
    target: torch.Tensor
    """[P, W] the teacher's word distribution over the words each pair contains (rows sum to 1;
    all zero where the pair holds none of the rationale words)."""
    valid: torch.Tensor
    """[P] pairs that hold at least one rationale word (only they enter the loss)."""


@dataclass
class EncoderPass:
    """What a channel may read of one encoder forward pass."""

    student: Any
    """The EncoderStudent (its `net`, `pooling`)."""
    feats: dict[str, torch.Tensor]
    label_logits: torch.Tensor
    """[n_examples, n_candidates]."""
    target_index: torch.Tensor
    """[n_examples] index of the label to learn."""
    tag_logits: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None
    embeds: torch.Tensor | None
    """Input embeddings the pass started from (for gradients with respect to them)."""
    pairs: PairTargets
    tags: torch.Tensor | None = None
    """[P, T] 1/0 rationale tags per token (-100: not a word), for `tag`."""


ChannelFn = Callable[[EncoderPass, ChannelOptions], torch.Tensor]


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    fn: ChannelFn | None
    """None: the family computes this channel in its own loss (generation)."""
    families: tuple[str, ...]
    needs: frozenset[str]
    """What the encoder pass must provide: `hidden_states`, `embeds`, `tags`."""
    description: str


CHANNELS: Registry[ChannelSpec] = Registry("channel")
DEFAULT_CHANNEL = {"encoder": "attention", "seq2seq": "generate", "causal": "generate"}
"""The channel a rationale mode trains through when none is named. Encoders default to
`attention` (the student's own attention is pulled towards the rationale words): the tagging
head (`tag`) stays available by name."""
FORMER_DEFAULT_CHANNEL = {"encoder": "tag", "seq2seq": "generate", "causal": "generate"}
"""What `channel: null` meant in a student saved before the encoder default became `attention`
(students now record the channel they resolved)."""


def register_channel(name: str, *, families: tuple[str, ...], needs: tuple[str, ...] = (),
                     family_loss: bool = False):
    """Register `fn` as channel `name`; its docstring's first line describes it. With
    `family_loss` the student family computes the term itself and `fn` only documents it.
    A name is registered once: registering it again raises ValueError."""

    def deco(fn):
        help = doc_line(fn)
        CHANNELS.add(name, ChannelSpec(name, None if family_loss else fn, families,
                                       frozenset(needs), help), help)
        return fn

    return deco


get_channel = CHANNELS.get
channel_names = CHANNELS.names


def resolve_channel(name: str | None, family: str) -> ChannelSpec:
    """The channel a student of `family` trains its rationale through (None: its default)."""
    spec = get_channel(name or DEFAULT_CHANNEL[family])
    if family not in spec.families:
        fits = ", ".join(n for n, s in CHANNELS.items() if family in s.families)
        raise ConfigError("channel", f"channel '{spec.name}' is for "
                                     f"{' and '.join(spec.families)} students, not {family}; "
                                     f"{family} students take {fits}")
    return spec


# ---- the loss maths ---------------------------------------------------------------------------
def word_mass(token_mass: torch.Tensor, token_word: torch.Tensor, n_words: int) -> torch.Tensor:
    """[P, W] mass per word: the sum over its sub-word tokens (tokens outside words dropped)."""
    idx = token_word.clamp(min=0)
    inside = (token_word >= 0).to(token_mass.dtype)
    out = token_mass.new_zeros(token_mass.shape[0], n_words)
    return out.scatter_add(1, idx, token_mass * inside)


def word_kl(target: torch.Tensor, student: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid rows of KL(target || student) on words; `student` need not sum to 1 (a
    student's attention also rests on special tokens: the loss pulls that mass onto the
    teacher's words). 0 exactly when the student's mass equals the target on every word."""
    if not bool(valid.any()):
        return student.sum() * 0.0  # keeps the graph (and a zero gradient) for the batch
    t, s = target[valid], student[valid]
    terms = torch.where(t > 0, t * (t.clamp(min=EPS).log() - s.clamp(min=EPS).log()),
                        torch.zeros_like(t))
    return terms.sum(-1).mean()


def normalise(mass: torch.Tensor) -> torch.Tensor:
    """Rows scaled to sum to 1 (rows of zeros stay zero)."""
    return mass / mass.sum(-1, keepdim=True).clamp(min=EPS)


def target_distribution(n_words: int, rationale: set[int], present: set[int],
                        scores: list[float] | None, opts: ChannelOptions) -> list[float]:
    """The teacher's distribution over the `present` words of one input pair."""
    out = [0.0] * n_words
    for w in rationale & present:
        if opts.weighting == "score" and scores is not None:
            out[w] = abs(scores[w]) ** (1.0 / opts.temperature)
        else:
            out[w] = 1.0
    total = sum(out)
    return [x / total for x in out] if total > 0 else out


def word_targets(items: list[TrainItem], token_word: torch.Tensor,
                 opts: ChannelOptions) -> PairTargets:
    """The teacher's explanation laid over rows of tokens: row i holds `items[i]`'s input and
    `token_word` ([rows, T], -1 outside words) says which teacher word each token is in."""
    n_words = max(count_words(it.segments) for it in items)
    target = torch.tensor([target_distribution(n_words, it.rationale_words, set(row) - {-1},
                                               it.word_scores, opts)
                           for it, row in zip(items, token_word.tolist())])
    target = target.to(token_word.device)
    return PairTargets(token_word, target, target.sum(-1) > 0)


def mean_heads(probs: torch.Tensor, opts: ChannelOptions) -> torch.Tensor:
    """Attention [rows, H, ...] averaged over its heads (dim 1), or over the chosen ones."""
    return (probs[:, opts.heads] if opts.heads else probs).mean(1)


def attention_kl(rows: torch.Tensor, targets: PairTargets) -> torch.Tensor:
    """The `attention` channel's loss from [rows, T] attention of each row's decision position
    over its tokens: merged to words, KL from the teacher's word distribution."""
    mass = word_mass(rows, targets.token_word, targets.target.shape[1])
    return word_kl(targets.target, mass, targets.valid)


def token_words(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """Word index of each token from its character offsets and the words' character spans
    (-1: special tokens, template text, padding)."""
    out = []
    for s, e in offsets:
        out.append(next((w for w, (ws, we) in enumerate(spans) if s < we and e > ws), -1)
                   if e > s else -1)
    return out


def last_layer_attention(layer, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[P, H, T, T] attention probabilities of a BERT-style self-attention `layer` on its input
    `hidden`, before dropout: what the layer's own softmax computes, recomputed from its query
    and key projections so the main pass keeps its fast attention kernel."""
    shape = (*hidden.shape[:2], layer.num_attention_heads, layer.attention_head_size)
    q = layer.query(hidden).view(shape).transpose(1, 2)
    k = layer.key(hidden).view(shape).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) * layer.attention_head_size ** -0.5
    scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
    return scores.softmax(-1)


def decision_attention(probs: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[P, T] attention of the positions the decision is read from: [CLS] (its row) or, with
    mean pooling, the mean of the rows of `mask`'s tokens (the mix of values the pooled vector
    is): the real tokens, or with `choices` pooling the choices' own tokens."""
    if pooling == "cls":
        return probs[:, 0]
    m = mask.to(probs.dtype)
    return (probs * m[:, :, None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)


# ---- the channels -----------------------------------------------------------------------------
@register_channel("tag", families=("encoder",), needs=("tags",))
def tag(p: EncoderPass, opts: ChannelOptions) -> torch.Tensor:
    """A tagging head learns which words are rationale words (shares features, not the decision)."""
    mask = p.tags != -100
    return torch.nn.functional.binary_cross_entropy_with_logits(p.tag_logits[mask],
                                                                p.tags[mask])


@register_channel("attention", families=("encoder", "causal", "seq2seq"),
                  needs=("hidden_states",))
def attention(p: EncoderPass, opts: ChannelOptions) -> torch.Tensor:
    """KL from the teacher's word distribution to the last layer's attention at the decision."""
    layer = p.student.net.backbone.encoder.layer[-1].attention.self
    mask = p.feats["attention_mask"]
    probs = last_layer_attention(layer, p.hidden_states[-2], mask)
    choices = p.feats.get("choice_mask")
    decision = mask if choices is None else choices.any(1)
    rows = decision_attention(mean_heads(probs, opts), decision, p.student.net.pooling)
    return attention_kl(rows, p.pairs)


@register_channel("attribution", families=("encoder",), needs=("embeds",))
def attribution(p: EncoderPass, opts: ChannelOptions) -> torch.Tensor:
    """KL from the teacher's word distribution to the student's own input-gradient saliency."""
    # One scalar, differentiated w.r.t. the embeddings alone: this pass computes no parameter
    # gradient (profiled: half the matrix products of a standard backward), and the logits are
    # the label loss's own (one forward for both terms).
    logp = p.label_logits.log_softmax(-1).gather(1, p.target_index[:, None]).sum()
    (grad,) = torch.autograd.grad(logp, p.embeds, create_graph=True)
    # The L2 norm of the gradient per token, as the teacher's `saliency`; the epsilon keeps the
    # norm's own gradient finite at tokens whose gradient is exactly zero (padding).
    sal = (grad.pow(2).sum(-1) + EPS).sqrt() * p.feats["attention_mask"]
    mass = normalise(word_mass(sal, p.pairs.token_word, p.pairs.target.shape[1]))
    return word_kl(p.pairs.target, mass, p.pairs.valid)


@register_channel("generate", families=("seq2seq", "causal"), family_loss=True)
def generate() -> None:
    """The student writes the rationale words after its answer (the family's own loss)."""


def check_attention_layout(backbone) -> None:
    """`attention` reads the last layer's query and key projections of a BERT-style encoder with
    absolute positions (BERT, MiniLM, RoBERTa); say so instead of failing mid-training."""
    try:
        layer = backbone.encoder.layer[-1].attention.self
        layer.query, layer.key, layer.num_attention_heads  # noqa: B018
    except AttributeError:
        raise ConfigError("channel", "channel 'attention' needs a BERT-style encoder "
                                     "(encoder.layer[-1].attention.self with query and key); "
                                     f"{type(backbone).__name__} has none") from None
    kind = getattr(backbone.config, "position_embedding_type", "absolute")
    if kind != "absolute":
        raise ConfigError("channel", f"channel 'attention' recomputes attention without "
                                     f"position terms; this encoder uses '{kind}' positions")
