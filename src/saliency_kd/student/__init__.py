"""Students: encoder, seq2seq and causal families sharing one training loop."""

from .base import MODES, LossWeights, Student
from .train import TrainConfig, load_student, train

__all__ = ["MODES", "LossWeights", "Student", "TrainConfig", "load_student", "train"]
