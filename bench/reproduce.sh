#!/usr/bin/env bash
# Regenerates every number in docs/RESULTS.md (and docs/results/*.json) from scratch.
# Resumable: each step skips what is finished (attribution files resume by id, training resumes
# from checkpoints, finished runs are skipped), so a killed run just needs to be started again.
# Long: hours on 2 CPU cores. Run it in the background:  nohup bash bench/reproduce.sh &
set -euo pipefail
cd "$(dirname "$0")/.."
SKD=${SKD:-.venv/bin/saliency-kd}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/dss}
RUNS=${RUNS:-runs/results}
N_TRAIN=${N_TRAIN:-800}        # CQA training examples the students see (first N of train)
N_TEST=${N_TEST:-600}          # CQA test examples (the first N of the test file)
STUDENT=${STUDENT:-minilm-l2}  # chosen so that the teacher is ahead of it (see RESULTS.md)
SEEDS=${SEEDS:-"0 1 2"}
export HF_HUB_OFFLINE=1

mkdir -p "$RUNS/cqa" docs/results

# 1. Teacher: Gemma-3-270M fine-tuned on CQA answer tokens, 45-minute CPU budget, best on dev.
if [ ! -f "$RUNS/cqa/teacher/model/config.json" ]; then
  $SKD teacher-finetune --task cqa --data-dir "$DATA" --limit 4800 --teacher gemma-3-270m \
    --out "$RUNS/cqa/teacher" --lr 5e-5 --batch-size 16 --epochs 1 --max-minutes 45 \
    --eval-every 50 --eval-limit 150
fi
TEACHER="$RUNS/cqa/teacher/model"

# 2. Teacher accuracy: zero-shot and fine-tuned, on the test examples the students meet.
for t in gemma-3-270m "$TEACHER"; do
  name=$([ "$t" = gemma-3-270m ] && echo zeroshot || echo finetuned)
  out="$RUNS/cqa/teacher-eval-$name.json"
  [ -f "$out" ] || $SKD teacher-eval --task cqa --data-dir "$DATA" --split test --limit "$N_TEST" \
    --teacher "$t" --out "$out"
done

# 3. Attribution of the training examples, one file per method (k=5 stored; other k re-selected
#    from the stored word scores by bench/results.py).
for m in saliency integrated_gradients attention occlusion; do
  steps=$([ "$m" = integrated_gradients ] && echo 8 || echo 16)
  $SKD attribute --task cqa --data-dir "$DATA" --split train --limit "$N_TRAIN" \
    --teacher "$TEACHER" --method "$m" --ig-steps "$steps" --top-k 5 \
    --out "$RUNS/cqa/rationales-$m.jsonl"
  [ "$m" = saliency ] && [ "${ONLY_SALIENCY:-0}" = 1 ] && break
done

# 4. Students: same budget per mode (epochs, batch, lr), 3 seeds; dev early stopping.
train_eval() {  # mode, seed, out dir, extra args...
  local mode=$1 seed=$2 out=$3; shift 3
  if [ ! -f "$out/metrics.json" ]; then
    $SKD train --task cqa --data-dir "$DATA" --limit "$N_TRAIN" --student "$STUDENT" \
      --mode "$mode" --seed "$seed" --epochs 4 --batch-size 16 --lr 1e-4 --dev-limit 300 \
      --out "$out" "$@"
    $SKD evaluate --model "$out/model" --task cqa --data-dir "$DATA" --split test \
      --limit "$N_TEST" --out "$out/metrics.json"
  fi
}
for seed in $SEEDS; do
  train_eval standard "$seed" "$RUNS/cqa/student-standard-s$seed"
  train_eval rationale "$seed" "$RUNS/cqa/student-rationale-saliency-s$seed" \
    --rationales "$RUNS/cqa/rationales-saliency.jsonl"
  train_eval kd "$seed" "$RUNS/cqa/student-kd-s$seed" \
    --rationales "$RUNS/cqa/rationales-saliency.jsonl"
  train_eval dss "$seed" "$RUNS/cqa/student-dss-s$seed"
done

# 5. Tables and plots.
$PY bench/results.py --runs "$RUNS" --out docs
