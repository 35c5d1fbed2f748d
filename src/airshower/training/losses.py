"""The losses of the networks: the registry a config names (:data:`LOSSES`), the loss that each
network output needs (:data:`OUTPUT_LOSSES`, checked by :func:`check_output_loss` at config time,
without Keras), the Gaussian negative log-likelihood of a ``gaussian`` output
(:func:`gaussian_nll`) and the loss of a target with a width head (:func:`point_and_width_loss`),
and each target's loss (:func:`target_losses`, made by :func:`make_loss`).

Only ``keras.ops`` appears in loss code, so the same losses train under every backend; Keras is
imported inside the functions.
"""

from __future__ import annotations

from airshower.schema import ConfigError
from airshower.targets import get
from airshower.training.settings import TrainingSettings

# The losses a config may name (``training.loss``; the schema's enum is held to these keys by
# tests/test_training.py): config name -> class in ``keras.losses``, or function of this module.
LOSSES: dict[str, str] = {
    "mse": "MeanSquaredError",
    "mae": "MeanAbsoluteError",
    "huber": "Huber",
    "log_cosh": "LogCosh",
    "gaussian_nll": "gaussian_nll",
}
# The one loss that trains each network output (``models.OUTPUTS``) predicting more than a point;
# a ``point`` output takes any other loss of LOSSES.
OUTPUT_LOSSES: dict[str, str] = {"gaussian": "gaussian_nll"}


def gaussian_nll(y_true, y_pred):
    """Gaussian negative log-likelihood of the targets, averaged over the events (a scalar).

    ``y_pred`` (N, 2) is a ``gaussian`` output: the mean mu and the raw width, made log(sigma) by
    :func:`airshower.models.gaussian_log_sigma`; ``y_true`` (N,) or (N, 1) the standardized
    targets. The loss is mean(0.5 ((y - mu) / sigma)^2 + log sigma), the constant
    0.5 log(2 pi) dropped, in the standardized transformed target space (where the targets
    are). ``keras.ops`` only (every backend).
    """
    from keras import ops  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    from airshower.models import gaussian_log_sigma  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)

    y = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1,))
    log_sigma = gaussian_log_sigma(y_pred[:, 1])
    pull = (y - y_pred[:, 0]) * ops.exp(-log_sigma)
    return ops.mean(0.5 * ops.square(pull) + log_sigma)


def point_and_width_loss(dims: int):
    """The loss of a target with a width head (``widths``, :func:`airshower.models.width_head`):
    ``y_pred`` (N, k + 1) the k components of the reconstruction and a raw log-width, ``y_true``
    (N, k). The sum of

    - the point loss, the mean squared error of the k components (Keras' ``mse``: the target's
      loss without a width), which alone trains the reconstruction and the shared body, and
    - the Gaussian negative log-likelihood of the width, ``mean(0.5 |y - mu|^2 / sigma^2 + dims
      log sigma)`` with the error ``y - mu`` taken as given (gradient stopped): a circular
      Gaussian in ``dims`` dimensions (2 for the axis, whose 3 components err across it, and the
      core; 1 for Xmax), sigma in the units of the network target.

    ``keras.ops`` only (every backend)."""
    from keras import ops  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    from airshower.models import gaussian_log_sigma  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)

    def loss(y_true, y_pred):
        k = int(y_pred.shape[-1]) - 1
        mu = y_pred[:, :k]
        y = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, k))
        point = ops.mean(ops.square(y - mu))
        squared = ops.sum(ops.square(ops.stop_gradient(y - mu)), axis=-1)
        log_sigma = gaussian_log_sigma(y_pred[:, k])
        return point + ops.mean(0.5 * squared * ops.exp(-2.0 * log_sigma) + dims * log_sigma)

    loss.__name__ = f"point_and_width_{dims}d"
    return loss


def width_heads(model, targets) -> tuple[str, ...]:
    """The targets of ``targets`` that the built ``model`` gives a width head
    (:func:`airshower.models.width_head`, the layer ``{target}_log_width``)."""
    names = {layer.name for layer in model.layers}
    return tuple(t for t in targets if f"{t}_log_width" in names)


def target_losses(targets, settings: TrainingSettings, widths=()) -> dict:
    """The loss name of each target (:mod:`airshower.targets`): the energy's is the model's
    ``training.loss``, every other target has its own (``Target.loss``), a target of ``widths``
    ``point_and_width`` (:func:`point_and_width_loss`)."""
    return {t: "point_and_width" if t in widths else get(t).loss or settings.loss for t in targets}


def make_loss(name: str):
    """Keras loss of a config loss name (:data:`LOSSES`): a ``keras.losses`` object, or for
    ``gaussian_nll`` the function :func:`gaussian_nll` (registered with Keras' serialization as
    ``airshower>gaussian_nll``). Either, called on ``(y_true, y_pred)``, gives the mean loss."""
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    if name == "sparse_categorical_crossentropy":  # the mass target's (not a config choice)
        return keras.losses.SparseCategoricalCrossentropy()
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r} (use {', '.join(LOSSES)})")
    if name == "gaussian_nll":
        return keras.saving.register_keras_serializable(package="airshower")(gaussian_nll)
    return getattr(keras.losses, LOSSES[name])()


def check_output_loss(output: str, loss: str, name: str = "model") -> None:
    """The model's ``output`` and its ``training.loss`` go together (:data:`OUTPUT_LOSSES`).

    Raises ``schema.ConfigError`` naming the model and the key to change. Imports no Keras (the
    config check calls it).
    """
    needed = OUTPUT_LOSSES.get(output)
    if needed is not None and loss != needed:
        raise ConfigError(
            f"config key 'models.{name}.output': {output} is trained with loss {needed}, but the "
            f"model's training.loss is {loss}: set `loss: {needed}` in models.{name}.training"
        )
    owner = {v: k for k, v in OUTPUT_LOSSES.items()}.get(loss)
    if owner is not None and output != owner:
        others = ", ".join(k for k in LOSSES if k not in OUTPUT_LOSSES.values())
        raise ConfigError(
            f"config key 'models.{name}.output': {output}, but the model's training.loss is {loss}, "
            f"which needs output: {owner}; set `output: {owner}` in models.{name} or use another "
            f"loss ({others})"
        )
