"""Toy simulation: config defaults and checks, physics distributions, traces, reproducibility."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from scipy import special, stats

from airshower import atmosphere as atm
from airshower import geometry, statistics, xmax
from airshower import simulation as sim
from airshower.config import validate_config
from airshower.schema import ConfigError, load_schema
from airshower.simulation import integral, response, shower, traces

SEED = 31
ATMOSPHERE = atm.Atmosphere.from_config()


def settings(n_events: int = 1000, **section) -> sim.SimulationSettings:
    """Simulation settings with the schema defaults but for ``section`` (keys of ``simulation``)."""
    return sim.SimulationSettings.from_config({"n_events": n_events, **section})


@pytest.fixture(scope="module")
def showers() -> dict[str, dict[str, np.ndarray]]:
    """2000 default showers without and with traces (same seed, same blocks)."""
    plain = settings(2000, block_size=500)
    return {
        "plain": sim.simulate_events(plain, SEED, range(4)),
        "traces": sim.simulate_events(plain.replace(store_traces=True), SEED, range(4)),
    }


def axis_distance_m(data: dict[str, np.ndarray]) -> np.ndarray:
    """Distance (N, n_side, n_side) of every station from the shower axis."""
    det = data["detector"].astype(float)
    core3 = np.column_stack([data["core"], np.full(len(data["core"]), det[0, 2])])
    w = det[None, :, :] - core3[:, None, :]
    r, _ = geometry.axis_distance(w[..., 0], w[..., 1], w[..., 2], data["axis"].astype(float))
    side = int(round(np.sqrt(len(det))))
    return r.reshape(-1, side, side)


# ---------------------------------------------------------------------------------------------
# config: the documented defaults, the code's registries, bad values named


# the toy model's numbers as documented (config/README.md, the module docstrings)
DOCUMENTED_DEFAULTS = {
    "n_shards": 1,
    "block_size": 1000,
    "array": sim.ArrayLayout(n_side=14, spacing_m=750.0, altitude_m=1400.0),
    "log10_energy_ev": (18.5, 20.0),
    "zenith_max_deg": 60.0,
    "core_radius_m": 750.0,
    "composition": sim.Composition(mass_numbers=(1,), fractions=(1.0,)),
    "interaction_model": "EPOS-LHC",
    "shower_front": "planar",
    "store_traces": False,
    "station.s1000_vem": 900.0,
    "station.reference_log10_energy_ev": 19.0,
    "station.reference_distance_m": 1000.0,
    "station.muon_share": 0.3,
    "station.em_share": 0.7,
    "station.muon_share_mass_index": 0.15,
    "station.min_distance_m": 150.0,
    "station.muon_lateral_index": 4.7,
    "station.em_lateral_index": 6.1,
    "station.saturation_vem": 1e7,
    "station.fluctuations": True,
    "trace.n_bins": 80,
    "trace.bin_width_ns": 25.0,
    "trace.delay_sigma": 0.7,
    "trace.muon_delay_ns": 50.0,
    "trace.em_delay_ns": 80.0,
    "noise": sim.NoiseModel(enabled=True, relative=0.05, absolute_vem=1.2, absolute_spread=0.5),
    "timing": sim.TimingModel(
        jitter_ns=60.0, jitter_scale=8.0, event_offset_ns=50.0, virtual_origin_fraction=0.5
    ),
    "atmosphere.layer_boundaries_km": (0.0, 7.0, 11.4, 37.0, 100.0),
    "xmax": sim.XmaxModel(min_height_above_ground_m=200.0),
    "trigger": sim.TriggerModel(threshold_vem=115.2),
}


def _get(obj, dotted: str):
    for key in dotted.split("."):
        obj = getattr(obj, key)
    return obj


@pytest.mark.parametrize(("key", "value"), DOCUMENTED_DEFAULTS.items(), ids=list(DOCUMENTED_DEFAULTS))
def test_defaults_are_the_documented_physics(key, value):
    got = _get(settings(10), key)
    assert got == value
    assert type(got) is type(value)


def test_documented_derived_numbers():
    defaults = settings(10)
    assert defaults.trace.window_ns == 2000.0
    assert response.pedestal_vem(defaults) == pytest.approx(96.4, abs=0.05)  # 80 x E[max(1.2 (1 + 0.5 g), 0)]
    assert defaults.trigger.threshold_vem == pytest.approx(80 * 1.2 * 1.2)
    assert atm.vertical_depth(1400.0, defaults.atmosphere) == pytest.approx(872.3, abs=0.05)


def _schema_simulation() -> dict:
    return load_schema()["properties"]["simulation"]["properties"]


def test_every_key_has_a_default_and_a_description():
    for name, spec in _schema_simulation().items():
        assert name == "n_events" or "default" in spec, f"simulation.{name} has no schema default"
        for key, sub in spec.get("properties", {}).items():
            assert "default" in sub or name == "composition", f"simulation.{name}.{key} has no default"
            assert sub.get("description") or name == "composition", f"simulation.{name}.{key}: description"


def test_schema_enum_is_the_registry_of_fronts():
    """The config's shower fronts are exactly the front-time functions (interaction models: test_xmax)."""
    spec = _schema_simulation()["shower_front"]
    assert spec["enum"] == list(shower.FRONT_TIMES)
    assert spec["default"] in shower.FRONT_TIMES


def test_defaulted_config_builds_the_default_settings(test_config):
    config = validate_config(test_config)
    built = sim.SimulationSettings.from_config(config["simulation"])
    mixed = {"mass_numbers": [1, 56], "fractions": [0.5, 0.5]}  # the tiny study has every target
    assert built == settings(1200, n_shards=2, block_size=300, composition=mixed)


def test_config_overrides_reach_the_settings(test_config):
    test_config["simulation"].update(
        station={"muon_lateral_index": 4.0, "fluctuations": False},
        trigger={"threshold_vem": 200},
        atmosphere={"layer_boundaries_km": [0, 8, 12, 40, 100]},
        composition={"mass_numbers": [1, 56], "fractions": [0.25, 0.75]},
    )
    built = sim.SimulationSettings.from_config(validate_config(test_config)["simulation"])
    assert built.station.muon_lateral_index == 4.0
    assert built.station.fluctuations is False
    assert built.station.em_lateral_index == 6.1
    assert built.trigger.threshold_vem == 200.0
    assert built.atmosphere.boundaries_m[1] == 8000.0
    assert built.composition == sim.Composition(mass_numbers=(1, 56), fractions=(0.25, 0.75))


def _set(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


BAD_VALUES = [
    ("simulation.log10_energy_ev", [20.0, 18.5], "simulation.log10_energy_ev"),  # inverted
    ("simulation.log10_energy_ev", [-1.0, 19.0], "simulation.log10_energy_ev.0"),  # E < 1 eV
    ("simulation.log10_energy_ev", [18.5], "simulation.log10_energy_ev"),
    ("simulation.zenith_max_deg", 90.0, "simulation.zenith_max_deg"),
    ("simulation.zenith_max_deg", -10.0, "simulation.zenith_max_deg"),
    ("simulation.zenith_max_deg", 0.0, "simulation.zenith_max_deg"),
    (
        "simulation.composition",
        {"mass_numbers": [1, 56], "fractions": [0.5, 0.6]},
        "simulation.composition.fractions",
    ),
    (
        "simulation.composition",
        {"mass_numbers": [1, 56], "fractions": [1.0]},
        "simulation.composition.fractions",
    ),
    (
        "simulation.composition",
        {"mass_numbers": [0], "fractions": [1.0]},
        "simulation.composition.mass_numbers.0",
    ),
    ("simulation.interaction_model", "DPMJET", "simulation.interaction_model"),
    ("simulation.shower_front", "conical", "simulation.shower_front"),
    ("simulation.core_radius_m", -1.0, "simulation.core_radius_m"),
    ("simulation.station.s1000_vem", -900.0, "simulation.station.s1000_vem"),
    ("simulation.station.muon_lateral_indx", 4.7, "simulation.station"),  # typo: unknown key
    ("simulation.trace.n_bins", 0, "simulation.trace.n_bins"),
    ("simulation.noise.relative", -0.05, "simulation.noise.relative"),
    ("simulation.timing.virtual_origin_fraction", 1.5, "simulation.timing.virtual_origin_fraction"),
    ("simulation.atmosphere.c_cm", [1.0, 2.0, 3.0], "simulation.atmosphere.c_cm"),
    (
        "simulation.atmosphere.layer_boundaries_km",
        [0, 7, 5, 37, 100],
        "simulation.atmosphere.layer_boundaries_km",
    ),
    ("simulation.xmax.min_height_above_ground_m", -5.0, "simulation.xmax.min_height_above_ground_m"),
    ("simulation.trigger.threshold_vem", -1.0, "simulation.trigger.threshold_vem"),
    ("simulation.n_shards", 100, "simulation.n_shards"),  # more shards than blocks
]


@pytest.mark.parametrize(("key", "value", "named"), BAD_VALUES)
def test_invalid_config_names_its_key(test_config, key, value, named):
    config = copy.deepcopy(test_config)
    _set(config, key, value)
    with pytest.raises(ConfigError, match="'" + re.escape(named) + "'"):
        validate_config(config)


@pytest.mark.parametrize(("key", "value", "named"), BAD_VALUES)
def test_invalid_settings_name_their_key(key, value, named):
    """The settings built from a section alone name the same key as the whole config."""
    section = {"n_events": 1200, "block_size": 300}
    _set(section, key.removeprefix("simulation."), value)
    with pytest.raises(ConfigError, match="'" + re.escape(named) + "'"):
        sim.SimulationSettings.from_config(section)


# ---------------------------------------------------------------------------------------------
# primaries and geometry


def test_zenith_follows_sin_cos(showers):
    zenith = showers["plain"]["zenith"].astype(float)
    t_max = np.radians(60.0)
    result = stats.kstest(zenith, lambda t: np.sin(np.clip(t, 0, t_max)) ** 2 / np.sin(t_max) ** 2)
    assert result.pvalue > 1e-3
    assert zenith.max() <= t_max + 1e-6


def test_energy_uniform_in_log10(showers):
    log_e = np.log10(showers["plain"]["energy"].astype(float)) + 18.0
    assert stats.kstest(log_e, stats.uniform(18.5, 1.5).cdf).pvalue > 1e-3
    assert log_e.min() >= 18.5 - 1e-5
    assert log_e.max() <= 20.0 + 1e-5


def test_azimuth_and_core_are_uniform(showers):
    data = showers["plain"]
    assert stats.kstest(data["azimuth"].astype(float), stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3
    r2 = (data["core"].astype(float) ** 2).sum(1) / 750.0**2  # uniform in a disc: r^2 uniform
    assert stats.kstest(r2, "uniform").pvalue > 1e-3
    np.testing.assert_allclose(np.linalg.norm(data["axis"], axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.arccos(data["axis"][:, 2]), data["zenith"], atol=1e-3)


def test_xmax_lies_above_the_ground(showers):
    data = showers["plain"]
    limit = atm.slant_depth(1600.0, data["zenith"].astype(float), ATMOSPHERE)
    assert np.all(data["xmax"] <= limit + 1e-3)
    # where the ground is far below (zenith > 40 deg: limit > 1100 g/cm^2) the mean follows the
    # EPOS-LHC parameterization; near-vertical deep showers are redrawn, so their mean is shallower
    log_e = np.log10(data["energy"].astype(float)) + 18.0
    residual = data["xmax"] - xmax.xmax_mean(log_e, 1, "EPOS-LHC")
    spread = xmax.xmax_std(log_e, 1, "EPOS-LHC")
    inclined = data["zenith"] > np.radians(40)
    assert abs(residual[inclined].mean()) < 4 * np.sqrt(np.mean(spread[inclined] ** 2) / inclined.sum())
    assert residual[~inclined].mean() < residual[inclined].mean()


def test_mixed_composition():
    mixed = settings(3000, composition={"mass_numbers": [1, 56], "fractions": [0.3, 0.7]})
    rng = np.random.default_rng(5)
    ev = shower.sample_events(mixed, 3000, rng)
    n_iron = int(np.sum(ev["mass"] == 56))
    assert set(np.unique(ev["mass"])) == {1, 56}
    assert abs(n_iron - 2100) < 5 * np.sqrt(3000 * 0.3 * 0.7)
    # iron showers are ~100 g/cm^2 shallower and narrower, as the parameterization says
    residual = ev["xmax"] - xmax.xmax_mean(ev["log10_energy"], ev["mass"], "EPOS-LHC")
    p, fe = residual[ev["mass"] == 1], residual[ev["mass"] == 56]
    assert abs(fe.mean()) < 5 * 17 / np.sqrt(fe.size)
    assert 13 < fe.std() < 21
    assert 45 < p.std() < 62
    assert 80 < np.mean(ev["xmax"][ev["mass"] == 1]) - np.mean(ev["xmax"][ev["mass"] == 56]) < 115
    # and the output keeps the mass as int16
    data = sim.simulate_events(mixed.replace(n_events=200, block_size=200), SEED, [0])
    assert data["mass"].dtype == np.int16
    assert set(np.unique(data["mass"])) <= {1, 56}


# ---------------------------------------------------------------------------------------------
# station response


def test_expected_signal_falls_with_distance():
    st = sim.StationModel.from_config()
    r = np.array([50.0, 150.0, 300.0, 1000.0, 2000.0, 4000.0])
    s_mu, s_em = st_mu_em = response.expected_signals(st, 19.0, 1, r, 700.0)
    assert np.all(np.diff(st_mu_em[0][1:]) < 0)
    assert np.all(np.diff(st_mu_em[1][1:]) < 0)
    assert s_mu[0] == s_mu[1]
    assert s_em[0] == s_em[1]
    np.testing.assert_allclose(s_mu[4] / s_mu[3], 2.0**-4.7, rtol=1e-6)
    np.testing.assert_allclose(s_em[4] / s_em[3], 2.0**-6.1, rtol=1e-6)
    # at 1000 m, 10 EeV, dX = 100 g/cm^2: S0 = 900 VEM split 0.3 : 0.7
    s_mu, s_em = response.expected_signals(st, 19.0, 1, 1000.0, 100.0)
    assert s_mu + s_em == pytest.approx(900.0)
    assert s_mu / s_em == pytest.approx(0.3 / 0.7)
    # heavier primaries: more muons; saturation caps the sum
    assert response.expected_signals(st, 19.0, 56, 1000.0, 100.0)[0] > s_mu
    s_mu, s_em = response.expected_signals(st, 20.5, 1, 10.0, 10.0)
    assert s_mu + s_em == pytest.approx(1e7)


def test_measured_signal_falls_with_distance(showers):
    data = showers["plain"]
    r = axis_distance_m(data)
    signal = data["signal"]
    mid = (data["energy"] > 8) & (data["energy"] < 15)
    medians = []
    for lo, hi in [(0, 500), (500, 1000), (1000, 1500), (1500, 2000), (2000, 3000)]:
        sel = mid[:, None, None] & (r >= lo) & (r < hi) & np.isfinite(signal)
        medians.append(np.median(signal[sel]))
    assert np.all(np.diff(medians) < 0), medians


def test_triggered_stations_rise_with_energy_and_zenith(showers):
    data = showers["plain"]
    n_trig = np.isfinite(data["signal"]).sum((1, 2))
    log_e = np.log10(data["energy"])
    means = [n_trig[(log_e >= lo) & (log_e < lo + 0.375)].mean() for lo in (0.5, 0.875, 1.25, 1.625)]
    assert np.all(np.diff(means) > 0), means
    assert means[-1] > 2 * means[0]
    # at fixed energy, inclined showers have larger footprints on the ground
    zen = np.degrees(data["zenith"])
    sel = (log_e > 0.9) & (log_e < 1.6)
    vertical = n_trig[sel & (zen < 30)]
    inclined = n_trig[sel & (zen > 45)]
    se = np.sqrt(vertical.var() / vertical.size + inclined.var() / inclined.size)
    assert inclined.mean() - vertical.mean() > 3 * se
    # the time of triggered stations is set, silent ones are NaN in both images
    assert np.array_equal(np.isnan(data["time"]), np.isnan(data["signal"]))


def test_signal_after_pedestal_and_trigger(showers):
    data = showers["plain"]
    defaults = settings()
    pedestal = sim.pedestal_vem(defaults)
    assert pedestal == pytest.approx(96.4, abs=0.1)
    v = data["signal"][np.isfinite(data["signal"])]
    assert v.min() >= defaults.trigger.threshold_vem - pedestal - 1e-3  # 18.8 VEM
    assert data["signal"].dtype == np.float32
    assert data["time"].dtype == np.float32


def test_thinning_is_binomial():
    rng = np.random.default_rng(3)
    for n, q in [(5, 1e-7), (50, 0.01), (1000, 0.3), (20, 0.97), (7, 1.0), (9, 0.0)]:
        kept = traces.thin_counts(np.full(40_000, n), np.full(40_000, q), rng)
        mean, var = n * (1 - q), n * q * (1 - q)
        assert abs(kept.mean() - mean) < 5 * np.sqrt(var / kept.size) + 1e-12
        if var * kept.size > 1000:
            assert kept.var() == pytest.approx(var, rel=5 * np.sqrt(2 / kept.size) + 0.02)
        elif var == 0:
            assert np.all(kept == mean)
    # rare losses keep their probability exactly: P(any lost) = 1 - (1 - q)^n
    kept = traces.thin_counts(np.full(400_000, 10), np.full(400_000, 1e-4), rng)
    p_loss = 1 - (1 - 1e-4) ** 10
    assert abs(np.mean(kept < 10) - p_loss) < 5 * np.sqrt(p_loss / kept.size)


# ---------------------------------------------------------------------------------------------
# traces


def _particle_traces(trace, n, median_ns, shift_ns, reps, rng):
    """Reference: a log-normal delay per particle, kept inside the window, histogrammed."""
    out = np.zeros((reps, trace.n_bins))
    need = np.full(reps, n)
    while need.any():
        rows = np.repeat(np.arange(reps), need)
        t = shift_ns + median_ns * np.exp(trace.delay_sigma * rng.standard_normal(rows.size))
        inside = (t >= 0) & (t < trace.window_ns)
        np.add.at(out, (rows[inside], (t[inside] // trace.bin_width_ns).astype(int)), 1)
        need -= np.bincount(rows[inside], minlength=reps)
    return out


@pytest.mark.parametrize(
    ("n_mu", "n_em", "m_mu", "m_em"),
    [(3, 12, 60.0, 95.0), (40, 300, 250.0, 420.0), (500, 5, 900.0, 1400.0)],
)
def test_binned_traces_match_particle_by_particle(n_mu, n_em, m_mu, m_em):
    trace = sim.TraceModel.from_config()
    reps = 3000
    rng = np.random.default_rng(n_mu + n_em)
    t_mu, t_em = traces.sample_traces(
        trace, np.full(reps, n_mu), np.full(reps, n_em), np.full(reps, m_mu), np.full(reps, m_em), rng
    )
    assert t_mu.shape == (reps, 80)
    assert t_mu.dtype == np.float32
    assert np.all(t_mu.sum(1) == n_mu)
    assert np.all(t_em.sum(1) == n_em)
    shift = (m_em - m_mu) / trace.em_shift_divisor
    for binned, ref_args in ((t_mu, (n_mu, m_mu, 0.0)), (t_em, (n_em, m_em, shift))):
        ref = _particle_traces(trace, *ref_args, reps, rng)
        n = ref_args[0]
        # multinomial moments per bin, with the exact bin probabilities
        p = np.diff(response.delay_cdf(trace.edges_ns, ref_args[1], ref_args[2], trace.delay_sigma))
        p /= p.sum()
        var = n * p * (1 - p)
        tol_mean = 5 * np.sqrt(2 * var / reps) + 1e-9
        assert np.all(np.abs(binned.mean(0) - ref.mean(0)) < tol_mean)
        assert np.all(np.abs(binned.mean(0) - n * p) < tol_mean)
        # variance: standard error of a sample variance, ~ var sqrt(2 / reps) (+ kurtosis)
        big = var > 0.05
        tol_var = 6 * np.sqrt(2 / reps) * var[big] * np.sqrt(1 + 1 / np.maximum(var[big], 1e-9))
        assert np.all(np.abs(binned.var(0)[big] - ref.var(0)[big]) < 2 * tol_var)


@pytest.mark.parametrize(
    ("n_mu", "n_em", "m_mu", "m_em"),
    [
        (0, 0, 50.0, 80.0),
        (1, 2, 60.0, 100.0),
        (10, 30, 200.0, 400.0),
        (300, 2000, 80.0, 120.0),
        (5000, 20000, 1000.0, 1500.0),
    ],
)
def test_integrated_signal_with_and_without_traces(n_mu, n_em, m_mu, m_em):
    """The per-station shortcut without traces has the moments and shape of the summed noisy trace."""
    defaults = settings()
    reps = 4000
    rng = np.random.default_rng(11)
    args = (np.full(reps, float(n_mu)), np.full(reps, float(n_em)), np.full(reps, m_mu), np.full(reps, m_em))
    fast = integral.integrated_signal(defaults, *args, rng)
    t_mu, t_em = traces.sample_traces(defaults.trace, *args, rng)
    full = traces.integrate_noisy_traces(defaults.noise, t_mu, t_em, rng)
    se = np.sqrt(fast.var() / reps + full.var() / reps)
    assert abs(fast.mean() - full.mean()) < 5 * se + 0.05
    assert fast.std() == pytest.approx(full.std(), rel=6 * np.sqrt(1 / reps) + 0.02)
    assert stats.ks_2samp(fast, full).pvalue > 1e-4
    if n_mu + n_em == 0:  # a particle-free trace: mean = the subtracted pedestal
        assert full.mean() == pytest.approx(sim.pedestal_vem(defaults), abs=5 * full.std() / np.sqrt(reps))


def test_signal_distribution_same_with_and_without_traces(showers):
    a, b = showers["plain"], showers["traces"]
    sa, sb = a["signal"][np.isfinite(a["signal"])], b["signal"][np.isfinite(b["signal"])]
    assert stats.ks_2samp(sa, sb).pvalue > 1e-3
    na, nb = np.isfinite(a["signal"]).sum((1, 2)), np.isfinite(b["signal"]).sum((1, 2))
    assert abs(na.mean() - nb.mean()) < 4 * np.sqrt((na.var() + nb.var()) / len(na)) / 3  # paired events
    for lo, hi in [(0, 50), (50, 200), (200, 1000), (1000, 1e4), (1e4, 1e8)]:
        x, y = sa[(sa >= lo) & (sa < hi)], sb[(sb >= lo) & (sb < hi)]
        assert abs(x.size - y.size) < 5 * np.sqrt(x.size + y.size) / 2
        assert abs(x.mean() - y.mean()) < 5 * np.sqrt(x.var() / x.size + y.var() / y.size)


def test_traces_only_when_asked(showers):
    assert "trace_muon" not in showers["plain"]
    data = showers["traces"]
    assert data["trace_muon"].shape == (2000, 14, 14, 80)
    assert data["trace_em"].dtype == np.float32
    assert np.all(data["trace_muon"] >= 0)
    assert np.all(data["trace_muon"] == np.round(data["trace_muon"]))
    assert sim.trace_units(settings(store_traces=True)) == {
        "trace": "VEM",
        "trace_muon": "VEM",
        "trace_em": "VEM",
    }


def test_the_recorded_trace_sums_to_the_signal_and_is_empty_where_silent(showers):
    data = showers["traces"]
    trig = np.isfinite(data["signal"])
    recorded = data["trace"].astype(np.float64)
    assert data["trace"].dtype == np.float32
    assert np.all(recorded[~trig] == 0.0)  # a silent station records nothing
    # its integral is the stored signal (pedestal subtracted), up to the kept mantissa bits
    total = recorded.sum(-1)[trig]
    bound = 2.0 ** -(traces.RECORDED_MANTISSA_BITS + 1) * np.abs(recorded).sum(-1)[trig] + 1e-3
    assert np.all(np.abs(total - data["signal"][trig]) <= bound)
    # the noise is there: a triggered station's empty bins scatter around 0 by about the
    # absolute noise (1.2 VEM x 0.5 spread), not 0 exactly as the truth traces
    empty = ((data["trace_muon"] + data["trace_em"]) == 0) & trig[..., None]
    assert recorded[empty].std() > 0.3
    assert recorded[empty].std() < 1.0
    assert abs(recorded[empty].mean()) < 0.05


def test_round_mantissa_keeps_the_stated_precision():
    rng = np.random.default_rng(3)
    values = (rng.lognormal(0.0, 4.0, 10_000) * rng.choice([-1, 1], 10_000)).astype(np.float32)
    rounded = traces.round_mantissa(values, 10)
    rel = np.abs(rounded.astype(np.float64) / values - 1)
    assert rel.max() <= 2.0**-11
    assert np.all(np.sign(rounded) == np.sign(values))
    # the dropped bits are zero, and rounding twice changes nothing
    assert np.all(rounded.view(np.uint32) & np.uint32((1 << 13) - 1) == 0)
    np.testing.assert_array_equal(traces.round_mantissa(rounded, 10), rounded)
    assert traces.round_mantissa(np.float32([0.0]), 10)[0] == 0.0


def test_the_muon_label_is_the_relative_muon_content():
    """R_mu = (muon share of A / a proton's) x the muon attenuation over the depth between the
    maximum and the ground along the axis, computed by hand for a few showers."""
    s = settings(600, block_size=600, composition={"mass_numbers": [1, 56], "fractions": [0.5, 0.5]})
    data = sim.simulate_events(s, SEED, [0])
    st = s.station
    share = {a: st.muon_share * a**st.muon_share_mass_index for a in (1, 56)}
    zenith = data["zenith"].astype(np.float64)
    ground = atm.vertical_depth(np.array([s.array.altitude_m]), ATMOSPHERE)[0] / np.cos(zenith)
    dx = ground - data["xmax"].astype(np.float64)
    attenuation = np.minimum((dx / st.attenuation_depth_gcm2) ** -st.muon_attenuation_index, 10.0)
    ratio = np.array(
        [share[a] / (share[a] + st.em_share) / (share[1] / (share[1] + st.em_share)) for a in data["mass"]]
    )
    np.testing.assert_allclose(data["muon"], ratio * attenuation, rtol=2e-4)
    assert data["muon"].dtype == np.float32
    proton, iron = data["muon"][data["mass"] == 1], data["muon"][data["mass"] == 56]
    assert 0.8 < proton.mean() < 1.0
    assert 1.15 < iron.mean() < 1.4
    assert statistics.merit_factor(proton, iron) > 2.5  # the toy's muon number separates p and Fe


def test_noiseless_signal_is_the_trace_sum():
    noiseless = settings(300, block_size=300, store_traces=True, noise={"enabled": False})
    data = sim.simulate_events(noiseless, SEED, [0])
    trig = np.isfinite(data["signal"])
    total = (data["trace_muon"] + data["trace_em"]).sum(-1)
    np.testing.assert_allclose(data["signal"][trig], total[trig], rtol=1e-6)
    # the trigger acts at the threshold minus the mean pedestal, in particles
    threshold = noiseless.trigger.threshold_vem - sim.pedestal_vem(noiseless)
    assert total[trig].min() >= threshold - 1e-6
    assert np.all(total[~trig] < threshold)


# ---------------------------------------------------------------------------------------------
# reproducibility


EVENT_KEYS = ("energy", "zenith", "azimuth", "axis", "core", "xmax", "mass")


def test_one_shard_equals_four_shards():
    mixed = settings(block_size=100, composition={"mass_numbers": [1, 4], "fractions": [0.5, 0.5]})
    whole = sim.simulate_shard(mixed, SEED, 0, n_shards=1)
    parts = [sim.simulate_shard(mixed, SEED, k, n_shards=4) for k in range(4)]
    assert sum(len(p["energy"]) for p in parts) == 1000
    for key, array in whole.items():
        if key == "detector":
            assert all(np.array_equal(p[key], array) for p in parts)
            continue
        joined = np.concatenate([p[key] for p in parts])
        assert joined.dtype == array.dtype, key
        assert np.array_equal(joined, array, equal_nan=array.dtype.kind == "f"), key
    # the same call twice gives the same bytes; another seed does not
    again = sim.simulate_shard(mixed, SEED, 2, n_shards=4)
    assert all(np.array_equal(again[k], parts[2][k], equal_nan=True) for k in whole if k != "mass")
    assert not np.array_equal(sim.simulate_shard(mixed, SEED + 1, 0, 1)["energy"], whole["energy"])


def test_trace_storage_keeps_event_quantities(showers):
    a, b = showers["plain"], showers["traces"]
    for key in EVENT_KEYS:
        assert np.array_equal(a[key], b[key]), key
    # station times too, where both trigger (the jitter is drawn before the signal)
    both = np.isfinite(a["time"]) & np.isfinite(b["time"])
    assert both.sum() > 0.9 * np.isfinite(a["time"]).sum()
    assert np.array_equal(a["time"][both], b["time"][both])


def test_blocks_and_shards_cover_the_events():
    assert sim.block_ranges(1050, 500) == [(0, 500), (500, 1000), (1000, 1050)]
    blocks = [sim.shard_blocks(11, 4, k) for k in range(4)]
    assert np.array_equal(np.concatenate(blocks), np.arange(11))
    with pytest.raises(ValueError, match="shard"):
        sim.shard_blocks(11, 4, 4)


def test_spherical_front_delays_distant_stations():
    planar = settings(200, block_size=200)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    ev = shower.sample_events(planar, 200, rng_a)
    det = planar.array.positions()
    r, _dx, t_plane = shower.station_geometry(planar, ev, det)
    _r, _dx, t_sphere = shower.station_geometry(
        planar.replace(shower_front="spherical"), shower.sample_events(planar, 200, rng_b), det
    )
    delay_ns = 1e3 * (t_sphere - t_plane)
    assert np.all(delay_ns > -1e-6)
    near, far = delay_ns[r < 500], delay_ns[(r > 1500) & (r < 2000)]
    assert far.mean() > near.mean() + 50  # a curved front lags at large distance (~ r^2 / 2 R c)


def test_gaussian_helpers():
    # the closed-form moments of the clipped absolute noise against sampling
    noise = sim.NoiseModel.from_config()
    mean, var, m3 = response.empty_bin_moments(noise)
    g = np.random.default_rng(2).standard_normal(2_000_000)
    x = np.maximum(1.2 * (1 + 0.5 * g), 0.0)
    assert mean == pytest.approx(x.mean(), abs=5 * x.std() / np.sqrt(x.size))
    assert var == pytest.approx(x.var(), rel=0.01)
    assert m3 == pytest.approx(np.mean((x - x.mean()) ** 3), abs=0.01)
    assert special.ndtr(0.0) == 0.5
