"""Numbers the report shows: attribution quality against gold evidence and answers, agreement
between attribution methods, and seed-averaged student accuracy."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..artifact import read_jsonl_records as read_records  # noqa: F401  (re-exported)
from ..data import Example
from ..metrics import bootstrap_ci, explanation_f1
from ..words import is_punctuation, is_stopword


def _content(words: list[str]) -> set[str]:
    return {w.lower() for w in words if not is_stopword(w) and not is_punctuation(w)}


def answer_overlap(records: list[dict], examples: dict[str, Example]) -> dict[str, Any]:
    """Share of examples whose rationale contains part of the gold answer (the paper's 68%)."""
    hits = []
    for r in records:
        ex = examples.get(r["id"])
        if ex is None:
            continue
        gold = _content(ex.label.split())
        hits.append(bool(gold & {w.lower() for w in r["rationale"]}))
    mean, lo, hi = bootstrap_ci(hits)
    return {"share": mean, "ci95_low": lo, "ci95_high": hi, "n": len(hits)}


def plausibility(records: list[dict], examples: dict[str, Example]) -> dict[str, Any]:
    """Token F1 of the rationales against the human explanations (`explanation_f1`), over the
    examples that have explanations; the same score `evaluate` gives a student's rationales."""
    f1 = [explanation_f1(r["rationale"], examples[r["id"]].explanations)
          for r in records if examples.get(r["id"]) and examples[r["id"]].explanations]
    mean, lo, hi = bootstrap_ci(f1)
    return {"token_f1": mean, "ci95_low": lo, "ci95_high": hi, "n": len(f1)}


NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def operand_recall(records: list[dict], examples: dict[str, Example]) -> dict[str, Any]:
    """Math word problems: the share of the gold equation's operands (84.0 in "( 84.0 / 2.0 )")
    that are among the rationale's words (84): the numbers a solver has to look at."""
    recall, complete = [], []
    for r in records:
        ex = examples.get(r["id"])
        operands = {float(n) for n in NUMBER_RE.findall(ex.label)} if ex else set()
        if not operands:
            continue
        chosen = {float(n) for w in r["rationale"] for n in NUMBER_RE.findall(w)}
        hit = len(operands & chosen) / len(operands)
        recall.append(hit)
        complete.append(hit == 1.0)
    mean, lo, hi = bootstrap_ci(recall)
    return {"recall": mean, "ci95_low": lo, "ci95_high": hi, "n": len(recall),
            "all_operands": float(np.mean(complete)) if complete else float("nan")}


def evidence_precision(records: list[dict], examples: dict[str, Example]) -> dict[str, Any] | None:
    """Precision and recall of rationale words against annotated gold evidence words."""
    prec, rec = [], []
    for r in records:
        ex = examples.get(r["id"])
        if ex is None or not ex.evidence:
            continue
        gold = {w.lower() for w in ex.evidence}
        chosen = [w.lower() for w in r["rationale"]]
        if chosen:
            prec.append(sum(w in gold for w in chosen) / len(chosen))
        rec.append(len(gold & set(chosen)) / len(gold))
    if not prec:
        return None
    p, plo, phi = bootstrap_ci(prec)
    return {"precision": p, "precision_ci95": [plo, phi], "recall": float(np.mean(rec)),
            "n": len(prec)}


def _ranks(x: np.ndarray) -> np.ndarray:
    order = x.argsort(kind="stable")
    ranks = np.empty_like(order, dtype=float)
    ranks[order] = np.arange(len(x))
    return ranks


def method_agreement(by_method: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """Per pair of methods: mean Jaccard of rationales and mean Spearman of word scores."""
    names = list(by_method)
    index = {m: {r["id"]: r for r in recs} for m, recs in by_method.items()}
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            jac, rho = [], []
            for ex_id, ra in index[a].items():
                rb = index[b].get(ex_id)
                if rb is None:
                    continue
                sa, sb = set(ra["rationale_index"]), set(rb["rationale_index"])
                jac.append(len(sa & sb) / max(len(sa | sb), 1))
                xa = np.abs(np.array([s for _, s in ra["words"]], dtype=float))
                xb = np.abs(np.array([s for _, s in rb["words"]], dtype=float))
                if len(xa) > 2 and len(xa) == len(xb) and xa.std() > 0 and xb.std() > 0:
                    rho.append(float(np.corrcoef(_ranks(xa), _ranks(xb))[0, 1]))
            out.append({"a": a, "b": b, "jaccard": float(np.mean(jac)) if jac else None,
                        "spearman": float(np.mean(rho)) if rho else None, "n": len(jac)})
    return out


def seed_average(per_seed: list[list[bool]]) -> dict[str, Any]:
    """Mean accuracy over seeds with a bootstrap CI over examples of the seed-averaged score."""
    arr = np.array(per_seed, dtype=float)
    mean, lo, hi = bootstrap_ci(arr.mean(0).tolist())
    return {"accuracy": mean, "ci95_low": lo, "ci95_high": hi, "seeds": len(per_seed),
            "per_seed": [float(x) for x in arr.mean(1)], "n": arr.shape[1]}
