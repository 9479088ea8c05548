// The sessions view: a recorded session's timeline, drawn from /v1/sessions/NAME/timeline and refreshed
// every few seconds while it is shown, so that a session being recorded grows on the screen.
"use strict";

const sessionView = { timer: null, line: null, loop: 0 };
const REFRESH_MS = 2000;

async function loadSessionList() {
  const body = await (await fetch("v1/sessions")).json();
  const select = $("session-list");
  const wanted = select.value || new URLSearchParams(location.hash.slice(1)).get("session");
  select.replaceChildren(...body.sessions.map((s) => new Option(`${s.name} (${s.steps} steps)`, s.name)));
  if (wanted && body.sessions.some((s) => s.name === wanted)) select.value = wanted;
  if (!body.sessions.length) $("session-text").textContent = "No sessions yet: record one with `moodlens record` or the webcam.";
}

function timeText(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

// seconds between time ticks: the smallest round step that gives at most 6 of them
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const tickStep = (until) => TICK_STEPS.find((step) => until / step <= 6) || Math.ceil(until / 6 / 86400) * 86400;

function drawAxes(ctx, x, y, until) {
  const { width, height } = ctx.canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#ddd";
  ctx.fillStyle = "#666";
  ctx.font = "11px sans-serif";
  ctx.beginPath(); ctx.moveTo(40, y(0)); ctx.lineTo(width, y(0)); ctx.moveTo(40, y(1)); ctx.lineTo(width, y(1)); ctx.stroke();
  ctx.textAlign = "center";
  const step = tickStep(until);
  for (let t = 0; t <= until; t += step) {  // ticks at round times from the session's start
    ctx.beginPath(); ctx.moveTo(x(t), y(0)); ctx.lineTo(x(t), y(0) + 3); ctx.stroke();
    ctx.fillText(timeText(t), Math.min(width - 24, Math.max(40, x(t))), height - 2);
  }
  ctx.textAlign = "start";
}

function drawSession(line) {
  const rows = line.buckets;
  const until = Math.max(line.bucket, ...rows.map((r) => r.t + line.bucket));
  const chart = $("session-chart").getContext("2d");
  const { width, height } = chart.canvas;
  const x = (t) => 40 + (t / until) * (width - 44);
  const y = (share) => height - 16 - share * (height - 28);
  drawAxes(chart, x, y, until);
  chart.fillText("100 %", 2, y(1) + 4);
  chart.fillText("0 %", 2, y(0));
  for (const [name, t] of Object.entries(line.markers)) {  // the moments of highest and lowest positive share
    chart.strokeStyle = name === "highest_positive" ? "#2a2" : "#c33";
    chart.setLineDash([4, 3]);
    chart.beginPath(); chart.moveTo(x(t + line.bucket / 2), y(0)); chart.lineTo(x(t + line.bucket / 2), y(1)); chart.stroke();
    chart.setLineDash([]);
    chart.fillStyle = chart.strokeStyle;
    chart.fillText(name === "highest_positive" ? "most positive" : "least positive", x(t + line.bucket / 2) + 3, y(1) + 10);
  }
  line.labels.forEach((label, i) => {
    chart.strokeStyle = COLORS[label] || "#888";
    chart.lineWidth = 2;
    chart.beginPath();
    let drawing = false;  // a bucket with no readable face has no share: the line breaks there
    rows.forEach((r) => {
      const share = r.shares[label].share;
      if (share === null) { drawing = false; return; }
      const point = [x(r.t + line.bucket / 2), y(share)];
      if (drawing) chart.lineTo(...point); else chart.moveTo(...point);
      drawing = true;
    });
    chart.stroke();
    chart.lineWidth = 1;
    chart.fillStyle = COLORS[label] || "#888";
    chart.fillText(label, 44 + i * 70, 10);
  });

  const faces = $("session-faces").getContext("2d");
  const most = Math.max(1, ...rows.map((r) => r.faces));
  const fy = (share) => faces.canvas.height - 16 - share * (faces.canvas.height - 28);
  drawAxes(faces, x, fy, until);
  const barWidth = Math.max(1, x(line.bucket) - x(0) - 1);
  faces.fillStyle = "#bbb";
  rows.forEach((r) => faces.fillRect(x(r.t), fy(r.faces / most), barWidth, fy(0) - fy(r.faces / most)));
  faces.strokeStyle = "#268bd2";
  faces.lineWidth = 2;
  faces.beginPath();
  rows.filter((r) => r.attention !== null).forEach((r, j) => {
    const point = [x(r.t + line.bucket / 2), fy(r.attention)];
    if (j) faces.lineTo(...point); else faces.moveTo(...point);
  });
  faces.stroke();
  faces.lineWidth = 1;
  faces.fillStyle = "#666";
  faces.fillText(`${most.toFixed(1)} faces`, 2, fy(1) + 4);  // the bars' scale, on the left
  faces.fillText("0", 2, fy(0));
  faces.fillStyle = "#268bd2";  // the attention line's scale, on the right
  faces.textAlign = "end";
  faces.fillText("attention 100 %", faces.canvas.width - 2, fy(1) + 4);
  faces.fillText("0 %", faces.canvas.width - 2, fy(0) - 2);
  faces.textAlign = "start";
  faces.fillStyle = "#666";
  faces.fillText("faces present", 44, 10);
}

function describeSession(line) {
  const steps = line.buckets.reduce((n, r) => n + r.steps, 0);
  const parts = [`${steps} steps over ${timeText(line.buckets.length ? line.buckets.at(-1).t + line.bucket : 0)}`];
  for (const [name, t] of Object.entries(line.markers)) {  // none where every bucket has the same share
    const row = line.buckets.find((r) => r.t === t);
    parts.push(`${name === "highest_positive" ? "most" : "least"} positive at ${timeText(t)} (${percent(row.positive_share)})`);
  }
  $("session-text").textContent = parts.join("; ");
  document.body.dataset.sessionSteps = String(steps);
  document.body.dataset.sessionBuckets = String(line.buckets.length);
}

async function showSession() {
  const name = $("session-list").value;
  if (!name) return;
  const bucket = $("session-bucket").value;
  const path = `v1/sessions/${encodeURIComponent(name)}`;
  $("session-csv").href = `${path}/export?format=csv&bucket=${bucket}`;
  $("session-parquet").href = `${path}/export?format=parquet&bucket=${bucket}`;
  const response = await fetch(`${path}/timeline?bucket=${bucket}`);
  if (!response.ok) { $("session-text").textContent = (await response.json()).detail; return; }
  sessionView.line = await response.json();
  drawSession(sessionView.line);
  describeSession(sessionView.line);
  history.replaceState(null, "", `#session=${encodeURIComponent(name)}`);
}

async function refreshSessions() {
  await loadSessionList();
  await showSession();
}

// the next refresh is asked for only when the last one has been answered: requests never pile up, however
// long a large session's timeline takes; a new loop (the view opened again) ends the one before
async function refreshLoop(loop) {
  try { await refreshSessions(); } catch (error) { $("session-text").textContent = String(error); }
  if (loop === sessionView.loop) sessionView.timer = setTimeout(() => refreshLoop(loop), REFRESH_MS);
}

document.addEventListener("modechange", (event) => {
  clearTimeout(sessionView.timer);
  sessionView.loop += 1;
  if (event.detail === "sessions") refreshLoop(sessionView.loop);
});
$("session-list").addEventListener("change", showSession);
$("session-bucket").addEventListener("change", showSession);
if (location.hash.startsWith("#session=")) setMode("sessions");
