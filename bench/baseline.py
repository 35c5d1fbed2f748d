"""Benchmark of the classical baseline: throughput on one core and resolution on the toy simulation.

Simulates ``--n-events`` showers of the default simulation (noise on), calibrates on the first
70 % and reconstructs the rest, timing the test-split reconstruction plus calibration (best of
``--repeat``). Writes the JSON record to ``--output`` and a figure next to it (same name, .png):
the 68 % containment angle of the direction and the relative energy bias/resolution vs energy.

    OMP_NUM_THREADS=1 python bench/baseline.py --output results/benchmarks/baseline.json
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from airshower import baseline as bl
from airshower import (  # noqa: E402
    geometry,  # noqa: E402
    io,
    plotting,
)
from airshower import simulation as sim  # noqa: E402

ENERGY_POINTS_EEV = (10.0, 30.0)  # the direction resolution is quoted in +-0.1 in log10 E around these
HALF_WIDTH_LOG10 = 0.1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="JSON record (a .png goes next to it)")
    parser.add_argument("--n-events", type=int, default=20_000, help="simulated showers (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions, best is kept (default 3)")
    parser.add_argument("--front", choices=["planar", "curved"], default="planar", help="baseline.front")
    return parser.parse_args(argv)


def timed(func, repeat: int):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return result, best


def binned(energy_eev, values, edges, statistic):
    which = np.digitize(energy_eev, edges) - 1
    return [statistic(values[which == b]) for b in range(len(edges) - 1)]


def relative_stats(rel: np.ndarray) -> dict:
    n = rel.size
    return {
        "n_events": int(n),
        "relative_bias": float(rel.mean()),
        "relative_bias_error": float(rel.std() / np.sqrt(n)),
        "relative_resolution": float(rel.std()),
        "relative_resolution_error": float(rel.std() / np.sqrt(2 * (n - 1))),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = sim.SimulationSettings(n_events=args.n_events, block_size=1000)
    data, sim_s = timed(lambda: sim.simulate_events(settings, args.seed, range(settings.n_blocks)), 1)
    baseline = bl.BaselineSettings(front=args.front)
    n_train = int(0.7 * args.n_events)
    train, test = slice(0, n_train), slice(n_train, None)
    energy = data["energy"].astype(np.float64)

    reco_train = bl.reconstruct(data["time"][train], data["signal"][train], data["detector"], baseline)
    calibration = bl.fit_calibration(reco_train, energy[train], baseline)

    def predict():
        reco = bl.reconstruct(data["time"][test], data["signal"][test], data["detector"], baseline)
        return reco, bl.apply_calibration(reco, calibration, baseline)

    (reco_test, energy_pred), seconds = timed(predict, args.repeat)
    n_test = args.n_events - n_train

    # direction and core on all events (they do not depend on the calibration)
    reco = {k: np.concatenate([reco_train[k], reco_test[k]]) for k in reco_train}
    ok = reco["flag"] == bl.FLAG_OK
    angle_deg = np.degrees(geometry.opening_angle(reco["axis"], data["axis"].astype(np.float64)))
    angle_deg[~ok] = np.nan
    core_m = np.linalg.norm(reco["core_rec"] - data["core"], axis=1)
    log_e = np.log10(energy)
    at_points = {}
    for point in ENERGY_POINTS_EEV:
        sel = np.abs(log_e - np.log10(point)) <= HALF_WIDTH_LOG10
        value, low, high = bl.containment(angle_deg[sel])
        at_points[f"{point:g}"] = {
            "angle68_deg": value,
            "interval_deg": [low, high],
            "n_events": int(sel.sum()),
        }

    edges = np.logspace(np.log10(3.16), 2, 9)
    direction = binned(energy, angle_deg, edges, bl.containment)
    rel = energy_pred / energy[test] - 1.0
    energy_binned = binned(energy[test], rel, edges, relative_stats)

    record = {
        "benchmark": "baseline",
        "events_per_s": n_test / seconds,
        "n_events_timed": n_test,
        "seconds": seconds,
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "simulation": {"n_events": args.n_events, "seed": args.seed, "seconds": sim_s, "noise": True},
        "settings": {k: getattr(baseline, k) for k in baseline.__dataclass_fields__},
        "n_train": n_train,
        "n_test": n_test,
        "flagged": bl.flag_counts(reco["flag"]),
        "n_triggered_min": int(reco["n_triggered"].min()),
        "direction_68_deg": {
            "all": bl.containment(angle_deg)[0],
            "at_energy_eev": at_points,
            "binned": {
                "edges_eev": edges.tolist(),
                "angle68_deg": [d[0] for d in direction],
                "interval_deg": [[d[1], d[2]] for d in direction],
            },
        },
        "core_68_m": float(np.quantile(core_m[ok], 0.68)),
        "energy_train": calibration["train_statistics"]["all"],
        "energy_test": {
            **relative_stats(rel),
            "log10_resolution": float(np.std(np.log10(energy_pred / energy[test]))),
        },
        "energy_test_binned": {"edges_eev": edges.tolist(), "bins": energy_binned},
        "calibration": {
            "A": calibration["A"],
            "B": calibration["B"],
            "zenith_coefficients": calibration["zenith_correction"]["coefficients"],
        },
        "provenance": io.provenance(),
    }
    io.write_json(args.output, record)
    plotting.save(figure(record), args.output.with_suffix(".png"))
    print(
        f"baseline: {record['events_per_s']:.0f} events/s; 68 % angle "
        + ", ".join(f"{v['angle68_deg']:.2f} deg at {k} EeV" for k, v in at_points.items())
        + f"; energy bias {100 * record['energy_test']['relative_bias']:+.2f} %, resolution "
        f"{100 * record['energy_test']['relative_resolution']:.2f} % ({n_test} test events)"
    )


def figure(record: dict) -> Figure:
    with matplotlib.rc_context(plotting.RC):
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        ax_dir, ax_e = fig.subplots(1, 2)
        binned_dir = record["direction_68_deg"]["binned"]
        edges = np.asarray(binned_dir["edges_eev"])
        centre = np.sqrt(edges[1:] * edges[:-1])
        value = np.asarray(binned_dir["angle68_deg"])
        interval = np.asarray(binned_dir["interval_deg"])
        ax_dir.errorbar(
            centre,
            value,
            yerr=[value - interval[:, 0], interval[:, 1] - value],
            xerr=[centre - edges[:-1], edges[1:] - centre],
            fmt="*",
            color="black",
            ms=9,
            linestyle="none",
            label="baseline (plane-front fit)",
        )
        points = record["direction_68_deg"]["at_energy_eev"]
        x = np.array([float(k) for k in points])
        y = np.array([p["angle68_deg"] for p in points.values()])
        band = np.array([p["interval_deg"] for p in points.values()])
        text = ", ".join(f"{v:.2f}° at {k:g} EeV" for k, v in zip(x, y, strict=True))
        ax_dir.errorbar(
            x,
            y,
            yerr=[y - band[:, 0], band[:, 1] - y],
            fmt="o",
            mfc="none",
            color="tab:red",
            ms=10,
            label=f"±0.1 in $\\log_{{10}} E$: {text}",
        )
        ax_dir.set_xscale("log")
        ax_dir.set_xlabel(plotting.LABEL["energy_true"])
        ax_dir.set_ylabel("68 % containment angle [deg]")
        ax_dir.set_ylim(0, None)
        ax_dir.set_title("direction resolution")
        ax_dir.legend(loc="upper right")

        bins = record["energy_test_binned"]["bins"]
        bias = np.array([100 * b["relative_bias"] for b in bins])
        bias_err = np.array([100 * b["relative_bias_error"] for b in bins])
        res = np.array([100 * b["relative_resolution"] for b in bins])
        res_err = np.array([100 * b["relative_resolution_error"] for b in bins])
        ax_e.errorbar(centre, res, yerr=res_err, fmt="*-", color="black", label="resolution $\\sigma_E/E$")
        ax_e.errorbar(
            centre, bias, yerr=bias_err, fmt="o--", color="grey", label="bias $\\langle\\Delta E/E\\rangle$"
        )
        ax_e.axhline(0, color="black", linewidth=0.8)
        ax_e.set_xscale("log")
        ax_e.set_xlabel(plotting.LABEL["energy_true"])
        ax_e.set_ylabel("relative energy bias, resolution [%]")
        ax_e.set_title(f"energy (test split, {record['n_test']} events)")
        ax_e.legend(loc="upper right")
        for ax in (ax_dir, ax_e):
            ax.set_xlim(3.0, 105.0)
            ticks = [3, 5, 10, 20, 30, 50, 100]
            ax.set_xticks(ticks, labels=[str(t) for t in ticks])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        fig.suptitle(
            f"classical baseline on {record['simulation']['n_events']} toy showers (noise on); "
            f"{record['events_per_s']:.0f} events/s on one core"
        )
    return fig


if __name__ == "__main__":
    main()
