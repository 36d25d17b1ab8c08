"""`galseg review` in a real browser: Debian's chromium, headless, driven by Playwright.

Playwright's own browser download is not used: the tests launch the system chromium
(``GALSEG_CHROMIUM``, else ``/usr/lib/chromium/chromium`` or ``chromium`` on the PATH),
which ``.ci/run`` installs. Without one the tests skip, saying so, except in CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import shutil

import pytest
from astropy.table import Table
from playwright.sync_api import Page, expect, sync_playwright

from _review_server import ReviewServer
from galseg.cli.main import main
from galseg.review.prepare import prepare_review
from galseg.review.report import outcome
from galseg.review.store import ReviewStore

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def chromium_executable() -> str | None:
    candidates = (os.environ.get("GALSEG_CHROMIUM"), "/usr/lib/chromium/chromium",
                  shutil.which("chromium"), shutil.which("chromium-browser"))
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    if executable is None:
        reason = "no chromium executable: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def review(review_sources, tmp_path):
    """10 pairs (model vs crowd), one invited reviewer: (folder, store, token)."""
    prepare_review(review_sources["model"], review_sources["crowd"], review_sources["images"],
                   tmp_path / "review", names=("model", "crowd"), keep_identical=True,
                   progress=False)
    store = ReviewStore(tmp_path / "review")
    return tmp_path / "review", store, store.add_reviewer("Browser Reviewer")


def _page(browser, viewport: dict[str, int], errors: list[str], **options) -> Page:
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def _settled(page: Page, progress: str) -> None:
    """Wait until the page shows ``progress`` and is ready for the next answer."""
    expect(page.locator("#progress-text")).to_have_text(progress)
    expect(page.locator("body")).not_to_have_class("busy")


def test_review_by_clicks_and_keys_with_undo_and_reload_then_report(browser, review,
                                                                    tmp_path, capsys):
    review_dir, store, token = review
    errors: list[str] = []
    with ReviewServer(review_dir, cli=True) as server:  # `galseg review serve` itself
        page = _page(browser, LAPTOP, errors)
        page.goto(f"{server.base}/r/{token}")
        assert page.url == f"{server.base}/"  # the token left the address bar
        _settled(page, "pair 1 of 10 · 0 done")
        expect(page.locator("#question")).to_have_text(
            "Which outline marks the spiral arms better?")
        # the image and the outlines of this reviewer's first pair, A on the left
        reviewer = store.reviewer_for_token(token)
        first = store.item(reviewer, 1)
        for side, paths in (("A", first["left"]), ("B", first["right"])):
            expect(page.locator(f".panel[data-side={side}] svg path")).to_have_count(
                2 * len(paths))
            # the picture loads after the outlines are drawn: wait for it, then check it
            image = f".panel[data-side={side}] img"
            page.wait_for_function(
                "s => { const i = document.querySelector(s); return i && i.complete"
                " && i.naturalWidth > 0; }", arg=image)
            assert page.locator(image).evaluate("img => img.naturalWidth") == first["width"]

        def click(label: str, progress: str) -> None:
            page.get_by_role("button", name=label).first.click()
            _settled(page, progress)

        def key(name: str, progress: str) -> None:
            page.keyboard.press(name)
            _settled(page, progress)

        click("A better", "pair 2 of 10 · 1 done")
        key("2", "pair 3 of 10 · 2 done")
        click("Both good", "pair 4 of 10 · 3 done")
        key("4", "pair 5 of 10 · 4 done")
        key("a", "pair 6 of 10 · 5 done")
        click("B better", "pair 7 of 10 · 6 done")
        key("u", "pair 6 of 10 · 5 done")  # undo "B better" on pair 6
        expect(page.locator("#message")).to_contain_text("Undone: pair 6 was “B better”")
        key("g", "pair 7 of 10 · 6 done")
        page.reload()  # stop and come back
        _settled(page, "pair 7 of 10 · 6 done")
        key("x", "pair 8 of 10 · 7 done")
        click("A better", "pair 9 of 10 · 8 done")
        # zoom on click, switch to B and back out; hide and show the outlines
        page.locator(".panel[data-side=A] .frame").click(position={"x": 100, "y": 120})
        expect(page.locator("#zoom")).to_be_visible()
        assert page.locator("#zoom-frame").bounding_box()["width"] > 2 * page.locator(
            ".panel[data-side=A] .frame").bounding_box()["width"]
        page.keyboard.press("b")
        expect(page.locator("[data-zoom=B]")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Escape")
        expect(page.locator("#zoom")).to_be_hidden()
        page.keyboard.press("o")
        expect(page.locator("body")).to_have_class("no-outlines")
        page.keyboard.press("o")
        key("1", "pair 10 of 10 · 9 done")
        click("Both bad", "10 of 10 done")
        expect(page.locator("#done")).to_be_visible()
        page.locator("#done button.undo").click()  # undo from the last screen
        _settled(page, "pair 10 of 10 · 9 done")
        key("b", "10 of 10 done")
        page.context.close()

    clicked = ["left", "right", "both_good", "both_bad", "left", "both_good", "both_bad",
               "left", "left", "right"]
    rows = store.choices()
    positions = {store.item(reviewer, k)["image_file"]: k for k in range(1, 11)}
    images = {p["name"]: p["image_file"] for p in store.pairs()}
    assert [r["choice"] for r in sorted(rows, key=lambda r: positions[images[r["pair"]]])
            ] == clicked
    assert len(store.choices(include_undone=True)) == 12  # the two undone rows are kept

    # the report counts exactly these choices, through the sides stored for each pair
    left_of = {p["name"]: p["left_source"] for p in store.pairs()}
    expected = {"a_better": 0, "b_better": 0, "both_good": 0, "both_bad": 0}
    for row in rows:
        expected[outcome(row["choice"], left_of[row["pair"]])] += 1
    assert main(["review", "report", str(review_dir), "--out", str(tmp_path / "report")]) == 0
    decisive = expected["a_better"] + expected["b_better"]
    assert (f"model preferred over crowd in {expected['a_better']} of {decisive} decisive"
            in capsys.readouterr().out)
    summary = Table.read(tmp_path / "report" / "summary.ecsv")
    counts = {(str(r["outcome"]), str(r["source"]) if r["source"] else ""): int(r["count"])
              for r in summary[summary["scope"] == "all"]}
    assert counts == {("preferred", "model"): expected["a_better"],
                      ("preferred", "crowd"): expected["b_better"],
                      ("both_good", ""): expected["both_good"],
                      ("both_bad", ""): expected["both_bad"]}
    assert summary.meta["n_choices"] == 10 and summary.meta["n_undone"] == 2
    assert not errors, errors


@pytest.mark.parametrize("viewport, options, min_width", [
    (LAPTOP, {}, 450),
    (PHONE, {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}, 230),
], ids=["laptop", "phone"])
def test_both_panels_and_the_buttons_fit_the_window(browser, review, viewport, options,
                                                    min_width, tmp_path):
    review_dir, _, token = review
    errors: list[str] = []
    with ReviewServer(review_dir) as server:
        page = _page(browser, viewport, errors, **options)
        page.goto(f"{server.base}/r/{token}")
        _settled(page, "pair 1 of 10 · 0 done")
        for side in ("A", "B"):
            frame = page.locator(f".panel[data-side={side}] .frame").bounding_box()
            # big enough to see arms, and both in view at once with the buttons
            assert frame["width"] >= min_width, (side, frame)
            assert frame["x"] >= 0 and frame["x"] + frame["width"] <= viewport["width"]
            assert frame["y"] >= 0 and frame["y"] + frame["height"] <= viewport["height"]
        for label in ("A better", "B better", "Both good", "Both bad"):
            box = page.get_by_role("button", name=label).bounding_box()
            assert box["y"] + box["height"] <= viewport["height"], label
        page.screenshot(path=str(tmp_path / "page.png"))
        page.context.close()
    assert not errors, errors


def test_a_wrong_link_shows_nothing_in_the_browser(browser, review):
    review_dir, _, token = review
    with ReviewServer(review_dir) as server:
        page = _page(browser, LAPTOP, [])
        response = page.goto(f"{server.base}/r/{token[::-1]}")
        assert response.status == 403
        assert page.locator("img").count() == 0
        response = page.goto(f"{server.base}/")
        assert response.status == 403 and "review link" in page.content()
        page.context.close()
