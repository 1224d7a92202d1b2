// The Scope API, as the web UI calls it: same origin, JSON in and out, errors as readable text.

export class ApiError extends Error {}

async function call(method, path, body, headers = { "Content-Type": "application/json" }) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : headers,
    body: body === undefined || body instanceof Blob ? body : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(method, path, response);
  if (response.status === 204) return null;
  return response.json();
}

/** The error of a failed call, with the server's `detail` when it sent one. */
async function failure(method, path, response) {
  const text = await response.text();
  let detail = text;
  try {
    detail = JSON.parse(text).detail || text;
  } catch {
    // not JSON: the body text is the message
  }
  return new ApiError(`${method} ${path}: ${detail || response.statusText} (${response.status})`);
}

/** A session's newest preprocessed frame as a JPEG Blob; null while there is none yet (204). */
async function previewFrame(sessionId) {
  const path = `/sessions/${sessionId}/preview`;
  const response = await fetch(`/api/v1${path}`, { cache: "no-store" });
  if (response.status === 204) return null;
  if (!response.ok) throw await failure("GET", path, response);
  return response.blob();
}

export const api = {
  schemas: () => call("GET", "/pipelines/schemas"),
  paramsSchema: (pipelineId) => call("GET", `/pipelines/${pipelineId}/params_schema`),
  hardware: () => call("GET", "/hardware/info"),
  pipelineStatus: () => call("GET", "/pipeline/status"),
  loadPipeline: (pipelineIds, loadParams) =>
    call("POST", "/pipeline/load", loadBody(pipelineIds, loadParams)),
  previewFrame,
  modelsStatus: (pipelineId) =>
    call("GET", `/models/status?pipeline_id=${encodeURIComponent(pipelineId)}`),
  downloadModels: (pipelineId) => call("POST", "/models/download", { pipeline_id: pipelineId }),
  iceServers: () => call("GET", "/webrtc/ice-servers"),
  offer: (body) => call("POST", "/webrtc/offer", body),
  addCandidates: (sessionId, candidates) =>
    call("PATCH", `/webrtc/offer/${sessionId}`, { candidates }),
  loras: () => call("GET", "/lora/list"),
  images: () => call("GET", "/assets?type=image"),
  uploadAsset: (file) =>
    call("POST", `/assets?filename=${encodeURIComponent(file.name)}`, file, {
      "Content-Type": "application/octet-stream",
    }),
  recordings: () => call("GET", "/recordings"),
  startRecording: (sessionId, input) => call("POST", `/sessions/${sessionId}/recording`, { input }),
  stopRecording: (sessionId) => call("DELETE", `/sessions/${sessionId}/recording`),
  graph: (pipelineIds) => call("GET", `/graph?${chainQuery(pipelineIds)}`),
  sessionGraph: (sessionId) => call("GET", `/sessions/${sessionId}/graph`),
  spoutSenders: () => call("GET", "/spout/senders"),
};

/**
 * A load's body: `pipeline_ids` (preprocessors first, the main pipeline last), and for a single
 * pipeline `pipeline_id` too, so that servers that know only Scope's first form load it.
 */
function loadBody(pipelineIds, loadParams) {
  const body = { pipeline_ids: pipelineIds, load_params: loadParams };
  if (pipelineIds.length === 1) body.pipeline_id = pipelineIds[0];
  return body;
}

/** The query naming one pipeline (`pipeline_id`) or a chain (`pipeline_ids`, repeated). */
function chainQuery(pipelineIds) {
  const key = pipelineIds.length === 1 ? "pipeline_id" : "pipeline_ids";
  return new URLSearchParams(pipelineIds.map((id) => [key, id])).toString();
}

/** The URL an asset's image is served at, from the absolute path the server returned. */
export function assetUrl(path) {
  const parts = path.split(/[\\/]/);
  const at = parts.lastIndexOf("assets");
  return `/api/v1/assets/${parts
    .slice(at + 1)
    .map(encodeURIComponent)
    .join("/")}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
