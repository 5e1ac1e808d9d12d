"""bench/student_speed.py times the training loop's own step (`Trainer.train_step` of the
trainer `train` builds), for every mode and variant it compares: a smoke test on tiny models."""

from __future__ import annotations

import pytest
from conftest import load_bench

from saliency_kd import training
from saliency_kd.data import DataSpec


@pytest.mark.parametrize("fam, modes, names", [
    ("encoder", [("standard", False), ("rationale", False)], ["standard", "rationale"]),
    ("causal", [("standard", False), ("kd", False), ("kd", True)],
     ["standard", "kd", "kd (full passes)"]),
    ("seq2seq", [("dss", False), ("dss", True)], ["dss", "dss (DSS two-pass)"]),
])
def test_each_mode_times_the_trainers_own_step(student_world, tmp_path, monkeypatch, fam,
                                               modes, names):
    bench = load_bench("student_speed")
    calls = []
    real = training.Trainer.train_step

    def counted(self, batch):
        calls.append((self.mode, len(batch)))
        return real(self, batch)

    monkeypatch.setattr(training.Trainer, "train_step", counted)
    data = DataSpec("cqa", str(student_world["dss"]), "train", limit=12)
    got = bench.time_family(fam, str(student_world[fam]), data, str(student_world["rationales"]),
                            8, modes, root=tmp_path)
    assert list(got) == names and all(s > 0 for s in got.values())
    assert len(calls) == 2 * len(modes)  # 12 examples in batches of 8: two steps per mode
    assert sorted(n for _, n in calls) == [4] * len(modes) + [8] * len(modes)
    assert not (tmp_path / "unused").exists()  # the loop's files are never written
