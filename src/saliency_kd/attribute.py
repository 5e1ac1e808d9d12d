"""The `attribute` stage: teacher answers + attribution + rationale for every example.

Load, build, run, save: read the split, load the teacher, then per batch answer, attribute the
answer (or the gold label), merge to words, select the rationale, and append the records.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .artifact import ResumableJsonl
from .attribution import AttributionOptions, get_method
from .data import DataSpec, Example, Task, load_examples
from .errors import ConfigError
from .rationales import RationaleConfig, merge_subwords, select
from .teacher import EncodedPrompt, Teacher, TeacherConfig

log = logging.getLogger(__name__)


@dataclass
class AttributeConfig:
    """Settings of `saliency-kd attribute`."""

    out: str = "runs/rationales.jsonl"
    """Output JSON Lines file (resumed when it exists and the settings match)."""
    data: DataSpec = field(default_factory=DataSpec)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    method: str = "saliency"
    """Attribution method; see `saliency-kd methods`."""
    target: str = "prediction"
    """Explain the teacher's own `prediction` (default) or the `gold` label."""
    rationale: RationaleConfig = field(default_factory=RationaleConfig)
    options: AttributionOptions = field(default_factory=AttributionOptions)
    batch_size: int = 8
    """Examples per attribution batch (one backward pass each for gradient methods)."""
    overwrite: bool = False
    """Start the output file afresh instead of resuming it."""
    seed: int = 0

    def validate(self) -> None:
        get_method(self.method)
        if self.target not in ("prediction", "gold"):
            raise ConfigError("target", f"'{self.target}' is not one of prediction, gold")
        if self.batch_size < 1:
            raise ConfigError("batch_size", f"must be positive, got {self.batch_size}")
        self.rationale.validate()

    def settings(self) -> dict[str, Any]:
        """What determines the file's content (used to refuse resuming a different run)."""
        d = asdict(self)
        for k in ("out", "overwrite", "batch_size"):
            d.pop(k)
        d["data"].pop("limit")  # a larger --limit extends a finished file
        d["teacher"].pop("device")
        return d


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def answer(teacher: Teacher, task: Task, examples: list[Example], prompts: list[EncodedPrompt],
           ) -> list[dict[str, Any]]:
    """The teacher's prediction (and candidate scores for choice tasks) for each example."""
    if task.kind == "choice":
        cands = [task.candidates(ex) for ex in examples]
        scores = teacher.score_candidates(prompts, cands)
        out = []
        for c, s in zip(cands, scores):
            best = max(range(len(s)), key=lambda j: s[j])
            out.append({"prediction": c[best], "candidates": c,
                        "candidate_scores": [_r(x) for x in s]})
        return out
    return [{"prediction": p} for p in teacher.generate(prompts)]


def attribute_batch(teacher: Teacher, task: Task, examples: list[Example], cfg: AttributeConfig,
                    ) -> list[dict[str, Any]]:
    spec = get_method(cfg.method)
    prompts = [teacher.encode(task.prompt(ex)) for ex in examples]
    answers = answer(teacher, task, examples, prompts)
    targets_text = [a["prediction"] if cfg.target == "prediction" and a["prediction"] else ex.label
                    for a, ex in zip(answers, examples)]
    targets = [teacher.target_ids(t) for t in targets_text]
    batch = teacher.make_batch(prompts, targets)
    result = spec.fn(teacher, batch, prompts, targets, cfg.options)
    records = []
    for i, (ex, p, a) in enumerate(zip(examples, prompts, answers)):
        if spec.level == "word":
            word_scores = list(result.scores[i])
        else:
            n = len(p.input_ids)
            tok = result.scores[i, :n].detach().float().cpu().tolist()
            word_scores = merge_subwords(tok, p.token_word, len(p.words), cfg.rationale.merge)
        chosen = select(p.words, word_scores, cfg.rationale)
        rec = {
            "id": ex.id,
            "prediction": a["prediction"],
            "label": ex.label,
            "correct": task.is_correct(a["prediction"], ex.label),
            "target": targets_text[i],
            "method": cfg.method,
            "words": [[w, _r(s)] for w, s in zip(p.words, word_scores)],
            "word_fields": p.word_fields,
            "rationale": [p.words[j] for j in chosen],
            "rationale_index": chosen,
        }
        for key in ("candidates", "candidate_scores"):
            if key in a:
                rec[key] = a[key]
        for key, values in result.extras.items():
            rec[key] = _r(float(values[i]))
        records.append(rec)
    return records


def attribute(cfg: AttributeConfig, teacher: Teacher | None = None, progress: bool = True,
              ) -> Path:
    """Run attribution over the configured split; returns the output path."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    task, examples = load_examples(cfg.data)
    writer = ResumableJsonl(cfg.out, cfg.settings(), overwrite=cfg.overwrite)
    todo = [ex for ex in examples if ex.id not in writer.done]
    if not todo:
        log.info("%s: all %d examples already attributed", cfg.out, len(examples))
        return writer.path
    if teacher is None:
        teacher = Teacher.load(cfg.teacher)
    bar = tqdm(total=len(examples), initial=len(examples) - len(todo), disable=not progress,
               desc=f"attribute ({cfg.method})", unit="ex")
    for start in range(0, len(todo), cfg.batch_size):
        chunk = todo[start:start + cfg.batch_size]
        writer.write_batch(attribute_batch(teacher, task, chunk, cfg))
        bar.update(len(chunk))
    bar.close()
    return writer.path
