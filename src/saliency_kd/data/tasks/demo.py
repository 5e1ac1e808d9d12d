"""demo: generated stories with annotated evidence, embedded (offline, no download)."""

from __future__ import annotations

from ..demo import generate
from .base import Task
from .cqa import lettered_prompt

# Prompted as cqa (a question and lettered choices); the stories come from data/demo.py, whose
# `heldout` split has people and places no other split names.
TASK = Task("demo", "choice", lettered_prompt, fields=("question",), source="embedded",
            generate=generate, extra_splits=("heldout",))
