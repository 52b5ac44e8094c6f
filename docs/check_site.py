"""Open the built site in headless Chromium and check what a reader would see.

    python docs/check_site.py docs/_build/html [--screenshots DIR]

For the index and one gallery page: the page renders (a title and its main
text), every image on it loads (complete, with a natural size), and the
browser console shows no error. Exit status 1, with what failed, if any
check fails. Needs Debian's ``chromium`` and ``chromium-driver`` and the
``selenium`` package (CI installs them).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

PAGES = {
    "index.html": "convreg",
    "auto_examples/corr2d_and_edges.html": "Cross-correlation and edge detection",
    "auto_examples/lenet_digits.html": "LeNet on handwritten digits",
}


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
                "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


def check_page(driver, url: str, heading: str) -> list[str]:
    problems = []
    driver.get(url)
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load
    driver.execute_script("window.scrollTo(0, 0)")
    title = driver.title
    h1 = driver.execute_script(
        "const h = document.querySelector('h1'); return h ? h.textContent : ''")
    if heading not in title and heading not in h1:
        problems.append(f"the page's title {title!r} and heading {h1!r} lack {heading!r}")
    text = driver.execute_script("return document.body.innerText.length")
    if text < 200:
        problems.append(f"only {text} characters of text rendered")
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete,"
        " i.naturalWidth])")
    for src, complete, width in images:
        if not complete or not width:
            problems.append(f"image {src} did not load")
    if "auto_examples/" in url and "edge" in url and not images:
        problems.append("the gallery page shows no figure")
    for entry in driver.get_log("browser"):
        if entry["level"] in ("SEVERE", "ERROR"):
            problems.append(f"console: {entry['message']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=pathlib.Path, help="the built HTML (docs/_build/html)")
    parser.add_argument("--screenshots", type=pathlib.Path,
                        help="save a PNG of each page here, to look at")
    args = parser.parse_args(argv)
    driver = browser()
    failed = False
    try:
        for page, heading in PAGES.items():
            path = (args.site / page).resolve()
            if not path.exists():
                print(f"{page}: missing (was the site built?)")
                failed = True
                continue
            problems = check_page(driver, path.as_uri(), heading)
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                shot = args.screenshots / (page.replace("/", "_").replace(".html", ".png"))
                driver.save_screenshot(str(shot))
            print(f"{page}: " + ("ok" if not problems else "FAILED"))
            for p in problems:
                print(f"  {p}")
            failed |= bool(problems)
    finally:
        driver.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
