"""`tempme qa` end to end on a real clip with a tiny random LLaVA-OneVision saved to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

VIDEOS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
).resolve()  # resolved: ../shared may be a link
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
    from tiny_llava import tiny_llava_onevision
    from transformers import LlavaOnevisionImageProcessor, LlavaOnevisionProcessor, LlavaOnevisionVideoProcessor

    path = tmp_path_factory.mktemp("tiny-llava-ov-processor")
    tiny_llava_onevision().save_pretrained(path)
    tok = _tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    size = {"height": 32, "width": 32}
    LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size),
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tok,
        num_image_tokens=64,
        vision_feature_select_strategy="full",
        chat_template=CHAT_TEMPLATE,
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
        (
            [
                "--reducer",
                "bvllm-clip",
                "--retain",
                "0.25",
                "--inner",
                "fastv",
                "--inner-layer",
                "1",
                "--clip-model",
                "tempme-tiny",
                "--clip-pretrained",
                "none",
            ],
            "bvllm-clip",
            "fastv",
        ),
    ],
    ids=["holitom", "bvllm"],
)
def test_qa_command_answers_with_reduced_tokens(model_dir, args, outer, inner):
    from tempme.app.cli import cli

    result = CliRunner().invoke(
        cli,
        [
            "qa",
            str(CLIP),
            "what are the people doing",
            "--model",
            str(model_dir),
            "--frames",
            "8",
            "--max-new-tokens",
            "3",
            "--json",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    report = payload["report"]
    assert (report["outer"], report["inner"]) == (outer, inner)
    assert report["visual_tokens_in"] == 8 * 16
    if outer == "holitom":  # the reference's per-frame ceilings: about 10 % of 128, never fewer than 13
        assert 13 <= report["visual_tokens_out"] <= 13 + 8 + 4
    else:
        assert report["visual_tokens_out"] == 32  # exactly 25 % of 8 x 16
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
    result = CliRunner().invoke(
        cli,
        [
            "qa",
            str(CLIP),
            "what are the people doing",
            "--model",
            str(processor_dir),
            "--frames",
            "4",
            "--max-new-tokens",
            "2",
            "--json",
            "--reducer",
            "tome",
            "--retain",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])["report"]
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
        ref = (
            torch.nn.functional.normalize(enc.encode_frames(x)[0], dim=-1)
            @ enc.encode_text(["two people arm wrestling"])[0]
        )
    torch.testing.assert_close(scores[:12], ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        clip_frame_scores(enc, frames[12:], "two people arm wrestling"), scores[12:], atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError, match="non-empty question"):
        clip_frame_scores(enc, frames, "  ")


def _mc_files(tmp_path):
    """The same three questions about the real clip in the NExT-QA-MC and the MVBench layouts."""
    rows = [
        ("what are the people doing", ["w1", "w2", "w3"], 1),
        ("what are the people", ["w4", "w5", "w6", "w7"], 3),
        ("what people", ["w8", "w9"], 0),
    ]
    nextqa = [
        {"video": CLIP.stem, "question": q, **{f"a{i}": o for i, o in enumerate(opts)}, "answer": a, "qid": f"n{k}"}
        for k, (q, opts, a) in enumerate(rows)
    ]
    mvbench = [{"video": CLIP.name, "question": q, "candidates": opts, "answer": opts[a]} for q, opts, a in rows]
    (tmp_path / "nextqa.json").write_text(json.dumps(nextqa))
    (tmp_path / "mvbench.jsonl").write_text("\n".join(json.dumps(r) for r in mvbench))
    return tmp_path / "nextqa.json", tmp_path / "mvbench.jsonl"


def test_bench_layouts_prompt_and_answer_parsing(tmp_path):
    from tempme.llm.qa_eval import load_bench, mc_prompt, parse_choice

    nextqa, mvbench = _mc_files(tmp_path)
    a, b = load_bench(nextqa), load_bench(mvbench)
    assert [(i.video, i.options, i.answer) for i in a] == [(i.video, i.options, i.answer) for i in b]
    assert a[0].video == CLIP.name and a[1].options == ("w4", "w5", "w6", "w7") and a[1].answer == 3
    assert (
        mc_prompt(a[2])
        == "what people\n(A) w8\n(B) w9\nAnswer with the option's letter from the given choices directly."
    )
    assert [parse_choice(t, 4) for t in ["B", "(C) w6", "The answer is D.", "E", "none", "a"]] == [
        1,
        2,
        3,
        None,
        None,
        None,
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"video": "x", "question": "q", "candidates": ["a", "b"], "answer": "c"}]))
    with pytest.raises(ValueError, match="row 0: .*not one of the candidates"):
        load_bench(bad)


@pytest.mark.skipif(not CLIP.exists(), reason="shared clips not present")
def test_qa_eval_reports_accuracy_tokens_flops_and_ttft_per_reducer(model_dir, tmp_path):
    from tempme.app.cli import cli

    from tempme.llm.qa_eval import parse_choice

    nextqa, mvbench = _mc_files(tmp_path)
    runs = {}
    for bench in (nextqa, mvbench):
        result = CliRunner().invoke(
            cli,
            [
                "qa-eval",
                "--bench",
                str(bench),
                "--videos",
                str(VIDEOS),
                "--model",
                str(model_dir),
                "--reducer",
                "holitom",
                "--reducer",
                "uniform",
                "--retain",
                "0.25",
                "--frames",
                "4",
                "--max-new-tokens",
                "2",
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        runs[bench.name] = json.loads(result.stdout[result.stdout.index("[") :])
    for scores in runs.values():
        assert [s["setting"] for s in scores] == ["holitom+holitom-inner@0.25", "uniform+none@0.25"]
        for s in scores:
            recs = s["records"]
            assert s["questions"] == len(recs) == 3
            assert [r["answer"] for r in recs] == [1, 3, 0]
            assert all(r["choice"] == parse_choice(r["text"], n) for r, n in zip(recs, (3, 4, 2)))
            assert s["accuracy"] == pytest.approx(sum(r["correct"] for r in recs) / 3)
            assert s["visual_tokens_in"] == 4 * 16 and s["formula_tflops"] > 0 and s["ttft_seconds"] > 0
        assert scores[1]["visual_tokens_out"] == 16  # uniform: exactly 25 % of 4 x 16
    # the two layouts are the same questions: the same answers
    same = lambda recs: [{k: v for k, v in r.items() if k not in ("qid", "ttft_seconds")} for r in recs]  # noqa: E731
    assert same(runs["nextqa.json"][1]["records"]) == same(runs["mvbench.jsonl"][1]["records"])
    table = CliRunner().invoke(
        cli,
        [
            "qa-eval",
            "--bench",
            str(nextqa),
            "--videos",
            str(VIDEOS),
            "--model",
            str(model_dir),
            "--reducer",
            "tome",
            "--frames",
            "4",
            "--max-new-tokens",
            "1",
            "--limit",
            "1",
        ],
    )
    assert table.exit_code == 0, table.output
    assert "tome+none@0.1" in table.stdout and "acc %" in table.stdout
    missing = CliRunner().invoke(
        cli, ["qa-eval", "--bench", str(nextqa), "--videos", str(tmp_path), "--model", str(model_dir)]
    )
    assert missing.exit_code == 1 and "error: video" in missing.output and "not found" in missing.output
    nowhere = CliRunner().invoke(
        cli, ["qa-eval", "--bench", str(nextqa), "--videos", str(VIDEOS), "--model", str(tmp_path / "none")]
    )
    assert nowhere.exit_code == 1 and "cannot load LLaVA-OneVision weights" in nowhere.output


def test_qa_eval_counts_right_and_wrong_answers_of_a_model_that_always_answers_b(tmp_path):
    """A tiny model whose head is biased to the token "B" answers (B) to every question: the two
    questions whose answer is B count as right, the two others as wrong, so accuracy is 2 / 4."""
    import numpy as np
    from tiny_llava import tiny_llava_onevision
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tempme.llm.pipeline import VideoQAPipeline
    from tempme.llm.qa import build_inputs
    from tempme.llm.qa_eval import MCItem, evaluate

    words = ["<unk>", "<eos>", "A", "B", "C", "D", "USER:", "ASSISTANT:", "what", "is", "it"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    model = tiny_llava_onevision()
    head = torch.nn.Linear(model.config.text_config.hidden_size, model.config.text_config.vocab_size, bias=True)
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.zero_()
        head.bias[words.index("B")] = 10.0  # every position's logits put "B" first
    model.lm_head = head
    items = [
        MCItem(f"v{i}.mp4", "what is it", ("x", "y", "z"), answer, f"q{i}") for i, answer in enumerate([1, 0, 1, 2])
    ]
    for item in items:
        (tmp_path / item.video).write_bytes(b"")  # evaluate checks the files exist; frames come from read_frames
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    pipe = VideoQAPipeline(model, tokenizer=tokenizer)
    score = evaluate(
        items,
        tmp_path,
        pipe,
        lambda rgb, prompt: build_inputs(model, None, tokenizer, rgb, prompt),
        lambda path, n: frames[:n],
        4,
        "none+none",
        max_new_tokens=2,
    )
    assert [r["text"] for r in score.records] == ["B B"] * 4
    assert [r["choice"] for r in score.records] == [1] * 4
    assert [r["correct"] for r in score.records] == [True, False, True, False]
    assert score.accuracy == 0.5 and score.questions == 4


@pytest.mark.skipif(not CLIP.exists(), reason="shared clips not present")
def test_vqtoken_runs_the_references_elbow_rule_by_default(model_dir):
    """`--reducer vqtoken` chooses K by the reference's elbow rule (K in 12 .. 22, under the budget of
    32); `--fixed-k` (our extension) uses K = the budget; qa-eval labels the `none` row without a budget."""
    from tempme.app.cli import cli

    from tempme.llm.cli import setting_label

    base = ["qa", str(CLIP), "what are the people doing", "--model", str(model_dir), "--frames", "8"]
    base += ["--max-new-tokens", "1", "--json", "--reducer", "vqtoken", "--retain", "0.25"]
    outs = []
    for extra in ([], ["--fixed-k"], ["--adaptive"]):
        result = CliRunner().invoke(cli, base + extra)
        assert result.exit_code == 0, result.output
        outs.append(json.loads(result.stdout[result.stdout.index("{") :])["report"]["visual_tokens_out"])
    assert 12 <= outs[0] <= 22 and outs[1] == 32 and outs[2] == outs[0]
    assert setting_label("none", "fastv", 0.1) == "none+fastv"
    assert setting_label("tome", "none", 0.25) == "tome+none@0.25"
