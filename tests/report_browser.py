"""Drive a Snakemake HTML report in headless Chromium (Debian's, through Playwright).

Used by the report test: it walks Results -> category -> subcategory, opens every entry with
its "eye" button and records which figures actually render (a decoded image with a size).
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _rendered_results(page) -> dict[str, tuple[int, int]]:
    """Results of the report shown as decoded images on the page now: name -> (width, height)."""
    return page.evaluate(
        """() => {
            const shown = {};
            for (const img of document.querySelectorAll('img')) {
                if (!img.complete || img.naturalWidth === 0) continue;
                for (const [name, res] of Object.entries(results)) {
                    if (res.data_uri === img.src) shown[name] = [img.naturalWidth, img.naturalHeight];
                }
            }
            return shown;
        }"""
    )


def walk_report(report: Path, screenshot_dir: Path) -> dict:
    """Open every result of ``report``; return what was found and rendered.

    Returns
    -------
    dict with ``results`` (names embedded in the report), ``categories`` (category ->
    subcategory -> names), ``rendered`` (name -> (width, height) of the decoded image) and
    ``screenshots`` (paths written: the start page and one page per category).
    """
    from playwright.sync_api import sync_playwright

    screenshot_dir.mkdir(parents=True, exist_ok=True)
    found = {"rendered": {}, "screenshots": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(report.resolve().as_uri())
        page.wait_for_function("typeof results !== 'undefined' && typeof categories !== 'undefined'")
        found["results"] = page.evaluate("Object.keys(results)")
        found["categories"] = page.evaluate("categories")
        shot = screenshot_dir / "report_start.png"
        page.screenshot(path=str(shot))
        found["screenshots"].append(shot)
        for c_index, (category, subcategories) in enumerate(found["categories"].items()):
            for subcategory in subcategories:
                page.get_by_text("Results", exact=True).first.click()
                page.get_by_text(category, exact=True).first.click()
                if len(subcategories) > 1:
                    page.get_by_text(subcategory, exact=True).first.click()
                rows = page.locator("tr:has(a[iconname='eye'])")
                for i in range(rows.count()):
                    rows.nth(i).locator("a[iconname='eye']").click()
                    page.wait_for_timeout(150)
                    found["rendered"].update(_rendered_results(page))
            shot = screenshot_dir / f"report_category{c_index + 1}.png"
            page.screenshot(path=str(shot))
            found["screenshots"].append(shot)
        browser.close()
    return found
