"""Metrics of the direction, core, Xmax and mass targets: hand-computed values, bootstrap
intervals, seed aggregation, the summary tables, the config check, the registry of every target's
spec and the rule scripts."""

from __future__ import annotations

import math
import runpy
import types

import numpy as np
import pytest

from airshower import evaluation as ev
from airshower import geometry, io, predictionfile, statistics
from airshower.evaluation import direction, mass, xmax
from airshower.schema import ConfigError
from conftest import ROOT

ZENITH_BINS = {"zenith_bins_deg": [0, 25, 35, 45, 60]}


def settings(bootstrap: int = 50, **bins) -> ev.EvaluationSettings:
    return ev.EvaluationSettings.from_config({"energy_bins_eev": bins, "bootstrap": bootstrap})


def gen(k: int = 0) -> np.random.Generator:
    return np.random.default_rng(1000 + k)


def streams(k: int = 0):
    """The bootstrap streams of one run, as :func:`airshower.evaluation.bootstrap_streams` gives."""
    return lambda *index: np.random.default_rng([1000 + k, *index])


def synthetic(n: int = 600, seed: int = 0, noise: float = 0.01) -> dict[str, np.ndarray]:
    """A predictions dict with every truth and every reconstruction."""
    r = np.random.default_rng(seed)
    zenith, azimuth = np.arccos(r.uniform(0.5, 1.0, n)), r.uniform(-np.pi, np.pi, n)
    m = r.choice([1.0, 56.0], n)
    x_true = np.where(m == 1, 800.0, 700.0) + r.normal(0, 40, n)
    p_fe = 1 / (1 + np.exp((x_true - 750) / 25))
    core = r.normal(0, 400, (n, 2))
    pred = {
        "energy_true": 10 ** r.uniform(0.5, 2.0, n),
        "zenith": zenith,
        "axis_true": geometry.axis_vector(azimuth, zenith),
        "axis_pred": geometry.axis_vector(azimuth + r.normal(0, noise, n), zenith + r.normal(0, noise, n)),
        "core_true": core,
        "core_pred": core + r.normal(0, 30, (n, 2)),
        "xmax": x_true,
        "xmax_pred": x_true + r.normal(0, 20, n),
        "mass": m,
        "mass_prob": np.column_stack([1 - p_fe, p_fe]),
    }
    pred |= {"energy_pred": pred["energy_true"] * (1 + 0.1 * r.normal(size=n))}
    muon = np.where(m == 1, 0.9, 1.3) * (1 - (x_true - 750) / 6000)  # R_mu, drawn after the rest
    return pred | {"muon": muon, "muon_pred": muon + r.normal(0, 0.05, n)}


# --- statistics ------------------------------------------------------------------------------


def test_opening_angle_of_known_vectors():
    z = np.array([[0.0, 0.0, 1.0]] * 3)
    other = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [np.sin(0.1), 0.0, np.cos(0.1)]])
    np.testing.assert_allclose(
        direction.opening_angles_deg(other, z), [0.0, 90.0, math.degrees(0.1)], atol=1e-12
    )


def test_containment_of_known_sample():
    psi = np.arange(1.0, 101.0)  # 1..100 deg: 68 % below 68.32 (linear interpolation)
    got = direction.containment_entry(psi, 100, gen())["psi68_deg"]
    assert got["value"] == pytest.approx(np.quantile(psi, 0.68)) == pytest.approx(68.32)
    assert got["lo"] < got["value"] < got["hi"]


def test_auc_hand_example_with_ties():
    # pairs (b > a): b=0.4 beats a=0.1, 0.3 and ties 0.4 -> 2.5; b=0.8 beats all 3 -> 3; b=0.1 ties 0.1 -> 0.5
    a, b = np.array([0.1, 0.3, 0.4]), np.array([0.4, 0.8, 0.1])
    assert statistics.auc(a, b) == pytest.approx((2.5 + 3 + 0.5) / 9)


def test_auc_separated_and_identical():
    assert statistics.auc(np.array([0.1, 0.2]), np.array([0.7, 0.9, 0.8])) == 1.0
    assert statistics.auc(np.array([0.7, 0.9]), np.array([0.1, 0.2])) == 0.0
    same = np.array([0.3, 0.5, 0.5, 0.9])
    assert statistics.auc(same, same) == pytest.approx(0.5)
    assert math.isnan(statistics.auc(np.array([]), same))


def test_merit_factor_by_hand():
    a, b = np.array([1.0, 3.0]), np.array([5.0, 9.0])  # means 2, 7; variances (ddof=1) 2, 8
    assert statistics.merit_factor(a, b) == pytest.approx(5 / math.sqrt(10))
    assert math.isnan(statistics.merit_factor(np.array([1.0]), b))


def test_bootstrap_interval_contains_value():
    values = np.random.default_rng(3).normal(5.0, 1.0, 400)
    reps = statistics.bootstrap_replicas(np.mean, (values,), 300, gen())
    lo, hi = statistics.bootstrap_interval(reps)
    assert lo < values.mean() < hi
    assert hi - lo == pytest.approx(2 / math.sqrt(400), rel=0.25)
    assert statistics.bootstrap_interval(np.array([1.0, np.nan])) == (None, None)


# --- the four targets ------------------------------------------------------------------------


def test_direction_record_layout_and_bins():
    pred = synthetic()
    rec = ev.compute_target_metrics("direction", pred, settings(30), ZENITH_BINS, streams())
    assert rec["target"] == "direction"
    assert rec["n_events"] == 600
    psi = direction.opening_angles_deg(pred["axis_pred"], pred["axis_true"])
    assert rec["overall"]["psi68_deg"]["value"] == pytest.approx(np.quantile(psi, 0.68))
    assert rec["overall"]["psi_mean_deg"]["value"] == pytest.approx(psi.mean())
    z = rec["zenith_bins"]
    assert z["edges_deg"] == [0, 25, 35, 45, 60]
    assert sum(z["n"]) + z["n_outside"] == 600
    assert len(z["psi68_deg"]["value"]) == 4
    assert sum(rec["bins"]["n"]) + rec["bins"]["n_outside"] == 600


def towards_truth(pred: dict, fraction: float) -> dict:
    """``pred`` with every reconstructed axis turned by ``fraction`` of its opening angle towards
    the true axis, on their great circle: each opening angle times ``1 - fraction``."""
    a, b = pred["axis_true"], pred["axis_pred"]
    theta = np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0))[:, None]
    turned = (np.sin((1 - fraction) * theta) * b + np.sin(fraction * theta) * a) / np.sin(theta)
    return {**pred, "axis_pred": turned}


def test_the_difference_to_the_fit_is_paired_and_by_hand():
    """A network whose opening angles are the fit's times 0.5 (0.99), event by event: its psi68
    minus the fit's is -0.5 (-0.01) times the fit's psi68, overall and in every energy bin; paired,
    the interval of the small difference is 0.01 times the fit's own, far narrower than the
    network's psi68's; the fit against itself gives 0 exactly; other events are refused."""
    fit = synthetic(2000, noise=0.02)
    psi68_fit = np.quantile(direction.opening_angles_deg(fit["axis_pred"], fit["axis_true"]), 0.68)
    fit_bins = ev.compute_target_metrics("direction", fit, settings(10), ZENITH_BINS, streams())["bins"]
    for fraction in (0.5, 0.01):
        net = towards_truth(fit, fraction)
        rec = ev.compute_target_metrics(
            "direction", net, settings(200), ZENITH_BINS, streams(), reference=fit
        )
        diff = rec["vs_fit"]["overall"]["psi68_minus_fit_deg"]
        assert diff["value"] == pytest.approx(-fraction * psi68_fit, rel=1e-6)
        assert diff["lo"] <= diff["value"] <= diff["hi"]
        per_bin = rec["vs_fit"]["bins"]["psi68_minus_fit_deg"]["value"]
        np.testing.assert_allclose(per_bin, -fraction * np.array(fit_bins["psi68_deg"]["value"]), rtol=1e-6)
    own = rec["overall"]["psi68_deg"]
    assert diff["hi"] - diff["lo"] < 0.05 * (own["hi"] - own["lo"])  # paired: the common part drops out
    same = ev.compute_target_metrics("direction", fit, settings(50), ZENITH_BINS, streams(), reference=fit)
    assert same["vs_fit"]["overall"]["psi68_minus_fit_deg"] == {"value": 0.0, "lo": 0.0, "hi": 0.0}
    assert "vs_fit" not in ev.compute_target_metrics("direction", fit, settings(10), ZENITH_BINS, streams())
    with pytest.raises(ValueError, match="not of the same test events"):
        ev.compute_target_metrics(
            "direction", fit, settings(10), ZENITH_BINS, streams(), reference=synthetic(2000, 1)
        )


def test_empty_bin_is_none():
    pred = synthetic()
    pred["energy_true"] = np.full(600, 5.0)  # only the first of 2 bins [3.16, 10, 100]... n=2
    rec = ev.compute_target_metrics("core", pred, settings(20, n=2), {}, streams())
    assert rec["bins"]["n"] == [600, 0]
    assert rec["bins"]["r68_m"]["value"][1] is None
    assert rec["bins"]["r68_m"]["lo"][1] is None
    assert rec["bins"]["r68_m"]["value"][0] is not None


def test_core_by_hand():
    pred = synthetic(n=4)
    pred["core_true"] = np.zeros((4, 2))
    pred["core_pred"] = np.array([[3.0, 4.0], [0.0, 1.0], [-2.0, 0.0], [1.0, -1.0]])  # r = 5, 1, 2, sqrt2
    rec = ev.compute_target_metrics("core", pred, settings(20), {}, streams())
    o = rec["overall"]
    assert o["r68_m"]["value"] == pytest.approx(np.quantile([5, 1, 2, math.sqrt(2)], 0.68))
    assert o["bias_x_m"]["value"] == pytest.approx(0.5)
    assert o["bias_y_m"]["value"] == pytest.approx(1.0)


def test_resolved_fraction_constructed():
    true = np.array([600.0, 700.0, 800.0, 900.0])  # std^2 = 16666.7
    residual = np.array([-50.0, 50.0, -50.0, 50.0])  # std^2 = 3333.3
    assert xmax.resolved_fraction(residual, true) == pytest.approx(1 - 3333.333 / 16666.667, rel=1e-6)
    # two bins with fractions 0.8 (4 events) and 0.0 (2 events): weighted mean 3.2 / 6
    idx = np.array([0, 0, 0, 0, 1, 1, -1])
    res = np.concatenate([residual, [10.0, -10.0], [999.0]])
    tru = np.concatenate([true, [700.0, 720.0], [0.0]])
    assert xmax.weighted_resolved_fraction(res, tru, idx) == pytest.approx((4 * 0.8 + 2 * 0.0) / 6)


def test_xmax_perfect_reconstruction_resolves_everything():
    pred = synthetic()
    pred["xmax_pred"] = pred["xmax"] + 5.0  # a pure offset: bias 5, resolution 0
    rec = ev.compute_target_metrics("xmax", pred, settings(20), {}, streams())
    assert rec["overall"]["bias_gcm2"]["value"] == pytest.approx(5.0)
    assert rec["overall"]["resolution_gcm2"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert rec["overall"]["resolved_fraction"]["value"] == pytest.approx(1.0)


def test_confusion_counts():
    true_index = np.array([0, 0, 0, 1, 1])
    prob = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    got = mass.confusion(true_index, prob, [1, 56])
    assert got["counts"] == [[2, 1], [1, 1]]
    assert got["fractions"] == [[pytest.approx(2 / 3), pytest.approx(1 / 3)], [0.5, 0.5]]


def test_mass_metrics_pair_and_reference_merits():
    pred = synthetic(n=800)
    rec = ev.compute_target_metrics("mass", pred, settings(30), {}, streams(), classes=[56, 1])
    assert rec["classes"] == [1, 56]
    assert rec["names"] == ["p", "Fe"]
    assert rec["headline_pair"] == "1_56"
    pair = rec["pairs"]["1_56"]
    is_fe = pred["mass"] == 56
    s = pred["mass_prob"][:, 1] / pred["mass_prob"].sum(axis=1)
    assert pair["auc"]["value"] == pytest.approx(statistics.auc(s[~is_fe], s[is_fe]))
    assert pair["merit"]["value"] == pytest.approx(statistics.merit_factor(s[~is_fe], s[is_fe]))
    x = pred["xmax"]
    assert pair["merit_xmax_true"]["value"] == pytest.approx(statistics.merit_factor(x[~is_fe], x[is_fe]))
    assert pair["merit_xmax_reco"]["value"] is not None
    assert pair["auc"]["lo"] < pair["auc"]["value"] < pair["auc"]["hi"]
    assert pair["roc"]["fpr"][0] == 0
    assert pair["roc"]["tpr"][-1] == 1
    assert len(pair["roc"]["fpr"]) <= 101
    assert sum(map(sum, rec["confusion"]["counts"])) == 800
    del pred["xmax_pred"]
    rec = ev.compute_target_metrics("mass", pred, settings(20), {}, streams(), classes=[1, 56])
    assert rec["pairs"]["1_56"]["merit_xmax_reco"] == {"value": None, "lo": None, "hi": None}


def test_roc_of_separated_classes():
    roc = mass.roc_curve(np.array([0.1, 0.2]), np.array([0.8, 0.9]))
    assert list(zip(roc["fpr"], roc["tpr"], strict=True)) == [(0, 0), (0, 0.5), (0, 1), (0.5, 1), (1, 1)]


def test_bad_data_named():
    pred = synthetic(n=10)
    del pred["axis_pred"]
    with pytest.raises(ValueError, match="axis_pred"):
        ev.compute_target_metrics("direction", pred, settings(), ZENITH_BINS, streams())
    pred = synthetic(n=10)
    pred["mass"][3] = 4.0
    with pytest.raises(ValueError, match="first is event 3"):
        ev.compute_target_metrics("mass", pred, settings(), {}, streams(), classes=[1, 56])


# --- seeds, tables, config -------------------------------------------------------------------


def _runs(target: str, seeds, **extra) -> list[dict]:
    return [
        {
            "model": "cnn",
            "seed": s,
            **ev.compute_target_metrics(
                target, synthetic(seed=s), settings(20), ZENITH_BINS, streams(s), **extra
            ),
        }
        for s in seeds
    ]


def test_combine_two_seeds_by_hand():
    got = ev.combine_entries([{"value": 1.0, "lo": 0.8, "hi": 1.2}, {"value": 2.0, "lo": 1.9, "hi": 2.3}])
    std, stat = math.sqrt(0.5), 0.5 * (0.2 + 0.2)
    assert got["mean"] == 1.5
    assert got["std"] == pytest.approx(std)
    assert got["stat"] == pytest.approx(stat)
    assert got["lo"] == pytest.approx(1.5 - math.hypot(std, stat))
    assert got["values"] == [1.0, 2.0]
    one = ev.combine_entries([{"value": 1.0, "lo": 0.8, "hi": 1.3}])
    assert (one["lo"], one["hi"], one["std"]) == (0.8, 1.3, None)


def test_aggregate_two_seeds():
    runs = _runs("mass", [0, 1], classes=[1, 56])
    agg = ev.aggregate_seeds(runs)
    assert agg["seeds"] == [0, 1]
    assert agg["n_seeds"] == 2
    auc = agg["pairs"]["1_56"]["auc"]
    values = [r["pairs"]["1_56"]["auc"]["value"] for r in runs]
    assert auc["mean"] == pytest.approx(np.mean(values))
    assert auc["values"] == values
    assert (
        agg["confusion"]["counts"]
        == (np.add(runs[0]["confusion"]["counts"], runs[1]["confusion"]["counts"])).tolist()
    )
    assert len(agg["pairs"]["1_56"]["roc"]["fpr"]) == 101
    assert len(agg["bins"]["auc"]["mean"]) == len(agg["bins"]["n"])


def test_tables_rows_csv_markdown():
    agg = {
        "cnn": ev.aggregate_seeds(_runs("xmax", [0, 1])),
        "baseline": ev.aggregate_seeds(_runs("xmax", [0])),
    }
    rows = ev.target_rows("xmax", agg, ["cnn", "baseline"])
    assert [r["model"] for r in rows] == ["cnn", "baseline"]
    assert rows[0]["bias_gcm2"] == agg["cnn"]["overall"]["bias_gcm2"]["mean"]
    assert rows[1]["bias_gcm2_seed_std"] is None
    csv = ev.target_csv(rows).splitlines()
    assert csv[0].startswith("model,n_seeds,bias_gcm2,bias_gcm2_seed_std,bias_gcm2_stat")
    md = ev.target_markdown("xmax", rows, agg)
    assert "| model | seeds | bias [g/cm²] | resolution [g/cm²] | resolved fraction [%] |" in md
    r = rows[0]
    res = f"{r['resolution_gcm2']:.1f}"
    assert "| cnn | 2 | " in md
    assert res[:-1] in md
    assert "ddof = 1" in md
    with pytest.raises(ValueError, match="resnet"):
        ev.target_rows("xmax", agg, ["resnet"])


def test_direction_table_has_energy_bin_columns():
    agg = {"cnn": ev.aggregate_seeds(_runs("direction", [0]))}
    rows = ev.target_rows("direction", agg, ["cnn"])
    n_bins = len(agg["cnn"]["bins"]["n"])
    assert [f"psi68_deg_bin{k}" in rows[0] for k in range(n_bins)] == [True] * n_bins
    assert "ψ68, 3.16–5.62 EeV [deg]" in ev.target_markdown("direction", rows, agg)


def test_check_target_settings():
    ev.check_target_settings({"direction": {"zenith_bins_deg": [0, 30, 60]}, "core": {}})
    ev.check_target_settings({})
    for bad in ([0, 30, 30], [10], [0, 95], [40, 20]):
        with pytest.raises(ConfigError, match=r"targets\.direction\.zenith_bins_deg"):
            ev.check_target_settings({"direction": {"zenith_bins_deg": bad}})


def test_registry_matches_schema():
    from airshower.schema import load_schema

    # the schema's target settings are those of registered targets (the energy has none)
    assert set(load_schema()["properties"]["targets"]["properties"]) <= set(ev.SPECS)


def test_every_target_has_every_part():
    """Adding a target is one module in airshower.targets, one in evaluation (its spec) and its
    figures: every registered target has metrics, a bootstrap stream of its own, headlines with the
    front page's among them, a note, shifts with their columns, and figures."""
    from airshower.evaluation.systematics import SHIFTS
    from airshower.plotting.targets import FIGURE_FUNCTIONS, TARGET_FIGURES
    from airshower.targets import TARGETS

    assert list(ev.SPECS) == list(TARGETS)
    for name, spec in ev.SPECS.items():
        assert callable(spec.metrics), name
        assert spec.headlines, name
        assert spec.front in [h.column for h in spec.headlines if not h.per_bin], name
        assert spec.note.strip(), name
        assert spec.shifts, name
        assert callable(spec.shift_columns), name
        assert all(h.group in ("", *spec.groups) for h in spec.headlines), name
        assert SHIFTS[name] == spec.shifts
        assert TARGET_FIGURES.get(name), name
        assert all(stem in FIGURE_FUNCTIONS for stem in TARGET_FIGURES[name]), name
    streams = [spec.stream for spec in ev.SPECS.values()]
    assert len(set(streams)) == len(streams)
    # a target's own sub-streams (the energy's width: 1) are no other target's stream
    assert all(a + (1,) not in streams for a in streams)


# --- the rule scripts ------------------------------------------------------------------------


def _snakemake(**kw) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        **{k: types.SimpleNamespace(**v) if isinstance(v, dict) else v for k, v in kw.items()}
    )


def test_scripts_metrics_and_summary(tmp_path):
    pred = synthetic(n=300)
    pred["index"] = np.arange(300)
    pred["energy_pred"] = pred["energy_true"]
    outputs = []
    for seed in (0, 1):
        path = tmp_path / f"models/cnn/seed{seed}/predictions.h5"
        io.write_h5(
            path, pred, units={**predictionfile.PREDICTION_UNITS, **predictionfile.OPTIONAL_PREDICTION_UNITS}
        )
        out = tmp_path / f"models/cnn/seed{seed}/metrics/core.json"
        sm = _snakemake(
            log=[str(tmp_path / f"log{seed}")],
            wildcards={"model": "cnn", "seed": str(seed), "target": "core"},
            input={"predictions": str(path)},
            output={"metrics": str(out)},
            params={
                "evaluation": {"bootstrap": 20},
                "target_settings": {},
                "classes": [1, 56],
                "study_seed": 5,
            },
        )
        runpy.run_path(str(ROOT / "workflow/scripts/metrics.py"), init_globals={"snakemake": sm})
        outputs.append(str(out))
    assert io.read_json(outputs[0])["model"] == "cnn"
    verdicts = {"cnn": [{"seed": 1, "converged": True}, {"seed": 2, "converged": False}]}
    io.write_json(tmp_path / "convergence.json", {"convergence": verdicts})
    sm = _snakemake(
        log=[str(tmp_path / "log_summary")],
        wildcards={"target": "core"},
        input={"metrics": outputs, "convergence": str(tmp_path / "convergence.json")},
        output={k: str(tmp_path / f"summary.{k}") for k in ("csv", "md", "json")},
        params={"models": ["cnn"]},
    )
    runpy.run_path(str(ROOT / "workflow/scripts/summary.py"), init_globals={"snakemake": sm})
    summary = io.read_json(tmp_path / "summary.json")
    assert summary["models"]["cnn"]["n_seeds"] == 2
    assert summary["table"][0]["model"] == "cnn"
    assert summary["unconverged"] == {"cnn": [2]}
    md = (tmp_path / "summary.md").read_text()
    assert "| cnn ‡ | 2 |" in md  # seed 2 did not converge: marked as in the energy summary
    assert "‡ Not converged: cnn (seeds 2)" in md


def test_unconverged_seeds_follow_the_network_into_its_ensemble():
    from airshower.evaluation import unconverged_seeds

    verdicts = {"cnn": [{"seed": 1, "converged": False}], "fcn": [{"seed": 1, "converged": True}]}
    found = unconverged_seeds(verdicts, ["cnn", "fcn", "cnn_ensemble", "baseline"])
    assert found == {"cnn": [1], "cnn_ensemble": [1]}


def test_script_names_the_file_on_bad_data(tmp_path):
    pred = synthetic(n=50)
    pred["index"] = np.arange(50)
    del pred["core_pred"]
    path = tmp_path / "predictions.h5"
    io.write_h5(path, pred)
    sm = _snakemake(
        log=[str(tmp_path / "log")],
        wildcards={"model": "cnn", "seed": "0", "target": "core"},
        input={"predictions": str(path)},
        output={"metrics": str(tmp_path / "core.json")},
        params={"evaluation": {"bootstrap": 20}, "target_settings": {}, "classes": [1, 56], "study_seed": 5},
    )
    with pytest.raises(io.DataError, match=r"predictions\.h5.*core_pred"):
        runpy.run_path(str(ROOT / "workflow/scripts/metrics.py"), init_globals={"snakemake": sm})
