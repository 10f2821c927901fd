"""Draw the images of the shipped templates (templates/assets/) from shapes, with numpy only.

    .venv/bin/python tools/draw_email_assets.py

Each picture is drawn three times larger and averaged down (smooth edges), then written as an
RGB PNG (zlib, one PNG filter per row chosen by the usual smallest-sum rule). The pictures are
made here, by this project, and are under the project's licence (MIT); see
templates/assets/LICENSE.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Colour = tuple[int, int, int]
Point = tuple[float, float]
Mask = NDArray[np.bool_]
SCALE = 3
ASSETS = Path(__file__).resolve().parent.parent / "templates" / "assets"


def hex_colour(value: str) -> Colour:
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


class Canvas:
    """A picture `width` × `height` drawn at SCALE times its size, in picture coordinates."""

    def __init__(self, width: int, height: int, background: str) -> None:
        self.width, self.height = width, height
        self.pixels = np.empty((height * SCALE, width * SCALE, 3), dtype=np.float32)
        self.pixels[:] = hex_colour(background)
        rows, cols = np.mgrid[0 : height * SCALE, 0 : width * SCALE].astype(np.float32)
        self.y = (rows + 0.5) / SCALE
        self.x = (cols + 0.5) / SCALE

    def fill(self, mask: Mask, colour: str) -> None:
        self.pixels[mask] = hex_colour(colour)

    def polygon(self, points: Sequence[Point], colour: str) -> None:
        self.fill(self.inside_polygon(points), colour)

    def inside_polygon(self, points: Sequence[Point]) -> Mask:
        """Even-odd rule, one edge at a time over the whole grid."""
        inside = np.zeros(self.x.shape, dtype=bool)
        for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
            if y1 == y2:
                continue
            crosses = (self.y >= min(y1, y2)) & (self.y < max(y1, y2))
            at_x = x1 + (self.y - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (self.x < at_x)
        return inside

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: str) -> None:
        self.fill(((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1.0, colour)

    def rounded_rect(
        self, x1: float, y1: float, x2: float, y2: float, radius: float, colour: str
    ) -> None:
        nearest_x = np.clip(self.x, x1 + radius, x2 - radius)
        nearest_y = np.clip(self.y, y1 + radius, y2 - radius)
        distance = (self.x - nearest_x) ** 2 + (self.y - nearest_y) ** 2
        self.fill(distance <= radius**2, colour)

    def line(self, points: Sequence[Point], width: float, colour: str) -> None:
        """A polyline `width` wide with round joins."""
        mask = np.zeros(self.x.shape, dtype=bool)
        for (x1, y1), (x2, y2) in itertools.pairwise(points):
            dx, dy = x2 - x1, y2 - y1
            length = max(dx * dx + dy * dy, 1e-9)
            t = np.clip(((self.x - x1) * dx + (self.y - y1) * dy) / length, 0.0, 1.0)
            distance = (self.x - (x1 + t * dx)) ** 2 + (self.y - (y1 + t * dy)) ** 2
            mask |= distance <= (width / 2) ** 2
        self.fill(mask, colour)

    def picture(self) -> NDArray[np.uint8]:
        """The picture at its size: each SCALE × SCALE block averaged."""
        blocks = self.pixels.reshape(self.height, SCALE, self.width, SCALE, 3)
        picture: NDArray[np.uint8] = np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)
        return picture


def png_bytes(picture: NDArray[np.uint8]) -> bytes:
    """An RGB PNG; each row filtered with None, Sub or Up, whichever sums smallest."""
    height, width, _ = picture.shape
    rows = picture.reshape(height, width * 3).astype(np.int16)
    previous = np.vstack([np.zeros((1, width * 3), dtype=np.int16), rows[:-1]])
    left = np.hstack([np.zeros((height, 3), dtype=np.int16), rows[:, :-3]])
    candidates = [rows % 256, (rows - left) % 256, (rows - previous) % 256]
    scores = [np.minimum(c, 256 - c).sum(axis=1) for c in candidates]
    choice = np.argmin(np.vstack(scores), axis=0)
    raw = bytearray()
    for index in range(height):
        raw.append(int(choice[index]))
        raw += candidates[int(choice[index])][index].astype(np.uint8).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def logo() -> Canvas:
    """A teal disc with a mountain over a fjord."""
    canvas = Canvas(96, 96, "#f4f1ec")
    canvas.ellipse(48, 48, 46, 46, "#1f4e5f")
    canvas.polygon([(14, 62), (38, 28), (50, 44), (60, 34), (82, 62)], "#f4f1ec")
    canvas.polygon([(38, 28), (45, 38), (40, 36), (35, 40), (32, 37)], "#1f4e5f")
    canvas.line([(18, 70), (30, 66), (42, 70), (54, 66), (66, 70), (78, 66)], 4, "#9cc3c9")
    return canvas


def oxford_shirt() -> Canvas:
    canvas = Canvas(536, 400, "#e6edf1")
    body = [(268, 70), (340, 80), (420, 120), (455, 235), (410, 250), (385, 175), (385, 360)]
    body += [(151, 360), (151, 175), (126, 250), (81, 235), (116, 120), (196, 80)]
    canvas.polygon(body, "#fdfdfb")
    canvas.line([*body, body[0]], 3, "#b8c7cf")
    canvas.polygon([(196, 80), (268, 70), (240, 125)], "#eef2f4")
    canvas.polygon([(340, 80), (268, 70), (296, 125)], "#eef2f4")
    canvas.line([(196, 80), (240, 125), (268, 95), (296, 125), (340, 80)], 3, "#b8c7cf")
    canvas.line([(268, 95), (268, 360)], 3, "#b8c7cf")
    for y in (140, 185, 230, 275, 320):
        canvas.ellipse(280, y, 5, 5, "#9fb3be")
    canvas.rounded_rect(300, 150, 350, 200, 4, "#eef2f4")
    canvas.line([(300, 150), (350, 150), (350, 200), (300, 200), (300, 150)], 2, "#b8c7cf")
    return canvas


def selvedge_jeans() -> Canvas:
    canvas = Canvas(536, 400, "#ece8e1")
    canvas.polygon(
        [(190, 40), (346, 40), (372, 370), (290, 370), (268, 150), (246, 370), (164, 370)],
        "#2c3e6b",
    )
    canvas.rounded_rect(186, 36, 350, 66, 4, "#23335a")
    canvas.ellipse(268, 51, 6, 6, "#c9a24b")
    for x in (208, 240, 296, 328):
        canvas.rounded_rect(x - 4, 34, x + 4, 70, 2, "#1c2a4b")
    canvas.line([(198, 90), (230, 110), (262, 96)], 3, "#c9a24b")
    canvas.line([(338, 90), (306, 110), (274, 96)], 3, "#c9a24b")
    for x1, x2 in ((164, 246), (290, 372)):
        canvas.rounded_rect(x1 - 2, 344, x2 + 2, 372, 3, "#3b5286")
        canvas.line([(x1 + 4, 358), (x2 - 4, 358)], 3, "#f4f1ec")
        canvas.line([(x1 + 4, 364), (x1 + 22, 364)], 3, "#b53a3a")
    canvas.line([(268, 66), (268, 150)], 2, "#1c2a4b")
    return canvas


def merino_sweater() -> Canvas:
    canvas = Canvas(536, 400, "#efe9df")
    body = [(200, 70), (336, 70), (420, 110), (460, 300), (412, 312), (380, 180), (380, 350)]
    body += [(156, 350), (156, 180), (124, 312), (76, 300), (116, 110)]
    canvas.polygon(body, "#2f5d46")
    canvas.ellipse(268, 72, 52, 22, "#24493a")
    canvas.ellipse(268, 68, 40, 14, "#efe9df")
    canvas.rounded_rect(156, 325, 380, 352, 3, "#24493a")
    for x in range(164, 380, 12):
        canvas.line([(x, 328), (x, 349)], 2, "#2f5d46")
    for (x1, y1), (x2, y2) in (((76, 300), (124, 312)), ((412, 312), (460, 300))):
        canvas.line([(x1, y1 - 10), (x2, y2 - 10)], 16, "#24493a")
    for y in (150, 200, 250):
        canvas.line(
            [(190, y), (220, y + 14), (250, y), (280, y + 14), (310, y), (340, y + 14)],
            4,
            "#4a7d62",
        )
    return canvas


def leather_boots() -> Canvas:
    canvas = Canvas(536, 400, "#ebe6de")

    def boot(dx: float, shade: str, dark: str) -> None:
        canvas.polygon(
            [
                (dx + 70, 60),
                (dx + 150, 60),
                (dx + 160, 250),
                (dx + 230, 290),
                (dx + 236, 330),
                (dx + 60, 330),
                (dx + 66, 200),
            ],
            shade,
        )
        canvas.rounded_rect(dx + 56, 326, dx + 240, 348, 5, "#3a2a1e")
        canvas.rounded_rect(dx + 66, 56, dx + 154, 76, 4, dark)
        for y in range(100, 240, 24):
            canvas.ellipse(dx + 96, y, 4, 4, "#d9c6a5")
            canvas.ellipse(dx + 126, y, 4, 4, "#d9c6a5")
            canvas.line([(dx + 96, y), (dx + 126, y + 24)], 2, "#d9c6a5")
            canvas.line([(dx + 126, y), (dx + 96, y + 24)], 2, "#d9c6a5")
        canvas.line([(dx + 160, 250), (dx + 150, 300), (dx + 236, 310)], 3, dark)

    boot(20, "#8a5a34", "#6b4426")
    boot(240, "#9a6a40", "#6b4426")
    return canvas


def balloons() -> Canvas:
    canvas = Canvas(320, 320, "#ffffff")
    for (cx, cy), colour, knot in (
        ((110, 110), "#e07a5f", "#c4654b"),
        ((210, 100), "#1f4e5f", "#173c49"),
        ((160, 150), "#f2cc8f", "#d9b376"),
    ):
        canvas.line([(cx, cy + 62), (cx + 8, cy + 110), (160, 300)], 2, "#9a9a9a")
        canvas.polygon([(cx - 7, cy + 66), (cx + 7, cy + 66), (cx, cy + 56)], knot)
        canvas.ellipse(cx, cy, 48, 60, colour)
        canvas.ellipse(cx - 18, cy - 24, 9, 14, "#ffffff")
    return canvas


PICTURES: dict[str, Callable[[], Canvas]] = {
    "logo.png": logo,
    "favourites/oxford-shirt.png": oxford_shirt,
    "favourites/selvedge-jeans.png": selvedge_jeans,
    "favourites/merino-sweater.png": merino_sweater,
    "favourites/leather-boots.png": leather_boots,
    "birthday/balloons.png": balloons,
}


def main() -> None:
    for name, draw in PICTURES.items():
        target = ASSETS / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png_bytes(draw().picture()))
        print(f"{target.relative_to(ASSETS.parent.parent)}: {target.stat().st_size} bytes")


if __name__ == "__main__":
    main()
