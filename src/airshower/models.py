"""Network builders: one function per architecture family, declared by name in the config.

A model is a config dict (``config["models"][name]``) with a ``family`` and its
hyper-parameters. :func:`build_model` dispatches on the family:

- ``dense``: Flatten, hidden Dense layers, [Dropout], Dense(1) (the tutorial's FCN);
- ``cnn``: blocks of convolutions (each block optionally pooled), a flatten or global-pooling
  head, optional hidden Dense layers, Dense(1) (the tutorial's CNN and CNN pyramid);
- ``resnet``: a convolutional stem, stages of residual blocks (two convolutions plus an
  identity or 1x1 projection shortcut; every stage after the first halves the map), a
  global-pooling head and Dense(1).

The families share :func:`conv_block` and :func:`dense_head`. Only ``keras`` layers are used
here, so the models build and train under every Keras backend (TensorFlow, JAX, PyTorch).
The output is one standardized energy per event; the last layer computes in float32 so
mixed-precision training keeps a float32 output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import keras
from keras import layers

FAMILIES = ("dense", "cnn", "resnet")


def _dropout(x, rate: float):
    return layers.Dropout(rate)(x) if rate > 0 else x


def _pool(x, kind: str, size: int):
    if kind == "max":
        return layers.MaxPooling2D(size, padding="same")(x)
    if kind == "avg":
        return layers.AveragePooling2D(size, padding="same")(x)
    if kind != "none":
        raise ValueError(f"unknown pooling {kind!r} (use none, max or avg)")
    return x


def _flatten_or_pool(x, head: str):
    heads = {
        "flatten": layers.Flatten,
        "global_max": layers.GlobalMaxPooling2D,
        "global_avg": layers.GlobalAveragePooling2D,
    }
    if head not in heads:
        raise ValueError(f"unknown head {head!r} (use {', '.join(heads)})")
    return heads[head]()(x)


def conv_block(
    x,
    filters: Sequence[int],
    kernel_size: int = 3,
    activation: str = "relu",
    padding: str = "same",
    batch_norm: bool = False,
    pool: str = "none",
    pool_size: int = 2,
):
    """Convolutions with ``filters[i]`` filters each, then optional pooling.

    With ``batch_norm`` every convolution is followed by batch normalization before its
    activation (and carries no bias, which the normalization would cancel).
    """
    for n in filters:
        if batch_norm:
            x = layers.Conv2D(n, kernel_size, padding=padding, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation(activation)(x)
        else:
            x = layers.Conv2D(n, kernel_size, padding=padding, activation=activation)(x)
    return _pool(x, pool, pool_size)


def dense_head(x, units: Sequence[int] = (), activation: str = "elu", dropout: float = 0.0):
    """Regression head: (Dropout, Dense(u)) for each ``u`` in ``units``, then Dropout, Dense(1).

    The output layer is linear and float32 (also under a mixed-precision policy).
    """
    for n in units:
        x = _dropout(x, dropout)
        x = layers.Dense(n, activation=activation)(x)
    x = _dropout(x, dropout)
    return layers.Dense(1, dtype="float32", name="energy")(x)


def residual_block(x, filters: int, kernel_size: int, activation: str, batch_norm: bool, strides: int = 1):
    """Two convolutions plus a shortcut: identity, or a strided 1x1 projection when shapes differ."""

    def conv(y, s):
        y = layers.Conv2D(filters, kernel_size, strides=s, padding="same", use_bias=not batch_norm)(y)
        return layers.BatchNormalization()(y) if batch_norm else y

    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            shortcut = layers.BatchNormalization()(shortcut)
    y = layers.Activation(activation)(conv(x, strides))
    y = conv(y, 1)
    y = layers.Add()([shortcut, y])
    return layers.Activation(activation)(y)


def dense_model(spec: Mapping, inputs):
    """Fully connected network: Flatten, Dense layers ``units``, Dropout, Dense(1)."""
    x = layers.Flatten()(inputs)
    for n in spec["units"]:
        if spec.get("batch_norm", False):
            x = layers.Dense(n, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation(spec.get("activation", "elu"))(x)
        else:
            x = layers.Dense(n, activation=spec.get("activation", "elu"))(x)
    return dense_head(x, (), dropout=spec.get("dropout", 0.0))


def cnn_model(spec: Mapping, inputs):
    """Convolutional network: ``blocks`` of :func:`conv_block`, a head, :func:`dense_head`."""
    x = inputs
    for block in spec["blocks"]:
        x = conv_block(
            x,
            block["filters"],
            kernel_size=block.get("kernel_size", 3),
            activation=block.get("activation", "relu"),
            padding=block.get("padding", "same"),
            batch_norm=block.get("batch_norm", False),
            pool=block.get("pool", "none"),
            pool_size=block.get("pool_size", 2),
        )
    x = _flatten_or_pool(x, spec.get("head", "flatten"))
    return dense_head(
        x, spec.get("dense_units", ()), spec.get("dense_activation", "elu"), spec.get("dropout", 0.0)
    )


def resnet_model(spec: Mapping, inputs):
    """Residual CNN: stem convolution, ``stages`` of residual blocks, pooling head, Dense(1)."""
    kernel = spec.get("kernel_size", 3)
    activation = spec.get("activation", "relu")
    batch_norm = spec.get("batch_norm", True)
    x = conv_block(inputs, [spec.get("stem_filters", 32)], kernel, activation, "same", batch_norm)
    for i, stage in enumerate(spec["stages"]):
        for j in range(stage["blocks"]):
            strides = 2 if (i > 0 and j == 0) else 1
            x = residual_block(x, stage["filters"], kernel, activation, batch_norm, strides)
    x = _flatten_or_pool(x, spec.get("head", "global_avg"))
    return dense_head(
        x, spec.get("dense_units", ()), spec.get("dense_activation", "elu"), spec.get("dropout", 0.0)
    )


BUILDERS: dict[str, Callable] = {"dense": dense_model, "cnn": cnn_model, "resnet": resnet_model}


def build_model(spec: Mapping, input_shape: tuple[int, int, int], name: str = "model") -> keras.Model:
    """Build the network described by ``spec`` for inputs of shape ``input_shape`` (H, W, C).

    Parameters
    ----------
    spec
        the model's config dict (``family`` plus the family's keys; a ``training`` key is ignored).
    input_shape
        shape of one event, e.g. ``(14, 14, 2)``.
    name
        the model name (Keras model name; also the config name).

    Returns
    -------
    keras.Model
        uncompiled functional model mapping (N, H, W, C) to (N, 1) standardized energies.
    """
    family = spec.get("family")
    if family not in BUILDERS:
        raise ValueError(f"model '{name}': unknown family {family!r} (use {', '.join(FAMILIES)})")
    inputs = keras.Input(shape=tuple(int(s) for s in input_shape), name="footprint")
    outputs = BUILDERS[family](spec, inputs)
    return keras.Model(inputs, outputs, name=name)


def count_parameters(model: keras.Model) -> int:
    """Number of parameters (trainable and not, e.g. batch-normalization statistics)."""
    return int(model.count_params())
