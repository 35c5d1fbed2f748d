"""Classical (non-ML) reconstruction of the surface-array showers: the physics baseline.

The standard chain of a ground array, vectorized over events (the method and its assumptions:
the section "The classical baseline" of the top-level ``README.md``):

1. direction (:mod:`.front`): a weighted least-squares fit of a plane front to the arrival times
   of the triggered stations, or (``front: curved``) of a spherical front from a point source;
2. core and size (:mod:`.ldf`): a Levenberg-Marquardt fit of the lateral distribution function
   to the signals, giving the core and S(1000);
3. energy (:mod:`.calibration`): a constant-intensity zenith correction of S(1000) to S38 and the
   calibration ``E = A S38^B`` on the training split; the per-event energy uncertainty from the
   LDF fit's uncertainty of S(1000) and the calibration's scatter (:func:`energy_sigma`);

and the whole step (:mod:`.pipeline`): :func:`reconstruct` of events, :func:`run` to calibrate on the
training split and predict the test split. Events with too few triggered stations (flag 1) or a
failed fit (flag 2) are kept with the energy of a total-signal fallback calibration. The
networks' reference fit (:mod:`.reference`): the plane and LDF fits of every event that their
``residual``, ``front_*`` and ``ldf_s1000`` channels read. Settings: :class:`BaselineSettings`
(config section ``baseline``).
"""

from airshower.baseline.calibration import (
    apply_calibration,
    cic_variable,
    energy_sigma,
    energy_statistics,
    fit_calibration,
    fit_uncertainty,
    fit_zenith_correction,
    s38,
    zenith_attenuation,
)
from airshower.baseline.front import (
    FRONTS,
    Stations,
    front_fit,
    plane_fit,
    sphere_fit,
    time_weights,
    triggered_stations,
)
from airshower.baseline.ldf import LDF_FORMS, LdfFit, axis_distance_and_gradient, ground_z, ldf_fit, ldf_log
from airshower.baseline.pipeline import (
    IMAGE_COPIES,
    RECONSTRUCTED_UNITS,
    calibrate,
    check_array,
    predict_with_calibration,
    read_showers,
    reconstruct,
    reconstruct_rows,
    run,
    signal_barycentre,
)
from airshower.baseline.reference import reference_fit, with_reference_fit
from airshower.baseline.settings import (
    FLAG_FEW_STATIONS,
    FLAG_FIT_FAILED,
    FLAG_NAMES,
    FLAG_OK,
    BaselineSettings,
    flag_counts,
)

__all__ = [
    "IMAGE_COPIES",
    "FLAG_FEW_STATIONS",
    "FLAG_FIT_FAILED",
    "FLAG_NAMES",
    "FLAG_OK",
    "FRONTS",
    "LDF_FORMS",
    "RECONSTRUCTED_UNITS",
    "BaselineSettings",
    "LdfFit",
    "Stations",
    "apply_calibration",
    "axis_distance_and_gradient",
    "calibrate",
    "check_array",
    "cic_variable",
    "energy_sigma",
    "energy_statistics",
    "fit_calibration",
    "fit_uncertainty",
    "fit_zenith_correction",
    "flag_counts",
    "front_fit",
    "ground_z",
    "ldf_fit",
    "ldf_log",
    "plane_fit",
    "predict_with_calibration",
    "read_showers",
    "reconstruct",
    "reconstruct_rows",
    "reference_fit",
    "run",
    "s38",
    "signal_barycentre",
    "sphere_fit",
    "time_weights",
    "triggered_stations",
    "with_reference_fit",
    "zenith_attenuation",
]
