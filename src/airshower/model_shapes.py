"""The size of the feature maps through a network, by arithmetic: Keras is not imported.

The arithmetic of the builders in :mod:`airshower.models`, for the config validation at DAG-parse
time (a ``valid`` convolution that does not fit the array fails there, not in a training job).
"""

from __future__ import annotations

from collections.abc import Mapping

from airshower.schema import ConfigError


def _map_side(side: int, window: int, padding: str, strides: int = 1) -> int:
    """Side of the output map of a convolution or pooling (Keras' arithmetic); 0 where a
    ``valid`` window does not fit."""
    if padding == "same":
        return -(-side // strides)
    return (side - window) // strides + 1 if side >= window else 0


def _too_small(name: str, i: int, j: int, block: Mapping, side: int, trail: list[int]) -> ConfigError:
    k, n_conv = block["kernel_size"], len(block["filters"])
    which = f" {j + 1} of {n_conv}" if n_conv > 1 else ""
    path = " -> ".join(f"{s}x{s}" for s in trail)
    return ConfigError(
        f"model '{name}': block {i + 1} ({k}x{k} 'valid' convolution{which}) needs at least {k}x{k} "
        f"stations, gets {side}x{side} (map sizes {path}) (config key models.{name}.blocks[{i}]); "
        "use padding: same, a smaller kernel_size, less pooling or fewer blocks"
    )


def _cnn_sides(spec: Mapping, side: int, name: str) -> list[int]:
    sides, trail = [], [side]
    for i, block in enumerate(spec["blocks"]):
        for j in range(len(block["filters"])):
            out = _map_side(side, block["kernel_size"], block["padding"])
            if out < 1:
                raise _too_small(name, i, j, block, side, trail)
            side = out
            trail.append(side)
        if block["pool"] != "none":  # models._pool: padding "same", strides = pool_size
            side = _map_side(side, block["pool_size"], "same", block["pool_size"])
            trail.append(side)
        sides.append(side)
    return sides


def spatial_sizes(spec: Mapping, side: int, name: str = "model") -> list[int]:
    """Side of the square feature map after each block of a network, for an ``side x side`` input.

    The arithmetic of the builders in :mod:`airshower.models` (Keras is not imported): ``cnn``:
    the map after each block (its convolutions, then its pooling); ``resnet``: after the stem and
    after each stage (every stage after the first halves the map, ``same`` padding); ``dense``:
    no maps, ``[]``. ``spec`` has its family's defaults filled in (a validated config).

    Raises
    ------
    ConfigError
        naming the model, the block and its config key where a ``valid`` convolution gets a map
        smaller than its kernel (Keras would fail in the training job).
    """
    if spec["family"] == "cnn":
        return _cnn_sides(spec, side, name)
    if spec["family"] == "resnet":
        sides = [side]
        for i, _stage in enumerate(spec["stages"]):
            sides.append(_map_side(sides[-1], spec["kernel_size"], "same", 2 if i > 0 else 1))
        return sides
    return []
