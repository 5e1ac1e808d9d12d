"""Shared fixtures: tiny models built in memory (offline), a tiny DSS-layout dataset, and the
path to the real shared data (tests that need it skip with a reason when it is absent)."""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # an accidental download fails loudly
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dss"
BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str):
    """A script of bench/ as a module: bench/ is not a package, and some tests check the
    benchmark's own reference code rather than a copy of it."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUBJECTS = ["john", "mary", "the dog", "a cat", "the teacher", "my friend"]
PLACES = ["park", "school", "garden", "kitchen", "library", "beach", "office", "river"]
VERBS = ["went to", "played in", "read in", "slept in", "walked to"]


def make_examples(n: int, seed: int = 0) -> list[dict]:
    """Tiny CQA-shaped records: the question names the right place."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        place = rng.choice(PLACES)
        others = rng.sample([p for p in PLACES if p != place], 4)
        choices = others[:]
        choices.insert(rng.randrange(5), place)
        q = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} the {place} . where is it ?"
        out.append({"id": f"q{i}", "question": q, "choices": choices, "answer": place,
                    "abstractive_explanation": f"it is the {place}",
                    "extractive_explanation": f"the {place}"})
    return out


def vocabulary() -> list[str]:
    words = set()
    for s in SUBJECTS + PLACES + VERBS:
        words.update(s.split())
    words.update("question : choices ( a b c d e ) answer the . where is it ? premise hypothesis "
                 "problem equation input does entail , neutral contradiction entailment 1 2 3 4 5 "
                 "+ - * / 0 6 7 8 9 10 how many apples".split())
    return sorted(words)


def make_tokenizer(kind: str, newline: bool = False):
    """Word-level; `newline=True` keeps "\n" as a token of its own (as Gemma's tokenizer does),
    otherwise it is dropped like any other whitespace."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<s>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials + vocabulary() + ["\n"] * newline)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if newline:  # words and punctuation apart, as Whitespace does, and "\n" kept
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\n|\w+|[^\w\s]+"), behavior="removed",
                                                 invert=True)
    if kind == "causal":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   bos_token="<s>", unk_token="<unk>")


def make_model(kind: str, vocab_size: int, seed: int = 0):
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    torch.manual_seed(seed)
    if kind == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32,
                          num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                          max_position_embeddings=256, pad_token_id=0, bos_token_id=2,
                          eos_token_id=1, tie_word_embeddings=False)
        model = LlamaForCausalLM(cfg)
    elif kind == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_embd=16, n_layer=2, n_head=2, n_positions=256,
                         pad_token_id=0, bos_token_id=2, eos_token_id=1)
        model = GPT2LMHeadModel(cfg)
    elif kind == "t5":
        cfg = T5Config(vocab_size=vocab_size, d_model=16, d_ff=32, d_kv=8, num_layers=2,
                       num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                       initializer_factor=0.5)  # T5 default init (1.0) is very rough at d=16
        model = T5ForConditionalGeneration(cfg)
    else:
        raise ValueError(kind)
    return model.eval()


def make_teacher(kind: str, seed: int = 0, newline: bool = False):
    from saliency_kd.teacher.model import Teacher

    tok = make_tokenizer("seq2seq" if kind == "t5" else "causal", newline)
    return Teacher(make_model(kind, len(tok), seed), tok)


@pytest.fixture(params=["llama", "gpt2", "t5"])
def teacher(request):
    return make_teacher(request.param)


@pytest.fixture
def llama_teacher():
    return make_teacher("llama")


@pytest.fixture
def t5_teacher():
    return make_teacher("t5")


def write_dss(root: Path, n_train: int = 40, n_test: int = 12) -> Path:
    """A tiny cqa dataset in the Distilling step-by-step layout, with PaLM-style outputs."""
    (root / "cqa" / "llm").mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        recs = make_examples(n, seed)
        with (root / "cqa" / f"cqa_{split}.json").open("w") as fh:
            for r in recs:
                fh.write(json.dumps(r) + "\n")
        outs = [f"The question names the place. So the answer is (a) {r['answer']}.\n\nQ: more"
                for r in recs]
        if outs:
            outs[-1] = "garbled output with no answer marker"
        (root / "cqa" / "llm" / f"{split}_CoT_0.json").write_text(json.dumps(outs))
    return root


@pytest.fixture
def dss_dir(tmp_path) -> Path:
    return write_dss(tmp_path / "dss")


@pytest.fixture(scope="session")
def shared_dss() -> Path:
    if not (SHARED / "cqa" / "cqa_train.json").exists():
        pytest.skip(f"needs the shared DSS data at {SHARED} (absent in a bare clone)")
    return SHARED


def make_bert_dir(path: Path, seed: int = 0) -> Path:
    """A tiny BERT saved to disk, with a word-level tokenizer that gives offsets and pairs."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + vocabulary() + ["|"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                     cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(path)
    hf_tok.save_pretrained(path)
    return path


def save_lm_dir(kind: str, path: Path, seed: int = 0) -> Path:
    tok = make_tokenizer("seq2seq" if kind == "t5" else "causal")
    make_model(kind, len(tok), seed).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def student_world(tmp_path_factory):
    """A tiny dataset, a teacher rationale file over its train split, and tiny students."""
    from saliency_kd.attribution.attribute import AttributeConfig, attribute
    from saliency_kd.data import DataSpec

    root = tmp_path_factory.mktemp("world")
    dss = write_dss(root / "dss", n_train=120, n_test=20)
    rationales = attribute(AttributeConfig(out=str(root / "rationales.jsonl"),
                                           data=DataSpec("cqa", str(dss), "train"), batch_size=16),
                           teacher=make_teacher("llama"), progress=False)
    return {"dss": dss, "rationales": rationales, "encoder": make_bert_dir(root / "bert"),
            "seq2seq": save_lm_dir("t5", root / "t5"), "causal": save_lm_dir("llama", root / "lm")}


def reproduce_config(world, run_dir) -> dict:
    return {
        "run_dir": str(run_dir),
        "data": {"task": "cqa", "data_dir": str(world["dss"]), "train_limit": 40,
                 "test_limit": 12},
        "teacher": {"name": str(world["causal"]),
                    "finetune": {"lr": 1e-3, "batch_size": 8, "epochs": 1, "train_limit": 24,
                                 "stop_after_steps": 1, "eval_every": 2, "dev_limit": 4}},
        "teacher_eval": {"zero_shot": True, "dev_limit": 6, "full_schedule": True},
        "attribution": {"methods": ["saliency"], "top_k": 3, "batch_size": 8,
                        "controls": ["random"],
                        "derived": [{"name": "saliency-k2", "from": "saliency", "top_k": 2},
                                    {"name": "saliency-value", "from": "saliency",
                                     "rank": "value", "limit": 10}]},
        "faithfulness": {"sources": ["saliency", "random", "saliency-value"], "limit": 8,
                         "bins": [0.5]},
        "students": [
            {"name": "encoder", "student": str(world["encoder"]),
             "modes": ["standard", "rationale"], "sources": ["saliency", "saliency-k2"],
             "seeds": [0, 1], "lr": 1e-3, "batch_size": 12, "epochs": 1},
            {"name": "other", "student": str(world["seq2seq"]), "modes": ["standard"],
             "seeds": [0], "lr": 5e-4, "batch_size": 12, "epochs": 1},
            {"name": "choice", "student": str(world["encoder"]), "modes": ["standard"],
             "lr": 2e-3, "batch_size": 12, "epochs": 1, "dev_only": True},
        ],
        "report": {"heatmaps": 2},
    }


@pytest.fixture(scope="session")
def reproduce_run(student_world, tmp_path_factory):
    """One finished run of `reproduce_config` (tests read it, none writes to it): its
    directory, its raw config and what `run_pipeline` returned."""
    from saliency_kd.pipeline.config import parse_config
    from saliency_kd.pipeline.run import run_pipeline

    root = tmp_path_factory.mktemp("reproduce") / "run"
    raw = reproduce_config(student_world, root)
    return root, raw, run_pipeline(parse_config(raw), progress=False)


def assert_config_error(raw: dict, tmp_path: Path, key: str) -> None:
    """`raw` written as a YAML file fails to load with an error naming `key` and the file."""
    import yaml

    from saliency_kd.errors import ConfigError
    from saliency_kd.pipeline.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"'{key}'" in str(err.value) and "c.yaml" in str(err.value)
