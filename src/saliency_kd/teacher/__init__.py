"""The teacher: the model that answers (`model`; `classifier` for classification heads), its
fine-tuning on the task (`finetune`), its accuracy (`evaluation`) and the check that it is ahead
of chance (`check`)."""

from . import classifier  # noqa: F401  (registers the classifier teacher family)
from .model import EncodedPrompt, LMBatch, Teacher, TeacherConfig

__all__ = ["EncodedPrompt", "LMBatch", "Teacher", "TeacherConfig"]
