// ferlab web page: upload / drop a photo or stream the webcam, draw boxes, labels and bars.
"use strict";
const COLOURS = {angry: "#d62728", disgust: "#8c564b", fear: "#9467bd", happy: "#ffbf00",
                 sad: "#1f77b4", surprise: "#ff7f0e", neutral: "#7f7f7f"};
const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx = canvas.getContext("2d"), video = $("video"), statusEl = $("status");
let stream = null, busy = false;

function setStatus(text, error = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", error);
}

async function loadModels() {
  const r = await fetch("/v1/models");
  const body = await r.json();
  for (const m of body.models) {
    const o = document.createElement("option");
    o.value = o.textContent = m.name;
    if (m.name === body.default) o.selected = true;
    $("model").appendChild(o);
  }
}

async function predict(blob, filename) {
  const form = new FormData();
  form.append("file", blob, filename);
  form.append("model", $("model").value);
  form.append("explain", $("explain").checked ? "true" : "false");
  const r = await fetch("/v1/predict", {method: "POST", body: form});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function draw(source, result) {
  canvas.hidden = false;  // no empty grey canvas before the first image
  canvas.width = source.width || source.videoWidth;
  canvas.height = source.height || source.videoHeight;
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const lw = Math.max(2, Math.round(canvas.width / 300));
  result.faces.forEach((f, i) => {
    const [x, y, w, h] = f.box, colour = COLOURS[f.label] || "#fff";
    // a dark edge under the colour: light labels (neutral's grey) stay visible on light photos
    ctx.lineWidth = lw + 2;
    ctx.strokeStyle = "rgba(0,0,0,0.75)";
    ctx.strokeRect(x, y, w, h);
    ctx.lineWidth = lw;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const text = `#${i + 1} ${f.label} ${(f.probs[f.label] * 100).toFixed(0)}%`;
    ctx.font = `${Math.max(12, Math.round(canvas.width / 45))}px sans-serif`;
    const tw = ctx.measureText(text).width + 8, th = parseInt(ctx.font, 10) + 6;
    const ty = y - th > 0 ? y - th : y + h;
    ctx.fillStyle = colour;
    ctx.fillRect(x, ty, tw, th);
    ctx.fillStyle = "#000";
    ctx.fillText(text, x + 4, ty + th - 6);
    // the probabilities are drawn beside the image (the list), never over the face
  });
  canvas.dataset.faces = String(result.faces.length);
  canvas.dataset.labels = result.faces.map((f) => f.label).join(",");
  const list = $("faces");
  list.replaceChildren();
  result.faces.forEach((f, i) => {
    const li = document.createElement("li");
    li.className = "face";
    li.dataset.label = f.label;
    const title = document.createElement("strong");
    title.textContent = `#${i + 1} ${f.label}`;
    li.appendChild(title);
    for (const [c, p] of Object.entries(f.probs)) {
      const row = document.createElement("div");
      row.className = "bar";
      const name = document.createElement("span"), track = document.createElement("span");
      const fill = document.createElement("span"), val = document.createElement("span");
      name.textContent = c;
      fill.className = "fill";
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      fill.style.background = COLOURS[c];
      track.appendChild(fill);
      val.textContent = `${(p * 100).toFixed(1)}%`;
      row.append(name, track, val);
      li.appendChild(row);
    }
    if (f.heatmap_png) {
      const img = document.createElement("img");
      img.className = "heat";
      img.alt = `heat map of face ${i + 1}`;
      img.src = `data:image/png;base64,${f.heatmap_png}`;
      li.appendChild(img);
    }
    list.appendChild(li);
  });
  setStatus(`${result.faces.length} face(s) — ${result.model}, ${result.ms} ms`);
}

function clearResults() {
  // a new photo's answer replaces the last one's: an error never stands beside old faces
  canvas.hidden = true;
  delete canvas.dataset.faces;
  delete canvas.dataset.labels;
  $("faces").replaceChildren();
}

async function handleFile(file) {
  if (!file) return;
  clearResults();
  setStatus(`Analysing ${file.name}…`);
  try {
    const result = await predict(file, file.name);
    const img = new Image();
    img.onload = () => { draw(img, result); URL.revokeObjectURL(img.src); };
    img.src = URL.createObjectURL(file);
  } catch (e) {
    setStatus(`Error: ${e.message}`, true);
  }
}

$("file").addEventListener("change", (e) => handleFile(e.target.files[0]));
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => handleFile(e.dataTransfer.files[0]));

async function webcamLoop() {
  if (!stream) return;
  if (!busy && video.videoWidth) {
    busy = true;
    const grab = document.createElement("canvas");
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((res) => grab.toBlob(res, "image/jpeg", 0.85));
    try {
      draw(grab, await predict(blob, "webcam.jpg"));
    } catch (e) {
      setStatus(`Error: ${e.message}`, true);
    }
    busy = false;
  }
  requestAnimationFrame(webcamLoop);
}

$("webcam").addEventListener("click", async () => {
  if (stream) {
    stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("webcam").textContent = "Start webcam";
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}});
    video.srcObject = stream;
    $("webcam").textContent = "Stop webcam";
    webcamLoop();
  } catch (e) {
    setStatus(`Webcam unavailable: ${e.message}`, true);
  }
});

loadModels().catch((e) => setStatus(`Cannot reach the server: ${e.message}`, true));
