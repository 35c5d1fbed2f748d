"""Metrics of the reconstructed relative muon content R_mu of one model and seed.

R_mu (``showers.h5:muon``, :func:`airshower.simulation.shower.relative_muon_content`) is the
muon signal at 1000 m from the axis relative to a proton shower's of the same energy before
attenuation: about 0.9 for protons and 1.3 for iron in the toy. Per event the residual
``muon_pred - muon`` (in units of that proton reference, so x 100 a per cent of it). Quoted, over
all events and in bins of true energy, each with its 68.27 % percentile-bootstrap interval:

- bias: ``mean(muon_pred - muon)``;
- resolution: ``spread(muon_pred - muon)`` (``ddof=1``);
- resolved fraction: ``1 - resolution^2 / spread(muon)^2`` per energy bin, the fraction of the
  true shower-to-shower (and composition) variance of R_mu that the reconstruction resolves,
  averaged over the bins weighted by their events.

Computed as every scalar target's (:func:`.scalar.scalar_spec`, with Xmax's).
"""

from __future__ import annotations

from airshower.evaluation.scalar import scalar_spec

DEFINITIONS = {
    "bias_pct": "100 mean(muon_pred - muon) (per cent of the proton reference R_mu = 1)",
    "resolution_pct": "100 std(muon_pred - muon) (ddof=1)",
    "resolved_fraction": (
        "1 - resolution^2 / std(muon)^2 per bin of true energy (ddof=1); overall: the mean over "
        "the energy bins weighted by their events"
    ),
}

SPEC = scalar_spec(
    "muon",
    "pct",
    100.0,
    DEFINITIONS,
    stream=(6,),
    labels={"unit": "%", "tex_unit": "%", "symbol": "R_μ", "tex_symbol": r"$R_\mu$"},
    note="R_μ = muon signal at 1000 m relative to a proton shower's of the same energy before "
    "attenuation (≈ 0.9 for protons, 1.3 for iron); bias = 100 mean(R_μ,rec − R_μ), resolution = 100 "
    "std(R_μ,rec − R_μ) (ddof = 1), in per cent of the proton reference; resolved fraction = 1 − "
    "resolution² / std(R_μ)² in each bin of true energy, averaged over the bins weighted by their events.",
)
muon_metrics = SPEC.metrics
