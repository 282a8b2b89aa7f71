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
# all 14: the zoo table predates the Xavier initialisation of the backbones' Linear layers
BACKBONES=${BACKBONES:-lr,fm,fwfm,dnn,widedeep,deepfm,pnn,nfm,xdeepfm,dcn,dcnv2,autoint,fibinet,finalmlp}
MODELS=${MODELS:-deepfm,dcnv2}
PROTOCOLS=${PROTOCOLS:-cold-item-pool,random}
# by default the gain-side variants (the distillation variants are in recipe_search_h200.json)
VARIANTS=${VARIANTS:-mix0.5,fd0,fd0.8,dim16,wd1e-2,folds10}
rm -rf /tmp/zoo /tmp/search
. "$(dirname "$0")/device_setup.sh"
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
