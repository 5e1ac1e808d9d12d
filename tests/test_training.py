"""The shared training loop on a tiny model: resume, keep-best, patience, budgets, OOM back-off."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from saliency_kd.errors import ConfigError
from saliency_kd.training import LoopSettings, Trainer, linear_schedule


def _items(n: int = 40) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    y = x @ torch.arange(6.0) / 6
    return list(zip(x, y))


class Killed(Exception):
    pass


class Tiny(Trainer):
    """Regression with dropout (so a resume must restore the random state as well)."""

    def __init__(self, out, *, accuracies=(), kill_at=None, oom_above=None, dropout=0.3,
                 **loop):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Dropout(dropout),
                                    torch.nn.Linear(8, 1))
        settings = LoopSettings(**{**dict(lr=0.05, batch_size=8, schedule_steps=15,
                                          warmup_steps=2, decay_from_start=False,
                                          weight_decay=0.01, seed=0, checkpoint_every=4,
                                          progress=False), **loop})
        config = {"lr": settings.lr, "seed": settings.seed,
                  "checkpoint_every": settings.checkpoint_every}
        super().__init__(model, _items(), settings, out, config, best_dir=out / "best",
                         may_change=("checkpoint_every",))  # how often it saves
        self.accuracies, self.kill_at, self.oom_above = list(accuracies), kill_at, oom_above
        self.calls, self.sizes, self.kept = 0, [], []

    def compute_loss(self, items):
        self.calls += 1
        self.sizes.append(len(items))
        if self.calls == self.kill_at:
            raise Killed
        if self.oom_above is not None and len(items) > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        x, y = torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items])
        err = self.model(x).squeeze(-1) - y
        return (err ** 2).mean(), {"abs": err.abs().mean()}

    def evaluate(self):
        if not self.accuracies:
            return None
        return self.accuracies.pop(0), 5

    def save_best(self, step, accuracy):
        self.kept.append((step, accuracy))
        self.best_dir.mkdir(parents=True, exist_ok=True)
        (self.best_dir / "step").write_text(str(step))


def _log(out):
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def _weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("kill_at", [7, 2])  # after the checkpoint of step 4; before any
def test_resume_after_a_kill_gives_the_weights_of_an_unbroken_run(tmp_path, kill_at):
    whole = Tiny(tmp_path / "whole")
    whole.train()
    with pytest.raises(Killed):
        Tiny(tmp_path / "cut", kill_at=kill_at).train()
    resumed = Tiny(tmp_path / "cut")
    result = resumed.train()
    assert result.steps == 15
    assert resumed.calls == 15 - (4 if kill_at == 7 else 0)  # from the last checkpoint
    a, b = _weights(whole), _weights(resumed)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    cut, full = _log(tmp_path / "cut"), _log(tmp_path / "whole")
    assert [r["step"] for r in cut] == [r["step"] for r in full] == list(range(1, 16))
    assert [r["loss"] for r in cut] == [r["loss"] for r in full]
    assert {"epoch", "lr", "loss_abs", "seconds", "time"} <= set(full[0])


def test_a_changed_setting_is_named_and_a_may_change_one_resumes(tmp_path):
    out = tmp_path / "run"
    Tiny(out, stop_after_steps=5).train()  # a step budget that leaves the schedule as it is
    with pytest.raises(ConfigError, match=r"different configuration \(lr was 0.05, now 0.01; "
                                          r"seed was 0, now 1\)") as err:
        Tiny(out, lr=0.01, seed=1).train()
    assert err.value.key == "lr"
    t = Tiny(out, checkpoint_every=7)  # how often it saves: the steps stay the same
    assert t.train().steps == 15 and t.calls == 10
    assert [r["step"] for r in _log(out)] == list(range(1, 16))


def test_the_best_on_dev_is_kept_and_patience_stops_the_run(tmp_path):
    out = tmp_path / "run"
    t = Tiny(out, accuracies=[0.4, 0.7, 0.6, 0.7, 0.9], eval_every=2, patience=2)
    result = t.train()
    # evaluations at steps 2, 4, 6, 8: the best (0.7 at step 4) is not beaten twice
    assert (result.steps, result.best, result.stopped_early) == (8, 0.7, True)
    assert t.kept == [(2, 0.4), (4, 0.7)] and (out / "best" / "step").read_text() == "4"
    dev = [(r["step"], r["dev_accuracy"], r["dev_n"]) for r in _log(out) if "dev_accuracy" in r]
    assert dev == [(2, 0.4, 5), (4, 0.7, 5), (6, 0.6, 5), (8, 0.7, 5)]
    state = torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    assert (state["step"], state["best"], state["bad_evals"]) == (8, 0.7, 2)


def test_checkpoints_every_n_steps_and_a_resume_keeps_the_same_best(tmp_path):
    """Evaluations do not write checkpoints; a kill after a new best that no checkpoint saw
    replays those steps and their evaluations, and keeps what an unbroken run keeps."""
    accuracies = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    whole = Tiny(tmp_path / "whole", accuracies=accuracies, eval_every=1)
    written = []
    whole._checkpoint = lambda: written.append(whole.step) or Trainer._checkpoint(whole)
    unbroken = whole.train()
    assert written == [4, 8, 12, 15]  # checkpoint_every=4 and the last step, not each evaluation
    cut = tmp_path / "cut"
    with pytest.raises(Killed):  # step 6's best (0.6) is saved, the last checkpoint is step 4's
        Tiny(cut, accuracies=accuracies, eval_every=1, kill_at=7).train()
    assert (cut / "best" / "step").read_text() == "6"
    resumed = Tiny(cut, accuracies=accuracies[4:], eval_every=1)  # evaluations of steps 5..15
    result = resumed.train()
    assert result.best == unbroken.best == 0.6
    assert (cut / "best" / "step").read_text() == (tmp_path / "whole" / "best" / "step"
                                                   ).read_text() == "6"
    assert resumed.kept == [(5, 0.5), (6, 0.6)]
    a, b = _weights(whole), _weights(resumed)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_without_evaluation_the_last_weights_are_kept(tmp_path):
    t = Tiny(tmp_path / "run", stop_after_steps=3)
    assert t.train().best == -1.0 and t.kept == [(3, None)]


def test_evaluation_at_the_start_and_a_time_budget(tmp_path):
    out = tmp_path / "run"
    t = Tiny(out, accuracies=[0.3, 0.5], eval_at_start=True, max_minutes=0.0)
    result = t.train()
    assert (result.steps, result.out_of_time, t.kept) == (1, True, [(0, 0.3), (1, 0.5)])
    log = _log(out)
    assert log[0] == {"step": 0, "dev_accuracy": 0.3, "dev_n": 5, "time": log[0]["time"]}
    assert log[1]["step"] == 1 and log[1]["dev_accuracy"] == 0.5
    assert torch.load(out / "checkpoint" / "state.pt", weights_only=False)["step"] == 1


def test_out_of_memory_splits_the_batch_and_the_step_is_the_same(tmp_path, caplog):
    whole = Tiny(tmp_path / "whole", dropout=0.0)
    whole.train()
    split = Tiny(tmp_path / "split", dropout=0.0, oom_above=2)
    with caplog.at_level(logging.WARNING, logger="saliency_kd.training"):
        split.train()
    assert split.sizes[:4] == [8, 4, 2, 2]  # 8 fails, 4 fails, then micro-batches of 2
    assert split.accum == 4 and "out of memory" in caplog.text
    a, b = _weights(whole), _weights(split)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert [r["loss"] for r in _log(tmp_path / "split")] == pytest.approx(
        [r["loss"] for r in _log(tmp_path / "whole")], rel=1e-5)
    with pytest.raises(torch.OutOfMemoryError):  # a single item that does not fit re-raises
        Tiny(tmp_path / "one", dropout=0.0, oom_above=0).train()


class Tokens(Tiny):
    """A loss that is a mean over tokens (the teacher's): an item stands for 1 or 3 tokens."""

    @staticmethod
    def tokens(item) -> int:
        return 3 if item[0][0] > 0 else 1

    def compute_loss(self, items):
        x, y = torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items])
        w = torch.tensor([float(self.tokens(i)) for i in items])
        return (w * (self.model(x).squeeze(-1) - y) ** 2).sum() / w.sum(), {}

    def count(self, items):
        return sum(self.tokens(i) for i in items)


def test_micro_batches_weigh_by_what_the_loss_is_a_mean_over(tmp_path):
    """Micro-batches of a token-level mean add up to the whole batch's mean when each weighs by
    its tokens (`count`); weighed by examples they would not."""
    common = dict(dropout=0.0, batch_size=4, schedule_steps=6)
    one = Tokens(tmp_path / "one", **common)
    one.train()
    four = Tokens(tmp_path / "four", grad_accum=4, **common)
    four.train()
    a, b = _weights(one), _weights(four)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    by_examples = Tokens(tmp_path / "examples", grad_accum=4, **common)
    by_examples.count = len
    by_examples.train()
    assert any(not torch.allclose(a[k], v, rtol=1e-4) for k, v in _weights(by_examples).items())


def test_the_two_schedules():
    teacher = linear_schedule(warmup=2, total=10, decay_from_start=True)
    student = linear_schedule(warmup=2, total=10, decay_from_start=False)
    assert [teacher(s) for s in (0, 1, 5, 10)] == pytest.approx([0.5, 0.9, 0.5, 0.0])
    assert [student(s) for s in (0, 2, 6, 10)] == pytest.approx([0.625, 1.0, 0.5, 0.0])


def test_no_warm_up_starts_at_the_full_rate():
    # warmup_steps 0 is allowed (Ge(0)): the first step runs at the full rate, not 1/0.
    for decay_from_start in (True, False):
        f = linear_schedule(warmup=0, total=10, decay_from_start=decay_from_start)
        assert f(0) == 1.0 and f(5) == 0.5 and f(10) == 0.0
