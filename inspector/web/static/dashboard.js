// The live page: polls /api/status and /api/spc; the picture is the MJPEG stream.
"use strict";

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
tokenInput.value = localStorage.getItem("inspector-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("inspector-token", tokenInput.value));

function text(id, value) { $(id).textContent = value; }

function element(tag, attrs, content) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (content !== undefined) node.textContent = content;
  return node;
}

function showVerdict(latest) {
  const box = $("verdict");
  if (!latest) return;
  box.className = "verdict " + latest.verdict;
  box.textContent = latest.verdict === "NO_DECISION" ? "NO DECISION" : latest.verdict;
  const ms = latest.latency_ms === null ? "-" : latest.latency_ms.toFixed(1) + " ms";
  text("verdict-detail", `part #${latest.seq}: ${latest.reason || latest.verdict}, ${ms}`);
}

function showHealth(health) {
  const list = $("health");
  list.replaceChildren();
  Object.entries(health).forEach(([name, ok]) => {
    if (name === "disk_free_mb") {
      list.append(element("li", { class: ok === null ? "unknown" : "ok" },
        `disk: ${ok === null ? "?" : ok.toLocaleString() + " MB free"}`));
      return;
    }
    const state = ok === true ? "ok" : ok === false ? "bad" : "unknown";
    list.append(element("li", { class: state, "data-name": name },
      `${name}: ${ok === true ? "ok" : ok === false ? "FAILED" : "n/a"}`));
  });
}

function openDetail(part) {
  text("detail-title", `part #${part.seq}: ${part.verdict}, ${part.reason}`);
  $("detail-img").src = `/api/fails/${part.seq}.jpg`;
  $("detail").showModal();
}

let shownFails = "";
function showFails(fails) {
  const key = fails.map((f) => f.seq).join(",");
  if (key === shownFails) return;
  shownFails = key;
  const list = $("fails-list");
  list.replaceChildren();
  if (!fails.length) list.append(element("span", { class: "muted" }, "none yet"));
  fails.forEach((part) => {
    const img = element("img", { src: `/api/fails/${part.seq}.jpg?size=thumb`, class: "thumb",
      "data-seq": part.seq, alt: `failed part #${part.seq}`, title: `#${part.seq} ${part.reason}` });
    img.addEventListener("click", () => openDetail(part));
    list.append(img);
  });
}

function showEvents(events) {
  const list = $("events");
  list.replaceChildren();
  events.slice(0, 12).forEach((e) => {
    const when = new Date(e.wall_time * 1000).toLocaleTimeString();
    list.append(element("li", { class: e.severity }, `${when} ${e.kind}: ${e.message}`));
  });
}

function drawBars(canvas, bins, counts) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height - 18, n = counts.length;
  const top = Math.max(1, ...counts);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "10px sans-serif";
  counts.forEach((c, i) => {
    const bw = w / n, bh = (h - 4) * c / top;
    ctx.fillStyle = "#4a9";
    ctx.fillRect(i * bw + 1, h - bh, bw - 2, bh);
    ctx.fillStyle = "#aaa";
    ctx.fillText(i === n - 1 ? `${bins[i]}+` : String(bins[i]), i * bw + 2, h + 12);
  });
}

function drawChart(canvas, points) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const values = points.flatMap((p) => [p.value, p.ucl, p.lcl, p.center]).filter((v) => v !== null);
  if (!values.length) return;
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi === lo) { hi += 1; lo -= 1; }
  const x = (i) => 4 + (w - 8) * (points.length < 2 ? 0.5 : i / (points.length - 1));
  const y = (v) => h - 6 - (h - 12) * (v - lo) / (hi - lo);
  const line = (key, colour, dash) => {
    ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.beginPath();
    let started = false;
    points.forEach((p, i) => {
      if (p[key] === null) { started = false; return; }
      if (started) ctx.lineTo(x(i), y(p[key])); else ctx.moveTo(x(i), y(p[key]));
      started = true;
    });
    ctx.stroke();
  };
  line("ucl", "#d33", [4, 3]); line("lcl", "#d33", [4, 3]); line("center", "#888", [2, 2]);
  line("value", "#9cf", []);
  ctx.setLineDash([]);
  points.forEach((p, i) => {
    if (p.value === null) return;
    const out = (p.ucl !== null && p.value > p.ucl) || (p.lcl !== null && p.value < p.lcl);
    ctx.fillStyle = out ? "#d33" : "#9cf";
    ctx.fillRect(x(i) - 2, y(p.value) - 2, 4, 4);
  });
}

async function refreshStatus() {
  const status = await (await fetch("/api/status")).json();
  text("state", status.state);
  showVerdict(status.latest);
  text("parts", status.parts);
  text("fails", status.fails);
  text("no-decision", status.no_decision);
  text("fail-rate", (100 * status.fail_rate).toFixed(1) + " %");
  text("throughput", status.parts_per_min.toFixed(1) + " /min");
  showHealth(status.health);
  showFails(status.fails_recent);
  showEvents(status.events);
  drawBars($("latency"), status.latency_ms.bins, status.latency_ms.counts);
}

async function refreshSpc() {
  const spc = await (await fetch("/api/spc")).json();
  const alarms = $("alarms");
  alarms.replaceChildren();
  if (!spc.alarms.length) alarms.append(element("span", { class: "muted" }, "no open alarm"));
  spc.alarms.forEach((a) => alarms.append(element("div", { class: "alarm", "data-id": a.id },
    `#${a.id} ${a.monitor}: ${a.rule} (subgroup ${a.subgroup})`)));
  $("ack").disabled = !spc.alarms.length;
  const charts = $("spc-charts");
  charts.replaceChildren();
  spc.monitors.forEach((m) => {
    const box = element("div", { class: "spc-chart" });
    box.append(element("div", { class: "muted" }, m.name));
    const canvas = element("canvas", { width: 480, height: 110 });
    box.append(canvas);
    charts.append(box);
    drawChart(canvas, m.points);
  });
}

$("ack").addEventListener("click", async () => {
  const headers = tokenInput.value ? { Authorization: `Bearer ${tokenInput.value}` } : {};
  const response = await fetch("/api/spc/ack", { method: "POST", headers });
  text("ack-result", response.ok
    ? `${(await response.json()).acknowledged} acknowledged`
    : `refused (${response.status}): ${await response.text()}`);
  refreshSpc();
});

function every(ms, task) {
  const run = () => task().catch(() => text("state", "no connection")).finally(() => setTimeout(run, ms));
  run();
}
every(500, refreshStatus);
every(2000, refreshSpc);
