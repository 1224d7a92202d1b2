// The live readouts: the output's FPS, size and latency, and the graph view with its metrics.

import { api } from "./api.js";
import { $, formatNumber } from "./dom.js";
import { GraphView } from "./graph_view.js";

const graphView = new GraphView($("#graph"));

/** One poll while streaming: the session's graph metrics and the WebRTC stats. */
export async function showLive(stream, ui) {
  const [graph, stats] = await Promise.all([
    api.sessionGraph(stream.sessionId).catch(() => null),
    stream.stats().catch(() => null),
  ]);
  if (graph) {
    ui.graph = graph;
    graphView.render(graph);
    $("#graph-caption").textContent =
      `session ${graph.session_id.slice(0, 8)} · ${Math.round(graph.elapsed_s)} s`;
  }
  if (!stats) return;
  ui.stats = stats;
  $("#readout").hidden = false;
  $("#fps").textContent = `${formatNumber(stats.fps)} fps`;
  $("#resolution").textContent = stats.width ? `${stats.width}×${stats.height}` : "–";
  const server = graph?.output?.latency_ms;
  if (server !== null && server !== undefined) {
    // Server time plus the network both ways plus the browser's jitter buffer.
    const total = server + (stats.rttMs ?? 0) + (stats.jitterMs ?? 0);
    $("#latency").textContent = `latency ≈ ${Math.round(total)} ms`;
    $("#latency").title = [
      `server ${Math.round(server)} ms`,
      `network RTT ${formatNumber(stats.rttMs, 0)} ms`,
      `jitter buffer ${formatNumber(stats.jitterMs, 0)} ms`,
    ].join(" · ");
  }
}

/** The graph a new session of the chain `pipelineIds` would run, without metrics; no readouts. */
export async function showIdle(ui, pipelineIds) {
  $("#readout").hidden = true;
  for (const id of ["#fps", "#resolution", "#latency"]) $(id).textContent = "–";
  try {
    const graph = await api.graph(pipelineIds);
    ui.graph = graph;
    graphView.render(graph);
    $("#graph-caption").textContent = "not running";
  } catch (error) {
    $("#graph-caption").textContent = error.message;
  }
}
