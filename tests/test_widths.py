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


def test_apply_uses_the_bin_of_the_reconstructed_value():
    record = {
        "method": "scale",
        "targets": {
            "energy": {
                "width": "energy_sigma",
                "calibrated": "energy_sigma_calibrated",
                "by": "energy_pred",
                "edges": [10.0, 50.0],
                "scale": [2.0, 3.0, 5.0],
            }
        },
    }
    pred = {
        "energy_true": np.array([1.0, 1.0, 1.0, 1.0]),
        "energy_pred": np.array([5.0, 10.0, 49.0, 60.0]),
        "energy_sigma": np.array([1.0, 1.0, 2.0, 1.0]),
    }
    out = widths.apply(pred, record)["energy_sigma_calibrated"]
    np.testing.assert_array_equal(out, [2.0, 3.0, 6.0, 5.0])


def test_bad_input_is_named():
    pred = gaussian_predictions(100, 1.0)
    with pytest.raises(ValueError, match="no per-event width"):
        widths.fit({k: v for k, v in pred.items() if k != "energy_sigma"}, "scale", source="val.h5")
    bad = dict(pred, energy_sigma=np.where(np.arange(100) == 7, 0.0, pred["energy_sigma"]))
    with pytest.raises(ValueError, match="'energy_sigma' must be positive.*first event 7"):
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
