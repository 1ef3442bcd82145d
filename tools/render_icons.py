"""Render the app icons (static/icons/*.svg) to the PNG sizes the manifest and iOS need.

Run after changing an SVG: `.venv/bin/python tools/render_icons.py` (uses Debian's Chromium).
The PNGs are committed, so neither `make run` nor CI needs this step.
"""

from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"
OUTPUTS = [
    ("icon.svg", "icon-192.png", 192),
    ("icon.svg", "icon-512.png", 512),
    ("maskable.svg", "maskable-512.png", 512),
    ("maskable.svg", "apple-touch-icon.png", 180),  # iOS rounds the corners itself
]


def main() -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        for source, target, size in OUTPUTS:
            page = browser.new_page(viewport={"width": size, "height": size})
            svg = (ICONS / source).read_text()
            page.set_content(
                f"<html><body style='margin:0;background:transparent'>"
                f"<div style='width:{size}px;height:{size}px'>{svg}</div></body></html>"
            )
            page.locator("svg").evaluate(f"s => {{ s.setAttribute('width', {size}); "
                                         f"s.setAttribute('height', {size}); }}")
            page.screenshot(path=str(ICONS / target), omit_background=True,
                            clip={"x": 0, "y": 0, "width": size, "height": size})
            page.close()
            print(f"wrote {target}")
        browser.close()


if __name__ == "__main__":
    main()
