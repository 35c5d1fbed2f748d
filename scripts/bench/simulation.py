"""Benchmark of the toy simulation: throughput on one core, peak memory, triggered stations vs energy.

Every measurement runs in a fresh Python process (``--worker``), so that the peak resident
memory (``ru_maxrss``) belongs to that measurement alone and nothing is cached from another:

- throughput: ``simulate_shard`` on ``--n-events`` showers without traces and ``--n-events-traces``
  with traces, after a warm-up block; best of ``--repeat``, in wall-clock and in CPU seconds
  (the CPU figure is the more robust one on a shared machine);
- peak memory: one 10,000-event shard (blocks of 1000), without and with traces;
- mean number of triggered stations of showers at fixed energies (3, 10, 30, 100 EeV; default
  zenith, core and Xmax distributions), with its standard error.

Writes the JSON record to ``--output`` and a figure next to it (same name, .png).

    OMP_NUM_THREADS=1 python scripts/bench/simulation.py --output results/benchmarks/simulation.json
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from airshower import simulation as sim  # noqa: E402

TARGET_EVENTS_PER_S = {"plain": 10_000.0, "traces": 500.0}
TARGET_PEAK_MB = 1000.0
ENERGIES_EEV = (3.0, 10.0, 30.0, 100.0)
SHARD_EVENTS = 10_000
BLOCK_SIZE = 1000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="JSON record (a .png goes next to it)")
    parser.add_argument("--n-events", type=int, default=20_000, help="timed showers without traces")
    parser.add_argument("--n-events-traces", type=int, default=3000, help="timed showers with traces")
    parser.add_argument("--n-events-trigger", type=int, default=2000, help="showers per energy point")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions, best is kept (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--worker", choices=["throughput", "memory", "trigger"], help=argparse.SUPPRESS)
    parser.add_argument("--traces", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# workers (one fresh process each; print one JSON line)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker_throughput(n_events: int, traces: bool, repeat: int, seed: int) -> dict:
    settings = sim.SimulationSettings.from_config(
        {"n_events": n_events, "block_size": BLOCK_SIZE, "store_traces": traces}
    )
    sim.simulate_events(settings, seed + 1, [0])  # warm-up: imports, cached tables
    wall, cpu = [], []
    for k in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        sim.simulate_shard(settings, seed + k, 0, n_shards=1)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {
        "n_events": n_events,
        "wall_s": wall,
        "cpu_s": cpu,
        "events_per_s_wall": n_events / min(wall),
        "events_per_s_cpu": n_events / min(cpu),
    }


def worker_memory(traces: bool, seed: int) -> dict:
    before = _maxrss_mb()
    settings = sim.SimulationSettings.from_config(
        {"n_events": SHARD_EVENTS, "block_size": BLOCK_SIZE, "store_traces": traces}
    )
    data = sim.simulate_shard(settings, seed, 0, n_shards=1)
    return {
        "n_events": SHARD_EVENTS,
        "peak_rss_mb": _maxrss_mb(),
        "rss_after_imports_mb": before,
        "output_mb": sum(a.nbytes for a in data.values()) / 2**20,
    }


def worker_trigger(n_events: int, seed: int) -> dict:
    out = {}
    for k, energy in enumerate(ENERGIES_EEV):
        log_e = 18.0 + np.log10(energy)
        settings = sim.SimulationSettings.from_config(
            {"n_events": n_events, "block_size": BLOCK_SIZE, "log10_energy_ev": [log_e, log_e + 1e-9]}
        )
        data = sim.simulate_events(settings, seed + 100 * k, range(settings.n_blocks))
        n_trig = np.isfinite(data["signal"]).sum(axis=(1, 2))
        out[f"{energy:g}"] = {
            "mean": float(n_trig.mean()),
            "sem": float(n_trig.std(ddof=1) / np.sqrt(n_trig.size)),
            "median": float(np.median(n_trig)),
            "fraction_ge_3": float(np.mean(n_trig >= 3)),
            "n_events": int(n_trig.size),
        }
    return out


def run_worker(*args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, __file__, "--output", "-", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# figure


def figure(record: dict):
    import matplotlib  # noqa: PLC0415 (matplotlib loads lazily: the workers time the simulation without it)
    from matplotlib.figure import Figure  # noqa: PLC0415 (matplotlib loads lazily: the workers time the simulation without it)

    from airshower import plotting  # noqa: PLC0415 (matplotlib loads lazily: the workers time the simulation without it)

    with matplotlib.rc_context(plotting.RC):
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        ax_trig, ax_speed = fig.subplots(1, 2)
        trig = record["triggered_stations"]
        energy = np.array([float(k) for k in trig])
        mean = np.array([v["mean"] for v in trig.values()])
        sem = np.array([v["sem"] for v in trig.values()])
        ax_trig.errorbar(energy, mean, yerr=sem, fmt="o-", color="black", ms=6, capsize=3)
        for e, m in zip(energy, mean, strict=True):
            ax_trig.annotate(f"{m:.1f}", (e, m), textcoords="offset points", xytext=(6, -12))
        ax_trig.set_xscale("log")
        ax_trig.set_xlabel("primary energy [EeV]")
        ax_trig.set_ylabel("mean number of triggered stations")
        ax_trig.set_ylim(0, None)
        ax_trig.set_title("triggered stations (zenith 0-60°, protons)")

        labels = ["without traces", "with traces"]
        keys = ["plain", "traces"]
        cpu = [record["throughput"][k]["events_per_s_cpu"] for k in keys]
        wall = [record["throughput"][k]["events_per_s_wall"] for k in keys]
        x = np.arange(2)
        ax_speed.bar(x - 0.18, cpu, width=0.36, color="tab:blue", label="CPU time")
        ax_speed.bar(x + 0.18, wall, width=0.36, color="tab:orange", label="wall-clock time")
        for xi, key in zip(x, keys, strict=True):
            ax_speed.hlines(
                TARGET_EVENTS_PER_S[key], xi - 0.4, xi + 0.4, colors="red", linestyles="--", label=None
            )
        ax_speed.plot([], [], "r--", label="target")
        for xi, c in zip(x, cpu, strict=True):
            ax_speed.annotate(f"{c:,.0f}", (xi - 0.18, c), ha="center", va="bottom")
        ax_speed.set_yscale("log")
        ax_speed.set_xticks(x, labels)
        ax_speed.set_ylabel("events per second (one core)")
        mem = record["peak_memory"]
        ax_speed.set_title(
            f"throughput on one core\npeak RSS of {SHARD_EVENTS:,} events: "
            f"{mem['plain']['peak_rss_mb']:.0f} MB, {mem['traces']['peak_rss_mb']:.0f} MB with traces",
            fontsize="medium",
        )
        ax_speed.legend(loc="upper right")
    return fig


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker == "throughput":
        n = args.n_events_traces if args.traces else args.n_events
        print(json.dumps(worker_throughput(n, args.traces, args.repeat, args.seed)))
        return
    if args.worker == "memory":
        print(json.dumps(worker_memory(args.traces, args.seed)))
        return
    if args.worker == "trigger":
        print(json.dumps(worker_trigger(args.n_events_trigger, args.seed)))
        return

    from airshower import io, plotting  # noqa: PLC0415 (matplotlib loads lazily: the workers time the simulation without it)

    common = ["--repeat", str(args.repeat), "--seed", str(args.seed)]
    sizes = ["--n-events", str(args.n_events), "--n-events-traces", str(args.n_events_traces)]
    load_before = os.getloadavg()
    throughput = {
        "plain": run_worker("--worker", "throughput", *sizes, *common),
        "traces": run_worker("--worker", "throughput", "--traces", *sizes, *common),
    }
    memory = {
        "plain": run_worker("--worker", "memory", *common),
        "traces": run_worker("--worker", "memory", "--traces", *common),
    }
    trigger = run_worker("--worker", "trigger", "--n-events-trigger", str(args.n_events_trigger), *common)
    record = {
        "benchmark": "simulation",
        "threads": 1,
        "targets": {"events_per_s": TARGET_EVENTS_PER_S, "peak_rss_mb_10k_shard": TARGET_PEAK_MB},
        "throughput": throughput,
        "peak_memory": memory,
        "triggered_stations": trigger,
        "meets_targets": {
            "plain_events_per_s": throughput["plain"]["events_per_s_cpu"] >= TARGET_EVENTS_PER_S["plain"],
            "traces_events_per_s": throughput["traces"]["events_per_s_cpu"] >= TARGET_EVENTS_PER_S["traces"],
            "peak_rss_10k_shard_without_traces": memory["plain"]["peak_rss_mb"] < TARGET_PEAK_MB,
        },
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": [load_before[0], os.getloadavg()[0]],
        },
        "provenance": io.provenance(),
    }
    io.write_json(args.output, record)
    plotting.save(figure(record), args.output.with_suffix(".png"))
    print(
        "simulation: {:,.0f} events/s without traces, {:,.0f} with traces (CPU time, one core); "
        "peak RSS of a 10,000-event shard {:.0f} MB ({:.0f} MB with traces); triggered stations {}".format(
            throughput["plain"]["events_per_s_cpu"],
            throughput["traces"]["events_per_s_cpu"],
            memory["plain"]["peak_rss_mb"],
            memory["traces"]["peak_rss_mb"],
            ", ".join(f"{v['mean']:.1f} at {k} EeV" for k, v in trigger.items()),
        )
    )


if __name__ == "__main__":
    main()
