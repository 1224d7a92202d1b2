"""Skeleton drawing, pixel-checked on known keypoints, and against a brute-force rasteriser."""

from __future__ import annotations

import math

import torch

from nodes.processors.human_pose.skeleton import (
    COCO_FOR_OPENPOSE,
    COLOURS,
    LIMBS,
    draw_skeletons,
    limb_colours,
    openpose_points,
)

# A person facing the camera in a 512 × 512 frame (COCO-17 order), all confident.
PERSON = torch.tensor(
    [
        [256, 100], [266, 90], [246, 90], [280, 95], [232, 95],  # nose, eyes, ears
        [300, 150], [212, 150], [320, 220], [190, 220], [330, 290], [180, 290],  # arms
        [285, 290], [227, 290], [290, 380], [222, 380], [295, 470], [217, 470],  # legs
    ],
    dtype=torch.float32,
)  # fmt: skip
R_SHOULDER, R_ELBOW, R_WRIST = 2, 3, 4  # OpenPose-18 indices
L_KNEE = 12


def draw(
    xy: torch.Tensor, scores: torch.Tensor, size: tuple[int, int] = (512, 512)
) -> torch.Tensor:
    """One frame's skeletons `[H, W, 3]` of people `[P, 17, 2]` with scores `[P, 17]`."""
    points, visible = openpose_points(xy[None], scores[None], 0.3)
    return draw_skeletons(points, visible, *size)[0]


def rgb(picture: torch.Tensor, x: float | torch.Tensor, y: float | torch.Tensor) -> tuple[int, ...]:
    return tuple(picture[round(float(y)), round(float(x))].tolist())


def openpose(index: int) -> torch.Tensor:
    return PERSON[COCO_FOR_OPENPOSE[index]]


def test_openpose_points_reorder_coco_and_add_the_neck() -> None:
    scores = torch.ones(17)
    scores[5] = 0.1  # left shoulder unsure: no neck

    points, visible = openpose_points(PERSON, scores, 0.3)

    assert points.shape == (18, 2)
    assert torch.equal(points[R_SHOULDER], PERSON[6])  # COCO's right shoulder
    assert torch.equal(points[17], PERSON[3])  # left ear
    assert torch.equal(points[1], (PERSON[5] + PERSON[6]) / 2)
    assert not visible[1] and not visible[5] and visible[R_SHOULDER]
    assert visible.sum() == 16


def test_limbs_at_sixty_percent_joints_in_full_colour_black_elsewhere() -> None:
    picture = draw(PERSON[None], torch.ones(1, 17))

    assert limb_colours()[0] == (153, 0, 0)  # int(255 · 0.6), as OpenPose's code truncates
    # Right upper arm (limb 2: shoulder → elbow) at its middle, the elbow joint (point 3).
    middle = (openpose(R_SHOULDER) + openpose(R_ELBOW)) / 2
    assert rgb(picture, *middle) == limb_colours()[LIMBS.index((R_SHOULDER, R_ELBOW))]
    assert rgb(picture, *openpose(R_ELBOW)) == COLOURS[R_ELBOW]
    # The neck (shoulders' midpoint) is drawn in its own colour.
    assert rgb(picture, *((PERSON[5] + PERSON[6]) / 2)) == COLOURS[1]
    assert rgb(picture, 20, 20) == (0, 0, 0)
    assert rgb(picture, 256, 200) == (0, 0, 0)  # between the arms and the torso lines
    colours = {tuple(c) for c in picture.reshape(-1, 3).tolist()}
    assert colours <= {(0, 0, 0), *COLOURS, *limb_colours()}


def test_a_limb_is_stick_width_thick_and_its_length_long() -> None:
    picture = draw(PERSON[None], torch.ones(1, 17))
    knee = openpose(L_KNEE)
    below = (knee + openpose(13)) / 2  # the left shin's middle (a near-vertical limb)
    row = picture[round(below[1].item())]
    lit = (row.sum(-1) > 0).nonzero().flatten()
    shin = lit[(lit - below[0]).abs() < 20]
    assert 7 <= len(shin) <= 9  # 2 × stick width 4, give or take the pixel grid


def test_missing_keypoints_draw_nothing() -> None:
    scores = torch.ones(1, 17)
    scores[0, 10] = 0.0  # COCO right wrist
    picture = draw(PERSON[None], scores)

    wrist = openpose(R_WRIST)
    forearm_middle = (openpose(R_ELBOW) + wrist) / 2
    assert rgb(picture, *wrist) == (0, 0, 0)
    assert rgb(picture, *forearm_middle) == (0, 0, 0)
    assert rgb(picture, *openpose(R_ELBOW)) == COLOURS[R_ELBOW]  # the elbow is still there
    assert not draw(PERSON[None], torch.zeros(1, 17)).any()


def test_size_scales_stick_and_joints_so_frames_look_alike() -> None:
    small = draw(PERSON[None] / 2, torch.ones(1, 17), (256, 256))
    large = draw(PERSON[None] * 2, torch.ones(1, 17), (1024, 1024))
    reference = draw(PERSON[None], torch.ones(1, 17))

    lit = [(p.sum(-1) > 0).float().mean().item() for p in (small, reference, large)]
    assert max(lit) / min(lit) < 1.15  # the same share of the frame at every size


def test_tiny_and_off_frame_skeletons_are_safe() -> None:
    assert draw(PERSON[None] / 64, torch.ones(1, 17), (8, 8)).any()
    far = draw(PERSON[None] + 10_000, torch.ones(1, 17))
    assert not far.any()
    nan = draw(torch.full((1, 17, 2), math.nan), torch.ones(1, 17))
    assert not nan.any()
    assert draw_skeletons(
        torch.zeros(2, 0, 18, 2), torch.zeros(2, 0, 18, dtype=torch.bool), 4, 6
    ).shape == (2, 4, 6, 3)


def brute_force(
    points: torch.Tensor, visible: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Every pixel against every shape, in OpenPose's painting order: the reference."""
    scale = min(height, width) / 512
    stick, radius = max(4 * scale, 1.0), max(4 * scale, 1.0)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32),
        torch.arange(width, dtype=torch.float32),
        indexing="ij",
    )
    picture = torch.zeros(height, width, 3, dtype=torch.uint8)
    for limb, (a, b) in enumerate(LIMBS):
        for person in range(points.shape[0]):
            if not (visible[person, a] and visible[person, b]):
                continue
            start, end = points[person, a], points[person, b]
            centre, delta = (start + end) / 2, end - start
            length = delta.norm().item()
            angle = math.atan2(delta[1].item(), delta[0].item()) if length > 0 else 0.0
            along = (xs - centre[0]) * math.cos(angle) + (ys - centre[1]) * math.sin(angle)
            across = (ys - centre[1]) * math.cos(angle) - (xs - centre[0]) * math.sin(angle)
            half = max(length / 2, 0.5)
            inside = (along / half) ** 2 + (across / stick) ** 2 <= 1
            picture[inside] = torch.tensor(limb_colours()[limb], dtype=torch.uint8)
    for joint in range(18):
        for person in range(points.shape[0]):
            if visible[person, joint]:
                x, y = points[person, joint]
                inside = (xs - x) ** 2 + (ys - y) ** 2 <= radius**2
                picture[inside] = torch.tensor(COLOURS[joint], dtype=torch.uint8)
    return picture


def test_matches_a_brute_force_rasteriser_for_random_people() -> None:
    generator = torch.Generator().manual_seed(0)
    height, width = 90, 130
    points = torch.rand(2, 3, 18, 2, generator=generator) * torch.tensor([width, height])
    points = points * 1.2 - 10  # some off the frame
    visible = torch.rand(2, 3, 18, generator=generator) > 0.2

    ours = draw_skeletons(points, visible, height, width)

    for frame in range(2):
        reference = brute_force(points[frame], visible[frame], height, width)
        mismatch = (ours[frame] != reference).any(-1)
        # Only float ties on a shape's very border may differ.
        assert mismatch.sum() <= 3, mismatch.nonzero()
