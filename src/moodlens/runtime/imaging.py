"""Reading photos for analysis: any format Pillow knows, EXIF rotation applied, RGB uint8 out."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from moodlens.runtime.errors import MoodlensError

MAX_PIXELS = 64_000_000  # larger images are refused: a decompression bomb, or a panorama we should not hold
# what analysis looks for in folders and training reads from class folders (all of them Pillow decodes)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}


class ImageError(MoodlensError):
    """The file is not an image we can read, or it is too large."""


class ImageTooLarge(ImageError):
    """The image decodes, but has more pixels than allowed."""


def read_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Decode a file path or encoded bytes to an upright RGB uint8 array (H, W, 3)."""
    name = name or ("upload" if isinstance(source, bytes) else str(source))
    too_large = ImageTooLarge(f"{name}: the image is over the {max_pixels:,}-pixel limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
            if image.width * image.height > max_pixels:
                raise too_large
            ImageOps.exif_transpose(image, in_place=True)  # turns the image only where EXIF asks, without a copy
            if image.mode.startswith("I"):  # 16- or 32-bit greyscale: scale to 8 bits instead of clipping
                return to_rgb8(np.asarray(image))
            return to_rgb_array(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise too_large from e  # Pillow's own guard, for images far over any limit of ours
    except FileNotFoundError as e:
        raise ImageError(f"{name}: no such file") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not a readable image (unknown or damaged format)") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name}: not a readable image ({e})") from e


def image_pixels(data: bytes) -> int:
    """The pixels encoded bytes will decode to, from their header alone (0 where it cannot be read)."""
    try:
        width, height = Image.open(io.BytesIO(data)).size
        return width * height
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0


def to_rgb_array(image: Image.Image, rows: int = 256) -> np.ndarray:
    """The image as an RGB uint8 array, converted strip by strip into one array: np.asarray(image) goes
    through Pillow's tobytes(), which holds two more copies of the whole image at its peak."""
    out = np.empty((image.height, image.width, 3), np.uint8)
    for top in range(0, image.height, rows):
        strip = image.crop((0, top, image.width, min(image.height, top + rows)))
        out[top : top + rows] = np.asarray(strip if strip.mode == "RGB" else strip.convert("RGB"))
    return out


def to_rgb8(grey: np.ndarray) -> np.ndarray:
    """A 16-bit (or wider integer) greyscale image as RGB uint8, its full range mapped onto 0-255."""
    top = 65535 if grey.max(initial=0) <= 65535 else int(grey.max())
    scaled = (grey.astype(np.float32) * (255 / top)).round().clip(0, 255).astype(np.uint8)
    return np.repeat(scaled[..., None], 3, axis=2)


def sniff_format(data: bytes) -> str | None:
    """The format encoded bytes are in, from their first bytes (whatever a client declares): jpeg, png,
    webp, bmp, or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM"):
        return "bmp"
    return None


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
