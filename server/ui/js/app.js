// The web UI: pick and load a pipeline (after a preprocessor), stream in text or video mode,
// steer it, record it.

import { api } from "./api.js";
import { buildControls, configDefaults } from "./controls.js";
import { $, notify } from "./dom.js";
import { openInput } from "./inputs.js";
import { loadChain, loadParams, showStatus } from "./loading.js";
import { LoraPanel, SpoutPanel, VacePanel } from "./panels.js";
import { PreprocessorPicker, PreviewPanel, isPreprocessor } from "./preprocessing.js";
import { PromptEditor } from "./prompts.js";
import { showIdle, showLive } from "./readouts.js";
import { RecordButton, showRecordings } from "./recording.js";
import { bindShortcuts } from "./shortcuts.js";
import { Stream } from "./stream.js";

const LAST_PIPELINE = "scope-graph.pipeline"; // the pipeline picked last, in this browser

const state = {
  schemas: {},
  schema: null,
  mode: "video",
  params: {},
  stream: null,
  input: null,
  paused: false,
  timer: null,
};
// What tests (and the curious, from the console) can read.
const ui = (window.scopeUI = {
  status: "starting",
  stream: "idle",
  framesShown: 0,
  sessionId: null,
  messages: [],
  graph: null,
  stats: null,
  previewing: null, // the session whose preprocessed input the preview polls
  previewsShown: 0,
});

const send = (update) => {
  if (state.stream && !state.stream.send(update))
    notify("not connected yet: try again in a moment", "error");
};
const prompts = new PromptEditor($("#prompts-panel"), send);
const loras = new LoraPanel(send);
const vace = new VacePanel(send);
const spout = new SpoutPanel(send);
const recorder = new RecordButton();
const preprocessors = new PreprocessorPicker(() =>
  state.stream ? stop() : showIdle(ui, preprocessors.chain(state.schema.id)),
);
const preview = new PreviewPanel(ui);

// --- pipeline --------------------------------------------------------------------------------

async function selectPipeline(id) {
  const schema = (state.schema = state.schemas[id]);
  localStorage.setItem(LAST_PIPELINE, id);
  state.paramsSchema = await api.paramsSchema(id);
  const vram = schema.estimated_vram_gb ? ` · needs ~${schema.estimated_vram_gb} GB VRAM` : "";
  const gpu = state.vramGb ? ` (this GPU: ${Math.round(state.vramGb)} GB)` : "";
  $("#pipeline-facts").textContent = `${schema.supported_modes.join(" / ")} mode${vram}${gpu}`;
  $("#about-title").textContent = `About ${schema.name}`;
  $("#pipeline-description").textContent = schema.description;
  $("#pipeline-docs").hidden = !schema.docs_url;
  $("#pipeline-docs").href = schema.docs_url || "#";
  for (const radio of document.querySelectorAll("[name=mode]")) {
    radio.disabled = !schema.supported_modes.includes(radio.value);
  }
  $("#prompts-panel").hidden = schema.supports_prompts === false;
  $("#reset-cache").hidden = !schema.supports_cache_management;
  $("#lora-panel").hidden = !schema.supports_lora;
  $("#vace-panel").hidden = !schema.supports_vace;
  $("#seed-row").hidden = !schema.supports_quantization;
  // fp8 by default where the GPU has less memory than the pipeline recommends without it.
  const threshold = schema.recommended_quantization_vram_threshold;
  const small = state.vramGb !== null && threshold !== null && state.vramGb < threshold;
  $("#quantization").value = small ? "fp8_e4m3fn" : "";
  if (schema.supports_lora) loras.refresh().catch((error) => notify(error.message, "error"));
  if (schema.supports_vace) vace.refresh().catch((error) => notify(error.message, "error"));
  setMode(schema.default_mode);
}

function setMode(mode) {
  if (state.stream) stop();
  const schema = state.schema;
  state.mode = mode;
  document.querySelector(`[name=mode][value=${mode}]`).checked = true;
  $("#source-pick").hidden = mode !== "video";
  preprocessors.setMode(mode);
  const defaults = {
    ...configDefaults(schema.config_schema),
    ...(schema.mode_defaults?.[mode] || {}),
  };
  $("#width").value = defaults.width ?? 512;
  $("#height").value = defaults.height ?? 512;
  const onChange = (key, value) => {
    state.params[key] = value;
    send({ [key]: value });
  };
  state.params = buildControls($("#controls"), state.paramsSchema, schema, defaults, onChange);
  $("#no-controls").hidden = $("#controls").children.length > 0;
  prompts.reset(mode, schema);
  vace.setMode(mode);
  showIdle(ui, preprocessors.chain(schema.id));
}

/** Loads the picked pipeline (after the preprocessor in use) with the Load settings. */
async function load() {
  const chain = preprocessors.chain($("#pipeline").value);
  await loadChain(ui, state.schemas, chain, {
    params: () => loadParams(state, loras, vace),
    onLoaded: (status) => loras.setLoaded(status.loaded_lora_adapters),
  });
}

// --- streaming -------------------------------------------------------------------------------

async function start() {
  $("#start").disabled = true;
  try {
    await load();
    let track = null;
    if (state.mode === "video") {
      state.input = await openInput(
        $("#source").value,
        $("#input-preview"),
        $("#source-file").files[0],
      );
      track = state.input.track;
    }
    const initialParameters = {
      input_mode: state.mode,
      pipeline_ids: preprocessors.chain(state.schema.id),
      ...state.params,
      ...spout.initial(),
    };
    if (state.schema.supports_prompts !== false)
      Object.assign(initialParameters, prompts.initial());
    if (state.schema.supports_vace && vace.enabled())
      Object.assign(initialParameters, vace.initial());
    const stream = (state.stream = new Stream({ onVideo, onMessage, onClosed: stopped }));
    await stream.start(track, initialParameters);
    ui.sessionId = stream.sessionId;
    setStreaming(true);
    preview.start(stream.sessionId, preprocessors.current());
    notify("");
  } catch (error) {
    notify(error.message, "error");
    stop();
  } finally {
    $("#start").disabled = false;
  }
}

function onVideo(media) {
  const video = $("#output");
  video.srcObject = media;
  $("#placeholder").hidden = true;
  const count = () => {
    ui.framesShown += 1;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
}

function onMessage(message) {
  ui.messages.push(message);
  if (message.type === "stream_stopped") state.stream?.close(message.error_message || null);
  else if (message.type === "error") notify(`Not applied: ${message.message}`, "error");
  else if (message.type === "recording") showRecordings().catch(() => {});
}

function stop() {
  state.stream?.close();
}

/** The session has ended (by us, the server, or the network). */
function stopped(errorText) {
  state.input?.stop();
  state.input = null;
  state.stream = null;
  ui.sessionId = null;
  state.paused = false;
  recorder.reset();
  preview.stop();
  setStreaming(false);
  if (errorText) notify(`Stream stopped: ${errorText}`, "error");
  showRecordings().catch(() => {});
  showIdle(ui, preprocessors.chain(state.schema.id));
}

function setStreaming(on) {
  $("#start").textContent = on ? "Stop" : "Start";
  $("#start").classList.toggle("danger", on);
  for (const id of ["#pause", "#record", "#reset-cache"]) $(id).disabled = !on;
  $("#pause").textContent = "Pause";
  ui.stream = on ? "streaming" : "stopped";
  clearInterval(state.timer);
  if (on) {
    const poll = () => state.stream?.sessionId && showLive(state.stream, ui);
    state.timer = setInterval(poll, 1000);
    poll();
  } else {
    $("#output").srcObject = null;
    $("#placeholder").hidden = false;
  }
}

function togglePause() {
  if (!state.stream) return;
  state.paused = !state.paused;
  send({ paused: state.paused });
  $("#pause").textContent = state.paused ? "Resume" : "Pause";
  ui.stream = state.paused ? "paused" : "streaming";
}

// --- wiring ----------------------------------------------------------------------------------

function wire() {
  $("#pipeline").addEventListener("change", (event) => {
    if (state.stream) stop();
    selectPipeline(event.target.value).catch((error) => notify(error.message, "error"));
  });
  $("#load").addEventListener("click", () =>
    load().catch((error) => notify(error.message, "error")),
  );
  $("#start").addEventListener("click", () => (state.stream ? stop() : start()));
  $("#pause").addEventListener("click", togglePause);
  $("#record").addEventListener("click", () => recorder.toggle(state.stream?.sessionId));
  $("#reset-cache").addEventListener("click", () => send({ reset_cache: true }));
  for (const radio of document.querySelectorAll("[name=mode]")) {
    radio.addEventListener("change", () => setMode(radio.value));
  }
  $("#source").addEventListener("change", async (event) => {
    if (event.target.value === "file") $("#source-file").click();
    else if (state.stream) switchSource();
  });
  $("#source-file").addEventListener("change", () => state.stream && switchSource());
  bindShortcuts({ pause: togglePause });
}

/** Swap the input video of the running stream (no new session). */
async function switchSource() {
  try {
    const next = await openInput(
      $("#source").value,
      $("#input-preview"),
      $("#source-file").files[0],
    );
    await state.stream.replaceInput(next.track);
    state.input?.stop();
    state.input = next;
  } catch (error) {
    notify(error.message, "error");
  }
}

async function init() {
  wire();
  try {
    const [{ pipelines }, hardware, status] = await Promise.all([
      api.schemas(),
      api.hardware(),
      api.pipelineStatus(),
    ]);
    state.schemas = pipelines;
    state.vramGb = hardware.vram_gb;
    preprocessors.fill(pipelines, status);
    const mains = Object.fromEntries(
      Object.entries(pipelines).filter(([, schema]) => !isPreprocessor(schema)),
    );
    const picker = $("#pipeline");
    for (const [id, schema] of Object.entries(mains)) {
      picker.append(
        new Option(
          schema.name + (schema.estimated_vram_gb ? ` (~${schema.estimated_vram_gb} GB)` : ""),
          id,
        ),
      );
    }
    const wanted = new URLSearchParams(location.search).get("pipeline");
    const last = localStorage.getItem(LAST_PIPELINE);
    const choice = [wanted, status.pipeline_id, last, "longlive"].find((id) => mains[id]);
    picker.value = choice || Object.keys(mains)[0];
    spout.refresh().catch((error) => notify(error.message, "error"));
    await selectPipeline(picker.value);
    showStatus(ui, state.schemas, status, preprocessors.chain(picker.value));
    if (status.error) notify(status.error, "error");
    $("#start").disabled = $("#load").disabled = false;
    await showRecordings();
  } catch (error) {
    notify(`The server did not answer: ${error.message}`, "error");
  }
}

init();
