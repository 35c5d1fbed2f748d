#!/usr/bin/env bash
# Snakemake runs this once in every rule environment it creates from study.yaml
# (`--software-deployment-method conda`), with that environment active: it installs the
# `airshower` library, which the environment file cannot list (it is this repository, not a
# package of an index). Editable, so the jobs run the checkout's code as it is.
# Where the workflow is a module from a remote repository Snakemake runs a copy of this file
# from a temporary folder: then AIRSHOWER_SOURCE must name a checkout of this repository.
set -euo pipefail
source_dir="${AIRSHOWER_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ ! -f "$source_dir/pyproject.toml" ] || [ ! -d "$source_dir/src/airshower" ]; then
  echo "study.post-deploy.sh: $source_dir is not a checkout of the air-shower workflow;" \
    "set AIRSHOWER_SOURCE to one (git clone it next to your deployment)" >&2
  exit 1
fi
python -m pip install --quiet --no-deps --editable "$source_dir"
