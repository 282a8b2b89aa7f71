# Sourced by the device_*.sh benchmarks: what every run on the lent GPU machine needs
# first. Installs the wheels gathered by device_prepare.sh (unless SKIP_WHEELS=1),
# starts from fresh copies of the verified datasets, sets $LM (the fp16 MiniLM, plus
# the --set flags in $EXTRA) and $start, and encodes every text once so that the
# parallel runs after it only read the vector cache.
PY=${PY:-python3}
if [ -z "${SKIP_WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --target /tmp/site .device/whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
export ELEC_HOME=/tmp/elec-home
rm -rf "$ELEC_HOME" /tmp/warm && cp -r .device/elec-home "$ELEC_HOME"
nvidia-smi -L 2>/dev/null
LM="--set llm.name=$PWD/.device/minilm16 --set llm.batch_size=512 ${EXTRA:-}"
start=$(date +%s)
$PY -m elec.cli run -c configs/ml100k.yaml $LM --set 'methods=[lm_only]' --out /tmp/warm \
  > "$OUT/warmup.log" 2>&1 || { tail -20 "$OUT/warmup.log"; exit 1; }
