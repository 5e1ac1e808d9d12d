"""The rows of a study: what a student learns from (mode, channel, rationale source), one line
of a learning curve. Apart from the stages so that the config's checks can name rows too."""

from __future__ import annotations

from dataclasses import dataclass

from ..report.curves import POOL, pooled_name

CONTROLS_WITH_GOLD = ("gold-answer", "gold-evidence")


def split_pool(mode: str) -> tuple[str, bool]:
    """A `students.modes` entry as (the student's mode, whether it learns the pool too)."""
    if mode == POOL:
        return "standard", True
    if mode.startswith(POOL + "+"):
        return mode.removeprefix(POOL + "+"), True
    return mode, False


@dataclass(frozen=True)
class Row:  # hashable: the grid's choice is kept per row
    """One line of a learning curve: what the student learns from, and through what."""

    mode: str
    channel: str | None
    """The explanation channel (rationale and dss modes); None: the family's default."""
    source: str | None
    """The rationale file: an attribution method or a control; None where no file is read."""
    main_method: str
    explicit_channel: bool = False
    pool: bool = False
    """The students also learn the teacher's answers on the unlabeled pool (`teacher-labels`)."""
    pool_size: int | None = None
    """Their group's `pool_size`: the first N of the pool (`teacher-labels[N]`); None: all of
    `data.unlabeled_limit`."""

    @property
    def explains(self) -> bool:
        return "rationale" in self.mode or "dss" in self.mode

    @property
    def name(self) -> str:
        """`rationale`, `rationale@random`, `rationale:attention@gold-evidence`, `kd`..."""
        name = self.mode
        if self.explicit_channel and self.explains:
            name += f":{self.channel}"
        if self.source and self.source != self.main_method and "rationale" in self.mode:
            name += f"@{self.source}"
        if self.pool:
            return pooled_name(name, self.pool_size)
        return name


def study_rows(cfg, main_method: str, group=None) -> list[Row]:
    """The rows of one student group (default: the first)."""
    s, controls = group or cfg.groups[0], cfg.attribution.controls
    rows = []
    for entry in s.modes:
        mode, pool = split_pool(entry)
        explains = "rationale" in mode or "dss" in mode
        # the pool learns the teacher's answers (in dss modes the LLM's: no file); setfit
        # learns the gold labels alone (the config refuses it with the teacher's)
        uses_file = mode != "setfit" and (mode not in ("standard", "dss") or
                                          s.labels == "teacher" or (pool and mode != "dss"))
        sources = (s.sources or [main_method, *controls]) if "rationale" in mode else \
            [main_method]
        if pool:  # the pool has no gold label or evidence to make a control of
            sources = [src for src in sources if src not in CONTROLS_WITH_GOLD]
        for channel in (s.channels or [None]) if explains else [None]:
            for source in sources:
                rows.append(Row(mode, channel, source if uses_file else None, main_method,
                                explicit_channel=s.channels is not None, pool=pool,
                                pool_size=s.pool_size if pool else None))
    return rows
