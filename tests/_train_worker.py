"""Run `train` under torchrun from a JSON config (argv[1]); with "die_after" set, every process
dies right after that many optimiser steps, like a killed job (tests/test_distributed.py)."""

from __future__ import annotations

import json
import sys

from saliency_kd.data import DataSpec
from saliency_kd.student import TrainConfig, train

job = json.loads(sys.argv[1])
die_after = job.pop("die_after", None)
if die_after is not None:
    calls = {"n": 0}
    import torch

    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] > die_after:
            raise SystemExit(3)
        return real_step(self, *a, **k)

    torch.optim.AdamW.step = step
job["data"] = DataSpec(**job["data"])
train(TrainConfig(**job), progress=False)
