"""Settings of the classical reconstruction (config section ``baseline``) and its event flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import schema

FLAG_OK, FLAG_FEW_STATIONS, FLAG_FIT_FAILED = 0, 1, 2
FLAG_NAMES = {
    FLAG_OK: "ok",
    FLAG_FEW_STATIONS: "fewer than min_stations triggered",
    FLAG_FIT_FAILED: "fit failed",
}


@dataclass(frozen=True)
class BaselineSettings(schema.Settings):
    """Settings of the classical reconstruction; defaults and allowed values live in the schema.

    Build with ``BaselineSettings.from_config(section)``; the keys are explained in
    ``config/README.md`` (section ``baseline``).
    """

    SECTION: ClassVar[str] = "baseline"

    enabled: bool  # the workflow's switch: the baseline enters the comparison
    min_stations: int
    front: str  # one of front.FRONTS
    ldf_form: str  # one of ldf.LDF_FORMS
    ldf_slope: float  # beta of the LDF
    ldf_r_min_m: float  # the LDF is flat below this distance
    ldf_systematic: float  # relative signal uncertainty added to the Poisson term
    signal_noise_vem: float  # absolute signal noise (VEM) in the LDF-fit uncertainty
    ldf_iterations: int
    core_prior_m: float
    time_sigma_ns: float  # timing uncertainty sigma_t = time_sigma_ns / (1 + log10(S + 1))
    zenith_correction: int  # polynomial degree of ln f_CIC in x; 0: no zenith correction
    reference_zenith_deg: float
    cic_bins: int
    cic_quantiles: tuple[float, ...]

    def reconstruction_settings(self) -> dict:
        """The settings that shape the reconstruction (all but ``enabled``), as recorded in
        ``calibration.json``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "enabled"}


def flag_counts(flag: np.ndarray) -> dict[str, int]:
    """Number of events with each flag, by the flag's name."""
    return {FLAG_NAMES[k]: int(np.count_nonzero(flag == k)) for k in FLAG_NAMES}
