"""Data parallelism on Hugging Face Accelerate (torch.distributed underneath).

Nothing here starts processes: `accelerate launch --num_processes N -m saliency_kd VERB ...`
does, and the verbs notice it through the environment the launcher sets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TypeVar

import torch

log = logging.getLogger(__name__)
T = TypeVar("T")


def launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def state(cpu: bool = False):
    """Accelerate's process state when launched with several processes, else None."""
    if not launched():
        return None
    from accelerate import PartialState

    return PartialState(cpu=cpu)


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError))


def with_backoff(fn: Callable[[list], list[T]], items: list, label: str = "batch") -> list[T]:
    """Run `fn(items)`; on out-of-memory, halve the batch and retry each half (recursively), so
    a batch is never lost; a single item that does not fit re-raises."""
    try:
        return fn(items)
    except BaseException as exc:  # noqa: BLE001  (only OOM is handled; the rest re-raises)
        if not is_oom(exc) or len(items) <= 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(items) // 2
        log.warning("out of memory on a %s of %d; retrying as %d + %d", label, len(items), half,
                    len(items) - half)
        return with_backoff(fn, items[:half], label) + with_backoff(fn, items[half:], label)


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Mean of every rank's gradients, as DDP's reducer computes it (one flat all-reduce)."""
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def enable_attribution_checkpointing(model) -> None:
    """Gradient checkpointing while attributing (the model stays in eval mode).

    Transformers only checkpoints layers that are in training mode; flag just the layer
    containers as training, so dropout and everything else keep eval behaviour.
    """
    from transformers.modeling_layers import GradientCheckpointingLayer

    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    for module in model.modules():
        if isinstance(module, GradientCheckpointingLayer):
            module.training = True


class ShardedRoot(torch.nn.Module):
    """The FSDP root around a student: every student call goes through `forward`.

    Students call sub-modules directly (an encoder, a base model, an LM head), which would skip
    the root's all-gather of the parameters it owns (embeddings, heads). Routing each call,
    `root(student.losses, ...)` or `root(student.predict, ...)`, through this module's forward
    gathers them first; the transformer layers are their own FSDP units and gather themselves.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, fn: Callable[..., T], *args, **kwargs) -> T:
        return fn(*args, **kwargs)


def shard(net: torch.nn.Module) -> ShardedRoot:
    """Shard parameters, gradients and optimiser state over the processes (FSDP2, the layout
    of DeepSpeed ZeRO-3): one unit per transformer layer plus the root. Gradients come out
    reduce-scattered and averaged over processes, so no separate all-reduce is needed."""
    from torch.distributed.fsdp import fully_shard
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in net.modules() if isinstance(m, GradientCheckpointingLayer)]
    for layer in layers:
        fully_shard(layer)
    root = ShardedRoot(net)
    fully_shard(root)
    log.info("FSDP: %d layer units + root over %d processes", len(layers),
             torch.distributed.get_world_size())
    return root


def full_state_dict(root: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The sharded student's full weights, gathered to CPU on the first process (a collective:
    every process calls it; the others get an empty dict). Keys are those of the student's own
    module (the root's `net.` prefix removed)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(root, options=StateDictOptions(full_state_dict=True,
                                                               cpu_offload=True))
    return {k.removeprefix("net."): v for k, v in full.items()}


def training_state(net: torch.nn.Module, root: torch.nn.Module | None,
                   opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Model and optimiser state for a checkpoint. Sharded (`root` given): the full, gathered
    state (a collective: every process calls it), so a run resumes on any number of processes."""
    if root is None:
        return net.state_dict(), opt.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(root, opt, options=StateDictOptions(full_state_dict=True,
                                                              cpu_offload=True))


def load_training_state(net: torch.nn.Module, root: torch.nn.Module | None,
                        opt: torch.optim.Optimizer, model_sd: dict, opt_sd: dict) -> None:
    """Inverse of `training_state`; sharded, each process keeps its own shards of the full
    state."""
    if root is None:
        net.load_state_dict(model_sd)
        opt.load_state_dict(opt_sd)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(root, opt, model_state_dict=model_sd, optim_state_dict=opt_sd,
                   # Parameters that never got a gradient (an unused pooler) have no AdamW
                   # state yet, exactly as in the run that was interrupted.
                   options=StateDictOptions(full_state_dict=True, strict=False))
