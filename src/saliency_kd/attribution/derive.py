"""Rationale files derived from an attribution file without the teacher: another k, or a control.

A student run must be able to say that its gain comes from the teacher's insight. Two controls
keep everything else equal (the same examples, teacher predictions, candidate scores and filters)
and change only the rationale:

- `random`: k content words drawn uniformly, seeded per example: as many extra tokens as the
  teacher's rationale, and no insight;
- `gold-answer`: the input words of the gold answer and nothing else: pure label leakage (CQA
  lists the choices in the input, so the answer is there to be pointed at).

A third, `gold-evidence`, is a positive control: the words humans marked as the evidence, i.e.
the insight a perfect teacher would point at. On the demo task these are the annotated evidence
words (person, object and place of the answering fact) where they occur in the story and the
question (not in the listed choices); on tasks with human explanations (CoS-E for CQA, e-SNLI,
the ANLI reasons) every input content word, choices included, that occurs in any explanation
(lower-cased, stop words and punctuation removed). It has no top-k cut, like `gold-answer`; an
example without evidence gets an empty rationale.

`teacher` re-selects the teacher's rationale from the stored word scores (another k, mass or
filter) without running the teacher again.

Two more controls ask whether a rationale helps by pointing at the answer or at the fact the
question is about (the demo's teacher words and gold evidence both hold the answer's place):

- `teacher-no-answer`: the teacher's top-k re-selected from its stored scores with every input
  word spelled like the gold answer excluded (the answer's scores are stored as 0);
- `gold-evidence-no-answer`: the `gold-evidence` words less those spelled like the answer (on
  the demo: the person and the object of the answering fact).
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..artifact import claim_output, read_jsonl_records, write_jsonl_atomic
from ..data import DataSpec, Example, Task, inputs_digest, load_examples
from ..data.pool import data_settings
from ..errors import ConfigError, DataError, UnknownNameError
from ..settings import RUN, opt, resume_may_change
from ..words import content_segments, count_words, word_set
from .attribute import split_ids
from .rationales import RationaleConfig, eligible, select

log = logging.getLogger(__name__)

SOURCES = ("teacher", "random", "gold-answer", "gold-evidence", "teacher-no-answer",
           "gold-evidence-no-answer")
LOCATED = ("derived_from", "source_file", "data.data_dir", "data.file")
"""Where the inputs live: a derived file is the same for identical copies elsewhere."""


@dataclass
class DeriveConfig:
    """Settings of `saliency-kd rationales`."""

    source_file: str = opt("", flag="from", required=True)
    """Attribution file written by `saliency-kd attribute` (its word scores are re-used)."""
    out: str = opt("", required=True, nature=RUN)
    """Output JSON Lines file, in the same format (students read it with --rationales)."""
    data: DataSpec = field(default_factory=DataSpec)
    """The data the source file was made from (gold labels and the input's structure)."""
    source: str = opt("teacher", choices=lambda: list(SOURCES))
    """`teacher` (re-select from the stored scores), `random` or `gold-answer` (controls),
    `gold-evidence` (positive control: every input word of the human evidence, no top-k cut),
    or `teacher-no-answer` / `gold-evidence-no-answer` (those without the answer's words)."""
    rationale: RationaleConfig = field(default_factory=RationaleConfig)
    """Selection for `teacher`, `teacher-no-answer` and `random`; `gold-answer` keeps the
    answer's words only and the `gold-evidence` sources all their words, whatever `top_k` or
    `mass` say."""
    seed: int = 0
    """Seed of the `random` control (each example draws from its own seeded stream)."""
    overwrite: bool = opt(False, nature=RUN)
    """Replace an existing --out that was not written with these settings (or not by us)."""

    def settings(self) -> dict[str, Any]:
        """What determines the file's content (its sidecar)."""
        d = {"derived_from": str(Path(self.source_file)), **asdict(self)}
        for key in resume_may_change(DeriveConfig):  # where it is written: not its content
            d.pop(key)
        d["data"] = data_settings(d["data"])  # unset: as before the pool existed
        if Path(self.source_file).is_file():
            d["inputs"] = inputs_digest(self.data, source=self.source_file)
        return d

    def validate(self) -> None:
        if self.source not in SOURCES:
            raise UnknownNameError("rationale source", self.source, list(SOURCES))
        if not self.out:
            raise ConfigError("out", "an output file is required")
        if Path(self.out).resolve() == Path(self.source_file).resolve():
            raise ConfigError("out", "must differ from the source file")
        self.rationale.validate()


def gold_answer_words(task: Task, ex: Example, words: list[str], cfg: RationaleConfig,
                      ) -> list[int]:
    """Indices of the input words that spell the gold answer.

    With per-example choices the gold choice's own words (not a look-alike word in the question);
    otherwise every content word that also occurs in the label. Filters apply unless they would
    remove the whole answer (an answer like "here" is a stop word and still the answer).
    """
    if ex.choices:
        idx = []
        for seg in content_segments(task.prompt(ex)):
            if seg.field == "choices" and seg.text.strip().lower() == ex.label.strip().lower():
                idx = [i for _, _, i in seg.words]
                break
    else:
        label_words = {w.lower() for w in ex.label.split()}
        idx = [i for i, w in enumerate(words) if w.lower() in label_words]
    kept = [i for i in idx if eligible(words[i], cfg)]
    return kept or idx


def answer_occurrences(task: Task, ex: Example, words: list[str], cfg: RationaleConfig,
                       ) -> set[int]:
    """Indices of every input word spelled like a word of the gold answer (the words
    `gold_answer_words` finds, wherever they occur: on the demo the listed choice and the
    story's mention of the place alike)."""
    spelled = {words[i].lower() for i in gold_answer_words(task, ex, words, cfg)}
    return {i for i, w in enumerate(words) if w.lower() in spelled}


def gold_evidence_words(task: Task, ex: Example) -> list[int]:
    """Indices of the input words that humans marked as evidence, in input order.

    Annotated evidence words (demo) are matched in the story and question only, so that the
    answer's place counts where the fact states it, not again in the list of choices. Otherwise
    every eligible content word (choices included) that occurs in a human explanation.
    """
    segs = content_segments(task.prompt(ex))
    if ex.evidence:
        wanted = {w.strip().lower() for w in ex.evidence}
        return sorted(i for s in segs if s.field != "choices" for i, w in s.indexed()
                      if w.lower() in wanted)
    cfg = RationaleConfig()
    mentioned = word_set(*ex.explanations)
    return sorted(i for s in segs for i, w in s.indexed()
                  if w.lower() in mentioned and eligible(w, cfg))


def derive_record(rec: dict[str, Any], task: Task, ex: Example, cfg: DeriveConfig,
                  ) -> dict[str, Any]:
    words = [w for w, _ in rec["words"]]
    out = dict(rec)
    if cfg.source == "teacher":
        chosen = select(words, [float(s) for _, s in rec["words"]], cfg.rationale)
    elif cfg.source == "teacher-no-answer":
        answer = answer_occurrences(task, ex, words, cfg.rationale)
        scores = [0.0 if i in answer else float(s) for i, (_, s) in enumerate(rec["words"])]
        # the answer's words are no candidates (a non-finite score is never selected)
        chosen = select(words, [math.nan if i in answer else s for i, s in enumerate(scores)],
                        cfg.rationale)
        out["words"] = [[w, s] for w, s in zip(words, scores)]
    elif cfg.source == "random":
        rng = random.Random(f"{cfg.seed}:{ex.id}")  # independent of file order and --limit
        scores = [round(rng.random(), 6) for _ in words]
        chosen = select(words, scores, cfg.rationale)
        out["words"] = [[w, s] for w, s in zip(words, scores)]
        out["method"] = "random"
    else:
        if cfg.source == "gold-answer":
            chosen = gold_answer_words(task, ex, words, cfg.rationale)
        else:
            chosen = gold_evidence_words(task, ex)
            if cfg.source == "gold-evidence-no-answer":
                answer = answer_occurrences(task, ex, words, cfg.rationale)
                chosen = [i for i in chosen if i not in answer]
        out["words"] = [[w, 1.0 if i in chosen else 0.0] for i, w in enumerate(words)]
        out["method"] = cfg.source
    out["rationale"] = [words[i] for i in chosen]
    out["rationale_index"] = chosen
    out["derived"] = {"from": rec.get("method"), "source": cfg.source}
    return out


def derive(cfg: DeriveConfig) -> dict[str, Any]:
    """Write the derived file (atomically) and its settings sidecar; return a summary."""
    cfg.validate()
    src = Path(cfg.source_file)
    out = Path(cfg.out)
    settings = cfg.settings()
    # Checked first: nothing is computed for an output that would be refused.
    claim_output(out, settings, cfg.overwrite, located=LOCATED)
    if not src.exists():
        raise DataError(src, None, None, "attribution file not found (run `saliency-kd attribute`)")
    task, examples = load_examples(cfg.data)
    by_id = {ex.id: ex for ex in examples}
    n_words = {ex.id: count_words(content_segments(task.prompt(ex))) for ex in examples}
    out_recs = []
    records = read_jsonl_records(src, known=split_ids(cfg.data, examples))
    for lineno, rec in enumerate(records, start=1):
        ex = by_id.get(str(rec.get("id")))
        if ex is None:
            continue
        if "words" not in rec:
            raise DataError(src, lineno, "words", "missing field")
        if len(rec["words"]) != n_words[ex.id]:
            raise DataError(src, lineno, "words",
                            f"{len(rec['words'])} words, but example {ex.id} of "
                            f"{cfg.data.task}/{cfg.data.split} has {n_words[ex.id]}: the file "
                            "was made from other data")
        out_recs.append(derive_record(rec, task, ex, cfg))
    if not out_recs:
        raise DataError(src, None, "id", f"no record matches an example of {cfg.data.task}/"
                        f"{cfg.data.split}: was it made for another task or split?")
    empty = sum(not r["rationale_index"] for r in out_recs)
    if cfg.source == "gold-answer" and empty == len(out_recs):
        raise ConfigError("source", f"the gold answer never occurs in the input of "
                          f"{cfg.data.task}; the gold-answer control needs a task whose input "
                          "contains the answer (e.g. multiple choice with listed choices)")
    if cfg.source == "gold-evidence" and empty == len(out_recs):
        raise ConfigError("source", f"no example of {cfg.data.task} has gold evidence words in "
                          "its input; the gold-evidence control needs examples with annotated "
                          "evidence or human explanations")
    if cfg.source == "gold-evidence-no-answer" and empty == len(out_recs):
        raise ConfigError("source", f"no example of {cfg.data.task} has gold evidence words "
                          "in its input other than the answer's; the gold-evidence-no-answer "
                          "control needs evidence beyond the answer")
    write_jsonl_atomic(out, out_recs, settings)
    summary = {"out": str(out), "records": len(out_recs), "source": cfg.source,
               "empty_rationales": empty,
               "mean_length": sum(len(r["rationale_index"]) for r in out_recs) / len(out_recs)}
    if empty:
        log.warning("%s: %d of %d rationales are empty", out, empty, len(out_recs))
    return summary
