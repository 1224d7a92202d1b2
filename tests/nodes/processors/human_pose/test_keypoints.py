"""ViTPose crops and heatmap decoding in torch against transformers' VitPose image processor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import VitPoseImageProcessorPil
from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale
from transformers.models.vitpose.modeling_vitpose import VitPoseEstimatorOutput

from nodes.processors.human_pose.files import pose_folder
from nodes.processors.human_pose.keypoints import (
    PoseModel,
    box_centre_size,
    crop_people,
    decode_heatmaps,
)

HEIGHT, WIDTH = 150, 200
BOXES = torch.tensor(
    [
        [40.0, 30.0, 120.0, 140.0],  # tall: widened to 3:4, its padding crosses the bottom edge
        [10.5, 20.25, 60.0, 50.0],  # wide: heightened, crosses the top and left edges
        [150.0, 10.0, 199.0, 149.0],  # at the right edge
    ]
)


@pytest.fixture(scope="module")
def processor(tiny_models: Path) -> VitPoseImageProcessorPil:
    return VitPoseImageProcessorPil.from_pretrained(pose_folder(tiny_models))


def coco(boxes: torch.Tensor) -> np.ndarray:
    """x0, y0, x1, y1 → the processor's x, y, width, height."""
    out = boxes.clone()
    out[..., 2:] -= out[..., :2]
    return out.numpy()


def blob_heatmaps(people: int, seed: int = 0) -> torch.Tensor:
    """Heatmaps `[N, 17, 64, 48]` with one Gaussian peak each at a sub-pixel spot, over noise."""
    generator = torch.Generator().manual_seed(seed)
    height, width = 64, 48
    spots = torch.rand(people, 17, 2, generator=generator) * torch.tensor([width - 1, height - 1])
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32),
        torch.arange(width, dtype=torch.float32),
        indexing="ij",
    )
    distance = (xs - spots[..., 0, None, None]) ** 2 + (ys - spots[..., 1, None, None]) ** 2
    peaks = torch.rand(people, 17, 1, 1, generator=generator)
    noise = 0.01 * torch.rand(people, 17, height, width, generator=generator)
    return torch.exp(-distance / 8.0) * peaks + noise


def test_box_padding_and_aspect_match_the_processor() -> None:
    centre, size = box_centre_size(BOXES, 192 / 256)

    for box, c, s in zip(coco(BOXES), centre, size, strict=True):
        want_centre, want_scale = box_to_center_and_scale(box, image_width=192, image_height=256)
        assert c.numpy() == pytest.approx(want_centre, abs=1e-4)
        assert s.numpy() == pytest.approx(want_scale * 200.0, rel=1e-5)
        assert (s[0] / s[1]).item() == pytest.approx(0.75)


def test_crops_match_the_processor(
    processor: VitPoseImageProcessorPil,
    pose_model: PoseModel,
    picture: Callable[..., np.ndarray],
) -> None:
    image = picture(HEIGHT, WIDTH)
    expected = processor(images=image, boxes=[coco(BOXES)], return_tensors="pt")["pixel_values"]

    centre, size = box_centre_size(BOXES[None], pose_model.aspect)
    ours = crop_people(
        torch.from_numpy(image)[None], centre, size, pose_model.settings, torch.float32
    )

    assert ours.shape == expected.shape == (3, 3, 256, 192)
    # The processor warps in uint8: half a level of rounding, in normalised units.
    assert (ours - expected).abs().max() <= 0.5 / 255 / 0.224 + 1e-4


def test_crops_of_several_frames_keep_each_frame_s_people_apart(
    pose_model: PoseModel, picture: Callable[..., np.ndarray]
) -> None:
    frames = torch.stack([torch.from_numpy(picture(HEIGHT, WIDTH, seed)) for seed in (1, 2)])
    boxes = torch.stack([BOXES[:2], BOXES[1:]])
    centre, size = box_centre_size(boxes, pose_model.aspect)

    together = crop_people(frames, centre, size, pose_model.settings, torch.float32)

    for frame in range(2):
        alone = crop_people(
            frames[frame : frame + 1],
            centre[frame : frame + 1],
            size[frame : frame + 1],
            pose_model.settings,
            torch.float32,
        )
        assert torch.allclose(together[2 * frame : 2 * frame + 2], alone, atol=1e-5)


def test_decoding_matches_post_process_pose_estimation(
    processor: VitPoseImageProcessorPil,
) -> None:
    heatmaps = blob_heatmaps(len(BOXES))
    outputs = VitPoseEstimatorOutput(heatmaps=heatmaps)
    expected = processor.post_process_pose_estimation(outputs, boxes=[coco(BOXES)])[0]

    centre, size = box_centre_size(BOXES, 192 / 256)
    ours = decode_heatmaps(heatmaps, centre, size)

    for person, result in enumerate(expected):
        assert torch.allclose(ours.xy[person], result["keypoints"], atol=1e-3)
        assert torch.allclose(ours.scores[person], result["scores"])


def test_decoding_the_tiny_model_s_heatmaps_matches_the_processor(
    processor: VitPoseImageProcessorPil,
    pose_model: PoseModel,
    picture: Callable[..., np.ndarray],
) -> None:
    image = picture(HEIGHT, WIDTH, seed=3)
    pixels = processor(images=image, boxes=[coco(BOXES)], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        outputs = pose_model.model(pixel_values=pixels)
    expected = processor.post_process_pose_estimation(outputs, boxes=[coco(BOXES)])[0]

    centre, size = box_centre_size(BOXES, pose_model.aspect)
    ours = decode_heatmaps(outputs.heatmaps, centre, size)

    found = ours.scores > 0  # the processor moves peaks ≤ 0 to -1 before refining
    for person, result in enumerate(expected):
        keep = found[person]
        assert torch.allclose(ours.xy[person][keep], result["keypoints"][keep], atol=1e-2)
        assert torch.allclose(ours.scores[person], result["scores"])


def test_pose_model_gives_keypoints_per_frame_and_person_inside_the_padded_boxes(
    pose_model: PoseModel, picture: Callable[..., np.ndarray]
) -> None:
    frames = torch.stack([torch.from_numpy(picture(HEIGHT, WIDTH, seed)) for seed in (4, 5)])
    boxes = torch.stack([BOXES, BOXES.flip(0)])

    found = pose_model(frames, boxes)

    assert found.xy.shape == (2, 3, 17, 2) and found.scores.shape == (2, 3, 17)
    centre, size = box_centre_size(boxes, pose_model.aspect)
    low, high = centre - 0.6 * size, centre + 0.6 * size  # the crop, and a little refinement
    assert ((found.xy >= low[:, :, None]) & (found.xy <= high[:, :, None])).all()
