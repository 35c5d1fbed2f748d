"""Figures of every target (energy, direction, core, Xmax, mass): each builds from seed aggregates,
has labelled axes, and the plot script writes each file of TARGET_FIGURES."""

from __future__ import annotations

import runpy
import types

import pytest
from test_target_metrics import ZENITH_BINS, settings, streams, synthetic

from airshower import evaluation as ev
from airshower import io, plotting
from conftest import ROOT

MODELS = ["cnn", "cnn_ensemble", "baseline"]
SEEDS = {"cnn": [0, 1], "cnn_ensemble": [0], "baseline": [0]}


def summary_of(target: str) -> dict:
    out = {}
    for model, seeds in SEEDS.items():
        records = []
        for s in seeds:
            pred = synthetic(n=300, seed=s + 10 * len(model))
            rec = ev.compute_target_metrics(
                target, pred, settings(20), ZENITH_BINS, streams(s), classes=[1, 56]
            )
            records.append({"model": model, "seed": s, **rec})
        out[model] = ev.aggregate_seeds(records)
    return out


@pytest.mark.parametrize("target", list(plotting.TARGET_FIGURES))
def test_figures_build_with_labels(target):
    summary = summary_of(target)
    figures = plotting.target_figures(target, summary, MODELS)
    assert list(figures) == list(plotting.TARGET_FIGURES[target])
    for stem, fig in figures.items():
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
        assert axes, stem
        for ax in axes:
            assert ax.get_xlabel(), (stem, "x label")
        # a y label, or the models named on the y axis (the overall resolution)
        named = any(t.get_text() for t in axes[0].get_yticklabels())
        assert axes[0].get_ylabel() or named, (stem, "y label")


@pytest.mark.parametrize("target", plotting.TARGET_FIGURES)
def test_a_single_model_figure_is_readable_at_a_low_dpi(target):
    """The tiny study draws one model per target at 60 dpi; the report test asks for at least
    300 x 200 pixels (a single-model confusion matrix was 288 px wide, the merit figure 150 high)."""
    summary = summary_of(target)
    model = "cnn"
    for stem, fig in plotting.target_figures(target, {model: summary[model]}, [model]).items():
        width, height = fig.get_size_inches() * 60
        assert width > 300, (stem, width)
        assert height > 200, (stem, height)


def test_energy_axes_are_log_with_units():
    fig = plotting.FIGURE_FUNCTIONS["psi68_vs_energy"](summary_of("direction"), MODELS)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "EeV" in ax.get_xlabel()
    assert "[deg]" in ax.get_ylabel()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "cnn (2 seeds)"
    assert labels[2].startswith("baseline (1 seed")
    zenith = plotting.FIGURE_FUNCTIONS["psi68_vs_zenith"](summary_of("direction"), MODELS).axes[0]
    assert zenith.get_xscale() == "linear"
    assert "zenith" in zenith.get_xlabel()


def test_mass_figures_content():
    summary = summary_of("mass")
    roc = plotting.FIGURE_FUNCTIONS["roc"](summary, MODELS).axes[0]
    assert roc.get_title() == "p vs Fe"
    assert "false positive rate" in roc.get_xlabel()
    assert any("AUC" in t.get_text() for t in roc.get_legend().get_texts())
    confusion = plotting.FIGURE_FUNCTIONS["confusion"](summary, MODELS)
    titles = [ax.get_title() for ax in confusion.axes if ax.get_title()]
    assert titles == MODELS
    merit = plotting.FIGURE_FUNCTIONS["merit"](summary, MODELS).axes[0]
    assert "merit factor" in merit.get_xlabel()
    assert [t.get_text() for t in merit.get_yticklabels()] == MODELS


def test_missing_model_is_an_error():
    with pytest.raises(ValueError, match="none of the models"):
        plotting.target_figures("core", summary_of("core"), ["resnet"])


def test_plot_script_writes_each_figure(tmp_path):
    summary_path = tmp_path / "summary.json"
    io.write_json(summary_path, {"target": "mass", "models": summary_of("mass")})
    for stem in plotting.TARGET_FIGURES["mass"]:
        sm = types.SimpleNamespace(
            log=[str(tmp_path / "log")],
            wildcards=types.SimpleNamespace(target="mass", figure=stem),
            input=types.SimpleNamespace(summary=str(summary_path)),
            output=types.SimpleNamespace(figure=str(tmp_path / f"{stem}.png")),
            params=types.SimpleNamespace(models=MODELS, plots={"dpi": 60}),
        )
        runpy.run_path(str(ROOT / "workflow/scripts/plot_target.py"), init_globals={"snakemake": sm})
        assert (tmp_path / f"{stem}.png").stat().st_size > 0


def test_plot_script_names_a_missing_model_and_a_figure_of_another_target(tmp_path):
    summary_path = tmp_path / "summary.json"
    io.write_json(summary_path, {"target": "xmax", "models": summary_of("xmax")})

    def run(figure, models):
        sm = types.SimpleNamespace(
            log=[str(tmp_path / "log")],
            wildcards=types.SimpleNamespace(target="xmax", figure=figure),
            input=types.SimpleNamespace(summary=str(summary_path)),
            output=types.SimpleNamespace(figure=str(tmp_path / "f.png")),
            params=types.SimpleNamespace(models=models, plots={"dpi": 60}),
        )
        runpy.run_path(str(ROOT / "workflow/scripts/plot_target.py"), init_globals={"snakemake": sm})

    with pytest.raises(io.DataError, match="summary.json: no entry for model.s. resnet"):
        run("xmax_vs_energy", ["resnet"])
    with pytest.raises(ValueError, match="target 'xmax' has no figure 'roc'"):
        run("roc", MODELS)
