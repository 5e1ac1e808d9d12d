"""What a report says so that it reads alone: what its row names mean, and chance."""

from __future__ import annotations

from ..data import Example

ROW_NAMES = [
    ("standard", "the student learns the gold labels only"),
    ("kd", "it also matches the teacher's probabilities over the answers (soft labels)"),
    ("dss", "it also writes the free-text rationale of a large LM (Distilling step-by-step)"),
    ("rationale, channel@source", "it also learns the teacher's rationale words of `source` "
     "through `channel`"),
    ("source", "saliency, attention, ig, ...: the attribution method that chose the words; "
               "random, gold-answer, gold-evidence: controls (random content words, the gold "
               "answer's words, human evidence words)"),
    ("channel", "tag: the student tags those words in its input; attention: its attention is "
                "pulled toward them; attribution: its own gradient saliency is; generate: it "
                "writes them after its answer"),
    ("+kd", "the row with soft labels added"),
    ("setfit", "baseline: SetFit (contrastive sentence-transformers fine-tuning, then a "
               "logistic-regression head) on the labelled examples alone, with SetFit's own "
               "settings"),
]
"""The legend printed beside the results tables."""


def chance_level(examples: list[Example]) -> float | None:
    """Accuracy of a uniform guess: the mean of 1/choices per example (multiple choice), or 1
    over the labels seen (classification); None for a free-form answer."""
    if not examples:
        return None
    if all(ex.choices for ex in examples):
        return sum(1 / len(ex.choices) for ex in examples) / len(examples)
    labels = {ex.label for ex in examples}
    if len(labels) > 20:  # free-form answers (equations), not a label space
        return None
    return 1 / len(labels)


def is_multiple_choice(examples: list[Example]) -> bool:
    """Whether the examples carry their own answer choices (the gold-answer overlap of a
    rationale means something only there)."""
    return bool(examples) and all(ex.choices for ex in examples)
