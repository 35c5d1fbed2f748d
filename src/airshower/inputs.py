"""The network's input channels, declared once: their names, order and kinds.

The prepared ``x`` (:mod:`airshower.preparation`, which computes and normalizes each channel)
holds every channel of :data:`CHANNELS` in this order; a model reads the ones its
``training.inputs`` names. What a channel is matters to the code that edits prepared inputs
(:mod:`airshower.augmentation`) and to the heads that read them (:mod:`airshower.models`):

- :data:`TRIGGERED_CHANNELS` have a value at triggered stations only (0 where a station is
  silent or dead): ``time``, ``signal``, ``mask``, ``residual``;
- :data:`CENTRED_CHANNELS` are relative to the mean over the event's triggered stations:
  ``time``, ``residual``;
- ``working``: 1 where the station works, 0 where it is dead (the array's own list);
- :data:`GEOMETRY_CHANNELS`: the station coordinates, the same for every event;
- :data:`FRONT_CHANNELS`: the plane fit's axis of the event, constant over the array (an
  event-level input as constant planes, so every family takes it through its one input).
"""

from __future__ import annotations

from collections.abc import Sequence

from airshower.schema import ConfigError

CHANNELS = (
    "time",
    "signal",
    "mask",
    "working",
    "residual",
    "station_x",
    "station_y",
    "front_ux",
    "front_uy",
    "front_uz",
)
TRIGGERED_CHANNELS = ("time", "signal", "mask", "residual")
CENTRED_CHANNELS = ("time", "residual")
GEOMETRY_CHANNELS = ("station_x", "station_y")
FRONT_CHANNELS = ("front_ux", "front_uy", "front_uz")
# the channels of prepared files written before the others existed
FIRST_CHANNELS = CHANNELS[:3]


def reference_channels(channels: Sequence[str] | None, owner: str = "the model") -> list[int]:
    """Indices of the plane fit's axis (:data:`FRONT_CHANNELS`) among a model's input ``channels``
    (``training.inputs``), for a ``direction_head: correction``; ConfigError naming ``owner``
    where one is missing."""
    channels = list(channels or ())
    missing = [c for c in FRONT_CHANNELS if c not in channels]
    if missing:
        raise ConfigError(
            f"{owner}: direction_head: correction adds to the plane fit's axis, but training.inputs "
            f"({', '.join(channels) or 'not given'}) lacks {', '.join(missing)}"
        )
    return [channels.index(c) for c in FRONT_CHANNELS]
