// Preprocessors (depth, pose, ...): the picker beside the pipeline's, and a preview of what
// they make of the input while a stream runs.

import { api, ApiError } from "./api.js";
import { $ } from "./dom.js";

const LAST_PREPROCESSOR = "scope-graph.preprocessor"; // the preprocessor picked last, or ""
const PREVIEW_EVERY_MS = 200; // about 5 pictures a second: enough to judge it, cheap to serve

/** Whether a schema is a preprocessor's (Scope's `usage`) rather than a main pipeline's. */
export const isPreprocessor = (schema) => (schema.usage || []).includes("preprocessor");

/** The preprocessor select: "None", then each preprocessor the server offers. */
export class PreprocessorPicker {
  constructor(onChange) {
    this.select = $("#preprocessor");
    this.schemas = {};
    this.select.addEventListener("change", () => {
      localStorage.setItem(LAST_PREPROCESSOR, this.select.value);
      onChange();
    });
  }

  /** Lists the preprocessors; picks the URL's, else the loaded chain's, else the last one. */
  fill(schemas, status) {
    const entries = Object.entries(schemas).filter(([, schema]) => isPreprocessor(schema));
    this.schemas = Object.fromEntries(entries);
    this.select.replaceChildren(
      new Option("None", ""),
      ...entries.map(([id, schema]) => new Option(schema.name, id)),
    );
    $("#preprocessor-pick").hidden = entries.length === 0;
    const loaded = status.status === "loaded" ? (status.pipeline_ids || []).slice(0, -1) : null;
    const choices = [
      new URLSearchParams(location.search).get("preprocessor"),
      loaded && (loaded[0] ?? ""),
      localStorage.getItem(LAST_PREPROCESSOR),
    ];
    const choice = choices.find((id) => id === "" || this.schemas[id]);
    this.select.value = choice ?? "";
  }

  /** Preprocessors take video: the picker is off (and ignored) in text mode. */
  setMode(mode) {
    this.select.disabled = mode !== "video";
  }

  /** The schema of the preprocessor in use, or null (none picked, or text mode). */
  current() {
    return this.select.disabled ? null : this.schemas[this.select.value] || null;
  }

  /** The ids a load names: the preprocessor in use first, then the main pipeline. */
  chain(pipelineId) {
    const preprocessor = this.current();
    return preprocessor ? [preprocessor.id, pipelineId] : [pipelineId];
  }
}

/** The preprocessed input of a running session: its newest frame, polled as a JPEG. */
export class PreviewPanel {
  constructor(ui) {
    this.ui = ui;
    this.panel = $("#preview-panel");
    this.image = $("#preview");
    this.note = $("#preview-note");
    this.timer = null;
  }

  /** Shows `schema`'s output of session `sessionId` until stop(); nothing without a schema. */
  start(sessionId, schema) {
    this.stop();
    if (!schema) return;
    this.ui.previewing = sessionId;
    $("#preview-title").textContent = schema.name;
    this.image.alt = `the input after ${schema.name}`;
    this.note.textContent = "waiting for the first frame…";
    this.panel.hidden = false;
    this._poll(sessionId);
  }

  stop() {
    this.ui.previewing = null;
    clearTimeout(this.timer);
    this.panel.hidden = true;
    this._show(null);
  }

  async _poll(sessionId) {
    try {
      const frame = await api.previewFrame(sessionId);
      // 204 (no frame yet) keeps the last picture.
      if (frame && this.ui.previewing === sessionId) this._show(frame);
    } catch (error) {
      // The server said no (the session has no preview): asking again will not help.
      if (error instanceof ApiError) {
        if (this.ui.previewing === sessionId) this.note.textContent = error.message;
        return;
      }
    }
    if (this.ui.previewing === sessionId)
      this.timer = setTimeout(() => this._poll(sessionId), PREVIEW_EVERY_MS);
  }

  _show(frame) {
    const previous = this.image.src;
    if (frame) {
      this.image.src = URL.createObjectURL(frame);
      this.note.textContent = "";
      this.ui.previewsShown += 1;
    } else {
      this.image.removeAttribute("src");
    }
    if (previous.startsWith("blob:")) URL.revokeObjectURL(previous);
  }
}
