// The Scope API, as the web UI calls it: same origin, JSON in and out, errors as readable text.

export class ApiError extends Error {}

async function call(method, path, body, headers = { "Content-Type": "application/json" }) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : headers,
    body: body === undefined || body instanceof Blob ? body : JSON.stringify(body),
  });
  if (!response.ok) {
    const text = await response.text();
    let detail = text;
    try {
      detail = JSON.parse(text).detail || text;
    } catch {
      // not JSON: the body text is the message
    }
    throw new ApiError(`${method} ${path}: ${detail || response.statusText} (${response.status})`);
  }
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  schemas: () => call("GET", "/pipelines/schemas"),
  paramsSchema: (pipelineId) => call("GET", `/pipelines/${pipelineId}/params_schema`),
  hardware: () => call("GET", "/hardware/info"),
  pipelineStatus: () => call("GET", "/pipeline/status"),
  loadPipeline: (pipelineId, loadParams) =>
    call("POST", "/pipeline/load", { pipeline_id: pipelineId, load_params: loadParams }),
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
  graph: (pipelineId) => call("GET", `/graph?pipeline_id=${encodeURIComponent(pipelineId)}`),
  sessionGraph: (sessionId) => call("GET", `/sessions/${sessionId}/graph`),
  spoutSenders: () => call("GET", "/spout/senders"),
};

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
