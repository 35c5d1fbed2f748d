"""Xmax: the generalized Gumbel of De Domenico et al. (JCAP 07 (2013) 050), analytic and sampled."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from airshower import xmax
from airshower.schema import load_schema

N = 40_000
EPOS = "EPOS-LHC"


def _pdf(x, log10_energy_ev, mass, model=EPOS):
    """Eq. 2.3 of the paper, written out independently of the module."""
    mu, sigma, lam = (float(v) for v in xmax.gumbel_parameters(log10_energy_ev, mass, model))
    z = (x - mu) / sigma
    return lam**lam / (sigma * special.gamma(lam)) * np.exp(-lam * z - lam * np.exp(-z))


@pytest.mark.parametrize(("mass", "mean", "std"), [(1, 808.2, 59.1), (56, 711.8, 16.7)])
def test_analytic_moments_at_10_eev(mass, mean, std):
    """EPOS-LHC at 1e19 eV: the parameterization's moments, by formula and by integrating the pdf."""
    m = float(xmax.xmax_mean(19.0, mass, EPOS))
    s = float(xmax.xmax_std(19.0, mass, EPOS))
    assert m == pytest.approx(mean, abs=0.1)
    assert s == pytest.approx(std, abs=0.1)
    lo, hi = m - 15 * s, m + 30 * s
    norm = integrate.quad(_pdf, lo, hi, args=(19.0, mass), limit=200)[0]
    first = integrate.quad(lambda x: x * _pdf(x, 19.0, mass), lo, hi, limit=200)[0]
    second = integrate.quad(lambda x: (x - m) ** 2 * _pdf(x, 19.0, mass), lo, hi, limit=200)[0]
    assert norm == pytest.approx(1.0, abs=1e-6)
    assert first == pytest.approx(m, abs=0.01)
    assert np.sqrt(second) == pytest.approx(s, abs=0.01)


def test_analytic_moments_match_published_model_predictions():
    """EPOS-LHC CONEX predictions at 1e19 eV (e.g. Pierog et al. 2015; Auger Xmax papers):
    protons about 805-810 g/cm^2 with sigma 57-60, iron about 710-715 with sigma 17-20; the
    tutorial's rounded ~790 / ~700 are the QGSJetII-04 / lower end of these."""
    assert 795 < xmax.xmax_mean(19.0, 1, EPOS) < 820
    assert 55 < xmax.xmax_std(19.0, 1, EPOS) < 62
    assert 700 < xmax.xmax_mean(19.0, 56, EPOS) < 720
    assert 15 < xmax.xmax_std(19.0, 56, EPOS) < 21
    # QGSJetII-04 protons are shallower, ~790 g/cm^2
    assert xmax.xmax_mean(19.0, 1, "QGSJetII-04") == pytest.approx(793.2, abs=0.5)
    # elongation rate ~55-60 g/cm^2 per decade, heavier primaries shallower
    rate = xmax.xmax_mean(19.5, 1, EPOS) - xmax.xmax_mean(18.5, 1, EPOS)
    assert 50 < rate < 65
    means = xmax.xmax_mean(19.0, np.array([1, 4, 14, 56]), EPOS)
    assert np.all(np.diff(means) < 0)


@pytest.mark.parametrize("mass", [1, 56])
def test_sampled_moments_match_analytic(mass):
    rng = np.random.default_rng(2013 + mass)
    x = xmax.sample_xmax(np.full(N, 19.0), mass, rng, EPOS)
    m, s = float(xmax.xmax_mean(19.0, mass, EPOS)), float(xmax.xmax_std(19.0, mass, EPOS))
    # standard errors of the sample mean and of the sample standard deviation
    mu4 = np.mean((x - x.mean()) ** 4)
    se_mean = s / np.sqrt(N)
    se_std = np.sqrt((mu4 - x.var() ** 2) / N) / (2 * s)
    assert abs(x.mean() - m) < 4 * se_mean
    assert abs(x.std() - s) < 4 * se_std


@pytest.mark.parametrize(("model", "mass"), [("EPOS-LHC", 1), ("QGSJetII-04", 4), ("Sibyll2.1", 56)])
def test_samples_follow_the_cdf(model, mass):
    rng = np.random.default_rng(7)
    x = xmax.sample_xmax(np.full(20_000, 19.3), mass, rng, model)
    result = stats.kstest(x, lambda v: xmax.xmax_cdf(v, 19.3, mass, model))
    assert result.pvalue > 1e-3


def test_cdf_is_the_integral_of_the_pdf():
    x = 850.0
    lo = float(xmax.xmax_mean(19.0, 1, EPOS) - 15 * xmax.xmax_std(19.0, 1, EPOS))
    integral = integrate.quad(_pdf, lo, x, args=(19.0, 1), limit=200)[0]
    assert float(xmax.xmax_cdf(x, 19.0, 1, EPOS)) == pytest.approx(integral, abs=1e-7)


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="unknown interaction model"):
        xmax.gumbel_parameters(19.0, 1, "DPMJET")


def test_schema_enum_is_the_registry():
    """The config's interaction models are exactly the parameter sets of the module."""
    schema = load_schema()["properties"]["simulation"]["properties"]["interaction_model"]
    assert schema["enum"] == list(xmax.GUMBEL_PARAMETERS) == list(xmax.INTERACTION_MODELS)
    assert schema["default"] in xmax.GUMBEL_PARAMETERS
