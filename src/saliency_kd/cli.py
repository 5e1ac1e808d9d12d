"""Command line: a map from verbs to plain functions of the package (see `saliency-kd -h`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from .errors import SaliencyKDError, first_line

VERBS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                       Callable[[argparse.Namespace], int]]] = {}


def verb(name: str, help_text: str, add_args: Callable[[argparse.ArgumentParser], None]):
    def deco(fn: Callable[[argparse.Namespace], int]):
        VERBS[name] = (help_text, add_args, fn)
        return fn

    return deco


# ---- shared argument groups -----------------------------------------------------------------
def add_data_args(p: argparse.ArgumentParser, default_split: str = "train") -> None:
    from .data import SPLITS, task_names

    g = p.add_argument_group("data")
    g.add_argument("--task", default="cqa", choices=task_names(), help="task to run")
    g.add_argument("--data-dir", default="../shared/data/dss",
                   help="root of the Distilling step-by-step layout, or 'hub' for the HF Hub")
    g.add_argument("--split", default=default_split, choices=SPLITS,
                   help="split; 'dev' is a seeded 10%% carve-out of train")
    g.add_argument("--limit", type=int, default=None, help="first N examples of the split")
    g.add_argument("--file", default=None, help="task 'generic': a JSONL or CSV file")
    g.add_argument("--input-field", default="input", help="generic: field with the input text")
    g.add_argument("--label-field", default="label", help="generic: field with the gold label")
    g.add_argument("--choices-field", default=None, help="generic: field with answer choices")
    g.add_argument("--id-field", default=None, help="generic: field with a unique id")


def data_spec(a: argparse.Namespace):
    from .data import DataSpec, FieldMap

    return DataSpec(a.task, a.data_dir, a.split, a.limit, a.file,
                    FieldMap(a.input_field, a.label_field, a.choices_field, a.id_field))


def add_teacher_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("teacher")
    g.add_argument("--teacher", default="gemma-3-270m",
                   help="embedded 'gemma-3-270m', a Hub id, a local directory or a .gguf file")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    g.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="precision of the weights (bf16 and fp16 halve the memory)")
    g.add_argument("--trust-remote-code", action="store_true",
                   help="allow model code from the Hub repository")
    g.add_argument("--device-map", default=None, choices=["auto"],
                   help="spread a teacher larger than one GPU over all visible GPUs")
    g.add_argument("--sum-score", action="store_true",
                   help="score choices by summed rather than mean token log-probability")


def teacher_config(a: argparse.Namespace):
    from .teacher import TeacherConfig

    return TeacherConfig(a.teacher, a.device, a.dtype, a.trust_remote_code,
                         length_norm=not a.sum_score, device_map=a.device_map)


# ---- verbs ----------------------------------------------------------------------------------
def add_selection_args(g) -> None:
    g.add_argument("--top-k", type=int, default=5, help="rationale length in words")
    g.add_argument("--mass", type=float, default=None,
                   help="instead of --top-k: share of attribution mass to keep (0-1]")
    g.add_argument("--keep-stopwords", action="store_true", help="allow stop words in rationales")
    g.add_argument("--keep-punctuation", action="store_true", help="allow punctuation")
    g.add_argument("--rank", default="abs", choices=["abs", "value"],
                   help="rank signed scores by magnitude or by value")


def rationale_config(a: argparse.Namespace):
    from .rationales import RationaleConfig

    return RationaleConfig(a.top_k, a.mass, getattr(a, "merge", "sum"), not a.keep_stopwords,
                           not a.keep_punctuation, a.rank)


def _attribute_args(p: argparse.ArgumentParser) -> None:
    from .attribution import method_names

    add_data_args(p)
    add_teacher_args(p)
    g = p.add_argument_group("attribution")
    g.add_argument("--method", default="saliency", choices=method_names(),
                   help="attribution method (`saliency-kd methods` describes each)")
    g.add_argument("--target", default="prediction", choices=["prediction", "gold"],
                   help="explain the teacher's prediction or the gold label")
    add_selection_args(g)
    g.add_argument("--merge", default="sum", choices=["sum", "max"],
                   help="how sub-word scores merge into word scores")
    g.add_argument("--ig-steps", type=int, default=16, help="integrated gradients steps")
    g.add_argument("--batch-size", type=int, default=8, help="examples per teacher pass")
    g.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute activations in the backward pass (less memory, slower)")
    g.add_argument("--out", required=True, help="output JSON Lines file")
    g.add_argument("--overwrite", action="store_true", help="start the output afresh")


@verb("attribute", "teacher answers + token attributions + rationales -> JSONL", _attribute_args)
def cmd_attribute(a: argparse.Namespace) -> int:
    from .attribute import AttributeConfig, attribute
    from .attribution import AttributionOptions

    cfg = AttributeConfig(
        out=a.out, data=data_spec(a), teacher=teacher_config(a), method=a.method,
        target=a.target, rationale=rationale_config(a),
        options=AttributionOptions(ig_steps=a.ig_steps), batch_size=a.batch_size,
        overwrite=a.overwrite, gradient_checkpointing=a.gradient_checkpointing)
    print(attribute(cfg))
    return 0


def _rationales_args(p: argparse.ArgumentParser) -> None:
    from .derive import SOURCES

    p.add_argument("--from", dest="source_file", required=True,
                   help="attribution file from `saliency-kd attribute` (its word scores)")
    add_data_args(p)
    g = p.add_argument_group("rationale")
    g.add_argument("--source", default="teacher", choices=SOURCES,
                   help="teacher: re-select from the stored scores; random / gold-answer: "
                   "control rationales (k random content words / the gold answer's words); "
                   "gold-evidence: positive control, all input words of the human evidence "
                   "(demo: annotated evidence words; else words of the human explanations), "
                   "no top-k cut")
    add_selection_args(g)
    g.add_argument("--seed", type=int, default=0, help="seed of the random control")
    p.add_argument("--out", required=True, help="output JSON Lines file")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out made with other settings or not by saliency-kd")


@verb("rationales", "derive a rationale file: another k, or a random / gold-answer / "
      "gold-evidence control",
      _rationales_args)
def cmd_rationales(a: argparse.Namespace) -> int:
    from .derive import DeriveConfig, derive

    cfg = DeriveConfig(source_file=a.source_file, out=a.out, data=data_spec(a), source=a.source,
                       rationale=rationale_config(a), seed=a.seed, overwrite=a.overwrite)
    print(json.dumps(derive(cfg), indent=1))
    return 0


def _faithfulness_args(p: argparse.ArgumentParser) -> None:
    from .faithfulness import ERASER_BINS

    p.add_argument("--rationales", nargs="+", required=True,
                   help="attribution or control files to measure (same examples, same teacher)")
    add_data_args(p)
    add_teacher_args(p)
    p.add_argument("--bins", nargs="+", type=float, default=list(ERASER_BINS),
                   help="shares of content words removed / kept (ERASER: 1 5 10 20 50%%)")
    p.add_argument("--batch-size", type=int, default=4,
                   help="examples per teacher pass")
    p.add_argument("--out", required=True, help="directory for per-example values + summary")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an --out folder faithfulness did not make, measuring afresh")


@verb("faithfulness", "ERASER comprehensiveness and sufficiency (AOPC) of attributions",
      _faithfulness_args)
def cmd_faithfulness(a: argparse.Namespace) -> int:
    from .faithfulness import FaithfulnessConfig, faithfulness

    cfg = FaithfulnessConfig(rationales=a.rationales, out=a.out, data=data_spec(a),
                             teacher=teacher_config(a), bins=tuple(a.bins),
                             batch_size=a.batch_size, overwrite=a.overwrite)
    print(json.dumps(faithfulness(cfg), indent=1))
    return 0


def _teacher_eval_args(p: argparse.ArgumentParser) -> None:
    add_data_args(p, default_split="dev")
    add_teacher_args(p)
    p.add_argument("--batch-size", type=int, default=8, help="examples per teacher pass")
    p.add_argument("--out", default=None, help="write predictions and metrics here (JSON)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out that is not an earlier teacher-eval output")


@verb("teacher-eval", "accuracy of the teacher on a split", _teacher_eval_args)
def cmd_teacher_eval(a: argparse.Namespace) -> int:
    from .teacher_eval import teacher_eval

    metrics = teacher_eval(data_spec(a), teacher_config(a), batch_size=a.batch_size, out=a.out,
                           overwrite=a.overwrite)
    print(json.dumps(metrics, indent=1))
    return 0


def add_schedule_args(g, d) -> None:
    """Optimiser settings shared by teacher fine-tuning and student training (`d`: the stage's
    config with its defaults)."""
    g.add_argument("--lr", type=float, default=d.lr,
                   help="peak learning rate (linear decay to zero at the end of --epochs)")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="examples per optimiser step")
    g.add_argument("--epochs", type=float, default=d.epochs,
                   help="passes over the training examples that the schedule spans")


def _finetune_args(p: argparse.ArgumentParser) -> None:
    from .finetune import FinetuneConfig

    add_data_args(p)
    add_teacher_args(p)
    d = FinetuneConfig()
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--out", required=True, help="directory for checkpoints and the final model")
    g.add_argument("--lora", action="store_true", help="train LoRA adapters instead of all weights")
    g.add_argument("--lora-rank", type=int, default=d.lora_rank, help="LoRA adapter rank")
    add_schedule_args(g, d)
    g.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop after this wall-clock budget (a checkpoint is saved)")
    g.add_argument("--max-steps", type=int, default=d.max_steps,
                   help="stop after this many steps; the LR schedule still spans --epochs, so "
                        "a run --max-minutes stopped at step N is repeated by --max-steps N; "
                        "rerun with a larger budget (or none) in the same --out to extend it")
    g.add_argument("--train-embeddings", action="store_true",
                   help="also train the (tied) embedding matrix; slower on CPU")
    g.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between dev evals")
    g.add_argument("--eval-limit", type=int, default=d.eval_limit, help="dev examples per eval")
    g.add_argument("--export", default=d.export, choices=["best", "last"],
                   help="final weights: best on the dev carve-out, or the last step")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of the data order")
    g.add_argument("--overwrite", action="store_true",
                   help="write into an --out folder teacher-finetune did not make, and start "
                        "afresh")


@verb("teacher-finetune", "fine-tune the teacher on answer tokens (full or LoRA)", _finetune_args)
def cmd_teacher_finetune(a: argparse.Namespace) -> int:
    from .finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(out=a.out, data=data_spec(a), teacher=teacher_config(a), lora=a.lora,
                         lora_rank=a.lora_rank, lr=a.lr, batch_size=a.batch_size, epochs=a.epochs,
                         max_minutes=a.max_minutes, max_steps=a.max_steps,
                         freeze_embeddings=not a.train_embeddings,
                         eval_every=a.eval_every, eval_limit=a.eval_limit, export=a.export,
                         seed=a.seed, overwrite=a.overwrite)
    print(finetune(cfg))
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    from .student import MODES, LossWeights, TrainConfig
    from .student.channels import ChannelOptions, channel_names

    add_data_args(p)
    d, w, c = TrainConfig(), LossWeights(), ChannelOptions()
    g = p.add_argument_group("student")
    g.add_argument("--rationales", default=None,
                   help="teacher records from `saliency-kd attribute` on the train split")
    g.add_argument("--student", default=d.student,
                   help="minilm-l6 (embedded; minilm-l1..l5 keep fewer layers), Hub id or dir")
    g.add_argument("--family", default=None, choices=["encoder", "seq2seq", "causal"],
                   help="student family (detected from the model config by default)")
    g.add_argument("--mode", default=d.mode, choices=MODES,
                   help="standard: labels only; rationale: + the teacher's rationale words; "
                        "dss: + the LLM's free-text rationale; kd: + KL to the teacher's "
                        "distribution over the candidates")
    g.add_argument("--labels", default=d.labels, choices=["gold", "teacher"],
                   help="learn the gold labels or the teacher's predictions")
    g.add_argument("--channel", default=None, choices=channel_names(),
                   help="how rationale modes use the rationale: tag, attention, attribution "
                        "(encoder; default tag) or generate (seq2seq, causal); "
                        "`saliency-kd channels` describes each")
    g.add_argument("--channel-weighting", default=c.weighting, choices=["uniform", "score"],
                   help="the channel's target: uniform over the rationale words, or weighted "
                        "by the teacher's word scores")
    g.add_argument("--channel-temperature", type=float, default=c.temperature,
                   help="with --channel-weighting score: >1 flattens, <1 sharpens the target")
    g.add_argument("--attention-heads", type=int, nargs="+", default=None,
                   help="attention channel: the last layer's heads to average (default: all)")
    g.add_argument("--pooling", default=d.pooling, choices=["mean", "cls"],
                   help="encoder: read the decision from the mean of the last layer or [CLS]")
    g.add_argument("--alpha", type=float, default=w.alpha,
                   help="label-loss weight; the channel's loss gets 1 - alpha (1: standard)")
    g.add_argument("--kd-weight", type=float, default=w.kd_weight,
                   help="share of the label loss given to KL against the teacher (kd modes)")
    g.add_argument("--temperature", type=float, default=w.temperature,
                   help="softmax temperature of teacher and student distributions (kd modes)")
    add_schedule_args(g, d)
    g.add_argument("--max-steps", type=int, default=None, help="fixed step budget")
    g.add_argument("--eval-every", type=int, default=None, help="steps between dev evaluations")
    g.add_argument("--patience", type=int, default=d.patience,
                   help="dev evaluations without improvement before stopping early")
    g.add_argument("--dev-limit", type=int, default=d.dev_limit,
                   help="dev examples to evaluate on; 0: no evaluation, the last weights kept")
    g.add_argument("--max-length", type=int, default=d.max_length,
                   help="input tokens kept per example")
    g.add_argument("--device", default="cpu", help="cpu or cuda")
    g.add_argument("--grad-accum", type=int, default=1,
                   help="micro-batches per optimiser step (same global batch, less memory)")
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    g.add_argument("--two-pass", action="store_true",
                   help="seq2seq: DSS's full pass per task prefix instead of encoding once")
    g.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the token embeddings fixed (most of a large-vocabulary model; "
                   "a step costs less)")
    g.add_argument("--fsdp", action="store_true",
                   help="with several processes: shard parameters, gradients and optimiser "
                   "state (FSDP2, ZeRO-3's layout)")
    g.add_argument("--seed", type=int, default=d.seed,
                   help="seed of the data order and of new weights")
    g.add_argument("--out", required=True, help="run directory")
    g.add_argument("--overwrite", action="store_true",
                   help="write into an --out folder train did not make, and start afresh")


@verb("train", "train a student (standard, rationale, dss, kd, combinations)", _train_args)
def cmd_train(a: argparse.Namespace) -> int:
    from .student import LossWeights, TrainConfig, train
    from .student.channels import ChannelOptions

    cfg = TrainConfig(out=a.out, data=data_spec(a), rationales=a.rationales, student=a.student,
                      family=a.family, mode=a.mode, labels=a.labels, channel=a.channel,
                      channel_options=ChannelOptions(a.channel_weighting, a.channel_temperature,
                                                     a.attention_heads),
                      pooling=a.pooling,
                      weights=LossWeights(a.alpha, a.kd_weight, a.temperature), lr=a.lr,
                      batch_size=a.batch_size, epochs=a.epochs, max_steps=a.max_steps,
                      eval_every=a.eval_every, patience=a.patience, dev_limit=a.dev_limit,
                      max_length=a.max_length, device=a.device, grad_accum=a.grad_accum,
                      bf16=a.bf16, two_pass=a.two_pass, fsdp=a.fsdp, seed=a.seed,
                      freeze_embeddings=a.freeze_embeddings, overwrite=a.overwrite)
    print(train(cfg))
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a student's model/ directory")
    add_data_args(p, default_split="test")
    p.add_argument("--rationales", default=None,
                   help="teacher records for this split, to score the student's rationales")
    p.add_argument("--out", default=None, help="metrics JSON (default: beside the model)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out that is not an earlier metrics file")
    p.add_argument("--batch-size", type=int, default=32, help="examples per student pass")


@verb("evaluate", "accuracy (bootstrap 95%% CI), per-class counts, rationale F1", _evaluate_args)
def cmd_evaluate(a: argparse.Namespace) -> int:
    from .evaluate import evaluate

    metrics = evaluate(a.model, data_spec(a), a.rationales, a.out, a.batch_size,
                       overwrite=a.overwrite)
    print(json.dumps(metrics, indent=1))
    return 0


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a student's model/ directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="input text; NLI: 'premise ||| hypothesis'; or a JSON object")
    src.add_argument("--input", help="JSONL file with the task's fields")
    p.add_argument("--choices", default=None, help="answer choices separated by '|'")


@verb("predict", "label and rationale words for new inputs, as JSON", _predict_args)
def cmd_predict(a: argparse.Namespace) -> int:
    from .evaluate import predict

    choices = [c.strip() for c in a.choices.split("|")] if a.choices else None
    for rec in predict(a.model, a.text, choices, a.input):
        print(json.dumps(rec, ensure_ascii=False))
    return 0


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="a YAML run configuration (see configs/)")
    p.add_argument("--run-dir", default=None, help="override run_dir")


def _run_and_print(cfg) -> int:
    from .pipeline.run import run_pipeline
    from .report import format_table

    results = run_pipeline(cfg)
    print(format_table(results))
    print(f"report: {cfg.run_dir}/report.html")
    print(f"stages run: {', '.join(results['stages_ran']) or 'none (all cached)'}")
    return 0


@verb("run", "the whole pipeline from a YAML config, each stage cached", _run_args)
def cmd_run(a: argparse.Namespace) -> int:
    from .pipeline.config import load_config

    overrides = {"run_dir": a.run_dir} if a.run_dir else None
    return _run_and_print(load_config(a.config, overrides))


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="demo", help="demo (embedded data) or cqa, anli1, ...")
    p.add_argument("--data-dir", default=None, help="DSS layout root for tasks other than demo")
    p.add_argument("--run-dir", default=None, help="default: runs/demo or runs/demo-<task>")


@verb("demo", "the embedded demo: Gemma teacher, MiniLM student, offline", _demo_args)
def cmd_demo(a: argparse.Namespace) -> int:
    from importlib.resources import files

    from .pipeline.config import load_config

    run_dir = a.run_dir or ("runs/demo" if a.task == "demo" else f"runs/demo-{a.task}")
    overrides = {"data.task": a.task, "data.data_dir": a.data_dir, "run_dir": run_dir}
    return _run_and_print(load_config(files("saliency_kd") / "configs" / "demo.yaml", overrides))


@verb("methods", "list the attribution methods", lambda p: None)
def cmd_methods(a: argparse.Namespace) -> int:
    from .attribution import get_method, method_names

    for name in method_names():
        spec = get_method(name)
        print(f"{name:22s} {spec.level:5s} {'signed' if spec.signed else '      '} "
              f"{spec.description}")
    return 0


@verb("channels", "list the explanation channels (how a student uses a rationale)",
      lambda p: None)
def cmd_channels(a: argparse.Namespace) -> int:
    from .student.channels import channel_names, get_channel

    for name in channel_names():
        spec = get_channel(name)
        print(f"{name:12s} {'/'.join(spec.families):15s} {spec.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saliency-kd",
        description="Attribution-based knowledge distillation (Ballout et al., 2024).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True)
    for name, (help_text, add_args, fn) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(func=fn)
    return parser


def error_message(exc: BaseException) -> str | None:
    """One line for an error a user can fix (their input, a damaged file, a path), or None for
    a bug, which keeps its traceback."""
    if isinstance(exc, SaliencyKDError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset " \
               f"{exc.start}); run with -v for where it was read"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or first_line(exc)}"
    if type(exc).__name__ == "SafetensorError":
        return f"a damaged safetensors file ({first_line(exc)})"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except Exception as exc:
        message = error_message(exc)
        if message is None:
            raise
        if args.verbose:
            logging.getLogger(__name__).debug("where it was raised", exc_info=exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
