"""`tempme qa` end to end on a real clip with a tiny random LLaVA-OneVision saved to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

VIDEOS = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos").resolve()  # resolved: ../shared may be a link
CLIP = VIDEOS / "mmaction2__demo.mp4"


def _tokenizer():
    """A word-level tokenizer whose ids fit the tiny model (vocab 128, <video> = 121, <image> = 120)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<eos>"] + [f"w{i}" for i in range(118)] + ["<image>", "<video>"]
    words += "what are the people doing USER: ASSISTANT:".split()
    vocab = {w: i for i, w in enumerate(words[:128])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")


CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} {% for c in m['content'] %}{% if c['type'] == 'video' %}<video> "
    "{% elif c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}assistant {% endif %}"
)


@pytest.fixture(scope="module")
def processor_dir(tmp_path_factory):
    """The tiny model with a full LlavaOnevisionProcessor (chat template + video processor), as hub models ship."""
    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

    from tiny_llava import tiny_llava_onevision

    path = tmp_path_factory.mktemp("tiny-llava-ov-processor")
    tiny_llava_onevision().save_pretrained(path)
    tok = _tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    size = {"height": 32, "width": 32}
    LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size), video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tok, num_image_tokens=64, vision_feature_select_strategy="full", chat_template=CHAT_TEMPLATE,
    ).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tiny_llava import tiny_llava_onevision

    path = tmp_path_factory.mktemp("tiny-llava-ov")
    tiny_llava_onevision().save_pretrained(path)
    _tokenizer().save_pretrained(path)
    return path


@pytest.mark.skipif(not CLIP.exists(), reason="shared clips not present")
@pytest.mark.parametrize(
    "args, outer, inner",
    [
        (["--reducer", "holitom", "--retain", "0.1"], "holitom", "holitom-inner"),
        (["--reducer", "bvllm-clip", "--retain", "0.25", "--inner", "fastv", "--inner-layer", "1",
          "--clip-model", "tempme-tiny", "--clip-pretrained", "none"], "bvllm-clip", "fastv"),
    ],
    ids=["holitom", "bvllm"],
)
def test_qa_command_answers_with_reduced_tokens(model_dir, args, outer, inner):
    from tempme.app.cli import cli

    result = CliRunner().invoke(
        cli,
        ["qa", str(CLIP), "what are the people doing", "--model", str(model_dir), "--frames", "8",
         "--max-new-tokens", "3", "--json", *args],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    report = payload["report"]
    assert (report["outer"], report["inner"]) == (outer, inner)
    assert report["visual_tokens_in"] == 8 * 16
    retain = float(args[args.index("--retain") + 1])
    assert report["visual_tokens_out"] == {0.1: 13, 0.25: 32}[retain]
    assert isinstance(payload["answer"], str)
    assert report["tokens_per_layer"][0] > report["tokens_per_layer"][-1]


@pytest.mark.skipif(not CLIP.exists(), reason="shared clips not present")
def test_qa_command_with_a_full_processor(processor_dir):
    """The processor path: its chat template places the video, its video processor makes the pixels."""
    from tempme.app.cli import cli
    from tempme.llm.qa import build_inputs, load_model, read_frames

    model, processor, tokenizer = load_model(str(processor_dir), "cpu")
    assert processor is not None
    ids, pixels = build_inputs(model, processor, tokenizer, read_frames(CLIP, 4), "what are the people doing")
    assert int((ids == model.config.video_token_id).sum()) == 4 * 16 + 1 and pixels.shape == (1, 4, 3, 32, 32)
    result = CliRunner().invoke(cli, ["qa", str(CLIP), "what are the people doing", "--model", str(processor_dir),
                                      "--frames", "4", "--max-new-tokens", "2", "--json", "--reducer", "tome", "--retain", "0.5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])["report"]
    assert (report["visual_tokens_in"], report["visual_tokens_out"], report["inner"]) == (64, 32, "none")


def test_qa_command_rejects_bad_options(model_dir):
    from tempme.app.cli import cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["qa", str(CLIP), "q", "--model", str(model_dir), "--reducer", "nope"])
    assert bad.exit_code != 0 and "unknown outer reducer 'nope'" in bad.output
    bad = runner.invoke(cli, ["qa", str(CLIP), "q", "--model", str(model_dir), "--retain", "2"])
    assert bad.exit_code != 0 and "--retain must be in (0, 1]" in bad.output


def test_clip_frame_scores_are_per_frame_cosines():
    """Scores equal cosine(text, frame) from the encoder's own towers, independent of chunking."""
    import numpy as np

    from tempme.llm.clip_scores import clip_frame_scores, load_frame_scorer

    enc = load_frame_scorer("tempme-tiny", "none")
    frames = np.random.default_rng(0).integers(0, 255, (14, 48, 64, 3), dtype=np.uint8)
    scores = clip_frame_scores(enc, frames, "two people arm wrestling")
    assert scores.shape == (14,)
    with torch.inference_mode():
        x = enc.preprocess_frames(frames[:12])[None]
        ref = torch.nn.functional.normalize(enc.encode_frames(x)[0], dim=-1) @ enc.encode_text(["two people arm wrestling"])[0]
    torch.testing.assert_close(scores[:12], ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(clip_frame_scores(enc, frames[12:], "two people arm wrestling"), scores[12:], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="non-empty question"):
        clip_frame_scores(enc, frames, "  ")
