"""Seed ensembles: the combination rule, the checks on the members, the file they make, and how
the config puts them into the comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from airshower import config, ensemble, io, predictionfile, schema, statistics, study

N = 5


def split_labels() -> dict[str, np.ndarray]:
    """The labels of N test events (predictionfile.PREDICTION_LABELS)."""
    zenith = np.linspace(0.1, 0.9, N)
    return {
        "energy": np.array([3.5, 7.0, 12.0, 40.0, 90.0]),
        "index": np.array([4, 8, 15, 16, 23]),
        "zenith": zenith,
        "mass": np.ones(N, np.int16),
        "xmax": np.full(N, 750.0),
        "axis": np.column_stack([np.sin(zenith), np.zeros(N), np.cos(zenith)]),
        "core": np.zeros((N, 2)),
        "muon": np.full(N, 1.0),
    }


def member(energy_pred, sigma=None, **predicted) -> dict[str, np.ndarray]:
    """The datasets of a network's predictions.h5 for N test events (other reconstructions by name)."""
    if energy_pred is not None:
        predicted["energy_pred"] = np.asarray(energy_pred, dtype=np.float64)
    if sigma is not None:
        predicted["energy_sigma"] = np.asarray(sigma, dtype=np.float64)
    return predictionfile.prediction_datasets(split_labels(), predicted)


E1 = [4.0, 6.0, 12.0, 38.0, 95.0]
E2 = [3.0, 8.0, 12.5, 42.0, 85.0]
NAMES = ["results/models/fcn/seed1/predictions.h5", "results/models/fcn/seed2/predictions.h5"]


# --- the combination rule


def test_two_members_without_widths_give_the_mean_and_no_width():
    """Point members: the mean of the energies; their spread is no per-event uncertainty."""
    out = ensemble.combine([member(E1), member(E2)], NAMES)
    np.testing.assert_allclose(out["energy_pred"], [3.5, 7.0, 12.25, 40.0, 90.0], rtol=1e-15)
    assert out["energy_pred"].dtype == np.float64
    # the labels are the members' (the same test events)
    np.testing.assert_array_equal(out["index"], member(E1)["index"])
    np.testing.assert_array_equal(out["energy_true"], member(E1)["energy_true"])
    np.testing.assert_array_equal(out["axis_true"], member(E1)["axis_true"])
    assert set(out) == set(predictionfile.PREDICTION_UNITS) | {"energy_pred"}


def test_member_widths_add_in_quadrature_to_the_spread():
    """sigma^2 = mean of the members' sigma^2 + spread^2: event 0 has sigmas 1 and 3 (mean square
    5) and spread 1/sqrt(2) (square 0.5), so sqrt(5.5)."""
    s1 = [1.0, 2.0, 0.5, 4.0, 10.0]
    s2 = [3.0, 2.0, 0.5, 2.0, 10.0]
    out = ensemble.combine([member(E1, sigma=s1), member(E2, sigma=s2)], NAMES)
    expected = np.sqrt(
        (np.square(s1) + np.square(s2)) / 2 + np.square(np.subtract(E1, E2)) / 2  # spread^2 of two
    )
    np.testing.assert_allclose(out["energy_sigma"], expected, rtol=1e-12)
    assert out["energy_sigma"][0] == pytest.approx(np.sqrt(5.5))
    assert out["energy_sigma"][2] == pytest.approx(np.sqrt(0.25 + 0.125))


def test_three_members_use_the_sample_spread():
    """The spread is airshower.statistics.spread (ddof=1) over the members, per event."""
    rng = np.random.default_rng(3)
    energies = [np.array(E1) * rng.uniform(0.9, 1.1, N) for _ in range(3)]
    names = [f"results/models/cnn/seed{s}/predictions.h5" for s in (1, 2, 3)]
    widths = np.full(N, 0.5)
    out = ensemble.combine([member(e, sigma=widths) for e in energies], names)
    np.testing.assert_allclose(out["energy_pred"], np.mean(energies, axis=0), rtol=1e-15)
    spread = np.std(energies, axis=0, ddof=1)
    np.testing.assert_allclose(out["energy_sigma"], np.sqrt(spread**2 + 0.25), rtol=1e-12)
    np.testing.assert_allclose(spread, statistics.spread(np.stack(energies), axis=0))


def test_members_that_agree_exactly_keep_a_positive_width():
    """Identical members with a zero width: the width is the float32 resolution of the energy."""
    zero = np.zeros(N)
    out = ensemble.combine([member(E1, sigma=zero), member(E1, sigma=zero)], NAMES)
    np.testing.assert_array_equal(out["energy_pred"], E1)
    np.testing.assert_allclose(out["energy_sigma"], np.finfo(np.float32).eps * np.array(E1), rtol=1e-12)
    assert (out["energy_sigma"] > 0).all()


def test_the_mean_is_taken_of_the_energies_not_of_log10():
    """Members 10 and 1000 EeV: the ensemble predicts 505 EeV (not the 100 EeV of a mean log10)."""
    a, b = member([10.0] * N), member([1000.0] * N)
    assert ensemble.combine([a, b], NAMES)["energy_pred"][0] == pytest.approx(505.0)


def test_the_other_targets_are_combined_by_their_mean_and_the_axis_normalized():
    """Two multi-target members: axis_pred is the normalized mean of the unit vectors (the
    vertical and the x axis: their bisector), core_pred, xmax_pred and mass_prob the means."""
    vertical, x_axis = np.tile([0.0, 0.0, 1.0], (N, 1)), np.tile([1.0, 0.0, 0.0], (N, 1))
    a = member(
        E1,
        axis_pred=vertical,
        core_pred=np.zeros((N, 2)),
        xmax_pred=np.full(N, 700.0),
        mass_prob=np.tile([1.0, 0.0], (N, 1)),
        muon_pred=np.full(N, 0.9),
    )
    b = member(
        E2,
        axis_pred=x_axis,
        core_pred=np.tile([100.0, -50.0], (N, 1)),
        xmax_pred=np.full(N, 800.0),
        mass_prob=np.tile([0.5, 0.5], (N, 1)),
        muon_pred=np.full(N, 1.3),
    )
    out = ensemble.combine([a, b], NAMES)
    assert set(out) == set(predictionfile.PREDICTION_UNITS) | set(ensemble.MEANS)
    np.testing.assert_allclose(
        out["axis_pred"], np.tile([np.sqrt(0.5), 0.0, np.sqrt(0.5)], (N, 1)), rtol=1e-15
    )
    np.testing.assert_allclose(np.linalg.norm(out["axis_pred"], axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(out["core_pred"], np.tile([50.0, -25.0], (N, 1)))
    np.testing.assert_array_equal(out["xmax_pred"], np.full(N, 750.0))
    np.testing.assert_array_equal(out["mass_prob"], np.tile([0.75, 0.25], (N, 1)))
    np.testing.assert_allclose(out["mass_prob"].sum(axis=1), 1.0)
    np.testing.assert_allclose(out["energy_pred"], (np.array(E1) + E2) / 2)
    assert "energy_sigma" not in out


def test_the_widths_of_the_other_targets_add_the_spread_around_the_ensemble():
    """Core widths 3 and 4 m, members 10 m apart: each 5 m from the mean, spread per dimension
    sqrt((25 + 25) / (2 x 1)) = 5 m, sigma = sqrt((9 + 16) / 2 + 25) = sqrt(37.5). Xmax widths
    20 and 20, members at 700 and 740: spread 28.28 (ddof 1), sigma = sqrt(400 + 800). Axes 2
    deg apart, widths 1 deg: 1 deg from their bisector each, sigma = sqrt(1 + 2 / 2)."""
    tilt = np.radians(2.0)
    a = member(
        E1,
        core_pred=np.zeros((N, 2)),
        core_sigma=np.full(N, 3.0),
        xmax_pred=np.full(N, 700.0),
        xmax_sigma=np.full(N, 20.0),
        axis_pred=np.tile([0.0, 0.0, 1.0], (N, 1)),
        axis_sigma=np.full(N, 1.0),
    )
    b = member(
        E2,
        core_pred=np.tile([6.0, 8.0], (N, 1)),
        core_sigma=np.full(N, 4.0),
        xmax_pred=np.full(N, 740.0),
        xmax_sigma=np.full(N, 20.0),
        axis_pred=np.tile([np.sin(tilt), 0.0, np.cos(tilt)], (N, 1)),
        axis_sigma=np.full(N, 1.0),
    )
    out = ensemble.combine([a, b], NAMES)
    np.testing.assert_allclose(out["core_sigma"], np.sqrt(37.5), rtol=1e-12)
    np.testing.assert_allclose(out["xmax_sigma"], np.sqrt(400.0 + 800.0), rtol=1e-12)
    np.testing.assert_allclose(out["axis_sigma"], np.sqrt(1.0 + 1.0), rtol=1e-9)
    # members without a width of a target give an ensemble without one
    assert "core_sigma" not in ensemble.combine([member(E1, core_pred=np.zeros((N, 2)))] * 2, NAMES)


def test_members_without_energy_are_combined():
    """A direction-only network's seeds: no energy_pred in the members, none in the ensemble."""
    tilted = np.tile([0.6, 0.0, 0.8], (N, 1))
    out = ensemble.combine([member(None, axis_pred=tilted), member(None, axis_pred=tilted * 2)], NAMES)
    assert set(out) == set(predictionfile.PREDICTION_UNITS) | {"axis_pred"}
    np.testing.assert_allclose(out["axis_pred"], tilted, rtol=1e-15)


def test_members_must_reconstruct_the_same_targets():
    with pytest.raises(io.DataError) as info:
        ensemble.combine([member(E1), member(E2, xmax_pred=np.full(N, 700.0))], NAMES)
    assert str(info.value) == (
        f"{NAMES[1]}: reconstructs ['energy_pred', 'xmax_pred'], while {NAMES[0]} reconstructs "
        "['energy_pred']: the members must predict alike"
    )


# --- the members must be predictions of the same test events


def test_members_with_other_test_events_are_named():
    other = member(E2)
    other["index"] = other["index"].copy()
    other["index"][3] = 99
    with pytest.raises(io.DataError) as info:
        ensemble.combine([member(E1), other], NAMES)
    assert str(info.value) == (
        f"{NAMES[1]}: dataset 'index' differs from {NAMES[0]} at event 3 (99 against 16): the members "
        "of an ensemble must predict the same test split"
    )


def test_members_with_other_true_energies_are_named():
    other = member(E2)
    other["energy_true"] = other["energy_true"] * 1.5
    with pytest.raises(io.DataError, match=rf"^{NAMES[1]}: dataset 'energy_true' differs .* at event 0 \("):
        ensemble.combine([member(E1), other], NAMES)


def test_members_with_another_number_of_events_are_named():
    short = {k: v[:3] for k, v in member(E2).items()}
    with pytest.raises(io.DataError) as info:
        ensemble.combine([member(E1), short], NAMES)
    assert str(info.value) == f"{NAMES[1]}: 3 test events, {NAMES[0]} has 5"


def test_members_must_all_or_none_predict_a_width():
    with pytest.raises(io.DataError) as info:
        ensemble.combine([member(E1), member(E2, sigma=np.ones(N))], NAMES)
    assert str(info.value) == (
        f"{NAMES[0]}: no dataset 'energy_sigma', while {NAMES[1]} has one: the members must predict alike"
    )


def test_one_member_is_no_ensemble():
    with pytest.raises(io.DataError, match="two or more members, got 1"):
        ensemble.combine([member(E1)], NAMES[:1])


# --- the file: what the rule script writes, read back


def test_the_ensemble_file_meets_the_predictions_contract(tmp_path):
    out = ensemble.combine([member(E1, sigma=np.ones(N)), member(E2, sigma=np.ones(N))], NAMES)
    member_attrs = [{"inference_events_per_s": 100.0}, {"inference_events_per_s": 300.0}]
    attrs = ensemble.attributes("fcn", [1, 2], NAMES, member_attrs)
    path = tmp_path / "fcn_ensemble" / "seed0" / "predictions.h5"
    predictionfile.write_predictions(path, out, attrs)
    back = predictionfile.read_predictions(path)
    np.testing.assert_array_equal(back["energy_pred"], out["energy_pred"])
    np.testing.assert_array_equal(back["energy_sigma"], out["energy_sigma"])
    read = io.read_attrs(path)
    assert (read["model"], int(read["seed"]), read["member_model"]) == ("fcn_ensemble", 0, "fcn")
    assert json.loads(read["member_seeds"]) == [1, 2]
    assert json.loads(read["member_files"]) == NAMES
    assert "mean of the members' energy_pred" in read["combination"]
    # all members in turn: 1 / (1/100 + 1/300) = 75 events/s
    assert float(read["inference_events_per_s"]) == pytest.approx(75.0)
    assert "inference_events_per_s" not in ensemble.attributes("fcn", [1, 2], NAMES, [{}, member_attrs[1]])


# --- the comparison: which ensembles, in which order, with which seeds


def test_ensembles_follow_the_networks_with_two_or_more_seeds(test_config):
    cfg = config.validate_config(test_config)
    multi = [m for m in cfg["models"] if len(study.training_settings(cfg, m)["seeds"]) >= 2]
    assert multi == ["fcn"]  # the tiny study: fcn has seeds 1 and 2, the others one
    assert study.ensembles(cfg) == {"fcn_ensemble": "fcn"}
    assert study.compared_models(cfg) == [*cfg["models"], "fcn_ensemble", "baseline"]
    assert study.model_seeds(cfg, "fcn_ensemble") == [0]
    assert study.model_seeds(cfg, "fcn") == [1, 2]


def test_ensembles_can_be_switched_off(test_config):
    test_config.setdefault("evaluation", {})["ensembles"] = False
    cfg = config.validate_config(test_config)
    assert study.ensembles(cfg) == {}
    assert study.compared_models(cfg) == [*cfg["models"], "baseline"]
    with pytest.raises(schema.ConfigError, match="model 'fcn_ensemble' is not in the config"):
        study.model_seeds(cfg, "fcn_ensemble")


def test_ensembles_are_on_by_default(default_config):
    cfg = config.validate_config(default_config)
    assert cfg["evaluation"]["ensembles"] is True
    names = list(cfg["models"])
    several = [m for m in names if len(study.model_seeds(cfg, m)) > 1]  # a one-seed network has none
    assert several == ["fcn", "cnn", "cnn_tuned_nll"]
    assert study.compared_models(cfg) == [*names, *(f"{m}_ensemble" for m in several), "baseline"]


def test_a_network_named_like_an_ensemble_is_refused(test_config):
    test_config["models"]["fcn_ensemble"] = test_config["models"]["cnn"]
    with pytest.raises(schema.ConfigError) as info:
        config.validate_config(test_config)
    assert str(info.value) == (
        "config key 'models': model name 'fcn_ensemble' ends in '_ensemble', the name of a network's "
        "seeds combined ('fcn_ensemble' would be the ensemble of a network 'fcn', see "
        "evaluation.ensembles): give the network another name"
    )
    assert schema.ENSEMBLE_SUFFIX == "_ensemble"
    rule = schema.load_schema()["properties"]["models"]["propertyNames"]
    assert {"pattern": f"{schema.ENSEMBLE_SUFFIX}$"} in rule["not"]["anyOf"]
