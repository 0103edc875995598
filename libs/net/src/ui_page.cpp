// The live page (`GET /ui`, DESIGN.md §11): one self-contained HTML document (no CDN, no build
// step). It draws the stage graph as configured and fills it from `/ui/events` (Server-Sent
// Events, the state once a second): per stage the rate of finished messages, the queue's lag,
// the messages in flight and the dead letters; connections per transport; recent deliveries.
#include "api.hpp"

namespace sluice::net {

std::string_view ui_page() {
    return R"sluice_ui(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice</title>
<link rel="icon" href="data:,">
<style>
  :root { --ink: #1d2433; --muted: #6b7385; --line: #d5d9e2; --accent: #2f6fdf; --bad: #c0392b; --ok: #1e8e4e; }
  body { font: 14px/1.4 system-ui, sans-serif; color: var(--ink); margin: 0; background: #f6f7fa; }
  header { display: flex; align-items: baseline; gap: 1rem; padding: .8rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 1.1rem; margin: 0; }
  #status { color: var(--muted); }
  #status.live { color: var(--ok); }
  main { display: grid; grid-template-columns: 1fr 22rem; gap: 1rem; padding: 1rem 1.2rem; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem; }
  h2 { font-size: .95rem; margin: 0 0 .6rem; }
  #graph svg { width: 100%; }
  .node rect { fill: #fff; stroke: var(--line); stroke-width: 1.5; rx: 6; }
  .node.busy rect { stroke: var(--accent); }
  .node.dead rect { stroke: var(--bad); }
  .node text { font-size: 12px; fill: var(--ink); }
  .node .name { font-weight: 600; }
  .node .figures { fill: var(--muted); }
  .edge { stroke: #9aa3b5; stroke-width: 1.5; fill: none; marker-end: url(#arrow); }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
  #feed { max-height: 24rem; overflow: auto; font-size: 12px; }
  #feed li { list-style: none; padding: .15rem 0; border-bottom: 1px dotted var(--line); }
  #feed ul { padding: 0; margin: 0; }
  .event { color: var(--accent); }
</style>
</head>
<body>
<header><h1>Sluice</h1><span id="status">connecting…</span></header>
<main>
  <section id="graph"><h2>Stage graph</h2><svg id="svg" role="img" aria-label="stage graph"></svg></section>
  <div>
    <section><h2>Transports</h2><table id="transports"><tr><th>transport</th><th>connections</th><th>frames/s</th><th>dropped</th></tr></table></section>
    <section style="margin-top:1rem"><h2>Recent deliveries</h2><div id="feed"><ul></ul></div></section>
  </div>
</main>
<script>
"use strict";
const NS = "http://www.w3.org/2000/svg";
let previous = null;  // the last state, for rates
let drawn = null;     // the stage names the graph was drawn for

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

/** Columns by distance from the API along the edges; stages not reached go last. */
function layout(state) {
  const edges = [];
  for (const n of state.api_next) edges.push(["api", n]);
  for (const s of state.stages) {
    for (const n of s.next) edges.push([s.name, n]);
    for (const t of Object.values(s.transports || {})) edges.push([s.name, t]);
    if (s.kind === "listener") edges.push(["writer", s.name]);  // the writer feeds listeners
  }
  const depth = { api: 0 };
  for (let changed = true, rounds = 0; changed && rounds < 64; rounds++) {
    changed = false;
    for (const [from, to] of edges) {
      if (depth[from] !== undefined && (depth[to] === undefined || depth[to] > depth[from] + 1) && to !== "api") {
        if (depth[to] === undefined) { depth[to] = depth[from] + 1; changed = true; }
      }
    }
  }
  const last = Math.max(0, ...Object.values(depth)) + 1;
  const columns = {};
  for (const name of ["api", ...state.stages.map((s) => s.name)]) {
    const d = depth[name] ?? last;
    (columns[d] ||= []).push(name);
  }
  const pos = {};
  const W = 200, H = 64, GX = 40, GY = 22;
  for (const [d, names] of Object.entries(columns)) {
    names.forEach((name, i) => (pos[name] = { x: 10 + d * (W + GX), y: 10 + i * (H + GY), w: W, h: H }));
  }
  return { edges, pos };
}

function draw(state) {
  const svg = document.getElementById("svg");
  svg.textContent = "";
  const { edges, pos } = layout(state);
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9aa3b5" }, marker);
  for (const [from, to] of edges) {
    const a = pos[from], b = pos[to];
    if (!a || !b) continue;
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
    const mid = (x1 + x2) / 2;
    el("path", { class: "edge", d: x2 > x1 ? `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`
                                           : `M${a.x + a.w / 2},${a.y + a.h} L${b.x + b.w / 2},${b.y}`, "data-edge": `${from}->${to}` }, svg);
  }
  let width = 0, height = 0;
  for (const [name, p] of Object.entries(pos)) {
    const g = el("g", { class: "node", "data-stage": name, transform: `translate(${p.x},${p.y})` }, svg);
    el("rect", { width: p.w, height: p.h }, g);
    el("text", { x: 10, y: 20, class: "name" }, g).textContent = name;
    el("text", { x: 10, y: 38, class: "figures rate" }, g);
    el("text", { x: 10, y: 54, class: "figures queue" }, g);
    width = Math.max(width, p.x + p.w + 10);
    height = Math.max(height, p.y + p.h + 10);
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  drawn = state.stages.map((s) => s.name).join(",");
}

function rate(now, before, field, seconds) {
  if (!before || seconds <= 0) return 0;
  return Math.max(0, (now[field] - before[field]) / seconds);
}

function render(state) {
  if (drawn !== state.stages.map((s) => s.name).join(",")) draw(state);
  const seconds = previous ? (state.now - previous.now) / 1000 : 0;
  const before = Object.fromEntries((previous?.stages || []).map((s) => [s.name, s]));
  for (const s of state.stages) {
    const g = document.querySelector(`g[data-stage="${CSS.escape(s.name)}"]`);
    if (!g) continue;
    const r = rate(s, before[s.name], "acked", seconds);
    g.querySelector(".rate").textContent = `${r.toFixed(1)} msg/s · ${s.kind}`;
    g.querySelector(".queue").textContent = `lag ${s.ready} · in flight ${s.in_flight} · dead ${s.dead}`;
    g.dataset.acked = s.acked;
    g.dataset.lag = s.ready;
    g.dataset.dead = s.dead;
    g.classList.toggle("busy", s.in_flight > 0 || r > 0);
    g.classList.toggle("dead", s.dead > 0);
  }
  const apiNode = document.querySelector('g[data-stage="api"]');
  if (apiNode) apiNode.querySelector(".rate").textContent = "HTTP writes";
  const table = document.getElementById("transports");
  for (const row of [...table.querySelectorAll("tr.transport")]) row.remove();
  for (const [name, t] of Object.entries(state.transports)) {
    const sent = rate(t, previous?.transports?.[name], "sent", seconds);
    const tr = document.createElement("tr");
    tr.className = "transport";
    tr.dataset.transport = name;
    for (const v of [name, t.connections, sent.toFixed(1), t.dropped]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }
  const list = document.querySelector("#feed ul");
  list.textContent = "";
  for (const d of state.deliveries.slice(0, 30)) {
    const li = document.createElement("li");
    li.dataset.op = d.op;
    const time = new Date(d.at).toLocaleTimeString();
    li.innerHTML = `${time} <span class="event"></span> <span class="doc"></span> → <span class="devices"></span>`;
    li.querySelector(".event").textContent = d.event;
    li.querySelector(".doc").textContent = `${d.app}/${d.model}/${d.id}`;
    li.querySelector(".devices").textContent = `${d.devices} device${d.devices === 1 ? "" : "s"}`;
    list.appendChild(li);
  }
  previous = state;
  window.sluiceState = state;
}

const status = document.getElementById("status");
const source = new EventSource("/ui/events");
source.addEventListener("state", (e) => {
  status.textContent = "live";
  status.className = "live";
  render(JSON.parse(e.data));
});
source.addEventListener("problem", (e) => {
  status.textContent = "the state cannot be read: " + JSON.parse(e.data).message;
  status.className = "";
});
source.onerror = () => {
  status.textContent = "reconnecting…";
  status.className = "";
};
</script>
</body>
</html>
)sluice_ui";
}

}  // namespace sluice::net
