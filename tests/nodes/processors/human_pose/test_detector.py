"""The detector's torch preprocessing and box decoding against transformers' RT-DETR processor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import RTDetrImageProcessorPil
from transformers.models.rt_detr.modeling_rt_detr import RTDetrObjectDetectionOutput

from nodes.processors.human_pose.detector import (
    PersonDetector,
    best_people,
    detector_input,
    person_label,
)
from nodes.processors.human_pose.files import detector_folder


@pytest.fixture(scope="module")
def processor(tiny_models: Path) -> RTDetrImageProcessorPil:
    return RTDetrImageProcessorPil.from_pretrained(detector_folder(tiny_models))


@pytest.mark.parametrize("size", [(120, 160), (700, 900)], ids=["enlarged", "shrunk"])
def test_input_matches_the_image_processor(
    processor: RTDetrImageProcessorPil,
    detector: PersonDetector,
    picture: Callable[..., np.ndarray],
    size: tuple[int, int],
) -> None:
    image = picture(*size)
    expected = processor(images=image, return_tensors="pt")["pixel_values"]

    ours = detector_input(torch.from_numpy(image)[None], detector.settings, torch.float32)

    assert ours.shape == expected.shape == (1, 3, 640, 640)
    # PIL resizes in uint8: half a level of rounding, plus its own filter taps when shrinking.
    assert (ours - expected).abs().max() <= 1.0 / 255 + 1e-6
    assert (ours - expected).abs().mean() <= 0.5 / 255


def test_person_boxes_match_post_process_object_detection(
    processor: RTDetrImageProcessorPil,
    detector: PersonDetector,
    picture: Callable[..., np.ndarray],
) -> None:
    frames = torch.stack([torch.from_numpy(picture(120, 160, seed)) for seed in (1, 2)])
    with torch.inference_mode():
        pixels = detector_input(frames, detector.settings, torch.float32)
        boxes = detector.model(pixel_values=pixels).pred_boxes
    # Logits where a few of each class pass 0.5: every one of them is among the processor's
    # top `num_queries` (class, query) pairs, which is all it keeps.
    logits = torch.randn(2, boxes.shape[1], 2, generator=torch.Generator().manual_seed(0)) - 1
    outputs = RTDetrObjectDetectionOutput(logits=logits, pred_boxes=boxes)
    expected = processor.post_process_object_detection(
        outputs, threshold=0.5, target_sizes=[(120, 160)] * 2
    )

    ours = best_people(logits, boxes, person_label(detector.model), (120, 160), 20, 0.5)

    for frame, result in enumerate(expected):
        people = result["labels"] == person_label(detector.model)
        want_scores, order = result["scores"][people].sort(descending=True)
        want_boxes = result["boxes"][people][order]
        found = ours.valid[frame]
        assert found.sum() == people.sum() > 0
        assert torch.allclose(ours.scores[frame][found], want_scores)
        assert torch.allclose(ours.boxes[frame][found], want_boxes, atol=1e-4)


def test_keeps_the_best_max_people_per_frame(
    detector: PersonDetector, picture: Callable[..., np.ndarray]
) -> None:
    frames = torch.from_numpy(picture(96, 128))[None].repeat(3, 1, 1, 1)

    people = detector(frames, max_people=5, threshold=0.0)

    assert people.boxes.shape == (3, 5, 4) and people.scores.shape == (3, 5)
    assert people.valid.all()  # a sigmoid score is above 0
    assert (people.scores[:, :-1] >= people.scores[:, 1:]).all()
    assert torch.equal(
        detector(frames, max_people=5, threshold=1.0).valid, torch.zeros(3, 5, dtype=torch.bool)
    )


def test_asks_for_at_most_the_queries_the_model_has(detector: PersonDetector) -> None:
    frames = torch.zeros(1, 32, 32, 3, dtype=torch.uint8)
    queries = detector.model.config.num_queries

    assert detector(frames, max_people=queries + 10, threshold=0.5).boxes.shape == (1, queries, 4)


def test_a_detector_without_a_person_class_is_refused(detector: PersonDetector) -> None:
    model = detector.model
    saved = model.config.id2label
    model.config.id2label = {0: "cat", 1: "dog"}
    try:
        with pytest.raises(ValueError, match="no 'person' class"):
            person_label(model)
    finally:
        model.config.id2label = saved
