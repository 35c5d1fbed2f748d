"""Write resources/example_showers.h5: a small shower file made the way a converter of another
simulation makes one, to show the data contract (docs/data-contract.md) and to run the study on
showers that did not come from its own simulation (config/external.yaml).

The showers here stand in for yours: they come from the toy simulation (a different seed and
energy range from any study's), and everything after that is what a converter writes by hand with
h5py: one dataset per quantity with the contract's dtype, shape and ``unit`` attribute, NaN in
``time`` and ``signal`` where a station is silent, the station table ``detector``, the optional
``working`` stations (here: 2 % of the stations dead in every event, as a real array's
monitoring reports), and a ``source`` attribute saying where the showers come from. The file is
then checked as the workflow checks it (:func:`airshower.showerfile.import_showers`).

    .venv/bin/python scripts/make_example_showers.py            # -> resources/example_showers.h5
"""

import argparse
import tempfile
from pathlib import Path

import h5py
import numpy as np

from airshower import showerfile
from airshower import simulation as sim

ROOT = Path(__file__).resolve().parents[1]
ARRAY = {"n_side": 14, "spacing_m": 750.0, "altitude_m": 1400.0}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-events", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--dead-fraction", type=float, default=0.02, help="stations dead per event")
    parser.add_argument("--output", type=Path, default=ROOT / "resources" / "example_showers.h5")
    return parser.parse_args(argv)


def your_showers(n_events: int, seed: int) -> dict[str, np.ndarray]:
    """Stand-in for reading your simulation's output: the toy's showers, 3-100 EeV."""
    settings = sim.SimulationSettings.from_config(
        {"n_events": n_events, "block_size": 1000, "log10_energy_ev": [18.5, 20.0], "array": ARRAY}
    )
    return sim.simulate_events(settings, seed, range(settings.n_blocks))


def write_contract(path: Path, showers: dict, working: np.ndarray, source: str) -> None:
    """What a converter writes: every dataset with its dtype and unit, NaN where silent."""
    datasets = {
        # name: (values, dtype, unit)
        "time": (showers["time"], "float32", "us"),  # arrival time, NaN where silent
        "signal": (showers["signal"], "float32", "VEM"),  # integrated signal, NaN where silent
        "energy": (showers["energy"], "float32", "EeV"),
        "zenith": (showers["zenith"], "float32", "rad"),
        "azimuth": (showers["azimuth"], "float32", "rad"),
        "axis": (showers["axis"], "float32", "1"),  # unit vector towards the source, z up
        "core": (showers["core"], "float32", "m"),  # core on the ground, array frame
        "xmax": (showers["xmax"], "float32", "g/cm^2"),
        "mass": (showers["mass"], "int16", "1"),  # mass number of the primary
        "detector": (showers["detector"], "float64", "m"),  # (n_stations, 3), row-major grid
        "working": (working, "uint8", "1 (1: working, 0: dead)"),
    }
    with h5py.File(path, "w") as fh:
        fh.attrs["source"] = source
        for name, (values, dtype, unit) in datasets.items():
            ds = fh.create_dataset(
                name, data=np.asarray(values, dtype=dtype), compression="gzip", shuffle=True
            )
            ds.attrs["unit"] = unit


def main(argv=None) -> None:
    args = parse_args(argv)
    showers = your_showers(args.n_events, args.seed)
    # dead stations record nothing: their time and signal are NaN, as a silent station's
    gen = np.random.default_rng([args.seed, 1])  # the example's own stream for its dead stations
    dead = gen.random(showers["signal"].shape) < args.dead_fraction
    for name in ("time", "signal"):
        showers[name][dead] = np.nan
    source = f"toy simulation, seed {args.seed}, {args.n_events} showers (scripts/make_example_showers.py)"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.output.parent) as tmp:
        draft = Path(tmp) / args.output.name
        write_contract(draft, showers, (~dead).astype(np.uint8), source)
        n = showerfile.import_showers(draft, args.output, ARRAY)  # checked as the workflow checks it
    print(f"{args.output}: {n} showers, {args.output.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
