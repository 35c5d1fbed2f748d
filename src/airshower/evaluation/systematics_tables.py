"""The systematics table: one row per (variant, model) with the seed-combined shift of every
target's headline metrics (:mod:`.systematics`), as CSV and Markdown, and the study's bars.

Rows are grouped by variant (in ``systematics.run`` order), the models in the comparison's order
with every augmented network (``training.augmentation`` on) right after its unaugmented twin
(:func:`twins`). CSV: per shift column (:data:`~airshower.evaluation.systematics.SHIFTS`, in
its unit) the mean over seeds, ``_lo``/``_hi`` (the combined interval: one seed's bootstrap
interval, or mean -+ seed spread and bootstrap half-width in quadrature) and ``_seed_std``.

The bars (:func:`bars`):

- ``calibration``: under a variant that only scales the signals by s, the classical baseline's
  relative energy bias moves by ``s^B - 1`` (B its calibration exponent) within 1 percentage point;
- ``dead``: under a variant that only switches off at most 10 % of the stations (the robustness
  curves show the rest), an augmented network's relative energy resolution worsens by less than
  10 % of its nominal value and by less than its twin's, its ψ68 by less than 0.1 deg and its
  r68 by less than 5 m (where it reconstructs them), and its nominal relative resolution is
  within 0.2 percentage points of its twin's (what the augmentation costs the intact detector);
- ``hadronic``: under a variant with another interaction model, the energy bias of every energy
  network moves by less than its nominal relative resolution.
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Mapping, Sequence

from airshower import study
from airshower import systematics as variants
from airshower.evaluation.formatting import DASH, csv_cell, decimals
from airshower.evaluation.systematics import SHIFTS
from airshower.schema import BASELINE, ENSEMBLE_SUFFIX

CALIBRATION_TOLERANCE_PP = 1.0  # the calibration bar, percentage points
DEAD_LIMIT = 0.10  # the dead-station bar: resolution change below 10 % of its nominal value
DEAD_BAR_MAX_FRACTION = 0.10  # the dead-station bar holds for variants with at most this many dead
DEAD_DIRECTION_LIMIT_DEG = 0.1  # ... psi68 shift below 0.1 deg
DEAD_CORE_LIMIT_M = 5.0  # ... r68 shift below 5 m
DEAD_NOMINAL_LIMIT_PP = 0.2  # ... nominal sigma_E/E within 0.2 pp of the unaugmented twin's


# --- models: augmented networks and their twins ---------------------------------------------


def augmented(cfg: Mapping, model: str) -> bool:
    """Whether the network ``model`` trains with an augmentation (``training.augmentation``)."""
    settings = study.training_settings(cfg, model).get("augmentation") or {}
    return any(float(v) > 0 for v in settings.values())


def _recipe(cfg: Mapping, model: str) -> tuple[dict, dict]:
    spec = {k: v for k, v in cfg["models"][model].items() if k != "training"}
    training = {k: v for k, v in study.training_settings(cfg, model).items() if k != "augmentation"}
    training.pop("seeds", None)
    return spec, training


def twins(cfg: Mapping) -> dict[str, str | None]:
    """Every augmented network of a validated config -> its unaugmented twin: the network with the
    same specification and training but the augmentation (and the seeds), else the network of the
    same specification (training aside) whose name is the longest that begins the augmented
    one's (``cnn_tuned`` for ``cnn_tuned_aug``), else None. The seed ensembles of both, where
    compared, are twins too."""
    networks = list(cfg["models"])
    plain = [m for m in networks if not augmented(cfg, m)]
    out: dict[str, str | None] = {}
    for model in networks:
        if model in plain:
            continue
        recipe = _recipe(cfg, model)
        same = [m for m in plain if _recipe(cfg, m) == recipe]
        named = [m for m in plain if model.startswith(m) and _recipe(cfg, m)[0] == recipe[0]]
        out[model] = (same or sorted(named, key=len, reverse=True) or [None])[0]
    compared = set(study.compared_models(dict(cfg)))
    for model, twin in list(out.items()):
        ensemble = model + ENSEMBLE_SUFFIX
        if ensemble in compared:
            other = twin + ENSEMBLE_SUFFIX if twin else None
            out[ensemble] = other if other in compared else None
    return out


def row_order(models: Sequence[str], twin_of: Mapping[str, str | None]) -> list[str]:
    """``models`` with every augmented model moved right after its twin (where compared)."""
    placed = {m for m, t in twin_of.items() if t in models and m in models}
    order = []
    for model in models:
        if model in placed:
            continue
        order.append(model)
        order += [m for m in models if m in placed and twin_of[m] == model]
    return order


# --- rows, CSV, Markdown ---------------------------------------------------------------------


def shift_columns(targets: Sequence[str]) -> list[tuple[str, object]]:
    """``(target, Shift)`` of every column of the table, in the order of :data:`SHIFTS`."""
    return [(t, s) for t in SHIFTS if t in targets for s in SHIFTS[t]]


def _scaled(x: float | None, scale: float) -> float | None:
    return None if x is None else x * scale


def shift_rows(
    aggregated: Mapping[str, Mapping[str, Mapping]],
    order: Sequence[str],
    models: Sequence[str],
    twin_of: Mapping[str, str | None],
    targets: Sequence[str],
) -> list[dict]:
    """One row per (variant in ``order``, model in ``models`` present for it): ``variant``,
    ``model``, ``twin``, ``n_seeds`` and per shift column its mean, ``_lo``, ``_hi`` and
    ``_seed_std`` in the column's unit (None where the model does not reconstruct the target)."""
    rows = []
    for variant in order:
        for model in models:
            if model not in aggregated.get(variant, {}):
                continue
            agg = aggregated[variant][model]
            row: dict = {
                "variant": variant,
                "model": model,
                "twin": twin_of.get(model),
                "n_seeds": agg["n_seeds"],
            }
            for target, shift in shift_columns(targets):
                e = agg["targets"].get(target, {}).get(shift.name) or {}
                for suffix, key in (("", "mean"), ("_lo", "lo"), ("_hi", "hi"), ("_seed_std", "std")):
                    row[shift.column + suffix] = _scaled(e.get(key), shift.scale)
            rows.append(row)
    return rows


def shift_csv(rows: Sequence[Mapping], targets: Sequence[str]) -> str:
    """The rows as CSV text (empty cells for missing values)."""
    fields = ["variant", "model", "twin", "n_seeds"]
    for _, shift in shift_columns(targets):
        fields += [shift.column + s for s in ("", "_lo", "_hi", "_seed_std")]
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(row.get(k)) for k in fields})
    return buf.getvalue()


def _cell(value: float | None, lo: float | None, hi: float | None) -> str:
    """``+v [lo, hi]``, rounded to two significant digits of the interval's half-width."""
    if value is None:
        return DASH
    half = 0.5 * (hi - lo) if lo is not None and hi is not None else None
    d = decimals(value, half)
    if half is None:
        return f"{value:+.{d}f}"
    return f"{value:+.{d}f} [{lo:+.{d}f}, {hi:+.{d}f}]"


NOTE = (
    "Shift of each headline metric from the nominal test set to the variant's, same model and "
    "training seed: the energy's relative bias as a difference in percentage points, its relative "
    "resolution σ_E/E as a relative change (variant / nominal − 1, in %), ψ68 (68 % containment "
    "of the opening angle), r68 (68 % containment of the core distance), the X_max bias and "
    "resolution as differences, the AUC of the lightest against the heaviest mass class as a "
    "difference. Mean over the training seeds [combined 68 % interval: for one seed its "
    "percentile bootstrap of independent resamples of both test sets; for several the mean ∓ the "
    f"seed spread and the mean bootstrap half-width in quadrature]. {DASH}: the model does not "
    "reconstruct the target. Every model keeps its nominal calibration: the networks their "
    "weights and the nominal normalization, the classical baseline its nominal calibration.json."
)


def shift_markdown(rows: Sequence[Mapping], targets: Sequence[str], bar_lines: Sequence[Mapping] = ()) -> str:
    """The Markdown table (rows grouped by variant), its note and the bars' lines."""
    cols = shift_columns(targets)
    header = ["variant", "model", "seeds", *(s.header for _, s in cols)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---", "---:"] + ["---:"] * len(cols)) + "|",
    ]
    previous = None
    for r in rows:
        model = f"{r['model']} (twin: {r['twin']})" if r.get("twin") else str(r["model"])
        cells = [r["variant"] if r["variant"] != previous else "", model, str(r["n_seeds"])]
        cells += [_cell(r[s.column], r[s.column + "_lo"], r[s.column + "_hi"]) for _, s in cols]
        lines.append("| " + " | ".join(cells) + " |")
        previous = r["variant"]
    text = "\n".join(lines) + "\n\n" + NOTE + "\n"
    if bar_lines:
        text += "\n## Bars\n\n" + "\n".join(f"- {b['text']}" for b in bar_lines) + "\n"
    return text


# --- the bars --------------------------------------------------------------------------------


def variant_kind(section: Mapping) -> str | None:
    """``"scale"`` (the signals scaled, nothing else), ``"dead"`` (stations off, nothing else),
    ``"hadronic"`` (another interaction model) or None, of a complete variant section."""
    simulation, factors = dict(section.get("simulation") or {}), dict(section.get("factors") or {})
    scale, dead = float(section.get("signal_scale", 1.0)), float(section.get("dead_fraction", 0.0))
    if "interaction_model" in simulation:
        return "hadronic"
    if simulation or factors:
        return None
    if scale != 1.0 and dead == 0:
        return "scale"
    if dead > 0 and scale == 1.0:
        return "dead"
    return None


def dead_fractions(sections: Mapping[str, Mapping]) -> dict[str, float]:
    """``{variant: dead_fraction}`` of the variants that only switch stations off
    (:func:`variant_kind` ``"dead"``), in the order given: the points of the robustness curve."""
    return {v: float(s["dead_fraction"]) for v, s in sections.items() if variant_kind(s) == "dead"}


def _shift(aggregated: Mapping, variant: str, model: str, target: str, name: str) -> dict | None:
    return aggregated.get(variant, {}).get(model, {}).get("targets", {}).get(target, {}).get(name)


def _line(bar, variant, model, value, limit, ok, text) -> dict:
    """One bar's line: ``{"bar", "variant", "model", "value", "limit", "pass", "text"}``, value
    and limit in the table's units (percentage points, %)."""
    return {
        "bar": bar,
        "variant": variant,
        "model": model,
        "value": value,
        "limit": limit,
        "pass": ok,
        "text": text,
    }


def _verdict(ok: bool | None) -> str:
    return "not evaluated" if ok is None else ("PASS" if ok else "FAIL")


def _calibration_bar(aggregated, variant, section, exponent) -> dict:
    e = _shift(aggregated, variant, BASELINE, "energy", "relative_bias")
    scale = float(section["signal_scale"])
    expected = 100 * variants.calibration_bias_shift(scale, exponent) if exponent is not None else None
    value = None if e is None or e["mean"] is None else 100 * e["mean"]
    ok = None if value is None or expected is None else abs(value - expected) < CALIBRATION_TOLERANCE_PP
    what = f"{value:+.2f} pp" if value is not None else "no baseline shift"
    want = f"{expected:+.2f} pp = {scale:g}^B − 1 (B = {exponent:.4f})" if expected is not None else "no B"
    text = (
        f"**{_verdict(ok)}** calibration, {variant}: classical baseline's energy bias shift {what}, "
        f"expected {want} within {CALIBRATION_TOLERANCE_PP:g} pp"
    )
    return _line("calibration", variant, BASELINE, value, expected, ok, text)


def _mark(ok: bool) -> str:
    """Which of a bar's checks failed, at a glance."""
    return "✓" if ok else "✗"


def _dead_checks(aggregated, variant, model, twin) -> tuple[bool, list[str], float, float] | None:
    """The dead-station bar's checks of one augmented network: (all pass, what each found, marked
    ✓ or ✗, its σ_E/E change and the limit of it, in %), or None where it has no energy shift on
    the variant."""
    e = _shift(aggregated, variant, model, "energy", "relative_resolution")
    if e is None or e["mean"] is None:
        return None
    t = _shift(aggregated, variant, twin, "energy", "relative_resolution") if twin else None
    twin_value = t["mean"] if t else None
    ok = e["mean"] < DEAD_LIMIT and (twin_value is None or e["mean"] < twin_value)
    if twin_value is None:
        against = f"< {100 * DEAD_LIMIT:g} %; no unaugmented twin to compare"
    else:
        against = f"< {100 * DEAD_LIMIT:g} % and < its twin {twin}'s {100 * twin_value:+.1f} %"
    found = [f"σ_E/E changes by {100 * e['mean']:+.1f} % ({against} {_mark(ok)})"]
    for target, name, limit, unit in (
        ("direction", "psi68_deg", DEAD_DIRECTION_LIMIT_DEG, "°"),
        ("core", "r68_m", DEAD_CORE_LIMIT_M, " m"),
    ):
        d = _shift(aggregated, variant, model, target, name)
        if d is None or d["mean"] is None:
            continue
        passed = d["mean"] < limit
        ok = ok and passed
        found.append(f"{name.split('_')[0]} {d['mean']:+.3g}{unit} (< {limit:g}{unit} {_mark(passed)})")
    if t is not None and e["nominal"] is not None and t["nominal"] is not None:
        gap = 100 * (e["nominal"] - t["nominal"])
        passed = gap <= DEAD_NOMINAL_LIMIT_PP
        ok = ok and passed
        # three decimals: the check compares the unrounded gap (0.201 fails where +0.20 would not)
        found.append(
            f"nominal σ_E/E {100 * e['nominal']:.3f} % against the twin's {100 * t['nominal']:.3f} % "
            f"({gap:+.3f} pp, ≤ {DEAD_NOMINAL_LIMIT_PP:g} pp {_mark(passed)})"
        )
    limit = min(DEAD_LIMIT, twin_value) if twin_value is not None else DEAD_LIMIT
    return ok, found, 100 * e["mean"], 100 * limit


def _dead_bars(aggregated, variant, twin_of) -> list[dict]:
    out = []
    for model, twin in twin_of.items():
        checks = _dead_checks(aggregated, variant, model, twin)
        if checks is None:
            continue
        ok, found, value, limit = checks
        text = f"**{_verdict(ok)}** dead stations, {variant}: {model}'s " + "; ".join(found)
        out.append(_line("dead", variant, model, value, limit, ok, text))
    if not out:
        out.append(
            _line(
                "dead",
                variant,
                None,
                None,
                100 * DEAD_LIMIT,
                None,
                f"**not evaluated** dead stations, {variant}: no network has training.augmentation enabled",
            )
        )
    return out


def _hadronic_bars(aggregated, variant, energy_networks) -> list[dict]:
    out = []
    for model in energy_networks:
        e = _shift(aggregated, variant, model, "energy", "relative_bias")
        r = _shift(aggregated, variant, model, "energy", "relative_resolution")
        if e is None or e["mean"] is None or r is None or r["nominal"] is None:
            continue
        ok = abs(e["mean"]) < r["nominal"]
        text = (
            f"**{_verdict(ok)}** interaction model, {variant}: {model}'s energy bias moves by "
            f"{100 * e['mean']:+.2f} pp, its nominal σ_E/E is {100 * r['nominal']:.2f} %"
        )
        out.append(_line("hadronic", variant, model, 100 * e["mean"], 100 * r["nominal"], ok, text))
    return out


def bars(
    aggregated: Mapping[str, Mapping[str, Mapping]],
    sections: Mapping[str, Mapping],
    exponent: float | None,
    twin_of: Mapping[str, str | None],
    energy_networks: Sequence[str],
) -> list[dict]:
    """The bars (module docstring) of every run variant of their kind (:func:`variant_kind`,
    ``sections``: the run variants' config sections, in order): ``{"bar", "variant", "model",
    "value", "limit", "pass" (None: not evaluated), "text"}``; a line per kind without a run
    variant. ``exponent``: the baseline's calibration exponent B (None without a baseline)."""
    out: list[dict] = []
    kinds = {name: variant_kind(section) for name, section in sections.items()}
    dead = dead_fractions(sections)
    for name, kind in kinds.items():
        if kind == "scale":
            out.append(_calibration_bar(aggregated, name, sections[name], exponent))
        elif kind == "dead" and dead[name] <= DEAD_BAR_MAX_FRACTION:
            out += _dead_bars(aggregated, name, twin_of)
        elif kind == "hadronic":
            out += _hadronic_bars(aggregated, name, energy_networks)
    for kind, bar, what in (
        ("scale", "calibration", "signal scale"),
        ("dead", "dead", "dead stations"),
        ("hadronic", "hadronic", "interaction model"),
    ):
        if kind not in kinds.values():
            out.append(
                _line(
                    bar,
                    None,
                    None,
                    None,
                    None,
                    None,
                    f"**not evaluated** {what}: no such variant in systematics.run",
                )
            )
    return out
