"""Top-down ViTPose in torch on the device: person crops by an affine `grid_sample` (what the
image processor's warp does), one batch for every person of a chunk, and heatmap decoding with
DARK refinement (what `post_process_pose_estimation` does)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import VitPoseForPoseEstimation

from nodes.processors.human_pose.files import (
    ImageSettings,
    image_settings,
    load_pose_model,
    pose_folder,
)

BOX_PADDING = 1.25
"""The processor widens every box by a quarter so limbs at its edge stay inside the crop."""
DARK_KERNEL = 11
"""`post_process_pose_estimation`'s default kernel size: a radius of 5 for the σ = 0.8 blur."""
DARK_SIGMA = 0.8


@dataclass(frozen=True)
class Keypoints:
    """COCO-17 keypoints of people."""

    xy: torch.Tensor
    """float32 `[..., 17, 2]`: x, y in frame pixels."""
    scores: torch.Tensor
    """float32 `[..., 17]`: heatmap peaks (about 0 to 1)."""


def box_centre_size(boxes: torch.Tensor, aspect: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x0, y0, x1, y1 boxes `[..., 4]` → centre and padded size in pixels `[..., 2]`, the size
    grown along one side to the crop's width:height `aspect` (the processor's
    `box_to_center_and_scale`, without its ÷200 that its warp multiplies back)."""
    width = (boxes[..., 2] - boxes[..., 0]).clamp_min(1.0)
    height = (boxes[..., 3] - boxes[..., 1]).clamp_min(1.0)
    centre = torch.stack([boxes[..., 0] + 0.5 * width, boxes[..., 1] + 0.5 * height], dim=-1)
    grown_width = torch.maximum(width, height * aspect)
    grown_height = torch.maximum(height, width / aspect)
    return centre, torch.stack([grown_width, grown_height], dim=-1) * BOX_PADDING


def crop_people(
    frames: torch.Tensor,
    centre: torch.Tensor,
    size: torch.Tensor,
    settings: ImageSettings,
    dtype: torch.dtype,
) -> torch.Tensor:
    """uint8 frames `[T, H, W, 3]` and `[T, P, 2]` boxes → ViTPose's `pixel_values`
    `[T·P, 3, h, w]`. Crop pixel j samples the frame at `centre - size/2 + j·size/(w-1)`,
    bilinear, zeros outside (the processor's warp)."""
    frame_count, height, width = frames.shape[:3]
    people = centre.shape[1]
    out_h, out_w = settings.height, settings.width
    steps_x = torch.arange(out_w, device=frames.device, dtype=torch.float32) / (out_w - 1)
    steps_y = torch.arange(out_h, device=frames.device, dtype=torch.float32) / (out_h - 1)
    corner = centre - 0.5 * size
    xs = corner[..., 0, None] + size[..., 0, None] * steps_x  # [T, P, w]
    ys = corner[..., 1, None] + size[..., 1, None] * steps_y  # [T, P, h]
    # Pixel index → grid_sample's [-1, 1] (align_corners=False: pixel i's centre is (2i+1)/n - 1,
    # which also holds for a 1-pixel frame).
    gx = (2 * xs + 1) / width - 1
    gy = (2 * ys + 1) / height - 1
    grid = torch.stack(
        [gx[:, :, None, :].expand(-1, -1, out_h, -1), gy[:, :, :, None].expand(-1, -1, -1, out_w)],
        dim=-1,
    )  # [T, P, h, w, 2]
    # Every frame's P crops stacked along the height: one grid_sample over the frames, no copy
    # of a frame per person.
    pictures = frames.permute(0, 3, 1, 2).float()
    crops = F.grid_sample(
        pictures,
        grid.reshape(frame_count, people * out_h, out_w, 2),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    crops = crops.view(frame_count, 3, people, out_h, out_w).transpose(1, 2)
    # The processor's warp (scipy, mode "constant") gives 0 for any sample beyond the outer
    # pixel centres rather than blending towards 0 as grid_sample does: mask that band.
    inside_x = (xs >= 0) & (xs <= width - 1)
    inside_y = (ys >= 0) & (ys <= height - 1)
    inside = inside_y[..., :, None] & inside_x[..., None, :]  # [T, P, h, w]
    crops = crops * inside[:, :, None].to(crops.dtype)
    crops = crops.reshape(frame_count * people, 3, out_h, out_w) * settings.rescale_factor
    if settings.mean is not None and settings.std is not None:
        mean = crops.new_tensor(settings.mean).view(1, 3, 1, 1)
        std = crops.new_tensor(settings.std).view(1, 3, 1, 1)
        crops = (crops - mean) / std
    return crops.to(dtype)


def _blur(heatmaps: torch.Tensor, kernel: int) -> torch.Tensor:
    """scipy's `gaussian_filter(σ=0.8, radius)` on each heatmap, with its mirrored edges."""
    radius = (kernel - 1) // 2
    taps = torch.arange(-radius, radius + 1, device=heatmaps.device, dtype=torch.float64)
    weights = torch.exp(-0.5 * (taps / DARK_SIGMA) ** 2)
    weights = (weights / weights.sum()).to(heatmaps.dtype)
    n, k, h, w = heatmaps.shape
    planes = heatmaps.reshape(n * k, 1, h, w)
    # scipy "reflect" repeats the edge pixel (d c b a | a b c d): build it by index.
    rows = _mirror(h, radius, heatmaps.device)
    cols = _mirror(w, radius, heatmaps.device)
    planes = planes[:, :, rows][:, :, :, cols]
    planes = F.conv2d(planes, weights.view(1, 1, -1, 1))
    planes = F.conv2d(planes, weights.view(1, 1, 1, -1))
    return planes.view(n, k, h, w)


def _mirror(n: int, radius: int, device: torch.device) -> torch.Tensor:
    """Indices of a line of `n` padded by `radius` on each side, mirrored about the edges."""
    index = torch.arange(-radius, n + radius, device=device)
    period = 2 * n
    index = torch.remainder(index, period)
    return torch.where(index >= n, period - 1 - index, index)


def decode_heatmaps(
    heatmaps: torch.Tensor, centre: torch.Tensor, size: torch.Tensor, kernel: int = DARK_KERNEL
) -> Keypoints:
    """Heatmaps `[N, K, h, w]` of crops at `centre`/`size` `[N, 2]` → keypoints in frame pixels:
    the argmax, refined by one Newton step on the blurred log-heatmap (DARK), then mapped back
    through the crop."""
    heatmaps = heatmaps.float()
    n, k, h, w = heatmaps.shape
    peaks, index = heatmaps.reshape(n, k, h * w).max(dim=-1)
    # The processor marks a peak ≤ 0 as "not found" (-1); such a keypoint is never drawn, so
    # it keeps its argmax here and every gather stays inside the heatmap.
    x, y = index % w, index // w
    logs = _blur(heatmaps, kernel).clamp(0.001, 50).log()
    padded = F.pad(logs, (1, 1, 1, 1), mode="replicate").reshape(n, k, -1)
    stride = w + 2

    def at(dx: int, dy: int) -> torch.Tensor:
        return padded.gather(-1, ((y + 1 + dy) * stride + x + 1 + dx)[..., None])[..., 0]

    centre_value = at(0, 0)
    right, left, down, up = at(1, 0), at(-1, 0), at(0, 1), at(0, -1)
    dx = 0.5 * (right - left)
    dy = 0.5 * (down - up)
    dxx = right - 2 * centre_value + left
    dyy = down - 2 * centre_value + up
    dxy = 0.5 * (at(1, 1) - right - down + 2 * centre_value - left - up + at(-1, -1))
    # Newton step: subtract H⁻¹·∇, with the processor's float32 epsilon on the diagonal.
    eps = torch.finfo(torch.float32).eps
    a, d = dxx + eps, dyy + eps
    det = a * d - dxy * dxy
    step_x = (d * dx - dxy * dy) / det
    step_y = (a * dy - dxy * dx) / det
    fx = x.float() - step_x
    fy = y.float() - step_y
    pixel = size / size.new_tensor([w - 1, h - 1])
    origin = centre - 0.5 * size
    xy = torch.stack([fx, fy], dim=-1) * pixel[:, None, :] + origin[:, None, :]
    return Keypoints(xy, peaks)


class PoseModel:
    """ViTPose with its crop settings: frames and person boxes in, keypoints out, on the device."""

    def __init__(self, model: VitPoseForPoseEstimation, settings: ImageSettings) -> None:
        self.model = model
        self.settings = settings

    @classmethod
    def load(cls, models_dir: Path, device: torch.device, dtype: torch.dtype) -> PoseModel:
        model = load_pose_model(models_dir, device, dtype)
        return cls(model, image_settings(pose_folder(models_dir)))

    @property
    def aspect(self) -> float:
        return self.settings.width / self.settings.height

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor, boxes: torch.Tensor) -> Keypoints:
        """Keypoints `[T, P, 17, …]` of the people in x0, y0, x1, y1 `boxes` `[T, P, 4]`."""
        frame_count, people = boxes.shape[:2]
        if people == 0:
            empty = boxes.new_zeros(frame_count, 0, self.model.config.num_labels)
            return Keypoints(empty[..., None].expand(-1, -1, -1, 2), empty)
        centre, size = box_centre_size(boxes, self.aspect)
        crops = crop_people(frames, centre, size, self.settings, self.model.dtype)
        heatmaps = self.model(pixel_values=crops).heatmaps
        found = decode_heatmaps(heatmaps, centre.flatten(0, 1), size.flatten(0, 1))
        shape = (frame_count, people, *found.scores.shape[1:])
        return Keypoints(found.xy.view(*shape, 2), found.scores.view(shape))
