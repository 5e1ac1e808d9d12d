"""The teacher: the model that answers (`model`), its fine-tuning on the task (`finetune`) and its
accuracy (`evaluation`)."""

from .model import EncodedPrompt, LMBatch, Teacher, TeacherConfig

__all__ = ["EncodedPrompt", "LMBatch", "Teacher", "TeacherConfig"]
