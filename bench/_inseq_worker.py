"""Runs Inseq on the inputs bench/attribution_speed.py gives it (in Inseq's own venv).

Reads JSON {model_dir, method, prompts, targets, batch_size, n_steps, threads} on stdin and
prints {"seconds": ..., "n": ...}. Not imported by saliency_kd: it runs in another interpreter.
"""

import json
import sys
import time

import inseq
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

job = json.load(sys.stdin)
torch.set_num_threads(job["threads"])
model = AutoModelForCausalLM.from_pretrained(job["model_dir"], dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(job["model_dir"])
attr_model = inseq.load_model(model, job["method"], tokenizer=tok)
kwargs = {"n_steps": job["n_steps"]} if job["method"] == "integrated_gradients" else {}
full = [p + t for p, t in zip(job["prompts"], job["targets"])]
# Warm-up on one example (lazy initialisation is not what we measure).
attr_model.attribute(job["prompts"][:1], full[:1], batch_size=1, show_progress=False, **kwargs)
start = time.perf_counter()
attr_model.attribute(job["prompts"], full, batch_size=job["batch_size"], show_progress=False,
                     **kwargs)
print(json.dumps({"seconds": time.perf_counter() - start, "n": len(full)}))
