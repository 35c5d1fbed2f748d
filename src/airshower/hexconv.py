"""Convolutions that fit the array's grid: :data:`CONVOLUTIONS` maps a model's ``convolution`` to
its Keras layer.

- ``square``: ``keras.layers.Conv2D``, whose k x k kernel is a station's neighbourhood on a square
  grid;
- ``hexagonal``: :class:`HexConv2D` for the hexagonal layout stored in axial coordinates
  (:func:`airshower.geometry.grid_positions`): a ``Conv2D`` whose kernel is multiplied by the
  hexagonal mask (:func:`airshower.geometry.hexagonal_kernel_mask`), so a 3 x 3 kernel sees a
  station and its six neighbours, all at one spacing, and not the two pixels of the image that lie
  at sqrt(3) spacings (the masked-kernel hexagonal convolution of Sun et al., arXiv:1803.02108;
  HexagDLy's for offset coordinates, Steppa & Holch 2019, is the same neighbourhood).

A square convolution on the hexagonal images sees a distorted neighbourhood (two of its eight
neighbours farther away than the others); the hexagonal one turns with the grid: a footprint
rotated by 60 degrees gives the first layer's response rotated by 60 degrees when the kernel is
rotated too (tests/test_models.py). The masked weights stay in the kernel (their gradient is zero),
so a 3 x 3 hexagonal layer counts 9 weights per filter and input channel of which 7 act.
"""

from __future__ import annotations

import keras
from keras import layers

from airshower.geometry import hexagonal_kernel_mask


@keras.saving.register_keras_serializable(package="airshower")
class HexConv2D(layers.Conv2D):
    """``Conv2D`` on a hexagonal grid in axial coordinates: the kernel (odd and square) masked to
    the stations within ``(kernel_size - 1) / 2`` steps on the grid."""

    def __init__(self, filters: int, kernel_size, **kwargs):
        size = kernel_size if isinstance(kernel_size, int) else int(kernel_size[0])
        if isinstance(kernel_size, list | tuple) and len(set(kernel_size)) != 1:
            raise ValueError(f"HexConv2D needs a square kernel, got {tuple(kernel_size)}")
        self._mask = hexagonal_kernel_mask(size).astype("float32")[:, :, None, None]
        super().__init__(filters, size, **kwargs)

    def convolution_op(self, inputs, kernel):
        mask = keras.ops.cast(keras.ops.convert_to_tensor(self._mask), kernel.dtype)
        return super().convolution_op(inputs, kernel * mask)


# a model's `convolution` (schema: cnn_model, resnet_model) -> its layer class
CONVOLUTIONS = {"square": layers.Conv2D, "hexagonal": HexConv2D}
