"""Settings defined once: a stage's dataclass is the single definition of each of its settings
(name, type, default, constraint, help), and the command-line flags and YAML sections are made
from it.

- name and default: the dataclass field; help: the field's docstring (the text under it);
- type and constraint: its annotation, `Annotated[int, Gt(0)]` and `Literal[...]` included,
  which pydantic reads as they are (YAML) and `add_flags` checks through pydantic (CLI);
- how it appears on the command line, where that differs from the name: `opt(...)` metadata
  (`flag` renames it, `negate` makes a True default a `--keep-...`-style switch);
- what it is (`opt(..., nature=...)`, see `Nature`): whether it changes what a stage computes
  (the default, OUTPUT), or only how fast, where or how long it runs (SPEED, RUN). A stage's
  hash and the settings a resumed run may change are derived from it (`not_hashed`,
  `resume_may_change`), not listed by hand beside each verb.
A nested dataclass (a verb's `data`, `teacher`, `rationale`, `weights`...) is flattened: its
settings appear under their own names, or under `rename` where two would collide. A dataclass
may extend another (`loop_config.LoopConfig`, the training loop's settings both trainers share):
an inherited setting keeps the base's docstring, and a subclass that starts it from another
default redeclares it with `redefault`, which keeps everything else. A renamed setting lists its
former name in `former_names` (see `Former`): the old YAML key or flag is still read, with a
one-line notice.

Why not jsonargparse (LitGPT's choice: `set_docstring_parse_options(attribute_docstrings=True)`,
then `parser.add_function_arguments(setup)` per subcommand and `instantiate_classes`): measured
here, it is the less simple of the two. Of the 172 flags the six config verbs have, 113 live in
a nested dataclass or carry another name (`--teacher`, `--top-k`, `--keep-stopwords`,
`--alpha`...); jsonargparse names them `--teacher.name`, `--rationale.top_k`,
`--rationale.drop_stopwords false`, `--weights.alpha`, so every command line in the README,
bench/ and the tests would change, or each of the 113 would need an alias by hand. It would also
be a new dependency, and its errors are usage dumps, not the house's one-line errors. The
flattening, the renames and the negated switches take the ~100 lines of `add_flags` and `build`
below; YAML keeps coming from pydantic, which reads the same annotations.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import logging
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types as at
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from .errors import ConfigError

log = logging.getLogger(__name__)

PositiveInt = Annotated[int, at.Gt(0)]
FiniteFloat = Annotated[float, AllowInfNan(False)]
"""A float setting: never inf or NaN (an infinite learning rate trains a NaN model, an infinite
epoch count overflows a step count). Every float of a setting is checked this way, annotated so
or not: `_adapter` (CLI and `check`) and `FINITE` (YAML) refuse them all."""
PositiveFloat = Annotated[FiniteFloat, at.Gt(0)]
Share = Annotated[FiniteFloat, at.Ge(0), at.Le(1)]
"""A weight in [0, 1]."""
FINITE = ConfigDict(allow_inf_nan=False)
"""pydantic's setting for every model and adapter made from settings: floats are finite."""
Device = Annotated[str, StringConstraints(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")]
"""`auto` (CUDA when torch sees a GPU, else CPU), `cpu`, `cuda`, `cuda:1`, `mps`: checked where
it is read, so a misspelt device fails before anything runs, not after hours of earlier stages."""


def resolve_device(device: str | None) -> str:
    """`auto` (or None) -> `cuda` when a GPU is visible, else `cpu`; anything else unchanged.
    The one place the choice is made, for teacher, students and evaluation alike."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclasses.dataclass(frozen=True)
class Nature:
    """What a setting is, declared once on its field (`opt(..., nature=...)`): whether a stage's
    hash (`run`'s cache key) holds it, and whether a stopped run may resume under another value
    (a training checkpoint, a resumable JSONL file). Unset: OUTPUT."""

    name: str
    hashed: bool
    """In a stage's hash: a stage run with another value is another stage (another folder)."""
    may_change: bool
    """May differ when a stopped run resumes: the steps or records still to come are those an
    unbroken run would compute."""


OUTPUT = Nature("output", hashed=True, may_change=False)
"""Changes what a stage computes (a learning rate, a method, top_k): hashed, and a resumed run
must have the value it began with. The default."""
SPEED = Nature("speed", hashed=False, may_change=True)
"""Changes only how fast or on what hardware a stage computes the same thing: a batch split
into micro-batches, batch sizes of a forward pass, the device. Never hashed; a resumed run may
change it."""
RUN = Nature("run", hashed=False, may_change=True)
"""Where and how long a stage runs, not what it computes: where it writes, whether it starts
afresh, when it stops or saves (overwrite, checkpoint_every, max_minutes). Never hashed; a
resumed run may change it."""
PINNED = Nature("pinned", hashed=False, may_change=False)
"""Not what a stage computes, so never hashed, but a resumed run must keep it: the checkpoint
is tied to it (its folder, a sharded layout), or a resume across it was never shown harmless."""
PRECISION = Nature("precision", hashed=True, may_change=True)
"""Arithmetic precision: the numbers differ by rounding, so hashed; a resumed run may change it
(a run begun in bfloat16 on a GPU may finish on the CPU, which has none)."""


def opt(default: Any = MISSING, *, factory: Callable[[], Any] | Any = MISSING,
        flag: str | None = None, negate: bool = False, negatable: bool = False,
        required: bool = False, choices: Callable[[], list[str]] | None = None,
        rename: Mapping[str, str] | None = None, nature: Nature | None = None) -> Any:
    """A dataclass field with how it appears on the command line: `flag` (another name),
    `negate` (the flag switches a True default off), `negatable` (a `--x/--no-x` pair whatever
    the default: a shared setting one verb starts on and another off), `required` (on the
    command line), `choices` (a function: names from a registry), `rename` (a nested
    dataclass's settings); and what it is: `nature` (see `Nature`; default OUTPUT)."""
    meta = {k: v for k, v in (("flag", flag), ("negate", negate), ("negatable", negatable),
                              ("required", required), ("choices", choices),
                              ("rename", rename), ("nature", nature)) if v}
    return dataclasses.field(default=default, default_factory=factory, metadata=meta)


def redefault(base: type, name: str, default: Any) -> Any:
    """The field `name` of the dataclass `base`, for a subclass that starts it from another
    default: its metadata (flag, nature) is the base's, and so is its docstring (`settings`
    reads it from the base when the subclass gives none). The annotation is restated beside it,
    as a dataclass needs; tests/test_loop_config.py checks it is the base's."""
    return dataclasses.field(default=default, metadata=base.__dataclass_fields__[name].metadata)


@dataclasses.dataclass(frozen=True)
class Former:
    """A name a setting had before, listed in its dataclass's `former_names`: an older config
    or command line is still read, with a one-line notice naming the setting it is now, so
    that it keeps doing what it did. Records that hold settings by name (a stage's hash, a
    training checkpoint's settings) may hold it too (`formerly`, `currently`)."""

    name: str
    """The former name: a setting's (its YAML key and `--flag`), or with `negated` a flag's."""
    now: str
    """The setting it names now."""
    negated: bool = False
    """A former switch that turned the setting off (`--train-embeddings`: now
    `--no-freeze-embeddings`); a flag only (YAML keys were always setting names)."""
    why: str = ""
    """Said in the notice where more than the name changed."""


def former_names(cls: type) -> tuple[Former, ...]:
    return tuple(getattr(cls, "former_names", ()))


def formerly(cls: type, named: Mapping[str, Any]) -> dict[str, Any]:
    """`named` (settings by name) under the names they had before a rename: for a stage's hash,
    so that a renamed setting keeps its cached stages."""
    old = {f.now: f.name for f in former_names(cls) if not f.negated}
    return {old.get(k, k): v for k, v in named.items()}


def currently(cls: type, named: Mapping[str, Any]) -> dict[str, Any]:
    """`named` (settings by name, e.g. a checkpoint's record) with former names read as the
    settings' names now: a run begun before a rename resumes."""
    new = {f.name: f.now for f in former_names(cls) if not f.negated}
    return {new[k] if k in new and new[k] not in named else k: v for k, v in named.items()}


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    """Flat name: the YAML key, and the CLI flag unless `meta['flag']` says otherwise."""
    path: tuple[str, ...]
    """Attribute path in the dataclass (`('rationale', 'top_k')`)."""
    annotation: Any
    default: Any
    help: str
    meta: Mapping[str, Any]

    @property
    def flag(self) -> str:
        return "--" + self.meta.get("flag", self.name).replace("_", "-")

    @property
    def nature(self) -> Nature:
        return self.meta.get("nature", OUTPUT)


def _docstrings(cls: type) -> dict[str, str]:
    """Attribute docstrings: the string literal right under each annotated field."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (a frozen build): help stays empty
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and \
                isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _strip(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(bare type, constraints, optional) of `Annotated[X, ...] | None`."""
    optional = False
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    constraints: list[Any] = []
    if get_origin(annotation) is Annotated:
        annotation, *constraints = get_args(annotation)
    return annotation, constraints, optional


@cache
def settings(cls: type) -> tuple[Setting, ...]:
    """Every setting of a dataclass, nested dataclasses flattened (see the module docstring)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # an inherited setting keeps its base's docstring
        if is_dataclass(klass):
            docs.update(_docstrings(klass))
    out: list[Setting] = []
    for f in fields(cls):
        bare, _, _ = _strip(hints[f.name])
        if is_dataclass(bare):
            rename = f.metadata.get("rename", {})
            for s in settings(bare):
                out.append(dataclasses.replace(s, name=rename.get(s.name, s.name),
                                               path=(f.name, *s.path)))
            continue
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        out.append(Setting(f.name, (f.name,), hints[f.name], default, docs.get(f.name, ""),
                           f.metadata))
    names = [s.name for s in out]
    clash = {n for n in names if names.count(n) > 1}
    assert not clash, f"{cls.__name__}: settings {clash} collide; give the nested field a rename"
    return tuple(out)


def not_hashed(cls: type) -> tuple[str, ...]:
    """Flat names (YAML keys) of the settings of `cls` no stage hash holds (`Nature.hashed`)."""
    return tuple(s.name for s in settings(cls) if not s.nature.hashed)


def resume_may_change(cls: type) -> tuple[str, ...]:
    """Settings of `cls` a resumed run may change (`Nature.may_change`), as dotted paths into
    `asdict` of an instance (`teacher.device`), the form `artifact.check_resume` reads."""
    return tuple(".".join(s.path) for s in settings(cls) if s.nature.may_change)


def defaults(cls: type) -> dict[str, Any]:
    return {s.name: s.default for s in settings(cls)}


@cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation, config=FINITE)


def _first_error(exc: ValidationError) -> str:
    return exc.errors()[0]["msg"].removeprefix("Value error, ")


# ---- the command line ------------------------------------------------------------------------
def _cli_type(s: Setting, scalar: type) -> Callable[[str], Any]:
    """argparse `type`: the text converted, then checked against the setting's constraints."""
    _, constraints, _ = _strip(s.annotation)
    # A float is always checked: `inf` and `nan` are floats to Python, not to a setting.
    adapter = _adapter(Annotated[(scalar, *constraints)] if constraints else scalar) \
        if constraints or scalar is float else None

    def convert(text: str) -> Any:
        try:
            value = scalar(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n' if scalar is int else ''} "
                                             f"{scalar.__name__}: {text!r}") from None
        if adapter is not None:
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                raise argparse.ArgumentTypeError(_first_error(exc)) from None
        return value

    convert.__name__ = scalar.__name__
    return convert


def add_flags(parser, cls: type, *, skip: tuple[str, ...] = (),
              overrides: Mapping[str, Any] | None = None) -> None:
    """One flag per setting of `cls` (not those named in `skip`, by setting name or top-level
    field); `overrides`: another default for this verb (e.g. `split`). A former name of a
    setting (`cls.former_names`) is a flag too, unlisted in `-h`, read with a notice."""
    made = {}
    for s in settings(cls):
        if s.name in skip or s.path[0] in skip:
            continue
        kw = _flag_kwargs(s, (overrides or {}).get(s.name, s.default))
        parser.add_argument(s.flag, **kw)
        made[s.name] = (s, kw)
    for former in former_names(cls):
        if former.now in made:
            _add_former_flag(parser, former, *made[former.now])


def _flag_kwargs(s: Setting, default: Any) -> dict[str, Any]:
    """argparse's keywords for the flag of setting `s`."""
    text = s.help or s.name.replace("_", " ")
    if "flag" in s.meta:  # the YAML key is the setting's name: the flag says so
        text += f" [YAML key: {s.name}{': false' if s.meta.get('negate') else ''}]"
    kw: dict[str, Any] = {"dest": s.name, "help": text.replace("%", "%%")}
    bare, _, _ = _strip(s.annotation)
    if bare is bool:
        if s.meta.get("negate"):
            kw.update(action="store_false", default=default)
        elif default or s.meta.get("negatable"):
            kw.update(action=argparse.BooleanOptionalAction, default=default)
        else:
            kw.update(action="store_true", default=default)
        return kw
    scalar = bare
    if get_origin(bare) in (list, tuple):
        kw["nargs"] = "+"
        scalar = get_args(bare)[0]
    choices = s.meta["choices"]() if "choices" in s.meta else None
    if get_origin(scalar) is Literal:
        choices = list(get_args(scalar))
        scalar = type(choices[0])
    kw["type"] = _cli_type(s, scalar)
    if choices is not None:
        kw["choices"] = choices
    if "flag" in s.meta:
        kw["metavar"] = s.meta["flag"].upper()
    if s.meta.get("required"):
        kw["required"] = True
    else:
        kw["default"] = list(default) if isinstance(default, tuple) else default
    return kw


class _FormerFlag(argparse.Action):
    """A setting's former flag: sets the setting (a switch: on, or off where `negated`), with a
    one-line notice naming the flag it is now."""

    def __init__(self, option_strings, dest, *, former: Former, now: str, **kw) -> None:
        self.former, self.now = former, now
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        why = f"; {self.former.why}" if self.former.why else ""
        if self.nargs == 0:  # a switch
            values = not self.former.negated
            now = f"--no-{self.now[2:]}" if self.former.negated else self.now
            log.warning("%s is now %s%s", option_string, now, why)
        else:
            shown = " ".join(map(str, values)) if isinstance(values, list) else values
            log.warning("%s is now %s (read as %s %s)%s", option_string, self.now, self.now,
                        shown, why)
        setattr(namespace, self.dest, values)


def _add_former_flag(parser, former: Former, s: Setting, kw: dict[str, Any]) -> None:
    bare, _, _ = _strip(s.annotation)
    extra = {"nargs": 0} if bare is bool else \
        {k: v for k, v in kw.items() if k in ("type", "choices", "nargs", "metavar")}
    parser.add_argument("--" + former.name.replace("_", "-"), dest=s.name, action=_FormerFlag,
                        former=former, now=s.flag, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS, **extra)


def build(cls: type, values: Mapping[str, Any] | argparse.Namespace, **given: Any) -> Any:
    """An instance of `cls` from flat setting values (a parsed command line or a YAML section;
    missing names keep their defaults); `given` sets whole top-level fields (`data=...`)."""
    if isinstance(values, argparse.Namespace):
        values = vars(values)
    nested: dict[str, Any] = {}
    for s in settings(cls):
        if s.path[0] in given or s.name not in values:
            continue
        node = nested
        for key in s.path[:-1]:
            node = node.setdefault(key, {})
        value = values[s.name]
        bare, _, _ = _strip(s.annotation)
        node[s.path[-1]] = tuple(value) if get_origin(bare) is tuple and value is not None \
            else value
    return _instantiate(cls, nested, given)


def _instantiate(cls: type, nested: dict[str, Any], given: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = dict(given)
    for f in fields(cls):
        if f.name in kwargs or f.name not in nested:
            continue
        bare, _, _ = _strip(hints[f.name])
        kwargs[f.name] = _instantiate(bare, nested[f.name], {}) if is_dataclass(bare) else \
            nested[f.name]
    return cls(**kwargs)


def values(obj: Any) -> dict[str, Any]:
    """Flat setting values of a dataclass instance (the inverse of `build`)."""
    out = {}
    for s in settings(type(obj)):
        value = obj
        for key in s.path:
            value = getattr(value, key)
        out[s.name] = value
    return out


def check(obj: Any, skip: tuple[str, ...] = ()) -> None:
    """Raise a one-line ConfigError naming the first setting of `obj` that breaks its declared
    type or constraint (what `validate()` methods call instead of restating them)."""
    for s in settings(type(obj)):
        if s.name in skip or s.path[0] in skip:
            continue
        value = obj
        for key in s.path:
            value = getattr(value, key)
        try:
            _adapter(s.annotation).validate_python(value)
        except ValidationError as exc:
            raise ConfigError(s.name, f"{_first_error(exc)}, got {value!r}") from None


# ---- YAML sections ---------------------------------------------------------------------------
def section(cls: type, name: str, base: type[BaseModel], /, *, exclude: tuple[str, ...] = (),
            where: str = "", **extra: Any) -> type[BaseModel]:
    """A pydantic model with one field per setting of `cls` (same name, type, constraint,
    default, description), minus `exclude` (setting names or top-level fields), plus `extra`
    (YAML-only keys, pydantic's `(annotation, Field(...))` pairs). A former name of a setting
    (`cls.former_names`) is read as the setting, with a notice naming the key at `where`."""
    spec: dict[str, Any] = {}
    for s in settings(cls):
        if s.name in exclude or s.path[0] in exclude:
            continue
        spec[s.name] = (s.annotation, Field(s.default, description=s.help or None))
    spec.update(extra)
    formers = [f for f in former_names(cls) if not f.negated and f.now in spec]
    validators = {"_former_names": model_validator(mode="before")(
        _yaml_former_names(formers, where + "." if where else ""))} if formers else {}
    return create_model(name, __base__=base, __doc__=f"Settings of {cls.__name__}.",
                        __validators__=validators, **spec)


def _yaml_former_names(formers: list[Former], where: str) -> Callable[[Any, Any], Any]:
    def read(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for f in formers:
            if f.name not in data:
                continue
            if f.now in data:
                raise ValueError(f"{where}{f.name}: the former name of {f.now}, which is given "
                                 "too; keep one")
            data[f.now] = data.pop(f.name)
            log.warning("%s%s is now %s%s (read as %s: %s)%s", where, f.name, where, f.now,
                        f.now, data[f.now], f"; {f.why}" if f.why else "")
        return data

    return classmethod(read)
