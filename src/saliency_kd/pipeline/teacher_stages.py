"""The teacher's stages of `run`, one function per kind: 1. fine-tuning, 2. its accuracy,
3. attribution on the training split, the rationale files derived from it (controls,
re-selections) and their faithfulness; and the teacher measurements kept beside the run as
references. Each reads the run's context and adds its outputs to it (see `context`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..artifact import mark_output_dir, read_json
from ..data import DataSpec
from ..settings import build, formerly
from .context import RunContext, data_id, rel
from .students import RUN_TIME, hashed, shown, unhashed


# ---- 1. teacher fine-tuning -------------------------------------------------------------------
def finetune_stage(ctx: RunContext, label: str, skip: tuple[str, ...] = (),
                   ) -> tuple[Any, dict[str, Any]]:
    """The configured teacher fine-tuned (its settings but `skip`): the fine-tuned teacher's
    config and its identity in hashes."""
    from ..teacher.finetune import FinetuneConfig, finetune
    from ..teacher.model import TeacherConfig

    t = ctx.cfg.teacher
    ft = t.finetune
    # Not derived from FinetuneConfig's natures: this hash has held `max_minutes` always and
    # `checkpoint_every` (and `stop_after_steps`) where set since it was made; leaving them out
    # would re-run every cached fine-tuning. Settings renamed since are hashed under the names
    # they had (`formerly`: dev_limit as eval_limit, stop_after_steps as max_steps), so the
    # cached fine-tunings stay found.
    payload = {"data": ctx.data_id, "teacher": ctx.base_id, "finetune": formerly(
        FinetuneConfig, hashed(ft, ("lr", "batch_size", "epochs", "max_minutes", "train_limit",
                                    "eval_every", "dev_limit", "lora", "lora_rank"),
                               where=skip))}
    d = ctx.stages.path(label, payload)
    ft_cfg = build(FinetuneConfig, {k: v for k, v in ft.model_dump().items()
                                    if k not in skip}, out=str(d),
                   # its own part of the split (data.teacher_examples) is all of it by default
                   data=ctx.spec("train", ft.train_limit or (
                       None if ctx.cfg.data.teacher_examples else ctx.train_limit), teacher=True),
                   teacher=ctx.base_cfg)
    if ctx.stages.start(d, label, shown(ft_cfg)):
        mark_output_dir(d, "teacher-finetune")  # run made the folder: the stage resumes
        finetune(ft_cfg, progress=ctx.progress)
        ctx.stages.finish(d, payload)
    ctx.index[label.replace("-", "_")] = d.name if d else RUN_TIME
    return (build(TeacherConfig, {**t.model_dump(), "name": str(d / "model") if d else RUN_TIME}),
            {"finetuned": d.name if d else RUN_TIME})


def teacher_finetune(ctx: RunContext) -> None:
    """Where the config fine-tunes the teacher, the fine-tuned one is the run's teacher."""
    if ctx.cfg.teacher.finetune is not None:
        ctx.teacher_cfg, ctx.teacher_id = finetune_stage(ctx, "teacher-finetune")


# ---- 2. teacher accuracy on the evaluation split ----------------------------------------------
def eval_stage(ctx: RunContext, name: str, t_cfg, t_id: dict, split: str, limit: int | None,
               load=None) -> Path | None:
    """The teacher `t_cfg` scored on `split`; `load()` gives it already loaded (the run's own
    teacher, kept for attribution), else the stage loads it and lets it go."""
    from ..teacher.evaluation import TeacherEvalConfig, teacher_eval

    cfg = ctx.cfg
    data = ctx.test_spec if split == cfg.data.test_split and limit == cfg.data.test_limit \
        else ctx.spec(split, limit)
    payload = {"teacher": t_id,
               "data": ctx.test_id if data is ctx.test_spec else data_id(cfg, data),
               "split": split, "limit": limit}
    label = "teacher-eval" + ("" if name == "test" else f"-{name}")
    d = ctx.stages.path(label, payload)
    ev = build(TeacherEvalConfig, cfg.teacher_eval.model_dump(), data=data, teacher=t_cfg,
               out=str(d / "metrics.json") if d else None)
    if ctx.stages.start(d, label, {**shown(t_cfg), "batch_size": ev.batch_size,
                                   "split": split, "limit": limit}):
        teacher_eval(ev.data, ev.teacher, batch_size=ev.batch_size, out=ev.out,
                     teacher=load() if load else None, progress=ctx.progress)
        ctx.stages.finish(d, payload)
    ctx.index["teacher_evals"][name] = f"{d.name}/metrics.json" if d else RUN_TIME
    return d


def teacher_evals(ctx: RunContext) -> None:
    """The run's teacher on the test split (its metrics go to the report), the dev carve-out
    where asked, and each extra test split."""
    cfg, te = ctx.cfg, ctx.cfg.teacher_eval
    d = eval_stage(ctx, "test", ctx.teacher_cfg, ctx.teacher_id, cfg.data.test_split,
                   cfg.data.test_limit, load=ctx.teacher)
    ctx.teacher_metrics = read_json(d / "metrics.json")["metrics"] \
        if ctx.stages.done(d) else RUN_TIME
    if te.dev_limit:
        eval_stage(ctx, "dev", ctx.teacher_cfg, ctx.teacher_id, "dev", te.dev_limit,
                   load=ctx.teacher)
    for split in cfg.data.also_test:  # the teacher's figure on each extra split
        eval_stage(ctx, split, ctx.teacher_cfg, ctx.teacher_id, split, None, load=ctx.teacher)
    ctx.write_index()


# ---- 3. attribution on the training split -----------------------------------------------------
def _choice(ctx: RunContext) -> dict[str, Any]:
    """What changes the scores or their selection, where set; not batch sizes or the
    memory/speed knobs (their declared nature), not the lists the stages hash themselves, not
    top_k, target, ig_steps (always in the attribution payload)."""
    from ..attribution.attribute import AttributeConfig

    return hashed(ctx.cfg.attribution, where=(
        *unhashed(type(ctx.cfg.attribution), AttributeConfig), "top_k", "target", "ig_steps"))


def _selection(ctx: RunContext) -> dict[str, Any]:
    """The attribution settings that choose words, in the hashes of derived files."""
    return {k: v for k, v in _choice(ctx).items() if k not in ("seed", "baseline")}


def attribute_stages(ctx: RunContext) -> None:
    """One rationale file per attribution method: the teacher's scores of the training split."""
    from ..attribution.attribute import AttributeConfig, attribute

    a = ctx.cfg.attribution
    for method in a.methods:
        payload = {"teacher": ctx.teacher_id, "data": ctx.data_id, "limit": ctx.train_limit,
                   **({"draw": ctx.draws} if ctx.draws else {}), **ctx.pool_key,
                   "method": method, "top_k": a.top_k, "target": a.target,
                   "ig_steps": a.ig_steps, **_choice(ctx)}
        d = ctx.stages.path(f"attribute-{method}", payload)
        out = d / "rationales.jsonl" if d else None
        attr_cfg = build(AttributeConfig, a.model_dump(), out=str(out), data=ctx.train_spec,
                         teacher=ctx.teacher_cfg, method=method)
        if ctx.stages.start(d, f"attribute-{method}", {**ctx.teacher_shown, **shown(attr_cfg)}):
            attribute(attr_cfg, teacher=ctx.teacher(), progress=ctx.progress)
            ctx.stages.finish(d, payload)
        ctx.rationale_files[method], ctx.attr_ids[method] = out, d.name if d else RUN_TIME


def derive_stage(ctx: RunContext, name: str, label: str, method: str, source: str,
                 payload: dict, values: dict, data: DataSpec, always: tuple[str, ...]) -> None:
    """A rationale file `name` derived from `method`'s stored scores: a control (random, gold
    words) or a re-selection of the teacher's words."""
    from ..attribution.derive import DeriveConfig, derive

    d = ctx.stages.path(label, payload)
    out = d / "rationales.jsonl" if d else None
    derive_cfg = build(DeriveConfig, {**ctx.cfg.attribution.model_dump(), **values},
                       source_file=str(ctx.rationale_files[method]),
                       out=str(out), data=data, source=source)
    if ctx.stages.start(d, label, shown(derive_cfg, always=always)):
        derive(derive_cfg)
        ctx.stages.finish(d, payload)
    ctx.rationale_files[name], ctx.attr_ids[name] = out, d.name if d else RUN_TIME


def control_stages(ctx: RunContext) -> None:
    """The controls (random words, gold words, ...), in the first method's word counts."""
    a = ctx.cfg.attribution
    main = a.methods[0]
    for control in a.controls:
        derive_stage(ctx, control, f"control-{control}", main, control, {
            "attribution": ctx.attr_ids[main], "control": control, "top_k": a.top_k,
            "seed": a.control_seed, **_selection(ctx)}, {"seed": a.control_seed},
            ctx.train_spec, always=("top_k", "seed"))


def derived_stages(ctx: RunContext) -> None:
    """Re-selections of a method's stored scores (another top_k, rank, ...)."""
    for der in ctx.cfg.attribution.derived:
        chosen = {k: getattr(der, k) for k in sorted(der.model_fields_set)
                  if k not in ("name", "from_", "limit")}
        data = ctx.spec("train", der.limit or ctx.train_limit, ctx.draws,
                        pool=ctx.pooled and not der.limit)
        derive_stage(ctx, der.name, f"derived-{der.name}", der.from_, "teacher", {
            "attribution": ctx.attr_ids[der.from_], "derived": chosen, "limit": der.limit,
            **_selection(ctx)}, chosen, data, always=("top_k", "rank"))


def faithfulness_stage(ctx: RunContext) -> None:
    """ERASER's comprehensiveness and sufficiency of the rationale files, on the teacher."""
    from ..attribution.faithfulness import FaithfulnessConfig, faithfulness

    f = ctx.cfg.faithfulness
    if not f:
        return
    payload = {"teacher": ctx.teacher_id, "data": ctx.data_id, "limit": f.limit, "bins": f.bins,
               "files": {src: ctx.attr_ids[src] for src in f.sources}}
    d = ctx.stages.path("faithfulness", payload)
    f_cfg = build(FaithfulnessConfig, f.model_dump(), out=str(d),
                  rationales=[str(ctx.rationale_files[src]) for src in f.sources],
                  data=ctx.spec("train", f.limit), teacher=ctx.teacher_cfg)
    if ctx.stages.start(d, "faithfulness", {**ctx.teacher_shown, "limit": f.limit,
                                            "sources": ",".join(f.sources)}):
        mark_output_dir(d, "faithfulness")  # run made the folder: the stage resumes
        faithfulness(f_cfg, teacher=ctx.teacher(), progress=ctx.progress)
        ctx.stages.finish(d, payload)
    ctx.index["faithfulness"] = {"dir": d.name if d else RUN_TIME, "files": {
        src: rel(ctx.root, ctx.rationale_files[src]) for src in f.sources}}


# ---- teacher measurements beside the run (references; no student uses them) ------------------
def reference_stages(ctx: RunContext) -> None:
    """The teacher before fine-tuning (zero-shot) and fine-tuned on its full schedule."""
    cfg, t, te = ctx.cfg, ctx.cfg.teacher, ctx.cfg.teacher_eval
    test = (cfg.data.test_split, cfg.data.test_limit)
    if te.zero_shot and t.finetune is not None:
        eval_stage(ctx, "zeroshot", ctx.base_cfg, ctx.base_id, *test)
    if te.full_schedule and t.finetune is not None and t.finetune.stop_after_steps:
        full_cfg, full_id = finetune_stage(ctx, "teacher-finetune-full",
                                           skip=("stop_after_steps",))
        eval_stage(ctx, "full", full_cfg, full_id, *test)
        if te.dev_limit:
            eval_stage(ctx, "full-dev", full_cfg, full_id, "dev", te.dev_limit)
    ctx.write_index()
