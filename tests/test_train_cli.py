"""`tempme synth`, `tempme train` and `tempme eval` end to end on a tiny synthetic dataset."""

from __future__ import annotations

import json

import pytest
from tempme.app.cli import cli
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """One random tiny CLIP saved as a local checkpoint, so every command loads the same weights."""
    import open_clip
    import torch

    import tempme.weights  # noqa: F401  (registers the tempme-tiny config)

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tempme-tiny.pt"
    torch.save(open_clip.create_model("tempme-tiny").state_dict(), path)
    return path


@pytest.fixture(scope="module")
def TINY(tiny_weights):
    return ["--model", "tempme-tiny", "--pretrained", str(tiny_weights), "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "synth"
    result = CliRunner().invoke(
        cli, ["synth", str(out), "--num-train", "10", "--num-test-twins", "2", "--num-test-single", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_synth_writes_msrvtt_layout(data):
    assert {"MSRVTT_data.json", "MSRVTT_train.9k.csv", "MSRVTT_JSFUSION_test.csv", "videos"} <= {
        p.name for p in data.iterdir()
    }
    assert len(list((data / "videos").glob("video*.mp4"))) == 15
    again = CliRunner().invoke(cli, ["synth", str(data)])
    assert again.exit_code == 1 and "already holds a dataset" in again.output


def test_train_then_eval_with_the_adapter(data, tmp_path, TINY):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            *TINY,
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--micro-batch-size",
            "4",
            "--val-videos",
            "2",
            "--num-workers",
            "0",
            "--randaug",
            "",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "final (step 2), MSR-VTT 1k-A test" in result.output and "R@1" in result.output
    results = json.loads((run / "results.json").read_text())
    assert results["final"]["test"]["t2v"]["num_queries"] == 5

    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--data",
            str(data),
            *TINY,
            "--adapter",
            str(run / "best"),
            "--output",
            str(out),
            "--num-workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "t2v" in result.output and "v2t" in result.output and "R-Sum" in result.output
    metrics = json.loads(out.read_text())
    assert metrics["num_queries"] == 5 and metrics["encoder"]["adapter_hash"]
    assert metrics["t2v"] == results["selected"]["test"]["t2v"]  # same checkpoint, same numbers


def test_config_file_and_bad_override(data, tmp_path, TINY):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"batch_size": 8, "epochs": 3}))
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "r"),
            *TINY,
            "--config",
            str(cfg),
            "--micro-batch-size",
            "16",
        ],
    )
    assert result.exit_code == 1
    assert "micro_batch_size must be in [1, batch_size=8], got 16" in result.output


def test_zero_shot_and_missing_videos(data, tmp_path, TINY):
    out = tmp_path / "zs.json"
    result = CliRunner().invoke(
        cli, ["eval", "--data", str(data), *TINY, "--zero-shot", "--output", str(out), "--num-workers", "0"]
    )
    assert result.exit_code == 0, result.output
    zs = json.loads(out.read_text())
    assert zs["zero_shot"] is True and zs["encoder"]["merging"] is False and zs["encoder"]["adapter_hash"] is None
    result = CliRunner().invoke(cli, ["eval", "--data", str(data), *TINY, "--zero-shot", "--adapter", str(data)])
    assert result.exit_code == 1 and "cannot be combined" in result.output

    videos = tmp_path / "videos"
    videos.mkdir()
    for p in (data / "videos").glob("*.mp4"):
        if p.name != "video12.mp4":  # a test video
            (videos / p.name).write_bytes(p.read_bytes())
    args = ["eval", "--data", str(data), "--videos", str(videos), *TINY, "--output", str(out), "--num-workers", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "1 of 5 videos are missing or unreadable (first: video12" in result.output
    result = CliRunner().invoke(cli, args + ["--skip-missing"])
    assert result.exit_code == 0, result.output
    assert "4 queries (1 skipped: not the full 1k-A)" in result.output


def test_train_refuses_a_planted_pickle_in_the_output_folder(data, tmp_path, TINY):
    import os

    import torch

    class RunsCode:
        def __reduce__(self):
            return os.mkdir, (str(tmp_path / "planted-code-ran"),)

    (tmp_path / "run" / "last").mkdir(parents=True)
    torch.save({"step": 1, "trainable": RunsCode()}, tmp_path / "run" / "last" / "train_state.pt")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            *TINY,
            "--max-steps",
            "1",
            "--batch-size",
            "8",
            "--val-videos",
            "2",
            "--num-workers",
            "0",
            "--randaug",
            "",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "error: refusing to resume from" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "planted-code-ran").exists()


def test_zero_shot_equals_stock_open_clip_mean_pooling(data, tmp_path, TINY, tiny_weights):
    """`eval --zero-shot` = stock open_clip: encode_image per frame, normalise, mean, normalise."""
    import open_clip
    import torch
    import torch.nn.functional as F
    from tempme.train.evaluate import embed, make_eval_dataset, zero_shot_config
    from tempme.train.metrics import retrieval_metrics
    from tempme.train.msrvtt import default_video_dir, find_video, read_test

    from tempme.encoder import load_encoder

    out = tmp_path / "zs.json"
    result = CliRunner().invoke(
        cli, ["eval", "--data", str(data), *TINY, "--zero-shot", "--output", str(out), "--num-workers", "0"]
    )
    assert result.exit_code == 0, result.output
    pairs = read_test(data)
    paths = {p.video_id: find_video(default_video_dir(data), p.video_id) for p in pairs}
    enc = load_encoder("tempme-tiny", str(tiny_weights), device="cpu", config=zero_shot_config("tempme-tiny"))
    dataset = make_eval_dataset(enc, pairs, paths)
    videos, texts = embed(enc, dataset)

    stock = open_clip.create_model("tempme-tiny", pretrained=str(tiny_weights)).eval()
    with torch.no_grad():
        ref_v = torch.stack(
            [
                F.normalize(F.normalize(stock.encode_image(dataset[i][0]), dim=-1).mean(0), dim=-1)
                for i in range(len(dataset))
            ]
        )
        ref_t = F.normalize(stock.encode_text(open_clip.tokenize([p.caption for p in pairs])), dim=-1)
    torch.testing.assert_close(videos, ref_v, atol=1e-5, rtol=0)
    torch.testing.assert_close(texts, ref_t, atol=1e-5, rtol=0)
    zs = json.loads(out.read_text())
    for direction, metrics in retrieval_metrics(ref_t @ ref_v.T).items():
        assert zs[direction] == pytest.approx(metrics.to_dict())
