"""Metrics: hand-computed values, bootstrap intervals, binning edge cases, seed aggregation, summary,
the convergence verdict on synthetic histories."""

from __future__ import annotations

import json
import math
import runpy
import types
import zlib

import numpy as np
import pytest

from airshower import evaluation as ev
from airshower import io
from airshower import rng as rngmod
from airshower.evaluation import convergence as ev_conv
from airshower.evaluation import formatting as ev_fmt
from airshower.evaluation import front as ev_front
from airshower.evaluation import resolution as ev_metrics
from airshower.evaluation import uncertainty as ev_unc
from conftest import ROOT


def settings(bootstrap: int = 50, **bins) -> ev.EvaluationSettings:
    """Evaluation settings from the schema defaults with the given energy bins and resamples."""
    return ev.EvaluationSettings.from_config({"energy_bins_eev": bins, "bootstrap": bootstrap})


def gen(k: int = 0) -> np.random.Generator:
    return rngmod.generator(1234, "bootstrap", k)


# --- point estimates -------------------------------------------------------------------------


def test_point_estimates_by_hand():
    e_true = np.array([10.0, 10.0, 10.0, 10.0])
    e_pred = np.array([9.0, 11.0, 10.0, 14.0])  # residuals -1, 1, 0, 4
    got = ev.point_estimates(e_true, e_pred)
    assert got["bias_eev"] == pytest.approx(1.0)
    # deviations from the mean: -2, 0, -1, 3 -> sum of squares 14, ddof=1
    assert got["resolution_eev"] == pytest.approx(math.sqrt(14 / 3))
    # sorted residuals -1, 0, 1, 4; linear interpolation at positions 3 p
    p_lo, p_hi = 3 * 0.158650, 3 * 0.841350
    q_lo = -1 + p_lo * (0 - -1)
    q_hi = 1 + (p_hi - 2) * (4 - 1)
    assert got["resolution68_eev"] == pytest.approx((q_hi - q_lo) / 2, rel=1e-4)
    assert got["relative_bias"] == pytest.approx(0.1)
    assert got["relative_resolution"] == pytest.approx(math.sqrt(14 / 3) / 10)


def test_relative_resolution_uses_each_events_energy():
    e_true = np.array([5.0, 50.0])
    e_pred = np.array([6.0, 40.0])  # relative residuals +0.2, -0.2
    got = ev.point_estimates(e_true, e_pred)
    assert got["relative_bias"] == pytest.approx(0.0, abs=1e-12)
    assert got["relative_resolution"] == pytest.approx(np.std([0.2, -0.2], ddof=1))
    assert got["bias_eev"] == pytest.approx((1.0 - 10.0) / 2)


def test_robust_resolution_is_sigma_for_gaussian_and_ignores_outliers():
    r = np.random.default_rng(0)
    n, sigma = 20000, 2.0
    e_true = np.full(n, 30.0)
    e_pred = e_true + r.normal(0.0, sigma, n)
    got = ev.point_estimates(e_true, e_pred)
    # std of a sample std ~ sigma / sqrt(2n); quantile estimate ~ 2-3x worse: 5 sigma-ish tolerance
    assert got["resolution_eev"] == pytest.approx(sigma, abs=5 * sigma / math.sqrt(2 * n))
    assert got["resolution68_eev"] == pytest.approx(sigma, abs=0.05 * sigma)
    e_pred[:100] = 1000.0  # 0.5 % wild reconstructions
    spoiled = ev.point_estimates(e_true, e_pred)
    assert spoiled["resolution_eev"] > 10 * sigma
    assert spoiled["resolution68_eev"] == pytest.approx(sigma, rel=0.06)


def test_non_finite_or_mismatched_input_is_an_error():
    with pytest.raises(ValueError, match=r"'energy_pred' must be finite .* first is event 1 \(nan EeV\)"):
        ev.point_estimates(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"'energy_true' must be positive .* 1 of 3 .* event 2 \(-4 EeV\)"):
        ev.point_estimates(np.array([1.0, 2.0, -4.0]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="events"):
        ev.point_estimates(np.array([1.0, 2.0]), np.array([1.0]))


# --- bootstrap -------------------------------------------------------------------------------


def test_bootstrap_interval_covers_value_and_matches_standard_error():
    r = np.random.default_rng(1)
    n, sigma = 2000, 3.0
    e_true = r.uniform(10, 20, n)
    e_pred = e_true + r.normal(0.5, sigma, n)
    summ = ev.summarize(e_true, e_pred, 400, gen())
    for q in ev.QUANTITIES:
        assert summ[q]["lo"] <= summ[q]["value"] <= summ[q]["hi"], q
    half = (summ["bias_eev"]["hi"] - summ["bias_eev"]["lo"]) / 2
    # standard error of the mean sigma/sqrt(n); a 400-sample bootstrap width is good to ~10 %
    assert half == pytest.approx(sigma / math.sqrt(n), rel=0.2)
    half_std = (summ["resolution_eev"]["hi"] - summ["resolution_eev"]["lo"]) / 2
    assert half_std == pytest.approx(sigma / math.sqrt(2 * n), rel=0.25)


def test_bootstrap_interval_shrinks_as_one_over_sqrt_n():
    r = np.random.default_rng(2)
    widths = {}
    for n in (400, 6400):
        e_true = np.full(n, 20.0)
        e_pred = e_true + r.normal(0.0, 2.0, n)
        lo, hi = ev.bootstrap_intervals(e_true, e_pred, 300, gen(n))["resolution_eev"]
        widths[n] = hi - lo
    assert widths[400] / widths[6400] == pytest.approx(4.0, rel=0.3)


def test_bootstrap_is_reproducible_and_chunking_does_not_change_it(monkeypatch):
    r = np.random.default_rng(3)
    e_true = r.uniform(3, 100, 300)
    e_pred = e_true * r.normal(1, 0.1, 300)
    a = ev.bootstrap_intervals(e_true, e_pred, 64, gen())
    b = ev.bootstrap_intervals(e_true, e_pred, 64, gen())
    assert a == b
    monkeypatch.setattr(ev_metrics, "_MAX_BOOTSTRAP_CELLS", 300 * 7)  # chunks of 7 resamples
    c = ev.bootstrap_intervals(e_true, e_pred, 64, gen())
    for q in ev.QUANTITIES:
        assert c[q] == pytest.approx(a[q], rel=1e-12)


# --- binning ---------------------------------------------------------------------------------


def test_energy_bins_of_the_settings():
    edges = settings(min=1.0, max=100.0, n=2).energy_bins_eev.edges()
    np.testing.assert_allclose(edges, [1.0, 10.0, 100.0])
    lin = settings(min=2.0, max=8.0, n=3, spacing="linear").energy_bins_eev.edges()
    np.testing.assert_allclose(lin, [2.0, 4.0, 6.0, 8.0])
    with pytest.raises(ValueError, match="min < max"):
        settings(min=5.0, max=5.0).energy_bins_eev.edges()


def test_compute_metrics_bins_are_the_statistics_bins():
    e_true = np.array([0.5, 1.0, 9.99, 10.0, 99.0, 100.0, 100.1])
    m = ev.compute_metrics(e_true, e_true * 1.1, settings(10, min=1.0, max=100.0, n=2), gen())
    assert m["bins"]["n"] == [2, 3]
    assert m["bins"]["n_outside"] == 2
    np.testing.assert_allclose(m["bins"]["center_eev"], [math.sqrt(10), math.sqrt(1000)])


def test_compute_metrics_empty_bin_single_event_and_outside_events():
    # bins [1, 10), [10, 100]: first empty... make three bins so one is empty and one has one event
    settings_ = settings(20, min=1.0, max=1000.0, n=3)
    e_true = np.array([0.5, 20.0, 30.0, 40.0, 500.0, 2000.0])
    e_pred = np.array([0.6, 21.0, 29.0, 43.0, 450.0, 1900.0])
    m = ev.compute_metrics(e_true, e_pred, settings_, gen())
    b = m["bins"]
    assert b["n"] == [0, 3, 1]
    assert b["n_outside"] == 2
    assert m["overall"]["n"] == 6 == m["n_events"]
    for q in ev.QUANTITIES:  # empty bin: every entry None
        assert b[q]["value"][0] is None
        assert b[q]["lo"][0] is None
        assert b[q]["hi"][0] is None
    assert b["bias_eev"]["value"][2] == pytest.approx(-50.0)  # one event: bias defined...
    assert b["bias_eev"]["lo"][2] == pytest.approx(-50.0)
    for q in ("resolution_eev", "resolution68_eev", "relative_resolution"):  # ...spreads not
        assert b[q]["value"][2] is None
    assert b["bias_eev"]["value"][1] == pytest.approx((1.0 - 1.0 + 3.0) / 3)
    assert m["overall"]["bias_eev"]["value"] == pytest.approx(np.mean(e_pred - e_true))
    json.dumps(m, allow_nan=False)  # strictly valid JSON, no NaN


def test_compute_metrics_no_events_in_range_does_not_crash():
    m = ev.compute_metrics(
        np.array([1.0, 2.0]), np.array([1.5, 2.5]), settings(10, min=3.0, max=100.0, n=4), gen()
    )
    assert m["bins"]["n"] == [0, 0, 0, 0]
    assert m["bins"]["n_outside"] == 2
    assert all(v is None for v in m["bins"]["relative_resolution"]["value"])
    json.dumps(m, allow_nan=False)


def test_settings_from_config_section_with_schema_defaults():
    s = ev.EvaluationSettings.from_config({"energy_bins_eev": {"max": 100}, "bootstrap": 99})
    bins = ev.EnergyBins(min=3.16, max=100.0, n=6, spacing="log")
    assert s == ev.EvaluationSettings(bins, bootstrap=99, ensembles=True)
    assert isinstance(s.energy_bins_eev.max, float)
    assert ev.EvaluationSettings.from_config().bootstrap == 200


# --- aggregation over seeds and the summary --------------------------------------------------


def fake_record(seed: int, scale: float, n_bins: int = 2) -> dict:
    r = np.random.default_rng(seed)
    e_true = r.uniform(1.0, 100.0, 500)
    e_pred = e_true * (1 + scale * r.normal(size=500))
    settings_ = settings(20, min=1.0, max=100.0, n=n_bins)
    return {"model": "m", "seed": seed, **ev.compute_metrics(e_true, e_pred, settings_, gen(seed))}


def test_aggregate_seeds_mean_and_std():
    recs = [fake_record(1, 0.1), fake_record(2, 0.2), fake_record(3, 0.3)]
    agg = ev.aggregate_seeds(recs)
    assert agg["seeds"] == [1, 2, 3]
    assert agg["n_seeds"] == 3
    vals = [r["overall"]["relative_resolution"]["value"] for r in recs]
    o = agg["overall"]["relative_resolution"]
    assert o["mean"] == pytest.approx(np.mean(vals))
    assert o["std"] == pytest.approx(np.std(vals, ddof=1))
    assert o["values"] == vals
    halfs = [
        (r["overall"]["relative_resolution"]["hi"] - r["overall"]["relative_resolution"]["lo"]) / 2
        for r in recs
    ]
    assert o["stat"] == pytest.approx(np.mean(halfs))
    binned = [r["bins"]["bias_eev"]["value"][1] for r in recs]
    assert agg["bins"]["bias_eev"]["mean"][1] == pytest.approx(np.mean(binned))
    assert agg["bins"]["bias_eev"]["std"][1] == pytest.approx(np.std(binned, ddof=1))


def test_aggregate_single_seed_and_empty_bins():
    rec = fake_record(1, 0.1)
    rec["bins"]["bias_eev"]["value"][0] = None  # as for an empty bin
    rec["bins"]["bias_eev"]["lo"][0] = rec["bins"]["bias_eev"]["hi"][0] = None
    agg = ev.aggregate_seeds([rec])
    assert agg["overall"]["bias_eev"]["std"] is None
    assert agg["overall"]["bias_eev"]["mean"] == rec["overall"]["bias_eev"]["value"]
    assert agg["bins"]["bias_eev"]["mean"][0] is None
    assert agg["bins"]["bias_eev"]["stat"][0] is None
    with pytest.raises(ValueError, match="different bins 'edges_eev'"):
        ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.1, n_bins=3)])


def table(target: str, aggregated: dict, models: list[str]) -> dict:
    """A target's summary.json as the summary rule writes it."""
    rows = ev.target_rows(target, aggregated, models)
    return {"target": target, "model_order": models, "models": aggregated, "table": rows}


def energy_tables(aggregated: dict) -> dict:
    return {"energy": table("energy", aggregated, list(aggregated))}


def test_front_rows_table_and_baseline_dashes():
    agg = {
        "fcn": ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.12)]),
        "baseline": ev.aggregate_seeds([fake_record(0, 0.15)]),
    }
    info = {
        "fcn": [
            {"n_parameters": 50_301, "epochs_run": 20, "training_time_s": 100.0, "train_samples_per_s": 5e3},
            {"n_parameters": 50_301, "epochs_run": 30, "training_time_s": 140.0, "train_samples_per_s": 7e3},
        ]
    }
    inference = {"fcn": [1e5, 3e5], "baseline": [2e4]}
    tables = energy_tables(agg)
    rows = ev.front_rows(tables, info, inference, ["fcn", "baseline"])
    assert [r["model"] for r in rows] == ["fcn", "baseline"]
    fcn, base = rows
    assert fcn["n_parameters"] == 50_301
    assert fcn["n_seeds"] == 2
    assert fcn["epochs_run"] == 25
    assert fcn["training_time_s"] == 120
    assert fcn["inference_events_per_s"] == pytest.approx(2e5)
    relative = agg["fcn"]["overall"]["relative_resolution"]
    assert fcn["energy_relative_resolution"] == relative["mean"]
    assert fcn["energy_relative_resolution_seed_std"] == relative["std"]
    assert base["n_parameters"] is None
    assert base["epochs_run"] is None
    assert base["train_samples_per_s"] is None
    assert base["energy_relative_resolution_seed_std"] is None

    md = ev.front_markdown(rows, tables).splitlines()
    assert md[0] == "# Summary"
    assert md[2].startswith("| model | parameters | seeds | energy σ_E/E [%] | epochs")
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in md[4:6]}
    assert cells["fcn"][1] == "50,301"
    assert cells["fcn"][2] == "2"
    assert "±" in cells["fcn"][3]
    assert cells["baseline"][1] == ev.DASH
    assert cells["baseline"][4:7] == [ev.DASH] * 3
    assert cells["baseline"][2] == "1"
    assert "±" in cells["baseline"][3]  # one result: ± its bootstrap half-width
    assert cells["baseline"][7] == "20,000"
    assert "[energy](targets/energy/summary.md)" in "\n".join(md)

    csv_lines = ev.front_csv(rows, ["energy"]).splitlines()
    assert csv_lines[0].split(",") == ev.front_columns(["energy"])
    base_cells = dict(zip(ev.front_columns(["energy"]), csv_lines[2].split(","), strict=True))
    assert base_cells["n_parameters"] == ""
    assert base_cells["model"] == "baseline"


def test_a_model_without_a_target_has_dashes_there():
    agg = {"fcn": ev.aggregate_seeds([fake_record(1, 0.1)])}
    tables = {**energy_tables(agg), "core": {"target": "core", "model_order": [], "models": {}, "table": []}}
    (row,) = ev.front_rows(tables, {}, {}, ["fcn"])
    assert row["core_r68_m"] is None
    assert row["energy_relative_resolution"] is not None


def test_resumed_seeds_are_marked_and_the_metrics_stay():
    agg = {"cnn": ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.12)])}
    tables = energy_tables(agg)
    records = [
        {"seed": 1, "n_parameters": 6513, "epochs_run": 40, "resumed_from_epoch": None},
        {"seed": 2, "n_parameters": 6513, "epochs_run": 40, "resumed_from_epoch": 3},
    ]
    (row,) = ev.front_rows(tables, {"cnn": records}, {}, ["cnn"])
    assert row["resumed_seeds"] == [2]
    plain = [{**r, "resumed_from_epoch": None} for r in records]
    (uninterrupted,) = ev.front_rows(tables, {"cnn": plain}, {}, ["cnn"])
    assert uninterrupted["resumed_seeds"] == []
    assert {k: v for k, v in row.items() if k != "resumed_seeds"} == {
        k: v for k, v in uninterrupted.items() if k != "resumed_seeds"
    }
    csv_rows = [line.split(",") for line in ev.front_csv([row, uninterrupted], ["energy"]).splitlines()]
    col = csv_rows[0].index("resumed_seeds")
    assert [r[col] for r in csv_rows[1:]] == ["2", ""]
    assert [c for i, c in enumerate(csv_rows[1]) if i != col] == [
        c for i, c in enumerate(csv_rows[2]) if i != col
    ]
    md = ev.front_markdown([row], tables)
    assert md.splitlines()[4].startswith(f"| cnn {ev_front.RESUMED} | 6,513 |")
    assert md.endswith(
        f"\n{ev_front.RESUMED} Training resumed from a checkpoint after an interruption: cnn seed 2. "
        "A resumed training is equivalent to, not bit-identical with, an uninterrupted one (dropout "
        "masks and shuffling differ after the restart); the training figure marks the epoch.\n"
    )
    assert ev_front.RESUMED not in ev.front_markdown([uninterrupted], tables)
    json.dumps(row)  # summary.json holds the rows


def test_front_columns_per_target_then_the_training():
    header = ev.front_csv([], ["energy", "direction", "mass"]).strip()
    assert header == (
        "model,n_parameters,n_seeds,energy_relative_resolution,energy_relative_resolution_seed_std,"
        "energy_relative_resolution_stat,direction_psi68_deg,direction_psi68_deg_seed_std,"
        "direction_psi68_deg_stat,mass_auc,mass_auc_seed_std,mass_auc_stat,epochs_run,training_time_s,"
        "train_samples_per_s,inference_events_per_s,resumed_seeds,converged_seeds,not_converged_seeds"
    )


def test_energy_table_keeps_the_summary_columns():
    """The energy's table has every column the energy summary had (its numbers, now by target)."""
    agg = {"fcn": ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.12)])}
    header = ev.target_csv(ev.target_rows("energy", agg, ["fcn"])).splitlines()[0].split(",")
    before = "resolution_eev,resolution_eev_seed_std,resolution_eev_stat,resolution68_eev,"
    before += "resolution68_eev_seed_std,relative_resolution,relative_resolution_seed_std,bias_eev,"
    before += "bias_eev_seed_std,bias_eev_stat,relative_bias,relative_bias_seed_std,coverage68,"
    before += "coverage68_seed_std,coverage95,coverage95_seed_std,pull_width,pull_width_seed_std,"
    before += "resolution_cut90_eev,resolution_cut90_eev_seed_std,relative_resolution_cut90,"
    before += "relative_resolution_cut90_seed_std"
    assert set(before.split(",")) <= set(header)
    assert header[:2] == ["model", "n_seeds"]


def verdict(converged: bool, seed: int = 1, reason: str = "flat", detail: str = "") -> dict:
    """A verdict record of results/convergence.json."""
    return {"seed": seed, **ev.Convergence(converged, reason, detail, epochs_run=40, best_epoch=38).record()}


def test_unconverged_seeds_are_counted_marked_and_explained():
    agg = {
        "cnn": ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.12)]),
        "pyramid": ev.aggregate_seeds([fake_record(1, 0.2)]),
        "baseline": ev.aggregate_seeds([fake_record(0, 0.15)]),
    }
    tables = energy_tables(agg)
    info = {m: [{"seed": 1, "n_parameters": 10, "epochs_run": 5}] for m in ("cnn", "pyramid")}
    too_short = "only 5 epochs, fewer than the 10 needed to judge"
    verdicts = {
        "cnn": [verdict(True, 1, "early stopping"), verdict(True, 2)],
        "pyramid": [verdict(False, 1, "too few epochs", too_short)],
    }
    models = ["cnn", "pyramid", "baseline"]
    rows = ev.front_rows(tables, info, {}, models, verdicts)
    assert [(r["converged_seeds"], r["not_converged_seeds"]) for r in rows] == [
        ("2/2", []),
        ("0/1", [1]),
        (None, None),
    ]
    # the metrics do not depend on the verdicts
    plain = ev.front_rows(tables, info, {}, models)
    assert [{k: v for k, v in r.items() if "converged" not in k} for r in rows] == [
        {k: v for k, v in r.items() if "converged" not in k} for r in plain
    ]
    csv_rows = [line.split(",") for line in ev.front_csv(rows, ["energy"]).splitlines()]
    col = csv_rows[0].index("converged_seeds")
    assert [r[col : col + 2] for r in csv_rows[1:]] == [["2/2", ""], ["0/1", "1"], ["", ""]]

    reasons = {"pyramid": {1: too_short}}
    lines = ev.front_markdown(rows, tables, reasons).splitlines()
    assert lines[2].endswith("| inference events/s | converged |")
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[4:7]]
    assert [(c[0], c[-1]) for c in cells] == [
        ("cnn", "2/2"),
        (f"pyramid {ev_front.NOT_CONVERGED}", "0/1"),
        ("baseline", ev.DASH),
    ]
    md = "\n".join(lines)
    assert f"by this rule: {ev_conv.RULE}." in md
    assert lines[-1] == (
        f"{ev_front.NOT_CONVERGED} Not converged: pyramid seed 1: only 5 epochs, fewer than the 10 needed "
        "to judge. A marked model's training had not settled; its numbers may improve with more epochs."
    )
    # without the reasons the seeds are still listed; no footnote when every seed converged
    assert "Not converged: pyramid seed 1. " in ev.front_markdown(rows, tables)
    converged = ev.front_markdown(rows[:1] + rows[2:], tables)
    assert ev_front.NOT_CONVERGED not in converged
    assert "by this rule" in converged
    # both marks on one model
    both = {**rows[1], "resumed_seeds": [1]}
    assert (
        ev.front_markdown([both], tables)
        .splitlines()[4]
        .startswith(f"| pyramid {ev_front.RESUMED} {ev_front.NOT_CONVERGED} |")
    )
    json.dumps(rows)


def test_plus_minus_formatting():
    assert ev_fmt.plus_minus(1.2345, 0.0123) == "1.234 ± 0.012"
    assert ev_fmt.plus_minus(0.1234, 0.0123, 100.0) == "12.3 ± 1.2"
    assert ev_fmt.plus_minus(None, None) == ev.DASH
    assert ev_fmt.plus_minus(-0.00002, 0.0020) == "0.0000 ± 0.0020"  # no negative zero
    assert ev_fmt.plus_minus(-0.0010, 0.0012) == "-0.0010 ± 0.0012"


def test_markdown_notes_state_the_conventions():
    agg = {"fcn": ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.12)])}
    note = ev.target_markdown("energy", ev.target_rows("energy", agg, ["fcn"]), agg)
    assert "ddof = 1" in note
    assert "half-width of the central 68.27 %" in note
    assert "ddof = 1" in ev.front_markdown([], {})


# --- convergence -----------------------------------------------------------------------------


def val_history(val_loss) -> dict[str, np.ndarray]:
    """A history with the given validation loss (the training loss 20 % above it)."""
    val = np.asarray(val_loss, dtype=np.float64)
    return {"epoch": np.arange(len(val), dtype=float), "loss": 1.2 * val, "val_loss": val}


def test_early_stopping_is_converged_before_or_at_the_last_epoch():
    # falls for 14 epochs, then 6 epochs without a lower value: early stopping with patience 6
    val = np.r_[0.05 * 0.9 ** np.arange(14), 0.05 * 0.9**13 * np.array([1.01, 1.0, 1.2, 1.05, 1.3, 1.1])]
    v = ev.judge_convergence(val_history(val), epochs_max=40, patience=6)
    assert (v.converged, v.reason, v.best_epoch, v.epochs_run) == (True, "early stopping", 14, 20)
    assert v.label == "converged (early stopping)"
    assert v.detail == (
        "stopped after epoch 20 of 40: no lower validation loss in the 6 epochs after epoch 14 (patience 6)"
    )
    at_end = ev.judge_convergence(val_history(val), epochs_max=20, patience=6)
    assert at_end.converged
    assert at_end.detail.startswith("stopped at the last epoch (20): ")
    # one epoch short of the patience: not stopped by early stopping
    short = ev.judge_convergence(val_history(val[:-1]), epochs_max=40, patience=6)
    assert (short.converged, short.reason) == (False, "stopped early")
    assert short.detail == "stopped after epoch 19 of 40 before early stopping's patience ran out"
    # an equal value is no improvement (early stopping's min_delta is 0)
    tie = np.r_[val[:14], np.full(6, val[13])]
    assert ev.judge_convergence(val_history(tie), 40, 6).best_epoch == 14
    assert ev.judge_convergence(val_history(tie), 40, 6).reason == "early stopping"
    # without early stopping the same history ran all 20 of 20 epochs and has levelled off
    assert ev.judge_convergence(val_history(val), 20, None).reason == "flat"


def test_flat_at_the_end_of_a_cosine_schedule_is_converged():
    epoch = np.arange(30)
    val = 0.01 * (1 + 2 * np.exp(-epoch / 4))  # levels off as a cosine schedule's rate goes to 0
    h = {**val_history(val), "learning_rate": 5e-4 * (1 + np.cos(np.pi * epoch / 30))}
    expected = (val[24] - val[29]) / val[24]
    assert expected == pytest.approx(0.0035, abs=1e-4)
    for patience in (None, 6):
        v = ev.judge_convergence(h, epochs_max=30, patience=patience)
        assert (v.converged, v.reason, v.label) == (True, "flat", "converged (flat)")
        assert v.improvement == pytest.approx(expected, rel=1e-12)
        assert v.detail == "lowest validation loss down 0.4 % over the last 5 epochs, less than 1 %"
    # a noisy last epoch does not hide the plateau: the lowest loss so far is compared
    spiked = val.copy()
    spiked[-1] *= 1.5
    assert ev.judge_convergence(val_history(spiked), 30, None).reason == "flat"


def test_still_improving_is_not_converged_and_the_tolerance_is_strict():
    val = 0.05 * 0.97 ** np.arange(20)
    v = ev.judge_convergence(val_history(val), epochs_max=20, patience=6)
    assert (v.converged, v.reason, v.label) == (False, "still improving", "not converged (still improving)")
    assert v.improvement == pytest.approx(1 - 0.97**5, rel=1e-12)
    assert v.detail == "lowest validation loss down 14.1 % over the last 5 epochs, not less than 1 %"
    for drop, converged in ((0.0099, True), (0.0101, False)):
        flat_then = np.r_[np.linspace(1.0, 0.5, 15), np.full(4, 0.5), 0.5 * (1 - drop)]
        assert ev.judge_convergence(val_history(flat_then), 20, None).converged is converged, drop


def test_a_short_run_is_not_converged():
    # the default study's 5-epoch cnn_pyramid seed 1: lowest loss at epoch 4, one epoch before the end
    pyramid = [0.022323411, 0.011557318, 0.011445297, 0.00959078, 0.018640082]
    v = ev.convergence_of_run(val_history(pyramid), {"epochs": 5, "early_stopping_patience": 6})
    assert (v.converged, v.reason, v.best_epoch) == (False, "too few epochs", 4)
    assert v.label == "not converged (too few epochs)"
    assert v.detail == "only 5 epochs, fewer than the 10 needed to judge"
    # even when the loss did not move at all: 9 epochs are too few
    assert ev.judge_convergence(val_history(np.full(9, 0.01)), 9, None).reason == "too few epochs"
    assert ev.judge_convergence(val_history(np.full(10, 0.01)), 10, None).reason == "flat"
    assert ev_conv.MIN_EPOCHS == 2 * ev_conv.FLAT_WINDOW_EPOCHS == 10


def test_no_validation_loss_and_the_json_record():
    v = ev.judge_convergence(val_history([np.nan] * 12), 12, 6)
    assert (v.converged, v.reason, v.best_epoch) == (False, "no validation loss", None)
    assert v.detail == "no finite validation loss in 12 epochs"
    # NaN epochs count as no improvement, as in early stopping
    late = ev.judge_convergence(val_history([0.5, 0.4, *[np.nan] * 6]), 40, 6)
    assert (late.reason, late.best_epoch) == ("early stopping", 2)
    record = ev.judge_convergence(val_history(0.05 * 0.97 ** np.arange(20)), 20, 6).record()
    assert record["label"] == "not converged (still improving)"
    assert record["improvement"] == pytest.approx(1 - 0.97**5)
    assert json.loads(json.dumps(record, allow_nan=False)) == record


def test_the_rule_text_states_the_thresholds():
    assert "at least 10" in ev_conv.RULE
    assert "less than 1 % (relative) over the last 5 epochs" in ev_conv.RULE
    assert "early-stopping patience" in ev_conv.RULE
    assert ev_conv.FLAT_TOLERANCE == 0.01


# --- run records -----------------------------------------------------------------------------


def test_run_key_from_record_or_path():
    assert ev.run_key("x/y.json", {"model": "cnn", "seed": 2}) == ("cnn", 2)
    assert ev.run_key("results/models/cnn_pyramid/seed12/metrics.json") == ("cnn_pyramid", 12)
    with pytest.raises(ValueError, match="cannot tell"):
        ev.run_key("results/metrics.json", {})


def test_parse_history():
    text = "epoch,learning_rate,loss,val_loss\n0,0.001,0.9,1.0\n1,0.0005,0.5,0.6\n"
    h = io.parse_history(text, "h.csv")
    np.testing.assert_array_equal(h["epoch"], [0, 1])
    np.testing.assert_allclose(h["learning_rate"], [1e-3, 5e-4])
    with pytest.raises(ValueError, match="h.csv: column\\(s\\) val_loss, learning_rate missing"):
        io.parse_history("epoch,loss\n0,1\n", "h.csv")
    with pytest.raises(ValueError, match="no epochs"):
        io.parse_history("epoch,loss,val_loss,learning_rate\n", "h.csv")
    assert "learning_rate" in io.parse_history("epoch,loss,lr,val_loss\n0,1,0.1,2\n")


# --- per-event uncertainty: pulls, coverage, calibration, the cut -------------------------------


def test_pulls_coverage_and_pull_width_by_hand():
    e_true = np.full(5, 10.0)
    e_pred = np.array([10.5, 9.0, 12.0, 10.0, 7.0])
    sigma = np.array([1.0, 1.0, 1.0, 2.0, 2.0])
    pull = ev.pulls(e_true, e_pred, sigma)
    np.testing.assert_allclose(pull, [0.5, -1.0, 2.0, 0.0, -1.5])
    got = ev_unc.pull_metrics(pull, 50, gen())
    assert got["coverage68"]["value"] == pytest.approx(3 / 5)  # |p| <= 1: 0.5, -1 (the edge counts), 0
    assert got["coverage95"]["value"] == pytest.approx(4 / 5)  # |p| <= 1.96: all but 2
    assert got["pull_mean"]["value"] == pytest.approx(0.0, abs=1e-15)
    assert got["pull_width"]["value"] == pytest.approx(math.sqrt(7.5 / 4))  # sum p^2 = 7.5, ddof=1
    # sorted -1.5, -1, 0, 0.5, 2: percentiles at positions 4 * 0.15865 and 4 * 0.84135
    lo, hi = -1.5 + 4 * 0.158650 * 0.5, 0.5 + (4 * 0.841350 - 3) * 1.5
    assert got["pull_width68"]["value"] == pytest.approx((hi - lo) / 2, rel=1e-4)
    for q in ev.UNCERTAINTY_QUANTITIES:
        assert got[q]["lo"] <= got[q]["value"] <= got[q]["hi"], q
    nominal = {"coverage68": 0.682689, "coverage95": 0.950004}
    assert nominal == pytest.approx(ev_unc.NOMINAL, abs=1e-6)


def test_bad_energy_sigma_names_the_first_event():
    e = np.full(3, 10.0)
    with pytest.raises(ValueError, match=r"'energy_sigma' must be positive .* 2 of 3 .* event 1 \(0 EeV\)"):
        ev.pulls(e, e, np.array([1.0, 0.0, -1.0]))
    with pytest.raises(ValueError, match="energy_sigma has 2 events, energy_pred 3"):
        ev.pulls(e, e, np.ones(2))
    with pytest.raises(ValueError, match=r"'energy_sigma' must be positive .* event 2 \(nan EeV\)"):
        ev.uncertainty_metrics(e, e, np.array([1.0, 1.0, np.nan]), settings(), gen())


def test_calibration_bins_by_hand():
    # sigma 1..16 in 8 quantile bins of two events each; residuals +a, -b in the bin of (a, b)
    sigma = np.arange(1.0, 17.0)
    residual = sigma * np.where(np.arange(16) % 2 == 0, 1.0, -1.0)
    cal = ev.calibration_curve(sigma, residual, 20, gen())
    np.testing.assert_allclose(cal["edges"], 1 + 15 * np.arange(9) / 8)
    assert cal["n"] == [2] * 8
    assert cal["n_outside"] == 0
    a, b = sigma[0::2], sigma[1::2]
    np.testing.assert_allclose(cal["predicted_mean"], (a + b) / 2)
    np.testing.assert_allclose(cal["predicted_rms"], np.sqrt((a**2 + b**2) / 2))
    np.testing.assert_allclose(cal["observed_bias"], (a - b) / 2)
    np.testing.assert_allclose(cal["observed_spread"]["value"], (a + b) / math.sqrt(2))  # std of (a, -b)
    np.testing.assert_allclose(cal["observed_robust_spread"]["value"], 0.6827 * (a + b) / 2)
    # a bin of one event has no spread; a non-finite predicted width is outside every bin
    one = ev.calibration_curve(np.array([1.0, 2.0, np.inf]), np.array([0.5, -1.0, 3.0]), 20, gen())
    assert one["n_outside"] == 1
    assert sum(one["n"]) == 2
    assert None in one["observed_spread"]["value"]


def test_calibration_of_tied_predictions_merges_bins():
    cal = ev.calibration_curve(np.full(10, 2.0), np.linspace(-1, 1, 10), 20, gen())
    assert cal["edges"] == [2.0, 2.0]
    assert cal["n"] == [10]
    assert cal["predicted_rms"] == [2.0]


def test_cut_keeps_the_ninety_percent_with_the_smallest_relative_sigma():
    e_true = np.full(10, 10.0)
    e_pred = np.array([10.0, 11, 9, 10, 12, 8, 10, 11, 9, 30])
    relative = np.array([0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13, 0.5])
    cut = ev.cut_metrics(e_true, e_pred, relative * e_pred, 30, gen())
    assert cut["keep_fraction"] == 0.9
    assert cut["n"] == 9  # the outlier, least certain, is cut
    assert cut["max_relative_sigma"] == pytest.approx(0.13)  # the largest kept
    assert cut["bias_eev"]["value"] == pytest.approx(0.0, abs=1e-12)  # residuals 0, 1, -1, 0, 2, -2, 0, 1, -1
    assert cut["resolution_eev"]["value"] == pytest.approx(math.sqrt(12 / 8))
    assert cut["relative_resolution"]["value"] == pytest.approx(math.sqrt(12 / 8) / 10)
    # a non-positive reconstruction has no relative uncertainty: it is cut first
    e_pred[3] = -1.0
    assert ev_unc.relative_sigma(e_pred, np.ones(10))[3] == np.inf
    cut = ev.cut_metrics(e_true, e_pred, np.full(10, 0.1) * np.abs(e_pred), 30, gen())
    assert cut["n"] == 9
    assert cut["resolution_eev"]["value"] == pytest.approx(np.std(np.delete(e_pred, 3) - 10, ddof=1))


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0])
def test_gaussian_sigma_has_nominal_coverage_and_unit_pulls(scale):
    """A model whose sigma is the true width (scale 1): coverage 68.27 % and 95 % and pull width 1
    within the binomial and sample-std errors; a sigma too small by 2 (too large by 2) covers
    |N(0, 1)| <= z / 2 (<= 2 z) and gives the pull width 2 (1/2)."""
    r = np.random.default_rng(11)
    n = 20000
    e_pred = 10 ** r.uniform(0.5, 2.0, n)
    sigma = e_pred * r.uniform(0.03, 0.2, n)
    e_true = e_pred + sigma * r.normal(size=n)  # E_true | inputs ~ N(E_rec, sigma): the model's claim
    got = ev.uncertainty_metrics(e_true, e_pred, scale * sigma, settings(200), gen())
    o = got["overall"]
    for q, z in ev_unc.COVERAGE_Z.items():
        p = math.erf(z * scale / math.sqrt(2))
        se = math.sqrt(p * (1 - p) / n)
        assert o[q]["value"] == pytest.approx(p, abs=4 * se), q
        if n * p * (1 - p) > 100:  # bootstrap width = binomial error, where the count is not tiny
            assert (o[q]["hi"] - o[q]["lo"]) / 2 == pytest.approx(se, rel=0.3), q
    assert o["pull_width"]["value"] == pytest.approx(1 / scale, rel=4 / math.sqrt(2 * n))
    assert o["pull_mean"]["value"] == pytest.approx(0.0, abs=4 / scale / math.sqrt(n))
    for part in ("absolute", "relative"):
        cal = got["calibration"][part]
        assert sum(cal["n"]) == n
        assert cal["n"] == pytest.approx([n / 8] * 8, abs=1)  # equal-population bins
        ratio = np.array(cal["observed_spread"]["value"]) / np.array(cal["predicted_rms"])
        np.testing.assert_allclose(ratio, 1 / scale, rtol=6 / math.sqrt(2 * n / 8))
    if scale == 1.0:
        assert got["nominal"] == ev_unc.NOMINAL
        assert o["coverage68"]["value"] == pytest.approx(0.6827, abs=0.013)


def test_uncertainty_metrics_layout_and_bootstrap_reproducible():
    r = np.random.default_rng(12)
    e_pred = 10 ** r.uniform(0.5, 2.0, 400)
    sigma = 0.1 * e_pred
    e_true = e_pred + sigma * r.normal(size=400)
    a = ev.uncertainty_metrics(e_true, e_pred, sigma, settings(30), gen(5))
    assert json.dumps(a) == json.dumps(ev.uncertainty_metrics(e_true, e_pred, sigma, settings(30), gen(5)))
    assert list(a) == ["n_events", "definitions", "nominal", "overall", "calibration", "cut", "bins"]
    assert a["definitions"] == ev.UNCERTAINTY_QUANTITIES
    assert a["calibration"]["absolute"]["unit"] == "EeV"
    assert a["cut"]["n"] == 360  # 90 % of 400
    assert a["n_events"] == 400


# --- the metrics rule: metrics/energy.json with and without energy_sigma ----------------------


def run_metrics_script(tmp_path, predictions: dict, model: str = "cnn", seed: int = 1) -> dict:
    """Run workflow/scripts/metrics.py as Snakemake would on a predictions file; the JSON written."""
    path = tmp_path / model / f"seed{seed}" / "predictions.h5"
    n = len(predictions["energy_true"])
    # the rest of the predictions contract (predictionfile.PREDICTION_UNITS), which metrics ignores
    truths = {
        "index": np.arange(n),
        "zenith": np.zeros(n),
        "mass": np.ones(n),
        "xmax": np.full(n, 750.0),
        "axis_true": np.tile([0.0, 0.0, 1.0], (n, 1)),
        "core_true": np.zeros((n, 2)),
    }
    io.write_h5(path, {**truths, **predictions})
    out = path.parent / "metrics" / "energy.json"
    snakemake = types.SimpleNamespace(
        input=types.SimpleNamespace(predictions=str(path)),
        output=types.SimpleNamespace(metrics=str(out)),
        log=[str(tmp_path / f"{model}.log")],
        wildcards=types.SimpleNamespace(model=model, seed=str(seed), target="energy"),
        params=types.SimpleNamespace(
            evaluation={"bootstrap": 20}, study_seed=7, target_settings={}, classes=[1]
        ),
    )
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "metrics.py"), init_globals={"snakemake": snakemake})
    return out.read_text()


def test_energy_metrics_are_unchanged_without_energy_sigma_and_extended_with_it(tmp_path):
    r = np.random.default_rng(13)
    e_true = 10 ** r.uniform(0.5, 2.0, 300)
    e_pred = e_true * (1 + 0.1 * r.normal(size=300))
    text = run_metrics_script(tmp_path / "plain", {"energy_true": e_true, "energy_pred": e_pred})
    # what the rule wrote before per-event uncertainties existed: these keys, this bootstrap stream
    before = {
        "model": "cnn",
        "seed": 1,
        "target": "energy",
        **ev.compute_metrics(
            e_true,
            e_pred,
            settings(20),
            rngmod.generator(7, "bootstrap", zlib.crc32(b"cnn"), 1),
        ),
    }
    io.write_json(tmp_path / "before.json", before)
    assert text == (tmp_path / "before.json").read_text()
    sigma = 0.1 * e_true
    with_sigma = json.loads(
        run_metrics_script(
            tmp_path / "gauss", {"energy_true": e_true, "energy_pred": e_pred, "energy_sigma": sigma}
        )
    )
    unc = with_sigma.pop("uncertainty")
    assert with_sigma == json.loads(text)  # every other key and value as without energy_sigma
    assert unc["overall"]["coverage68"]["value"] == pytest.approx(np.mean(np.abs(e_pred - e_true) <= sigma))


def test_metrics_rule_names_the_file_of_a_bad_energy_sigma(tmp_path):
    e = np.full(4, 10.0)
    with pytest.raises(io.DataError, match=r"predictions.h5: 'energy_sigma' must be positive .* event 2"):
        run_metrics_script(
            tmp_path, {"energy_true": e, "energy_pred": e, "energy_sigma": np.array([1, 1, -1, 1.0])}
        )


# --- per-event uncertainty over seeds and in the summary -------------------------------------


def fake_uncertain_record(seed: int, scale: float, n: int = 2000) -> dict:
    """A record with ``uncertainty``: residuals of width sigma, sigma claimed ``scale`` times too wide."""
    r = np.random.default_rng(100 + seed)
    e_pred = 10 ** r.uniform(0.5, 2.0, n)
    sigma = 0.1 * e_pred
    e_true = e_pred + sigma * r.normal(size=n)
    s = settings(20, min=1.0, max=100.0, n=2)
    rec = {"model": "g", "seed": seed, **ev.compute_metrics(e_true, e_pred, s, gen(seed))}
    rec["uncertainty"] = ev.uncertainty_metrics(e_true, e_pred, scale * sigma, s, gen(seed))
    return rec


def test_aggregate_uncertainty_over_seeds():
    recs = [fake_uncertain_record(1, 1.0), fake_uncertain_record(2, 1.2)]
    agg = ev.aggregate_seeds(recs)
    u = agg["uncertainty"]
    cov = [rec["uncertainty"]["overall"]["coverage68"]["value"] for rec in recs]
    assert u["overall"]["coverage68"]["mean"] == pytest.approx(np.mean(cov))
    assert u["overall"]["coverage68"]["std"] == pytest.approx(np.std(cov, ddof=1))
    assert u["overall"]["coverage68"]["values"] == cov
    res = [rec["uncertainty"]["cut"]["resolution_eev"]["value"] for rec in recs]
    assert u["cut"]["resolution_eev"]["mean"] == pytest.approx(np.mean(res))
    assert u["cut"]["keep_fraction"] == 0.9
    # the calibration curves are in quantile bins of each seed's own widths: per seed only
    assert not u["calibration"]
    assert "uncertainty" not in ev.aggregate_seeds([fake_record(1, 0.1)])


def test_energy_table_lists_the_uncertainty_of_the_models_that_have_one():
    agg = {
        "cnn": ev.aggregate_seeds([fake_record(1, 0.1), fake_record(2, 0.12)]),
        "gauss": ev.aggregate_seeds([fake_uncertain_record(1, 1.0), fake_uncertain_record(2, 1.0)]),
    }
    rows = ev.target_rows("energy", agg, ["cnn", "gauss"])
    cnn, gauss = rows
    width = ["coverage68", "coverage95", "pull_width", "resolution_cut90_eev", "relative_resolution_cut90"]
    assert all(cnn[c] is None for c in width)
    u = agg["gauss"]["uncertainty"]
    assert gauss["coverage68"] == u["overall"]["coverage68"]["mean"]
    assert gauss["pull_width_seed_std"] == u["overall"]["pull_width"]["std"]
    assert gauss["relative_resolution_cut90"] == u["cut"]["relative_resolution"]["mean"]
    csv_rows = [line.split(",") for line in ev.target_csv(rows).splitlines()]
    col = csv_rows[0].index("coverage68")
    assert csv_rows[1][col] == ""
    assert float(csv_rows[2][col]) == pytest.approx(gauss["coverage68"], rel=1e-5)

    md = ev.target_markdown("energy", rows, agg)
    without = ev.target_markdown("energy", rows[:1], agg)
    assert "Per-event" not in without  # no uncertainty, no second table
    assert md.startswith(without.split("\n")[0])
    table = md[md.index("**Per-event uncertainties**") :].splitlines()
    assert table[2].startswith("| model | coverage 68 % [%] | coverage 95 % [%] | pull width |")
    cells = [c.strip() for c in table[4].split("|")[1:-1]]
    assert cells[0] == "gauss"
    assert len(table) == 7  # heading, blank, header, rule, one row (cnn has none), blank, note
    mean, std = (float(x) for x in cells[1].split(" ± "))
    assert mean == pytest.approx(100 * gauss["coverage68"], abs=0.05)
    assert std == pytest.approx(100 * gauss["coverage68_seed_std"], abs=0.05)
    assert "within E_rec ± σ (± 1.96 σ), 68.27 % (95.00 %) for a calibrated Gaussian σ" in md


def test_convergence_of_a_negative_log_likelihood():
    """The Gaussian NLL is negative once the widths are small: the tolerance is relative to |loss|."""
    improving = -2.0 - 0.02 * np.arange(20)  # 5 epochs gain 0.1 on |2.4|: 4 %
    verdict = ev.judge_convergence(val_history(improving), epochs_max=20, patience=None)
    assert not verdict.converged
    flat = -2.5 - 1e-4 * np.arange(20)  # 5e-4 on |2.5|: 0.02 %
    assert ev.judge_convergence(val_history(flat), epochs_max=20, patience=None).converged
