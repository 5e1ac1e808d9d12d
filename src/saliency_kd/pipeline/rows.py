"""The rows of a study: what a student learns from (mode, channel, rationale source), one line
of a learning curve. Apart from the stages so that the config's checks can name rows too."""

from __future__ import annotations

from dataclasses import dataclass


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
        return name


def study_rows(cfg, main_method: str, group=None) -> list[Row]:
    """The rows of one student group (default: the first)."""
    s, controls = group or cfg.groups[0], cfg.attribution.controls
    rows = []
    for mode in s.modes:
        explains = "rationale" in mode or "dss" in mode
        uses_file = mode not in ("standard", "dss") or s.labels == "teacher"
        sources = (s.sources or [main_method, *controls]) if "rationale" in mode else \
            [main_method]
        for channel in (s.channels or [None]) if explains else [None]:
            for source in sources:
                rows.append(Row(mode, channel, source if uses_file else None, main_method,
                                explicit_channel=s.channels is not None))
    return rows
