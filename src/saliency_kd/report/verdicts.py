"""From per-example outcomes to verdicts: the one place where numbers become words.

Per task: the regime (does the teacher lead the student's standard row on the same test
examples?), the pre-registered primary comparison (its paired hierarchical-bootstrap interval,
p and minimum detectable effect, McNemar per seed, the t-interval over seeds), and every other
comparison as exploratory, with Holm-adjusted p over all of the task's comparisons.

Every sentence that says a row is better or worse (`describe`, `verdict`) is written here, from
the interval it quotes: the report, `demo`'s printout, RESULTS.md and README's results lines
call these functions and never word a comparison themselves.
"""

from __future__ import annotations

from typing import Any

from ..stats import holm, mcnemar, paired_bootstrap, t_interval
from .curves import GOLD, POOL, RANDOM
from .outcomes import matrix, teacher_vector

ABOVE, BELOW, UNCLEAR = "above", "below", "unclear"
NOT_TESTABLE = "not testable here"


def side(d: dict) -> str:
    """Where an interval lies: wholly above zero, wholly below, or across it (or none)."""
    low, high = d.get("low"), d.get("high")
    if low is None or high is None:
        return UNCLEAR
    return ABOVE if low > 0 else BELOW if high < 0 else UNCLEAR


def pts(d: dict, kind: str = "95% CI") -> str:
    """`+1.2 pts (95% CI -0.5..+2.9)`; accuracies are fractions; `kind=""`: the interval
    unnamed, where the page has named it."""
    mean = f"{100 * d['mean']:+.1f} pts"
    if d.get("low") is None or d.get("high") is None:
        return f"{mean} (no interval)"
    named = f"{kind} " if kind else ""
    return f"{mean} ({named}{100 * d['low']:+.1f}..{100 * d['high']:+.1f})"


def describe(label: str, baseline: str, d: dict, kind: str = "95% CI") -> str:
    """One comparison in words that its interval supports: `beat` only above zero, `fell
    below` only below it, and otherwise that no difference was shown."""
    where = side(d)
    if where == ABOVE:
        return f"{label} beat {baseline}: {pts(d, kind)}"
    if where == BELOW:
        return f"{label} fell below {baseline}: {pts(d, kind)}"
    return f"{label} vs {baseline}: {pts(d, kind)}, no difference shown"


def regime_text(regime: dict, min_lead: float, terse: bool = False) -> str:
    """The teacher's lead over a row in words. `terse` (RESULTS' first screen, whose legend
    already says outcomes are paired and intervals are 95% CIs) says only the numbers."""
    base = regime.get("baseline", "standard")
    need, met = f"{100 * min_lead:.0f}", leads(regime, min_lead)
    said = f"teacher {100 * regime['teacher']:.1f}% vs {base} {100 * regime['standard']:.1f}%"
    if terse:
        return f"{said}: lead {pts(regime['lead'], kind='')}, " \
               f"{'enough' if met else 'too little'} ({need} needed)"
    return (f"{said} on the same test examples: lead {pts(regime['lead'])}"
            f" ({'at least' if met else 'short of'} the {need} points a test needs)")


def leads(regime: dict, min_lead: float) -> bool:
    """The teacher leads when its lead is at least `min_lead` and its interval is above 0."""
    return regime["lead"]["mean"] >= min_lead and side(regime["lead"]) == ABOVE


def verdict(primary: dict | None, regime: dict | None, min_lead: float) -> dict[str, str]:
    """A task's answer ("yes", "no", "no difference shown", "not testable here", or "no
    pre-registered comparison") and its sentence, from the primary comparison alone."""
    if primary is None:
        return {"answer": "no pre-registered comparison",
                "text": "no pre-registered comparison, so exploratory only"}
    label, base = primary["label"], primary["baseline"]
    if regime is None or not leads(regime, min_lead):
        why = regime_text(regime, min_lead) if regime else "no teacher outcomes"
        # the registered comparison is still stated, in numbers only
        record = f"; the registered comparison, {label} vs {base}: {pts(primary['diff'])}" \
            if primary.get("diff") else ""
        return {"answer": NOT_TESTABLE,
                "text": f"{NOT_TESTABLE}: the teacher does not lead ({why}){record}"}
    d, where = primary["diff"], side(primary["diff"])
    power = f"; this design detects {100 * d['mde']:.1f} pts 4 times in 5"
    if where == UNCLEAR:  # the answer says it; describe's own words would repeat it
        said = f"{label} vs {base}: {pts(d)}"
    else:
        said = describe(label, base, d)
    answer = {ABOVE: "yes", BELOW: "no"}.get(where, "no difference shown")
    return {"answer": answer, "text": f"{answer}: {said}, p={d['p']:.3g}{power}"}


def _compare(outcomes: dict, row: str, base: str, n: int) -> dict[str, Any] | None:
    seeds_a, a = matrix(outcomes, row, n)
    seeds_b, b = matrix(outcomes, base, n)
    common = sorted(set(seeds_a) & set(seeds_b))
    if not common:
        return None
    a = [a[seeds_a.index(s)] for s in common]
    b = [b[seeds_b.index(s)] for s in common]
    diff = paired_bootstrap(a, b).as_dict()
    per_seed = [sum(x) / len(x) - sum(y) / len(y) for x, y in zip(a, b)]
    return {"row": row, "baseline": base, "n_train": n, "label": f"{row} at n={n}",
            "seeds": common, "diff": diff, "seed_t": t_interval(per_seed),
            "mcnemar": [{"seed": s, **mcnemar(x, y)} for s, x, y in zip(common, a, b)]}


def _regime(outcomes: dict, n: int, base: str = "standard") -> dict[str, Any] | None:
    """The teacher's lead over row `base` (standard: the regime) on the same test examples."""
    _, std = matrix(outcomes, base, n)
    if not std:
        return None
    teacher = teacher_vector(outcomes)
    lead = paired_bootstrap([teacher], std).as_dict()
    return {"n_train": n, "teacher": sum(teacher) / len(teacher), "baseline": base,
            "standard": sum(map(sum, std)) / (len(std) * len(teacher)), "lead": lead}


def _pairs(rows: list[str], primary: dict | None = None) -> list[tuple[str, str]]:
    """Each row against standard; a rationale row on the teacher's or gold words also against
    the same channel on random words (the control for the extra loss); a row on top of the
    teacher's pool labels also against those labels alone; and the primary comparison."""
    out = [(r, "standard") for r in rows if r != "standard"]
    out += [(r, POOL) for r in rows if r.startswith(POOL + "+") and POOL in rows]
    if primary and (pair := (primary["row"], primary.get("baseline", "standard"))) not in out:
        out.append(pair)
    for r in rows:
        if "@" in r and not r.split("@", 1)[1].startswith(RANDOM):
            channel, rest = r.split("@", 1)
            control = f"{channel}@{RANDOM}" + ("+kd" if rest.endswith("+kd") else "")
            if control in rows:
                out.append((r, control))
    return out


def analyse(outcomes: dict) -> dict[str, Any]:
    """The verdicts of one study's outcomes (see the module docstring)."""
    p = outcomes.get("primary")
    min_lead = (p or {}).get("min_lead", 0.05)
    sizes = sorted({r["n_train"] for r in outcomes["runs"]})
    rows = list(dict.fromkeys(r["row"] for r in outcomes["runs"]))
    rows.sort(key=lambda r: (r != "standard", GOLD in r, RANDOM in r))
    regimes = [g for g in (_regime(outcomes, n) for n in sizes) if g]
    comparisons = [c for n in sizes for r, b in _pairs(rows, p)
                   if (c := _compare(outcomes, r, b, n))]
    for c, adj in zip(comparisons, holm([c["diff"]["p"] for c in comparisons])):
        c["p_holm"] = adj
        c["primary"] = bool(p) and (c["row"], c["baseline"], c["n_train"]) == (
            p["row"], p.get("baseline", "standard"), p["size"])
    primary = next((c for c in comparisons if c["primary"]), None)
    # The verdict asks whether the teacher leads the primary's own baseline (min_lead).
    base = (p or {}).get("baseline", "standard")
    regime = next((g for g in regimes if p and g["n_train"] == p["size"]), None) \
        if base == "standard" else (_regime(outcomes, p["size"], base) if p else None)
    if regime and base != "standard":
        regimes.append(regime)
    split, main = outcomes.get("split"), (outcomes.get("data") or {}).get("test_split", "test")
    other = bool(split and split != main)
    name = outcomes["name"] + (f", {split} split" if other else "")
    said = verdict(primary, regime, min_lead)
    if other and primary is not None:  # a second test set: the verdict is the main split's
        said = {"answer": "second test set", "text": f"the registered comparison on the {split} "
                f"split (the verdict is the {main} split's): " + describe(
                    primary["label"], primary["baseline"], primary["diff"])}
    return {"task": outcomes["task"], "name": name, "test_n": outcomes["test"]["n"],
            "primary_config": p, "regimes": regimes, "primary": primary,
            "primary_regime": regime,
            "pool_curve": pool_curve(outcomes, rows, sizes),
            "verdict": said, "comparisons": comparisons,
            "min_lead": min_lead}


def regime_warnings(analysis: dict) -> list[str]:
    """A plain warning per training size where the teacher does not lead the student's
    standard row by the lead a test needs (on the same test examples): distilling it there
    cannot show what its words carry."""
    need = analysis["min_lead"]
    return [f"warning: at n={g['n_train']} the teacher does not lead the standard student by "
            f"{100 * need:.0f} points ({100 * g['teacher']:.1f}% vs "
            f"{100 * g['standard']:.1f}%, lead {pts(g['lead'])}): what its words carry cannot "
            "be told apart here"
            for g in analysis["regimes"]
            if g.get("baseline", "standard") == "standard" and not leads(g, need)]


def pool_curve(outcomes: dict, rows: list[str], sizes: list[int]) -> list[dict[str, Any]]:
    """Accuracy against pool size: standard (no pool) and each `teacher-labels[N]` /
    `teacher-labels` row, with the pool it learned (runs' `pool_n`) and the teacher's lead
    over it on the same examples; empty where the study has no pool rows."""
    pooled = [r for r in rows if r == POOL or (r.startswith(POOL + "[") and r.endswith("]"))]
    out = []
    for n in sizes if pooled else []:
        for row in ["standard", *pooled]:
            g = _regime(outcomes, n, row)
            if g is None:
                continue
            pools = sorted(r.get("pool_n", 0) for r in outcomes["runs"]
                           if r["row"] == row and r["n_train"] == n)
            out.append({**g, "pool": pools[len(pools) // 2]})  # the median seed's pool
    return sorted(out, key=lambda g: (g["n_train"], g["pool"]))


def pool_curve_lines(analysis: dict) -> list[str]:
    """`accuracy against pool size at n=100: 0 38.1%, 1000 61.2% ...; teacher 73.6%`, each
    point with the teacher's lead over it."""
    lines = []
    for n in sorted({g["n_train"] for g in analysis.get("pool_curve", [])}):
        points = [g for g in analysis["pool_curve"] if g["n_train"] == n]
        said = "; ".join(f"{g['pool']} ({g['baseline']}) {100 * g['standard']:.1f}%, teacher "
                         f"ahead by {pts(g['lead'])}" for g in points)
        lines.append(f"accuracy against pool size at n={n}: {said}; teacher "
                     f"{100 * points[0]['teacher']:.1f}%")
    return lines


def exploratory_lines(analysis: dict) -> list[str]:
    """Every comparison but the primary one, each with its Holm-adjusted p."""
    return [describe(c["label"], c["baseline"], c["diff"]) + f", Holm p={c['p_holm']:.2g}"
            for c in analysis["comparisons"] if not c["primary"]]


def regime_lines(analysis: dict, at_primary: bool = False, terse: bool = False) -> list[str]:
    """The regime per training size, the primary size first (`at_primary`: that size only,
    or every size where there is no primary comparison); where the primary's baseline is
    not standard, the teacher's lead over it too (the lead its verdict asks for). `terse`:
    see `regime_text`."""
    p = analysis.get("primary_config") or {}
    regimes = sorted(analysis["regimes"], key=lambda g: g["n_train"] != p.get("size"))
    if at_primary and p:
        regimes = [g for g in regimes if g["n_train"] == p["size"]]
    return [f"regime at n={g['n_train']}: " + regime_text(g, analysis["min_lead"], terse)
            for g in regimes]


def verdict_short(analysis: dict, say_lead: bool = True) -> str:
    """The verdict in a line or two (README): the answer and the registered comparison's
    interval; where it is not testable, the lead that was missing instead of the whole regime
    (`say_lead=False`: not even that, for a page whose regime line is just above)."""
    p, v = analysis["primary"], analysis["verdict"]
    if p is None or v["answer"] != NOT_TESTABLE:
        return v["text"].split("; this design")[0]
    lead = analysis["primary_regime"]  # the regime the verdict asked of the primary's baseline
    short = (f" by {100 * lead['lead']['mean']:.1f} pts, {100 * analysis['min_lead']:.0f} needed"
             if lead else "")
    why = f" (teacher ahead of {p['baseline']}{short})" if say_lead else ""
    return f"{NOT_TESTABLE}{why}; {p['label']}: {pts(p['diff'])}"


def verdict_sentence(analysis: dict, most: int = 3) -> str:
    """The task's verdict as printed by `demo`/`run`, the report, RESULTS.md and README: the
    primary comparison's, or, with no primary comparison, the exploratory comparisons (the
    first `most`, with how many more)."""
    text = analysis["verdict"]["text"]
    if analysis["primary"] is None and analysis["comparisons"]:
        lines = exploratory_lines(analysis)
        more = f"; {len(lines) - most} more" if len(lines) > most else ""
        text += ": " + "; ".join(lines[:most]) + more
    return text
