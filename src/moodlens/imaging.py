"""Reading photos for analysis: any format Pillow knows, EXIF rotation applied, RGB uint8 out."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 64_000_000  # larger images are refused: a decompression bomb, or a panorama we should not hold
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


class ImageError(ValueError):
    """The file is not an image we can read, or it is too large."""


class ImageTooLarge(ImageError):
    """The image decodes, but has more pixels than allowed."""


def read_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Decode a file path or encoded bytes to an upright RGB uint8 array (H, W, 3)."""
    name = name or ("upload" if isinstance(source, bytes) else str(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
            if image.width * image.height > max_pixels:
                raise ImageTooLarge(f"{name}: {image.width}x{image.height} is over the {max_pixels:,}-pixel limit")
            image = ImageOps.exif_transpose(image).convert("RGB")
            return np.asarray(image)
    except ImageError:
        raise
    except FileNotFoundError as e:
        raise ImageError(f"{name}: no such file") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not a readable image (unknown or damaged format)") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: not a readable image ({e})") from e


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
