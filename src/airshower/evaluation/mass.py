"""Metrics of the mass classification of one model and seed.

A model that classifies the primary predicts per event the probabilities ``mass_prob`` (N, K) of
the K classes, the sorted distinct mass numbers of ``simulation.composition.mass_numbers``. For
every pair of classes ``a < b`` the events of those two classes get the score
``s = p_b / (p_a + p_b)`` (0.5 where both are zero), and are compared by:

- the ROC curve (true positive rate: b-events with ``s >= t``, false positive rate: a-events
  with ``s >= t``, over the thresholds t) and its area ``auc``: the probability that a random
  b-event scores above a random a-event, ties counting 1/2 (:func:`airshower.statistics.auc`);
- the merit factor ``|mean(s_a) - mean(s_b)| / sqrt(var(s_a) + var(s_b))`` (ddof=1,
  :func:`airshower.statistics.merit_factor`), next to the merit factor of the reconstructed Xmax
  (where the model predicts ``xmax_pred``) and of the true Xmax (the ideal Xmax measurement) on
  the same events: what the classifier gains over an Xmax cut; where the showers have the muon
  target's label, the same for the relative muon content R_mu (reconstructed where the model
  predicts ``muon_pred``) and for Xmax and R_mu combined (Fisher's linear discriminant,
  :func:`airshower.statistics.fisher_merit_factor`, its weights from the same events);

each with its 68.27 % percentile-bootstrap interval (the pair's events resampled). Over all
events: the confusion matrix (predicted class = argmax of ``mass_prob``; counts and fractions
of each true class) and the accuracy. In bins of true energy: AUC and merit factor of the
pair of the lightest and the heaviest class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from airshower import contract, statistics
from airshower.evaluation import target_base as base

NAMES = {1: "p", 4: "He", 12: "C", 14: "N", 16: "O", 28: "Si", 56: "Fe"}
ROC_POINTS = 101  # at most this many points of each stored ROC curve
DEFINITIONS = {
    "score": "s = p_b / (p_a + p_b) on the events of classes a < b (0.5 where both are 0)",
    "auc": "probability that a random b-event scores above a random a-event, ties 1/2",
    "merit": "|mean(s_a) - mean(s_b)| / sqrt(var(s_a) + var(s_b)), ddof=1",
    "merit_xmax_reco": "the merit factor of xmax_pred on the same events",
    "merit_xmax_true": "the merit factor of the true xmax on the same events (ideal Xmax)",
    "merit_muon_reco": "the merit factor of muon_pred (R_mu) on the same events",
    "merit_muon_true": "the merit factor of the true R_mu on the same events",
    "merit_combined_reco": (
        "the merit factor of Fisher's discriminant of (xmax_pred, muon_pred), weights from the same events"
    ),
    "merit_combined_true": "the same of the true (xmax, muon)",
    "accuracy": "fraction of the events whose argmax of mass_prob is their true class",
    "confusion": "counts[i][j]: events of true class i predicted as class j (argmax); fractions: per row",
}


def class_name(mass_number: float) -> str:
    """``p``, ``He``, ..., ``Fe`` for the usual primaries, else ``A=<mass number>``."""
    a = int(round(float(mass_number)))
    return NAMES.get(a, f"A={a}")


def pair_key(a: float, b: float) -> str:
    """Key of the pair of classes ``a < b`` in the records, e.g. ``"1_56"``."""
    return f"{int(round(float(a)))}_{int(round(float(b)))}"


def class_indices(mass: np.ndarray, classes: Sequence[float]) -> np.ndarray:
    """Index of each event's true mass number in ``classes``; ValueError naming the first event
    whose mass number is none of them."""
    classes = np.asarray(classes, dtype=np.float64)
    idx = np.clip(np.searchsorted(classes, mass), 0, len(classes) - 1)
    failed = contract.failures(classes[idx] == mass, lambda i: f"mass number {mass[i]:g}")
    if failed:
        raise ValueError(f"'mass' must be one of the classes {classes.tolist()}: {failed}")
    return idx


def pair_score(prob: np.ndarray, i: int, j: int) -> np.ndarray:
    """``s = p_j / (p_i + p_j)`` per event (0.5 where both probabilities are zero)."""
    total = prob[:, i] + prob[:, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, prob[:, j] / np.where(total > 0, total, 1.0), 0.5)


def roc_curve(score_a: np.ndarray, score_b: np.ndarray, max_points: int = ROC_POINTS) -> dict:
    """``{"fpr": [...], "tpr": [...]}`` of telling b (positive) from a by ``s >= t``, from
    (0, 0) to (1, 1) over the distinct scores as thresholds, thinned evenly to ``max_points``."""
    thresholds = np.unique(np.concatenate([score_a, score_b]))[::-1]
    tpr = np.searchsorted(np.sort(-np.asarray(score_b)), -thresholds, side="right") / max(len(score_b), 1)
    fpr = np.searchsorted(np.sort(-np.asarray(score_a)), -thresholds, side="right") / max(len(score_a), 1)
    fpr, tpr = np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    return {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}


def confusion(true_index: np.ndarray, prob: np.ndarray, classes: Sequence[float]) -> dict:
    """``{"classes", "counts", "fractions"}``: ``counts[i][j]`` events of true class i whose
    argmax of ``prob`` is class j; ``fractions`` the counts over their row's sum (None for a
    class without events)."""
    k = len(classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (true_index, np.argmax(prob, axis=1)), 1)
    rows = counts.sum(axis=1, keepdims=True)
    fractions = [
        [base.finite(c / r[0]) if r[0] else None for c in row] for row, r in zip(counts, rows, strict=True)
    ]
    return {"classes": list(classes), "counts": counts.tolist(), "fractions": fractions}


# the optional columns of a pair's events after (score, is_b), in this order: NaN where absent
_PAIR_OBSERVABLES = ("xmax", "xmax_pred", "muon", "muon_pred")
# merit factors of one observable and of two combined (Fisher), by the observables' names
_SINGLE_MERITS = {
    "merit_xmax_true": "xmax",
    "merit_xmax_reco": "xmax_pred",
    "merit_muon_true": "muon",
    "merit_muon_reco": "muon_pred",
}
_COMBINED_MERITS = {
    "merit_combined_true": ("xmax", "muon"),
    "merit_combined_reco": ("xmax_pred", "muon_pred"),
}


def _pair_quantities(present: Sequence[str]) -> base.Quantities:
    """Statistics of the columns (score, is_b, *_PAIR_OBSERVABLES) of a pair's events; a merit
    factor only where its observables are ``present``."""
    q: dict = {
        "auc": lambda s, b, *_: statistics.auc(s[~b], s[b]),
        "merit": lambda s, b, *_: statistics.merit_factor(s[~b], s[b]),
    }
    column = {name: k for k, name in enumerate(_PAIR_OBSERVABLES)}
    for name, observable in _SINGLE_MERITS.items():
        if observable in present:
            k = column[observable]
            q[name] = lambda _s, b, *cols, k=k: statistics.merit_factor(cols[k][~b], cols[k][b])
    for name, observables in _COMBINED_MERITS.items():
        if all(o in present for o in observables):
            ks = [column[o] for o in observables]

            def combined(_s, b, *cols, ks=ks):
                x = np.column_stack([cols[k] for k in ks])
                return statistics.fisher_merit_factor(x[~b], x[b])

            q[name] = combined
    return q


def _pair_columns(data: Mapping, true_index: np.ndarray, i: int, j: int) -> tuple[np.ndarray, ...]:
    sel = (true_index == i) | (true_index == j)
    nan = np.full(np.count_nonzero(sel), np.nan)
    observables = [data[name][sel] if name in data else nan for name in _PAIR_OBSERVABLES]
    return (pair_score(data["mass_prob"][sel], i, j), true_index[sel] == j, *observables)


def pair_metrics(data: Mapping, true_index: np.ndarray, i: int, j: int, n_bootstrap: int, rng) -> dict:
    """``{"classes", "names", "n", "auc", "merit", "merit_xmax_true", "merit_xmax_reco", "roc"}``
    of the pair of classes ``i < j`` (``merit_xmax_reco`` None without ``xmax_pred``)."""
    cols = _pair_columns(data, true_index, i, j)
    score, is_b = cols[0], cols[1]
    out = base.entries(cols, _pair_quantities(list(data)), n_bootstrap, rng)
    for name in (*_SINGLE_MERITS, *_COMBINED_MERITS):
        out.setdefault(name, dict(base.NONE_ENTRY))
    out["n"] = [int(np.count_nonzero(~is_b)), int(np.count_nonzero(is_b))]
    out["roc"] = roc_curve(score[~is_b], score[is_b])
    return out


def mass_metrics(
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,  # noqa: ARG001 (the registry's signature; targets.mass has no keys)
    rng: np.random.Generator,
    *,
    classes: Sequence[float],
    **_extra,
) -> dict:
    """Mass-classification metrics of one run, JSON-ready.

    Layout::

        {"target": "mass", "n_events", "n_bootstrap", "interval", "definitions", "classes",
         "names", "overall": {"n", "accuracy": {"value", "lo", "hi"}},
         "pairs": {"1_56": {"classes": [1, 56], "names": ["p", "Fe"], "n": [n_a, n_b],
                            "auc", "merit", "merit_xmax_reco", "merit_xmax_true": {"value", "lo", "hi"},
                            "roc": {"fpr": [...], "tpr": [...]}}, ...},
         "headline_pair": "1_56",
         "confusion": {"classes", "counts", "fractions"},
         "bins": {"edges_eev", ..., "auc": {"value": [...], ...}, "merit": {...}}  # headline pair}

    The bootstrap draws go to the accuracy, the pairs in order, then the energy bins.
    """
    names = ["mass", "mass_prob", "energy_true", "xmax"]
    names += [name for name in ("xmax_pred", "muon", "muon_pred") if name in pred]
    data = base.require(pred, names, "mass")
    classes = sorted(int(round(float(c))) for c in classes)
    if data["mass_prob"].ndim != 2 or data["mass_prob"].shape[1] != len(classes):
        raise ValueError(
            f"'mass_prob' has shape {data['mass_prob'].shape}, expected (N, {len(classes)}) classes"
        )
    true_index = class_indices(data["mass"], classes)
    hit = (np.argmax(data["mass_prob"], axis=1) == true_index).astype(np.float64)
    overall = base.entries((hit,), {"accuracy": np.mean}, settings.bootstrap, rng)
    pairs = {
        pair_key(classes[i], classes[j]): {
            "classes": [classes[i], classes[j]],
            "names": [class_name(classes[i]), class_name(classes[j])],
            **pair_metrics(data, true_index, i, j, settings.bootstrap, rng),
        }
        for i in range(len(classes))
        for j in range(i + 1, len(classes))
    }
    return base.record(
        "mass",
        DEFINITIONS,
        len(hit),
        settings,
        classes=classes,
        names=[class_name(c) for c in classes],
        overall=overall,
        pairs=pairs,
        headline_pair=pair_key(classes[0], classes[-1]) if len(classes) > 1 else None,
        confusion=confusion(true_index, data["mass_prob"], classes),
        bins=_headline_bins(data, true_index, len(classes), settings, rng),
    )


def _headline_bins(data: Mapping, true_index: np.ndarray, k: int, settings, rng) -> dict:
    """AUC and merit factor of the lightest vs the heaviest class in bins of true energy."""
    sel = (true_index == 0) | (true_index == k - 1)
    idx, header = base.energy_binning(data["energy_true"][sel], settings)
    if k < 2:
        return header
    cols = (pair_score(data["mass_prob"][sel], 0, k - 1), true_index[sel] == k - 1)
    quantities = {q: f for q, f in _pair_quantities(()).items() if q in ("auc", "merit")}
    return base.binned_entries(idx, header, cols, quantities, settings.bootstrap, rng)


def shift_columns(pred: Mapping[str, np.ndarray], classes: Sequence[float]) -> dict:
    """Score and class of the events of the lightest and the heaviest class, which the shift of
    the AUC resamples."""
    d = base.require(pred, ("mass", "mass_prob"), "mass")
    classes = sorted(int(round(float(c))) for c in classes)
    prob = d["mass_prob"]
    if len(classes) < 2 or prob.ndim != 2 or prob.shape[1] != len(classes):
        raise ValueError(
            f"'mass_prob' has shape {prob.shape}, expected (N, {len(classes)}) classes (two or more)"
        )
    true_index = class_indices(d["mass"], classes)
    k = len(classes) - 1
    sel = (true_index == 0) | (true_index == k)
    return {"score": pair_score(prob[sel], 0, k), "heavy": (true_index[sel] == k).astype(np.float64)}


def _auc(s: base.Sample) -> float:
    heavy = s["heavy"].astype(bool)
    return statistics.auc(s["score"][~heavy], s["score"][heavy])


SPEC = base.TargetEvaluation(
    metrics=mass_metrics,
    stream=(5,),
    headlines=(
        base.Headline("auc", ("pairs", base.PAIR, "auc"), "AUC {names}"),
        base.Headline("merit", ("pairs", base.PAIR, "merit"), "merit factor, classifier"),
        base.Headline("merit_xmax_reco", ("pairs", base.PAIR, "merit_xmax_reco"), "merit factor, X_max reco"),
        base.Headline("merit_xmax_true", ("pairs", base.PAIR, "merit_xmax_true"), "merit factor, true X_max"),
        base.Headline("merit_muon_reco", ("pairs", base.PAIR, "merit_muon_reco"), "merit factor, R_μ reco"),
        base.Headline("merit_muon_true", ("pairs", base.PAIR, "merit_muon_true"), "merit factor, true R_μ"),
        base.Headline(
            "merit_combined_reco",
            ("pairs", base.PAIR, "merit_combined_reco"),
            "merit factor, X_max + R_μ reco",
        ),
        base.Headline(
            "merit_combined_true",
            ("pairs", base.PAIR, "merit_combined_true"),
            "merit factor, true X_max + R_μ",
        ),
        base.Headline("accuracy", ("overall", "accuracy"), "accuracy [%]", 100.0),
    ),
    front="auc",
    note="score s = p_heavy / (p_light + p_heavy) on the events of the two classes; AUC: probability "
    "that a heavy event scores above a light one (ties ½); merit factor = |⟨x⟩_light − ⟨x⟩_heavy| / "
    "√(var_light + var_heavy) of the score, of the reconstructed and of the true X_max and R_μ (where "
    "the showers have the muon target), and of Fisher's linear discriminant of X_max and R_μ (weights "
    "from the same events; an optimism of order 2 / n); accuracy: "
    "argmax of the class probabilities is the true class.",
    shifts=(
        base.Shift(
            "auc",
            "mass_auc_shift",
            "AUC shift",
            "shift of the AUC, lightest vs heaviest",
            _auc,
            value_label="AUC, lightest vs heaviest",
        ),
    ),
    shift_columns=shift_columns,
)
