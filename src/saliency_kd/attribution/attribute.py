"""The `attribute` stage: teacher answers + attribution + rationale for every example.

Load, build, run, save: read the split, load the teacher, then per batch answer, attribute the
answer (or the gold label), merge to words, select the rationale, and append the records. A
gradient method explaining the prediction answers in its own forward pass where the teacher
allows (`one_pass_batch`): one forward and one backward per batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from ..artifact import (
    ResumableJsonl,
    claim_json_output,
    claim_output,
    meta_path,
    read_jsonl_records,
    write_jsonl_atomic,
)
from ..atomic import write_json_atomic
from ..data import DataSpec, Example, Task, inputs_digest, load_examples
from ..data.pool import data_settings
from ..errors import ConfigError
from ..progress import progress_bar
from ..settings import RUN, SPEED, PositiveInt, check, opt, resume_may_change
from ..teacher.check import teacher_check
from ..teacher.model import (
    EncodedPrompt,
    LMBatch,
    Teacher,
    TeacherConfig,
    choice_answers,
    rounded,
)
from . import AttributionOptions, get_method, method_names
from .rationales import RationaleConfig, merge_subwords, select

log = logging.getLogger(__name__)


@dataclass
class AttributeConfig:
    """Settings of `saliency-kd attribute`."""

    out: str = opt("runs/rationales.jsonl", required=True, nature=RUN)
    """Output JSON Lines file (resumed when it exists and the settings match)."""
    data: DataSpec = field(default_factory=DataSpec)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    method: str = opt("saliency", choices=method_names)
    """Attribution method (`saliency-kd methods` describes each). YAML (run):
    attribution.methods, a list."""
    target: Literal["prediction", "gold"] = "prediction"
    """Explain the teacher's own `prediction` (default) or the `gold` label."""
    rationale: RationaleConfig = field(default_factory=RationaleConfig)
    options: AttributionOptions = field(default_factory=AttributionOptions)
    batch_size: PositiveInt = opt(8, nature=SPEED)
    """Examples per attribution batch (one backward pass each for gradient methods)."""
    overwrite: bool = opt(False, nature=RUN)
    """Start the output file afresh instead of resuming it."""
    gradient_checkpointing: bool = opt(False, nature=SPEED)
    """Recompute activations in the backward pass: less memory for large teachers, ~30% slower."""
    seed: int = 0
    """Seed of torch's random state (methods that draw noise)."""

    def validate(self) -> None:
        get_method(self.method)
        if self.target not in ("prediction", "gold"):
            raise ConfigError("target", f"'{self.target}' is not one of prediction, gold")
        self.rationale.validate()
        check(self, skip=("data", "teacher"))  # the constraints the annotations declare

    def settings(self) -> dict[str, Any]:
        """What determines the file's content (used to refuse resuming a different run)."""
        d = asdict(self)
        for key in RESUME_MAY_CHANGE:  # what may change on resume, less what the sidecar holds
            if key not in SIDECAR_IGNORES:
                *parents, last = key.split(".")
                node = d
                for p in parents:
                    node = node[p]
                node.pop(last)
        # DataSpec's settings are every verb's: that a larger --limit extends a finished file
        # (and a larger pool) is attribute's own, said here.
        d["data"].pop("limit")
        d["data"].pop("unlabeled_limit")
        d["data"] = data_settings(d["data"])
        d["inputs"] = inputs_digest(self.data)  # the data by content: see LOCATED
        return d


RESUME_MAY_CHANGE = resume_may_change(AttributeConfig)
"""Settings a file resumes across (their declared nature): where it is written, batch sizes,
the teacher's device and the methods' speed knobs."""
SIDECAR_IGNORES = tuple(k for k in RESUME_MAY_CHANGE if k.startswith("options."))
"""Of those, the ones the sidecar holds (the methods' options, as files made so far hold them)
and a resume ignores; the others are left out of it (`AttributeConfig.settings`)."""
LOCATED = ("data.data_dir", "data.file")
"""Where the data lives: a file resumes on an identical copy elsewhere, not on edited data."""
RECORD_FIELDS = ("id", "prediction", "words", "rationale_index")
"""Fields every attribution record holds: a file to resume must consist of such records."""


def split_ids(data: DataSpec, examples: list[Example]) -> Callable[[], set[str]]:
    """The ids a record file of `data` may hold, read when asked: those of the whole split
    (`examples` are its first N under a --limit; a file made with a larger one holds more; with
    seeds drawing from the pool, the file explains every seed's draw, so the whole pool)."""
    def ids() -> set[str]:
        if data.limit is None and data.draw is None:
            return {ex.id for ex in examples}
        ids = {ex.id for ex in load_examples(replace(
            data, limit=None, draw=None, unlabeled=None, unlabeled_limit=None), quiet=True)[1]}
        if data.unlabeled:  # a pool file adds its own examples
            ids |= {ex.id for ex in load_examples(data, quiet=True)[1] if ex.pool}
        return ids
    return ids


def attribute_batch(teacher: Teacher, task: Task, examples: list[Example], cfg: AttributeConfig,
                    one_pass: bool = True, passes: Counter | None = None,
                    ) -> list[dict[str, Any]]:
    """The records of one batch. With `one_pass` (the default; off only for tests and
    benchmarks), a gradient method explaining the teacher's prediction on a choice task takes
    the answer from its own forward pass when the teacher can give it there (`one_pass_batch`):
    the same records, one forward and one backward per batch instead of two forwards.
    `passes` counts the batches run each way."""
    spec = get_method(cfg.method)
    prompts = [teacher.encode(task.prompt(ex)) for ex in examples]
    batch = one_pass_batch(teacher, task, examples, prompts, cfg) if one_pass else None
    if batch is not None:
        result = spec.fn(teacher, batch, prompts, None, cfg.options)
        answers = choice_answers([task.candidates(ex) for ex in examples], result.choice_scores)
        targets_text = [a["prediction"] for a in answers]
    else:
        answers = teacher.answer(task, examples, prompts)
        targets_text = [a["prediction"] if cfg.target == "prediction" and a["prediction"]
                        else ex.label for a, ex in zip(answers, examples)]
        targets = [teacher.target_ids(t) for t in targets_text]
        result = spec.fn(teacher, teacher.make_batch(prompts, targets), prompts, targets,
                         cfg.options)
    if passes is not None:
        passes["one" if batch is not None else "two"] += 1
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
            # a pool example has no gold label: nothing gold-derived is written for it
            "label": None if ex.pool else ex.label,
            "correct": None if ex.pool else task.is_correct(a["prediction"], ex.label),
            "target": targets_text[i],
            "method": cfg.method,
            "words": [[w, rounded(s)] for w, s in zip(p.words, word_scores)],
            "word_fields": p.word_fields,
            "rationale": [p.words[j] for j in chosen],
            "rationale_index": chosen,
        }
        for key in ("candidates", "candidate_scores"):
            if key in a:
                rec[key] = a[key]
        for key, values in result.extras.items():
            rec[key] = rounded(float(values[i]))
        records.append(rec)
    return records


def one_pass_batch(teacher: Teacher, task: Task, examples: list[Example],
                   prompts: list[EncodedPrompt], cfg: AttributeConfig) -> LMBatch | None:
    """The batch for a method that picks the teacher's answer in its own forward pass, or None
    when the answer takes a pass of its own: the gold label is explained (that pass could give
    it too; not done, as the default and the studies explain the prediction), a free-form task
    (answers are generated), a method that does not answer (`answers` in its registration), or
    a teacher that cannot answer in the pass it is differentiated in (`choice_batch`)."""
    if cfg.target != "prediction" or task.kind != "choice" or not get_method(cfg.method).answers:
        return None
    return teacher.choice_batch(prompts, [task.candidates(ex) for ex in examples])


def batches_to_run(examples: list[Example], done: set, batch_size: int, rank: int = 0,
                   world: int = 1) -> list[list[Example]]:
    """This process's batches that still hold an example not in `done`.

    Batches are fixed by position in the split, not cut from what is left to do: padding and
    batch shape change the floats, so a resumed or extended run recomputes a partly written batch
    whole (writing only its missing records) and gives the same bytes as an unbroken run. Dealing
    them by position also keeps each rank's share the same across restarts, whatever each rank
    had finished.
    """
    batches = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    return [b for b in batches[rank::world] if any(ex.id not in done for ex in b)]


def attribute(cfg: AttributeConfig, teacher: Teacher | None = None, progress: bool = True,
              ) -> Path:
    """Run attribution over the configured split; returns the output path.

    Under `accelerate launch --num_processes N`, batches are dealt round-robin to the processes,
    each appends to its own resumable shard, and the first process merges the shards, in example
    order, into a file identical to a single-process run's.
    """
    from .. import distributed

    cfg.validate()
    torch.manual_seed(cfg.seed)
    task, examples = load_examples(cfg.data)
    if cfg.target == "gold" and any(ex.pool for ex in examples):
        raise ConfigError("target", "'gold' explains the gold label, and the unlabeled pool "
                                    "has none: explain the teacher's prediction")
    dist = distributed.state(cpu=cfg.teacher.device == "cpu")
    rank, world = (dist.process_index, dist.num_processes) if dist else (0, 1)
    out = Path(cfg.out)
    claim_json_output(teacher_check_path(out), ("teacher_check",), cfg.overwrite)
    if world > 1 and cfg.teacher.device.startswith("cuda"):
        cfg.teacher.device = str(dist.device)
    settings = cfg.settings()
    if world == 1:
        writer = ResumableJsonl(out, settings, overwrite=cfg.overwrite, ignore=SIDECAR_IGNORES,
                                required=RECORD_FIELDS, located=LOCATED,
                                known=split_ids(cfg.data, examples))
        done = writer.done
    else:
        claim_output(out, settings, cfg.overwrite, SIDECAR_IGNORES, LOCATED)
        dist.wait_for_everyone()
        if cfg.overwrite and rank == 0:
            out.unlink(missing_ok=True)
            meta_path(out).unlink(missing_ok=True)
        dist.wait_for_everyone()
        done = {r["id"] for r in read_jsonl_records(out, RECORD_FIELDS,
                                                    split_ids(cfg.data, examples))}
        writer = ResumableJsonl(out.with_name(f"{out.name}.shard{rank}-of{world}"),
                                {**settings, "shard": [rank, world]}, overwrite=cfg.overwrite,
                                ignore=SIDECAR_IGNORES, required=RECORD_FIELDS,
                                located=LOCATED)
        done = done | writer.done
    todo = [ex for ex in examples if ex.id not in done]
    mine = batches_to_run(examples, done, cfg.batch_size, rank, world)
    if mine:
        if teacher is None:
            teacher = Teacher.load(cfg.teacher, task)
        if cfg.gradient_checkpointing:
            distributed.enable_attribution_checkpointing(teacher.model)
        total, start = sum(ex.id not in done for b in mine for ex in b), time.monotonic()
        bar = progress_bar(total=total,
                           disable=not progress or rank != 0, desc=f"attribute ({cfg.method})",
                           unit="ex")
        passes: Counter = Counter()
        for chunk in mine:
            records = distributed.with_backoff(
                lambda part: attribute_batch(teacher, task, part, cfg, passes=passes), chunk)
            records = [r for r in records if r["id"] not in done]
            writer.write_batch(records)
            bar.update(len(records))
        bar.close()
        seconds = time.monotonic() - start
        log.info("%s: %d examples attributed in %.1f s (%.2f examples/s; batches with the answer "
                 "read from the %s pass: %d, with an answer pass first: %d)", out, total,
                 seconds, total / max(seconds, 1e-9), cfg.method, passes["one"], passes["two"])
    elif not todo:
        log.info("%s: all %d examples already attributed", out, len(examples))
    if world > 1:
        dist.wait_for_everyone()
        if rank == 0:
            _merge_shards(out, world, examples, settings)
        dist.wait_for_everyone()
    if rank == 0:
        write_teacher_check(out, task, examples)
    return out


def teacher_check_path(out: str | Path) -> Path:
    """Where `attribute` writes its teacher check: `<out>.teacher-check.json`."""
    out = Path(out)
    return out.with_name(out.name + ".teacher-check.json")


def write_teacher_check(out: Path, task: Task, examples: list[Example]) -> dict[str, Any]:
    """Score the teacher's answers in the finished file (every record holds the teacher's
    prediction beside the gold label: no extra teacher pass) against chance, print the result
    (a plain warning when the teacher is not clearly ahead) and write it beside the file."""
    by_id = {r["id"]: r for r in read_jsonl_records(out, RECORD_FIELDS)}
    seen = [ex for ex in examples if ex.id in by_id and not ex.pool]  # the pool has no gold
    check = teacher_check(task, seen, [by_id[ex.id] for ex in seen])
    log.info("%s", check["message"])
    if check["warning"]:
        log.warning("%s", check["warning"])
    write_json_atomic(teacher_check_path(out), {"teacher_check": check, "rationales": out.name})
    return check


def _merge_shards(out: Path, world: int, examples: list[Example], settings: dict) -> None:
    """Write the merged file in example order (atomically), then drop the shards."""
    by_id = {r["id"]: r for r in read_jsonl_records(out)}
    shards = [out.with_name(f"{out.name}.shard{r}-of{world}") for r in range(world)]
    for shard in shards:
        for rec in read_jsonl_records(shard):
            by_id.setdefault(rec["id"], rec)
    write_jsonl_atomic(out, [by_id[ex.id] for ex in examples if ex.id in by_id], settings)
    for shard in shards:
        shard.unlink(missing_ok=True)
        meta_path(shard).unlink(missing_ok=True)
