"""Tasks, one module each, registered by name: `get_task(name)`, `task_names()`.

A new task is one module defining a `Task` (prompt, labels, kind, readers, see base.Task) and
registering it with `register(task, __doc__)`; a built-in one is also listed in BUILT_IN below.
"""

from __future__ import annotations

from . import anli1, cqa, demo, esnli, generic, svamp
from .base import TASKS, HubSource, Segment, Task, get_task, register, render, task_names
from .generic import generic_prompt
from .nli import NLI_LABELS

# Registered here rather than by each module on import, so that the order (that of listings
# and of `task_names()`) does not follow the import order.
BUILT_IN = (cqa, svamp, anli1, esnli, demo, generic)
for _module in BUILT_IN:
    register(_module.TASK, _module.__doc__ or "")


def built_in_task_names() -> list[str]:
    """The package's own tasks, in order: what a description fixed at import lists (a task
    registered later is valid all the same; `task_names()` has it)."""
    return [module.TASK.name for module in BUILT_IN]


__all__ = ["NLI_LABELS", "TASKS", "HubSource", "Segment", "Task", "built_in_task_names",
           "generic_prompt", "get_task", "register", "render", "task_names"]
