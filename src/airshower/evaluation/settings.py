"""The ``evaluation`` config section as settings: bins of true energy and bootstrap resamples,
shared by the metrics of every target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import schema, statistics


@dataclass(frozen=True)
class EnergyBins:
    """The ``evaluation.energy_bins_eev`` config section: bins of true energy in EeV."""

    min: float
    max: float
    n: int
    spacing: str  # "log" or "linear"

    def edges(self) -> np.ndarray:
        """``n + 1`` bin edges in EeV (:func:`airshower.statistics.bin_edges`)."""
        return statistics.bin_edges(self.min, self.max, self.n, self.spacing)


@dataclass(frozen=True)
class EvaluationSettings(schema.Settings):
    """The ``evaluation`` config section (defaults in the schema)."""

    SECTION: ClassVar[str] = "evaluation"

    energy_bins_eev: EnergyBins
    bootstrap: int  # bootstrap resamples
    ensembles: bool  # compare the seed ensembles (airshower.study.ensembles); not read here
