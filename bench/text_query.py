"""Query text -> vector, cold: the torch text path against the ONNX one, in fresh processes.

    .venv/bin/python bench/text_query.py                          # tempme-tiny and ViT-B-32
    .venv/bin/python bench/text_query.py --models tempme-tiny --repeats 5 --queries 50

For each model (random weights, a random non-zero LoRA saved as an adapter) this exports the
query model once, then, per path, starts one unmeasured process (so that both read files from
the page cache), ``--repeats`` cold processes that answer one query and exit, and one warm
process that then answers ``--queries`` new queries one at a time:

- torch: import torch + ``tempme.encoder``, ``load_encoder(model, "none", adapter=...)``
  (what the torch query path loads; with random weights, building the model stands in for
  reading a checkpoint), ``encode_text``;
- onnx: import ``tempme.query_model`` (numpy, onnxruntime, tokenizers), open the
  ``QueryModel``, ``encode``.

Both use one thread (as ``tempme search`` does). Reported (medians of the cold runs): CPU-seconds
and wall of the whole process (interpreter start included, measured by the parent), the
process's own split (imports, load, first query: CPU-seconds) and its peak RSS (VmHWM); from
the warm process, CPU and wall per query (wall swells with the machine's load; CPU does not).
Ratios are torch / onnx from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [f"a person number {i} walks a dog along the beach at sunset" for i in range(1000)]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss keeps the parent's peak across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, model: str, folder: str, queries: int) -> None:
    """One fresh process: import, load, query; prints a JSON line of its own measurements."""
    c0 = _cpu()
    if path == "torch":
        import torch

        torch.set_num_threads(1)
        from tempme.encoder import load_encoder

        c1 = _cpu()
        encoder = load_encoder(model, "none", adapter=Path(folder) / "adapter", device="cpu")

        def encode(text: str):
            with torch.inference_mode():
                return encoder.encode_text([text]).float().numpy()

    else:
        from tempme.query_model import QueryModel

        c1 = _cpu()
        qm = QueryModel(Path(folder) / "query_model", threads=1)

        def encode(text: str):
            return qm.encode([text])

    c2 = _cpu()
    encode("a dog")
    c3 = _cpu()
    result = {
        "import_cpu": c1 - c0,
        "load_cpu": c2 - c1,
        "first_query_cpu": c3 - c2,
        "peak_rss_mb": peak_rss_mb(),
        "heavy_modules": [m for m in ("torch", "open_clip", "transformers", "gradio") if m in sys.modules],
    }
    if queries:  # a warm process: latency of new queries, one at a time
        wall, cpu = [], []
        for text in QUERIES[:queries]:
            t, c = time.perf_counter(), _cpu()
            encode(text)
            wall.append(time.perf_counter() - t)
            cpu.append(_cpu() - c)
        result.update(per_query_s=statistics.median(wall), per_query_cpu_s=statistics.mean(cpu))
    print(json.dumps(result))


def run_child(path: str, model: str, folder: Path, queries: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", path, model, str(folder), str(queries)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    result["process_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def prepare(model: str, folder: Path) -> float:
    """Random weights + random LoRA saved as an adapter; the query model exported. Returns export s."""
    import torch

    from tempme.encoder import load_encoder
    from tempme.query_export import export_query_model

    encoder = load_encoder(model, "none", device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in encoder.model.named_parameters():
            if ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    encoder.save_adapter(folder / "adapter")
    encoder = load_encoder(model, "none", adapter=folder / "adapter", device="cpu")
    t0 = time.perf_counter()
    export_query_model(encoder, folder / "query_model")
    return time.perf_counter() - t0


FIELDS = [  # (label, key, format, scale)
    ("cold query: process CPU-s", "process_cpu", "{:.2f}", 1),
    ("cold query: process wall s", "process_wall", "{:.2f}", 1),
    ("  imports CPU-s", "import_cpu", "{:.2f}", 1),
    ("  model load CPU-s", "load_cpu", "{:.2f}", 1),
    ("  first query CPU-s", "first_query_cpu", "{:.3f}", 1),
    ("cold query: peak RSS (MB)", "peak_rss_mb", "{:.0f}", 1),
    ("warm query: CPU ms", "per_query_cpu_s", "{:.1f}", 1000),
    ("warm query: wall ms (median)", "per_query_s", "{:.1f}", 1000),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["tempme-tiny", "ViT-B-32"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=20, help="warm queries per process for the latency")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores; one thread per path", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tempme-bench-query-") as tmp:
        for model in args.models:
            folder = Path(tmp) / model
            export_s = prepare(model, folder)
            results = {}
            for path in ("torch", "onnx"):
                run_child(path, model, folder, 0)  # unmeasured: page cache
                runs = [run_child(path, model, folder, 0) for _ in range(args.repeats)]
                warm = run_child(path, model, folder, args.queries)  # latency from a warm process
                runs[0].update({k: warm[k] for k in ("per_query_s", "per_query_cpu_s")})
                results[path] = {k: statistics.median(r[k] for r in runs if k in r) for _, k, _, _ in FIELDS}
                results[path]["heavy"] = runs[0]["heavy_modules"]
            print(
                f"\n### {model} (random weights + LoRA; export {export_s:.1f} s; {args.repeats} cold runs, medians)\n"
            )
            print("| | torch text path | ONNX text path | torch / ONNX |")
            print("|---|---:|---:|---:|")
            for label, key, fmt, scale in FIELDS:
                t, o = results["torch"][key] * scale, results["onnx"][key] * scale
                print(f"| {label} | {fmt.format(t)} | {fmt.format(o)} | {t / o:.1f}x |")
            heavy = ", ".join(results["onnx"]["heavy"]) or "none"
            print(f"| heavy modules imported | {', '.join(results['torch']['heavy'])} | {heavy} | |")
    print(f"\nload after: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
