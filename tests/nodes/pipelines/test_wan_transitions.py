"""A prompt transition's life in a Wan pipeline node's params, as Scope's clients see it: a
finished transition leaves the params and its target becomes the prompts; new prompts cut a
running one short and stay; the same transition sent again runs again."""

from __future__ import annotations

from pathlib import Path

from wan_nodes import BLUE, RED, generate, harness
from wan_spies import spy_on_chunks

from nodes.pipelines.streamdiffusionv2 import StreamDiffusionV2

TO_BLUE = {"target_prompts": BLUE, "num_steps": 3, "temporal_interpolation_method": "linear"}


def texts(prompts: object) -> list[str]:
    return [p.text for p in prompts]  # type: ignore[attr-defined]


def test_a_finished_transition_becomes_the_prompts_and_runs_again_when_sent_again(
    models_dir: Path,
) -> None:
    # StreamDiffusionV2 in text mode: the quickest of the pipelines, all of which share this.
    with harness(StreamDiffusionV2, models_dir, {"input_mode": "text"}) as h:
        chunks = spy_on_chunks(h.node)
        generate(h, 1)
        h.set_params({"transition": TO_BLUE})
        generate(h, 2)
        assert h.params.transition is not None, "one step left"
        assert texts(h.params.prompts) == ["a red fox"]
        generate(h, 1)
        assert h.params.transition is None
        assert texts(h.params.prompts) == ["blue sky"]
        assert [c.transition_active for c in chunks[1:]] == [True, True, False]
        blue = chunks[-1].embeds

        generate(h, 1)
        assert not chunks[-1].changed, "the finished transition does not bounce back"
        h.set_params({"prompts": RED})
        generate(h, 1)
        red = chunks[-1].embeds
        h.set_params({"transition": TO_BLUE})  # the very same transition as before
        generate(h, 3)
        assert [c.changed for c in chunks[-3:]] == [True, True, True]
        assert [c.transition_active for c in chunks[-3:]] == [True, True, False]
        assert (chunks[-2].embeds - red).norm() > 0
        assert (chunks[-1].embeds - blue).norm() < 1e-6


def test_new_prompts_cut_a_running_transition_short_and_stay(models_dir: Path) -> None:
    with harness(StreamDiffusionV2, models_dir, {"input_mode": "text"}) as h:
        chunks = spy_on_chunks(h.node)
        generate(h, 1)
        h.set_params({"transition": TO_BLUE})
        generate(h, 1)
        h.set_params({"prompts": [{"text": "the lazy dog"}]})
        generate(h, 1)
        assert not chunks[-1].transition_active
        assert h.params.transition is None
        assert texts(h.params.prompts) == ["the lazy dog"]
        generate(h, 2)
        assert not any(c.changed for c in chunks[-2:]), "it does not resume"
