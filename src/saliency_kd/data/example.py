"""The one record type every stage passes around."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Example:
    """One task instance, independent of any model or prompt template.

    `fields` holds the task's raw text inputs (e.g. `question`, or `premise` and `hypothesis`);
    the task decides how they become a prompt. `label` is always the gold answer as text (a
    choice string, an NLI label name, an equation), so every stage compares strings.
    """

    id: str
    fields: dict[str, str]
    label: str
    choices: list[str] | None = None
    explanations: list[str] = field(default_factory=list)
    """Human explanations (CoS-E, e-SNLI, ANLI reasons): used for plausibility metrics."""
    llm_rationale: str | None = None
    """Free-text rationale written by a large LM (PaLM in the DSS files): the DSS baseline."""
    evidence: list[str] | None = None
    """Gold evidence words (the embedded demo data annotates them)."""
    source: str = ""
    """`path:line` the example came from, for error messages downstream."""
    dev: bool = False
    """Read from a dev file (`DataSpec.dev_file`): a dev example, never trained on."""
    llm_answer: str | None = None
    """The large LM's answer after its rationale (DSS files), as one of the task's labels where
    it names one: the `dss` mode's label for an unlabeled-pool example."""
    pool: bool = False
    """An example of the unlabeled pool: `label`, `explanations` and `evidence` are blank, and
    a student learns a teacher's answer for it (`data.pool`)."""
