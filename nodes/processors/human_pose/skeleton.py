"""OpenPose-18 skeletons drawn on black on the device: the layout and colours that ControlNet and
VACE pose models are trained on (limbs at 60 % of their colour, joints in full colour on top).

Every limb is an ellipse along its bone (semi-axes half its length and the stick width), every
joint a disc: one rasteriser for both, painted in OpenPose's order (limb by limb, then joint by
joint; later ones cover earlier ones). Stick width and joint radius are OpenPose's 4 pixels at a
short side of 512 and scale with the frame's short side, so a skeleton looks alike at every size
(the annotators draw at 512 and resize)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import torch

# OpenPose-18 point k is COCO-17 point COCO_FOR_OPENPOSE[k]; the neck (1) has no COCO point.
NECK = 1
COCO_FOR_OPENPOSE = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
"""OpenPose's 17 drawn limbs as pairs of its 0-based points, in drawing order."""
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 85), (255, 0, 0),
)  # fmt: skip
"""RGB of point k, and of limb k (its first 17)."""
LIMB_ALPHA = 0.6
STICK_WIDTH = 4.0
JOINT_RADIUS = 4.0
REFERENCE_SIDE = 512
MAX_SAMPLES = 1 << 24
"""Pixel tests per rasterising step (4 frames at 512 × 512 with 8 people take one step)."""


def limb_colours() -> list[tuple[int, int, int]]:
    """OpenPose's limb colours at 60 % over black, truncated as its drawing code does."""
    alpha = LIMB_ALPHA
    return [(int(r * alpha), int(g * alpha), int(b * alpha)) for r, g, b in COLOURS[: len(LIMBS)]]


def openpose_points(
    xy: torch.Tensor, scores: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """COCO-17 keypoints `[..., 17, 2]` and scores → OpenPose-18 points `[..., 18, 2]` and which
    are visible `[..., 18]`; the neck is the shoulders' midpoint when both are visible."""
    index = _table(xy.device)[0]
    points = xy.index_select(-2, index).clone()
    visible = (scores > threshold).index_select(-1, index).clone()
    left, right = COCO_FOR_OPENPOSE[5], COCO_FOR_OPENPOSE[2]
    points[..., NECK, :] = 0.5 * (xy[..., left, :] + xy[..., right, :])
    visible[..., NECK] = (scores[..., left] > threshold) & (scores[..., right] > threshold)
    return points, visible


class Ellipses(NamedTuple):
    """Shapes `[T, S]`: centre, unit axis (cos, sin), semi-axes a along it and b across, shown."""

    cx: torch.Tensor
    cy: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    shown: torch.Tensor


def _limbs(points: torch.Tensor, visible: torch.Tensor, stick: float) -> Ellipses:
    """The bones as ellipses `[T, 17·P]` in painting order (limb type, then person): axes
    (half the bone's length, the stick width) as cv2.ellipse2Poly draws them."""
    _, first, second = _table(points.device)
    start, end = points.index_select(2, first), points.index_select(2, second)  # [T, P, L, 2]
    middle = 0.5 * (start + end)
    delta = end - start
    length = delta.norm(dim=-1)
    # A zero-length bone points along x.
    cos = torch.where(length > 0, delta[..., 0] / length.clamp_min(1e-6), 1.0)
    sin = torch.where(length > 0, delta[..., 1] / length.clamp_min(1e-6), 0.0)
    shown = visible.index_select(2, first) & visible.index_select(2, second)
    fields = (middle[..., 0], middle[..., 1], cos, sin, (0.5 * length).clamp_min(0.5), shown)
    cx, cy, c, s, a, shown = (f.transpose(1, 2).flatten(1) for f in fields)
    return Ellipses(cx, cy, c, s, a, torch.full_like(a, stick), shown)


def _joints(points: torch.Tensor, visible: torch.Tensor, radius: float) -> Ellipses:
    """The points as discs `[T, 18·P]` in painting order (point type, then person)."""
    cx, cy = (points[..., i].transpose(1, 2).flatten(1) for i in (0, 1))
    shown = visible.transpose(1, 2).flatten(1)
    ones = torch.ones_like(cx)
    return Ellipses(cx, cy, ones, 0 * ones, radius * ones, radius * ones, shown)


def _stamp(
    shapes: Ellipses, order: torch.Tensor, span: int, half_width: int, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels each ellipse covers, as flat indices and paint values (its `order`, 0 where it
    covers nothing) `[T, S·span·(2·half_width+1)]`.

    Each ellipse is visited along the image axis it is longer on (at most `span` pixels), and
    across it in a band of `2·half_width+1` pixels around its centre line, which holds every
    chord of an ellipse whose shorter semi-axis is at most half_width/√2: static shapes, no
    pixel tested against a shape far from it. Per-column terms are computed once and broadcast
    against the band's offsets, so only a few operations touch every sample."""
    cx, cy, cos, sin, a, b, shown = shapes
    inv_a2, inv_b2 = 1 / a.square(), 1 / b.square()
    extent_x = (a.square() * cos.square() + b.square() * sin.square()).sqrt()
    extent_y = (a.square() * sin.square() + b.square() * cos.square()).sqrt()
    along_x = extent_x >= extent_y
    # Centre line: the middle of the ellipse's chord across the major image axis.
    skew = cos * sin * (inv_b2 - inv_a2)
    slope_x = skew / (sin.square() * inv_a2 + cos.square() * inv_b2)
    slope_y = skew / (cos.square() * inv_a2 + sin.square() * inv_b2)
    major_c = torch.where(along_x, cx, cy)
    minor_c = torch.where(along_x, cy, cx)
    slope = torch.where(along_x, slope_x, slope_y)
    extent = torch.where(along_x, extent_x, extent_y)
    first = (major_c - extent).floor().clamp(min=0, max=max(height, width))
    steps = torch.arange(span, device=cx.device, dtype=cx.dtype)
    major = first[..., None] + steps  # [T, S, span]
    middle = (minor_c[..., None] + (major - major_c[..., None]) * slope[..., None]).round()
    flip = along_x[..., None]
    major_limit = torch.where(along_x, width - 1, height - 1)[..., None]
    minor_limit = torch.where(along_x, height - 1, width - 1)[..., None]
    # Per column: the band's first sample (offset 0) in the ellipse's axes, scaled by its
    # semi-axes, and what one step across the band adds.
    dx = torch.where(flip, major, middle) - cx[..., None]
    dy = torch.where(flip, middle, major) - cy[..., None]
    scale_a, scale_b = inv_a2.sqrt()[..., None], inv_b2.sqrt()[..., None]
    u0 = (dx * cos[..., None] + dy * sin[..., None]) * scale_a
    v0 = (dy * cos[..., None] - dx * sin[..., None]) * scale_b
    step_u = torch.where(along_x, sin, cos)[..., None] * scale_a
    step_v = torch.where(along_x, cos, -sin)[..., None] * scale_b
    offsets = torch.arange(-half_width, half_width + 1, device=cx.device, dtype=cx.dtype)
    u = u0[..., None] + step_u[..., None] * offsets  # [T, S, span, band]
    v = v0[..., None] + step_v[..., None] * offsets
    inside = u.square_().add_(v.square_()) <= 1.0
    # In the frame: the column by itself, the band against the room left above and below.
    column_ok = (major <= major_limit) & shown[..., None]
    inside &= (offsets >= -middle[..., None]) & (offsets <= (minor_limit - middle)[..., None])
    inside &= column_ok[..., None]
    px = torch.where(flip, major, middle)
    py = torch.where(flip, middle, major)
    stride = torch.where(along_x, width, 1)[..., None, None]
    index = (py * width + px).long()[..., None] + stride * offsets.long()
    paint = inside * order[..., None, None]
    return index.clamp_(0, height * width - 1).flatten(1), paint.flatten(1)


@lru_cache(maxsize=8)
def _table(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The COCO index of each OpenPose point (the neck reads the nose, then is replaced) and
    each limb's two points, on `device` once rather than copied there every call."""
    coco = torch.tensor([max(i, 0) for i in COCO_FOR_OPENPOSE], device=device)
    first = torch.tensor([a for a, _ in LIMBS], device=device)
    second = torch.tensor([b for _, b in LIMBS], device=device)
    return coco, first, second


@lru_cache(maxsize=32)
def palette(people: int, device: torch.device) -> torch.Tensor:
    """uint8 `[1 + 35·P, 3]`: black, then the colour of each shape in painting order."""
    limbs = torch.tensor(limb_colours(), dtype=torch.uint8).repeat_interleave(people, dim=0)
    joints = torch.tensor(COLOURS, dtype=torch.uint8).repeat_interleave(people, dim=0)
    black = torch.zeros(1, 3, dtype=torch.uint8)
    return torch.cat([black, limbs, joints]).to(device)


def draw_skeletons(
    points: torch.Tensor, visible: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """OpenPose-18 points `[T, P, 18, 2]` (frame pixels) and `visible` `[T, P, 18]` → uint8
    RGB `[T, H, W, 3]` skeletons on black."""
    frames, people = points.shape[:2]
    device = points.device
    if people == 0:
        return torch.zeros(frames, height, width, 3, dtype=torch.uint8, device=device)
    points = points.float()
    # A non-finite point (a degenerate heatmap) is not drawn.
    visible = visible & points.isfinite().all(dim=-1)
    points = points.nan_to_num(nan=-1e6, posinf=-1e6, neginf=-1e6).clamp(-1e6, 1e6)
    scale = min(height, width) / REFERENCE_SIDE
    stick, radius = max(STICK_WIDTH * scale, 1.0), max(JOINT_RADIUS * scale, 1.0)
    limbs, joints = _limbs(points, visible, stick), _joints(points, visible, radius)
    count = limbs.cx.shape[1]
    # Paint values: 1 + position in painting order; the highest one at a pixel wins.
    limb_order = torch.arange(1, count + 1, device=device, dtype=torch.int32)
    joint_order = torch.arange(
        count + 1, count + 1 + joints.cx.shape[1], device=device, dtype=torch.int32
    )
    reach = math.ceil(radius)
    passes = (
        (limbs, limb_order, max(height, width), math.ceil(math.sqrt(2) * stick + 0.5)),
        (joints, joint_order, 2 * reach + 2, reach + 1),
    )
    canvas = torch.zeros(frames, height * width, device=device, dtype=torch.int32)
    for shapes, order, span, half_width in passes:
        # Few frames at a time when the frames are large, to bound the scratch memory.
        samples = shapes.cx.shape[1] * span * (2 * half_width + 1)
        step = max(1, MAX_SAMPLES // samples)
        for first in range(0, frames, step):
            part = Ellipses(*(field[first : first + step] for field in shapes))
            index, paint = _stamp(part, order, span, half_width, height, width)
            canvas[first : first + step].scatter_reduce_(1, index, paint, reduce="amax")
    return palette(people, device)[canvas.long()].view(frames, height, width, 3)
