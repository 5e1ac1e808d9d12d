"""Students: encoder, seq2seq and causal families sharing one training loop, and the SetFit
baseline (its own library's training)."""

from . import causal, encoder, seq2seq, setfit_row  # noqa: F401  (registers the families)
from .base import FAMILIES, MODES, LossWeights, Student
from .train import TrainConfig, load_student, train


def family_names() -> list[str]:
    """The student families, in registration order."""
    return FAMILIES.names()


__all__ = ["FAMILIES", "MODES", "LossWeights", "Student", "TrainConfig", "family_names",
           "load_student", "train"]
