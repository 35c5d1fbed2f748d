"""The one definition of each statistic (airshower.statistics) and of the shower geometry
(airshower.geometry), against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from airshower import geometry, statistics


def test_spread_is_the_sample_standard_deviation():
    values = np.array([1.0, 2.0, 4.0, 7.0])
    mean = 3.5
    assert statistics.spread(values) == pytest.approx(np.sqrt(((values - mean) ** 2).sum() / 3))
    stack = np.stack([values, 2 * values])
    np.testing.assert_allclose(
        statistics.spread(stack), [statistics.spread(values), 2 * statistics.spread(values)]
    )
    assert np.isnan(statistics.spread(np.array([5.0])))
    assert statistics.spread(np.ones((3, 1))).shape == (3,)


def test_robust_spread_matches_sigma_for_gaussian_values_and_ignores_outliers():
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 2.0, 200_000)
    assert statistics.robust_spread(values) == pytest.approx(2.0, rel=0.01)
    values[:100] = 1e6  # 0.05 % wild values
    assert statistics.robust_spread(values) == pytest.approx(2.0, rel=0.01)
    assert statistics.spread(values) > 1000


def test_percentile_interval_is_the_central_68_percent():
    lo, hi = statistics.percentile_interval(np.arange(100001) / 1000.0)  # uniform on [0, 100]
    assert lo == pytest.approx(15.865, abs=1e-3)
    assert hi == pytest.approx(84.135, abs=1e-3)


def test_containment_by_hand():
    values = np.arange(1.0, 101.0)  # 1 ... 100
    value, low, high = statistics.containment(values[::-1], 0.68)
    # np.quantile: 1 + 0.68 * 99 = 68.32; ranks 68 -+ sqrt(100 * 0.68 * 0.32) = 68 -+ 4.66 -> 63, 73
    assert (value, low, high) == pytest.approx((68.32, 64.0, 74.0))
    assert np.isnan(statistics.containment(np.array([np.nan]))[0])


def test_bins_edges_centres_and_index():
    edges = statistics.bin_edges(1.0, 100.0, 2, "log")
    np.testing.assert_allclose(edges, [1.0, 10.0, 100.0])
    np.testing.assert_allclose(statistics.bin_centers(edges, "log"), [np.sqrt(10.0), np.sqrt(1000.0)])
    np.testing.assert_allclose(statistics.bin_edges(0.5, 2.5, 2, "linear"), [0.5, 1.5, 2.5])
    idx = statistics.bin_index(np.array([0.5, 1.0, 9.99, 10.0, 100.0, 100.1]), edges)
    np.testing.assert_array_equal(idx, [-1, 0, 0, 1, 1, -1])  # the last bin includes its upper edge
    with pytest.raises(ValueError, match="0 < min < max"):
        statistics.bin_edges(10.0, 1.0, 3)
    with pytest.raises(ValueError, match="spacing"):
        statistics.bin_edges(1.0, 10.0, 3, "cubic")


def test_binned_statistic_with_an_empty_bin():
    values = np.array([1.0, 3.0, 10.0, 20.0])
    index = np.array([0, 0, 2, 2])
    out = statistics.binned(values, index, 3, np.mean)
    np.testing.assert_allclose(out, [2.0, np.nan, 15.0])


def test_axis_vector_and_back():
    zenith = np.radians([0.0, 30.0, 60.0])
    azimuth = np.radians([0.0, 90.0, -135.0])
    axis = geometry.axis_vector(azimuth, zenith)
    np.testing.assert_allclose(np.linalg.norm(axis, axis=1), 1.0)
    np.testing.assert_allclose(axis[1], [0.0, 0.5, np.sqrt(3) / 2], atol=1e-12)
    zen, az = geometry.zenith_azimuth(axis)
    np.testing.assert_allclose(zen, zenith)
    np.testing.assert_allclose(az[1:], azimuth[1:])


def test_opening_angle_is_exact_at_small_and_right_angles():
    a = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    b = np.array([[np.sin(1e-7), 0.0, np.cos(1e-7)], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(geometry.opening_angle(a, b), [1e-7, np.pi / 2], rtol=1e-9)


def test_axis_distance_by_hand():
    # vertical axis through the origin: the distance is the horizontal one, along = height
    axis = np.array([[0.0, 0.0, 1.0], [np.sin(np.pi / 4), 0.0, np.cos(np.pi / 4)]])
    dx = np.array([[3.0], [1.0]])
    dy = np.array([[4.0], [0.0]])
    dz = np.array([[7.0], [0.0]])
    r, along = geometry.axis_distance(dx, dy, dz, axis)
    np.testing.assert_allclose(r[:, 0], [5.0, np.sqrt(0.5)])
    np.testing.assert_allclose(along[:, 0], [7.0, np.sqrt(0.5)])
    r_floor, _ = geometry.axis_distance(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), axis[:1], 1e-6)
    assert r_floor[0, 0] == pytest.approx(1e-3)
