"""The array layouts (airshower.geometry.LAYOUTS): the square grid as before, the hexagonal one a
triangular grid in axial coordinates whose image neighbours are its six nearest stations; the
hexagonal convolution's configuration checks."""

import copy

import numpy as np
import pytest
import yaml

from airshower import geometry
from airshower import simulation as sim
from airshower.config import validate_config
from airshower.schema import ConfigError
from conftest import ROOT


def test_the_square_grid_is_the_grid_of_before():
    """The square layout's positions, to the bit, as the grid of before (x along the first image
    axis, 750 m apart, centred, at the altitude)."""
    positions = sim.ArrayLayout.from_config({}).positions()
    c = (np.arange(14) - 6.5) * 750.0
    x, y = np.meshgrid(c, c, indexing="ij")
    expected = np.stack([x.ravel(), y.ravel(), np.full(196, 1400.0)], axis=1)
    assert positions.tobytes() == expected.tobytes()
    assert geometry.layout_of(positions) == "square"


def test_the_hexagonal_grid_has_six_neighbours_where_its_kernel_looks():
    """Every interior station has exactly six others at the spacing (none closer), and they are
    the pixels of the hexagonal kernel's mask around it; the grid is centred; the baseline's
    spacing check and the layout's recognition read it back."""
    layout = sim.ArrayLayout.from_config({"layout": "hexagonal", "n_side": 9, "spacing_m": 1500.0})
    positions = layout.positions()
    assert np.allclose(positions[:, :2].mean(axis=0), 0.0, atol=1e-9)
    assert geometry.station_spacing(positions) == pytest.approx(1500.0)
    assert geometry.layout_of(positions) == "hexagonal"
    distance = np.linalg.norm(positions[:, None, :2] - positions[None, :, :2], axis=-1).reshape(9, 9, 9, 9)
    mask = geometry.hexagonal_kernel_mask(3)
    for i in range(1, 8):
        for j in range(1, 8):
            d = distance[i, j]
            assert np.isclose(d, 1500.0).sum() == 6
            assert d[d > 1].min() == pytest.approx(1500.0)
            window = d[i - 1 : i + 2, j - 1 : j + 2]
            around = np.isclose(window, 1500.0) | (window < 1)
            np.testing.assert_array_equal(around, mask)  # the kernel's pixels: itself and its six
            # the two corners the mask leaves out lie at sqrt(3) spacings
            assert d[i - 1, j - 1] == pytest.approx(1500.0 * np.sqrt(3)) == d[i + 1, j + 1]


def test_hexagonal_kernel_masks():
    assert geometry.hexagonal_kernel_mask(1).tolist() == [[True]]
    assert geometry.hexagonal_kernel_mask(5).sum() == 19  # the centre and two rings: 1 + 6 + 12
    with pytest.raises(ValueError, match="odd size"):
        geometry.hexagonal_kernel_mask(4)


def test_a_hexagonal_convolution_needs_the_hexagonal_array_and_odd_kernels():
    raw = yaml.safe_load((ROOT / "config" / "hexagonal.yaml").read_text())
    assert validate_config(copy.deepcopy(raw))["models"]["cnn_square"]["convolution"] == "square"
    square = copy.deepcopy(raw)
    square["simulation"]["array"]["layout"] = "square"
    with pytest.raises(ConfigError, match="cnn_hex.convolution.*hexagonal array"):
        validate_config(square)
    even = copy.deepcopy(raw)
    even["models"]["cnn_hex"]["blocks"][0]["kernel_size"] = 4
    with pytest.raises(ConfigError, match="odd kernel_size, got 4"):
        validate_config(even)


@pytest.mark.workflow
@pytest.mark.slow
def test_the_tiny_hexagonal_study_compares_both_convolutions_and_the_baseline(tmp_path):
    """config/hexagonal.yaml at a tiny size: the showers on the hexagonal array, the hexagonal
    and the square CNN on the same images and the baseline in every target's table; the saved
    hexagonal network is made of hexagonal convolutions."""
    import json

    from airshower import io, training
    from airshower.hexconv import HexConv2D
    from conftest import copy_repo, snakemake

    workdir = copy_repo(tmp_path)
    cfg = yaml.safe_load((workdir / "config" / "hexagonal.yaml").read_text())
    cfg["simulation"].update(n_events=900, n_shards=1, block_size=300)
    cfg["training"].update(epochs=2, threads=1)
    cfg["models"]["cnn_hex"]["blocks"] = [{"filters": [4], "pool": "avg"}, {"filters": [8]}]
    cfg["models"]["cnn_hex"]["dense_units"] = [8]
    cfg["evaluation"]["bootstrap"] = 10
    cfg["plots"]["dpi"] = 50
    (workdir / "config" / "tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    tables = [f"results/targets/{t}/summary.json" for t in ("energy", "direction", "core")]
    snakemake(
        workdir,
        "--configfile",
        "config/tiny.yaml",
        "--cores",
        "2",
        *tables,
        "results/figures/data/footprints.png",
    )

    results = workdir / "results"
    assert geometry.layout_of(io.read_showers(results / "data" / "showers.h5")["detector"]) == "hexagonal"
    for target in ("energy", "direction", "core"):
        table = json.loads((results / "targets" / target / "summary.json").read_text())
        assert {"cnn_hex", "cnn_square", "baseline"} <= set(table["models"]), target
    model = training.load_model(results / "models" / "cnn_hex" / "seed1" / "model.keras")
    square = training.load_model(results / "models" / "cnn_square" / "seed1" / "model.keras")
    assert sum(isinstance(layer, HexConv2D) for layer in model.layers) == 2
    assert not any(isinstance(layer, HexConv2D) for layer in square.layers)
    assert model.count_params() == square.count_params()  # the same network, another neighbourhood
    assert (results / "figures" / "data" / "footprints.png").is_file()
