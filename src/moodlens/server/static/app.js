// The moodlens page: photo upload and webcam mode, drawing what the API returns. No external assets.
"use strict";

// the emotions' colours, as the server draws them (GET /v1/models), and faces too small to read
const COLORS = {};
let UNREADABLE = "#5a5a5a";
const percent = (p) => `${Math.round(p * 100)} %`;  // as the server writes a share
const $ = (id) => document.getElementById(id);
const FRAME_WIDTH = 640;  // webcam frames are sent at most this wide
const state = {
  bitmap: null, result: null, selected: -1, layout: null,
  socket: null, stream: null, history: [], frames: [], waiting: false,
};

function query(extra = {}) {
  const model = $("model").value;  // none chosen yet: the server's default
  const params = new URLSearchParams({ ...(model ? { model } : {}), ...extra });
  return params.toString();
}

async function loadModels() {
  const response = await fetch("v1/models");
  const body = await response.json();
  Object.assign(COLORS, body.colors);
  UNREADABLE = body.unreadable_color;
  for (const model of body.models) {
    const option = new Option(`${model.name} (${model.labels.length} emotions)`, model.name);
    option.selected = model.name === body.default;
    $("model").add(option);
  }
}

// --- drawing -------------------------------------------------------------------------------

// Each face's number and label come placed by the server (`number`, `label`: the rules of the annotated
// pictures, for boxes `label_line` picture pixels tall), so that the page draws them and decides nothing.
const LINE_PX = 16, TEXT_PX = 12;  // screen pixels of a number or label box, and of its text
const labelLine = (scale) => Math.max(8, Math.round(LINE_PX / scale));  // scale: screen px per picture px

function drawMark(ctx, mark, color) {
  ctx.fillStyle = color;
  ctx.fillRect(mark.x, mark.y, mark.w, mark.h);
  ctx.fillStyle = "#000";
  ctx.font = `${mark.h * TEXT_PX / LINE_PX}px sans-serif`;
  ctx.textBaseline = "middle";
  ctx.fillText(mark.text, mark.x + mark.h / 6, mark.y + mark.h / 2, mark.w - mark.h / 3);  // never past its box
}

// A label that would cover another face (`covers`) is drawn only for the selected face, on top of the rest.
function drawFaces(ctx, faces, scale, blur, source, selected = -1) {
  if (blur && source) {
    for (const [x, y, w, h] of faces.map((f) => f.box)) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, y, w, h);
      ctx.clip();
      ctx.filter = `blur(${Math.max(6, Math.round(w / 8))}px)`;
      ctx.drawImage(source, 0, 0);
      ctx.restore();
    }
  }
  const labels = faces.map((face, i) => (face.label && (!face.label.covers || i === selected) ? face.label : null));
  const order = faces.map((_, i) => i).filter((i) => i !== selected).concat(selected >= 0 ? [selected] : []);
  order.forEach((i) => {
    const face = faces[i];
    const color = face.readable ? COLORS[face.emotion] || "#fff" : UNREADABLE;
    ctx.strokeStyle = color;
    ctx.lineWidth = (i === selected ? 4 : 2) / scale;
    ctx.strokeRect(...face.box);
    for (const mark of [face.number, labels[i]].filter(Boolean)) drawMark(ctx, mark, color);
  });
  return { scale, numbers: faces.map((f) => f.number), labels };
}

function drawShareChart(canvas, summary) {
  // each emotion's share of the readable faces, largest first, with its 95 % interval as a whisker
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const labels = Object.keys(summary.shares).sort((a, b) => summary.shares[b].share - summary.shares[a].share);
  const slot = canvas.width / labels.length;
  const top = 14, bottom = canvas.height - 20;
  const y = (share) => bottom - share * (bottom - top);
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  labels.forEach((label, i) => {
    const { share, low, high } = summary.shares[label];
    const middle = i * slot + slot / 2;
    ctx.fillStyle = "#222";
    ctx.fillText(label, middle, canvas.height - 6);
    if (share === null) return;  // no readable face: no share
    ctx.fillStyle = COLORS[label] || "#888";
    ctx.fillRect(i * slot + 6, y(share), slot - 12, bottom - y(share));
    ctx.strokeStyle = "#222";
    ctx.beginPath();
    ctx.moveTo(middle, y(low)); ctx.lineTo(middle, y(high));
    ctx.moveTo(middle - 4, y(high)); ctx.lineTo(middle + 4, y(high));
    ctx.moveTo(middle - 4, y(low)); ctx.lineTo(middle + 4, y(low));
    ctx.stroke();
    ctx.fillText(percent(share), middle, Math.max(10, y(high) - 3));
  });
}

function crowdText(summary) {
  // the server's words (summary.lines): faces found and read, then the largest shares with their intervals
  if (!summary.faces) return "No face found.";
  const [found, ...moods] = summary.lines;
  if (!moods.length) return `${found}: too small to read.`;
  const how = summary.method === "corrected" ? ", corrected for the model's confusions" : "";
  return `${found}: ${moods.join(", ")} of the readable faces (95 % intervals${how}).`;
}

// One line per face (its number in the picture, top emotion and probability); its bars open on a tap.
function faceList(faces) {
  const list = $("faces");
  list.replaceChildren();
  faces.forEach((face, i) => {
    const item = document.createElement("li");
    item.className = "face";
    item.dataset.emotion = face.readable ? face.emotion : "unreadable";
    item.dataset.number = String(i + 1);  // the number drawn on the face in the picture
    const details = document.createElement("details");
    const title = document.createElement("summary");
    title.textContent = face.readable
      ? `${face.emotion} ${percent(face.scores[face.emotion])}`
      : `too small to read (${face.size} px wide)`;
    details.append(title);
    item.append(details);
    for (const [label, p] of face.readable ? Object.entries(face.scores) : []) {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.innerHTML = `<span></span><div class="track"><div class="fill"></div></div><span></span>`;
      bar.children[0].textContent = label;
      bar.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
      bar.querySelector(".fill").style.background = COLORS[label] || "#888";
      bar.children[2].textContent = percent(p);
      details.append(bar);
    }
    item.addEventListener("mouseenter", () => selectFace(i, false));
    item.addEventListener("click", () => selectFace(i, false));
    list.append(item);
  });
}

// A face picked on the picture (tap or click) or in the list: outlined, labelled, and its entry shown.
function selectFace(index, scroll) {
  state.selected = index;
  renderPhoto();
  document.querySelectorAll("#faces li.face").forEach((item, i) => item.classList.toggle("selected", i === index));
  const item = document.querySelectorAll("#faces li.face")[index];
  if (item && scroll) item.querySelector("details").open = true;  // picked on the picture: show its bars
  if (scroll && item) item.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function faceAt(event) {
  const canvas = $("photo");
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * canvas.width / rect.width;
  const y = (event.clientY - rect.top) * canvas.height / rect.height;
  return (state.result?.faces || []).findIndex(({ box: [bx, by, bw, bh] }) =>
    x >= bx && x <= bx + bw && y >= by && y <= by + bh);
}

function renderPhoto() {
  const { bitmap, result } = state;
  if (!bitmap || !result) return;
  const canvas = $("photo");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const scale = canvas.clientWidth ? canvas.clientWidth / canvas.width : 1;
  state.layout = drawFaces(ctx, result.faces, scale, $("blur").checked, bitmap, state.selected);
}

// --- photo mode ----------------------------------------------------------------------------

async function analyzePhoto(file) {
  $("status").textContent = `Analysing ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  try {
    const bitmap = await createImageBitmap(file);
    const shown = Math.min(bitmap.width, $("photo").parentElement.clientWidth || bitmap.width);
    const lines = { label_line: labelLine(shown / bitmap.width) };
    const response = await fetch(`v1/analyze?${query(lines)}`, { method: "POST", body: form });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || body.error || response.statusText);
    state.bitmap = bitmap;
    state.result = body;
    state.selected = -1;
    renderPhoto();
    faceList(body.faces);
    drawShareChart($("summary-chart"), body.summary);
    $("crowd-text").textContent = crowdText(body.summary);
    $("status").textContent = `${body.faces.length} faces in ${Math.round(body.timing_ms.total)} ms.`;
    $("download").disabled = false;
    document.body.dataset.faces = String(body.faces.length);
  } catch (error) {
    $("status").textContent = `Could not analyse ${file.name}: ${error.message}`;
    document.body.dataset.faces = "error";
  }
}

function setUpPhotoMode() {
  const drop = $("drop");
  $("file").addEventListener("change", () => $("file").files[0] && analyzePhoto($("file").files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files[0]) analyzePhoto(event.dataTransfer.files[0]);
  });
  $("blur").addEventListener("change", renderPhoto);
  $("photo").addEventListener("click", (event) => selectFace(faceAt(event), true));
  window.addEventListener("resize", renderPhoto);
  $("download").addEventListener("click", () => {
    const link = document.createElement("a");
    link.download = "moodlens.png";
    link.href = $("photo").toDataURL("image/png");
    link.click();
  });
}

// --- webcam mode ---------------------------------------------------------------------------

function drawMoodChart() {
  const canvas = $("mood-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const now = performance.now();
  state.history = state.history.filter((h) => now - h.time <= 60000);
  if (!state.history.length) return;
  const labels = Object.keys(state.history[0].shares);
  const x = (t) => canvas.width - (now - t) / 60000 * canvas.width;
  const y = (share) => canvas.height - 16 - share * (canvas.height - 24);
  ctx.strokeStyle = "#ddd";
  ctx.beginPath(); ctx.moveTo(0, y(0)); ctx.lineTo(canvas.width, y(0)); ctx.stroke();
  ctx.font = "11px sans-serif";
  labels.forEach((label, i) => {
    ctx.strokeStyle = COLORS[label] || "#888";
    ctx.lineWidth = 2;
    ctx.beginPath();
    state.history.forEach((h, j) => {
      const share = h.shares[label].share ?? 0;  // the server's (corrected) share; no readable face: 0
      if (j) ctx.lineTo(x(h.time), y(share)); else ctx.moveTo(x(h.time), y(share));
    });
    ctx.stroke();
    ctx.fillStyle = COLORS[label] || "#888";
    ctx.fillText(label, 4 + i * 70, canvas.height - 3);
  });
}

function onLiveResult(event) {
  const body = JSON.parse(event.data);
  if (body.error === "recording_stopped") {  // said once, after a frame's answer: analysis goes on
    $("record-status").textContent = `Recording stopped: ${body.detail}`;
    return;
  }
  state.waiting = false;
  if (body.error) {  // a frame the server refused (busy) or could not read: say so, then go on with the next
    $("live-fps").textContent = `frame skipped: ${body.detail || body.error}`;
    document.body.dataset.liveErrors = String(Number(document.body.dataset.liveErrors || 0) + 1);
    setTimeout(sendFrame, body.error === "busy" ? 250 : 0);
    return;
  }
  const video = $("video");
  const overlay = $("overlay");
  overlay.width = video.videoWidth;
  overlay.height = video.videoHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const scale = overlay.clientWidth ? overlay.clientWidth / overlay.width : 1;
  const k = video.videoWidth / body.width;  // the frame was sent smaller
  const scaled = (m) => m && { ...m, x: m.x * k, y: m.y * k, w: m.w * k, h: m.h * k };
  const faces = body.faces.map((f) => (
    { ...f, box: f.box.map((v) => v * k), number: scaled(f.number), label: scaled(f.label) }));
  drawFaces(ctx, faces, scale, $("blur").checked, $("blur").checked ? video : null);
  const now = performance.now();
  const summary = body.summary;
  state.history.push({ time: now, faces: summary.faces, readable: summary.readable, shares: summary.shares });
  state.frames.push(now);
  state.frames = state.frames.filter((t) => now - t <= 2000);
  const fps = state.frames.length / 2;
  $("live-fps").textContent = `${fps.toFixed(1)} frames/s, ${body.faces.length} faces`;
  document.body.dataset.liveFrames = String(Number(document.body.dataset.liveFrames || 0) + 1);
  document.body.dataset.liveFaces = String(body.faces.length);
  drawMoodChart();
  sendFrame();
}

function sendFrame() {
  const video = $("video");
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN || state.waiting || !video.videoWidth) {
    if (state.socket) requestAnimationFrame(sendFrame);
    return;
  }
  const scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  state.waiting = true;
  canvas.toBlob((blob) => state.socket && state.socket.send(blob), "image/jpeg", 0.8);
}

function cameraName() {
  // the same name for this browser's camera across reloads and reconnections: the session counts its
  // people once, however often the socket is opened again
  let name = localStorage.getItem("moodlens-camera");
  if (!name) {
    name = `browser-${Math.random().toString(36).slice(2, 10)}`;
    localStorage.setItem("moodlens-camera", name);
  }
  return name;
}

async function startWebcam() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (error) {
    $("live-fps").textContent = `No webcam: ${error.message}`;
    return;
  }
  $("video").srcObject = state.stream;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const session = $("record-session").value.trim();
  const token = $("record-token").value;
  const recording = session ? { session, recorder: cameraName(), ...(token ? { token } : {}) } : {};
  const lines = { label_line: labelLine(($("overlay").clientWidth || FRAME_WIDTH) / FRAME_WIDTH) };
  $("record-status").textContent = session ? `Recording into ${session}` : "";
  const url = new URL(`v1/live?${query({ ...recording, ...lines })}`, location.href);
  state.socket = new WebSocket(`${scheme}://${url.host}${url.pathname}${url.search}`);
  state.socket.onmessage = onLiveResult;
  state.socket.onopen = () => { state.waiting = false; sendFrame(); };
  state.socket.onclose = (event) => {
    const why = event.code === 1013 ? "the server is full: try again later" : event.reason || "disconnected";
    $("live-fps").textContent += ` (${why})`;
  };
  $("webcam-start").disabled = true;
  $("webcam-stop").disabled = false;
}

function stopWebcam() {
  if (state.socket) state.socket.close();
  state.socket = null;
  if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
  state.stream = null;
  $("webcam-start").disabled = false;
  $("webcam-stop").disabled = true;
}

function setMode(mode) {
  for (const name of ["photo", "webcam", "sessions"]) {
    $(`${name}-mode`).hidden = mode !== name;
    $(`mode-${name}`).classList.toggle("active", mode === name);
  }
  if (mode === "photo") stopWebcam();  // a recording webcam goes on while its session is watched
  document.dispatchEvent(new CustomEvent("modechange", { detail: mode }));
}

setUpPhotoMode();
$("mode-photo").addEventListener("click", () => setMode("photo"));
$("mode-webcam").addEventListener("click", () => setMode("webcam"));
$("mode-sessions").addEventListener("click", () => setMode("sessions"));
$("webcam-start").addEventListener("click", startWebcam);
$("webcam-stop").addEventListener("click", stopWebcam);
loadModels();
