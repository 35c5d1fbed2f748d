"""The workflow used as someone else's: deployed as a Snakemake module into a fresh directory (the
layout `snakedeploy deploy-workflow` writes: workflow/Snakefile with a `module` block and
`use rule * from`, the config copied into config/), run on showers made elsewhere
(config/external.yaml: resources/example_showers.h5 instead of the simulation); and a broken
external file stopping the run before any other job, naming the dataset."""

import importlib.util
import json
import shutil

import h5py
import numpy as np
import pytest

from airshower import io
from conftest import ROOT, snakemake

DEPLOYED_SNAKEFILE = f"""\
configfile: "config/config.yaml"


module airshower:
    snakefile:
        "{ROOT}/workflow/Snakefile"
    config:
        config


use rule * from airshower as airshower_*
"""


def deploy(dest):
    """What snakedeploy writes (a local path instead of github(...)) and the user's own inputs."""
    (dest / "workflow").mkdir(parents=True)
    (dest / "workflow" / "Snakefile").write_text(DEPLOYED_SNAKEFILE)
    (dest / "config").mkdir()
    shutil.copy2(ROOT / "config" / "external.yaml", dest / "config" / "config.yaml")
    shutil.copytree(ROOT / "resources", dest / "resources")
    return dest


# the deployment runs its networks under JAX where it is installed (make test installs it): the
# workflow's jobs under another Keras backend than the default, through the environment
BACKEND = "jax" if importlib.util.find_spec("jax") else "tensorflow"
# the study's tables; its figures read the same files whichever way the workflow was deployed
TABLES = ("results/summary.md", "results/systematics.md")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    workdir = deploy(tmp_path_factory.mktemp("deployed"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_BACKEND", BACKEND)
        snakemake(workdir, "--cores", "2", *TABLES)
    return workdir


@pytest.mark.workflow
@pytest.mark.slow
def test_the_module_runs_the_study_on_external_showers(deployed):
    """Every job ran in the deployer's directory; the showers are the file's, byte for byte
    (nothing simulated); the tables compare the networks and the baseline."""
    data = deployed / "results" / "data"
    assert (data / "showers.h5").read_bytes() == (ROOT / "resources" / "example_showers.h5").read_bytes()
    assert not (data / "shards").exists()
    assert not (deployed / "logs" / "simulate").exists()
    summary = (deployed / "results" / "summary.md").read_text()
    for model in ("fcn", "cnn_multi", "baseline"):
        assert model in summary
    assert "dead10" in (deployed / "results" / "systematics.md").read_text()
    for model in ("fcn", "cnn_multi"):
        info = json.loads((deployed / "results" / "models" / model / "seed1" / "training.json").read_text())
        assert info["backend"] == BACKEND, model
        assert (
            f"Keras backend {BACKEND} on cpu:0"
            in (deployed / "logs" / "train" / model / "seed1.log").read_text()
        )


@pytest.mark.workflow
@pytest.mark.slow
def test_detector_variants_of_external_showers_are_its_test_events(deployed):
    """dead10: the nominal test split's showers, 10 % more stations dead, marked in `working`,
    the stations the file had dead still dead; scale+5: the same showers, signals x 1.05."""
    test_index = io.read_h5(deployed / "results" / "data" / "test.h5", ["index"])["index"]
    showers = io.read_showers(deployed / "results" / "data" / "showers.h5")
    dead10 = io.read_showers(deployed / "results" / "variants" / "dead10" / "showers.h5")
    np.testing.assert_array_equal(dead10["energy"], showers["energy"][test_index])
    was_dead = showers["working"][test_index] == 0
    assert was_dead.any()
    assert (dead10["working"][was_dead] == 0).all()
    # 20 stations drawn dead per event (10 % of 196), among them some dead already
    n_dead = (dead10["working"] == 0).sum(axis=(1, 2))
    assert (n_dead >= 20).all()
    assert (n_dead <= 20 + was_dead.sum(axis=(1, 2))).all()
    assert np.isnan(dead10["signal"][dead10["working"] == 0]).all()
    scaled = io.read_showers(deployed / "results" / "variants" / "scale+5" / "showers.h5")
    np.testing.assert_allclose(scaled["signal"], showers["signal"][test_index] * 1.05, rtol=1e-6)


@pytest.mark.workflow
@pytest.mark.slow
def test_a_broken_external_file_stops_before_any_other_job(tmp_path):
    """Times in ns instead of us: the import stops naming the dataset and its unit; no split, no
    training, nothing else ran."""
    workdir = deploy(tmp_path)
    with h5py.File(workdir / "resources" / "example_showers.h5", "r+") as fh:
        fh["time"].attrs["unit"] = "ns"
    proc = snakemake(workdir, "--cores", "2", check=False)
    assert proc.returncode != 0
    log = (workdir / "logs" / "import_showers.log").read_text()
    assert "example_showers.h5: dataset 'time' is in 'ns', the contract wants 'us'" in log
    assert not (workdir / "results" / "data" / "showers.h5").exists()
    assert not (workdir / "results" / "data" / "train.h5").exists()
    assert not (workdir / "results" / "models").exists()


@pytest.mark.parametrize("where", ["checkout", "AIRSHOWER_SOURCE", "nowhere"])
def test_the_conda_post_deploy_script_installs_this_checkout(tmp_path, where):
    """Snakemake runs workflow/envs/study.post-deploy.sh in each new rule environment (no conda on
    the CI machine: the script runs here with a `python` that records what it was asked): it
    installs this checkout, editable; from a copy elsewhere it needs AIRSHOWER_SOURCE."""
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/asked\n')
    (bin_dir / "python").chmod(0o755)
    script = ROOT / "workflow" / "envs" / "study.post-deploy.sh"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    env.pop("AIRSHOWER_SOURCE", None)
    if where != "checkout":  # a remote module: Snakemake runs a copy from a temporary folder
        script = shutil.copy(script, tmp_path / "copy.post-deploy.sh")
    if where == "AIRSHOWER_SOURCE":
        env["AIRSHOWER_SOURCE"] = str(ROOT)
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    if where == "nowhere":
        assert proc.returncode != 0
        assert "set AIRSHOWER_SOURCE" in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "asked").read_text().split() == [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--editable",
        str(ROOT),
    ]
