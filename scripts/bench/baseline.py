"""Benchmark of the classical baseline: throughput on one core and resolution on the toy simulation.

Simulates ``--n-events`` showers of the default simulation (noise on), calibrates on the first
70 % and reconstructs the rest, timing the test-split reconstruction plus calibration (best of
``--repeat``). Writes the JSON record to ``--output`` and a figure next to it (same name, .png):
the 68 % containment angle of the direction (with its bootstrap interval, from the evaluation's
direction metrics, airshower.evaluation.direction) and the relative energy bias/resolution vs energy.

    OMP_NUM_THREADS=1 python scripts/bench/baseline.py --output results/benchmarks/baseline.json
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from airshower import baseline as bl  # noqa: E402
from airshower import evaluation, io, plotting, rng, statistics  # noqa: E402
from airshower import simulation as sim  # noqa: E402
from airshower.evaluation import direction  # noqa: E402

ENERGY_POINTS_EEV = (10.0, 30.0)  # the direction resolution is quoted in +-0.1 in log10 E around these
HALF_WIDTH_LOG10 = 0.1
BINS_EEV = (3.16, 100.0, 8, "log")  # statistics.bin_edges: the energy bins of the figure
ZENITH_BINS_DEG = [0, 25, 35, 45, 60]  # the zenith bins of the direction metrics
BOOTSTRAP = 200  # resamples of the 68 % intervals (evaluation.bootstrap's default)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="JSON record (a .png goes next to it)")
    parser.add_argument("--n-events", type=int, default=20_000, help="simulated showers (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions, best is kept (default 3)")
    parser.add_argument("--front", choices=bl.FRONTS, default="planar", help="baseline.front")
    return parser.parse_args(argv)


def timed(func, repeat: int):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return result, best


def energy_summary(energy_pred: np.ndarray, energy_true: np.ndarray, flag: np.ndarray) -> dict:
    """``bl.energy_statistics`` of all events with the standard errors of the relative bias
    (sigma / sqrt(n)) and of the relative resolution (sigma / sqrt(2 (n - 1)))."""
    stats = bl.energy_statistics(energy_pred, energy_true, flag)["all"]
    n, sigma = stats["n_events"], stats["relative_resolution"]
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = {
            "relative_bias_error": float(sigma / np.sqrt(n)),
            "relative_resolution_error": float(sigma / np.sqrt(2 * (n - 1))),
        }
    return {**stats, **errors}


def direction_record(
    axis_rec: np.ndarray, axis_true: np.ndarray, energy_eev: np.ndarray, zenith_rad: np.ndarray
) -> dict:
    """The direction metrics of the evaluation (:func:`airshower.evaluation.direction.direction_metrics`:
    68 % containment angle with its bootstrap interval, overall, in the energy bins of
    :data:`BINS_EEV` and in zenith bins) and the containment around :data:`ENERGY_POINTS_EEV`."""
    lo, hi, n, spacing = BINS_EEV
    settings = evaluation.EvaluationSettings.from_config(
        {"energy_bins_eev": {"min": lo, "max": hi, "n": n, "spacing": spacing}, "bootstrap": BOOTSTRAP}
    )
    generator = rng.generator(0, "bootstrap", zlib.crc32(b"bench/baseline"))
    pred = {"axis_pred": axis_rec, "axis_true": axis_true, "energy_true": energy_eev, "zenith": zenith_rad}
    metrics = evaluation.TARGET_METRICS["direction"](
        pred, settings, {"zenith_bins_deg": ZENITH_BINS_DEG}, generator
    )
    angle_deg = direction.opening_angles_deg(axis_rec, axis_true)
    log_e = np.log10(energy_eev)
    at_points = {}
    for point in ENERGY_POINTS_EEV:
        sel = np.abs(log_e - np.log10(point)) <= HALF_WIDTH_LOG10
        entry = direction.containment_entry(angle_deg[sel], BOOTSTRAP, generator)["psi68_deg"]
        at_points[f"{point:g}"] = {
            "angle68_deg": entry["value"],
            "interval_deg": [entry["lo"], entry["hi"]],
            "n_events": int(sel.sum()),
        }
    binned = metrics["bins"]["psi68_deg"]
    return {
        "all": metrics["overall"]["psi68_deg"]["value"],
        "at_energy_eev": at_points,
        "binned": {
            "edges_eev": metrics["bins"]["edges_eev"],
            "angle68_deg": binned["value"],
            "interval_deg": [[a, b] for a, b in zip(binned["lo"], binned["hi"], strict=True)],
        },
        "metrics": metrics,
    }


def energy_binned(energy_pred: np.ndarray, energy_true: np.ndarray, flag: np.ndarray) -> dict:
    """:func:`energy_summary` in bins of true energy."""
    edges = statistics.bin_edges(*BINS_EEV)
    index = statistics.bin_index(energy_true, edges)
    bins = [
        energy_summary(energy_pred[sel], energy_true[sel], flag[sel])
        for sel in (index == k for k in range(BINS_EEV[2]))
    ]
    return {"edges_eev": edges.tolist(), "bins": bins}


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = sim.SimulationSettings.from_config({"n_events": args.n_events, "block_size": 1000})
    data, sim_s = timed(lambda: sim.simulate_events(settings, args.seed, range(settings.n_blocks)), 1)
    baseline = bl.BaselineSettings.from_config({"front": args.front})
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
    ok = reco["flag"] == bl.FLAG_OK  # the flagged events have no direction
    axis_true = data["axis"].astype(np.float64)
    direction_68 = direction_record(
        reco["axis"][ok], axis_true[ok], energy[ok], data["zenith"][ok].astype(np.float64)
    )
    core_m = np.linalg.norm(reco["core_rec"] - data["core"], axis=1)
    flag_test = reco_test["flag"]

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
        "settings": baseline.reconstruction_settings(),
        "n_train": n_train,
        "n_test": n_test,
        "flagged": bl.flag_counts(reco["flag"]),
        "n_triggered_min": int(reco["n_triggered"].min()),
        "direction_68_deg": direction_68,
        "core_68_m": float(np.quantile(core_m[ok], 0.68)),
        "energy_train": calibration["train_statistics"]["all"],
        "energy_test": energy_summary(energy_pred, energy[test], flag_test),
        "energy_test_binned": energy_binned(energy_pred, energy[test], flag_test),
        "calibration": {
            "A": calibration["A"],
            "B": calibration["B"],
            "zenith_coefficients": calibration["zenith_correction"]["coefficients"],
        },
        "provenance": io.provenance(),
    }
    io.write_json(args.output, record)
    plotting.save(figure(record), args.output.with_suffix(".png"))
    at_points = record["direction_68_deg"]["at_energy_eev"]
    print(
        f"baseline: {record['events_per_s']:.0f} events/s; 68 % angle "
        + ", ".join(f"{v['angle68_deg']:.2f} deg at {k} EeV" for k, v in at_points.items())
        + f"; energy bias {100 * record['energy_test']['relative_bias']:+.2f} %, resolution "
        f"{100 * record['energy_test']['relative_resolution']:.2f} % ({n_test} test events)"
    )


def direction_axes(ax, record: dict) -> None:
    """68 % containment angle in energy bins and around the quoted energies."""
    binned_dir = record["direction_68_deg"]["binned"]
    edges = np.asarray(binned_dir["edges_eev"])
    centre = statistics.bin_centers(edges)
    value = plotting.style.as_array(binned_dir["angle68_deg"])
    interval = np.column_stack(
        [plotting.style.as_array(col) for col in zip(*binned_dir["interval_deg"], strict=True)]
    )
    ax.errorbar(
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
    y = plotting.style.as_array([p["angle68_deg"] for p in points.values()])
    band = np.column_stack(
        [
            plotting.style.as_array(col)
            for col in zip(*(p["interval_deg"] for p in points.values()), strict=True)
        ]
    )
    text = ", ".join(f"{v:.2f}° at {k:g} EeV" for k, v in zip(x, y, strict=True))
    ax.errorbar(
        x,
        y,
        yerr=[y - band[:, 0], band[:, 1] - y],
        fmt="o",
        mfc="none",
        color="tab:red",
        ms=10,
        label=f"±0.1 in $\\log_{{10}} E$: {text}",
    )
    ax.set_ylabel("68 % containment angle [deg]")
    ax.set_ylim(0, None)
    ax.set_title("direction resolution")


def energy_axes(ax, record: dict) -> None:
    """Relative energy bias and resolution of the test split in energy bins."""
    centre = statistics.bin_centers(np.asarray(record["energy_test_binned"]["edges_eev"]))
    bins = record["energy_test_binned"]["bins"]
    bias = np.array([100 * b["relative_bias"] for b in bins])
    bias_err = np.array([100 * b["relative_bias_error"] for b in bins])
    res = np.array([100 * b["relative_resolution"] for b in bins])
    res_err = np.array([100 * b["relative_resolution_error"] for b in bins])
    ax.errorbar(centre, res, yerr=res_err, fmt="*-", color="black", label="resolution $\\sigma_E/E$")
    ax.errorbar(
        centre, bias, yerr=bias_err, fmt="o--", color="grey", label="bias $\\langle\\Delta E/E\\rangle$"
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("relative energy bias, resolution [%]")
    ax.set_title(f"energy (test split, {record['n_test']} events)")


def figure(record: dict) -> Figure:
    with matplotlib.rc_context(plotting.RC):
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        ax_dir, ax_e = fig.subplots(1, 2)
        direction_axes(ax_dir, record)
        energy_axes(ax_e, record)
        for ax in (ax_dir, ax_e):
            ax.set_xscale("log")
            ax.set_xlabel(plotting.LABEL["energy_true"])
            ax.legend(loc="upper right")
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
