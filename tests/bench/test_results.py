"""bench/results.py merges a session's runs into the committed results instead of replacing
them: the runs directory does not outlive a session, the JSON files do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import load_bench

results = load_bench("results")
summary = load_bench("results_summary")  # after results, which puts bench/ on the path


def _seeds(**by_name):
    return {name: {s: {"accuracy": a, "train_minutes": 1.0} for s, a in accs.items()}
            for name, accs in by_name.items()}


def test_a_new_seed_joins_the_committed_ones_and_the_summary_is_recomputed():
    old = {"task": "svamp", "teacher_finetuned": {"accuracy": 0.3},
           "attribution": {"saliency": {"n": 800}, "random": {"n": 800}},
           "students": {},
           "generating_students": {"gemma": results.students_part(
               _seeds(standard={0: 0.40, 1: 0.30}, dss={0: 0.50}))}}
    new = {"task": "svamp", "teacher_finetuned": {"accuracy": 0.4},
           "attribution": {"saliency": {"n": 400}}, "students": {},
           "generating_students": {"gemma": _seeds(standard={1: 0.32, 2: 0.38},
                                                   rationale={0: 0.45})}}
    res = results.merge(old, new)
    assert res["teacher_finetuned"] == {"accuracy": 0.4}  # rerun: replaced
    assert res["attribution"] == {"saliency": {"n": 400}, "random": {"n": 800}}
    table = res["generating_students"]["gemma"]
    assert table["standard"]["seed_ids"] == [0, 1, 2]
    assert table["standard"]["seeds"] == [0.40, 0.32, 0.38]  # seed 1 rerun: replaced
    assert table["standard"]["mean"] == pytest.approx((0.40 + 0.32 + 0.38) / 3)
    assert table["dss"]["seeds"] == [0.50]  # not rerun: kept
    assert table["dss"]["ci95_low"] is None  # one seed: no interval, and no NaN in the JSON
    assert table["rationale"]["seeds"] == [0.45]  # new
    assert list(table) == ["standard", "rationale", "dss"]  # the paper's order


def test_merging_nothing_gives_back_the_committed_results():
    committed = Path(__file__).resolve().parents[2] / "docs" / "results" / "cqa.json"
    import json

    old = json.loads(committed.read_text())
    assert results.merge(old, {"task": "cqa"}) == old


def test_rationale_rows_are_paired_with_the_random_words_control():
    part = results.students_part(_seeds(
        standard={0: 0.42, 1: 0.40, 2: 0.42}, rationale={0: 0.33, 1: 0.33, 2: 0.305},
        **{"rationale-random": {0: 0.265, 1: 0.275, 2: 0.25}}))
    assert part["rationale"]["minus_random"]["seeds"] == pytest.approx([0.065, 0.055, 0.055])
    assert "minus_random" not in part["rationale-random"]
    assert "minus_random" not in part["standard"]


def test_rows_name_the_teacher_their_rationales_came_from():
    """A teacher re-made in a later session is not bit-identical: a seed trained on its
    rationales says so, while committed seeds from before keep no tag."""
    old = {"task": "cqa", "students": results.students_part(
        _seeds(standard={0: 0.40}, rationale={0: 0.34, 1: 0.30}))}
    new = {"task": "cqa", "teacher_finetune": {"made": "2026-11-23 11:05"}, "students": {
        "rationale": {2: {"accuracy": 0.33, "train_minutes": 1.0, "teacher": "2026-11-23 11:05"}},
        "standard": {2: {"accuracy": 0.41, "train_minutes": 1.0, "teacher": None}}}}
    res = results.merge(old, new)
    assert res["students"]["rationale"]["teachers"] == [None, None, "2026-11-23 11:05"]
    assert "teachers" not in res["students"]["standard"]
    note = " ".join(results.teacher_note(res["students"]))
    assert "rationale: seeds 0, 1 an earlier teacher; seed 2 the teacher made 2026-11-23" in note
    # a table whose rationale rows all come from one recorded teacher says it once
    one = results.students_part({"kd": {0: {"accuracy": 0.3, "train_minutes": 1.0,
                                             "teacher": "2026-11-23 11:05"}}})
    assert results.teacher_note(one)[-1].startswith("Every rationale and KD row here comes")
    assert results.teacher_note(old["students"]) == []  # nothing recorded: nothing said
    assert results.uses_teacher("rationale-random") and results.uses_teacher("kd")
    assert not results.uses_teacher("dss")


def test_the_json_has_no_nan():
    assert results.no_nan({"a": [float("nan"), 1.0], "b": {"c": float("nan")}}) == {
        "a": [None, 1.0], "b": {"c": None}}


def test_integrated_gradients_completeness_is_summarised_and_rendered():
    w = {"words": [["a", -1.0], ["b", 0.5]], "rationale_index": [0, 1]}
    recs = [{"ig_delta": 0.1, "ig_gap": -1.0, **w}, {"ig_delta": 0.5, "ig_gap": 2.0, **w},
            {"ig_delta": 0.0, "ig_gap": 0.0, **w}, {"rationale": ["x"]}]
    c = results.ig_completeness(recs)
    assert c["n"] == 3 and c["median_relative_error"] == pytest.approx(0.175)
    assert c["median_gap"] == 1.0 and c["negative_share"] == 0.5
    res = {"task": "esnli", "students": {}, "attribution": {"integrated_gradients": {
        "n": 3, "mean_length": 5.0, "teacher_train_accuracy": 0.5, "ig_completeness": c,
        "plausibility": {"n": 0}}}}
    text = "\n".join(results.render_task(res))
    assert "Completeness of `integrated_gradients`" in text and "18% of it (n=3)" in text
    assert "50% of its rationale words have a negative score" in text


def test_a_run_resumed_later_counts_only_the_time_it_ran():
    # two minutes of steps, stopped for an hour, resumed for one more minute
    times = [0.0, 60.0, 120.0, 3720.0, 3750.0, 3780.0]
    assert results.busy_minutes(times) == pytest.approx(3.0)


def test_a_teacher_made_anew_keeps_the_old_ones_figures():
    ft = lambda made, steps: {"made": made, "steps": steps, "examples_seen": 16 * steps,  # noqa: E731
                              "minutes": 1.0, "dev_curve": [[0, 0.3], [steps, 0.6]], "dev_n": 150}
    old = {"task": "esnli", "teacher_finetuned": {"accuracy": 0.54, "ci95_low": 0.5,
                                                  "ci95_high": 0.58, "n": 600},
           "teacher_finetune": ft("2026-11-23 15:28", 64), "students": {}}
    new = {"task": "esnli", "teacher_finetuned": {"accuracy": 0.81, "ci95_low": 0.78,
                                                  "ci95_high": 0.84, "n": 600},
           "teacher_finetune": ft("2026-12-01 06:42", 271), "students": {}}
    res = results.merge(old, new)
    assert res["teacher_finetuned"]["accuracy"] == 0.81
    [earlier] = res["earlier_teachers"]
    assert earlier["made"] == "2026-11-23 15:28" and earlier["test"]["accuracy"] == 0.54
    assert results.merge(res, new)["earlier_teachers"] == [earlier]  # same teacher: no new entry
    assert results.merge(res, {"task": "esnli"})["earlier_teachers"] == [earlier]
    text = "\n".join(results.render_task(res))
    assert "made 2026-11-23 15:28 UTC" in text and "64 steps, 54.0% on test" in text


def test_a_file_measured_on_another_teacher_keeps_the_old_row():
    row = lambda t, c: {"aopc_comprehensiveness": {"mean": c}, "teacher": t}  # noqa: E731
    old = {"task": "esnli", "students": {}, "faithfulness": {"bins": [], "split": "train",
           "by_file": {"saliency": row("2026-11-23 15:28", 0.045)}}}
    new = {"task": "esnli", "students": {}, "faithfulness": {"bins": [], "split": "train",
           "by_file": {"saliency": row("2026-12-01 06:42", 0.362)}}}
    res = results.merge(old, new)["faithfulness"]["by_file"]
    assert res["saliency"]["teacher"] == "2026-12-01 06:42"
    assert res["saliency (2026-11-23 15:28 teacher)"]["aopc_comprehensiveness"]["mean"] == 0.045
    again = results.merge(results.merge(old, new), new)["faithfulness"]["by_file"]
    assert again == res


def test_a_rationale_file_made_on_another_teacher_keeps_the_old_row():
    """The rationales table too: a file re-made on a new teacher (e.g. only its first 100
    examples so far) does not erase the old teacher's 800-example row that students used."""
    row = lambda t, n: {"n": n, "teacher": t, "mean_length": 5.0,  # noqa: E731
                        "teacher_train_accuracy": 0.5,
                        "plausibility": {"token_f1": 0.3, "ci95_low": 0.2, "ci95_high": 0.4,
                                         "n": n}}
    old = {"task": "esnli", "students": {},
           "attribution": {"attention": row("2026-11-23 15:28", 800)}}
    new = {"task": "esnli", "students": {},
           "attribution": {"attention": row("2026-12-01 06:42", 100)}}
    res = results.merge(old, new)
    assert res["attribution"]["attention"]["n"] == 100
    assert res["attribution"]["attention (2026-11-23 15:28 teacher)"]["n"] == 800
    assert results.merge(res, new)["attribution"] == res["attribution"]  # idempotent
    text = "\n".join(results.render_task(res))
    assert "| attention (2026-11-23 15:28 teacher) | 5.0 |" in text


def test_an_old_teachers_row_with_the_same_figures_is_folded_into_the_new_one():
    row = lambda teacher, f1: {"n": 800, "mean_length": 5.0, "teacher": teacher,  # noqa: E731
                               "teacher_train_accuracy": 0.59,
                               "plausibility": {"token_f1": f1, "ci95_low": f1, "ci95_high": f1,
                                                "n": 800}}
    old = {"saliency": row("2026-11-23 11:07", 0.14), "attention": row("2026-11-23 11:07", 0.12)}
    new = {"saliency": row("2026-12-01 16:11", 0.14), "attention": row("2026-12-01 16:11", 0.13)}
    got = results.with_replaced(old, new)
    # same figures: one row, naming both teachers; different figures: both rows stay
    assert "saliency (2026-11-23 11:07 teacher)" not in got
    assert got["saliency"]["same_figures_teachers"] == ["2026-11-23 11:07"]
    assert got["attention (2026-11-23 11:07 teacher)"]["plausibility"]["token_f1"] == 0.12
    assert "same_figures_teachers" not in got["attention"]
    assert results.with_replaced(got, new) == got  # merging again changes nothing
    res = {"task": "cqa", "students": {}, "attribution": got}
    text = "\n".join(results.render_task(res))
    assert "2026-12-01 16:11 (the 2026-11-23 11:07 teacher's file has the same figures)" in text
    # a third teacher with the same figures: both earlier ones are named, in one phrase
    third = results.with_replaced(got, {"saliency": row("2026-12-01 23:46", 0.14)})
    assert third["saliency"]["same_figures_teachers"] == ["2026-11-23 11:07", "2026-12-01 16:11"]
    text = "\n".join(results.render_task({**res, "attribution": third}))
    assert ("2026-12-01 23:46 (the 2026-11-23 11:07 and 2026-12-01 16:11 teachers' files have "
            "the same figures)") in text


def test_a_runs_own_interval_labels_and_dev_curve_are_kept_per_seed(tmp_path):
    """The notes quote a run's own test interval, the labels it predicted and its dev accuracy:
    those come from the run directory into the JSON, beside committed seeds that kept none."""
    import json

    run = tmp_path / "evaluate-2"
    run.mkdir(parents=True)
    per_class = {"contradiction": {"gold": 70, "correct": 0},
                 "entailment": {"gold": 66, "correct": 50, "predicted": 131},
                 "neutral": {"gold": 64, "correct": 21, "predicted": 69}}
    (run / "metrics.json").write_text(json.dumps(
        {"accuracy": 0.355, "ci95_low": 0.29, "ci95_high": 0.425, "n": 200,
         "per_class": per_class}))
    (tmp_path / "train-kd-s2").mkdir()
    (tmp_path / "train-kd-s2" / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"step": 45, "loss": 1.0, "seconds": 600.0, "dev_accuracy": 0.388},
        {"step": 90, "loss": 0.9, "seconds": 1200.0, "dev_accuracy": 0.35})))
    new = {"task": "anli1", "students": {},
           "generating_students": {"gemma-3-270m": results.student_seeds(
               tmp_path, [{"mode": "kd", "source": "saliency", "runs": [
                   {"seed": 2, "train_dir": "train-kd-s2", "eval_dir": "evaluate-2"}]}],
               "saliency", True, "2026-12-02 00:10")}}
    old = {"task": "anli1", "students": {}, "generating_students": {"gemma-3-270m":
           results.students_part(_seeds(kd={0: 0.405, 1: 0.355}))}}
    res = results.merge(old, new)
    row = res["generating_students"]["gemma-3-270m"]["kd"]
    assert row["seed_ids"] == [0, 1, 2]
    first, second, third = row["seed_details"]
    assert first is None and second is None  # committed before details were kept
    assert third == {"test": {"ci95_low": 0.29, "ci95_high": 0.425, "n": 200},
                     "per_class": per_class, "dev_curve": [[45, 0.388], [90, 0.35]]}
    assert results.merge(res, {"task": "anli1"}) == res  # round-trips through the JSON
    text = "\n".join(results.render_task(res))
    assert ("| kd | 2 | 29.0% – 42.5% | 200 | entailment 131, neutral 69 | "
            "step 45: 38.8%, step 90: 35.0% |") in text
    assert "| kd | 0 |" not in text


def test_the_cut_teachers_whole_schedule_is_reported_beside_it(tmp_path):
    """`teacher_eval.full_schedule` fine-tunes a cut teacher over its whole schedule to measure
    what the cut cost; its figures join the teacher's table and the dev table, and a later merge
    without the run keeps them. Until its test evaluation is written nothing is reported."""
    import json

    full = tmp_path / "teacher-full"
    (full / "model").mkdir(parents=True)
    t0 = 1796181400.0
    (full / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"step": 0, "dev_accuracy": 0.2, "dev_n": 150, "time": t0},
        {"step": 1, "loss": 6.3, "time": t0 + 60},
        {"step": 2, "loss": 2.9, "time": t0 + 120, "dev_accuracy": 0.41, "dev_n": 150})))
    index = {"teacher_finetune_full": "teacher-full", "teacher_evals": {
        "full": "teacher-eval-full.json", "full-dev": "teacher-eval-full-dev100.json"}}
    assert "teacher_full" not in results.teacher_part(tmp_path, index)  # not evaluated yet

    def metrics(acc: float, n: int) -> str:
        return json.dumps({"metrics": {"accuracy": acc, "ci95_low": acc - 0.04,
                                       "ci95_high": acc + 0.04, "n": n, "per_class": {}}})
    (tmp_path / "teacher-eval-full.json").write_text(metrics(0.42, 600))
    (tmp_path / "teacher-eval-full-dev100.json").write_text(metrics(0.45, 100))
    part = results.teacher_part(tmp_path, index)
    assert "teacher_finetune" not in part  # the cut teacher's own run is not in this directory
    got = part["teacher_full"]
    assert got["steps"] == 2 and got["minutes"] == pytest.approx(2.0)
    assert got["dev_curve"] == [[0, 0.2], [2, 0.41]]
    assert got["test"]["accuracy"] == 0.42 and got["dev100"]["n"] == 100

    old = {"task": "cqa", "teacher_finetuned": {"accuracy": 0.37, "ci95_low": 0.33,
                                                "ci95_high": 0.41, "n": 600},
           "generating_student_choice": {"teacher (fine-tuned)": {"best_dev_accuracy": 0.39,
                                                                  "dev_n": 100}},
           "students": {}}
    res = results.merge(old, {"task": "cqa", **part})
    assert res["teacher_finetuned"] == old["teacher_finetuned"]  # the cut teacher stays
    assert results.merge(res, {"task": "cqa"}) == res  # kept when the runs are gone
    text = "\n".join(results.render_task(res))
    assert ("| Gemma-3-270M, fine-tuned over the whole schedule (measured only) | 42.0% | "
            "38.0% – 46.0% | 600 |") in text
    assert "| teacher, whole schedule (measured only) | 45.0% | 100 |" in text
    assert "`teacher_eval.full_schedule`" in text and "2 steps (2 min)" in text
    assert "step 0: 20.0%, step 2: 41.0%" in text


DOCS = Path(__file__).resolve().parents[2] / "docs"


def _committed(task: str) -> dict:
    import json

    return json.loads((DOCS / "results" / f"{task}.json").read_text())


def test_the_summary_names_every_task_with_a_verdict_from_the_committed_differences(tmp_path):
    res = [_committed(t) for t in ("cqa", "esnli", "anli1", "svamp")]
    lines = summary.render_summary(res, tmp_path)  # no curves.json there: no curves part
    text = "\n".join(lines)
    assert lines[0] == "## Summary" and "Learning curves" not in text
    for title in ("CommonsenseQA", "e-SNLI", "ANLI-r1", "SVAMP"):
        assert f"**{title}**" in lines
    assert sum(line.startswith("Exploratory: ") for line in lines) == 4
    assert all(len(line) < 120 for line in lines if not line.startswith("|"))
    # the cells are the detailed tables' own paired differences, rendered the same way
    row = res[0]["students"]["rationale-attention"]
    assert f"| tag@attention | 28.0% | {summary._diff(row['minus_standard'])} |" in text
    # the encoder's control and the generating student's are rows of their own channel
    assert "| tag@random | 27.1% | -0.4 pts (-3.0 – +2.2) |  |  |" in text
    assert "| generate@random |  |  | 28.8% | -7.4 pts " in text


def test_the_summary_verdict_names_a_row_above_standard_and_its_random_control():
    res = {"task": "cqa", "generating_students": {}, "students": results.students_part(_seeds(
        standard={0: 0.40, 1: 0.41, 2: 0.42}, **{"rationale-saliency": {0: 0.45, 1: 0.47, 2: 0.46},
                                                 "rationale-random": {0: 0.41, 1: 0.41, 2: 0.41}}))}
    assert summary.summary_verdict(res) == (
        "MiniLM-L2 tag@saliency beat standard: +5.0 pts (seed CI +2.5..+7.5); 1 of 2 rows "
        "show no difference from standard")
    # two seeds: the tables show no interval (t with one degree of freedom), nor does the text
    two = {"task": "cqa", "students": results.students_part(_seeds(
        standard={0: 0.40, 1: 0.41}, kd={0: 0.45, 1: 0.46}))}
    assert summary.summary_verdict(two) == "1 of 1 rows show no difference from standard"
    assert "| kd | 45.5% | +5.0 pts (two seeds) |" in summary.summary_table(two)


def test_the_summary_gets_learning_curves_when_curves_json_is_there(tmp_path):
    import json

    def rec(mode, seed, acc, n, source=None):
        return {"task": "esnli", "n_train": n, "student": "minilm", "mode": mode,
                "channel": "tag" if source else None, "source": source, "seed": seed,
                "accuracy": acc, "n_test": 600}

    records = [rec("standard", s, 0.40 + 0.02 * s + (n > 100) * 0.1, n) for s in (0, 1)
               for n in (100, 1000)]
    records += [rec("rationale", s, 0.43 + 0.02 * s, 100, "saliency") for s in (0, 1)]
    records += [rec("rationale", 0, 0.38, 100, "random")]
    (tmp_path / "curves.json").write_text(json.dumps(records))
    lines = summary.render_summary([_committed("esnli")], tmp_path)
    text = "\n".join(lines)
    assert "### Learning curves" in lines and "| row | n=100 | n=1000 |" in text
    # tag@saliency at n=100: 43.0% and 45.0% against 40.0% and 42.0%: +3.0 on both seeds
    assert "| tag@saliency | 44.0%, +3.0±0.0 |  |" in text
    assert "| tag@random | 38.0%, -2.0 |  |" in text  # one seed: no interval
    assert ("Exploratory: tag@saliency at n=100 beat standard: +3.0 pts (seed CI +3.0..+3.0)"
            in " ".join(lines))  # wrapped prose
    assert "![e-SNLI learning curves](results/esnli_curves.png)" in lines
    png = tmp_path / "esnli_curves.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_results_md_opens_with_the_summary():
    lines = (DOCS / "RESULTS.md").read_text().splitlines()
    assert lines[0] == "# Results" and lines[2] == "## Summary"
    assert lines[4] == "### Studies with per-example outcomes"
    versions = next(i for i, line in enumerate(lines) if line.startswith("Versions: torch"))
    # where the figures come from: below the summary's tables, above the versions
    source = next(i for i, line in enumerate(lines) if line.startswith("Everything here comes"))
    assert max(i for i, line in enumerate(lines[:versions]) if line.startswith("| ")) < source
    assert lines.index("## Per task") == versions + 2  # provenance below the summary
    assert "- [CommonsenseQA](results/cqa.md): " in " ".join(lines)
    cqa = (DOCS / "results" / "cqa.md").read_text().splitlines()
    assert cqa[0] == "# Results: CommonsenseQA" and "## CommonsenseQA" in cqa
    assert (DOCS / "results" / "NOTES.md").read_text().startswith("# Results: notes")


TASKS = ("cqa", "svamp", "anli1", "esnli")  # the paper's four


def _copy_results(tmp_path: Path) -> Path:
    """The committed JSON in a scratch results directory (rendering writes plots beside it)."""
    out = tmp_path / "results"
    out.mkdir()
    for f in (DOCS / "results").glob("*.json"):
        (out / f.name).write_text(f.read_text())
    (out / "outcomes").mkdir()
    for f in (DOCS / "results" / "outcomes").glob("*.json.gz"):
        (out / "outcomes" / f.name).write_bytes(f.read_bytes())
    return out


def test_the_first_screen_gives_the_protocol_then_every_earlier_task_then_the_table():
    """A reader sees at once, with the row-name legend, each study that has per-example outcomes:
    its regime and its verdict (or that it registered none), and which studies are registered and
    not yet run; then each earlier task's rows, worded without a verdict (none was registered),
    then the table of every row."""
    page = (DOCS / "RESULTS.md").read_text().splitlines()
    first = page[:50]
    assert "### Studies with per-example outcomes" in first
    assert "Row names:" in " ".join(first)
    studies = [i for i, x in enumerate(page) if x.startswith("**") and "test examples)" in x]
    assert studies and all(i < 50 for i in studies)
    assert sum(x.startswith("- regime at n=") for x in first) == len(studies)
    assert sum(x.startswith("- verdict: ") for x in first) == len(studies)
    earlier = []
    for title in ("CommonsenseQA", "SVAMP", "ANLI-r1", "e-SNLI", "Demo (learning curve)"):
        [i] = [i for i, x in enumerate(page) if x.startswith(f"- **{title}:** ")]
        assert not re.search(r"\b(yes|no)\.", page[i]), page[i]
        earlier.append(i)
    table = page.index("| task | student | mode | accuracy | vs standard, pts (95% CI) | seed CI |")
    assert max(studies) < min(earlier) and max(earlier) < table < page.index("### Learning curves")
    assert not any("UTC" in x or "teacher made" in x for x in page[:table])  # provenance: below
    assert all(len(x) <= 100 for x in page[:table] if not x.startswith("|"))


def _pages() -> dict[str, str]:
    return {"RESULTS.md": (DOCS / "RESULTS.md").read_text(),
            **{f"results/{f.name}": f.read_text() for f in (DOCS / "results").glob("*.md")}}


def test_no_page_names_a_row_the_old_way():
    """Every page names rows as the studies do (`tag@saliency`, `generate@saliency`,
    `dss:generate`), never by the committed JSON's keys (`rationale-saliency`, a bare
    `rationale` or `dss` row)."""
    for name, text in _pages().items():
        for i, line in enumerate(text.splitlines(), 1):
            assert not re.search(r"\brationale-[a-z]", line), f"{name}:{i}: {line}"
            cells = [c.strip() for c in line.split("|")[1:-1]] if line.startswith("|") else []
            assert not {"rationale", "rationale+kd", "dss", "dss+kd"} & set(cells), \
                f"{name}:{i}: {line}"


def test_the_legend_on_the_first_screen_defines_every_row_name_of_the_pages():
    page = (DOCS / "RESULTS.md").read_text().splitlines()
    start = next(i for i, x in enumerate(page[:50]) if "Row names" in x)
    end = page.index("", start)
    legend = " ".join(page[start - 3:end])
    legend = legend[legend.index("Row names"):]
    defined = set(re.findall(r"`([^`]+)`", legend))
    assert {"standard", "kd", "channel@source", "+kd", "dss:channel"} <= defined
    used = set()
    for text in _pages().values():
        for channel, source in re.findall(r"\b([a-z_]+)@([a-z0-9_-]+)", text):
            used |= {channel, re.sub(r"-k\d+$", "-kN", source)}
        used |= set(re.findall(r"\bdss:([a-z_]+)", text))
    assert used - {"channel", "source", "method"} <= defined, used - defined


def test_a_json_row_key_is_shown_under_the_studies_name():
    render = load_bench("results_render")
    assert render.shown_name("rationale-saliency", "tag", "saliency") == "tag@saliency"
    assert render.shown_name("rationale-saliency-k3", "tag", "saliency") == "tag@saliency-k3"
    assert render.shown_name("rationale", "generate", "saliency") == "generate@saliency"
    assert render.shown_name("rationale-random+kd", "tag", "saliency") == "tag@random+kd"
    assert render.shown_name("rationale+kd", "generate", "saliency") == "generate@saliency+kd"
    assert render.shown_name("dss", "generate", "saliency") == "dss:generate"
    assert [render.shown_name(k, "tag", "saliency") for k in ("standard", "kd", "setfit")] == [
        "standard", "kd", "setfit"]
    # the committed rows: the encoder's through the tag channel its reproduce config pins
    assert render.trained_through("cqa") == {"main": "saliency", "channels": {
        "students": "tag", "gemma-3-270m": "generate"}}
    assert results.uses_teacher("tag@saliency") and not results.uses_teacher("dss:tag")


def test_runs_through_another_channel_than_the_committed_rows_stop_the_merge():
    from saliency_kd.errors import OutputError

    old = {"task": "cqa", "students": results.students_part(_seeds(standard={0: 0.4}))}
    new = {"task": "cqa", "trained_through": {"main": "saliency",
                                              "channels": {"students": "attention"}}}
    with pytest.raises(OutputError, match="trained through attention, the committed ones "
                                          "through tag"):
        results.merge(old, new)
    new["trained_through"]["channels"]["students"] = "tag"
    assert results.merge(old, new)["trained_through"]["channels"] == {
        "students": "tag", "gemma-3-270m": "generate"}


def test_results_md_is_what_the_committed_json_renders(tmp_path):
    """No hand edit survives a re-render, and every number on the page comes from the JSON."""
    page = results.render_page([_committed(t) for t in TASKS], _copy_results(tmp_path))
    assert "\n".join(page) + "\n" == (DOCS / "RESULTS.md").read_text()
    for name, lines in results.render_task_pages([_committed(t) for t in TASKS]).items():
        assert "\n".join(lines) + "\n" == (DOCS / "results" / name).read_text(), name
        page += lines
    prose = [x for x in page if not x.startswith("|")]
    assert all(len(x) <= 100 for x in prose), max(prose, key=len)


def test_readme_results_block_is_generated_and_idempotent(tmp_path):
    readme = (DOCS.parent / "README.md").read_text()
    block = results.readme_block([_committed(t) for t in TASKS], _copy_results(tmp_path))
    assert block[0] == results.BEGIN and block[-1] == results.END
    assert results.rewrite_block(readme, block) == readme  # committed = generated
    assert results.rewrite_block(results.rewrite_block(readme, block), block) == readme
    # a bullet per pre-registered study (run or not), then the speed; the words before the
    # block say the earlier results are exploratory
    bullets = [x for x in block if x.startswith("- ")]
    assert any(x.startswith("- **e-SNLI**") for x in bullets)  # a study with outcomes
    assert any(x.startswith("- Registered, not yet run (") for x in bullets)
    # studies without a verdict share one bullet, each with the lead it lacked
    (untested,) = [i for i, x in enumerate(block) if x.startswith("- Not testable here (")]
    said = " ".join(" ".join(block[untested:untested + 3]).split())
    assert "`study-esnli-distill` (2.6 of 3 pts over teacher-labels)" in said
    assert not any("study-esnli-distill`)" in x for x in block)  # no bullet of its own
    assert bullets[-1].startswith("- Benchmarks") and len(block) <= 14
    before = " ".join(readme[:readme.index(results.BEGIN)].split("## Results")[1].split())
    assert "every earlier row (the demo's own run, the paper tasks, the curves: exploratory, " \
           "no verdict)" in before
    with pytest.raises(SystemExit, match="README.md: no results block"):
        results.rewrite_block("# no block\n", block)


def _group(*rows):
    return {"title": "T", "rows": [
        {"label": label, "kind": kind, "diff": diff and {"mean": diff[0], "ci95_low": diff[1],
                                                           "ci95_high": diff[2], "seeds": [0] * 3},
         "random": rnd and {"mean": rnd[0], "ci95_low": rnd[1], "ci95_high": rnd[2],
                            "seeds": [0] * 3}}
        for label, kind, diff, rnd in rows]}


def test_a_task_line_words_its_rows_from_their_seed_intervals():
    std = ("s standard", "standard", None, None)
    line = summary.group_verdict(_group(std, ("s r@a", "rationale", (.3, .1, .5), (.2, .1, .3)),
                                        ("s r@b", "rationale", (.1, -.1, .3), None),
                                        ("s kd", "other", (-.1, -.2, -.05), None)))
    assert line == ("**T:** s r@a beat standard: +30.0 pts (seed CI +10.0..+50.0); s kd fell "
                    "below standard: -10.0 pts (seed CI -20.0..-5.0); 1 of 3 rows show no "
                    "difference from standard.")
    assert not re.search(r"\b(yes|limit)\b|\bno\.", line)
    group = _group(std, ("s kd", "other", (.1, -.1, .3), None))
    group["regime"] = "Teacher 40.0%, standard s 30.0%"
    assert summary.group_verdict(group) == ("**T:** Teacher 40.0%, standard s 30.0%. 1 of 1 rows "
                                            "show no difference from standard.")
    assert summary.group_verdict(_group(std)).startswith("**T:** not measured")


def test_the_overview_table_names_a_task_and_student_once():
    groups = summary.verdict_groups([_committed("svamp")], [])  # no learning curves
    lines = summary.overview_table(groups)
    assert lines[2] == "| SVAMP | gemma-3-270m | standard | 41.3% |  |  |"
    assert lines[3] == "|  |  | generate@saliency | 32.2% | -9.2 (-14.8..-3.6) | below |"


def test_long_prose_is_wrapped_and_tables_and_code_are_not():
    item = "- " + "word " * 40
    table = "| " + "cell | " * 30
    code = ["```", "x " * 80, "```"]
    out = results.wrap_long([item, table, *code, "  " + "y " * 60])
    assert all(len(x) <= 100 for x in out if x not in (table, code[1]))
    assert out[0].startswith("- word") and out[1].startswith("  word") and table in out
    assert code[1] in out and out[-1].startswith("  y")


def test_curves_merge_replaces_the_same_run_and_keeps_the_others():
    curves = load_bench("curves")

    def rec(seed, acc, source=None, n=50):
        return {"task": "demo", "n_train": n, "student": "minilm-l6", "mode": "rationale"
                if source else "standard", "channel": "attention" if source else None,
                "source": source, "seed": seed, "accuracy": acc, "n_test": 200}

    committed = [rec(0, 0.3), rec(1, 0.4), rec(0, 0.5, "saliency")]
    merged = curves.merge(committed, [{**rec(1, 0.45), "extra": 1}, rec(0, 0.6, "random", 100)])
    assert len(merged) == 4
    assert [r["accuracy"] for r in merged if r["mode"] == "standard"] == [0.3, 0.45]
    assert all("extra" not in r for r in merged)
    assert {r["source"] for r in merged} == {None, "saliency", "random"}


def test_curves_dev_records_name_each_training_runs_source(tmp_path):
    curves = load_bench("curves")
    assert curves.source_of("attribute-saliency-5fb8a62e12") == "saliency"
    assert curves.source_of("control-gold-evidence-01ce487779") == "gold-evidence"
    assert curves.source_of(None) is None
    stage = tmp_path / "train-rationale-attention-n50-s0-abc"
    (stage / "model").mkdir(parents=True)
    (stage / "stage.json").write_text(json.dumps({"config": {
        "mode": "rationale", "channel": "attention", "seed": 0, "lr": 2e-4, "alpha": 0.75,
        "teacher_file": "control-random-fe6c1fc0ed"}}))
    (stage / "train_summary.json").write_text(json.dumps(
        {"train_n": 50, "best_dev_accuracy": 0.25, "dev_n": 60}))
    (stage / "model" / "student.json").write_text(json.dumps({"channel": "attention"}))
    [rec] = curves.dev_records(tmp_path, "demo", "minilm-l6")
    assert (rec["n_train"], rec["source"], rec["lr"], rec["alpha"], rec["dev_accuracy"]) == (
        50, "random", 2e-4, 0.75, 0.25)
    # a study stopped before its first test evaluation: its config names task and student
    (tmp_path / "config.json").write_text(json.dumps(
        {"data": {"task": "demo"}, "students": [{"name": "a", "student": "minilm-l6"}]}))
    assert curves.read_run(tmp_path) == ([], [rec])
    assert not (tmp_path / "curves.json").exists()


def test_a_reproduction_run_fills_every_table_of_its_task(reproduce_run):
    """bench/results.py reads a `run` of a configs/reproduce config through its stages.json:
    the teacher's figures, every rationale source, the faithfulness table, the encoder group's
    rows, the other groups as generating students, and the dev-only choice."""
    root, raw, _ = reproduce_run
    res = results.task_results(root, "cqa")
    assert res["teacher_finetuned"]["n"] == 12 and res["teacher_zeroshot"]["n"] == 12
    assert res["teacher_finetune"]["steps"] == 1
    assert res["teacher_full"]["steps"] == 3 and res["teacher_full"]["dev100"]["n"] == 6
    assert set(res["attribution"]) == {"saliency", "random", "saliency-k2", "saliency-value"}
    assert res["attribution"]["saliency-value"]["n"] == 10
    assert set(res["faithfulness"]["by_file"]) == {"saliency", "random", "saliency-value"}
    assert {name: sorted(seeds) for name, seeds in res["students"].items()} == {
        "standard": [0, 1], "rationale-saliency": [0, 1], "rationale-saliency-k2": [0, 1]}
    assert res["students"]["rationale-saliency"][0]["teacher"] == res["teacher_finetune"]["made"]
    other = str(raw["students"][1]["student"])
    assert list(res["generating_students"]) == [other]
    assert list(res["generating_students"][other]) == ["standard"]
    choice = res["generating_student_choice"]
    chooser = str(raw["students"][2]["student"])  # the dev-only group
    assert set(choice) == {"teacher (fine-tuned)", f"{chooser}-lr2e-3", f"{other} (standard, s0)"}
    assert choice["teacher (fine-tuned)"]["dev_n"] == 6
    merged = results.merge({"task": "cqa"}, res)  # what update_task writes
    assert merged["students"]["standard"]["seed_ids"] == [0, 1]
    # the run's encoder group pins no channel: its rows trained through the default, attention
    assert merged["trained_through"] == {"main": "saliency", "channels": {"students": "attention"}}
    text = "\n".join(results.render_task(results.no_nan(merged)))
    assert "| attention@saliency-k2 |" in text and "whole schedule" in text
    assert "rationale-saliency" not in text


def test_a_results_page_the_script_did_not_write_is_left_alone(tmp_path, monkeypatch, capsys):
    from saliency_kd.cli import exit_code

    page = tmp_path / "RESULTS.md"
    page.write_text("# My own results\n")
    monkeypatch.setattr("sys.argv", ["results.py", "--out", str(tmp_path), "--readme", ""])
    assert exit_code(results.main) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {page}: not written by bench/results.py")
    assert page.read_text() == "# My own results\n"
    assert not (tmp_path / "results").exists()  # refused before anything was written
    # the page as rendered ends with the mark that lets the next render replace it
    assert (DOCS / "RESULTS.md").read_text().splitlines()[-1] == results.PAGE_MARK
    results.check_page_is_ours(DOCS / "RESULTS.md")


def test_a_damaged_curves_file_stops_the_merge_with_both_files_intact(tmp_path, monkeypatch,
                                                                     capsys):
    from saliency_kd.cli import exit_code

    curves = load_bench("curves")
    out, dev = tmp_path / "curves.json", tmp_path / "curves_dev.json"
    out.write_text("[]\n")
    dev.write_text('[{"stage": "train-a"},\n {"stage": }]\n')
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(
        {"data": {"task": "demo"}, "students": {"student": "minilm-l6"}}))
    monkeypatch.setattr("sys.argv", ["curves.py", str(tmp_path / "run"), "--out", str(out)])
    assert exit_code(curves.main) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {dev}:2: invalid JSON at column 12 (Expecting value)"]
    assert out.read_text() == "[]\n" and dev.read_text().startswith('[{"stage": "train-a"}')
    out.write_text('[{"task": "demo"}]\n')
    dev.unlink()
    assert exit_code(curves.main) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {out}: field 'n_train': missing from record 1"]
    assert not dev.exists()


def test_a_curves_file_missing_a_field_is_named_before_the_page_is_rendered(tmp_path):
    from saliency_kd.errors import DataError

    (tmp_path / "curves.json").write_text('[{"task": "demo", "n_train": 50}]\n')
    with pytest.raises(DataError, match=r"curves.json: field 'student': missing from record 1"):
        summary.render_summary([_committed("esnli")], tmp_path)
    (tmp_path / "curves.json").write_text("[]\n")  # no curves yet: no curves part
    assert "### Learning curves" not in summary.render_summary([_committed("esnli")], tmp_path)
