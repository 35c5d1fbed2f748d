"""Queries over a validated study config: which models are compared, their seeds, targets and
training settings.

Above :mod:`airshower.schema` and the target registry (:mod:`airshower.targets`), below every
consumer (the workflow's input functions, the tables, the plots); the config is validated by
:func:`airshower.config.validate_config` first, so these functions read keys without checking them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from airshower.schema import BASELINE, ENSEMBLE_SUFFIX, ConfigError
from airshower.targets import BASELINE_TARGETS, TARGETS


def model_names(config: dict) -> list[str]:
    """Networks named in the config, in config order."""
    return list(config["models"])


def ensembles(config: dict) -> dict[str, str]:
    """The seed ensembles of the comparison, ``{model}_ensemble`` -> its network ``model``: every
    network with two or more training seeds, in config order, if ``evaluation.ensembles``."""
    if not config["evaluation"]["ensembles"]:
        return {}
    return {
        f"{m}{ENSEMBLE_SUFFIX}": m
        for m in model_names(config)
        if len(training_settings(config, m)["seeds"]) >= 2
    }


def compared_models(config: dict) -> list[str]:
    """Everything that enters the comparison: the networks, their seed ensembles (if enabled,
    :func:`ensembles`) and, if enabled, the baseline."""
    names = [*model_names(config), *ensembles(config)]
    if config["baseline"]["enabled"]:
        names.append(BASELINE)
    return names


def model_targets(config: dict, model: str) -> list[str]:
    """The targets ``model`` reconstructs (airshower.targets): a network's ``targets``, a seed
    ensemble's network's, the baseline's :data:`airshower.targets.BASELINE_TARGETS`."""
    if model == BASELINE:
        return list(BASELINE_TARGETS)
    network = ensembles(config).get(model, model)
    return list(config["models"][network]["targets"])


def target_models(config: dict, target: str) -> list[str]:
    """The models of the comparison (:func:`compared_models`, in its order) that reconstruct
    ``target``."""
    return [m for m in compared_models(config) if target in model_targets(config, m)]


def study_targets(config: dict) -> list[str]:
    """Every target some compared model reconstructs, in the order of airshower.targets.TARGETS."""
    return [t for t in TARGETS if target_models(config, t)]


def mass_classes(config: dict) -> list:
    """The classes of the ``mass`` target: the sorted distinct simulated mass numbers."""
    return sorted(set(config["simulation"]["composition"]["mass_numbers"]))


def merge_training(base: Mapping, override: Mapping) -> dict:
    """A copy of the ``training`` keys ``base`` with those of ``override`` on top; a nested mapping
    (``reduce_lr``, ``augmentation``, ``loss_weights``) is merged key by key.

    The one merge of training sections: global < recipe < model (resolved in
    :func:`airshower.config.validate_config`, the latter two into the model's ``training``) and a
    model ``like`` another (its ``training`` over the other's)."""
    settings = copy.deepcopy(dict(base))
    for key, value in copy.deepcopy(dict(override)).items():
        if isinstance(value, dict):
            settings[key] = {**settings.get(key, {}), **value}
        else:
            settings[key] = value
    return settings


def training_settings(config: dict, model: str) -> dict:
    """Training settings of ``model``: the global ``training`` section with the model's overrides
    (its recipe's keys already among them, see :func:`merge_training`)."""
    return merge_training(config["training"], config["models"][model].get("training", {}))


def model_seeds(config: dict, model: str) -> list[int]:
    """Training seeds of ``model``; the deterministic baseline and a seed ensemble (one model from
    all seeds of a network) have the single seed 0.

    Raises
    ------
    ConfigError
        for a name that is none of the compared models.
    """
    if model == BASELINE:
        return [0]
    if model in config["models"]:
        return list(training_settings(config, model)["seeds"])
    if model in ensembles(config):
        return [0]
    raise ConfigError(
        f"model '{model}' is not in the config: not a network of `models`, the baseline or the seed "
        f"ensemble of a network with two or more seeds (evaluation.ensembles)"
    )
