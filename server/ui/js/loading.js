// Loading a pipeline chain: the load parameters, the load request and the wait for `loaded`,
// and the status pill beside the Load button.

import { api, sleep } from "./api.js";
import { $ } from "./dom.js";
import { ensureModels } from "./downloads.js";

const POLL_MS = 400; // how often the load's progress is asked while it runs

/** Shows a load status in the pill, and in `ui.status` (what tests wait on). */
export function setStatus(ui, status, label = status.replaceAll("_", " ")) {
  ui.status = status;
  const pill = $("#load-state");
  pill.dataset.state = status;
  pill.textContent = label;
}

/** "Depth → LongLive": the chain's names. */
export const chainName = (schemas, chain) => chain.map((id) => schemas[id].name).join(" → ");

/** Whether the status reports `chain` loaded (a server without chains reports only the id). */
export function loadedChain(status, chain) {
  const ids = status.pipeline_ids || [status.pipeline_id];
  return status.status === "loaded" && ids.join() === chain.join();
}

/** The pill for a status the server reported: `chain` loaded, an error, or not loaded. */
export function showStatus(ui, schemas, status, chain) {
  if (loadedChain(status, chain)) setStatus(ui, "loaded", `${chainName(schemas, chain)} loaded`);
  else setStatus(ui, status.status === "error" ? "error" : "not_loaded");
}

/** The load parameters of `{ schema, mode, input }`: the Load settings, LoRAs and VACE. */
export function loadParams({ schema, mode, input }, loras, vace) {
  const params = { width: Number($("#width").value), height: Number($("#height").value) };
  if (mode === "video" && input?.size[0] && $("#source").value === "file") {
    [params.width, params.height] = input.size; // an uploaded video keeps its size
  }
  if (schema.supports_quantization) {
    params.seed = Number($("#seed").value);
    params.quantization = $("#quantization").value || null;
  }
  if (schema.supports_lora && loras.selected().length) params.loras = loras.selected();
  if (schema.supports_vace) params.vace_enabled = vace.enabled();
  return params;
}

/**
 * Loads `chain` once its models are there, with `params()` (read after any download), and
 * resolves when it is loaded, after `onLoaded(status)`; rejects when the load fails.
 */
export async function loadChain(ui, schemas, chain, { params, onLoaded }) {
  await ensureModels(chain.map((id) => schemas[id]));
  setStatus(ui, "loading", `loading ${chainName(schemas, chain)}…`);
  await api.loadPipeline(chain, params());
  for (;;) {
    const status = await api.pipelineStatus();
    if (loadedChain(status, chain)) {
      onLoaded(status);
      setStatus(ui, "loaded", `${chainName(schemas, chain)} loaded`);
      return;
    }
    if (status.status === "error") {
      setStatus(ui, "error", "load failed");
      throw new Error(status.error || `${chainName(schemas, chain)} failed to load`);
    }
    await sleep(POLL_MS);
  }
}
