// The history page: /api/parts searches the log, /api/parts/{id} shows one part.
"use strict";

const $ = (id) => document.getElementById(id);

function element(tag, attrs, content) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (content !== undefined) node.textContent = content;
  return node;
}

function isoOf(local) {
  // datetime-local has no zone: it is the browser's local time
  return local ? new Date(local).toISOString() : "";
}

async function search(event) {
  if (event) event.preventDefault();
  const form = new FormData($("search"));
  const query = new URLSearchParams();
  for (const [key, value] of form.entries()) {
    const v = key === "since" || key === "until" ? isoOf(value) : value;
    if (v) query.set(key, v);
  }
  const response = await fetch(`/api/parts?${query}`);
  if (!response.ok) {
    $("search-result").textContent = `refused: ${await response.text()}`;
    return;
  }
  const parts = (await response.json()).parts;
  $("search-result").textContent = `${parts.length} part(s)`;
  const rows = $("rows");
  rows.replaceChildren();
  parts.forEach((p) => {
    const tr = element("tr", { "data-id": p.id });
    [p.id, p.iso_time, p.verdict, (p.classes || []).join(", "), p.defect_count,
      p.latency_ms === null ? "-" : p.latency_ms.toFixed(1), p.image_path ? "yes" : "-"]
      .forEach((v, i) => tr.append(element("td", i === 2 ? { class: p.verdict } : {}, String(v))));
    tr.addEventListener("click", () => showPart(p.id));
    rows.append(tr);
  });
}

const FIELDS = [
  ["id", "row"], ["run_id", "run"], ["seq", "seq in run"], ["iso_time", "time"],
  ["verdict", "verdict"], ["reason", "why"], ["latency_ms", "trigger to verdict, ms"],
  ["model_id", "model"], ["model_sha256", "model sha256"], ["config_hash", "config hash"],
  ["calibration_id", "calibration"], ["image_path", "archived image"],
];

async function showPart(id) {
  const box = $("part");
  box.replaceChildren();
  const response = await fetch(`/api/parts/${id}`);
  if (!response.ok) {
    box.append(element("p", {}, `part ${id}: ${response.status}`));
    return;
  }
  const part = await response.json();
  box.append(element("h2", {}, `Part ${part.id}`));
  if (part.image_path) {
    box.append(element("img", { src: `/api/parts/${id}/image`, alt: `part ${id}` }));
    box.append(element("p", { class: "muted" },
      "The archive keeps the inspected region; the log does not keep where it lay in the " +
      "frame, so the detections below (frame pixels) are listed, not drawn."));
  } else {
    box.append(element("p", { class: "muted" },
      "No image of this part: the log archives failed parts and a sample of passes " +
      "(storage.save_failed, storage.save_pass_fraction), within its quota."));
  }
  const dl = element("dl", { class: "part" });
  FIELDS.forEach(([key, label]) => {
    dl.append(element("dt", {}, label));
    const value = part[key];
    const shown = value === null || value === undefined ? "-"
      : typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
    dl.append(element("dd", {}, shown));
  });
  box.append(dl);
  const dets = element("table", { class: "parts" });
  dets.append(element("tr", {}, ""));
  dets.firstChild.append(element("th", {}, "class"), element("th", {}, "score"), element("th", {}, "box (x0, y0, x1, y1)"));
  (part.detections || []).forEach((d) => {
    const tr = element("tr");
    const name = (part.class_names || [])[d.class_id] ?? String(d.class_id);
    tr.append(element("td", {}, name), element("td", {}, d.score.toFixed(3)),
      element("td", {}, d.xyxy.map((v) => v.toFixed(1)).join(", ")));
    dets.append(tr);
  });
  box.append(element("h2", {}, `Detections (${(part.detections || []).length})`), dets);
}

$("search").addEventListener("submit", search);
search();
