"""A tiny Whisper model built offline, for running faster-whisper end to end without a download.

:func:`build_tiny_whisper` makes, in a folder:

- a byte-level BPE tokenizer (``tokenizers``) trained on a few sentences, with Whisper's special
  tokens after the text tokens in Whisper's order (``<|endoftext|>`` first: faster-whisper
  decodes only ids below it, and the timestamp tokens start right after ``<|notimestamps|>``);
- ``transformers.WhisperForConditionalGeneration`` with tiny dimensions (d_model 64, 2 + 2
  layers) and random weights, except for the decoder's output path: the decoder layers' output
  projections are zeroed, so the last hidden state is the previous token's embedding (plus a
  small random position embedding), and the input embeddings and the (untied) output projection
  are set so that each step picks the next token of :data:`CHAIN`. Decoding therefore takes six
  steps, ``<|0.00|> going to the beach <|2.00|> <|endoftext|>``, whatever the audio (a purely
  random decoder rambles to 448 tokens and through every temperature fallback: two minutes
  for a 10 s clip here). The encoder and the decoder's cross-attention stay random: they give the
  word timings (faster-whisper's DTW over the alignment heads' cross-attention), and Silero VAD
  (real, shipped with faster-whisper) decides where speech is;
- the same model converted by ``ctranslate2.converters.TransformersConverter`` into ``ct2/``
  (``model.bin``, ``config.json``, ``vocabulary.json``, ``tokenizer.json``): a directory that
  ``--asr-model PATH`` accepts.

The model is English-only (its vocabulary is far below Whisper's multilingual 51,865), so
faster-whisper skips language detection and reports ``en``.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]
N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> every 20 ms, as in Whisper
CHAIN_WORDS = ["going", "to", "the", "beach"]
END_TIMESTAMP_S = 2.0
CORPUS = ["we are going to the beach tomorrow morning", "i would like a cup of coffee"]


def build_tiny_whisper(folder: Path, seed: int = 0) -> Path:
    """Build the model (see the module docstring) under ``folder``; returns the CTranslate2
    directory."""
    import ctranslate2
    import tokenizers
    import torch
    from tokenizers import decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, WhisperConfig, WhisperForConditionalGeneration

    hf, ct2 = Path(folder) / "hf", Path(folder) / "ct2"
    hf.mkdir(parents=True, exist_ok=True)
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS * 10, trainer)
    n_text = tok.get_vocab_size()
    tok.add_special_tokens(SPECIAL)
    ids = {t: tok.token_to_id(t) for t in SPECIAL}
    assert ids["<|endoftext|>"] == n_text and ids["<|notimestamps|>"] == n_text + len(SPECIAL) - 1
    tok.save(str(hf / "tokenizer.json"))
    PreTrainedTokenizerFast(
        tokenizer_file=str(hf / "tokenizer.json"),
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:],
    ).save_pretrained(hf)

    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    ts0 = ids["<|notimestamps|>"] + 1
    words = [tok.token_to_id("Ġ" + w) for w in CHAIN_WORDS]  # "Ġ": byte-level BPE's leading space
    assert None not in words, "the chain's words must be single tokens"
    chain = [sot, ts0, *words, ts0 + round(END_TIMESTAMP_S / 0.02), eot]

    cfg = WhisperConfig(
        vocab_size=n_text + len(SPECIAL) + N_TIMESTAMPS,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,  # 30 s of 10 ms mel frames after the stride-2 convolution
        max_target_positions=448,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(cfg)
    dec = model.model.decoder
    with torch.no_grad():
        for layer in dec.layers:  # each layer adds nothing to the residual stream
            for lin in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                lin.weight.zero_()
                if lin.bias is not None:
                    lin.bias.zero_()
        emb, out = dec.embed_tokens.weight, model.proj_out.weight  # (V, 64) each
        for i, (prev, nxt) in enumerate(zip(chain, chain[1:])):
            emb[prev] = 0.0
            emb[prev, i] = 1.0  # after the final layer norm: about 8 along axis i, -0.13 elsewhere
            out[nxt] = 0.0
            out[nxt, i] = 6.0  # logit about 48 for the chain's next token, about 0 for the rest
        # the word-timing pass re-reads the text after <|notimestamps|> instead of <|0.00|>:
        # the same next token, so the words' probabilities come out as those of decoding
        emb[ids["<|notimestamps|>"]] = emb[ts0]
    model.save_pretrained(hf)
    ctranslate2.converters.TransformersConverter(str(hf), copy_files=["tokenizer.json"]).convert(str(ct2), force=True)
    return ct2
