"""A validated request with its images decoded: what backends receive."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from model_server.api import AnalyzeRequest, ImageQuality
from model_server.errors import ImageTooLarge, InvalidImage
from model_server.images import decode_image
from model_server.quality import assess_image


@dataclass
class PreparedRequest:
    """One request ready for a backend: decoded upright RGB images and one quality verdict per image."""

    request: AnalyzeRequest
    images: list[Image.Image]
    image_quality: list[ImageQuality] = field(default_factory=list)


def prepare_request(request: AnalyzeRequest, image_bytes: list[bytes]) -> PreparedRequest:
    """Decode every image and grade its quality. Blocking (Pillow): call it off the event loop.

    Raises `InvalidImage` or `ImageTooLarge` naming the image's position (1-based).
    """
    images: list[Image.Image] = []
    for position, data in enumerate(image_bytes, start=1):
        try:
            images.append(decode_image(data))
        except (InvalidImage, ImageTooLarge) as exc:
            raise type(exc)(f"image {position}: {exc.message}") from None
    quality = [assess_image(image).verdict for image in images]
    return PreparedRequest(request=request, images=images, image_quality=quality)
