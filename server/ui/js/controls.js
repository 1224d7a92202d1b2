// Controls generated from a pipeline's params schema: sliders, toggles, choices, step lists.

import { el } from "./dom.js";

// Keys with their own panel (prompts, pause, reset, LoRA, VACE) or no meaning as a control.
const OWN_PANELS = new Set([
  "input_mode",
  "prompts",
  "prompt_interpolation_method",
  "transition",
  "reset_cache",
  "paused",
  "lora_scales",
  "vace_ref_images",
  "vace_context_scale",
]);

// Mode defaults use the config's names; the data channel uses the params' names.
const MODE_DEFAULT_NAMES = { denoising_step_list: "denoising_steps" };

// Params shown only where the pipeline's schema offers the capability (Scope's clients read the
// flag, not the params), with the names artists know them by.
const CAPABILITIES = { kv_cache_attention_bias: "supports_kv_cache_bias" };
const LABELS = { kv_cache_attention_bias: "KV cache bias" };

/** The schema of a property without its `null` alternative. */
function concrete(property) {
  const options = property.anyOf || [property];
  return { ...property, ...(options.find((option) => option.type !== "null") || {}) };
}

function label(name, property) {
  return LABELS[name] || property.title || name.replaceAll("_", " ");
}

/** About a hundred steps over the range, each a power of ten, so defaults such as 0.3 on a
 * 0.01–1 range sit on a step (the browser moves a value between steps onto one). */
function sliderStep(property) {
  if (property.type === "integer") return 1;
  return 10 ** Math.floor(Math.log10((property.maximum - property.minimum) / 100));
}

function slider(property, value, onChange) {
  const step = sliderStep(property);
  const input = el("input", {
    type: "range",
    min: property.minimum,
    max: property.maximum,
    step,
    value: value ?? property.minimum,
  });
  const readout = el("output", {}, value === null || value === undefined ? "auto" : String(value));
  input.addEventListener("input", () => (readout.textContent = input.value));
  input.addEventListener("change", () => onChange(Number(input.value)));
  return [input, readout];
}

function toggle(value, onChange) {
  const input = el("input", { type: "checkbox", role: "switch" });
  input.checked = Boolean(value);
  input.addEventListener("change", () => onChange(input.checked));
  return [input];
}

function choice(property, value, onChange) {
  const select = el(
    "select",
    {},
    ...property.enum.map((option) => el("option", { value: option }, option)),
  );
  select.value = value ?? property.enum[0];
  select.addEventListener("change", () => onChange(select.value));
  return [select];
}

function number(property, value, onChange) {
  const input = el("input", { type: "number", step: property.type === "integer" ? 1 : "any" });
  if (property.minimum !== undefined) input.min = property.minimum;
  if (property.maximum !== undefined) input.max = property.maximum;
  input.value = value ?? "";
  input.addEventListener("change", () => input.value !== "" && onChange(Number(input.value)));
  return [input];
}

/** Denoising steps: a list of timesteps, strictly descending, each 0–1000. */
function stepList(value, onChange) {
  const box = el("div", { class: "step-list" });
  const error = el("small", { class: "field-error", hidden: true });
  const read = () => [...box.querySelectorAll("input")].map((input) => Number(input.value));
  const commit = () => {
    const steps = read();
    const bad = steps.some((t, i) => t < 0 || t > 1000 || (i > 0 && t >= steps[i - 1]));
    error.hidden = !bad;
    error.textContent = "steps must be 0–1000 and strictly descending";
    if (!bad && steps.length) onChange(steps);
  };
  const render = (steps) => {
    box.replaceChildren(
      ...steps.map((t) => {
        const input = el("input", { type: "number", min: 0, max: 1000, step: 1, value: t });
        input.addEventListener("change", commit);
        return input;
      }),
      el("button", { type: "button", class: "icon", title: "Add a step" }, "+"),
      el("button", { type: "button", class: "icon", title: "Remove the last step" }, "−"),
    );
    const [add, remove] = box.querySelectorAll("button");
    add.addEventListener("click", () => {
      const current = read();
      render([...current, Math.max(0, Math.floor((current.at(-1) ?? 1000) / 2))]);
      commit();
    });
    remove.addEventListener("click", () => {
      if (read().length > 1) {
        render(read().slice(0, -1));
        commit();
      }
    });
  };
  render(value || [1000, 750]);
  return [box, error];
}

function widget(name, property, value, onChange) {
  if (property.type === "boolean") return toggle(value, onChange);
  if (property.enum) return choice(property, value, onChange);
  if (property.type === "array" && property.items?.type === "integer")
    return stepList(value, onChange);
  const numeric = property.type === "number" || property.type === "integer";
  if (numeric && property.minimum !== undefined && property.maximum !== undefined) {
    return slider(property, value, onChange);
  }
  if (numeric) return number(property, value, onChange);
  return null; // objects and free text have no generic control
}

/**
 * Fills `root` with a control per runtime param of the schema that the pipeline's `schema`
 * offers; returns the values the controls start with (schema defaults, then the mode's
 * defaults). `onChange(key, value)`.
 */
export function buildControls(root, paramsSchema, schema, modeDefaults, onChange) {
  root.replaceChildren();
  const values = {};
  for (const [name, raw] of Object.entries(paramsSchema?.properties || {})) {
    if (OWN_PANELS.has(name) || raw.one_shot) continue;
    if (CAPABILITIES[name] && !schema?.[CAPABILITIES[name]]) continue;
    const property = concrete(raw);
    const modeValue = modeDefaults?.[MODE_DEFAULT_NAMES[name] || name];
    const value = modeValue ?? raw.default ?? null;
    const parts = widget(name, property, value, (next) => onChange(name, next));
    if (!parts) continue;
    if (value !== null) values[name] = value;
    root.append(
      el(
        "div",
        { class: "control", "data-param": name, title: raw.description || "" },
        el("span", { class: "control-label" }, label(name, raw)),
        ...parts,
      ),
    );
  }
  return values;
}

/** The defaults a pipeline's config schema declares (size, steps, ...), by name. */
export function configDefaults(configSchema) {
  const entries = Object.entries(configSchema?.properties || {}).map(([k, v]) => [k, v.default]);
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined && value !== null));
}
