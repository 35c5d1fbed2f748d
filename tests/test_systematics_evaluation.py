"""Evaluation of the systematic variants: the shift of every target's headline metrics against
hand-computed cases, seeds combined, the twins of augmented networks, the table and its bars, the
figures' axes, the baseline with a fixed calibration, and the variant jobs in the DAG."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from airshower import baseline as bl
from airshower import config, geometry, io, schema, study
from airshower import simulation as sim
from airshower.baseline.pipeline import predict_with_calibration
from airshower.evaluation import systematics as es
from airshower.evaluation import systematics_tables as st
from airshower.plotting.systematics import ERROR_KINDS, shift_figure, systematics_figures
from conftest import ROOT, read_config

# ---------------------------------------------------------------------------------------------
# the shift of each target, by hand


def truths(n: int) -> dict:
    """The truths of a predictions.h5 (predictionfile.read_predictions' keys) for n vertical showers."""
    return {
        "energy_true": np.full(n, 10.0),
        "zenith": np.zeros(n),
        "mass": np.ones(n),
        "xmax": np.full(n, 750.0),
        "axis_true": np.tile([0.0, 0.0, 1.0], (n, 1)),
        "core_true": np.zeros((n, 2)),
    }


def shifts(target, nominal, variant, n_bootstrap=20, classes=()):
    return es.target_shifts(target, nominal, variant, np.random.default_rng(0), n_bootstrap, classes)


def test_energy_shifts_by_hand():
    """Residuals dE/E -0.1, 0.1, 0, 0 (bias 0, spread sqrt(0.02 / 3)) and -0.1, 0.3, 0.1, 0.1
    (bias 0.1, spread doubled): +10 percentage points, +100 % resolution."""
    nominal = truths(4) | {"energy_pred": np.array([9.0, 11.0, 10.0, 10.0])}
    variant = truths(4) | {"energy_pred": np.array([9.0, 13.0, 11.0, 11.0])}
    out = shifts("energy", nominal, variant)
    assert out["relative_bias"]["value"] == pytest.approx(0.1)
    assert out["relative_bias"]["nominal"] == pytest.approx(0.0, abs=1e-12)
    assert out["relative_resolution"]["value"] == pytest.approx(1.0)
    assert out["relative_resolution"]["nominal"] == pytest.approx(np.sqrt(0.02 / 3))
    assert out["relative_resolution"]["relative"]
    assert not out["relative_bias"]["relative"]
    for name in ("relative_bias", "relative_resolution"):
        assert out[name]["lo"] <= out[name]["hi"]
    # no width: no coverage, and so no coverage shift
    assert out["coverage68"]["value"] is None
    assert out["coverage68"]["nominal"] is None


def test_coverage_shift_by_hand():
    """Widths 1.5 EeV: errors -1, +1, 0, 0 all inside (coverage 1), then -1, +3, +1, +1: three
    of four inside (0.75): the coverage of E +- sigma falls by 25 percentage points; the raw
    width counts only where there is no calibrated one."""
    sigma = {"energy_sigma": np.full(4, 0.5), "energy_sigma_calibrated": np.full(4, 1.5)}
    nominal = truths(4) | {"energy_pred": np.array([9.0, 11.0, 10.0, 10.0])} | sigma
    variant = truths(4) | {"energy_pred": np.array([9.0, 13.0, 11.0, 11.0])} | sigma
    out = shifts("energy", nominal, variant)
    assert out["coverage68"]["nominal"] == 1.0
    assert out["coverage68"]["variant"] == 0.75
    assert out["coverage68"]["value"] == pytest.approx(-0.25)


def tilted(angles_deg: np.ndarray) -> np.ndarray:
    return geometry.axis_vector(np.zeros(len(angles_deg)), np.radians(angles_deg))


def test_direction_shift_is_the_change_of_psi68():
    """Opening angles 0..10 deg (psi68 = the 68 % quantile, 6.8 deg) and twice those: +6.8 deg."""
    angles = np.linspace(0.0, 10.0, 101)
    nominal = truths(101) | {"axis_pred": tilted(angles)}
    variant = truths(101) | {"axis_pred": tilted(2 * angles)}
    out = shifts("direction", nominal, variant)["psi68_deg"]
    assert out["nominal"] == pytest.approx(6.8, abs=1e-5)
    assert out["variant"] == pytest.approx(13.6, abs=1e-5)
    assert out["value"] == pytest.approx(6.8, abs=1e-5)


def test_core_shift_is_the_change_of_r68():
    """Every core off by (3, 4) m (r = 5) and by (6, 8) m (r = 10): +5 m, a zero-width interval."""
    nominal = truths(50) | {"core_pred": np.tile([3.0, 4.0], (50, 1))}
    variant = truths(50) | {"core_pred": np.tile([6.0, -8.0], (50, 1))}
    out = shifts("core", nominal, variant)["r68_m"]
    assert (out["nominal"], out["variant"], out["value"]) == pytest.approx((5.0, 10.0, 5.0))
    assert (out["lo"], out["hi"]) == pytest.approx((5.0, 5.0))


def test_xmax_shifts_of_bias_and_resolution():
    """Residuals -10, 10, 0, 0 and 0, 20, 10, 10 g/cm^2: the bias moves by +10, the spread not."""
    nominal = truths(4) | {"xmax_pred": 750.0 + np.array([-10.0, 10.0, 0.0, 0.0])}
    variant = truths(4) | {"xmax_pred": 750.0 + np.array([0.0, 20.0, 10.0, 10.0])}
    out = shifts("xmax", nominal, variant)
    assert out["bias_gcm2"]["value"] == pytest.approx(10.0)
    assert out["resolution_gcm2"]["nominal"] == pytest.approx(np.sqrt(200 / 3))
    assert out["resolution_gcm2"]["value"] == pytest.approx(0.0, abs=1e-9)


def test_mass_shift_is_the_auc_change_of_lightest_against_heaviest():
    """Three classes; the p-Fe pair: perfectly separated (AUC 1), then equal probabilities (every
    score 0.5, ties count 1/2: AUC 0.5). The He events do not enter."""
    mass = np.array([1, 1, 4, 56, 56, 4], dtype=float)
    sure = np.eye(3)[[0, 0, 1, 2, 2, 1]]
    nominal = truths(6) | {"mass": mass, "mass_prob": sure}
    variant = truths(6) | {"mass": mass, "mass_prob": np.full((6, 3), 1 / 3)}
    out = shifts("mass", nominal, variant, classes=[1, 4, 56])["auc"]
    assert (out["nominal"], out["variant"], out["value"]) == pytest.approx((1.0, 0.5, -0.5))
    cols = es.columns("mass", nominal, [1, 4, 56])
    assert len(cols["score"]) == 4
    assert cols["heavy"].sum() == 2


def test_a_missing_dataset_names_the_predictions():
    nominal = truths(4) | {"energy_pred": np.full(4, 10.0)}
    with pytest.raises(ValueError, match="variant predictions, xmax.*xmax_pred"):
        shifts("xmax", nominal | {"xmax_pred": np.full(4, 750.0)}, nominal)
    with pytest.raises(ValueError, match="unknown target"):
        es.compute_shifts(nominal, nominal, ["charge"], 5, lambda _target: np.random.default_rng(0))


def test_compute_shifts_record_and_streams():
    nominal = truths(30) | {"energy_pred": np.linspace(8, 12, 30), "core_pred": np.ones((30, 2))}
    variant = truths(30) | {"energy_pred": np.linspace(9, 13, 30), "core_pred": 2 * np.ones((30, 2))}

    def streams(target):
        return es.shift_stream(7, "cnn", 1, "sibyll", target)

    a = es.compute_shifts(nominal, variant, ["energy", "core"], 10, streams)
    b = es.compute_shifts(nominal, variant, ["energy", "core"], 10, streams)
    assert a == b  # seeded
    assert list(a["targets"]) == ["energy", "core"]
    assert a["n_nominal"] == a["n_variant"] == 30
    assert set(a["definitions"]) == {
        "energy.relative_bias",
        "energy.relative_resolution",
        "energy.coverage68",
        "core.r68_m",
        "core.coverage68",
    }
    other = es.shift_stream(7, "cnn", 1, "dead10", "energy").random()
    assert other != es.shift_stream(7, "cnn", 1, "sibyll", "energy").random()


def record(seed, value, lo, hi, nominal=0.1, target="energy", name="relative_bias"):
    entry = {
        "value": value,
        "lo": lo,
        "hi": hi,
        "nominal": nominal,
        "variant": nominal + value,
        "relative": False,
    }
    return {"model": "m", "seed": seed, "variant": "v", "targets": {target: {name: entry}}}


def test_seeds_combine_like_the_target_metrics():
    one = es.aggregate_shifts([record(1, 0.02, 0.01, 0.03)])["targets"]["energy"]["relative_bias"]
    assert (one["mean"], one["lo"], one["hi"], one["std"]) == pytest.approx((0.02, 0.01, 0.03, None))
    two = es.aggregate_shifts([record(1, 0.01, 0.0, 0.02), record(2, 0.03, 0.02, 0.04, nominal=0.3)])
    e = two["targets"]["energy"]["relative_bias"]
    half = np.hypot(np.sqrt(2) * 0.01, 0.01)
    assert e["mean"] == pytest.approx(0.02)
    assert e["std"] == pytest.approx(np.sqrt(2) * 0.01)
    assert (e["lo"], e["hi"]) == pytest.approx((0.02 - half, 0.02 + half))
    assert e["nominal"] == pytest.approx(0.2)
    assert two["seeds"] == [1, 2]
    assert two["n_seeds"] == 2


# ---------------------------------------------------------------------------------------------
# twins, rows, table, bars


@pytest.fixture(scope="module")
def study_config() -> dict:
    """The test study with an augmented copy of cnn_tuned (its twin) and the augmented cnn_multi."""
    cfg = read_config("test.yaml")
    cfg["models"]["cnn_tuned"]["training"]["seeds"] = [1, 2]
    aug = copy.deepcopy(cfg["models"]["cnn_tuned"])
    aug["training"]["augmentation"] = {"station_dropout": 0.2}
    cfg["models"]["cnn_tuned_aug"] = aug
    cfg["models"].setdefault("cnn_multi", {"family": "dense", "units": [8]})
    cfg["models"]["cnn_multi"].setdefault("training", {})["augmentation"] = {"signal_scale": 0.1}
    return config.validate_config(cfg)


def test_twins_of_augmented_networks(study_config):
    twins = st.twins(study_config)
    assert twins["cnn_tuned_aug"] == "cnn_tuned"
    assert twins["cnn_tuned_aug_ensemble"] == "cnn_tuned_ensemble"
    assert twins["cnn_multi"] is None  # no network of its specification
    assert "cnn_tuned" not in twins
    assert st.augmented(study_config, "cnn_multi")
    order = st.row_order(study.compared_models(study_config), twins)
    assert order.index("cnn_tuned_aug") == order.index("cnn_tuned") + 1
    assert order.index("cnn_tuned_aug_ensemble") == order.index("cnn_tuned_ensemble") + 1
    assert sorted(order) == sorted(study.compared_models(study_config))


def agg(**targets) -> dict:
    """An aggregate with the given ``target={shift: (mean, lo, hi, nominal)}``."""
    out = {"n_seeds": 1, "seeds": [0], "targets": {}}
    for target, entries in targets.items():
        out["targets"][target] = {
            name: {"mean": m, "lo": lo, "hi": hi, "std": None, "nominal": nom, "variant": None}
            for name, (m, lo, hi, nom) in entries.items()
        }
    return out


def energy(bias: tuple, resolution: tuple) -> dict:
    return {"relative_bias": bias, "relative_resolution": resolution}


B = 0.97
NOMINAL_RES = (0.0, -0.01, 0.01, 0.1)  # no resolution change, nominal sigma_E/E 10 %
AGGREGATED = {
    "scale+5": {
        "baseline": agg(energy=energy((1.05**B - 1 + 0.003, 0.04, 0.06, 0.0), (0.01, 0.0, 0.02, 0.08))),
        "cnn": agg(energy=energy((0.05, 0.04, 0.06, 0.0), NOMINAL_RES)),
    },
    "dead10": {
        "cnn": agg(energy=energy((0.0, -0.01, 0.01, 0.0), (0.2, 0.15, 0.25, 0.1))),
        "cnn_aug": agg(energy=energy((0.0, -0.01, 0.01, 0.0), (0.05, 0.02, 0.08, 0.1))),
        "multi": agg(
            energy=energy((0.0, -0.01, 0.01, 0.0), (0.12, 0.1, 0.14, 0.1)),
            xmax={"bias_gcm2": (-3.0, -4.0, -2.0, 1.0), "resolution_gcm2": (2.0, 1.0, 3.0, 30.0)},
        ),
    },
    "sibyll": {
        "cnn": agg(energy=energy((0.02, 0.01, 0.03, 0.0), NOMINAL_RES)),
        "cnn_aug": agg(energy=energy((-0.12, -0.13, -0.11, 0.0), NOMINAL_RES)),
    },
}
PLAIN = {"simulation": {}, "factors": {}, "dead_fraction": 0.0, "signal_scale": 1.0}
SECTIONS = {
    "scale+5": PLAIN | {"signal_scale": 1.05},
    "dead10": PLAIN | {"dead_fraction": 0.1},
    "sibyll": PLAIN | {"simulation": {"interaction_model": "Sibyll2.1"}},
}
TWINS = {"cnn_aug": "cnn", "multi": None}


def table_rows():
    order = st.row_order(["cnn", "multi", "cnn_aug", "baseline"], TWINS)
    return st.shift_rows(AGGREGATED, list(SECTIONS), order, TWINS, ["energy", "xmax"])


def test_rows_are_grouped_by_variant_with_the_twin_next():
    rows = table_rows()
    assert [(r["variant"], r["model"]) for r in rows] == [
        ("scale+5", "cnn"), ("scale+5", "baseline"),
        ("dead10", "cnn"), ("dead10", "cnn_aug"), ("dead10", "multi"),
        ("sibyll", "cnn"), ("sibyll", "cnn_aug"),
    ]  # fmt: skip
    dead_aug = rows[3]
    assert dead_aug["twin"] == "cnn"
    assert dead_aug["n_seeds"] == 1
    assert dead_aug["energy_resolution_shift_pct"] == pytest.approx(5.0)  # per cent
    assert dead_aug["energy_resolution_shift_pct_lo"] == pytest.approx(2.0)
    assert dead_aug["xmax_bias_shift_gcm2"] is None  # cnn_aug has no Xmax
    assert rows[4]["xmax_bias_shift_gcm2"] == -3.0
    assert rows[4]["xmax_resolution_shift_gcm2_hi"] == 3.0
    assert rows[0]["energy_bias_shift_pp"] == pytest.approx(5.0)  # percentage points


def test_csv_and_markdown_content():
    rows = table_rows()
    text = st.shift_csv(rows, ["energy", "xmax"])
    header, *lines = text.strip().split("\n")
    assert header.split(",")[:6] == [
        "variant",
        "model",
        "twin",
        "n_seeds",
        "energy_bias_shift_pp",
        "energy_bias_shift_pp_lo",
    ]
    assert "xmax_resolution_shift_gcm2_seed_std" in header
    assert len(lines) == len(rows)
    assert lines[3].startswith("dead10,cnn_aug,cnn,1,0,-1,1,,5,2,8,")
    md = st.shift_markdown(
        rows, ["energy", "xmax"], st.bars(AGGREGATED, SECTIONS, B, TWINS, ["cnn", "cnn_aug", "multi"])
    )
    table = [line for line in md.split("\n") if line.startswith("| ")]
    assert table[0].startswith("| variant | model | seeds | E bias shift [pp] | σ_E/E change [%]")
    assert "| dead10 | cnn | 1 |" in md
    assert "|  | cnn_aug (twin: cnn) | 1 | +0.0 [-1.0, +1.0] | +5.0 [+2.0, +8.0] | – | – |" in md
    assert "## Bars" in md
    assert md.count("PASS") + md.count("FAIL") == 5  # calibration, dead x 2, sibyll x 2
    assert "percentage points" in md


def test_bars_pass_and_fail():
    lines = st.bars(AGGREGATED, SECTIONS, B, TWINS, ["cnn", "cnn_aug", "multi"])
    by = {(b["bar"], b["variant"], b["model"]): b for b in lines}
    calibration = by[("calibration", "scale+5", "baseline")]
    assert calibration["pass"]
    assert calibration["limit"] == pytest.approx(100 * (1.05**B - 1))
    assert calibration["value"] - calibration["limit"] == pytest.approx(0.3)
    assert by[("dead", "dead10", "cnn_aug")]["pass"]  # +5 % < 10 % and < the twin's +20 %
    assert not by[("dead", "dead10", "multi")]["pass"]  # +12 %, no twin
    assert "no unaugmented twin" in by[("dead", "dead10", "multi")]["text"]
    assert by[("hadronic", "sibyll", "cnn")]["pass"]  # |+2 pp| < 10 %
    assert not by[("hadronic", "sibyll", "cnn_aug")]["pass"]  # |-12 pp| > 10 %
    far = st.bars(AGGREGATED, SECTIONS, 0.5, TWINS, [])
    assert not [b for b in far if b["bar"] == "calibration"][0]["pass"]  # 1.05^0.5 - 1 = 2.5 pp
    assert (
        "nominal σ_E/E 10.000 % against the twin's 10.000 % (+0.000 pp"
        in by[("dead", "dead10", "cnn_aug")]["text"]
    )
    none = st.bars({}, {}, None, {}, [])
    assert [b["pass"] for b in none] == [None, None, None]
    assert all("not evaluated" in b["text"] for b in none)


def test_dead_bar_checks_direction_core_and_the_nominal_cost():
    """The dead-station bar of an augmented network with direction and core: psi68 within
    0.1 deg, r68 within 5 m, its nominal sigma_E/E within 0.2 pp of its twin's; each can fail it;
    a variant with more than 10 % dead stations has no bar (the robustness curves show it)."""

    def multi(res_shift, psi, r68, nominal):
        return agg(
            energy=energy((0.0, -0.01, 0.01, 0.0), (res_shift, res_shift, res_shift, nominal)),
            direction={"psi68_deg": (psi, psi, psi, 0.7)},
            core={"r68_m": (r68, r68, r68, 12.0)},
        )

    twins = {"multi_aug": "multi"}
    twin = multi(2.0, 0.05, 90.0, 0.050)
    cases = {
        "passes": (multi(0.08, 0.05, 4.0, 0.0515), True),
        "direction": (multi(0.08, 0.12, 4.0, 0.0515), False),
        "core": (multi(0.08, 0.05, 5.5, 0.0515), False),
        "nominal cost": (multi(0.08, 0.05, 4.0, 0.0525), False),  # +0.25 pp
        "nominal cost by 0.001 pp": (multi(0.08, 0.05, 4.0, 0.05201), False),  # +0.201 pp
        "energy": (multi(0.11, 0.05, 4.0, 0.0515), False),
    }
    for case, (aug, expected) in cases.items():
        aggregated = {"dead10": {"multi": twin, "multi_aug": aug}}
        (line,) = [b for b in st.bars(aggregated, SECTIONS, B, twins, []) if b["bar"] == "dead"]
        assert line["pass"] is expected, (case, line["text"])

    def text(aug):
        (line,) = [
            b
            for b in st.bars({"dead10": {"multi": twin, "multi_aug": aug}}, SECTIONS, B, twins, [])
            if b["bar"] == "dead"
        ]
        return line["text"]

    assert (
        "psi68 +0.05° (< 0.1° ✓); r68 +4 m (< 5 m ✓); nominal σ_E/E 5.150 % against the twin's 5.000 % "
        "(+0.150 pp, ≤ 0.2 pp ✓)" in text(cases["passes"][0])
    )
    # the failing check is the one marked, and a gap just over the bar does not print as on it
    assert "r68 +5.5 m (< 5 m ✗)" in text(cases["core"][0])
    assert "psi68 +0.05° (< 0.1° ✓)" in text(cases["core"][0])
    assert "(+0.201 pp, ≤ 0.2 pp ✗)" in text(cases["nominal cost by 0.001 pp"][0])
    dead30 = {"dead30": PLAIN | {"dead_fraction": 0.3}}
    lines = st.bars({"dead30": {"multi": twin, "multi_aug": cases["core"][0]}}, dead30, B, twins, [])
    assert [b["model"] for b in lines if b["bar"] == "dead"] == []


def test_variant_kinds():
    defaults = schema.complete_section("systematics", {})["variants"]
    kinds = {name: st.variant_kind(section) for name, section in defaults.items()}
    assert kinds["scale+5"] == kinds["scale-5"] == "scale"
    assert kinds["dead5"] == kinds["dead10"] == "dead"
    assert kinds["sibyll"] == kinds["qgsjet"] == "hadronic"
    assert kinds["jitter2"] is None
    assert kinds["iron"] is None


# ---------------------------------------------------------------------------------------------
# figures


def test_figure_axes_per_target():
    summary = {
        "variants": list(SECTIONS),
        "models": ["cnn", "cnn_aug", "multi", "baseline"],
        "shifts": AGGREGATED,
    }
    figures = systematics_figures(summary)
    assert list(figures) == ["energy", "xmax"]
    energy = figures["energy"].axes
    assert len(energy) == 2
    assert "percentage points" in energy[0].get_ylabel()
    assert "[%]" in energy[1].get_ylabel()
    assert [t.get_text() for t in energy[0].get_xticklabels()] == list(SECTIONS)
    assert energy[0].get_xlabel() == "systematic variant"
    assert [t.get_text() for t in figures["energy"].legends[0].get_texts()] == [
        "cnn",
        "cnn_aug",
        "multi",
        "baseline",
        ERROR_KINDS["bootstrap"],  # one seed each: bootstrap intervals only, capped
    ]
    zero = [line for line in energy[0].get_lines() if list(line.get_ydata()) == [0, 0]]
    assert zero, "no zero line"
    xmax_axes = figures["xmax"].axes
    assert "g cm" in xmax_axes[0].get_ylabel()
    assert len(figures["xmax"].legends[0].get_texts()) == 1 + 1  # multi, and its error bar kind
    with pytest.raises(ValueError, match="no model has mass shifts"):
        shift_figure("mass", AGGREGATED, list(SECTIONS), ["cnn"])


# ---------------------------------------------------------------------------------------------
# the baseline with a fixed calibration


def test_baseline_with_the_nominal_calibration_equals_run(tmp_path):
    """The test split reconstructed with run's calibration, written to and read back from
    calibration.json, gives run's predictions exactly."""
    settings = sim.SimulationSettings.from_config({"n_events": 900, "block_size": 300})
    data = sim.simulate_events(settings, seed=21, blocks=[0, 1, 2])
    split = {name: np.arange(a, b) for name, (a, b) in {"train": (0, 600), "test": (600, 900)}.items()}
    splits = {
        k: {"index": i, "energy": data["energy"][i], "zenith": data["zenith"][i]} for k, i in split.items()
    }
    base = bl.BaselineSettings.from_config({})
    predictions, calibration = bl.run(data, splits["train"], splits["test"], base)
    io.write_json(tmp_path / "calibration.json", calibration)
    again, rec = predict_with_calibration(
        data, splits["test"], io.read_json(tmp_path / "calibration.json"), base
    )
    assert set(again) == set(predictions)
    for key, values in predictions.items():
        np.testing.assert_array_equal(again[key], values, err_msg=key)
        assert again[key].dtype == values.dtype
    assert rec["test_statistics"] == calibration["test_statistics"]
    assert rec["flagged"] == calibration["flagged"]["test"]
    # scaled signals: the calibrated energies of reconstructed events scale by 1.05^B
    scaled = dict(data, signal=(data["signal"] * 1.05).astype(np.float32))
    shifted, _ = predict_with_calibration(scaled, splits["test"], calibration, base)
    ok = (shifted["flag"] == 0) & (predictions["flag"] == 0)
    ratio = shifted["energy_pred"][ok] / predictions["energy_pred"][ok]
    assert np.median(ratio) == pytest.approx(1.05 ** calibration["B"], rel=2e-3)


# ---------------------------------------------------------------------------------------------
# the DAG


def job_counts(stdout: str) -> dict[str, int]:
    """Rule -> jobs of the job statistics of ``snakemake -n``."""
    rows = [line.split() for line in stdout.splitlines()]
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}


def test_dry_run_lists_the_variant_jobs(tmp_path):
    for name in ("workflow", "config"):
        shutil.copytree(ROOT / name, tmp_path / name, symlinks=True)
    shutil.copy2(ROOT / "environment.yml", tmp_path / "environment.yml")
    cfg = read_config("test.yaml")
    cfg["systematics"] = {"run": ["sibyll", "dead10"]}
    (tmp_path / "config" / "sys.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        "workflow/Snakefile",
        "--configfile",
        "config/sys.yaml",
    ]
    proc = subprocess.run(
        [*cmd, "-n", "--quiet", "rules"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    validated = config.validate_config(copy.deepcopy(cfg))
    runs = sum(len(study.model_seeds(validated, m)) for m in study.compared_models(validated))
    assert counts["simulate_variant"] == counts["prepare_variant"] == 2
    # one predict, one ensemble and one baseline_predict rule serve the nominal test set, the two
    # variants and, for a model with widths (calibrate_widths), the validation split
    models = validated["models"]
    with_widths = [  # a gaussian network, a network with widths, and their ensembles
        m
        for m in study.compared_models(validated)
        if m != "baseline"
        and (
            models[m.removesuffix("_ensemble")]["output"] == "gaussian"
            or models[m.removesuffix("_ensemble")]["widths"]
        )
    ]
    calibrated = 1 + sum(len(study.model_seeds(validated, m)) for m in with_widths)  # and the baseline
    assert counts["calibrate_widths"] == calibrated
    assert counts["predict"] + counts["ensemble"] + counts["baseline_predict"] == 3 * runs + calibrated
    assert counts["baseline_predict"] == 4  # test split, validation split, two variants
    assert counts["systematics_shifts"] == 2 * runs
    assert counts["systematics_table"] == 1
    assert counts["plot_systematics"] == len(study.study_targets(validated))
    none = dict(cfg, systematics={"run": []})
    (tmp_path / "config" / "none.yaml").write_text(yaml.safe_dump(none))
    plain = subprocess.run(
        [*cmd[:-1], "config/none.yaml", "-n", "--quiet", "rules"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 0, plain.stderr[-3000:]
    rules = job_counts(plain.stdout)
    assert "train" in rules
    assert not [rule for rule in rules if "variant" in rule or "systematics" in rule]


def test_workflow_helpers(study_config):
    from airshower import systematics as sy

    assert sy.variant_section(study_config, "dead10")["dead_fraction"] == 0.1
    with pytest.raises(schema.ConfigError, match="'nope' is not defined.*sibyll"):
        sy.variant_section(study_config, "nope")
    outputs = sy.study_outputs(
        dict(study_config, systematics={**study_config["systematics"], "run": ["sibyll"]})
    )
    assert outputs[:3] == ["results/systematics.csv", "results/systematics.md", "results/systematics.json"]
    assert "results/figures/systematics/energy.png" in outputs
    assert not any("robustness" in o for o in outputs)  # no variant that only kills stations
    with_dead = sy.study_outputs(
        dict(study_config, systematics={**study_config["systematics"], "run": ["dead10"]})
    )
    assert "results/figures/robustness/energy.png" in with_dead
    assert sy.study_outputs(dict(study_config, systematics={**study_config["systematics"], "run": []})) == []


def test_robustness_curve_by_hand():
    """The statistic at 0 (nominal) and at each dead fraction, sorted, with the shift's interval
    placed at the variant's value: relative for the resolution, a difference for psi68."""
    from airshower.evaluation.systematics import SHIFTS
    from airshower.evaluation.systematics_tables import dead_fractions
    from airshower.plotting.systematics import _robustness_series, robustness_figure

    def entry(nominal, variant, lo, hi):
        return {"nominal": nominal, "variant": variant, "mean": 0.0, "lo": lo, "hi": hi}

    shifts = {
        "dead20": {"m": {"targets": {"energy": {"relative_resolution": entry(0.05, 0.08, 0.5, 0.7)}}}},
        "dead10": {"m": {"targets": {"energy": {"relative_resolution": entry(0.05, 0.06, 0.1, 0.3)}}}},
    }
    resolution = SHIFTS["energy"][1]
    x, value, low, high = _robustness_series(
        shifts, {"dead20": 0.2, "dead10": 0.1}, "m", "energy", resolution
    )
    np.testing.assert_allclose(x, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(value, [5.0, 6.0, 8.0])  # in %
    np.testing.assert_allclose(low, [0.0, 6.0 - 5.5, 8.0 - 7.5])  # 5 % x (1 + lo)
    np.testing.assert_allclose(high, [0.0, 6.5 - 6.0, 8.5 - 8.0])
    psi = {"dead10": {"m": {"targets": {"direction": {"psi68_deg": entry(0.8, 1.0, 0.15, 0.25)}}}}}
    _, value, low, high = _robustness_series(psi, {"dead10": 0.1}, "m", "direction", SHIFTS["direction"][0])
    np.testing.assert_allclose([value[1], low[1], high[1]], [1.0, 1.0 - 0.95, 1.05 - 1.0])
    sections = {
        "dead10": {"simulation": {}, "factors": {}, "dead_fraction": 0.1, "signal_scale": 1.0},
        "mixed": {"simulation": {}, "factors": {}, "dead_fraction": 0.1, "signal_scale": 1.05},
        "sibyll": {"simulation": {"interaction_model": "Sibyll2.1"}, "factors": {}, "dead_fraction": 0.0},
    }
    assert dead_fractions(sections) == {"dead10": 0.1}
    fig = robustness_figure("energy", shifts, {"dead10": 0.1, "dead20": 0.2}, ["m"])
    # one panel per shift some model has: here the resolution's only
    assert [ax.get_xlabel() for ax in fig.axes] == ["dead stations [% of the array]"]
    assert fig.axes[0].get_ylabel() == r"relative resolution $\sigma_E/E$ [%]"
    with pytest.raises(ValueError, match="no model has core shifts"):
        robustness_figure("core", shifts, {"dead10": 0.1}, ["m"])
