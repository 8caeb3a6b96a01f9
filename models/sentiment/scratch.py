"""A small BERT from random weights, with a WordPiece tokenizer learned from the training texts.

:mod:`models.sentiment.finetune` ``--scratch HIDDEN LAYERS HEADS FFN`` starts from it
where no pretrained model knows the language (all-MiniLM-L6-v2's vocabulary has 244
CJK characters, 26% of the character occurrences in the Chinese training reviews).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from models.sentiment.tokens import TextEncoder

log = logging.getLogger(__name__)


def scratch_base(folder: Path, texts: Sequence[str], args: argparse.Namespace) -> None:
    """A random BERT of size ``args.scratch`` and a WordPiece tokenizer trained on ``texts``.

    The tokenizer is BERT's (lower case, CJK characters split one by one), so Chinese
    becomes characters and other scripts word pieces.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    encoder = TextEncoder(tok, args.max_length)  # train on what serving will tokenize
    trainer = WordPieceTrainer(vocab_size=args.vocab, min_frequency=3, special_tokens=special)
    tok.train_from_iterator((encoder.prepare(t) for t in texts), trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.no_truncation()
    hidden, layers, heads, ffn = args.scratch
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        max_position_embeddings=max(args.max_length, 64),
        type_vocab_size=1,
        pad_token_id=0,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]"
    )
    fast.model_input_names = ["input_ids", "attention_mask"]
    fast.save_pretrained(folder)
    log.info("scratch base %s: vocabulary %d, %s", folder, tok.get_vocab_size(), args.scratch)
