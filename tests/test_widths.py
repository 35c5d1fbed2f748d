"""The calibration of the per-event widths (airshower.widths) against hand-computed cases."""

import math

import numpy as np
import pytest

from airshower import io, widths


def gaussian_predictions(n, scale, seed=0, energy=None):
    """Predictions whose true errors are ``scale`` times their stated widths (Gaussian)."""
    rng = np.random.default_rng(seed)
    e_true = rng.uniform(3.0, 100.0, n) if energy is None else energy
    sigma = 0.05 * e_true * rng.uniform(0.5, 2.0, n)
    e_pred = e_true + scale * sigma * rng.standard_normal(n)
    return {"energy_true": e_true, "energy_pred": e_pred, "energy_sigma": sigma}


@pytest.mark.parametrize("true_scale", [0.7, 1.0, 1.3])
def test_scale_recovers_a_known_factor(true_scale):
    pred = gaussian_predictions(40_000, true_scale)
    record = widths.fit(pred, "scale")
    (factor,) = record["targets"]["energy"]["scale"]
    # sqrt(mean(z^2)) of 40,000 unit normals: relative standard error 1/sqrt(2n) = 0.35 %
    assert factor == pytest.approx(true_scale, rel=0.015)
    assert record["targets"]["energy"]["after"]["pull_rms"] == pytest.approx(1.0, abs=1e-12)


def test_conformal_factor_is_the_order_statistic_and_covers():
    pred = gaussian_predictions(10_001, 1.3, seed=1)
    z = np.abs((pred["energy_pred"] - pred["energy_true"]) / pred["energy_sigma"])
    rank = math.ceil(10_002 * widths.NOMINAL)  # 6829 of 10,001
    (factor,) = widths.fit(pred, "conformal")["targets"]["energy"]["scale"]
    assert factor == np.sort(z)[rank - 1]
    assert factor == pytest.approx(1.3, rel=0.03)  # the Gaussian 68.27 % quantile of |z| is 1 x 1.3
    # on fresh events of the same kind the calibrated interval covers 68.27 %
    test = gaussian_predictions(50_000, 1.3, seed=2)
    sigma = widths.apply(test, widths.fit(pred, "conformal"))["energy_sigma_calibrated"]
    covered = np.mean(np.abs(test["energy_pred"] - test["energy_true"]) <= sigma)
    assert covered == pytest.approx(widths.NOMINAL, abs=0.01)


def test_none_keeps_the_raw_widths():
    pred = gaussian_predictions(1000, 1.2)
    out = widths.apply(pred, widths.fit(pred, "none"))
    np.testing.assert_array_equal(out["energy_sigma_calibrated"], pred["energy_sigma"])


def test_bins_correct_a_factor_that_changes_with_the_reconstructed_energy():
    # widths 20 % too small below 30 EeV, 20 % too large above: one factor cannot fix both
    rng = np.random.default_rng(3)
    e_true = rng.uniform(3.0, 100.0, 60_000)
    sigma = 0.05 * e_true
    scale = np.where(e_true < 30.0, 1.2, 0.8)
    pred = {"energy_true": e_true, "energy_pred": e_true + scale * sigma * rng.standard_normal(e_true.size)}
    pred["energy_sigma"] = sigma
    val = {k: v[:30_000] for k, v in pred.items()}
    test = {k: v[30_000:] for k, v in pred.items()}

    def coverage_low_high(record):
        calibrated = widths.apply(test, record)["energy_sigma_calibrated"]
        inside = np.abs(test["energy_pred"] - test["energy_true"]) <= calibrated
        low = test["energy_true"] < 20.0
        high = test["energy_true"] > 40.0
        return inside[low].mean(), inside[high].mean()

    one = coverage_low_high(widths.fit(val, "scale", bins=1))
    many = coverage_low_high(widths.fit(val, "scale", bins=8))
    assert one[0] < 0.62  # a global factor under-covers the low energies
    assert one[1] > 0.75  # and over-covers the high ones
    assert many[0] == pytest.approx(widths.NOMINAL, abs=0.02)
    assert many[1] == pytest.approx(widths.NOMINAL, abs=0.02)


def test_apply_uses_the_bin_of_the_raw_width():
    record = {
        "method": "scale",
        "targets": {
            "energy": {
                "width": "energy_sigma",
                "calibrated": "energy_sigma_calibrated",
                "by": "energy_sigma",
                "edges": [0.5, 1.5],
                "scale": [2.0, 3.0, 5.0],
            }
        },
    }
    pred = {
        "energy_true": np.array([1.0, 1.0, 1.0, 1.0]),
        "energy_pred": np.array([5.0, 10.0, 49.0, 60.0]),
        "energy_sigma": np.array([0.4, 1.0, 2.0, 1.5]),
    }
    out = widths.apply(pred, record)["energy_sigma_calibrated"]
    np.testing.assert_array_equal(out, [0.8, 3.0, 10.0, 7.5])


def test_regions_of_one_and_two_dimensions():
    assert widths.region(1) == pytest.approx(1.0, abs=1e-12)
    assert widths.region(1, 0.95) == pytest.approx(1.959964, abs=1e-6)
    assert widths.region(2) == pytest.approx(1.5151, abs=1e-4)  # sqrt(-2 ln 0.3173)
    assert widths.region(2, 0.95) == pytest.approx(2.4477, abs=1e-4)


def vmf_axes(n, kappa, rng):
    """n unit vectors around the zenith from a von Mises-Fisher distribution of concentration
    kappa (exact inversion of its cos-psi distribution, azimuth uniform)."""
    u = rng.uniform(size=n)
    w = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * kappa)) / kappa
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    r = np.sqrt(np.clip(1.0 - w**2, 0.0, None))
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), w])


def test_a_perfect_von_mises_fisher_sample_has_its_nominal_coverage():
    """Axes scattered by a vMF of concentration kappa around the truth, stated width
    sigma = 1/sqrt(kappa) rad: 68.27 % inside psi <= 1.515 sigma, and no calibration needed."""
    rng = np.random.default_rng(5)
    n, kappa = 40_000, 1.0 / np.radians(1.2) ** 2
    pred = {
        "axis_true": np.tile([0.0, 0.0, 1.0], (n, 1)),
        "axis_pred": vmf_axes(n, kappa, rng),
        "axis_sigma": np.full(n, np.degrees(1.0 / np.sqrt(kappa))),
    }
    record = widths.fit(pred, "scale")["targets"]["direction"]
    assert record["dims"] == 2
    tolerance = 3 * np.sqrt(widths.NOMINAL * (1 - widths.NOMINAL) / n)  # 0.7 points
    assert record["before"]["coverage68"] == pytest.approx(widths.NOMINAL, abs=tolerance)
    assert record["scale"][0] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("method", ["scale", "conformal"])
def test_a_core_width_too_small_is_scaled_to_its_nominal_coverage(method):
    rng = np.random.default_rng(6)
    n = 30_000
    sigma = rng.uniform(5.0, 30.0, n)
    truth = rng.uniform(-700.0, 700.0, (n, 2))
    pred = {"core_true": truth, "core_pred": truth + 1.4 * sigma[:, None] * rng.standard_normal((n, 2))}
    pred["core_sigma"] = sigma
    record = widths.fit(pred, method)["targets"]["core"]
    assert record["scale"][0] == pytest.approx(1.4, rel=0.02)
    assert record["before"]["coverage68"] < 0.45  # 1 - exp(-1.515^2 / (2 1.4^2)) = 0.44
    assert record["after"]["coverage68"] == pytest.approx(widths.NOMINAL, abs=0.01)


def test_bad_input_is_named():
    pred = gaussian_predictions(100, 1.0)
    with pytest.raises(ValueError, match="no per-event width"):
        widths.fit({k: v for k, v in pred.items() if k != "energy_sigma"}, "scale", source="val.h5")
    bad = dict(pred, energy_sigma=np.where(np.arange(100) == 7, 0.0, pred["energy_sigma"]))
    with pytest.raises(ValueError, match="'energy_sigma' must be positive.*the first is event 7"):
        widths.fit(bad, "scale")
    with pytest.raises(ValueError, match="unknown calibration method"):
        widths.fit(pred, "isotonic")
    record = widths.fit(pred, "scale")
    record["targets"]["energy"]["scale"] = [-1.0]
    with pytest.raises(ValueError, match="widths.json: targets.energy.scale must be 1 positive"):
        widths.apply(pred, record)


def test_a_broken_file_is_named(tmp_path):
    path = tmp_path / "widths.json"
    path.write_text('{"method": "scale"}')
    with pytest.raises(io.DataError, match=f"{path}: not a width calibration"):
        widths.apply_file(gaussian_predictions(10, 1.0), path)


# ---------------------------------------------------------------------------------------------
# the widths of the direction, the core and Xmax: decoded by their targets, evaluated alike


def test_targets_decode_a_width_column():
    from airshower import targets

    raw = np.log(np.array([0.02, 0.01]))  # rad: the direction's components are of order one
    y = np.column_stack([np.array([[0.0, 0.0, 2.0], [0.0, 3.0, 4.0]]), raw])
    out = targets.get("direction").reconstruct(y, {})
    np.testing.assert_allclose(out["axis_pred"], [[0.0, 0.0, 1.0], [0.0, 0.6, 0.8]])
    np.testing.assert_allclose(out["axis_sigma"], np.degrees([0.02, 0.01]))
    stats = {"mean": [0.0, 10.0], "std": [400.0, 100.0]}  # the width scales by sqrt(400 x 100)
    out = targets.get("core").reconstruct(np.array([[1.0, -1.0, np.log(0.1)]]), stats)
    np.testing.assert_allclose(out["core_pred"], [[400.0, -90.0]])
    np.testing.assert_allclose(out["core_sigma"], [20.0])
    out = targets.get("xmax").reconstruct(np.array([[0.5, 0.0]]), {"mean": 750.0, "std": 60.0})
    np.testing.assert_allclose([out["xmax_pred"][0], out["xmax_sigma"][0]], [780.0, 60.0])
    # without a width column: the reconstruction alone, as before
    assert set(targets.get("xmax").reconstruct(np.array([[0.5]]), {"mean": 750.0, "std": 60.0})) == {
        "xmax_pred"
    }


def test_coverage_metrics_by_hand():
    """Core errors 3, 4, 5, 12 m with widths 2, 2, 2, 4 m: z = 1.5, 2, 2.5, 3, inside the 68 %
    circle (1.515 sigma) only the first, inside the 95 % one (2.448 sigma) the first two."""
    from airshower import evaluation as ev
    from airshower.evaluation import width_metrics

    pred = {
        "energy_true": np.array([5.0, 10.0, 20.0, 50.0]),
        "core_true": np.zeros((4, 2)),
        "core_pred": np.array([[3.0, 0.0], [0.0, 4.0], [3.0, 4.0], [0.0, 12.0]]),
        "core_sigma": np.array([2.0, 2.0, 2.0, 4.0]),
        "core_sigma_calibrated": np.array([4.0, 4.0, 4.0, 8.0]),
    }
    settings = ev.EvaluationSettings.from_config({"bootstrap": 10})
    parts = width_metrics.uncertainty_parts(
        "core", pred, settings, lambda _k: np.random.default_rng(0), np.median, "median_m"
    )
    raw, calibrated = parts["uncertainty_raw"]["overall"], parts["uncertainty"]["overall"]
    assert parts["uncertainty"]["width"] == "core_sigma_calibrated"
    assert raw["coverage68"]["value"] == 0.25
    assert raw["coverage95"]["value"] == 0.5
    assert raw["pull_rms"]["value"] == pytest.approx(np.sqrt(np.mean(np.array([1.5, 2, 2.5, 3]) ** 2) / 2))
    assert calibrated["coverage68"]["value"] == 1.0  # z = 0.75 ... 1.5, all within 1.515
    cut = parts["uncertainty"]["cut"]  # the 90 % most certain: round(3.6) = 4 events, all
    assert cut["n"] == 4
    assert cut["median_m"]["value"] == 4.5
    assert (
        width_metrics.uncertainty_parts(
            "core", {k: v for k, v in pred.items() if "sigma" not in k}, settings, None, np.median, "m"
        )
        == {}
    )
