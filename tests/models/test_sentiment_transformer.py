"""Transformer models in the engine, end to end on a tiny random BERT built here.

The checkpoint is a randomly initialised ``BertForSequenceClassification`` with a
WordPiece tokenizer trained on a few sentences, so nothing is downloaded; the tests
export it with ``python -m models.sentiment.export_hf`` and serve it through the
engine. They skip when torch or transformers (the ``train`` extra) are missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.sentiment import card as cards
from models.sentiment.engine import DEFAULT_MODEL_DIR, SentimentEngine, verify_model
from models.sentiment.exceptions import InvalidModelError

torch = pytest.importorskip("torch", reason="needs the train extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs transformers (train extra)")
onnx = pytest.importorskip("onnx", reason="needs onnx (train extra)")

SENTENCES = [
    "great phone, works perfectly and the battery lasts",
    "terrible quality, it broke after one day",
    "i love this movie, wonderful acting",
    "boring and pointless, a waste of money",
    "the food was cold and the delivery was late",
    "fast delivery, tasty food, will order again",
] * 3
TEXTS = ["great food", "it broke", "", "   ", "👍👍", "cold " * 400, "wonderful acting, love it"]


def _checkpoint(folder: Path, classes: dict[int, str], seed: int = 0) -> Path:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(SENTENCES, WordPieceTrainer(vocab_size=200, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]"
    )
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(classes),
        id2label=classes,
        label2id={v: k for k, v in classes.items()},
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():  # a head strong enough that classes differ clearly
        model.classifier.weight.mul_(20)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), {0: "NEG", 1: "POS"})


@pytest.fixture(scope="module")
def exported(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.sentiment import export_hf

    out = tmp_path_factory.mktemp("exported") / "tiny"
    assert export_hf.main([str(checkpoint), str(out), "--max-length", "32", "--name", "tiny"]) == 0
    return out


@pytest.fixture
def copy(exported: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exported, tmp_path / "m"))


def _torch_probs(checkpoint: Path, engine: SentimentEngine, texts: list[str]) -> np.ndarray:
    model = transformers.BertForSequenceClassification.from_pretrained(checkpoint).eval()
    encoded = engine.tiers[0].inputs.encoder.encode(texts)  # type: ignore[attr-defined]
    feeds = {k: torch.from_numpy(v) for k, v in encoded.feeds().items()}
    with torch.no_grad():
        probs = torch.softmax(model(**feeds).logits, dim=-1).numpy()
    probs[encoded.empty] = 0.5
    return probs


def test_export_writes_files_tokenizer_and_a_card_with_the_label_mapping(exported: Path) -> None:
    card = cards.read(exported)
    assert card is not None and card["kind"] == "transformer"
    assert card["labels"] == ["negative", "positive"]
    assert card["source_labels"] == {"0": "NEG", "1": "POS"}
    assert card["output"] == "logits" and card["tokenizer"]["max_length"] == 32
    assert card["default_file"] == "model.int8.onnx" and card["gpu_file"] == "model.fp16.onnx"
    assert set(card["inputs"]) == {"input_ids", "attention_mask", "token_type_ids"}
    assert set(card["files"]) == {"fp32", "int8", "fp16"}
    assert "sha256" not in card["files"]["fp16"] and "derive" in card["files"]["fp16"]["rebuild"]
    assert card["files"]["int8"]["quantization"].startswith("int8 weights")
    for kind in ("fp32", "int8"):
        entry = card["files"][kind]
        assert cards.digest((exported / entry["path"]).read_bytes()) == entry["sha256"]
    assert "NEG -> negative" in (exported / "card.md").read_text()


def test_fp32_onnx_through_the_engine_matches_pytorch(checkpoint: Path, exported: Path) -> None:
    engine = SentimentEngine.load(exported / "model.onnx", providers="cpu")
    texts = [t for t in TEXTS if t.strip()]
    expected = _torch_probs(checkpoint, engine, texts)
    np.testing.assert_allclose(engine.probabilities(texts), expected, atol=1e-4)
    assert engine.labels == ("negative", "positive")


def test_int8_default_serves_and_verifies(exported: Path) -> None:
    engine = verify_model(exported)
    assert engine.path.name == "model.int8.onnx" and engine.version.startswith("tiny+")
    predictions = engine.predict(TEXTS)
    assert len(predictions) == len(TEXTS)
    assert predictions[2] == predictions[3] == (0.0, "neutral", 0.5)  # empty, blank
    for p in predictions:
        assert -1 <= p.score <= 1 and p.label in ("negative", "neutral", "positive")


def test_long_texts_are_truncated_to_max_length(exported: Path) -> None:
    engine = SentimentEngine.load(exported, providers="cpu")
    encoder = engine.tiers[0].inputs.encoder  # type: ignore[attr-defined]
    encoded = encoder.encode(["cold " * 250_000, "great"])  # ~1 MB
    assert encoded.lengths.tolist()[0] == 32
    assert len(engine.predict(["cold " * 250_000])) == 1


def test_io_binding_gives_the_same_numbers(exported: Path) -> None:
    plain = SentimentEngine.load(exported, providers="cpu", io_binding=False)
    bound = SentimentEngine.load(exported, providers="cpu", io_binding=True)
    assert bound.tiers[0].io_binding and not plain.tiers[0].io_binding
    np.testing.assert_allclose(bound.probabilities(TEXTS), plain.probabilities(TEXTS), atol=1e-6)


def test_fp16_file_agrees_with_fp32(exported: Path) -> None:
    fp32 = SentimentEngine.load(exported / "model.onnx", providers="cpu")
    try:
        fp16 = SentimentEngine.load(exported / "model.fp16.onnx", providers="cpu")
    except InvalidModelError as exc:
        pytest.skip(f"this onnxruntime cannot run fp16 on the CPU: {exc}")
    assert fp16.tiers[0].precision == "fp16"
    np.testing.assert_allclose(fp16.probabilities(TEXTS), fp32.probabilities(TEXTS), atol=0.02)


def test_int8_weights_keep_each_score_independent_of_its_batch(exported: Path) -> None:
    fp32 = SentimentEngine.load(exported / "model.onnx", providers="cpu")
    int8 = SentimentEngine.load(exported, providers="cpu", max_batch=3)
    batch = int8.probabilities(TEXTS)
    single = np.concatenate([int8.probabilities([t]) for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(batch, fp32.probabilities(TEXTS), atol=0.05)
    ops = {n.op_type for n in onnx.load(str(exported / "model.int8.onnx")).graph.node}
    assert "DequantizeLinear" in ops and "DynamicQuantizeLinear" not in ops


def test_the_gpu_file_is_rebuilt_from_the_int8_file(copy: Path) -> None:
    from models.sentiment import derive

    before = (copy / "model.fp16.onnx").read_bytes()
    (copy / "model.fp16.onnx").unlink()
    (copy / "model.onnx").unlink()  # not needed: the fp32 file is not committed
    assert derive.main([str(copy)]) == 0
    assert (copy / "model.fp16.onnx").read_bytes() == before
    fp16 = verify_model(copy / "model.fp16.onnx")
    int8 = SentimentEngine.load(copy, providers="cpu")
    np.testing.assert_allclose(fp16.probabilities(TEXTS), int8.probabilities(TEXTS), atol=0.03)
    assert derive.main([str(copy / "nowhere")]) == 2


def test_gpu_first_without_a_gpu_or_gpu_file_serves_the_cpu_file(copy: Path) -> None:
    assert SentimentEngine.load(copy, providers=("CUDA", "CPU")).path.name == "model.int8.onnx"
    (copy / "model.fp16.onnx").unlink()
    assert SentimentEngine.load(copy, providers=("CUDA", "CPU")).path.name == "model.int8.onnx"


def _edit(folder: Path, **changes: object) -> None:
    card = json.loads((folder / "card.json").read_text())
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            card[outer][inner] = value
        else:
            card[key] = value
    (folder / "card.json").write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"labels": ["negative", "neutral", "positive"]}, "2 output classes but"),
        ({"labels": ["bad", "good"]}, "must map every output class"),
        ({"output": "probabilities"}, "not a probability per class"),
        ({"output": "scores"}, "output must be 'logits' or 'probabilities'"),
        ({"tokenizer.sha256": "0" * 64}, "does not match the sha256"),
        ({"tokenizer.max_length": 1}, "cannot load it"),
    ],
)
def test_verify_rejects_a_broken_card_with_the_reason(
    copy: Path, change: dict[str, object], reason: str
) -> None:
    _edit(copy, **change)
    with pytest.raises(InvalidModelError, match=reason):
        verify_model(copy)


def test_verify_rejects_a_missing_tokenizer_or_an_unlisted_file(copy: Path) -> None:
    shutil.copy(copy / "model.onnx", copy / "other.onnx")
    with pytest.raises(InvalidModelError, match="not listed"):
        verify_model(copy / "other.onnx")
    (copy / "tokenizer.json").unlink()
    with pytest.raises(InvalidModelError, match="no tokenizer"):
        verify_model(copy)


def test_a_transformer_file_without_its_card_is_rejected_clearly(
    exported: Path, tmp_path: Path
) -> None:
    shutil.copy(exported / "model.onnx", tmp_path / "model.onnx")
    with pytest.raises(InvalidModelError, match=r"card.json and tokenizer.json beside it"):
        verify_model(tmp_path / "model.onnx")


def test_three_classes_with_neutral(tmp_path: Path) -> None:
    from models.sentiment import export_hf

    ckpt = _checkpoint(tmp_path / "ckpt3", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, seed=1)
    assert export_hf.main([str(ckpt), str(tmp_path / "no")]) == 2  # names say nothing
    out = tmp_path / "three"
    args = [str(ckpt), str(out), "--labels", "negative", "neutral", "positive"]
    args += ["--max-length", "32", "--no-fp16"]
    assert export_hf.main(args) == 0
    engine = verify_model(out)
    assert engine.labels == ("negative", "neutral", "positive")
    probs = engine.probabilities(TEXTS)
    assert probs.shape == (len(TEXTS), 3)
    empty = engine.predict([""])[0]
    assert empty == (0.0, "neutral", 1.0)
    for p, row in zip(engine.predict(TEXTS), probs, strict=True):
        assert p.label == engine.labels[int(row.argmax())]
        assert p.score == pytest.approx(float(row[2] - row[0]), abs=1e-6)


def test_router_sends_each_text_to_the_tier_of_its_script(exported: Path, tmp_path: Path) -> None:
    folder = tmp_path / "router"
    folder.mkdir()
    routes = {"cjk": str(DEFAULT_MODEL_DIR), "other": str(exported)}
    card = {"kind": "router", "name": "both", "version": "both-1", "languages": ["zh", "en"]}
    (folder / "card.json").write_text(json.dumps(card | {"routes": routes, "cjk_share": 0.3}))
    engine = verify_model(folder)
    assert engine.version == "both-1" and engine.path == folder / "card.json"
    fast = SentimentEngine.load(DEFAULT_MODEL_DIR, providers="cpu")
    tiny = SentimentEngine.load(exported, providers="cpu")
    texts = ["质量很好，非常满意", "great food", "菜都凉了 cold", "it broke", ""]
    zh, other = fast.predict(texts[0:3:2]), tiny.predict(texts[1::2] + [""])  # each tier's share
    expected = [zh[0], other[0], zh[1], other[1], other[2]]
    got = engine.predict(texts)
    for g, e in zip(got, expected, strict=True):
        assert g.label == e.label and g.score == pytest.approx(e.score, abs=1e-6)


def test_a_router_with_bad_routes_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text(json.dumps({"kind": "router", "routes": {"zh": "x"}}))
    with pytest.raises(InvalidModelError, match="routes must name exactly"):
        SentimentEngine.load(tmp_path)


def test_serving_tokens_equal_the_hf_tokenizer_the_checkpoint_trained_with(
    checkpoint: Path, exported: Path
) -> None:
    texts = ["Great food!", "it BROKE after one day", "cold " * 60, "naïve café", ""]
    hf = transformers.AutoTokenizer.from_pretrained(checkpoint)
    expected = hf(texts, truncation=True, max_length=32)["input_ids"]
    engine = SentimentEngine.load(exported, providers="cpu")
    encoded = engine.tiers[0].inputs.encoder.encode(texts)  # type: ignore[attr-defined]
    got = [
        encoded.ids[a:b].tolist()
        for a, b in zip(encoded.offsets[:-1], encoded.offsets[1:], strict=True)
    ]
    assert got == expected
    assert encoded.empty.tolist() == [False] * 4 + [True]


def test_an_ensemble_folder_averages_its_members(exported: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ensemble"
    folder.mkdir()
    card = {"kind": "ensemble", "name": "mix", "version": "mix-1", "languages": ["zh"]}
    card |= {"members": [str(DEFAULT_MODEL_DIR), str(exported)], "weights": [0.25, 0.75]}
    (folder / "card.json").write_text(json.dumps(card))
    engine = verify_model(folder)
    fast = SentimentEngine.load(DEFAULT_MODEL_DIR, providers="cpu")
    tiny = SentimentEngine.load(exported, providers="cpu")
    expected = 0.25 * fast.probabilities(TEXTS) + 0.75 * tiny.probabilities(TEXTS)
    np.testing.assert_allclose(engine.probabilities(TEXTS), expected, atol=1e-6)
    assert engine.version == "mix-1"
    router = tmp_path / "router"
    router.mkdir()
    routes = {"cjk": "../ensemble", "other": str(exported)}
    (router / "card.json").write_text(json.dumps({"kind": "router", "routes": routes}))
    assert verify_model(router).predict(["质量很好"])[0] == engine.predict(["质量很好"])[0]
    card["weights"] = [0.5, 0.6]
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(InvalidModelError, match="sum to 1"):
        SentimentEngine.load(folder)


def test_a_scratch_base_exports_and_serves(tmp_path: Path) -> None:
    import argparse

    from models.sentiment import export_hf
    from models.sentiment.scratch import scratch_base

    args = argparse.Namespace(max_length=32, vocab=120, scratch=[16, 1, 2, 32])
    scratch_base(tmp_path / "base", SENTENCES + ["质量很好，非常满意"] * 3, args)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        tmp_path / "base", num_labels=2, id2label={0: "negative", 1: "positive"}
    )
    model.save_pretrained(tmp_path / "ckpt")
    shutil.copy(tmp_path / "base" / "tokenizer.json", tmp_path / "ckpt")
    assert (
        export_hf.main([str(tmp_path / "ckpt"), str(tmp_path / "out"), "--max-length", "32"]) == 0
    )
    engine = verify_model(tmp_path / "out")
    card = cards.read(tmp_path / "out")
    assert card is not None and card["inputs"] == ["input_ids", "attention_mask"]
    encoded = engine.tiers[0].inputs.encoder.encode(["质量很好"])  # type: ignore[attr-defined]
    assert encoded.lengths.tolist() == [6]  # [CLS], one token per character, [SEP]
