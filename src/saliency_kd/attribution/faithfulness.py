"""Faithfulness of attributions on the teacher: ERASER comprehensiveness and sufficiency.

DeYoung et al. (2020), "ERASER": with p(y|x) the teacher's probability of its own prediction y,
- comprehensiveness = p(y|x) - p(y|x without the top words): high when the words mattered;
- sufficiency = p(y|x) - p(y|only the top words): low when the words alone suffice;
each averaged over bins of 1, 5, 10, 20 and 50% of the content words (AOPC). Words are ranked
by the attribution file's stored word scores, as its rationale was (`rank` in its settings:
|score| by default, or the signed value, positive evidence first), so every method, and the
random control, is measured on the same examples with the same teacher. The template (field
names, "(a)", "Answer:") always stays; only content words are removed. p is the softmax over the
candidate scores the teacher decides with (mean token log-likelihood with length
normalisation).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Gt, Le

from ..artifact import (
    ResumableJsonl,
    check_output_dir,
    claim_output_dir,
    read_json,
    read_jsonl_records,
    read_settings,
)
from ..atomic import write_json_atomic
from ..data import DataSpec, Example, Segment, Task, get_task, inputs_digest, load_examples
from ..errors import ConfigError, DataError
from ..metrics import bootstrap_ci
from ..progress import progress_bar
from ..settings import PositiveInt, check, opt
from ..teacher.model import Teacher, TeacherConfig
from ..words import content_segments
from .attribute import split_ids
from .rationales import rank_key

ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


@dataclass
class FaithfulnessConfig:
    """Settings of `saliency-kd faithfulness`."""

    rationales: list[str] = opt(factory=list, required=True)
    """Attribution (or derived control) files to measure, all on the same examples."""
    out: str = opt("runs/faithfulness", required=True)
    """Directory: one resumable JSONL of per-example values per file, and summary.json. An
    existing folder with files in it must be one `faithfulness` made (it resumes)."""
    data: DataSpec = field(default_factory=DataSpec)
    """The data the files were made from; `limit` takes the first N of their examples."""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    """The teacher the files explain."""
    bins: tuple[Annotated[float, Gt(0), Le(1)], ...] = ERASER_BINS
    """Shares of the content words removed (comprehensiveness) or kept (sufficiency); ERASER:
    1 5 10 20 50%."""
    batch_size: PositiveInt = 4
    """Examples per teacher call (each brings 1 + 2 x bins + 2 prompts)."""
    overwrite: bool = False
    """Write into an `out` folder `faithfulness` did not make, and measure afresh: the
    per-file values and summary.json there are replaced (other files are left alone)."""

    def validate(self) -> None:
        if not self.rationales:
            raise ConfigError("rationales", "give at least one attribution file")
        if not self.bins:
            raise ConfigError("bins", "give at least one share")
        check(self, skip=("data", "teacher"))  # the constraints the annotations declare


def reduce_prompt(task: Task, ex: Example, keep: set[int]):
    """The example's prompt segments with only the content words in `keep` (teacher indices).

    Kept neighbours keep their original gap ("tree." stays "tree."); a removed stretch becomes
    one space, so no word is glued to another.
    """
    prompt = task.prompt(ex)
    words = iter(content_segments(prompt))
    out = []
    for seg in prompt:
        if not seg.content:
            out.append(seg)
            continue
        parts, prev_end, prev_kept = [], 0, False
        for start, end, index in next(words).words:
            if index in keep:
                if parts:
                    parts.append(seg.text[prev_end:start] if prev_kept else " ")
                parts.append(seg.text[start:end])
                prev_end, prev_kept = end, True
            else:
                prev_kept = False
        out.append(Segment("".join(parts), True, seg.field))
    return out


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    e = [math.exp(s - top) for s in scores]
    return [x / sum(e) for x in e]


def ranked_words(rec: dict[str, Any], rank: str = "abs") -> list[int]:
    """Word indices by decreasing |score| (`abs`) or score (`value`); ties go to the earlier
    word."""
    key = rank_key(rank)
    scores = [key(float(s)) for _, s in rec["words"]]
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def file_rank(path: Path) -> str:
    """The ranking the file's rationales were selected with (its `.meta.json`); `abs` for a
    file without one, the default of `saliency-kd attribute`."""
    return read_settings(path).get("rationale", {}).get("rank", "abs")


def measure_batch(teacher: Teacher, task: Task, pairs: list[tuple[Example, dict]],
                  bins: tuple[float, ...], rank: str = "abs") -> list[dict[str, Any]]:
    prompts, cands, layout = [], [], []
    for ex, rec in pairs:
        n = len(rec["words"])
        order = ranked_words(rec, rank)
        variants = [set(range(n))]  # the full input first
        for b in bins:
            top = set(order[:max(1, math.ceil(b * n))])
            variants += [set(range(n)) - top, top]
        rationale = set(rec["rationale_index"])
        variants += [set(range(n)) - rationale, rationale]
        layout.append(len(variants))
        for keep in variants:
            prompts.append(teacher.encode(reduce_prompt(task, ex, keep)))
            cands.append(task.candidates(ex))
    scores = teacher.score_candidates(prompts, cands)
    out, k = [], 0
    for (ex, _), m in zip(pairs, layout):
        probs = [_softmax(s) for s in scores[k:k + m]]
        k += m
        y = max(range(len(probs[0])), key=lambda j: probs[0][j])
        p = [q[y] for q in probs]
        comp = [p[0] - p[1 + 2 * i] for i in range(len(bins))]
        suff = [p[0] - p[2 + 2 * i] for i in range(len(bins))]
        out.append({"id": ex.id, "prediction": task.candidates(ex)[y], "p_full": p[0],
                    "comprehensiveness": comp, "sufficiency": suff,
                    "aopc_comprehensiveness": sum(comp) / len(comp),
                    "aopc_sufficiency": sum(suff) / len(suff),
                    "rationale_comprehensiveness": p[0] - p[-2],
                    "rationale_sufficiency": p[0] - p[-1]})
    return out


def _summary(recs: list[dict[str, Any]], bins: tuple[float, ...]) -> dict[str, Any]:
    s: dict[str, Any] = {"n": len(recs)}
    for key in ("aopc_comprehensiveness", "aopc_sufficiency", "rationale_comprehensiveness",
                "rationale_sufficiency"):
        mean, lo, hi = bootstrap_ci([r[key] for r in recs])
        s[key] = {"mean": mean, "ci95_low": lo, "ci95_high": hi}
    for key in ("comprehensiveness", "sufficiency"):
        s[f"{key}_by_bin"] = {str(b): sum(r[key][i] for r in recs) / len(recs)
                              for i, b in enumerate(bins)}
    return s


def faithfulness(cfg: FaithfulnessConfig, teacher: Teacher | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Measure every file on the first `data.limit` examples; resumable per file."""
    cfg.validate()
    if get_task(cfg.data.task).kind != "choice":
        raise ConfigError("task", f"'{cfg.data.task}' generates its answer; comprehensiveness "
                          "and sufficiency need a probability over candidate answers")
    check_output_dir(cfg.out, "faithfulness", cfg.overwrite, legacy=_made_by_faithfulness)
    task, examples = load_examples(cfg.data)
    if cfg.data.limit is not None and len(examples) < cfg.data.limit:  # as `train` refuses it
        raise ConfigError("limit", f"{cfg.data.limit} examples asked for, but "
                                   f"{cfg.data.task}/{cfg.data.split} has {len(examples)}; "
                                   f"ask for {len(examples)} at most")
    header: dict[str, Any] = {"task": cfg.data.task, "split": cfg.data.split,
                              "teacher": cfg.teacher.name, "bins": list(cfg.bins)}
    summary: dict[str, Any] = {**header, "files": {}}
    stems = [Path(f).stem for f in cfg.rationales]
    # Every file is checked against the data before the teacher measures any: a bad second
    # file fails now, not after the first one's measurement.
    paired = [(Path(f), _pairs(Path(f), cfg.data, examples)) for f in cfg.rationales]
    out_dir = claim_output_dir(cfg.out, "faithfulness", cfg.overwrite,
                               legacy=_made_by_faithfulness)
    if cfg.overwrite:  # on purpose: the summary starts afresh with this call's files
        (out_dir / "summary.json").unlink(missing_ok=True)
    for path, pairs in paired:
        # Values are kept per file under its name; files of one name (`run` keeps every
        # source as <stage>/rationales.jsonl) are told apart by their folder.
        name = path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}-{path.stem}"
        method = pairs[0][1].get("method", path.stem)
        rank = file_rank(path)
        # The file and the data are identified by content: a file edited since its values were
        # measured is refused, an identical copy elsewhere resumes (`file` says only where it
        # lives). `rank` joins the settings only when it is not the default, so that
        # measurements made before it was recorded still resume.
        inputs = inputs_digest(cfg.data, rationales=path)
        writer = ResumableJsonl(out_dir / f"{name}.jsonl",
                                {"file": str(path), "bins": list(cfg.bins),
                                 "teacher": cfg.teacher.name, "data": cfg.data.task,
                                 "inputs": inputs,
                                 **({"rank": rank} if rank != "abs" else {})},
                                overwrite=cfg.overwrite, located=("file",))
        todo = [pr for pr in pairs if pr[0].id not in writer.done]
        if todo and teacher is None:
            teacher = Teacher.load(cfg.teacher, task)
        start = time.perf_counter()
        for i in progress_bar(range(0, len(todo), cfg.batch_size), disable=not progress,
                              desc=f"faithfulness ({method})", unit="batch"):
            writer.write_batch(measure_batch(teacher, task, todo[i:i + cfg.batch_size],
                                             cfg.bins, rank))
        wanted = {ex.id for ex, _ in pairs}
        recs = [r for r in read_jsonl_records(writer.path) if r["id"] in wanted]
        entry = {"method": method, "rank": rank, "sha256": inputs["rationales"],
                 **_summary(recs, cfg.bins),
                 "seconds_this_run": round(time.perf_counter() - start, 1)}
        summary = _record(out_dir / "summary.json", header, str(path), entry)
    return summary


def _pairs(path: Path, data: DataSpec, examples: list) -> list[tuple[Any, dict[str, Any]]]:
    """(example, record) of each example the file covers. Its records must be of this data,
    once each (`check_ids`), and a --limit of N must find N of them: measuring fewer without a
    word would report a figure over other examples than asked for."""
    if not path.exists():
        raise DataError(path, None, None, "attribution file not found")
    by_id = {str(r["id"]): r for r in read_jsonl_records(path, known=split_ids(data, examples))}
    pairs = [(ex, by_id[ex.id]) for ex in examples if ex.id in by_id]
    if not pairs:
        raise DataError(path, None, "id", f"no record matches an example of "
                        f"{data.task}/{data.split}")
    if data.limit is not None and len(pairs) < len(examples):
        missing = [ex.id for ex in examples if ex.id not in by_id]
        raise DataError(path, None, "id", f"--limit {data.limit} asks for {len(examples)} "
                        f"examples of {data.task}/{data.split}, but the file covers "
                        f"{len(pairs)} of them (first missing: {', '.join(missing[:3])}); "
                        f"measure with --limit {len(pairs)} or attribute more examples")
    return pairs


def _made_by_faithfulness(out: Path) -> bool:
    """A folder `faithfulness` made before folders carried a mark: its summary.json, or a
    values file whose sidecar names a measured file and bins."""
    try:
        summary = json.loads((out / "summary.json").read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        summary = None
    if isinstance(summary, dict) and {"files", "bins"} <= summary.keys():
        return True
    for meta in out.glob("*.jsonl.meta.json"):
        try:
            settings = json.loads(meta.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(settings, dict) and {"file", "bins"} <= settings.keys():
            return True
    return False


def _record(path: Path, header: dict[str, Any], file: str, entry: dict[str, Any],
            ) -> dict[str, Any]:
    """Add one file's entry to summary.json as soon as it is measured.

    The summary on disk is re-read at this moment, not when the call started: two calls may
    measure different files into the same directory at once, and files measured by an earlier
    call (same task, split, teacher and bins) stay. The write is atomic.
    """
    summary: dict[str, Any] = {**header, "files": {}}
    if path.exists():
        old = read_json(path)
        if {k: old.get(k) for k in header} == header:
            summary["files"] = old.get("files", {})
    summary["files"][file] = entry
    write_json_atomic(path, summary)
    return summary
