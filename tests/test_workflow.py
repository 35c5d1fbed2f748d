"""The whole DAG end to end on config/test.yaml, in a temporary copy of the repository.

One module-scoped run of the study; the tests then check what came out: every model in the
summary with a finite resolution, real PNG figures, the report with every figure, a lint-clean
workflow, and that a plotting-only config change reruns only the plotting rules.
"""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest
import yaml

from airshower import io, predictionfile
from conftest import copy_repo, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def config(study) -> dict:
    from airshower.config import load_config

    return load_config(study / "config" / "test.yaml")


def test_summary_has_every_model_with_finite_resolution(study, config):
    from airshower.study import compared_models, study_targets, target_models

    with open(study / "results" / "targets" / "energy" / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    models = [row["model"] for row in rows]
    assert models == target_models(config, "energy")
    for row in rows:
        resolution = float(row["resolution_eev"])
        assert math.isfinite(resolution), row
        assert 0 < resolution < 100, row
    # the front page: every compared model, its energy's headline number and the training
    with open(study / "results" / "summary.csv") as fh:
        front = list(csv.DictReader(fh))
    assert [row["model"] for row in front] == compared_models(config)
    energy = {row["model"]: row for row in rows}
    for row in front:
        assert float(row["energy_relative_resolution"]) == float(energy[row["model"]]["relative_resolution"])
    md = (study / "results" / "summary.md").read_text()
    for model in compared_models(config):
        assert f"| {model} " in md
    for target in study_targets(config):
        assert f"(targets/{target}/summary.md)" in md


def test_networks_trained_every_seed(study, config):
    from airshower.study import model_names, model_seeds

    for model in model_names(config):
        for seed in model_seeds(config, model):
            run = study / "results" / "models" / model / f"seed{seed}"
            info = json.loads((run / "training.json").read_text())
            assert 1 <= info["epochs_run"] <= config["training"]["epochs"]
            assert info["n_parameters"] > 0
            history = (run / "history.csv").read_text().splitlines()
            assert len(history) == info["epochs_run"] + 1  # header + one line per epoch


def test_simulation_matches_the_config(study, config):
    from airshower import io

    showers = io.read_showers(study / "results" / "data" / "showers.h5")
    n = config["simulation"]["n_events"]
    assert len(showers["energy"]) == n
    lo, hi = config["simulation"]["log10_energy_ev"]
    log_e = np.log10(showers["energy"].astype(np.float64)) + 18
    assert log_e.min() >= lo - 1e-6
    assert log_e.max() <= hi + 1e-6
    splits = [
        io.read_h5(study / "results" / "data" / f"{s}.h5", ["index"])["index"]
        for s in ("train", "val", "test")
    ]
    assert sorted(np.concatenate(splits).tolist()) == list(range(n))


def test_every_target_has_its_table_and_figures(study, config):
    from airshower.plotting.targets import TARGET_FIGURES
    from airshower.study import study_targets, target_models

    targets = study_targets(config)
    assert targets == ["energy", "direction", "core", "xmax", "mass", "muon"]  # the tiny study has them all
    for target in targets:
        summary = json.loads((study / "results" / "targets" / target / "summary.json").read_text())
        assert summary["model_order"] == target_models(config, target)
        md = (study / "results" / "targets" / target / "summary.md").read_text()
        for model in summary["model_order"]:
            assert f"| {model} " in md
        for stem in TARGET_FIGURES[target]:
            assert (study / "results" / "figures" / "targets" / target / f"{stem}.png").is_file()
    # the classical fit is a real reconstruction of the direction and the core, also in the study
    direction = json.loads((study / "results" / "targets" / "direction" / "summary.json").read_text())
    assert 0.05 < direction["models"]["baseline"]["overall"]["psi68_deg"]["mean"] < 3.0
    core = json.loads((study / "results" / "targets" / "core" / "summary.json").read_text())
    assert 1.0 < core["models"]["baseline"]["overall"]["r68_m"]["mean"] < 100.0


def test_predictions_carry_each_models_reconstructions(study, config):
    import h5py

    from airshower.study import model_names, model_seeds, model_targets
    from airshower.targets import TARGETS

    for model in [*model_names(config), "baseline"]:
        for seed in model_seeds(config, model):
            with h5py.File(study / "results" / "models" / model / f"seed{seed}" / "predictions.h5") as fh:
                have = set(fh)
                n = len(fh["energy_true"])
                for target in model_targets(config, model):
                    name = TARGETS[target].predicted
                    assert name in have, (model, target)
                    assert len(fh[name]) == n
                if "axis_pred" in have:  # unit vectors
                    np.testing.assert_allclose(np.linalg.norm(fh["axis_pred"][()], axis=1), 1.0, rtol=1e-9)
                if "mass_prob" in have:  # probabilities over the classes
                    np.testing.assert_allclose(fh["mass_prob"][()].sum(axis=1), 1.0, rtol=1e-5)


def test_widths_are_calibrated_on_the_validation_split_only(study):
    """calibrate_widths reads the validation predictions and nothing else, and those come from
    val.h5: a calibration on the test split cannot happen (the rules' inputs). Every test set
    but the validation split carries the calibrated width beside the raw one, the raw width
    as the model gave it."""
    import h5py

    from airshower import widths

    proc = snakemake(study, "-n", "--forceall", "--cores", "1")
    jobs = re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout)
    calibrations = [j for j in jobs if j.startswith("rule calibrate_widths:")]
    assert calibrations, proc.stdout[-3000:]
    for job in calibrations:
        (inputs,) = re.findall(r"^\s+input: (.*)$", job, re.MULTILINE)
        assert re.fullmatch(r"results/models/\w+/seed\d+/validation/predictions\.h5", inputs), job
    for job in jobs:
        outputs = re.findall(r"^\s+output: (.*)$", job, re.MULTILINE)
        if (
            outputs
            and "/validation/predictions.h5" in outputs[0]
            and job.startswith(("rule predict:", "rule baseline_predict:"))
        ):
            (inputs,) = re.findall(r"^\s+input: (.*)$", job, re.MULTILINE)
            assert "results/data/val.h5" in inputs, job
            assert "test.h5" not in inputs, job
            assert "widths.json" not in inputs, job
    for path in sorted((study / "results" / "models").glob("*/seed*/widths.json")):
        record = json.loads(path.read_text())
        assert record["source"].endswith("validation/predictions.h5")
        run = path.parent
        with h5py.File(run / "validation" / "predictions.h5") as fh:
            assert "energy_sigma_calibrated" not in fh
        for predictions in [run / "predictions.h5", *run.glob("variants/*/predictions.h5")]:
            pred = predictionfile.read_predictions(predictions)
            raw = {k: v for k, v in pred.items() if not k.endswith("_calibrated")}
            expected = widths.apply(raw, record)
            assert set(expected) == {k for k in pred if k.endswith("_calibrated")}
            for name, values in expected.items():
                np.testing.assert_allclose(pred[name], values, rtol=0)
        for target, entry in record["targets"].items():  # the metrics evaluate both widths
            metrics = json.loads((run / "metrics" / f"{target}.json").read_text())
            assert metrics["uncertainty"]["width"] == entry["calibrated"]
            assert metrics["uncertainty_raw"]["width"] == entry["width"]


def test_target_setting_reruns_only_that_target(study):
    cfg = yaml.safe_load((study / "config" / "test.yaml").read_text())
    cfg["targets"] = {"direction": {"zenith_bins_deg": [0, 30, 60]}}
    (study / "config" / "zenith.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(study, "--configfile", "config/zenith.yaml", "-n", "--quiet", "rules", "--cores", "1")
    planned = {m[1] for m in re.finditer(r"^(\w+)\s+\d+$", proc.stdout, re.MULTILINE)} - {"total"}
    assert "metrics" in planned, proc.stdout
    assert planned <= {"metrics", "summary", "plot_target", "front_page", "all"}, proc.stdout
    jobs = re.findall(r"results/models/\S+/metrics/(\w+)\.json", proc.stdout)
    assert set(jobs) <= {"direction"}, proc.stdout


def test_adding_a_variant_runs_only_its_jobs(study):
    cfg = yaml.safe_load((study / "config" / "test.yaml").read_text())
    cfg["systematics"]["run"] = [*cfg["systematics"]["run"], "scale+5"]
    (study / "config" / "variant.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(study, "--configfile", "config/variant.yaml", "-n", "--cores", "1")
    planned = set(re.findall(r"^rule (\w+):", proc.stdout, re.MULTILINE))
    variant_rules = {"simulate_variant", "prepare_variant", "predict", "ensemble"}
    variant_rules |= {"baseline_predict", "systematics_shifts"}
    assert "simulate_variant" in planned, proc.stdout
    tables = {"systematics_table", "plot_systematics", "plot_robustness"}
    assert planned <= {*variant_rules, *tables, "all"}, proc.stdout
    outputs = re.findall(r"^\s+output: (.*)$", proc.stdout, re.MULTILINE)
    per_variant = [o for o in outputs if "variants/" in o]
    assert per_variant, proc.stdout
    assert all("variants/scale+5/" in o for o in per_variant), per_variant


def test_every_figure_is_a_real_png(study):
    import matplotlib.image as mpimg

    figures = sorted((study / "results" / "figures").rglob("*.png"))
    assert len(figures) >= 5
    for path in figures:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        image = mpimg.imread(path)
        assert min(image.shape[:2]) > 100, path
        assert image[..., :3].std() > 0.01, f"{path} is blank"


def test_report_contains_every_figure(study):
    html = (study / "report.html").read_text()
    figures = sorted((study / "results" / "figures").rglob("*.png"))
    for path in figures:
        assert path.name in html, f"{path.name} missing from report.html"


def test_lint_reports_nothing(study):
    proc = snakemake(study, "--configfile", "config/test.yaml", "--lint", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Lints for" not in out, out


def test_plot_setting_reruns_only_plots(study):
    cfg = yaml.safe_load((study / "config" / "test.yaml").read_text())
    cfg["plots"]["dpi"] = cfg["plots"]["dpi"] + 10
    (study / "config" / "changed.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(study, "--configfile", "config/changed.yaml", "-n", "--quiet", "rules", "--cores", "1")
    # the job-stats table: one "rule count" row per planned rule
    planned = {m[1] for m in re.finditer(r"^(\w+)\s+\d+$", proc.stdout, re.MULTILINE)} - {"total"}
    assert planned, proc.stdout
    assert all(rule.startswith("plot_") for rule in planned - {"all"}), proc.stdout


def test_bad_config_stops_before_any_job(tmp_path):
    workdir = copy_repo(tmp_path)
    cfg = yaml.safe_load((workdir / "config" / "test.yaml").read_text())
    cfg["preparation"]["fractions"]["test"] = 0.5
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, "--configfile", "config/bad.yaml", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "preparation.fractions" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """config/traces.yaml (protons and iron with their recorded traces; the footprint CNN and the
    trace CNN, each reconstructing energy, Xmax, the muon content and the mass) at a tiny size: it
    also stands for config/composition.yaml (protons and iron; energy, Xmax and mass), whose
    footprint network is the same but for the muon target."""
    workdir = copy_repo(tmp_path_factory.mktemp("traces"))
    cfg = yaml.safe_load((workdir / "config" / "traces.yaml").read_text())
    cfg["simulation"].update(n_events=900, n_shards=1, block_size=300)
    # 900 showers with traces need 150 MB to prepare and the trace network's inputs 106 MB, the
    # footprint CNN's 57 MB: the preparation works in blocks, the trace network reads from disk
    cfg["preparation"]["memory_budget_mb"] = 100
    cfg["training"].update(seeds=[1], epochs=2, threads=1)
    cfg["evaluation"]["bootstrap"] = 10
    cfg["plots"]["dpi"] = 50
    (workdir / "config" / "tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(workdir, "--configfile", "config/tiny.yaml", "--cores", "2")
    return workdir


def test_composition_study_reconstructs_energy_xmax_and_mass(traces):
    results = traces / "results"
    mass = json.loads((results / "targets" / "mass" / "summary.json").read_text())
    assert mass["model_order"] == ["cnn_footprint", "cnn_traces"]
    pair = mass["models"]["cnn_footprint"]["pairs"]["1_56"]
    assert 0.0 <= pair["auc"]["mean"] <= 1.0
    assert pair["merit_xmax_reco"]["mean"] is not None  # the model reconstructs Xmax too
    xmax = json.loads((results / "targets" / "xmax" / "summary.json").read_text())
    assert np.isfinite(xmax["models"]["cnn_footprint"]["overall"]["resolution_gcm2"]["mean"])
    # its Xmax width (widths: [xmax, muon]), calibrated on the validation split, and its figure
    width = xmax["models"]["cnn_footprint"]["uncertainty"]
    assert width["width"] == "xmax_sigma_calibrated"
    assert 0.4 < width["overall"]["coverage68"]["mean"] < 0.95
    assert (results / "figures" / "targets" / "xmax" / "coverage_vs_energy.png").is_file()
    with open(results / "summary.csv") as fh:
        assert [row["model"] for row in csv.DictReader(fh)] == ["cnn_footprint", "cnn_traces", "baseline"]
    for stem in ("roc", "confusion", "merit"):
        assert (results / "figures" / "targets" / "mass" / f"{stem}.png").is_file()


def test_traces_study_reads_the_traces_and_reconstructs_the_muon_content(traces):
    results = traces / "results"
    assert "above the budget: block by block" in (traces / "logs" / "prepare.log").read_text()
    logs = traces / "logs" / "train"
    assert "read from disk" in (logs / "cnn_traces" / "seed1.log").read_text()
    assert "read from disk" not in (logs / "cnn_footprint" / "seed1.log").read_text()
    showers = io.read_showers(results / "data" / "showers.h5", traces=True)
    assert showers["trace"].shape == (900, 14, 14, 80)
    norm = json.loads((results / "data" / "normalization.json").read_text())
    assert norm["channels"][-80:] == [f"trace_{b:02d}" for b in range(80)]

    def parameters(model: str) -> int:
        return json.loads((results / "models" / model / "seed1" / "training.json").read_text())[
            "n_parameters"
        ]

    assert parameters("cnn_traces") > parameters("cnn_footprint")  # the trace encoder on the same CNN
    muon = json.loads((results / "targets" / "muon" / "summary.json").read_text())
    assert muon["model_order"] == ["cnn_footprint", "cnn_traces"]
    for model in muon["model_order"]:
        assert np.isfinite(muon["models"][model]["overall"]["resolution_pct"]["mean"])
        assert muon["models"][model]["uncertainty"]["width"] == "muon_sigma_calibrated"
    pair = json.loads((results / "targets" / "mass" / "summary.json").read_text())["models"]["cnn_traces"]
    pair = pair["pairs"]["1_56"]
    for merit in ("merit_muon_true", "merit_muon_reco", "merit_combined_true", "merit_combined_reco"):
        assert pair[merit]["mean"] is not None, merit
    assert pair["merit_combined_true"]["mean"] >= pair["merit_muon_true"]["mean"] - 1e-9
    assert pair["merit_muon_true"]["mean"] > 2.5  # the toy's muon number separates p and Fe
    assert (results / "figures" / "targets" / "muon" / "muon_vs_energy.png").is_file()


def test_rules_are_declarative():
    """Named input functions instead of lambdas, wildcard constraints instead of ruleorders, one
    rule over a wildcard instead of rules made in a loop (the study's rule files)."""
    from conftest import ROOT

    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        assert "lambda" not in text, path.name
        assert "ruleorder" not in text, path.name
        assert not re.search(r"^\s*for .*:\s*\n(\s*\n)*\s+rule", text, re.MULTILINE), path.name
