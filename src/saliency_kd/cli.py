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


# ---- flags made from the stage dataclasses (settings.py) -------------------------------------
# Every verb below with a config dataclass gets its flags from it: name, type, default,
# constraint and help are defined once, on the dataclass (tests/test_settings.py checks).
def _flags(p: argparse.ArgumentParser, cls, title: str, *, skip: tuple[str, ...] = (),
           split: str | None = None) -> None:
    from .settings import add_flags

    add_flags(p.add_argument_group(title), cls, skip=skip,
              overrides={"split": split} if split else None)


def _build(cls, a: argparse.Namespace):
    from .settings import build

    return build(cls, a)


def _attribute_args(p: argparse.ArgumentParser) -> None:
    from .attribution.attribute import AttributeConfig

    _flags(p, AttributeConfig, "attribution")


@verb("attribute", "teacher answers + token attributions + rationales -> JSONL", _attribute_args)
def cmd_attribute(a: argparse.Namespace) -> int:
    from .attribution.attribute import AttributeConfig, attribute

    print(attribute(_build(AttributeConfig, a), progress=a.progress))
    return 0


def _rationales_args(p: argparse.ArgumentParser) -> None:
    from .attribution.derive import DeriveConfig

    _flags(p, DeriveConfig, "rationale")


@verb("rationales", "derive a rationale file: another k, or a random / gold-answer / "
      "gold-evidence control, or the teacher's or the evidence's without the answer",
      _rationales_args)
def cmd_rationales(a: argparse.Namespace) -> int:
    from .attribution.derive import DeriveConfig, derive

    print(json.dumps(derive(_build(DeriveConfig, a)), indent=1))
    return 0


def _faithfulness_args(p: argparse.ArgumentParser) -> None:
    from .attribution.faithfulness import FaithfulnessConfig

    _flags(p, FaithfulnessConfig, "faithfulness")


@verb("faithfulness", "ERASER comprehensiveness and sufficiency (AOPC) of attributions",
      _faithfulness_args)
def cmd_faithfulness(a: argparse.Namespace) -> int:
    from .attribution.faithfulness import FaithfulnessConfig, faithfulness

    print(json.dumps(faithfulness(_build(FaithfulnessConfig, a), progress=a.progress),
                     indent=1))
    return 0


def _teacher_eval_args(p: argparse.ArgumentParser) -> None:
    from .teacher.evaluation import TeacherEvalConfig

    _flags(p, TeacherEvalConfig, "teacher-eval", split="dev")


@verb("teacher-eval", "accuracy of the teacher on a split", _teacher_eval_args)
def cmd_teacher_eval(a: argparse.Namespace) -> int:
    from .teacher.evaluation import TeacherEvalConfig, teacher_eval

    cfg = _build(TeacherEvalConfig, a)
    metrics = teacher_eval(cfg.data, cfg.teacher, batch_size=cfg.batch_size, out=cfg.out,
                           overwrite=cfg.overwrite, progress=a.progress)
    print(json.dumps(metrics, indent=1))
    return 0


def _finetune_args(p: argparse.ArgumentParser) -> None:
    from .teacher.finetune import FinetuneConfig

    _flags(p, FinetuneConfig, "fine-tuning")


@verb("teacher-finetune", "fine-tune the teacher on answer tokens (full or LoRA)", _finetune_args)
def cmd_teacher_finetune(a: argparse.Namespace) -> int:
    from .teacher.finetune import FinetuneConfig, finetune

    print(finetune(_build(FinetuneConfig, a), progress=a.progress))
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    from .student import TrainConfig

    _flags(p, TrainConfig, "student")


@verb("train", "train a student (standard, rationale, dss, kd, combinations)", _train_args)
def cmd_train(a: argparse.Namespace) -> int:
    from .student import TrainConfig, train

    print(train(_build(TrainConfig, a), progress=a.progress))
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    from .data import DataSpec
    from .settings import add_flags

    # evaluate() is a function of a few arguments, not a config dataclass: its defaults are read
    # from its signature, the data flags come from DataSpec.
    d = _signature_defaults("evaluate")
    p.add_argument("--model", required=True, help="a student's model/ directory")
    add_flags(p.add_argument_group("data"), DataSpec, overrides={"split": "test", "task": None})
    p.add_argument("--rationales", default=None,
                   help="teacher records for this split, to score the student's rationales")
    p.add_argument("--out", default=None, help="metrics JSON (default: beside the model)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out that is not an earlier metrics file")
    p.add_argument("--batch-size", type=int, default=d["batch_size"],
                   help="examples per student pass")
    p.add_argument("--device", default=d["device"],
                   help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")


def _signature_defaults(name: str) -> dict:
    import inspect

    from .evaluate import evaluate, predict

    fn = {"evaluate": evaluate, "predict": predict}[name]
    return {k: v.default for k, v in inspect.signature(fn).parameters.items()}


@verb("evaluate", "accuracy (bootstrap 95%% CI), per-class counts, rationale F1", _evaluate_args)
def cmd_evaluate(a: argparse.Namespace) -> int:
    from .data import DataSpec
    from .evaluate import evaluate
    from .settings import build

    metrics = evaluate(a.model, build(DataSpec, a), a.rationales, a.out, a.batch_size,
                       overwrite=a.overwrite, device=a.device, progress=a.progress)
    print(json.dumps(metrics, indent=1))
    return 0


def _predict_args(p: argparse.ArgumentParser) -> None:
    from .predictor import InputFields
    from .settings import add_flags

    p.add_argument("--model", required=True, help="a student's model/ directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="input text; NLI: 'premise ||| hypothesis'; or a JSON object")
    src.add_argument("--input", help="a JSONL or CSV file of inputs (see --input-field)")
    p.add_argument("--choices", default=None, help="answer choices separated by '|'")
    add_flags(p.add_argument_group("input file"), InputFields)
    p.add_argument("--batch-size", type=int, default=32, help="inputs per student pass")
    p.add_argument("--device", default=_signature_defaults("predict")["device"],
                   help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")


@verb("predict", "label, probability of each label and rationale words for new inputs, "
      "one JSON line each", _predict_args)
def cmd_predict(a: argparse.Namespace) -> int:
    from .predictor import InputFields, load_student
    from .settings import build

    choices = [c.strip() for c in a.choices.split("|")] if a.choices else None
    student = load_student(a.model, a.device, a.batch_size)
    if a.text is not None:
        text = a.text
        if text.lstrip().startswith("{"):
            try:
                text = json.loads(text)
            except json.JSONDecodeError as exc:
                from .errors import DataError

                raise DataError("--text", None, None, f"invalid JSON ({exc.msg})") from None
        batches = iter([student(text, choices)])
    else:
        batches = student.iter_file(a.input, build(InputFields, a), choices)
    n = 0
    for batch in batches:
        for rec in batch:
            print(json.dumps(rec, ensure_ascii=False), flush=True)
        n += len(batch)
    print(f"predict: {n} input(s)", file=sys.stderr)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    from .export import ExportConfig

    p.add_argument("model", metavar="MODEL_DIR", help="a trained student's model/ directory")
    _flags(p, ExportConfig, "export")


@verb("export", "a student as a transformers folder (pipeline-ready, id2label), optionally "
      "ONNX", _export_args)
def cmd_export(a: argparse.Namespace) -> int:
    from .export import ExportConfig, export

    print(export(a.model, _build(ExportConfig, a)))
    return 0


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="a YAML run configuration (see configs/)")
    p.add_argument("--run-dir", default=None, help="override run_dir")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (each stage, its settings, its cache directory, cached "
                        "or to run) without loading a model or a dataset")


def _run_and_print(cfg, progress: bool = True) -> int:
    from .pipeline.run import run_pipeline
    from .report import format_table

    results = run_pipeline(cfg, progress=progress)
    print(format_table(results))
    print(f"report: {cfg.run_dir}/report.html")
    print(f"stages run: {', '.join(results['stages_ran']) or 'none (all cached)'}")
    return 0


@verb("run", "the whole pipeline from a YAML config, each stage cached", _run_args)
def cmd_run(a: argparse.Namespace) -> int:
    from .pipeline.config import load_config

    overrides = {"run_dir": a.run_dir} if a.run_dir else None
    cfg = load_config(a.config, overrides)
    return _print_plan(cfg) if a.dry_run else _run_and_print(cfg, a.progress)


def _print_plan(cfg) -> int:
    from .pipeline.run import format_plan, plan_pipeline

    print(format_plan(cfg, plan_pipeline(cfg)))
    return 0


def _demo_args(p: argparse.ArgumentParser) -> None:
    from .data import task_names

    p.add_argument("--task", default="demo", help="demo (embedded data) or another of "
                   f"{', '.join(task_names())}")
    p.add_argument("--data-dir", default=None, help="DSS layout root for tasks other than demo")
    p.add_argument("--run-dir", default=None, help="default: runs/demo or runs/demo-<task>")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan without loading a model or a dataset")


@verb("demo", "the embedded demo: Gemma teacher, MiniLM student, offline", _demo_args)
def cmd_demo(a: argparse.Namespace) -> int:
    from importlib.resources import files

    from .pipeline.config import load_config

    run_dir = a.run_dir or ("runs/demo" if a.task == "demo" else f"runs/demo-{a.task}")
    overrides = {"data.task": a.task, "data.data_dir": a.data_dir, "run_dir": run_dir}
    cfg = load_config(files("saliency_kd") / "configs" / "demo.yaml", overrides)
    return _print_plan(cfg) if a.dry_run else _run_and_print(cfg, a.progress)


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

    rows = [(name, "/".join(get_channel(name).families), get_channel(name).description)
            for name in channel_names()]
    width = max(len(families) for _, families, _ in rows)  # columns line up whatever the names
    for name, families, description in rows:
        print(f"{name:12s} {families:{width}s}  {description}")
    return 0


class DefaultsFormatter(argparse.HelpFormatter):
    """`-h` shows each flag's default (None or "" means "not set" and is not shown)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, "", argparse.SUPPRESS) or \
                action.required or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saliency-kd",
        description="Attribution-based knowledge distillation (Ballout et al., 2024).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="verb", required=True)
    for name, (help_text, add_args, fn) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=DefaultsFormatter)
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
    args.progress = not args.quiet  # verbs pass it on as progress=...
    from .progress import is_quiet, set_quiet

    was_quiet = is_quiet()
    if args.quiet:  # bars made deeper down, where no progress switch reaches, too
        set_quiet(True)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return exit_code(lambda: args.func(args), args.verbose)
    finally:  # for this call only: a caller in the same process (tests, notebooks) keeps its own
        set_quiet(was_quiet)


def exit_code(fn: Callable[[], int | None], verbose: bool = False) -> int:
    """Run a command: its exit code, or 2 with one line on stderr for an error a user can fix
    (a bug keeps its traceback), or 130 with one line for Ctrl-C. The bench scripts end this
    way too."""
    try:
        return fn() or 0
    except KeyboardInterrupt:
        # Every output is written so that a kill leaves it valid and resumable (artifact.py,
        # atomic.py): Ctrl-C is a kill the user asked for, not a bug to show a traceback of.
        print("error: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        message = error_message(exc)
        if message is None:
            raise
        if verbose:
            logging.getLogger(__name__).debug("where it was raised", exc_info=exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
