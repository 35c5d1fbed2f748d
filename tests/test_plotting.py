"""Figures: labels with units, legends, model colours, atomic PNG/PDF output; report captions.

Every figure function is run on small synthetic data and drawn (so layout and colour scales are
exercised), then its axes are inspected. The captions of workflow/report/ are rendered the way
``snakemake --report`` renders them (Jinja2, then docutils) for both shipped configs.
"""

from __future__ import annotations

import io as _io
import re
import types
from collections.abc import Sequence

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from airshower import evaluation as ev
from airshower import plotting as pl
from airshower.config import load_config
from airshower.evaluation import convergence as ev_conv
from airshower.evaluation import uncertainty as ev_unc
from airshower.plotting import style as pl_style
from airshower.plotting import uncertainty as pl_unc
from airshower.schema import BASELINE
from airshower.study import compared_models, model_seeds, study_targets
from conftest import ROOT

UNIT = re.compile(r"\[[^\]]+\]")  # "[EeV]", "[%]", "[km]", ...
MODELS = ["fcn", "cnn", "cnn_pyramid", BASELINE]
SETTINGS = ev.EvaluationSettings.from_config(
    {"energy_bins_eev": {"min": 3.16, "max": 100.0, "n": 4}, "bootstrap": 10}
)


def draw(fig: Figure) -> Figure:
    """Render once (layout, norms and tick formatters run only at draw time)."""
    fig.savefig(_io.BytesIO(), format="png", dpi=30)
    return fig


def data_axes(fig: Figure) -> list:
    """Visible axes that are not colour bars."""
    return [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]


def colorbar_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]


def assert_labelled(fig: Figure, units_x: bool = True, units_y: bool = True) -> None:
    for ax in data_axes(fig):
        xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
        shared_x = ax.get_shared_x_axes().get_siblings(ax)
        if not xlabel and len(shared_x) > 1:  # the bottom panel of a shared x axis carries it
            xlabel = next(a.get_xlabel() for a in shared_x if a.get_xlabel())
        shared_y = ax.get_shared_y_axes().get_siblings(ax)
        if not ylabel and len(shared_y) > 1:
            ylabel = next(a.get_ylabel() for a in shared_y if a.get_ylabel())
        assert xlabel, f"unlabelled x axis in {fig}"
        assert ylabel or ax.get_yticklabels(), f"unlabelled y axis in {fig}"
        if units_x:
            assert UNIT.search(xlabel), xlabel
        if units_y and ylabel:
            assert UNIT.search(ylabel) or ylabel.startswith(("events", "triggered")), ylabel


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def fig_legend_labels(fig: Figure) -> list[str]:
    return [t.get_text() for lg in fig.legends for t in lg.get_texts()]


# --- synthetic inputs ------------------------------------------------------------------------


def fake_run(seed: int, scale: float, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    e_true = 10 ** r.uniform(0.5, 2.0, n)
    return e_true, e_true * (1 + r.normal(0.01 * seed, scale, n))


def fake_metrics(model: str, seed: int, scale: float) -> dict:
    e_true, e_pred = fake_run(seed, scale)
    return {
        "model": model,
        "seed": seed,
        **ev.compute_metrics(e_true, e_pred, SETTINGS, np.random.default_rng(seed)),
    }


@pytest.fixture(scope="module")
def summary() -> dict:
    seeds = {"fcn": [1, 2, 3], "cnn": [1, 2], "cnn_pyramid": [4], BASELINE: [0]}
    scales = {"fcn": 0.2, "cnn": 0.12, "cnn_pyramid": 0.1, BASELINE: 0.25}
    return {m: ev.aggregate_seeds([fake_metrics(m, s, scales[m]) for s in seeds[m]]) for m in MODELS}


@pytest.fixture(scope="module")
def showers() -> dict:
    r = np.random.default_rng(5)
    n, side = 40, 14
    pos = (np.arange(side) - (side - 1) / 2) * 750.0
    gx, gy = np.meshgrid(pos, pos, indexing="xy")
    detector = np.stack([gx.ravel(), gy.ravel(), np.full(side * side, 1400.0)], axis=1)
    energy = 10 ** r.uniform(0.5, 2.0, n)
    core = r.uniform(-700, 700, (n, 2))
    dist = np.hypot(detector[:, 0] - core[:, :1], detector[:, 1] - core[:, 1:])
    signal = 90 * energy[:, None] * (np.maximum(dist, 150) / 1000) ** -5
    signal[signal < 20] = np.nan
    time = detector[:, 0] / 3e8 * 1e6 * 0.5 + np.where(np.isfinite(signal), 0.0, np.nan)
    return {
        "time": time.reshape(n, side, side).astype(np.float32),
        "signal": signal.reshape(n, side, side).astype(np.float32),
        "detector": detector.astype(np.float32),
        "energy": energy.astype(np.float32),
        "zenith": np.arccos(np.sqrt(1 - r.uniform(size=n) * 0.75)).astype(np.float32),
        "xmax": r.gumbel(750, 50, n).astype(np.float32),
        "core": core.astype(np.float32),
    }


def history(n_epochs: int, offset: float = 0.0) -> dict[str, np.ndarray]:
    epoch = np.arange(n_epochs, dtype=float)
    loss = 0.3 + np.exp(-epoch / 3) + offset
    return {"epoch": epoch, "loss": loss, "val_loss": loss * 1.1, "learning_rate": 1e-3 * 0.5 ** (epoch // 4)}


# --- style -----------------------------------------------------------------------------------


def test_model_colours_do_not_depend_on_the_baseline_and_baseline_is_black():
    with_base = pl.model_styles(["fcn", "cnn", BASELINE])
    without = pl.model_styles(["fcn", "cnn"])
    assert with_base["fcn"] == without["fcn"]
    assert with_base["cnn"] == without["cnn"]
    assert with_base[BASELINE]["color"] == "black"
    assert len({with_base[m]["color"] for m in with_base}) == 3
    assert pl.model_color("cnn", ["fcn", "cnn", BASELINE]) == with_base["cnn"]["color"]


def test_seed_colours_are_distinct_shades_of_the_model_colour():
    import matplotlib.colors as mcolors

    base = pl.model_color("cnn", MODELS)
    shades = pl.seed_colors([1, 2, 3], base)
    assert len(set(shades.values())) == 3
    hue = mcolors.rgb_to_hsv(mcolors.to_rgb(base))[0]
    for c in shades.values():
        assert mcolors.rgb_to_hsv(mcolors.to_rgb(c))[0] == pytest.approx(hue, abs=0.02)
    assert pl.seed_colors([7], base) == {7: mcolors.to_hex(base)}


# --- data figures ----------------------------------------------------------------------------


def test_n_triggered_and_choice_of_footprints(showers):
    n_trig = pl.n_triggered(showers["signal"])
    assert n_trig.tolist() == np.isfinite(showers["signal"]).reshape(40, -1).sum(axis=1).tolist()
    pick = pl.choose_footprints(showers["energy"], n_trig, 4, np.random.default_rng(1))
    again = pl.choose_footprints(showers["energy"], n_trig, 4, np.random.default_rng(1))
    assert pick.tolist() == again.tolist()
    assert len(set(pick.tolist())) == 4
    assert np.all(np.diff(showers["energy"][pick]) > 0)  # one per energy quantile, sorted
    assert np.all(n_trig[pick] >= 3)


def test_footprints_figure(showers):
    pick = pl.choose_footprints(
        showers["energy"], pl.n_triggered(showers["signal"]), 2, np.random.default_rng(0)
    )
    fig = draw(
        pl.footprints(
            *(showers[k][pick] for k in ("time", "signal")),
            showers["detector"],
            *(showers[k][pick] for k in ("energy", "zenith", "xmax", "core")),
        )
    )
    axes = data_axes(fig)
    assert len(axes) == 4  # a time and a signal map per event
    assert_labelled(fig)
    assert all(ax.get_xlabel() == "x [km]" and ax.get_ylabel() == "y [km]" for ax in axes)
    bars = [ax.get_ylabel() for ax in colorbar_axes(fig)]
    assert sum("[µs]" in b for b in bars) == 2
    assert sum("[VEM]" in b for b in bars) == 2
    # the station grid spans the array: 13 spacings of 750 m
    x0, x1 = axes[0].get_xlim()
    assert x1 - x0 == pytest.approx(14 * 0.75, rel=0.01)


def test_input_distributions_figure(showers):
    fig = draw(
        pl.input_distributions(
            showers["energy"], showers["zenith"], showers["xmax"], pl.n_triggered(showers["signal"])
        )
    )
    axes = data_axes(fig)
    assert len(axes) == 4
    assert_labelled(fig)
    energy_axes = [ax for ax in axes if "EeV" in ax.get_xlabel()]
    assert len(energy_axes) == 2
    assert all(ax.get_xscale() == "log" for ax in energy_axes)
    for ax in axes:
        assert legend_labels(ax), ax.get_xlabel()
    assert "40 showers" in legend_labels(axes[0])[0]


# --- per model -------------------------------------------------------------------------------


def test_training_curves_figure_per_seed_in_model_shades():
    color = pl.model_color("fcn", MODELS)
    fig = draw(pl.training_curves({1: history(12), 2: history(9, 0.05)}, "fcn", color))
    a_loss, a_lr = data_axes(fig)
    assert a_loss.get_yscale() == "log"
    assert a_lr.get_yscale() == "log"
    assert a_lr.get_xlabel() == "epoch"
    assert a_loss.get_ylabel()
    assert a_lr.get_ylabel()
    labels = legend_labels(a_loss)
    assert {"seed 1: training", "seed 1: validation", "seed 2: validation"} <= set(labels)
    assert legend_labels(a_lr) == ["seed 1", "seed 2"]
    shades = pl.seed_colors([1, 2], color)
    lines = {ln.get_label(): ln for ln in a_loss.get_lines()}
    assert lines["seed 2: training"].get_color() == shades[2]
    assert lines["seed 1: training"].get_xdata()[0] == 1  # epochs counted from 1
    # plain tick labels on the log loss axis (0.5, 1), not 5 x 10^-1
    texts = [t.get_text() for t in a_loss.get_yticklabels() if t.get_text()]
    assert texts
    assert not any("10^" in t or "e-0" in t for t in texts), texts


def test_training_curves_mark_a_resumed_seed():
    color = pl.model_color("cnn", MODELS)
    plain = draw(pl.training_curves({1: history(8), 2: history(8, 0.05)}, "cnn", color))
    fig = draw(pl.training_curves({1: history(8), 2: history(8, 0.05)}, "cnn", color, resumed={2: 3}))
    a_loss, a_lr = data_axes(fig)
    assert "seed 2: resumed after epoch 3" in legend_labels(a_loss)
    marks = [ln for ax in (a_loss, a_lr) for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(marks) == 2  # one on each panel
    assert all(list(ln.get_xdata()) == [3.5, 3.5] for ln in marks)  # between epochs 3 and 4
    assert all(ln.get_color() == pl.seed_colors([1, 2], color)[2] for ln in marks)
    assert not any(ln.get_linestyle() == ":" for ax in data_axes(plain) for ln in ax.get_lines())
    assert not any("resumed" in label for label in legend_labels(data_axes(plain)[0]))


def test_training_curves_say_whether_each_seed_converged():
    color = pl.model_color("cnn", MODELS)
    histories = {1: history(12), 2: history(12, 0.05), 3: history(12, 0.1)}
    verdicts = {
        1: "converged (early stopping)",
        2: "not converged (still improving)",
        3: "converged (early stopping)",
    }
    fig = draw(pl.training_curves(histories, "cnn", color, convergence=verdicts))
    a_loss, _ = data_axes(fig)
    labels = legend_labels(a_loss)
    assert "seed 1: validation, converged (early stopping)" in labels
    assert "seed 2: validation, not converged (still improving)" in labels
    assert "seed 1: training" in labels  # the training line keeps its label
    assert a_loss.get_title() == (
        "cnn: training history (loss on the standardized energy)\n"
        "converged (early stopping): seeds 1, 3; not converged (still improving): seed 2"
    )
    # without verdicts: the title and legend as before
    plain = data_axes(draw(pl.training_curves(histories, "cnn", color)))[0]
    assert plain.get_title() == "cnn: training history (loss on the standardized energy)"
    assert "seed 1: validation" in legend_labels(plain)
    assert not any("converged" in label for label in legend_labels(plain))


def test_training_curves_of_one_short_run_are_visible():
    fig = draw(pl.training_curves({1: history(1)}, "cnn"))
    line = next(ln for ln in data_axes(fig)[0].get_lines() if ln.get_label() == "seed 1: training")
    assert line.get_marker() == "o"  # a single epoch is a point, not an invisible line


def test_residuals_figure_reports_mu_and_sigma():
    runs = {1: fake_run(1, 0.1), 2: fake_run(2, 0.2)}
    fig = draw(pl.residuals(runs, "cnn", pl.model_color("cnn", MODELS)))
    a_abs, a_rel = data_axes(fig)
    assert "[EeV]" in a_abs.get_xlabel()
    assert "[%]" in a_rel.get_xlabel()
    assert_labelled(fig)
    t, p = runs[2]
    mu, sigma = np.mean(p - t), np.std(p - t, ddof=1)
    assert f"seed 2: μ = {mu:.2f} EeV, σ = {sigma:.2f} EeV" in legend_labels(a_abs)
    rel = 100 * (p - t) / t
    assert f"μ = {np.mean(rel):.2f} %, σ = {np.std(rel, ddof=1):.2f} %" in legend_labels(a_rel)[1]


@pytest.mark.parametrize("n", [300, 2500])
def test_energy_scatter_points_or_histogram_on_log_axes(n):
    e_true, e_pred = fake_run(3, 0.15, n)
    e_pred[:3] = 0.01  # wild reconstructions are drawn at the lower edge and counted
    fig = draw(pl.energy_scatter(e_true, e_pred, "fcn", (3.16, 100.0)))
    ax = data_axes(fig)[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert_labelled(fig)
    assert "[EeV]" in ax.get_xlabel()
    assert "[EeV]" in ax.get_ylabel()
    assert len(legend_labels(ax)) >= 2
    n_low = int(np.count_nonzero(e_pred < 3.16 / 1.3))  # below the lower axis limit
    assert n_low >= 3
    assert f"; {n_low} with" in ax.get_title()
    assert bool(colorbar_axes(fig)) == (n >= 2000)  # 2-D histogram for large samples
    lo, hi = ax.get_xlim()
    assert lo < 3.16
    assert hi > 100.0
    assert ax.get_ylim() == pytest.approx((lo, hi))


def test_energy_scatter_profile_is_mean_and_sample_std_per_bin():
    e_true, e_pred = fake_run(4, 0.15, 800)
    profile = data_axes(draw(pl.energy_scatter(e_true, e_pred, "fcn", (3.16, 100.0))))[0].containers[0]
    edges = np.logspace(np.log10(3.16), 2.0, 11)
    sel = e_pred[(e_true >= edges[4]) & (e_true < edges[5])]
    assert profile.lines[0].get_ydata()[4] == pytest.approx(sel.mean())
    low, high = profile.lines[2][0].get_segments()[4][:, 1]
    assert (high - low) / 2 == pytest.approx(np.std(sel, ddof=1))


def test_bias_resolution_vs_energy_figure():
    records = [fake_metrics("cnn", 1, 0.1), fake_metrics("cnn", 2, 0.15)]
    fig = draw(pl.bias_resolution_vs_energy(records, "cnn", pl.model_color("cnn", MODELS)))
    axes = data_axes(fig)
    assert len(axes) == 3
    assert_labelled(fig)
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert [ax.get_ylabel().split("[")[-1] for ax in axes] == ["EeV]", "EeV]", "%]"]
    for ax in axes:
        assert len(legend_labels(ax)) >= 2
    # the plotted relative resolution of seed 2 is the metrics' value in per cent
    rel = axes[2].containers[1]
    np.testing.assert_allclose(
        rel.lines[0].get_ydata(), 100 * np.array(records[1]["bins"]["relative_resolution"]["value"])
    )


def fake_uncertain_run(seed: int, scale: float, n: int = 3000) -> tuple[dict, np.ndarray]:
    """Metrics record with ``uncertainty`` and the pulls of a model whose predicted sigma is
    ``scale`` times the width of its residuals."""
    r = np.random.default_rng(seed)
    e_pred = 10 ** r.uniform(0.5, 2.0, n)
    sigma = e_pred * r.uniform(0.04, 0.2, n)
    e_true = e_pred + sigma * r.normal(size=n)
    rec = {"model": "gauss", "seed": seed, **ev.compute_metrics(e_true, e_pred, SETTINGS, r)}
    rec["uncertainty"] = ev.uncertainty_metrics(e_true, e_pred, scale * sigma, SETTINGS, r)
    rec["uncertainty_raw"] = ev.uncertainty_metrics(e_true, e_pred, 0.8 * sigma, SETTINGS, r)
    return rec, ev.pulls(e_true, e_pred, scale * sigma)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_uncertainty_calibration_figure(scale):
    runs = {seed: fake_uncertain_run(seed, scale) for seed in (1, 2)}
    records = [rec for rec, _ in runs.values()]
    pulls = {seed: pull for seed, (_, pull) in runs.items()}
    fig = draw(pl.uncertainty_calibration(records, pulls, "gauss", pl.model_color("gauss", ["fcn", "gauss"])))
    a_abs, a_rel, a_cov, a_pull = axes = data_axes(fig)
    assert len(axes) == 4
    assert_labelled(fig)
    # coverage per energy bin: the metrics' calibrated and raw values against the nominal 68.27 %
    bins = records[1]["uncertainty"]["bins"]
    shown = series(a_cov)
    np.testing.assert_allclose(
        shown["seed 2: calibrated σ"].lines[0].get_ydata(), 100 * np.array(bins["coverage68"]["value"])
    )
    raw = records[1]["uncertainty_raw"]["bins"]["coverage68"]["value"]
    np.testing.assert_allclose(shown["seed 2: raw σ"].lines[0].get_ydata(), 100 * np.array(raw))
    assert np.all(np.array(raw) < 0.6827)  # widths 20 % too small cover less than nominal
    assert a_cov.get_xscale() == "log"
    assert "[EeV]" in a_cov.get_xlabel()
    assert "[EeV]" in a_abs.get_xlabel()
    assert "[EeV]" in a_abs.get_ylabel()
    assert "[%]" in a_rel.get_xlabel()
    assert "[%]" in a_rel.get_ylabel()
    assert "pull" in a_pull.get_xlabel()
    assert a_pull.get_ylabel() == "events / bin"
    assert a_abs.get_xscale() == a_abs.get_yscale() == "log"
    # the points are the metrics: observed std against predicted RMS width, per seed
    cal = records[1]["uncertainty"]["calibration"]
    std = series(a_abs)["seed 2: std"]
    np.testing.assert_allclose(std.lines[0].get_xdata(), cal["absolute"]["predicted_rms"])
    np.testing.assert_allclose(std.lines[0].get_ydata(), cal["absolute"]["observed_spread"]["value"])
    rel = series(a_rel)["seed 2: 68 % half-width"]
    np.testing.assert_allclose(
        rel.lines[0].get_ydata(), 100 * np.array(cal["relative"]["observed_robust_spread"]["value"])
    )
    for ax in (a_abs, a_rel):  # the diagonal of a calibrated uncertainty
        diagonal = next(ln for ln in ax.get_lines() if ln.get_label().startswith("calibrated"))
        np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    # calibrated: on the diagonal; sigma too small by 2: a factor 2 above it
    ratio = std.lines[0].get_ydata() / std.lines[0].get_xdata()
    np.testing.assert_allclose(ratio, 1 / scale, rtol=0.15)
    # the legend states the coverage computed from the pulls
    pull = pulls[1]
    c68, c95 = np.mean(np.abs(pull) <= 1), np.mean(np.abs(pull) <= 1.96)
    width = np.std(pull, ddof=1)
    labels = legend_labels(a_pull)
    assert f"seed 1: coverage 68 % = {100 * c68:.1f} %, 95 % = {100 * c95:.1f} %" in labels[0]
    assert f"width {width:.2f}" in labels[0]
    assert labels[-1] == "unit Gaussian: coverage 68.3 %, 95.0 %; width 1"
    if scale == 1.0:
        assert c68 == pytest.approx(0.6827, abs=4 * np.sqrt(0.68 * 0.32 / pull.size))
    gauss = next(ln for ln in a_pull.get_lines() if ln.get_label().startswith("unit Gaussian"))
    bin_width = 2 * pl_unc.PULL_RANGE / pl_unc.PULL_BINS
    assert gauss.get_ydata().max() == pytest.approx(pull.size * bin_width / np.sqrt(2 * np.pi), rel=1e-3)
    assert a_pull.get_ylim()[1] > 1.2 * gauss.get_ydata().max()  # room for the legend


# --- comparison ------------------------------------------------------------------------------


def series(ax) -> dict[str, object]:
    return {c.get_label(): c for c in ax.containers}


def test_relative_resolution_comparison_colours_errors_and_values(summary):
    fig = draw(pl.relative_resolution_vs_energy(summary, MODELS))
    ax = data_axes(fig)[0]
    assert_labelled(fig)
    assert ax.get_xscale() == "log"
    assert "[%]" in ax.get_ylabel()
    by_label = series(ax)
    assert len(by_label) == 4
    assert fig_legend_labels(fig)[4:] == [pl_style.ERROR_KINDS["spread"], pl_style.ERROR_KINDS["bootstrap"]]
    styles = pl.model_styles(MODELS)
    for label, container in by_label.items():
        model = label.split(" (")[0]
        assert container.lines[0].get_color() == styles[model]["color"]
    fcn = by_label["fcn (3 seeds)"]
    np.testing.assert_allclose(
        fcn.lines[0].get_ydata(), 100 * np.array(summary["fcn"]["bins"]["relative_resolution"]["mean"])
    )
    # error bar: the spread over seeds (standard deviation)
    seg = fcn.lines[2][0].get_segments()[0]
    assert seg[1][1] - seg[0][1] == pytest.approx(
        2 * 100 * summary["fcn"]["bins"]["relative_resolution"]["std"][0]
    )
    # single-result models: bootstrap half-width instead, and the legend says so
    assert "baseline (1 seed; bootstrap 68 %)" in by_label
    assert "cnn_pyramid (1 seed; bootstrap 68 %)" in by_label
    ensemble = pl.relative_resolution_vs_energy({"cnn_ensemble": summary["cnn_pyramid"]}, ["cnn_ensemble"])
    assert fig_legend_labels(ensemble)[0] == "cnn_ensemble (seed ensemble; bootstrap 68 %)"
    # the two kinds of error bar look different: a spread over seeds without caps, a bootstrap
    # interval with them
    assert not by_label["fcn (3 seeds)"].lines[1]
    assert not by_label["cnn (2 seeds)"].lines[1]
    assert by_label["baseline (1 seed; bootstrap 68 %)"].lines[1]
    assert by_label["cnn_pyramid (1 seed; bootstrap 68 %)"].lines[1]


def test_bias_comparison_has_absolute_and_relative_panels(summary):
    fig = draw(pl.bias_vs_energy(summary, MODELS))
    a_abs, a_rel = data_axes(fig)
    assert_labelled(fig)
    assert "[EeV]" in a_abs.get_ylabel()
    assert "[%]" in a_rel.get_ylabel()
    assert len(fig_legend_labels(fig)) == 4 + 2  # the models and the two kinds of error bar
    base = series(a_rel)["baseline (1 seed; bootstrap 68 %)"]
    np.testing.assert_allclose(
        base.lines[0].get_ydata(), 100 * np.array(summary[BASELINE]["bins"]["relative_bias"]["mean"])
    )


def test_overall_resolution_chart(summary):
    fig = draw(pl.resolution_overall(summary, MODELS))
    a_abs, a_rel = data_axes(fig)
    assert "[EeV]" in a_abs.get_xlabel()
    assert "[%]" in a_rel.get_xlabel()
    rows = dict(zip(a_abs.get_yticks(), [t.get_text() for t in a_abs.get_yticklabels()], strict=True))
    assert [rows[y] for y in sorted(rows, reverse=True)] == MODELS  # top to bottom in config order
    assert fig_legend_labels(fig)[3:] == [pl_style.ERROR_KINDS["spread"], pl_style.ERROR_KINDS["bootstrap"]]
    caps = {len(c.lines[1]) > 0 for c in a_rel.containers}
    assert caps == {True, False}  # the baseline's bootstrap interval capped, the seed spreads not
    values = {c.lines[0].get_xdata()[0] for c in a_rel.containers}
    expected = {100 * summary[m]["overall"]["relative_resolution"]["mean"] for m in MODELS}
    assert sorted(values) == pytest.approx(sorted(expected))
    assert a_abs.get_xlim()[0] == 0


def test_comparison_survives_empty_bins(summary):
    broken = {m: summary[m] for m in ("fcn", BASELINE)}
    import copy

    broken = copy.deepcopy(broken)
    for key in ("mean", "std", "stat"):
        broken[BASELINE]["bins"]["relative_resolution"][key][0] = None
    fig = draw(pl.relative_resolution_vs_energy(broken, ["fcn", BASELINE]))
    y = series(data_axes(fig)[0])["baseline (1 seed; bootstrap 68 %)"].lines[0].get_ydata()
    assert np.isnan(y[0])
    assert np.all(np.isfinite(y[1:]))


def assert_inside(fig: Figure) -> None:
    """The legends and titles of ``fig`` lie within it, so saving clips none of them."""
    fig.draw_without_rendering()
    box = fig.bbox
    titles = [fig._suptitle, *(ax.title for ax in fig.axes)]  # noqa: SLF001 (no public getter)
    texts = [*fig.legends, *(t for t in titles if t is not None and t.get_text())]
    assert fig.legends, "no figure legend"
    for artist in texts:
        ext = artist.get_window_extent()
        assert box.x0 - 1 <= ext.x0, (artist, ext, box)
        assert ext.x1 <= box.x1 + 1, (artist, ext, box)
        assert box.y0 - 1 <= ext.y0, (artist, ext, box)
        assert ext.y1 <= box.y1 + 1, (artist, ext, box)
    if fig._suptitle is not None:  # noqa: SLF001
        title = fig._suptitle.get_window_extent()  # noqa: SLF001
        assert not any(title.overlaps(lg.get_window_extent()) for lg in fig.legends), "legend over the title"


NETS = ["fcn", "cnn", "cnn_tuned_nll", "cnn_tuned_nll_aug", "cnn_multi"]
LONG_NAMES = [*NETS, *(f"{m}_ensemble" for m in NETS)]  # the default study's networks


@pytest.mark.parametrize("n_models", [2, 4, 11])
def test_comparison_keeps_the_models_of_one_bin_at_its_energy(summary, n_models):
    names = [*LONG_NAMES[: n_models - 1], BASELINE]
    many = {name: summary["cnn"] for name in names[:-1]} | {BASELINE: summary[BASELINE]}
    fig = pl.relative_resolution_vs_energy(many, names)
    assert_inside(fig)
    ax = data_axes(fig)[0]
    b = summary["cnn"]["bins"]
    log_width = np.log10(np.divide(b["edges_eev"][1:], b["edges_eev"][:-1]))
    offsets = np.array([np.log10(c.lines[0].get_xdata() / b["center_eev"]) for c in ax.containers])
    assert offsets.shape == (n_models, len(log_width))
    # every model of a bin within ± BIN_DODGE (15 %) of the bin's log width, centred on the bin
    assert pl_style.BIN_DODGE <= 0.15
    assert np.all(np.abs(offsets) <= pl_style.BIN_DODGE * log_width * (1 + 1e-9))
    np.testing.assert_allclose(offsets.max(axis=0) - offsets.min(axis=0), 2 * pl_style.BIN_DODGE * log_width)
    np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=1e-12)
    # the values themselves are those of the summary
    np.testing.assert_allclose(
        ax.containers[0].lines[0].get_ydata(), 100 * np.array(b["relative_resolution"]["mean"])
    )


def test_overall_and_bias_legends_lie_inside_the_figure(summary):
    names = [*LONG_NAMES, BASELINE]
    many = {name: summary["fcn"] for name in LONG_NAMES} | {BASELINE: summary[BASELINE]}
    assert_inside(pl.bias_vs_energy(many, names))
    assert_inside(pl.resolution_overall(many, names))
    one = pl.resolution_overall({"cnn": summary["cnn"]}, ["cnn"])
    assert_inside(one)
    assert one.get_size_inches()[1] * 60 > 200  # readable at the tiny study's 60 dpi


# --- systematics -----------------------------------------------------------------------------


def shift_entry(mean: float, half: float = 0.005) -> dict:
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "std": None, "nominal": None, "variant": None}


def systematics_summary(big: float, models: Sequence[str] = ("fcn", "cnn", "cnn_tuned_nll_ensemble")) -> dict:
    """Energy shifts of ``models`` (two seeds, an ensemble one) and the baseline in three
    variants; the change of cnn's resolution in dead10 is ``big``, the others a few per cent."""
    models = [*models, BASELINE]
    shifts = {}
    for i, variant in enumerate(["sibyll", "dead10", "scale+5"]):
        shifts[variant] = {}
        for k, model in enumerate(models):
            res = big if (variant, model) == ("dead10", "cnn") else 0.01 * (1 + i + k) * (-1) ** k
            n = 1 if model == BASELINE or model.endswith("_ensemble") else 2
            energy = {"relative_bias": shift_entry(0.002 * (k - i)), "relative_resolution": shift_entry(res)}
            shifts[variant][model] = {"n_seeds": n, "seeds": list(range(n)), "targets": {"energy": energy}}
    return {"variants": list(shifts), "models": models, "shifts": shifts}


def test_symlog_threshold_is_the_typical_shift_when_one_dwarfs_the_rest():
    assert pl_style.symlog_threshold([1.0, -2.0, 3.0, 9.0, np.nan]) is None  # within 10x: linear
    assert pl_style.symlog_threshold([1.0, -2.0, 3.0, 250.0]) == 5.0  # median 2.5 -> 5
    assert pl_style.symlog_threshold([0.0, np.nan]) is None
    assert [pl_style.nice_ceil(v) for v in (0.03, 1.0, 1.2, 4.9, 7.0)] == [0.05, 1.0, 2.0, 5.0, 10.0]


def test_systematics_axis_is_symlog_when_one_shift_dwarfs_the_others():
    summary = systematics_summary(2.5)  # +250 %
    fig = draw(pl.systematics_figures(summary, ["energy"])["energy"])
    assert_inside(fig)
    a_bias, a_res = data_axes(fig)
    assert a_bias.get_yscale() == "linear"  # bias shifts all alike
    assert a_res.get_yscale() == "symlog"
    means = [
        e["targets"]["energy"]["relative_resolution"]["mean"]
        for v in summary["shifts"].values()
        for e in v.values()
    ]
    linthresh = a_res.yaxis.get_transform().linthresh
    assert linthresh == pl_style.nice_ceil(np.median(np.abs(100 * np.array(means))))
    assert np.sum(np.abs(100 * np.array(means)) <= linthresh) > len(means) / 2  # typical shifts: linear
    labels = [t.get_text() for t in a_res.get_yticklabels()]
    assert "0" in labels
    assert "100" in labels
    assert all(re.fullmatch(r"[−-]?\d+(\.\d+)?", t) for t in labels), labels  # plain numbers, no 10^k
    assert f"linear within ±{linthresh:g}" in a_res.get_title(loc="left")
    # the values are the same: the mean shift in per cent
    cnn = {c.get_label(): c for c in a_res.containers}["cnn"]
    np.testing.assert_allclose(cnn.lines[0].get_ydata(), [-2.0, 250.0, -4.0])


def test_systematics_legend_shows_models_and_error_bar_kinds():
    fig = draw(pl.systematics_figures(systematics_summary(0.04), ["energy"])["energy"])
    assert_inside(fig)
    assert all(ax.get_yscale() == "linear" for ax in data_axes(fig))  # no shift dwarfs the rest
    labels = fig_legend_labels(fig)
    assert labels[:4] == ["fcn", "cnn", "cnn_tuned_nll_ensemble", BASELINE]
    assert len(labels) == 6  # and the two kinds of error bar
    caps = {c.get_label(): len(c.lines[1]) > 0 for c in data_axes(fig)[0].containers}
    assert caps == {"fcn": False, "cnn": False, "cnn_tuned_nll_ensemble": True, BASELINE: True}
    # the default study's eleven models: the legend still fits (it was cut at both ends)
    assert_inside(pl.systematics_figures(systematics_summary(2.5, LONG_NAMES), ["energy"])["energy"])


def test_one_panel_systematics_figure_keeps_legend_off_the_title():
    psi = {"sibyll": 0.003, "dead10": 1.8, "scale+5": -0.002}
    models = ["cnn_multi", "cnn_multi_ensemble", BASELINE]
    shifts = {
        v: {m: {"n_seeds": 1, "targets": {"direction": {"psi68_deg": shift_entry(x, 0.01)}}} for m in models}
        for v, x in psi.items()
    }
    fig = pl.systematics_figures({"variants": list(psi), "models": models, "shifts": shifts})["direction"]
    assert_inside(fig)
    (ax,) = data_axes(fig)
    assert ax.get_yscale() == "symlog"
    assert ax.yaxis.get_transform().linthresh == 0.005  # the median shift, 0.003, rounded up


# --- saving ----------------------------------------------------------------------------------


def test_plot_settings_from_the_schema():
    assert pl.PlotSettings.from_config() == pl.PlotSettings(formats=("png",), dpi=120, n_footprints=4)
    assert pl.PlotSettings.from_config({"formats": ["png", "pdf"]}).formats == ("png", "pdf")


def test_save_writes_png_and_pdf_atomically(tmp_path):
    fig = pl.training_curves({1: history(5)}, "fcn")
    target = tmp_path / "figs" / "curves.png"
    settings = pl.PlotSettings.from_config({"formats": ["png", "pdf"], "dpi": 50})
    written = pl.save(fig, target, settings)
    assert written == [target, target.with_suffix(".pdf")]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(target)
    w, h = fig.get_size_inches()
    assert image.shape[:2] == (round(h * 50), round(w * 50))
    assert image[..., :3].std() > 0.05  # not blank
    assert target.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    pl.save(fig, target, settings)
    assert sorted(p.name for p in target.parent.iterdir()) == ["curves.pdf", "curves.png"]  # no temp files


def test_save_keeps_the_old_file_when_drawing_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    fig = pl.training_curves({1: history(3)}, "fcn")

    def boom(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        pl.save(fig, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_pdf_bytes_do_not_depend_on_the_time(tmp_path):
    fig = pl.training_curves({1: history(4)}, "fcn")
    settings = pl.PlotSettings.from_config({"formats": ["png", "pdf"]})
    a = pl.save(fig, tmp_path / "a.png", settings)[1].read_bytes()
    b = pl.save(fig, tmp_path / "b.png", settings)[1].read_bytes()
    assert a == b


# --- report captions -------------------------------------------------------------------------

RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
CAPTIONS = sorted(
    {m for path in RULES for m in re.findall(r'caption="\.\./report/([^"]+)"', path.read_text())}
)


def render_caption(name: str, config: dict, figure: str = "psi68_vs_energy") -> tuple[str, str]:
    """(HTML, docutils warnings) of a caption rendered like ``snakemake --report`` does (a target
    figure's caption for the figure ``figure``)."""
    from docutils.core import publish_parts
    from jinja2 import Environment, StrictUndefined

    model = compared_models(config)[0]
    target = next(t for t, stems in pl.TARGET_FIGURES.items() if figure in stems)
    snakemake = types.SimpleNamespace(
        config=config,
        wildcards=types.SimpleNamespace(model=model, target=target, figure=figure),
        params=types.SimpleNamespace(
            model=model,
            variants=list(config["systematics"]["run"]) or ["sibyll"],
            targets=study_targets(config),
            models=compared_models(config),
            seeds=model_seeds(config, model),
            plots=config["plots"],
            evaluation=config["evaluation"],
            convergence_rule=ev_conv.RULE,
            calibration_bins=ev_unc.CALIBRATION_BINS,
            keep_fraction=ev_unc.KEEP_FRACTION,
        ),
    )
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    rst = env.from_string((ROOT / "workflow" / "report" / name).read_text()).render(
        snakemake=snakemake, categories={}, files=[]
    )
    warnings = _io.StringIO()
    html = publish_parts(
        rst, writer="html", settings_overrides={"warning_stream": warnings, "report_level": 1}
    )
    return html["html_body"], warnings.getvalue()


def test_every_caption_the_rules_name_exists():
    assert len(CAPTIONS) >= 10
    missing = [c for c in CAPTIONS if not (ROOT / "workflow" / "report" / c).is_file()]
    assert not missing
    assert 'report: "report/workflow.rst"' in (ROOT / "workflow" / "Snakefile").read_text()


@pytest.mark.parametrize("config_name", ["config.yaml", "test.yaml"])
def test_captions_render_cleanly_with_the_config_values(config_name):
    config = load_config(ROOT / "config" / config_name)
    figures = [stem for stems in pl.TARGET_FIGURES.values() for stem in stems]
    every = [(name, stem) for name in [*CAPTIONS, "workflow.rst"] for stem in figures[:1]]
    every += [("target_figure.rst", stem) for stem in figures[1:]]  # one branch per target figure
    for name, stem in every:
        html, warnings = render_caption(name, config, stem)
        assert not warnings, f"{name}: {warnings}"
        assert "{{" not in html, name
        assert "{%" not in html, name
        assert len(html) > 500, name
    html, _ = render_caption("workflow.rst", config)
    assert f"Study seed {config['seed']}" in html
    for model in config["models"]:
        assert re.search(f">{model}</(tt|code|span)>", html), model
    for name in ("summary.rst", "training_curves.rst"):  # the convergence rule, word for word
        assert "at least 10, and its lowest validation loss so far" in render_caption(name, config)[0], name
    n_bins = config["evaluation"]["energy_bins_eev"]["n"]
    assert f"{n_bins} bins of true energy" in render_caption("bias_resolution_vs_energy.rst", config)[0]
    html = render_caption("uncertainty_calibration.rst", config)[0]
    assert f"{ev_unc.CALIBRATION_BINS} bins of the predicted σ" in html
    assert "resolution of the 90 % of the events with the smallest predicted" in html
    assert f"({config['evaluation']['bootstrap']} resamples" in html


def test_an_ensemble_wears_its_networks_colour_dashed():
    styles = pl.model_styles(["fcn", "cnn", "fcn_ensemble", "baseline"])
    assert styles["fcn_ensemble"]["color"] == styles["fcn"]["color"] != styles["cnn"]["color"]
    assert styles["fcn_ensemble"]["linestyle"] == "--"
    assert styles["fcn"]["linestyle"] == "-"
