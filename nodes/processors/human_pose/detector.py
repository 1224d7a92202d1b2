"""Person boxes from RT-DETR, with the image processor's resize and score decoding done in torch
on the device (no PIL, no host copies), for a whole chunk of frames at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import RTDetrForObjectDetection

from nodes.processors.human_pose.files import (
    ImageSettings,
    detector_folder,
    image_settings,
    load_detector,
)


@dataclass(frozen=True)
class PersonBoxes:
    """The `max_people` best-scoring person boxes of each frame, valid or not (static shapes:
    no host sync to count people)."""

    boxes: torch.Tensor
    """float32 `[T, P, 4]`: x0, y0, x1, y1 in frame pixels (the processor's Pascal VOC boxes)."""
    scores: torch.Tensor
    """float32 `[T, P]`: sigmoid person scores, best first."""
    valid: torch.Tensor
    """bool `[T, P]`: score above the detection threshold."""


def person_label(model: RTDetrForObjectDetection) -> int:
    """The class index the checkpoint calls "person" (0 in COCO)."""
    labels = {str(name).lower(): int(index) for index, name in model.config.id2label.items()}
    if "person" not in labels:
        raise ValueError(
            f"the detector has no 'person' class; its labels are {sorted(labels)[:10]}..."
        )
    return labels["person"]


def detector_input(
    frames: torch.Tensor, settings: ImageSettings, dtype: torch.dtype
) -> torch.Tensor:
    """uint8 `[T, H, W, 3]` → the model's `pixel_values` `[T, 3, h, w]`: what the image processor
    does (bilinear resize to the fixed size, antialiased like PIL when shrinking, rescale,
    optional normalisation)."""
    pictures = frames.permute(0, 3, 1, 2).float()
    size = (settings.height, settings.width)
    if pictures.shape[-2:] != size:
        pictures = F.interpolate(
            pictures, size=size, mode="bilinear", align_corners=False, antialias=True
        )
    pictures = pictures * settings.rescale_factor
    if settings.mean is not None and settings.std is not None:
        mean = pictures.new_tensor(settings.mean).view(1, 3, 1, 1)
        std = pictures.new_tensor(settings.std).view(1, 3, 1, 1)
        pictures = (pictures - mean) / std
    return pictures.to(dtype)


def best_people(
    logits: torch.Tensor,
    pred_boxes: torch.Tensor,
    label: int,
    frame_size: tuple[int, int],
    max_people: int,
    threshold: float,
) -> PersonBoxes:
    """The detector's focal-loss scores (sigmoid) of the person class, the best `max_people`
    queries per frame, boxes from relative centre/size to frame pixels as the processor's
    `post_process_object_detection` gives them."""
    scores = logits[..., label].float().sigmoid()
    k = min(max_people, scores.shape[1])
    scores, index = scores.topk(k, dim=1)
    boxes = pred_boxes.float().gather(1, index[..., None].expand(-1, -1, 4))
    centre, extent = boxes[..., :2], boxes[..., 2:]
    corners = torch.cat([centre - 0.5 * extent, centre + 0.5 * extent], dim=-1)
    height, width = frame_size
    corners = corners * corners.new_tensor([width, height, width, height])
    return PersonBoxes(corners, scores, scores > threshold)


class PersonDetector:
    """RT-DETR with its image settings: frames in, person boxes out, all on the device."""

    def __init__(self, model: RTDetrForObjectDetection, settings: ImageSettings) -> None:
        self.model = model
        self.settings = settings
        self.label = person_label(model)

    @classmethod
    def load(cls, models_dir: Path, device: torch.device, dtype: torch.dtype) -> PersonDetector:
        model = load_detector(models_dir, device, dtype)
        return cls(model, image_settings(detector_folder(models_dir)))

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor, max_people: int, threshold: float) -> PersonBoxes:
        """The best `max_people` person boxes of each frame of uint8 `[T, H, W, 3]`."""
        pixels = detector_input(frames, self.settings, self.dtype)
        outputs = self.model(pixel_values=pixels)
        return best_people(
            outputs.logits,
            outputs.pred_boxes,
            self.label,
            (frames.shape[1], frames.shape[2]),
            max_people,
            threshold,
        )
