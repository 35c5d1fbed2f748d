"""Benchmark of the study's size: peak memory and time of every stage at several numbers of showers.

For each size of ``--sizes`` it runs the scale study (``config/scale.yaml``: the whole data path,
the baseline and one training of one network) with Snakemake in ``--workdir/<size>``, one
simulation shard per 50,000 showers, and reads back the ``benchmark:`` record of every job (wall
seconds, peak resident memory ``max_rss``, CPU seconds). Per stage it keeps the peak memory (the
largest of its jobs), the wall time summed over its jobs and that per 1,000 showers, next to the
memory the stage declares to a scheduler at that size (:mod:`airshower.resources`). The study's
data of a size are deleted once measured (``--keep-data`` keeps them).

Writes the JSON record to ``--output``, a Markdown table and a figure next to it (same name,
.md and .png).

    python scripts/bench/scale.py --sizes 50000 400000 2000000 --output results/benchmarks/scale.json
"""

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from matplotlib.figure import Figure

from airshower import config, logs, resources

ROOT = Path(__file__).resolve().parents[2]
SHOWERS_PER_SHARD = 50_000
# stage -> (its jobs' benchmark records under benchmarks/ and logs under logs/, the memory it
# declares: a function of airshower.resources)
STAGES = {
    "simulate": ("simulate/**/*", "simulation_mb"),
    "merge_showers": ("merge_showers", "simulation_mb"),
    "prepare": ("prepare", "preparation_mb"),
    "baseline": ("baseline", "baseline_mb"),
    "baseline_predict": ("baseline_predict/**/*", "baseline_mb"),
    "train": ("train/**/*", "training_mb"),
    "predict": ("predict/**/*", "prediction_mb"),
    "plot_data": ("plot_data", "showers_plot_mb"),
}
PEAK = re.compile(rf"{logs.PEAK_MEMORY}: ([0-9.]+) MB")
LIMIT_MB = 4000.0  # the bound on every stage at 2 million showers


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 400_000, 2_000_000])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "scale.yaml")
    parser.add_argument("--workdir", type=Path, default=ROOT / "results" / "scale")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep-data", action="store_true", help="keep each size's results/data")
    parser.add_argument("--output", type=Path, required=True, help="JSON record (.md and .png go next to it)")
    parser.add_argument("--figure-only", action="store_true", help="redraw from an existing --output")
    parser.add_argument(
        "--reread", action="store_true", help="read the job records of the sizes of --output again"
    )
    return parser.parse_args(argv)


def study_config(path: Path, n_events: int) -> dict:
    cfg = config.load_config(path)
    cfg["simulation"].update(n_events=n_events, n_shards=max(1, n_events // SHOWERS_PER_SHARD))
    return config.validate_config(cfg)


def run_study(args, n_events: int) -> float:
    """Run the scale study at ``n_events`` showers; its wall-clock seconds."""
    directory = args.workdir / str(n_events)
    directory.mkdir(parents=True, exist_ok=True)
    shards = max(1, n_events // SHOWERS_PER_SHARD)
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(ROOT / "workflow" / "Snakefile"),
        "--profile",
        str(ROOT / "profiles" / "local"),
        "--cores",
        str(args.cores),
        "--directory",
        str(directory),
        "--configfile",
        str(args.config),
        "--config",
        f'simulation={{"n_events": {n_events}, "n_shards": {shards}}}',
    ]
    start = time.perf_counter()
    with open(directory / "snakemake.log", "w") as log:
        subprocess.run(command, check=True, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def read_benchmarks(directory: Path) -> dict:
    """Per stage: the jobs' summed wall and CPU seconds (their ``benchmark:`` records), their
    largest peak resident memory (MB) as each job's log states it (the kernel's high-water mark,
    :func:`airshower.logs.peak_memory_mb`) and as Snakemake's sampling saw it (``max_rss``: every
    30 s after a job's first 30 s, so it misses short peaks)."""
    out = {}
    for stage, (pattern, _) in STAGES.items():
        rows = []
        for path in sorted((directory / "benchmarks").glob(pattern + ".tsv")):
            with open(path) as fh:
                rows += list(csv.DictReader(fh, delimiter="\t"))
        peaks = [
            float(value)
            for path in sorted((directory / "logs").glob(pattern + ".log"))
            for value in PEAK.findall(path.read_text())
        ]
        if rows:
            out[stage] = {
                "jobs": len(rows),
                "seconds": sum(float(r["s"]) for r in rows),
                "cpu_seconds": sum(float(r["cpu_time"]) for r in rows),
                "max_rss_mb": max(peaks) if peaks else float("nan"),
                "sampled_max_rss_mb": max(float(r["max_rss"]) for r in rows),
            }
    return out


def stage_record(directory: Path, cfg: dict, n_events: int) -> dict:
    """:func:`read_benchmarks` with the time per 1,000 showers and the declared memory."""
    stages = read_benchmarks(directory)
    for stage, values in stages.items():
        values["seconds_per_1000"] = values["seconds"] / (n_events / 1000)
        values["declared_mb"] = getattr(resources, STAGES[stage][1])(cfg)
    return stages


def processor_name() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(args) -> dict:
    record = {
        "machine": {
            "processor": processor_name(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "cores": args.cores,
        },
        "sizes": {},
    }
    for n_events in args.sizes:
        wall = run_study(args, n_events)
        directory = args.workdir / str(n_events)
        stages = stage_record(directory, study_config(args.config, n_events), n_events)
        record["sizes"][str(n_events)] = {"wall_seconds": wall, "stages": stages}
        if not args.keep_data:
            shutil.rmtree(directory / "results" / "data", ignore_errors=True)
        args.output.write_text(json.dumps(record, indent=2) + "\n")  # each size as soon as measured
        print(f"{n_events} showers: {wall:.0f} s", flush=True)
    return record


def table(record: dict) -> str:
    sizes = list(record["sizes"])
    head = (
        "| stage | "
        + " | ".join(f"{int(n):,} showers: peak / declared [MB], s per 1,000" for n in sizes)
        + " |"
    )
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for stage in STAGES:
        cells = []
        for n in sizes:
            values = record["sizes"][n]["stages"].get(stage)
            if values is None:
                cells.append("-")
                continue
            peak, declared = values["max_rss_mb"], values["declared_mb"]
            cells.append(f"{peak:,.0f} / {declared:,} MB, {values['seconds_per_1000']:.2f} s")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines.append(
        "| whole study (wall) | "
        + " | ".join(f"{record['sizes'][n]['wall_seconds']:,.0f} s" for n in sizes)
        + " |"
    )
    return "\n".join(lines) + "\n"


def figure(record: dict, path: Path) -> None:
    sizes = [int(n) for n in record["sizes"]]
    fig = Figure(figsize=(12.5, 4.5), layout="constrained")
    ax_mem, ax_time = fig.subplots(1, 2)
    for k, stage in enumerate(STAGES):
        rows = [(n, record["sizes"][str(n)]["stages"].get(stage)) for n in sizes]
        rows = [(n, v) for n, v in rows if v is not None]
        if not rows:
            continue
        n = [r[0] for r in rows]
        color = f"C{k}"
        ax_mem.plot(n, [r[1]["max_rss_mb"] / 1000 for r in rows], "o-", color=color, label=stage)
        ax_mem.plot(n, [r[1]["declared_mb"] / 1000 for r in rows], ":", color=color, lw=1)
        ax_time.plot(n, [r[1]["seconds_per_1000"] for r in rows], "o-", color=color, label=stage)
    ax_mem.axhline(LIMIT_MB / 1000, color="k", lw=1, ls="--", label="4 GB")
    ax_mem.set(xscale="log", xlabel="showers", ylabel="peak resident memory [GB]", ylim=(0, None))
    ax_mem.set_title("peak memory per stage (dotted: declared mem_mb)")
    ax_time.set(xscale="log", yscale="log", xlabel="showers", ylabel="wall time per 1,000 showers [s]")
    ax_time.set_title("time per 1,000 showers (jobs summed)")
    handles, labels = ax_mem.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=9)
    machine = record["machine"]
    fig.suptitle(
        f"scale study, {machine['cores']} cores of {machine['processor']} ({machine['cpus']} CPUs)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.figure_only or args.reread:
        record = json.loads(args.output.read_text())
    if args.reread:
        for size, entry in record["sizes"].items():
            n_events = int(size)
            entry["stages"] = stage_record(args.workdir / size, study_config(args.config, n_events), n_events)
        args.output.write_text(json.dumps(record, indent=2) + "\n")
    if not (args.figure_only or args.reread):
        args.output.parent.mkdir(parents=True, exist_ok=True)
        record = measure(args)
    args.output.with_suffix(".md").write_text(table(record))
    figure(record, args.output.with_suffix(".png"))
    print(table(record))


if __name__ == "__main__":
    main()
