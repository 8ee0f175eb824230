"""Tokenizers: the real one from a SmolVLM directory/hub id, or a byte-level one made in code.

The byte-level tokenizer has no merges, so every UTF-8 byte is one token: it needs no download and
is used by the tiny preset (tests, simulation demo). It is saved with each checkpoint.
"""

from __future__ import annotations

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

_SPECIAL_TOKENS = ("<pad>", "<unk>", "<eos>")
BYTE_TOKENIZER_VOCAB_SIZE = len(_SPECIAL_TOKENS) + 256


def build_byte_tokenizer() -> PreTrainedTokenizerBase:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: index for index, token in enumerate(_SPECIAL_TOKENS)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>"
    )
    assert len(tokenizer) == BYTE_TOKENIZER_VOCAB_SIZE
    return tokenizer


def load_pretrained_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(name_or_path)
