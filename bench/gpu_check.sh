#!/usr/bin/env bash
# The GPU checks in one go (figures: bench/results/gpu.md), for a machine with one CUDA GPU:
#   1. PPO-Lag step time and memory at Llama-2-7B shape (bench/bench_gpu.py ppo; alone on the GPU: it is timed);
#   2. the test suite without the slow tests (those need the embedded default model): the CPU suite, plus
#      tests/test_gpu.py, which resumes PPO-Lag runs on CUDA and under FSDP2 (accelerate launch with
#      configs/accelerate/fsdp.yaml) and checks they end bit-identical to uninterrupted ones.
# Environment: OUT (where logs and JSON go; default runs/bench/gpu), PY (python3), SHAPE (7b; tiny for a dry run on a
# CPU), PPO / PYTEST (1; 0 skips that part), PYTEST_ARGS (more pytest arguments, e.g. --deselect for tests whose
# packages are missing there), WHEELS (1: install .whl/*.whl to /tmp/site first, for packages the machine lacks).
set -u
OUT=${OUT:-runs/bench/gpu}
PY=${PY:-python3}
SHAPE=${SHAPE:-7b}
PPO=${PPO:-1}
PYTEST=${PYTEST:-1}
PYTEST_ARGS=${PYTEST_ARGS:-}
WHEELS=${WHEELS:-1}
mkdir -p "$OUT"
if [ "$WHEELS" = 1 ] && compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
{ nvidia-smi -L 2>&1; $PY -c "import torch, transformers, accelerate, peft; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'peft', peft.__version__)"; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

if [ "$PPO" = 1 ]; then
  start=$(date +%s)
  timeout 220 $PY bench/bench_gpu.py ppo --shape "$SHAPE" --out "$OUT/ppo_7b.json" > "$OUT/ppo_7b.log" 2>&1 \
    || timeout 120 $PY bench/bench_gpu.py ppo --shape "$SHAPE" --batch-size 4 --steps 2 --out "$OUT/ppo_7b_bs4.json" >> "$OUT/ppo_7b.log" 2>&1
  echo "ppo: $(( $(date +%s) - start )) s"
  for f in "$OUT"/ppo_7b*.json; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done
fi
if [ "$PYTEST" = 1 ]; then
  start=$(date +%s)
  # shellcheck disable=SC2086
  timeout 400 $PY -m pytest -m "not slow" -n 8 -q -p no:cacheprovider -o addopts="" -rfEs $PYTEST_ARGS > "$OUT/pytest.log" 2>&1
  echo "pytest exit $? in $(( $(date +%s) - start )) s"
  grep -E "^(FAILED|ERROR|SKIPPED)|passed|failed" "$OUT/pytest.log" | tail -n 40
fi
exit 0
