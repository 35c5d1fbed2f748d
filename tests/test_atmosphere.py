"""The CORSIKA 5-layer atmosphere (model 17): depths, continuity and the inverse."""

from __future__ import annotations

import numpy as np
import pytest

from airshower import atmosphere as atm
from airshower.schema import ConfigError

MODEL_17 = atm.Atmosphere.from_config()  # the schema's default: CORSIKA model 17


def test_vertical_depth_at_the_array():
    # Auger-like site at 1400 m: about 870 g/cm^2 overburden
    assert atm.vertical_depth(1400.0, MODEL_17) == pytest.approx(872.29, abs=0.05)
    # sea level: the standard atmosphere's 1033 g/cm^2
    assert atm.vertical_depth(0.0, MODEL_17) == pytest.approx(1033.8, abs=0.5)


def test_depth_decreases_and_vanishes_at_the_top():
    h = np.linspace(0.0, 120e3, 2001)
    depth = atm.vertical_depth(h, MODEL_17)
    assert np.all(np.diff(depth) <= 0)
    assert depth[-1] == 0.0
    assert MODEL_17.top_m == pytest.approx(112.8292e3, rel=1e-6)


@pytest.mark.parametrize("boundary_m", [7e3, 11.4e3, 37e3, 100e3])
def test_layers_join_continuously(boundary_m):
    below, above = atm.vertical_depth([boundary_m - 1e-3, boundary_m + 1e-3], MODEL_17)
    assert abs(below - above) < 0.01 * max(below, 1e-3) + 1e-3  # < 1 % jump (CORSIKA's fit)


def test_height_depth_round_trip():
    h = np.linspace(0.0, 110e3, 5001)
    back = atm.height_at_vertical_depth(atm.vertical_depth(h, MODEL_17), MODEL_17)
    np.testing.assert_allclose(back, h, atol=1e-3)  # 1 mm
    depth = np.linspace(1.0, 1030.0, 2000)
    np.testing.assert_allclose(
        atm.vertical_depth(atm.height_at_vertical_depth(depth, MODEL_17), MODEL_17), depth, rtol=1e-9
    )


def test_slant_depth_and_its_inverse():
    zenith = np.radians(np.array([0.0, 30.0, 45.0, 60.0]))
    slant = atm.slant_depth(1400.0, zenith, MODEL_17)
    np.testing.assert_allclose(slant, 872.2932 / np.cos(zenith), rtol=1e-5)
    heights = np.array([1400.0, 5e3, 12e3, 40e3])
    np.testing.assert_allclose(
        atm.height_at_slant_depth(atm.slant_depth(heights, zenith, MODEL_17), zenith, MODEL_17),
        heights,
        atol=1e-3,
    )


def test_config_units_are_converted():
    assert MODEL_17.layer_boundaries_km == (0.0, 7.0, 11.4, 37.0, 100.0)
    assert MODEL_17.boundaries_m == (0.0, 7e3, 11.4e3, 37e3, 100e3)  # km -> m
    assert MODEL_17.c_m[0] == pytest.approx(9542.4834)  # cm -> m
    other = atm.Atmosphere.from_config({"layer_boundaries_km": [0, 8, 12, 40, 100]})
    assert other.boundaries_m[1] == 8000.0
    assert other.a_gcm2 == MODEL_17.a_gcm2


def test_bad_layers_are_rejected():
    key = "'simulation.atmosphere.layer_boundaries_km'"
    with pytest.raises(ConfigError, match=f"{key}: must increase"):
        atm.Atmosphere.from_config({"layer_boundaries_km": [0.0, 7.0, 5.0, 37.0, 100.0]})
    with pytest.raises(ConfigError, match="'simulation.atmosphere.a_gcm2'"):
        atm.Atmosphere.from_config({"a_gcm2": [1.0, 2.0]})
