// The rayflink web UI: reads the REST API (Flink's paths) once a second and draws the selected job.
"use strict";

const state = { jobId: null, tab: "checkpoints", refreshMs: 1000 };
const $ = (id) => document.getElementById(id);

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.text();
  const data = body ? JSON.parse(body) : {};
  if (!response.ok) throw new Error((data.errors || [response.statusText]).join("; "));
  return data;
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtRate(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M/s";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "K/s";
  return n.toFixed(n < 10 ? 1 : 0) + "/s";
}

function fmtBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + " GB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KB";
  return n + " B";
}

function fmtDuration(ms) {
  if (ms < 0) return "-";
  if (ms < 1000) return ms + " ms";
  const s = Math.floor(ms / 1000);
  if (s < 60) return (ms / 1000).toFixed(1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  return Math.floor(m / 60) + "h " + (m % 60) + "m";
}

function fmtTime(ms) {
  return ms > 0 ? new Date(ms).toLocaleTimeString() : "-";
}

function fmtWatermark(value) {
  const v = Number(value);
  if (!isFinite(v) || v <= -9.2e18) return "no watermark";
  if (v >= 9.2e18) return "end of input";
  return new Date(v).toLocaleTimeString();
}

// Flink's colours: a vertex is blue when idle, turns red as it gets busy, and black when backpressured.
function vertexColour(busy, backpressured) {
  if (backpressured > 0.5) return "#333";
  const t = Math.max(0, Math.min(1, busy));
  const from = [143, 193, 227], to = [232, 85, 63];
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

async function refreshJobs() {
  const [overview, jobs] = await Promise.all([api("/overview"), api("/jobs/overview")]);
  $("overview").textContent = `${overview.taskmanagers} task executors · ${overview["slots-total"]} slots · ` +
    `${overview["jobs-running"]} running · ${overview["jobs-finished"]} finished · ` +
    `${overview["jobs-failed"]} failed · ${overview["jobs-cancelled"]} cancelled`;
  const list = jobs.jobs.slice().sort((a, b) => b["start-time"] - a["start-time"]);
  if (!state.jobId && list.length) state.jobId = list[0].jid;
  $("jobs").innerHTML = list.map((j) =>
    `<li data-jid="${esc(j.jid)}" class="${j.jid === state.jobId ? "selected" : ""}">` +
    `<span class="name">${esc(j.name)}</span>` +
    `<span class="sub"><span class="state ${esc(j.state)}">${esc(j.state)}</span> ${fmtDuration(j.duration)}</span></li>`
  ).join("");
  for (const li of $("jobs").querySelectorAll("li")) {
    li.onclick = () => { state.jobId = li.dataset.jid; tick(); };
  }
}

function layout(nodes) {
  const byId = Object.fromEntries(nodes.map((n) => [n.id, n]));
  const depth = {};
  const depthOf = (n) => {
    if (depth[n.id] !== undefined) return depth[n.id];
    depth[n.id] = 0;
    const d = Math.max(-1, ...(n.inputs || []).map((i) => (byId[i.id] ? depthOf(byId[i.id]) : -1))) + 1;
    depth[n.id] = d;
    return d;
  };
  nodes.forEach(depthOf);
  const columns = {};
  for (const n of nodes) (columns[depth[n.id]] = columns[depth[n.id]] || []).push(n);
  const W = 240, H = 112, GX = 70, GY = 26, pos = {};
  for (const [d, col] of Object.entries(columns)) {
    col.forEach((n, i) => { pos[n.id] = { x: 20 + Number(d) * (W + GX), y: 20 + i * (H + GY), w: W, h: H }; });
  }
  const width = 40 + Object.keys(columns).length * (W + GX) - GX;
  const height = 40 + Math.max(...Object.values(columns).map((c) => c.length)) * (H + GY) - GY;
  return { pos, width, height };
}

async function drawGraph(job) {
  const nodes = job.plan.nodes;
  const metrics = {};
  await Promise.all(job.vertices.map(async (v) => {
    const [bp, m, wm] = await Promise.all([
      api(`/jobs/${job.jid}/vertices/${v.id}/backpressure`),
      api(`/jobs/${job.jid}/vertices/${v.id}/subtasks/metrics?get=numRecordsInPerSecond,numRecordsOutPerSecond,busyTimeMsPerSecond,backPressuredTimeMsPerSecond`),
      api(`/jobs/${job.jid}/vertices/${v.id}/watermarks`),
    ]);
    const get = (id, agg) => { const e = m.find((x) => x.id === id); return e ? e[agg] : 0; };
    const busyMs = m.find((x) => x.id === "busyTimeMsPerSecond");
    const worstBp = Math.max(0, ...bp.subtasks.map((s) => s.ratio));
    const busy = busyMs ? busyMs.max / 1000 : Math.max(0, ...bp.subtasks.map((s) => s.busyRatio));
    const marks = wm.map((w) => Number(w.value));
    metrics[v.id] = {
      in: get("numRecordsInPerSecond", "sum"), out: get("numRecordsOutPerSecond", "sum"),
      busy, backpressured: worstBp, level: bp["backpressure-level"],
      watermark: marks.length ? Math.min(...marks) : null, vertex: v,
    };
  }));
  const { pos, width, height } = layout(nodes);
  const svg = $("graph");
  svg.setAttribute("viewBox", `0 0 ${Math.max(width, 600)} ${Math.max(height, 150)}`);
  svg.style.height = Math.max(160, Math.min(520, height)) + "px";
  let html = `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>`;
  for (const n of nodes) {
    for (const input of n.inputs || []) {
      const a = pos[input.id], b = pos[n.id];
      if (!a || !b) continue;
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
      html += `<path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}" stroke="#777" fill="none" marker-end="url(#arrow)"/>`;
      html += `<text x="${mx}" y="${(y1 + y2) / 2 - 5}" text-anchor="middle" fill="#555">${esc(input.ship_strategy)}</text>`;
    }
  }
  for (const n of nodes) {
    const p = pos[n.id], m = metrics[n.id] || { in: 0, out: 0, busy: 0, backpressured: 0, vertex: { name: n.id } };
    const fill = vertexColour(m.busy, m.backpressured);
    const dark = m.backpressured > 0.5 || m.busy > 0.55;
    const ink = dark ? "#fff" : "#111";
    const name = m.vertex.name.length > 34 ? m.vertex.name.slice(0, 33) + "…" : m.vertex.name;
    html += `<g class="vertex" data-vertex="${esc(n.id)}"><title>${esc(m.vertex.name)}</title>` +
      `<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" rx="6" fill="${fill}" stroke="#445"/>` +
      `<text class="vname" x="${p.x + 10}" y="${p.y + 20}" fill="${ink}">${esc(name)}</text>` +
      `<text x="${p.x + 10}" y="${p.y + 40}" fill="${ink}">parallelism ${n.parallelism}</text>` +
      `<text class="rates" x="${p.x + 10}" y="${p.y + 58}" fill="${ink}">in ${fmtRate(m.in)} · out ${fmtRate(m.out)}</text>` +
      `<text x="${p.x + 10}" y="${p.y + 76}" fill="${ink}">busy ${Math.round(m.busy * 100)}% · backpressured ${Math.round(m.backpressured * 100)}%</text>` +
      `<text x="${p.x + 10}" y="${p.y + 94}" fill="${ink}">watermark ${m.watermark === null ? "-" : fmtWatermark(m.watermark)}</text></g>`;
  }
  svg.innerHTML = html;
}

async function drawCheckpoints(jid) {
  const c = await api(`/jobs/${jid}/checkpoints`);
  const rows = c.history.map((h) =>
    `<tr><td>${h.id}</td><td>${esc(h.status)}</td><td>${h.is_savepoint ? "savepoint" : "checkpoint"}</td>` +
    `<td>${fmtTime(h.trigger_timestamp)}</td><td class="num">${fmtDuration(h.end_to_end_duration)}</td>` +
    `<td class="num">${fmtBytes(h.checkpointed_size)}</td><td class="num">${fmtBytes(h.state_size)}</td>` +
    `<td>${esc(h.external_path || h.failure_message || "")}</td></tr>`).join("");
  $("tab-checkpoints").innerHTML =
    `<div class="counts"><span><b>${c.counts.completed}</b>completed</span><span><b>${c.counts.failed}</b>failed</span>` +
    `<span><b>${c.counts.in_progress}</b>in progress</span><span><b>${c.counts.restored}</b>restored</span></div>` +
    `<table><thead><tr><th>ID</th><th>Status</th><th>Type</th><th>Triggered</th><th>Duration</th>` +
    `<th>Checkpointed size</th><th>Full size</th><th>Path / failure</th></tr></thead><tbody>${rows}</tbody></table>`;
}

async function drawExceptions(jid) {
  const e = await api(`/jobs/${jid}/exceptions`);
  const entries = e.exceptionHistory.entries;
  $("tab-exceptions").innerHTML = entries.length ? entries.map((x) =>
    `<div><b>${esc(x.exceptionName)}</b> at ${fmtTime(x.timestamp)} ${esc(x.taskName)}<pre>${esc(x.stacktrace)}</pre></div>`
  ).join("") : "No exceptions.";
}

async function drawTaskManagers() {
  const t = await api("/taskmanagers");
  $("tab-taskmanagers").innerHTML = `<table><thead><tr><th>Executor</th><th>Ray node</th><th>Address</th><th>PID</th>` +
    `<th>Subtasks</th><th>Memory (RSS)</th></tr></thead><tbody>` + t.taskmanagers.map((m) =>
    `<tr><td>${esc(m.path.split("/").pop())}</td><td>${esc(m.node_id.slice(0, 12))}</td><td>${esc(m.node_ip)}</td>` +
    `<td>${m.pid}</td><td class="num">${m.assignedTasks}</td><td class="num">${fmtBytes(m.rss_bytes)}</td></tr>`).join("") +
    `</tbody></table>`;
}

async function drawConfiguration(jid) {
  const c = await api(`/jobs/${jid}/checkpoints/config`);
  $("tab-configuration").innerHTML = `<table><tbody>` + Object.entries(c).map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`).join("") + `</tbody></table>`;
}

async function drawJob() {
  if (!state.jobId) { $("job").hidden = true; $("empty").hidden = false; return; }
  const job = await api(`/jobs/${state.jobId}`);
  $("job").hidden = false; $("empty").hidden = true;
  $("job-name").textContent = job.name;
  $("job-state").textContent = job.state;
  $("job-state").className = "state " + job.state;
  $("job-meta").textContent = `id ${job.jid} · started ${fmtTime(job["start-time"])} · running ${fmtDuration(job.duration)}`;
  for (const id of ["btn-savepoint", "btn-stop", "btn-cancel"]) $(id).disabled = !job.isStoppable;
  await drawGraph(job);
  const tabs = { checkpoints: () => drawCheckpoints(job.jid), exceptions: () => drawExceptions(job.jid),
                 taskmanagers: drawTaskManagers, configuration: () => drawConfiguration(job.jid) };
  await tabs[state.tab]();
}

function showResult(text, isError) {
  $("action-result").textContent = text;
  $("action-result").className = "action-result" + (isError ? " error" : "");
}

async function trigger(kind) {
  const jid = state.jobId, dir = $("savepoint-dir").value.trim() || undefined;
  try {
    let rid;
    if (kind === "cancel") {
      await api(`/jobs/${jid}?mode=cancel`, { method: "PATCH" });
      showResult("cancel requested", false);
      return;
    }
    if (kind === "stop") {
      rid = (await api(`/jobs/${jid}/stop`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ targetDirectory: dir, drain: false }) }))["request-id"];
    } else {
      rid = (await api(`/jobs/${jid}/savepoints`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ "target-directory": dir, "cancel-job": false }) }))["request-id"];
    }
    showResult(`${kind === "stop" ? "stop with savepoint" : "savepoint"} in progress…`, false);
    for (;;) {
      const s = await api(`/jobs/${jid}/savepoints/${rid}`);
      if (s.status.id === "COMPLETED") {
        if (s.operation["failure-cause"]) showResult("savepoint failed: " + s.operation["failure-cause"]["stack-trace"], true);
        else showResult("savepoint completed: " + s.operation.location, false);
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    showResult(String(err.message || err), true);
  }
}

async function tick() {
  try {
    await refreshJobs();
    await drawJob();
  } catch (err) {
    $("overview").textContent = "cannot reach the REST API: " + (err.message || err);
  }
}

$("btn-savepoint").onclick = () => trigger("savepoint");
$("btn-stop").onclick = () => trigger("stop");
$("btn-cancel").onclick = () => trigger("cancel");
for (const b of document.querySelectorAll(".tabs button")) {
  b.onclick = () => {
    state.tab = b.dataset.tab;
    for (const other of document.querySelectorAll(".tabs button")) other.classList.toggle("active", other === b);
    for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + state.tab;
    tick();
  };
}

(async function main() {
  try { state.refreshMs = (await api("/config"))["refresh-interval"] || 1000; } catch (err) { /* keep the default */ }
  state.refreshMs = Math.min(state.refreshMs, 1000);
  for (;;) {
    await tick();
    await new Promise((r) => setTimeout(r, state.refreshMs));
  }
})();
