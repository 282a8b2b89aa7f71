"""Raw rows in, click probabilities out: the vanilla network and its encoders."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from safetensors.torch import load_file

from elec.config import FieldSpec, ModelConfig, TextConfig
from elec.data.encoder import EncodedFeatures, RowEncoder
from elec.data.schema import FeatureSchema
from elec.models import CTRNetwork
from elec.serve.bundle import ITEMS_FILE, BundleError, read_manifest, serving_module
from elec.text.items import read_item_checkpoint, render_items
from elec.text.render import render_rows, truncate

RUNTIMES = ("auto", "eager", "torchscript", "onnx")
MEMO = 100_000  # item texts an ItemLookup remembers by their fields' values


@dataclass
class Encoded:
    """Rows as the served module reads them: ids per field, and the item vectors of a
    bundle with an item table."""

    single: np.ndarray
    multi: np.ndarray
    items: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.single)

    def part(self, begin: int, end: int) -> Encoded:
        return Encoded(self.single[begin:end], self.multi[begin:end],
                       None if self.items is None else self.items[begin:end])

    @staticmethod
    def concat(parts: Sequence[Encoded]) -> Encoded:
        if len(parts) == 1:
            return parts[0]
        return Encoded(np.concatenate([p.single for p in parts]),
                       np.concatenate([p.multi for p in parts]),
                       None if parts[0].items is None else torch.cat([p.items for p in parts]))


class Predictor:
    """``Predictor.from_bundle(path).predict_proba(rows)``."""

    def __init__(self, module: torch.nn.Module, schema: FeatureSchema, manifest: dict,
                 items: dict[str, torch.Tensor] | None = None, runtime: str = "eager"):
        self.module = module.eval()
        self.runtime = runtime  # what scores: eager, torchscript or onnx
        self.schema = schema
        self.manifest = manifest
        self.encoder = RowEncoder(schema)
        self.items = None if items is None else ItemLookup(manifest["item_lookup"], items)

    @classmethod
    def from_bundle(cls, bundle: str | Path, runtime: str = "eager") -> Predictor:
        """runtime: eager (safetensors weights), torchscript or onnx (the exported graphs,
        onnx through ONNX Runtime), or auto: onnx where the bundle has its graph and
        onnxruntime is installed, else eager."""
        if runtime not in RUNTIMES:
            raise BundleError(f"runtime {runtime!r} is not one of: {', '.join(RUNTIMES)}")
        bundle = Path(bundle)
        manifest = read_manifest(bundle)
        if runtime == "auto":
            runtime = "onnx" if (bundle / "model.onnx").is_file() and _has_onnxruntime() \
                else "eager"
        graph = {"torchscript": "model.torchscript", "onnx": "model.onnx"}.get(runtime)
        if graph and not (bundle / graph).is_file():
            raise BundleError(f"{bundle} has no {graph} graph; export it with `elec export "
                              f"RUN --out {bundle} --format {runtime} --force`, or serve with "
                              f"--runtime eager")
        schema = FeatureSchema.load(bundle / "schema.json")
        items = (load_file(str(bundle / ITEMS_FILE))
                 if manifest.get("item_lookup") else None)
        if runtime == "torchscript":
            module = torch.jit.load(str(bundle / "model.torchscript"))
        elif runtime == "onnx":
            module = OnnxModule(bundle / "model.onnx")
        else:
            network = CTRNetwork(schema, ModelConfig.model_validate(manifest["model"]),
                                 extra_fields=int(items is not None))
            network.load_state_dict(load_file(str(bundle / "model.safetensors")))
            module = serving_module(network, schema, items is not None)
        return cls(module, schema, manifest, items, runtime)

    def predict_proba(self, rows: Sequence[dict]) -> np.ndarray:
        """Probabilities of a click, float32 (len(rows),)."""
        if not rows:
            return np.zeros(0, dtype=np.float32)
        items = None if self.items is None else self.items.rows(rows)
        return self.score(self._encoded(self.encoder.encode_rows(rows), items))

    def encode_columns(self, columns: Mapping[str, Sequence], rows: int) -> Encoded:
        """Rows given as columns (field -> one value per row; an absent field is missing),
        encoded as ``predict_proba`` encodes rows: the same ids and errors."""
        features = self.encoder.encode_columns(columns, rows,
                                               columnwise=rows >= RowEncoder.COLUMNWISE)
        items = None
        if self.items is not None:
            fields = [f.name for f in self.items.fields if f.name in columns]
            items = self.items.rows([{f: columns[f][r] for f in fields} for r in range(rows)])
        return self._encoded(features, items)

    def predict_table(self, table: pa.Table | pa.RecordBatch) -> np.ndarray:
        """``predict_proba`` of a table's rows (column by column: the same encodings)."""
        if not table.num_rows:
            return np.zeros(0, dtype=np.float32)
        items = None if self.items is None else self.items.table_rows(table)
        return self.score(self._encoded(self.encoder.encode_table(table), items))

    @staticmethod
    def _encoded(features: EncodedFeatures, items: torch.Tensor | None) -> Encoded:
        return Encoded(features.single, features.multi_matrix(), items)

    @torch.inference_mode()
    def score(self, encoded: Encoded) -> np.ndarray:
        """Probabilities of encoded rows (one forward pass)."""
        if not len(encoded):
            return np.zeros(0, dtype=np.float32)
        inputs = [torch.from_numpy(encoded.single), torch.from_numpy(encoded.multi)]
        return self.module(*inputs, *([] if encoded.items is None else [encoded.items])).numpy()


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxModule:
    """The bundle's ONNX graph in an ONNX Runtime session, called as the torch modules are
    (tensors in, probabilities out), with as many threads as torch uses."""

    def __init__(self, path: Path):
        try:
            import onnxruntime
        except ImportError:
            raise BundleError("--runtime onnx needs ONNX Runtime: pip install 'elec[onnx]'"
                              ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: on cores shared with other work (other
        # workers, the event loop) spinning steals the time a pass needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def eval(self) -> OnnxModule:
        return self

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        feed = {name: (tensor.float() if tensor.is_floating_point() else tensor).numpy()
                for name, tensor in zip(self.names, inputs, strict=True)}
        return torch.from_numpy(self.session.run(None, feed)[0])


class ItemLookup:
    """Each row's vector of the bundle's item table, found by its item text (the item
    fields rendered alone, as in training). An item the table lacks reads zeros: what the
    network read in training for the rows whose LM field was dropped (gain.field_dropout).

    The table can grow while requests are scored (``extend``): a lookup reads the index
    and the vectors from one snapshot."""

    def __init__(self, lookup: dict, items: dict[str, torch.Tensor]):
        self.fields = [FieldSpec.model_validate(f) for f in lookup["fields"]]
        self.text = TextConfig.model_validate(lookup["text"])
        texts, _, vectors = read_item_checkpoint(items)
        self._table = ({text: row for row, text in enumerate(texts)},
                       torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])]))
        self.unknown = 0  # rows whose item the table lacked, since the predictor was made
        self._counting = threading.Lock()
        self.summarise = truncate(self.text.max_chars)
        self._texts: dict[tuple, str] = {}  # the item fields' values -> the item's text

    @property
    def index(self) -> dict[str, int]:
        return self._table[0]

    def extend(self, texts: list[str], vectors: torch.Tensor) -> None:
        """New items' texts and their projected vectors (texts the table lacks)."""
        index, table = self._table
        grown = {**index, **{text: len(index) + i for i, text in enumerate(texts)}}
        self._table = (grown, torch.cat([table[:-1], vectors.to(table.dtype), table[-1:]]))

    def lookup(self, texts: list[str]) -> torch.Tensor:
        """The vector of each item text; zeros for a text the table lacks."""
        index, table = self._table
        rows = np.fromiter((index.get(t, len(index)) for t in texts), np.int64, len(texts))
        with self._counting:
            self.unknown += int((rows == len(index)).sum())
        return table[torch.from_numpy(rows)]

    def texts(self, rows: Sequence[dict]) -> list[str]:
        """Each row's item text: rendered once, then remembered by the item fields' values
        (up to MEMO of them)."""
        texts = []
        for row in rows:
            try:
                key = tuple(_frozen(row.get(f.name)) for f in self.fields)
                text = self._texts.get(key)
            except TypeError:  # a value that cannot be a key: rendered every time
                key, text = None, None
            if text is None:
                text = render_rows([row], self.fields, self.summarise)[0]
                if key is not None and len(self._texts) < MEMO:
                    self._texts[key] = text
            texts.append(text)
        return texts

    def rows(self, rows: Sequence[dict]) -> torch.Tensor:
        """The item vector of each of a request's rows."""
        return self.lookup(self.texts(rows))

    def table_rows(self, table: pa.Table | pa.RecordBatch) -> torch.Tensor:
        missing = [f.name for f in self.fields if f.name not in table.schema.names]
        if missing:
            raise BundleError(f"the rows lack the item fields {missing} this bundle renders "
                              f"an item's text from")
        return self.lookup(render_items(pa.table(table) if isinstance(table, pa.RecordBatch)
                                          else table, self.fields, self.text))


def _frozen(value: object) -> object:
    """``value`` as a key, lists as tuples, and its type beside it (1 and 1.0 and True
    are one key to a dict, and may render apart)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if value != value:  # NaN equals nothing, itself included: one key for every NaN
        return (float, "nan")
    return (type(value), value)
