"""The tasks' data from the Hugging Face Hub, for users online (needs the `hub` extra).

Each task names its own dataset, splits and row reader (`Task.hub`); this reads them."""

from __future__ import annotations

from ..errors import DataError
from .example import Example
from .tasks import TASKS


def load_hub(name: str, split: str) -> list[Example]:
    hub = TASKS.get(name).hub if name in TASKS else None
    if hub is None:
        raise DataError(f"hub:{name}", None, None, f"no Hub source for task '{name}'")
    dataset_id, config, splits = hub.dataset, hub.config, hub.splits
    if split not in splits:
        raise DataError(f"hub:{dataset_id}", None, None,
                        f"no split '{split}'; available: {', '.join(splits)}")
    try:
        import datasets
    except ImportError:
        raise DataError(f"hub:{dataset_id}", None, None,
                        "the 'datasets' package is missing: "
                        "pip install 'saliency-kd[hub]'") from None
    try:
        ds = datasets.load_dataset(dataset_id, config, split=splits[split])
    except Exception as exc:  # offline, gated, renamed: all end here with one clear message
        raise DataError(f"hub:{dataset_id}", None, None,
                        f"could not load from the Hugging Face Hub ({type(exc).__name__}: {exc}); "
                        "offline? point --data-dir at a local copy instead") from None
    out = []
    for i, row in enumerate(ds):
        ex = hub.read_row(row, i, split)
        if ex is None:
            continue  # a row the task skips (the NLI sets' unlabelled ones)
        ex.source = f"hub:{dataset_id}/{splits[split]}#{i}"
        out.append(ex)
    return out
