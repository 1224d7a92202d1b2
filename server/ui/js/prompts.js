// The prompt editor: weighted prompts, how they blend, and the transition to a new blend.

import { el } from "./dom.js";

const DEFAULT_PROMPTS = {
  text: "A red fox trotting through a snowy birch forest at dawn, soft cinematic light.",
  video: "A watercolor painting of the scene, soft pastel colors, gentle brush strokes.",
};

const storageKey = (mode) => `scope-graph.prompts.${mode}`;

function recall(mode) {
  try {
    return JSON.parse(localStorage.getItem(storageKey(mode)));
  } catch {
    return null; // unreadable: start from the default
  }
}

export class PromptEditor {
  /** `root` holds the rows; `onSubmit(message)` gets the data-channel update to send. */
  constructor(root, onSubmit) {
    this.root = root;
    this.onSubmit = onSubmit;
    this.rows = root.querySelector(".prompt-rows");
    this.blend = root.querySelector("#blend-method");
    this.steps = root.querySelector("#transition-steps");
    this.method = root.querySelector("#transition-method");
    root.querySelector("#add-prompt").addEventListener("click", () => this.add("", 50));
    root.querySelector("#send-prompt").addEventListener("click", () => this.submit());
  }

  /** Show the prompts last used in `mode` (kept in this browser), else the mode's default;
   * the transition starts as the pipeline's `schema` says (method, steps). */
  reset(mode, schema) {
    this.mode = mode;
    const saved = recall(mode);
    this.rows.replaceChildren();
    for (const prompt of saved?.prompts || [{ text: DEFAULT_PROMPTS[mode], weight: 100 }]) {
      this.add(prompt.text, prompt.weight);
    }
    this.blend.value = saved?.blend || "linear";
    this.method.value = schema.default_temporal_interpolation_method || "linear";
    this.steps.value = schema.default_temporal_interpolation_steps ?? 0;
  }

  /** Keep the prompts for the next visit (per mode): an artist's prompts outlive a reload. */
  remember() {
    const prompts = this.prompts();
    if (prompts.length) {
      localStorage.setItem(
        storageKey(this.mode),
        JSON.stringify({ prompts, blend: this.blend.value }),
      );
    }
  }

  add(text, weight) {
    const area = el("textarea", {
      rows: 2,
      placeholder: "Describe the scene (Enter sends, Shift+Enter: new line)",
      "aria-label": "prompt",
    });
    area.value = text;
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.submit();
      }
    });
    const slider = el("input", { type: "range", min: 0, max: 100, step: 1, value: weight });
    const readout = el("span", { class: "readout" }, String(weight));
    slider.addEventListener("input", () => (readout.textContent = slider.value));
    const remove = el(
      "button",
      { type: "button", class: "icon", title: "Remove this prompt" },
      "×",
    );
    const row = el(
      "div",
      { class: "prompt-row" },
      area,
      el("label", { class: "weight" }, "weight", slider, readout),
      remove,
    );
    remove.addEventListener("click", () => {
      if (this.rows.children.length > 1) row.remove();
    });
    this.rows.append(row);
    area.focus();
  }

  /** The prompts with non-empty text, weights on Scope's 0–100 scale. */
  prompts() {
    return [...this.rows.children]
      .map((row) => ({
        text: row.querySelector("textarea").value.trim(),
        weight: Number(row.querySelector("input[type=range]").value),
      }))
      .filter((prompt) => prompt.text);
  }

  /** What a stream starts with. */
  initial() {
    this.remember();
    return { prompts: this.prompts(), prompt_interpolation_method: this.blend.value };
  }

  /** The update to send: a transition over N chunks when steps > 0, else the blend at once. */
  message(streaming) {
    const prompts = this.prompts();
    if (!prompts.length) return null;
    const steps = Number(this.steps.value);
    if (streaming && steps > 0) {
      return {
        transition: {
          target_prompts: prompts,
          num_steps: steps,
          temporal_interpolation_method: this.method.value,
        },
      };
    }
    return { prompts, prompt_interpolation_method: this.blend.value };
  }

  submit() {
    const message = this.message(true);
    if (message) this.onSubmit(message);
    this.remember();
  }
}
