"""Draw the app's PNG icons (web/icons/) from the favicon's design (web/favicon.svg): a blue
rounded square with a white 集. Run once when the design changes; the PNGs are committed, so
neither the server nor a browser needs this script or Pillow.

    .venv/bin/python scripts/make_icons.py [--font PATH]

"any" icons keep the favicon's rounded corners (transparent outside). Maskable icons fill the
whole square and keep the glyph inside the central 80% circle that launchers never crop
(https://www.w3.org/TR/appmanifest/#icon-masks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "web" / "icons"
BLUE = "#1d4ed8"
WHITE = "#ffffff"
#: Debian's fonts-noto-cjk; any font with the glyph 集 will do.
DEFAULT_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
#: The favicon's proportions, on its 64-unit grid: corner radius 14, glyph 38 high.
RADIUS = 14 / 64
GLYPH = 38 / 64
#: A maskable icon's glyph is shrunk so that it sits well inside the 80% safe circle.
MASKABLE_GLYPH = 0.42


def draw(size: int, font_path: str, *, maskable: bool) -> Image.Image:
    # Drawn at 4x and scaled down: Pillow's shapes have no anti-aliasing of their own.
    big = size * 4
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        pen.rectangle((0, 0, big, big), fill=BLUE)
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(big * RADIUS), fill=BLUE)
    font = ImageFont.truetype(font_path, round(big * (MASKABLE_GLYPH if maskable else GLYPH)))
    pen.text((big / 2, big / 2), "集", font=font, fill=WHITE, anchor="mm")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--font", default=DEFAULT_FONT)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for size in (192, 512):
        draw(size, args.font, maskable=False).save(OUT / f"icon-{size}.png", optimize=True)
        draw(size, args.font, maskable=True).save(OUT / f"maskable-{size}.png", optimize=True)
    print(f"wrote {sorted(p.name for p in OUT.glob('*.png'))}")


if __name__ == "__main__":
    main()
