"""The HTML report of the test study, opened in a real headless Chromium.

Every figure the workflow declares for the report must be embedded, listed under its category
and actually render as an image. Screenshots of the start page and of each category are kept
in results/test-artifacts/ (or $REPORT_ARTIFACTS) so a failure can be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ROOT
from report_browser import chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.workflow, pytest.mark.slow]

CATEGORIES = {
    "0 Summary",
    "1 Data",
    "2 Training",
    "3 Performance",
    "4 Energy",
    "5 Direction",
    "6 Core",
    "7 Xmax",
    "8 Mass",
    "8 Muon content",
    "9 Systematics",
}


@pytest.fixture(scope="module")
def walked(study):
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is in requirements.txt")
    from report_browser import walk_report

    artifacts = Path(os.environ.get("REPORT_ARTIFACTS", ROOT / "results" / "test-artifacts"))
    return walk_report(study / "report.html", artifacts)


def test_every_figure_renders_in_the_browser(study, walked):
    figures = sorted(p.relative_to(study).as_posix() for p in (study / "results" / "figures").rglob("*.png"))
    embedded = sorted(n for n in walked["results"] if n.endswith(".png"))
    assert embedded == figures
    assert sorted(walked["rendered"]) == figures, "figures listed but not rendered"
    for name, (width, height) in walked["rendered"].items():
        assert width > 300, name
        assert height > 200, name


def test_report_is_organized_by_category(walked):
    assert set(walked["categories"]) == CATEGORIES
    performance = walked["categories"]["3 Performance"]
    assert "baseline" in performance
    assert "fcn" in performance
    assert any(n.endswith("summary.csv") for n in walked["results"])


def test_every_target_has_a_figure_in_the_report(walked):
    from airshower.plotting.targets import TARGET_FIGURES

    for target, stems in TARGET_FIGURES.items():
        for stem in stems:
            name = f"results/figures/targets/{target}/{stem}.png"
            assert name in walked["rendered"], f"{name} is not rendered in the report"


def test_screenshots_were_kept(walked):
    for shot in walked["screenshots"]:
        assert shot.stat().st_size > 5000, shot
