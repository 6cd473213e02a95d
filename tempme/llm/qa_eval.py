"""Multiple-choice video-QA evaluation of reducers (`tempme qa-eval`): accuracy, tokens, TFLOPs, TTFT.

Benchmark files (JSON list, or JSON lines), one question per row, in either standard layout:

* NExT-QA multiple choice (as lmms-eval's NExTQA-MC): ``video``, ``question``, options ``a0`` ..
  ``a4``, ``answer`` = index of the correct option;
* MVBench (its per-task JSON files): ``video``, ``question``, ``candidates`` (list of option
  texts), ``answer`` = the correct option's text.

Videos are ``<videos dir>/<video>`` (NExT-QA ids without an extension get ``.mp4``). The prompt is
lmms-eval's MVBench style: the question, the options as ``(A) ...`` lines and "Answer with the
option's letter from the given choices directly."; the answer is the first option letter in the
greedy generation (no letter: wrong). This reproduces the papers' protocol only as far as the
prompt, the frame sampling (``--frames``, uniform) and the model do; the published numbers need the
same model weights on a GPU.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

LETTERS = "ABCDEFGHIJ"
POST_PROMPT = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice question: ``answer`` indexes ``options``."""

    video: str
    question: str
    options: tuple[str, ...]
    answer: int
    qid: str = ""


def _row_to_item(row: dict, n: int) -> MCItem:
    try:
        video, question = str(row["video"]), str(row["question"])
        if "candidates" in row:  # MVBench
            options = tuple(str(c) for c in row["candidates"])
            if str(row["answer"]) not in options:
                raise ValueError(f"answer {row['answer']!r} is not one of the candidates")
            answer = options.index(str(row["answer"]))
        else:  # NExT-QA multiple choice
            options = tuple(str(row[f"a{i}"]) for i in range(len(LETTERS)) if f"a{i}" in row)
            answer = int(row["answer"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"row {n}: not a NExT-QA-MC (video, question, a0.., answer) or MVBench "
            f"(video, question, candidates, answer) row: {exc}"
        ) from exc
    if not 2 <= len(options) <= len(LETTERS) or not 0 <= answer < len(options):
        raise ValueError(f"row {n}: {len(options)} options with answer {answer}")
    if "." not in Path(video).name:
        video += ".mp4"
    return MCItem(video, question, options, answer, str(row.get("qid", row.get("question_id", n))))


def load_bench(path: Path) -> list[MCItem]:
    """Read a NExT-QA-MC or MVBench JSON (list) / JSON-lines file.

    Raises:
        ValueError: a row in neither layout, or an empty file.
    """
    text = Path(path).read_text()
    stripped = text.lstrip()
    rows = (
        json.loads(text)
        if stripped.startswith("[")
        else [json.loads(line) for line in text.splitlines() if line.strip()]
    )
    items = [_row_to_item(r, i) for i, r in enumerate(rows)]
    if not items:
        raise ValueError(f"{path}: no questions")
    return items


def mc_prompt(item: MCItem) -> str:
    """The question, lettered options and the post-prompt, one per line."""
    lines = [item.question] + [f"({LETTERS[i]}) {o}" for i, o in enumerate(item.options)] + [POST_PROMPT]
    return "\n".join(lines)


def parse_choice(text: str, options: int) -> int | None:
    """Index of the first option letter in ``text`` (``"B"``, ``"(B)"``, ``"B. cat"``), or None."""
    for match in re.finditer(r"\b([A-J])\b", text):
        idx = LETTERS.index(match.group(1))
        if idx < options:
            return idx
    return None


@dataclass
class ReducerScore:
    """Aggregate over the questions for one reducer setting (means per question)."""

    setting: str
    questions: int
    accuracy: float
    visual_tokens_in: float
    visual_tokens_out: float
    visual_tokens_final: float
    formula_tflops: float
    exact_tflops: float
    ttft_seconds: float
    records: list[dict] = field(default_factory=list)

    def to_dict(self, with_records: bool = False) -> dict:
        out = asdict(self)
        if not with_records:
            out.pop("records")
        return out


def evaluate(
    items: list[MCItem],
    videos: Path,
    pipeline,
    build_inputs,
    read_frames,
    frames: int,
    setting: str,
    max_new_tokens: int = 8,
    side_inputs=None,
) -> ReducerScore:
    """Answer every item with ``pipeline`` (a :class:`~tempme.llm.pipeline.VideoQAPipeline` with a tokenizer).

    Args:
        build_inputs: ``(frames (T, H, W, 3), prompt) -> (input_ids (1, L), pixel_values_videos (1, T, 3, S, S))``.
        read_frames: ``(path, frames) -> (T, H, W, 3)`` uint8.
        side_inputs: optional ``(item, frames) -> SideInputs`` (e.g. CLIP frame scores for bvllm-clip).

    Raises:
        FileNotFoundError: a video file is missing.
    """
    import torch

    from tempme.llm.outer import SideInputs

    device = next(pipeline.model.parameters()).device
    dtype = next(pipeline.model.parameters()).dtype
    records = []
    for item in items:
        path = videos / item.video
        if not path.exists():
            raise FileNotFoundError(f"video {path} for question {item.qid!r} not found")
        rgb = read_frames(path, frames)
        ids, pixels = build_inputs(rgb, mc_prompt(item))
        side = side_inputs(item, rgb) if side_inputs is not None else SideInputs(question=item.question)
        with torch.inference_mode():
            result = pipeline.answer(ids.to(device), pixels.to(device, dtype), [side], max_new_tokens)
        text = result.answers[0] if result.answers else ""
        choice = parse_choice(text, len(item.options))
        r = result.report
        records.append(
            {
                "qid": item.qid,
                "answer": item.answer,
                "choice": choice,
                "text": text.strip(),
                "correct": choice == item.answer,
                "visual_tokens_in": r.visual_tokens_in,
                "visual_tokens_out": r.visual_tokens_out,
                "visual_tokens_final": r.visual_tokens_final,
                "formula_tflops": r.formula_tflops,
                "exact_tflops": r.exact_tflops,
                "ttft_seconds": r.ttft_seconds,
            }
        )
        log.info(
            "%s %s: %s -> %s (%s)",
            setting,
            item.qid,
            text.strip()[:20],
            choice,
            "ok" if choice == item.answer else "wrong",
        )
    mean = lambda key: statistics.fmean(float(rec[key]) for rec in records)  # noqa: E731
    return ReducerScore(
        setting=setting,
        questions=len(records),
        accuracy=mean("correct"),
        visual_tokens_in=mean("visual_tokens_in"),
        visual_tokens_out=mean("visual_tokens_out"),
        visual_tokens_final=mean("visual_tokens_final"),
        formula_tflops=mean("formula_tflops"),
        exact_tflops=mean("exact_tflops"),
        ttft_seconds=mean("ttft_seconds"),
        records=records,
    )


def format_table(scores: list[ReducerScore]) -> str:
    """One row per reducer setting."""
    head = f"{'setting':<28}{'n':>5}{'acc %':>8}{'tok in':>8}{'tok out':>9}{'final':>7}{'formula TF':>11}{'exact TF':>10}{'TTFT s':>9}"
    lines = [head, "-" * len(head)]
    for s in scores:
        lines.append(
            f"{s.setting:<28}{s.questions:>5}{100 * s.accuracy:>8.1f}{s.visual_tokens_in:>8.0f}{s.visual_tokens_out:>9.1f}"
            f"{s.visual_tokens_final:>7.1f}{s.formula_tflops:>11.3g}{s.exact_tflops:>10.3g}{s.ttft_seconds:>9.3f}"
        )
    return "\n".join(lines)
