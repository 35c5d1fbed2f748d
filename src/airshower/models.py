"""Network builders: one function per architecture family, declared by name in the config.

A model is a config dict (``config["models"][name]``) with a ``family`` and its
hyper-parameters; :func:`build_model` fills the defaults of the family's keys from the config
schema (``$defs/<family>_model``) and dispatches on the family (:data:`FAMILIES`):

- ``dense``: Flatten, hidden Dense layers, [Dropout], the output layer (the tutorial's FCN);
- ``cnn``: blocks of convolutions (each block optionally pooled), a flatten or global-pooling
  head, optional hidden Dense layers, the output layer (the tutorial's CNN and CNN pyramid);
  with a ``trace_encoder``, the trace network: every station's recorded trace (the input's trace
  channels, :func:`airshower.inputs.split_trace`) is read by the same small 1D convolutional
  network (:func:`trace_encoder`), and its features join the other channels on the array;
- ``resnet``: a convolutional stem, stages of residual blocks (two convolutions plus an
  identity or 1x1 projection shortcut; every stage after the first halves the map), a
  global-pooling head and the output layer.

The families share :func:`conv_block` and :func:`dense_head`. Only ``keras`` layers are used
here, so the models build and train under every Keras backend (TensorFlow, JAX, PyTorch).
The output (the model's ``output``, :data:`OUTPUTS`) is one standardized energy per event
(``point``) or a mean and a raw width (``gaussian``: Dense(2); :func:`gaussian_log_sigma` makes
the width a log sigma, for the loss ``gaussian_nll`` and at inference). A target of ``widths``
(direction, core, Xmax) gets a width head beside its point head (:func:`width_head`): its output
is the reconstruction with a log-width appended, the width learnt on features whose gradient is
stopped, so the reconstruction is trained by its point loss alone. The last layer computes in
float32 so mixed-precision training keeps a float32 output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import keras
from keras import layers

from airshower import schema
from airshower.hexconv import CONVOLUTIONS, HexConv2D
from airshower.inputs import reference_channels, split_trace
from airshower.model_shapes import spatial_sizes
from airshower.targets import LOG_WIDTH_RANGE, TARGETS

# Pooling after a convolution block (``pool`` of a ``cnn`` block) and the layer between the
# convolutions and the dense head (``head``); the schema's enums are held to these keys by
# tests/test_models.py.
POOLING: dict[str, type | None] = {
    "none": None,
    "max": layers.MaxPooling2D,
    "avg": layers.AveragePooling2D,
}
HEADS: dict[str, type] = {
    "flatten": layers.Flatten,
    "global_max": layers.GlobalMaxPooling2D,
    "global_avg": layers.GlobalAveragePooling2D,
}
# What a network predicts per event (``output``; the schema's enum is held to these keys by
# tests/test_models.py): output -> units of the output layer. ``point``: the standardized
# energy; ``gaussian``: its mean and a raw width (see gaussian_log_sigma).
OUTPUTS: dict[str, int] = {"point": 1, "gaussian": 2}
# Range of log(sigma) of a gaussian output or a width head, sigma in units of the network target:
# the raw width is clipped to it (the targets' LOG_WIDTH_RANGE, where the widths are decoded).
LOG_SIGMA_RANGE = LOG_WIDTH_RANGE
# The first log(sigma) of a width head (``widths``), in the units of its network target: the
# direction's components are of order one, so 0.02 rad (1.1 deg); the standardized core and
# Xmax one standard deviation of the training split's values.
INITIAL_LOG_WIDTH = {"direction": math.log(0.02), "core": 0.0, "xmax": 0.0, "muon": 0.0}
# How the direction head predicts the axis (``direction_head``; the schema's enum is held to these
# by tests/test_models.py): ``absolute``, the axis itself; ``correction``, a correction added to
# the plane fit's axis (the input channels inputs.FRONT_CHANNELS), starting at zero.
DIRECTION_HEADS = ("absolute", "correction")


@keras.saving.register_keras_serializable(package="airshower")
class TakeChannels(layers.Layer):
    """(N, H, W, k): the input channels ``channels`` (indices), in that order."""

    def __init__(self, channels: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.channels = [int(c) for c in channels]

    def call(self, x):
        return keras.ops.take(x, self.channels, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.channels))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="airshower")
class ChannelMean(layers.Layer):
    """(N, k): the mean over the array of the input channels ``channels`` (indices), the value of
    an event-level input given as constant planes (the plane fit's axis). Float32 always."""

    def __init__(self, channels: Sequence[int], **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.channels = [int(c) for c in channels]

    def call(self, x):
        picked = keras.ops.take(keras.ops.cast(x, "float32"), self.channels, axis=-1)
        return keras.ops.mean(picked, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.channels))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="airshower")
class StopGradient(layers.Layer):
    """The input unchanged, without a gradient back through it: a width head (``widths``) learns
    from the features and the reconstruction of its target but does not train them, so the
    reconstruction is what the point loss alone makes it (a detached variance, Stirn et al. 2023)."""

    def call(self, x):
        return keras.ops.stop_gradient(x)

    def compute_output_shape(self, input_shape):
        return input_shape


def width_head(x, point, target: str):
    """The point output ``point`` of ``target`` with its log-width appended, (N, k + 1), named by
    the target: Dense(1) on the features ``x`` with the gradient stopped (:class:`StopGradient`),
    the bias starting at :data:`INITIAL_LOG_WIDTH`. Linear in the features: a hidden ReLU layer
    died in cnn_multi's direction head (all 16 units negative on every event, a constant width),
    where a linear head on the same features follows the energy dependence of the errors."""
    h = StopGradient(name=f"{target}_width_features")(x)
    init = keras.initializers.Constant(INITIAL_LOG_WIDTH[target])
    log_width = layers.Dense(1, dtype="float32", bias_initializer=init, name=f"{target}_log_width")(h)
    return layers.Concatenate(dtype="float32", name=target)([point, log_width])


def _dropout(x, rate: float):
    return layers.Dropout(rate)(x) if rate > 0 else x


def _pool(x, kind: str, size: int):
    pooling = POOLING[kind]
    return x if pooling is None else pooling(size, padding="same")(x)


def conv_block(
    x,
    filters: Sequence[int],
    kernel_size: int,
    activation: str,
    padding: str,
    batch_norm: bool,
    convolution: str = "square",
):
    """Convolutions with ``filters[i]`` filters each, of the grid's kind (``convolution``:
    :data:`airshower.hexconv.CONVOLUTIONS`).

    With ``batch_norm`` every convolution is followed by batch normalization before its
    activation (and carries no bias, which the normalization would cancel).
    """
    conv = CONVOLUTIONS[convolution]
    for n in filters:
        if batch_norm:
            x = conv(n, kernel_size, padding=padding, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation(activation)(x)
        else:
            x = conv(n, kernel_size, padding=padding, activation=activation)(x)
    return x


def dense_head(
    x,
    units: Sequence[int],
    activation: str,
    dropout: float,
    output: str = "point",
    name: str = "energy",
    n_outputs: int = 1,
    output_activation: str | None = None,
    zero: bool = False,
):
    """One target's head: (Dropout, Dense(u)) for each ``u`` in ``units``, then Dropout and the
    output layer ``name``: Dense(n_outputs), or for a ``gaussian`` output (the energy) Dense(2)
    (mean, raw width) (:data:`OUTPUTS`).

    The output layer is float32 (also under a mixed-precision policy) and linear unless
    ``output_activation`` (the mass target's softmax); with ``zero`` its weights start at 0 (a
    correction that starts at none).
    """
    for n in units:
        x = _dropout(x, dropout)
        x = layers.Dense(n, activation=activation)(x)
    x = _dropout(x, dropout)
    units_out = OUTPUTS[output] if output == "gaussian" else n_outputs
    init = {"kernel_initializer": "zeros", "bias_initializer": "zeros"} if zero else {}
    layer = layers.Dense(units_out, activation=output_activation, dtype="float32", name=name, **init)
    x = layer(x)
    if output == "gaussian":  # every event starts at sigma 1, the width of the standardized target
        kernel = layer.kernel
        layer.kernel.assign(
            keras.ops.concatenate([kernel[:, :1], keras.ops.zeros_like(kernel[:, 1:])], axis=1)
        )
    return x


def heads(x, spec: Mapping, units: Sequence[int], activation: str, dropout: float, inputs=None):
    """The output of the model ``spec``: one :func:`dense_head` per target of ``spec["targets"]``
    on the shared body ``x``, named by the target, each with the hidden ``units``. A single target
    gives its tensor (the seed's networks, unchanged), several a dict target -> tensor.

    ``spec["n_outputs"]`` (target -> units, set by :func:`build_model`; by default those of
    :data:`DEFAULT_OUTPUT_UNITS`) sizes the heads; only the
    target that can have a per-event width (:attr:`airshower.targets.Target.width`, the energy) takes
    the model's ``output`` (a gaussian width). With ``direction_head: correction`` the direction
    head's output is a correction (zero at the start) added to the plane fit's axis, read from the
    model's ``inputs`` (the channels ``spec["reference_channels"]``, set by :func:`build_model`).
    """
    sizes = _output_units(spec["targets"], spec.get("n_outputs"))
    with_width = set(spec.get("widths", ()))
    outputs = {}
    for target in spec["targets"]:
        output = spec["output"] if TARGETS[target].gaussian_output else "point"
        n_outputs, act = sizes[target], TARGETS[target].activation
        name = f"{target}_point" if target in with_width else target
        if target == "direction" and spec.get("direction_head") == "correction":
            correction = dense_head(
                x, units, activation, dropout, "point", "direction_correction", n_outputs, zero=True
            )
            reference = ChannelMean(spec["reference_channels"], name="front_axis")(inputs)
            outputs[target] = layers.Add(dtype="float32", name=name)([reference, correction])
        else:
            outputs[target] = dense_head(x, units, activation, dropout, output, name, n_outputs, act)
        if target in with_width:
            outputs[target] = width_head(x, outputs[target], target)
    return next(iter(outputs.values())) if len(outputs) == 1 else outputs


def gaussian_log_sigma(raw_width):
    """log(sigma) of a ``gaussian`` output from its raw width (column 1): the raw width clipped
    to :data:`LOG_SIGMA_RANGE`, sigma = exp of it, in units of the standardized target.

    The loss uses log(sigma) directly (no log of a tiny number) and 1/sigma = exp(-log sigma);
    the clip keeps both finite. ``keras.ops`` only (every backend; NumPy arrays are accepted).
    """
    return keras.ops.clip(raw_width, *LOG_SIGMA_RANGE)


def model_output(model: keras.Model) -> str:
    """The ``output`` (:data:`OUTPUTS`) of a built or loaded model: ``gaussian`` when the output of
    a target that can have a width (the energy) has two units."""
    shapes = model.output_shape
    if not isinstance(shapes, dict):  # one output, or several in the order of the output names
        shapes = shapes if isinstance(shapes, list) else [shapes]
        shapes = dict(zip(model.output_names, shapes, strict=True))
    widths = [shape for name, shape in shapes.items() if name in TARGETS and TARGETS[name].gaussian_output]
    return "gaussian" if any(int(shape[-1]) == OUTPUTS["gaussian"] for shape in widths) else "point"


def residual_block(
    x,
    filters: int,
    kernel_size: int,
    activation: str,
    batch_norm: bool,
    strides: int = 1,
    convolution: str = "square",
):
    """Two convolutions (of the grid's kind) plus a shortcut: identity, or a strided 1x1 projection
    when shapes differ."""

    def conv(y, s):
        y = CONVOLUTIONS[convolution](
            filters, kernel_size, strides=s, padding="same", use_bias=not batch_norm
        )(y)
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
    """Fully connected network: Flatten, Dense layers ``units``, Dropout, the output layer."""
    x = layers.Flatten()(inputs)
    for n in spec["units"]:
        if spec["batch_norm"]:
            x = layers.Dense(n, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation(spec["activation"])(x)
        else:
            x = layers.Dense(n, activation=spec["activation"])(x)
    return heads(x, spec, (), spec["activation"], spec["dropout"], inputs)


def trace_encoder(inputs, spec: Mapping, image_channels: Sequence[int], trace_channels: Sequence[int]):
    """The array (N, H, W, C' + features): the channels ``image_channels`` of ``inputs`` and, per
    station, the features of its trace (the channels ``trace_channels``, one per time bin) from
    one network shared by every station: ``Conv2D`` with (1, kernel) kernels over the (stations,
    bins) plane (a 1D convolution along the time bins of each station), each followed by a max
    pooling of ``pool_size`` bins, then a Dense layer of ``features`` units per station."""
    enc = spec["trace_encoder"]
    side_h, side_w = int(inputs.shape[1]), int(inputs.shape[2])
    image = TakeChannels(image_channels, name="image_channels")(inputs)
    trace = TakeChannels(trace_channels, name="trace_channels")(inputs)
    y = layers.Reshape((side_h * side_w, len(trace_channels), 1), name="station_traces")(trace)
    for filters in enc["filters"]:
        y = layers.Conv2D(filters, (1, enc["kernel_size"]), padding="same", activation=enc["activation"])(y)
        if enc["pool_size"] > 1:
            y = layers.MaxPooling2D((1, enc["pool_size"]), padding="same")(y)
    y = layers.Reshape((side_h * side_w, -1))(y)
    y = layers.Dense(enc["features"], activation=enc["activation"], name="trace_features")(y)
    y = layers.Reshape((side_h, side_w, enc["features"]))(y)
    return layers.Concatenate(name="array_features")([image, y])


def cnn_model(spec: Mapping, inputs):
    """Convolutional network: ``blocks`` of :func:`conv_block`, each pooled, a head, :func:`dense_head`;
    with a ``trace_encoder`` the blocks read the array of :func:`trace_encoder`."""
    x = inputs
    if spec.get("trace_encoder"):
        x = trace_encoder(inputs, spec, *spec["trace_split"])
    for block in spec["blocks"]:
        kernel, activation, padding = block["kernel_size"], block["activation"], block["padding"]
        x = conv_block(
            x, block["filters"], kernel, activation, padding, block["batch_norm"], spec["convolution"]
        )
        x = _pool(x, block["pool"], block["pool_size"])
    x = HEADS[spec["head"]]()(x)
    return heads(x, spec, spec["dense_units"], spec["dense_activation"], spec["dropout"], inputs)


def resnet_model(spec: Mapping, inputs):
    """Residual CNN: stem convolution, ``stages`` of residual blocks, pooling head, output layer."""
    kernel, activation, batch_norm = spec["kernel_size"], spec["activation"], spec["batch_norm"]
    convolution = spec["convolution"]
    x = conv_block(inputs, [spec["stem_filters"]], kernel, activation, "same", batch_norm, convolution)
    for i, stage in enumerate(spec["stages"]):
        for j in range(stage["blocks"]):
            strides = 2 if (i > 0 and j == 0) else 1
            x = residual_block(x, stage["filters"], kernel, activation, batch_norm, strides, convolution)
    x = HEADS[spec["head"]]()(x)
    return heads(x, spec, spec["dense_units"], spec["dense_activation"], spec["dropout"], inputs)


# the custom layers of the models, for loading a saved model
CUSTOM_OBJECTS = {
    "airshower>ChannelMean": ChannelMean,
    "airshower>HexConv2D": HexConv2D,
    "airshower>StopGradient": StopGradient,
    "airshower>TakeChannels": TakeChannels,
}

# The model families (config ``family``; the schema's enum is held to these keys by
# tests/test_models.py): family -> builder from the completed spec and the input tensor.
FAMILIES: dict[str, Callable] = {"dense": dense_model, "cnn": cnn_model, "resnet": resnet_model}


def complete_spec(spec: Mapping, name: str = "model") -> dict:
    """The model's config dict validated against the schema, every default of its family filled in.

    Raises ``schema.ConfigError`` (a ValueError) naming the key (``models.<name>.<key>``).
    """
    family = spec.get("family")
    if family not in FAMILIES:
        raise ValueError(f"model '{name}': unknown family {family!r} (use {', '.join(FAMILIES)})")
    return schema.complete_section("models", {name: spec})[name]


def build_model(
    spec: Mapping,
    input_shape: tuple[int, int, int],
    name: str = "model",
    n_outputs: Mapping[str, int] | None = None,
    input_channels: Sequence[str] | None = None,
) -> keras.Model:
    """Build the network described by ``spec`` for inputs of shape ``input_shape`` (H, W, C).

    Parameters
    ----------
    spec
        the model's config dict (``family`` plus the family's keys, defaults filled in by
        :func:`complete_spec`; a ``training`` key is ignored).
    input_shape
        shape of one event, e.g. ``(14, 14, 2)``.
    name
        the model name (Keras model name; also the config name).
    n_outputs
        output units of each of the model's targets (``airshower.targets.Target.n_outputs`` of
        the training split's statistics); None: those that need no statistics (energy 1,
        direction 3, core 2, xmax 1; the mass needs its classes).
    input_channels
        the names of the input channels, in order (the model's ``training.inputs``); a
        ``direction_head: correction`` needs the plane fit's axis among them (``front_ux``,
        ``front_uy``, ``front_uz``).

    Returns
    -------
    keras.Model
        uncompiled functional model mapping (N, H, W, C) to (N, 1) standardized energies
        (``output: point``) or (N, 2) means and raw widths (``output: gaussian``).

    Raises
    ------
    schema.ConfigError
        where the spec is invalid or a ``valid`` convolution gets a map smaller than its kernel
        (:func:`airshower.model_shapes.spatial_sizes`, the check the config validation runs).
    """
    spec = complete_spec(spec, name)
    for side in sorted({int(input_shape[0]), int(input_shape[1])}):
        spatial_sizes(spec, side, name)  # names the block a map is too small for
    spec = {**spec, "n_outputs": _output_units(spec["targets"], n_outputs)}
    if spec.get("direction_head") == "correction" and "direction" in spec["targets"]:
        spec["reference_channels"] = reference_channels(input_channels, f"model '{name}'")
    if spec.get("trace_encoder"):
        spec["trace_split"] = split_trace(input_channels or (), int(input_shape[-1]))
        if not spec["trace_split"][1]:
            raise schema.ConfigError(
                f"model '{name}': a trace_encoder reads the recorded traces, but training.inputs "
                f"({', '.join(input_channels or ()) or 'not given'}) lacks 'trace'"
            )
    inputs = keras.Input(shape=tuple(int(s) for s in input_shape), name="footprint")
    outputs = FAMILIES[spec["family"]](spec, inputs)
    return keras.Model(inputs, outputs, name=name)


# output units of the targets whose size needs no training statistics (the mass: its classes)
DEFAULT_OUTPUT_UNITS = {"energy": 1, "direction": 3, "core": 2, "xmax": 1, "muon": 1}


def _output_units(targets: Sequence[str], n_outputs: Mapping[str, int] | None) -> dict[str, int]:
    units = {}
    for target in targets:
        if n_outputs is not None and target in n_outputs:
            units[target] = int(n_outputs[target])
        elif target in DEFAULT_OUTPUT_UNITS:
            units[target] = DEFAULT_OUTPUT_UNITS[target]
        else:
            raise ValueError(f"the {target} target's output units (e.g. its number of classes) must be given")
    return units


def count_parameters(model: keras.Model) -> int:
    """Number of parameters (trainable and not, e.g. batch-normalization statistics)."""
    return int(model.count_params())
