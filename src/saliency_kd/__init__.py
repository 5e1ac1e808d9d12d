"""saliency-kd: attribution-based knowledge distillation of language models.

The main verbs of the CLI are functions here, each with the settings it takes:

- `attribute(AttributeConfig(...))`: the teacher's answer, attribution and rationale for every
  example, written as JSON Lines (`saliency-kd attribute`); returns the file's path;
- `train(TrainConfig(...))`: a student trained in a mode (`saliency-kd train`); returns the
  directory of its best model on dev;
- `evaluate(model_dir, DataSpec(...))`: a trained student's accuracy with a 95% interval, and
  rationale agreement (`saliency-kd evaluate`);
- `predict(model_dir, text=..., choices=...)`: a trained student's answer (`saliency-kd
  predict`); `load_student(model_dir)` loads it once, to call on strings, records or a
  JSONL/CSV file (label, probability of each label by name, rationale words);
- `explain(teacher, texts, choices=...)`: the teacher's answer to in-memory strings, each
  word's score and the rationale, rendered as HTML (`.to_html()`, or in a notebook);
- `export(model_dir, ExportConfig(out=...))`: a student as a transformers folder
  (`saliency-kd export`);
- `run(load_config("configs/....yaml"))`: the whole pipeline, each stage cached
  (`saliency-kd run`).

The other verbs live in their modules: `attribution.derive`, `attribution.faithfulness`,
`teacher.finetune`, `teacher.evaluation`. The folders follow the pipeline: data -> teacher ->
attribution (methods, the attribute stage, rationales, controls, faithfulness) -> student ->
evaluate -> report, with pipeline/ and cli.py on top and shared helpers on the ground floor.
Names are loaded on first use, so `import saliency_kd` stays light (no torch).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# Public name -> (module, attribute in it).
_EXPORTS = {
    "attribute": ("attribution.attribute", "attribute"),
    "AttributeConfig": ("attribution.attribute", "AttributeConfig"),
    "train": ("student", "train"),
    "TrainConfig": ("student", "TrainConfig"),
    "LossWeights": ("student", "LossWeights"),
    "evaluate": ("evaluate", "evaluate"),
    "predict": ("evaluate", "predict"),
    "load_student": ("predictor", "load_student"),
    "explain": ("attribution.explain", "explain"),
    "export": ("export", "export"),
    "run": ("pipeline.run", "run_pipeline"),
    "load_config": ("pipeline.config", "load_config"),
    "RunConfig": ("pipeline.config", "RunConfig"),
    "AttributionOptions": ("attribution", "AttributionOptions"),
    "get_method": ("attribution", "get_method"),
    "method_names": ("attribution", "method_names"),
    "DataSpec": ("data", "DataSpec"),
    "Example": ("data", "Example"),
    "load_examples": ("data", "load_examples"),
    "RationaleConfig": ("attribution.rationales", "RationaleConfig"),
    "Teacher": ("teacher", "Teacher"),
    "TeacherConfig": ("teacher", "TeacherConfig"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'saliency_kd' has no attribute '{name}'")
    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """Importing a submodule binds it on its package: `saliency_kd.evaluate` (the module)
    would then hide `evaluate` (the function) from `__getattr__`. An exported name keeps
    meaning the function; the module is `sys.modules["saliency_kd.evaluate"]` and
    `from saliency_kd.evaluate import ...` works as ever."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
