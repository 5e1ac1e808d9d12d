"""The same tasks from the Hugging Face Hub, for users online (needs the `hub` extra)."""

from __future__ import annotations

from ..errors import DataError
from .example import Example
from .tasks import NLI_LABELS

# name -> (dataset id, config, {our split: hub split})
HUB_SOURCES: dict[str, tuple[str, str | None, dict[str, str]]] = {
    "cqa": ("cos_e", "v1.11", {"train": "train", "test": "validation"}),
    "svamp": ("ChilleD/SVAMP", None, {"train": "train", "test": "test"}),
    "anli1": ("anli", None, {"train": "train_r1", "valid": "dev_r1", "test": "test_r1"}),
    "esnli": ("esnli", None, {"train": "train", "valid": "validation", "test": "test"}),
}


def load_hub(name: str, split: str) -> list[Example]:
    if name not in HUB_SOURCES:
        raise DataError(f"hub:{name}", None, None, f"no Hub source for task '{name}'")
    dataset_id, config, splits = HUB_SOURCES[name]
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
        if name == "cqa":
            out.append(Example(str(row["id"]), {"question": row["question"]}, row["answer"],
                               list(row["choices"]), [row["extractive_explanation"],
                                                      row["abstractive_explanation"]]))
        elif name == "svamp":
            text = f"{row['Body']} {row['Question']}".strip()
            out.append(Example(str(row.get("ID", i)), {"input": text}, row["Equation"]))
        else:
            if row["label"] not in (0, 1, 2):
                continue  # unlabeled rows (-1) in the hub's NLI sets
            expl = [row[k] for k in ("reason", "explanation_1", "explanation_2", "explanation_3")
                    if row.get(k)]
            out.append(Example(str(row.get("uid", f"{name}-{split}-{i}")),
                               {"premise": row["premise"], "hypothesis": row["hypothesis"]},
                               NLI_LABELS[row["label"]], explanations=expl))
        out[-1].source = f"hub:{dataset_id}/{splits[split]}#{i}"
    return out
