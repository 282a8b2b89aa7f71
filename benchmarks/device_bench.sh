#!/usr/bin/env bash
# The quality and zoo benchmarks on a lent GPU machine (no network there), in one go.
# Prepare here first: bash benchmarks/device_prepare.sh (wheels, MiniLM in fp16, data).
# Then run this there with $OUT set; JSON summaries and a tarball of logs land in $OUT.
# SEEDS and EXTRA (more --set flags) shrink it, PY and SKIP_WHEELS=1 run it, locally.
set -u
SEEDS=${SEEDS:-5}
. "$(dirname "$0")/device_setup.sh"
echo "warm-up done after $(( $(date +%s) - start )) s"
for model in deepfm dcnv2; do
  timeout "${BUDGET:-520}" $PY -m elec.cli bench quality -c configs/ml100k.yaml --seeds "$SEEDS" \
    --protocols random,temporal,cold-item --jobs 5 --no-warm $LM --set model.name=$model \
    --out /tmp/bench > /tmp/quality_$model.log 2>&1 &
done
timeout "${BUDGET:-520}" $PY benchmarks/zoo.py --seeds "$SEEDS" --jobs 5 --no-warm $LM --backbones lr,fm,fwfm,dnn,widedeep \
  --out /tmp/zoo --results "$OUT" --no-markdown --name zoo_part1 > /tmp/zoo1.log 2>&1 &
timeout "${BUDGET:-520}" $PY benchmarks/zoo.py --seeds "$SEEDS" --jobs 5 --no-warm $LM --backbones deepfm,pnn,nfm,xdeepfm,dcn \
  --out /tmp/zoo --results "$OUT" --no-markdown --name zoo_part2 > /tmp/zoo2.log 2>&1 &
timeout "${BUDGET:-520}" $PY benchmarks/zoo.py --seeds "$SEEDS" --jobs 5 --no-warm $LM --backbones dcnv2,autoint,fibinet,finalmlp \
  --out /tmp/zoo --results "$OUT" --no-markdown --name zoo_part3 > /tmp/zoo3.log 2>&1 &
# the summaries are rewritten as they grow: keep copying them, in case time runs out
while sleep 10; do cp /tmp/bench/quality_*.json "$OUT"/ 2>/dev/null; done &
copier=$!
wait $(jobs -p | grep -v "^$copier$")
kill $copier
echo "all done after $(( $(date +%s) - start )) s"
cp /tmp/bench/quality_*.json "$OUT"/ 2>/dev/null
tar czf "$OUT/logs.tgz" /tmp/quality_*.log /tmp/zoo*.log \
  $(find /tmp/bench /tmp/zoo -name results.json -o -name log.txt 2>/dev/null) 2>/dev/null
tail -n 3 /tmp/quality_*.log /tmp/zoo*.log
