// The running graph as an SVG: nodes in columns by depth, edges with their queue state.

import { formatNumber } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 150;
const NODE_H = 62;
const GAP_X = 90;
const GAP_Y = 18;

function svg(tag, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

/** Column of each node: the longest path from a source (nodes come in topological order). */
function columns(graph) {
  const column = new Map(graph.nodes.map((node) => [node.id, 0]));
  for (const node of graph.nodes) {
    for (const edge of graph.edges) {
      if (edge.from_node === node.id) {
        column.set(edge.to_node, Math.max(column.get(edge.to_node), column.get(node.id) + 1));
      }
    }
  }
  return column;
}

function layout(graph) {
  const column = columns(graph);
  const rows = new Map();
  const place = new Map();
  for (const node of graph.nodes) {
    const c = column.get(node.id);
    const r = rows.get(c) || 0;
    rows.set(c, r + 1);
    place.set(node.id, { x: 8 + c * (NODE_W + GAP_X), y: 8 + r * (NODE_H + GAP_Y) });
  }
  const width = 16 + (Math.max(...column.values(), 0) + 1) * (NODE_W + GAP_X) - GAP_X;
  const height = 16 + Math.max(...rows.values(), 1) * (NODE_H + GAP_Y) - GAP_Y;
  return { place, width, height };
}

const key = (edge) => `${edge.from_node}.${edge.from_port}->${edge.to_node}.${edge.to_port}`;

function nodeText(node) {
  if (node.fps === null || node.fps === undefined) return [node.type, "not running"];
  return [node.type, `${formatNumber(node.fps)} fps · ${formatNumber(node.latency_p50_ms)} ms`];
}

function edgeText(edge) {
  if (edge.depth === null || edge.depth === undefined) return edge.policy || "";
  return `q ${edge.depth}/${edge.capacity} · drop ${edge.dropped}`;
}

/** Draws `graph` into `root`; redraws only when the structure changes, else updates text. */
export class GraphView {
  constructor(root) {
    this.root = root;
    this.shape = "";
  }

  render(graph) {
    const shape = JSON.stringify([graph.nodes.map((n) => [n.id, n.type]), graph.edges.map(key)]);
    if (shape !== this.shape) this._draw(graph, shape);
    for (const node of graph.nodes) {
      const group = this.root.querySelector(`[data-node="${CSS.escape(node.id)}"]`);
      const [line1, line2] = nodeText(node);
      group.querySelector(".line1").textContent = line1;
      group.querySelector(".line2").textContent = line2;
      group.setAttribute("class", `graph-node ${node.state || "idle"}`);
      group.querySelector("title").textContent =
        `${node.id} (${node.type}): ${node.state || "not running"}, ${node.calls ?? 0} calls, ` +
        `p50 ${formatNumber(node.latency_p50_ms)} ms, p99 ${formatNumber(node.latency_p99_ms)} ms`;
    }
    for (const edge of graph.edges) {
      const label = this.root.querySelector(`[data-edge="${CSS.escape(key(edge))}"]`);
      label.textContent = edgeText(edge);
      label.classList.toggle("dropping", Boolean(edge.dropped));
    }
  }

  _draw(graph, shape) {
    this.shape = shape;
    const { place, width, height } = layout(graph);
    const root = this.root;
    root.replaceChildren();
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.setAttribute("width", width);
    root.setAttribute("height", height);
    for (const edge of graph.edges) {
      const a = place.get(edge.from_node);
      const b = place.get(edge.to_node);
      const [x1, y1, x2, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2];
      const bend = Math.max(24, (x2 - x1) / 2);
      root.append(
        svg("path", {
          class: "graph-edge",
          d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
        }),
      );
      root.append(
        svg(
          "text",
          { class: "edge-label", x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, "data-edge": key(edge) },
          "",
        ),
      );
    }
    for (const node of graph.nodes) {
      const { x, y } = place.get(node.id);
      const group = svg("g", { "data-node": node.id, transform: `translate(${x},${y})` });
      group.append(
        svg("title", {}, ""),
        svg("rect", { width: NODE_W, height: NODE_H, rx: 8 }),
        svg("text", { class: "node-id", x: 10, y: 18 }, node.id),
        svg("text", { class: "line1", x: 10, y: 36 }, ""),
        svg("text", { class: "line2", x: 10, y: 52 }, ""),
      );
      root.append(group);
    }
  }
}
