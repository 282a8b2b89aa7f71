#!/usr/bin/env bash
# The rest of the backbone zoo and the distillation-recipe search on a lent GPU machine
# (no network there), side by side, in one go. Prepare here first:
# bash benchmarks/device_prepare.sh. Run there with $OUT set; JSON summaries (rewritten
# as they grow, so a run cut short keeps what it finished) and a tarball of logs land
# in $OUT. BACKBONES, MODELS, PROTOCOLS, VARIANTS, SEEDS, BUDGET (seconds) shrink it;
# EXTRA adds --set flags; PY and SKIP_WHEELS=1 run it here, for a check.
set -u
SEEDS=${SEEDS:-5}
BUDGET=${BUDGET:-500}
BACKBONES=${BACKBONES:-dnn,widedeep,xdeepfm,dcn,finalmlp}
MODELS=${MODELS:-deepfm,dcnv2}
PROTOCOLS=${PROTOCOLS:-cold-item-pool,random}
VARIANTS=${VARIANTS:-mix0.5,mix0.5-score,score,pool-w3,mix0.5-pool-w3}
PY=${PY:-python3}
if [ -z "${SKIP_WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --target /tmp/site .device/whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
export ELEC_HOME=/tmp/elec-home
rm -rf "$ELEC_HOME" /tmp/warm /tmp/zoo /tmp/search && cp -r .device/elec-home "$ELEC_HOME"
nvidia-smi -L 2>/dev/null
LM="--set llm.name=$PWD/.device/minilm16 --set llm.batch_size=512 ${EXTRA:-}"
start=$(date +%s)
# encode every text once, so the parallel runs below only read the vector cache
$PY -m elec.cli run -c configs/ml100k.yaml $LM --set 'methods=[lm_only]' --out /tmp/warm \
  > "$OUT/warmup.log" 2>&1 || { tail -20 "$OUT/warmup.log"; exit 1; }
left=$(( BUDGET - ($(date +%s) - start) ))
echo "warm-up done after $(( $(date +%s) - start )) s; $left s left"
for backbone in ${BACKBONES//,/ }; do
  timeout "$left" $PY benchmarks/zoo.py --seeds "$SEEDS" --jobs "$SEEDS" --no-warm $LM \
    --backbones "$backbone" --out /tmp/zoo --results "$OUT" --no-markdown \
    --name "zoo_$backbone" > "/tmp/zoo_$backbone.log" 2>&1 &
done
timeout "$left" $PY benchmarks/recipe_search.py --seeds "$SEEDS" --jobs 10 $LM \
  --models "$MODELS" --protocols "$PROTOCOLS" --variants "$VARIANTS" \
  --out /tmp/search --results "$OUT" > /tmp/search.log 2>&1 &
wait
echo "all done after $(( $(date +%s) - start )) s"
tar czf "$OUT/logs.tgz" /tmp/zoo_*.log /tmp/search.log \
  $(find /tmp/zoo /tmp/search -name log.txt -o -name search.json -o -name results.json \
    2>/dev/null) 2>/dev/null
tail -n 3 /tmp/zoo_*.log /tmp/search.log
