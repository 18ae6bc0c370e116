// photoid review page: plain JavaScript over the JSON API (/openapi.json describes it).
"use strict";

const state = { catalog: null, token: "", undo: [], zoom: { scale: 1, x: 0, y: 0 } };
const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function say(message, error = false) {
  const status = $("#status");
  status.textContent = message;
  status.classList.toggle("error", error);
}

async function api(method, url, body) {
  const headers = {};
  const token = $("#token").value || state.token;
  if (token) headers["X-Photoid-Token"] = token;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body: payload });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) {
    const error = new Error(data.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- catalog and filters ---------------------------------------------------------------
async function loadCatalog() {
  const c = await api("GET", "/api/catalog");
  state.catalog = c;
  $("#catalog-name").textContent = c.name;
  const t = c.threshold ? `new_individual below ${c.threshold.value.toFixed(3)} (${c.threshold.scale})`
    : "no calibrated threshold: new_individual is never proposed";
  $("#catalog-info").textContent =
    `${c.n_individuals} individuals, ${c.n_photos} photos; ${c.model}; ${t}`;
  $("#token-box").hidden = !c.token_required;
  const filters = $("#filters");
  if (!filters.childElementCount) {
    for (const [column, values] of Object.entries(c.filters)) {
      const select = el("select", { name: column, id: `filter-${column}` },
        el("option", { value: "", textContent: `any ${column}` }),
        ...values.map((v) => el("option", { value: v, textContent: v })));
      filters.append(el("label", {}, `${column} `, select));
    }
  }
}

function filterQuery() {
  const params = new URLSearchParams();
  for (const select of document.querySelectorAll("#filters select")) {
    if (select.value) params.set(select.name, select.value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

// ---- queries ---------------------------------------------------------------------------
function addFiles(files) {
  const list = Array.from(files);
  const max = state.catalog ? state.catalog.max_batch : 100;
  if (list.length > max) say(`only the first ${max} of ${list.length} photos are sent`, true);
  const cards = list.slice(0, max).map((file) => [file, newCard(file.name, URL.createObjectURL(file))]);
  const next = async () => {
    while (cards.length) {
      const [file, card] = cards.shift();
      await identify(file, card);
    }
  };
  return Promise.all([next(), next()]);
}

function newCard(name, src) {
  const card = $("#query-template").content.firstElementChild.cloneNode(true);
  $(".query-name", card).textContent = name;
  $(".query-photo", card).src = src;
  $(".new", card).onclick = () => decide(card, "new");
  $(".skip", card).onclick = () => decide(card, "skip");
  setBusy(card, true);
  $("#queries").prepend(card);
  return card;
}

function setBusy(card, busy) {
  for (const b of card.querySelectorAll("button, input")) b.disabled = busy;
}

async function identify(file, card) {
  const form = new FormData();
  form.append("file", file);
  await show(card, () => api("POST", `/api/identify${filterQuery()}`, form));
}

// Photos sent before (this page or another, before a restart) and not decided yet.
async function restorePending() {
  const pending = await api("GET", "/api/uploads");
  for (const query of pending) {
    if (document.querySelector(`#queries .query[data-upload="${query.upload}"]`)) continue;
    const card = newCard(`${query.name} (sent earlier)`, `${query.thumbnail}?size=440`);
    await show(card, () => api("GET", `/api/uploads/${query.upload}/candidates${filterQuery()}`));
  }
}

async function show(card, ask) {
  try {
    const answer = await ask();
    card.dataset.upload = answer.upload;
    card.answer = answer;
    $(".query-photo", card).onclick = () => zoom([queryPane(card)]);
    renderCandidates(card, answer);
    $(".query-state", card).textContent =
      `${answer.candidates.length} candidates among ${answer.n_searched} photos`;
    setBusy(card, false);
    const notes = [];
    if (answer.query.sent_before) notes.push(`the same photo was sent before (as ${answer.query.name})`);
    if (answer.duplicate) {
      notes.push(`duplicate: this photo is in the catalog already, as ${answer.duplicate.individual} ` +
        `(${answer.duplicate.name}); it cannot be added again`);
      card.classList.add("duplicate");
      for (const b of card.querySelectorAll("button.confirm, button.new")) b.disabled = true;
    }
    $(".query-note", card).textContent = notes.join("; ");
  } catch (err) {
    card.classList.add("failed");
    $(".query-state", card).textContent = `not identified: ${err.message}`;
  }
}

function queryPane(card) {
  return { src: `${card.answer.query.thumbnail}?size=1600`, caption: "query" };
}

function candidateScore(c, rank, scale) {
  if (scale === "probability" && c.in_words) {
    return `${c.in_words} (p = ${c.score.toFixed(3)})`;
  }
  return `score ${c.score.toFixed(4)} (${scale})`;
}

function evidenceText(c) {
  const e = c.evidence;
  if (!e) return c.inliers == null ? "" : `${c.inliers} verified keypoint matches`;
  const n = c.pairs ? c.pairs.query.length : Math.round(e.inliers);
  return `${n} verified keypoint matches · LNBNN votes ${e.lnbnn.toFixed(1)} · ` +
    `embedding ${e.embedding.toFixed(3)}`;
}

function comparePanes(card, c) {
  return [
    { ...queryPane(card), points: c.pairs ? c.pairs.query : null },
    { src: `${c.photo.thumbnail}?size=1600`, caption: `${c.individual}: ${c.photo.name}`,
      points: c.pairs ? c.pairs.photo : null },
  ];
}

function renderCandidates(card, answer) {
  const list = $(".candidates", card);
  list.replaceChildren();
  answer.candidates.forEach((c, rank) => {
    const item = el("li", { className: "candidate" });
    item.dataset.testid = "candidate";
    item.dataset.individual = c.individual;
    const score = el("div", { className: "score", textContent: candidateScore(c, rank, answer.scale) });
    if (c.new_individual) {
      item.classList.add("new-individual");
      item.append(el("div", { className: "name", textContent: "new_individual" }), score,
        el("div", { textContent: "the calibrated threshold: candidates after it score below it" }));
    } else {
      const img = el("img", { src: `${c.photo.thumbnail}?size=256`, alt: `${c.individual}'s best photo` });
      img.onclick = () => zoom(comparePanes(card, c), { card, individual: c.individual });
      const compare = el("button", { className: "compare", textContent: "side by side" });
      compare.dataset.testid = "compare";
      compare.onclick = () => zoom(comparePanes(card, c), { card, individual: c.individual });
      const more = el("button", { className: "more", textContent: "other photos" });
      more.onclick = () => otherPhotos(item, c.individual);
      const button = el("button", { className: "confirm", textContent: `${rank + 1} Confirm ${c.individual}` });
      button.dataset.testid = "confirm";
      button.onclick = () => decide(card, "confirm", c.individual);
      item.append(img, el("div", { className: "name", textContent: c.individual }), score,
        el("div", { className: "evidence", textContent: evidenceText(c) }), compare, more, button);
    }
    list.append(item);
  });
}

async function otherPhotos(item, name) {
  if ($(".others", item)) { $(".others", item).remove(); return; }
  try {
    const ind = await api("GET", `/api/individuals/${encodeURIComponent(name)}`);
    const strip = el("div", { className: "others" }, ...ind.photos.slice(0, 4).map((p) => {
      const img = el("img", { src: `${p.thumbnail}?size=128`, alt: `${name}, another photo` });
      img.onclick = () => zoom([{ src: `${p.thumbnail}?size=1600`, caption: name }]);
      return img;
    }));
    item.append(strip);
  } catch (err) {
    say(err.message, true);
  }
}

async function decide(card, action, individual) {
  const upload = card.dataset.upload;
  let request;
  if (action === "confirm") request = ["/api/confirm", { upload, individual }];
  else if (action === "new") {
    const name = $(".new-name", card).value.trim();
    if (!name) { say("type the new individual's name first", true); $(".new-name", card).focus(); return; }
    request = ["/api/individuals", { upload, name }];
  } else request = ["/api/skip", { upload }];
  setBusy(card, true);
  try {
    const change = await api("POST", ...request);
    const what = action === "skip" ? "skipped" : `${action === "new" ? "new individual" : "confirmed as"} ${change.individual}`;
    $(".query-state", card).textContent = `${what} (change #${change.event})`;
    card.classList.add("done");
    state.undo.push({ event: change.event, card, what });
    $("#undo").disabled = false;
    say(`saved: ${what}`);
    if ($("#zoom").hidden === false && state.zoomFor && state.zoomFor.card === card) closeZoom();
    refresh();
  } catch (err) {
    say(err.message, true);
    setBusy(card, false);
  }
}

async function undo() {
  const last = state.undo.pop();
  if (!last) return undoSaved();
  try {
    const answer = await api("POST", "/api/undo", { event: last.event });
    last.card.classList.remove("done");
    $(".query-state", last.card).textContent = `undone: ${last.what}; decide again`;
    setBusy(last.card, false);
    say(`undone change #${answer.undone.id} (${last.what})`);
    refresh();
  } catch (err) {
    state.undo.push(last);
    say(err.message, true);
  }
  $("#undo").disabled = state.undo.length === 0;
}

// After a reload this page's decisions are gone from memory, but the catalog's log keeps
// them: undo the last review decision it holds (refused by the server if another came after).
const UNDOABLE = new Set(["add", "skip"]);

async function lastSavedDecision() {
  const [last] = await api("GET", "/api/log?limit=1");
  return last && last.undone_by == null && UNDOABLE.has(last.action) ? last : null;
}

async function undoSaved() {
  try {
    const last = await lastSavedDecision();
    if (!last) { say("nothing to undo"); $("#undo").disabled = true; return; }
    const answer = await api("POST", "/api/undo", { event: last.id });
    say(`undone change #${answer.undone.id} (${last.summary})`);
    refresh();
    await restorePending();
    $("#undo").disabled = !(await lastSavedDecision());
  } catch (err) {
    say(err.message, true);
  }
}

// ---- keyboard: 1-5 confirm, n new individual, s skip, u undo, arrows between queries ----
function cards() {
  return Array.from(document.querySelectorAll("#queries .query"));
}

function current() {
  const all = cards();
  if (!all.length) return null;
  if (!all.includes(state.current)) setCurrent(all.find((c) => !c.classList.contains("done")) || all[0]);
  return state.current;
}

function setCurrent(card) {
  for (const c of cards()) c.classList.toggle("current", c === card);
  state.current = card;
  if (card) card.scrollIntoView({ block: "nearest" });
}

function move(step) {
  const all = cards();
  const at = all.indexOf(current());
  if (at < 0) return;
  setCurrent(all[Math.min(all.length - 1, Math.max(0, at + step))]);
}

function onKey(event) {
  if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) {
    if (event.key === "Enter" && event.target.classList.contains("new-name")) {
      decide(event.target.closest(".query"), "new");
    }
    return;
  }
  const key = event.key;
  if (key === "u") { event.preventDefault(); undo(); return; }
  if (key === "ArrowDown" || key === "ArrowRight") { event.preventDefault(); move(1); return; }
  if (key === "ArrowUp" || key === "ArrowLeft") { event.preventDefault(); move(-1); return; }
  const card = (state.zoomFor && !$("#zoom").hidden) ? state.zoomFor.card : current();
  if (!card || !card.answer || card.classList.contains("done")) return;
  if (/^[1-9]$/.test(key)) {
    const c = card.answer.candidates[Number(key) - 1];
    if (c && !c.new_individual) { event.preventDefault(); decide(card, "confirm", c.individual); }
  } else if (key === "n") {
    event.preventDefault();
    const name = $(".new-name", card);
    if (name.value.trim()) decide(card, "new"); else name.focus();
  } else if (key === "s") {
    event.preventDefault();
    decide(card, "skip");
  }
}

// ---- individuals and the log -----------------------------------------------------------
async function showIndividuals() {
  const grid = $("#individual-grid");
  const list = await api("GET", "/api/individuals");
  grid.replaceChildren(...list.map((ind) => {
    const card = el("div", { className: "individual" },
      el("div", { className: "name", textContent: ind.name }),
      el("div", { textContent: `${ind.n_photos} photo(s)${ind.species ? `, ${ind.species}` : ""}` }),
      el("div", { textContent: `first seen ${ind.first_seen || "-"}` }),
      el("div", { textContent: `last seen ${ind.last_seen || "-"}` }));
    card.dataset.testid = "individual";
    for (const p of ind.photos) {
      const img = el("img", { src: `${p.thumbnail}?size=128`, alt: ind.name, loading: "lazy" });
      img.onclick = () => zoom([{ src: `${p.thumbnail}?size=1600`, caption: ind.name }]);
      card.append(img);
    }
    return card;
  }));
}

async function showLog() {
  const events = await api("GET", "/api/log");
  $("#log-list").replaceChildren(...events.map((e) => el("li", { textContent: e.summary })));
}

function refresh() {
  loadCatalog().catch((err) => say(err.message, true));
  if (!$("#individuals").hidden) showIndividuals();
  if (!$("#log").hidden) showLog();
}

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const id of ["review", "individuals", "log"]) $(`#${id}`).hidden = id !== name;
  if (name === "individuals") showIndividuals().catch((err) => say(err.message, true));
  if (name === "log") showLog().catch((err) => say(err.message, true));
}

// ---- zoom: photos side by side, scroll to zoom (all together), drag to move -------------
// Matched keypoints (fractions of each photo) are drawn as numbered pairs of dots, joined by
// lines across the panes; they move and zoom with the photos.
// the SVG namespace, as the HTML parser gives it (no address written in this file)
const SVG_NS = (() => { const d = document.createElement("div"); d.innerHTML = "<svg></svg>"; return d.firstChild.namespaceURI; })();
const COLOURS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0",
  "#f032e6", "#bcf60c", "#fabebe"];

function zoom(panes, zoomFor = null) {
  state.zoom = { scale: 1, x: 0, y: 0 };
  state.zoomFor = zoomFor;
  state.panes = panes;
  $("#zoom-panes").replaceChildren(...panes.map((p) => {
    const img = el("img", { src: p.src, alt: p.caption, draggable: false });
    const frame = el("div", { className: "frame" }, img);
    img.onload = () => { fitFrame(frame, img); applyZoom(); };
    return el("div", { className: "pane" }, frame, el("span", { className: "caption", textContent: p.caption }));
  }));
  $("#zoom-panes").append(document.createElementNS(SVG_NS, "svg"));
  const confirm = $("#zoom-confirm");
  confirm.hidden = !zoomFor;
  if (zoomFor) {
    confirm.textContent = `Confirm ${zoomFor.individual}`;
    confirm.onclick = () => decide(zoomFor.card, "confirm", zoomFor.individual);
  }
  const n = panes[0].points ? panes[0].points.length : 0;
  $("#zoom-info").textContent = n ? `${n} verified keypoint matches` : "";
  $("#zoom").hidden = false;
  applyZoom();
}

function closeZoom() {
  $("#zoom").hidden = true;
  state.zoomFor = null;
}

function fitFrame(frame, img) {
  const pane = frame.parentElement.getBoundingClientRect();
  const fit = Math.min(pane.width / img.naturalWidth, pane.height / img.naturalHeight);
  frame.style.width = `${img.naturalWidth * fit}px`;
  frame.style.height = `${img.naturalHeight * fit}px`;
}

function applyZoom() {
  const { scale, x, y } = state.zoom;
  for (const frame of document.querySelectorAll("#zoom-panes .frame")) {
    frame.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  }
  drawPairs();
}

function drawPairs() {
  const svg = $("#zoom-panes svg");
  if (!svg) return;
  svg.replaceChildren();
  const panes = state.panes || [];
  if (panes.length !== 2 || !panes[0].points || !panes[1].points) return;
  const box = $("#zoom-panes").getBoundingClientRect();
  const frames = Array.from(document.querySelectorAll("#zoom-panes .frame"));
  const rects = frames.map((f) => f.getBoundingClientRect());
  if (rects.some((r) => !r.width)) return;
  const at = (k, [fx, fy]) => [rects[k].left - box.left + fx * rects[k].width,
    rects[k].top - box.top + fy * rects[k].height];
  const ns = SVG_NS;
  panes[0].points.forEach((q, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const [x1, y1] = at(0, q);
    const [x2, y2] = at(1, panes[1].points[i]);
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1, y1, x2, y2, stroke: colour, "stroke-width": 1.2, "stroke-opacity": 0.75 })
      .forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
    for (const [cx, cy] of [[x1, y1], [x2, y2]]) {
      const dot = document.createElementNS(ns, "circle");
      Object.entries({ cx, cy, r: 3.5, fill: colour, stroke: "#000", "stroke-width": 0.8 })
        .forEach(([k, v]) => dot.setAttribute(k, v));
      svg.append(dot);
    }
  });
}

function setupZoom() {
  const panes = $("#zoom-panes");
  panes.addEventListener("wheel", (event) => {
    event.preventDefault();
    const factor = event.deltaY < 0 ? 1.2 : 1 / 1.2;
    const pane = event.target.closest(".pane");
    if (!pane) return;
    const rect = pane.getBoundingClientRect();
    const px = event.clientX - rect.left, py = event.clientY - rect.top;
    const z = state.zoom;
    z.x = px - (px - z.x) * factor;
    z.y = py - (py - z.y) * factor;
    z.scale *= factor;
    applyZoom();
  }, { passive: false });
  let drag = null;
  panes.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY }; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    state.zoom.x += e.clientX - drag.x;
    state.zoom.y += e.clientY - drag.y;
    drag = { x: e.clientX, y: e.clientY };
    applyZoom();
  });
  window.addEventListener("resize", () => {
    for (const frame of document.querySelectorAll("#zoom-panes .frame")) fitFrame(frame, $("img", frame));
    applyZoom();
  });
  $("#zoom-close").onclick = closeZoom;
  window.addEventListener("keydown", (e) => { if (e.key === "Escape") closeZoom(); });
}

// ---- start -------------------------------------------------------------------------------
function setupDrop() {
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  $("#files").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
}

function rememberToken(token) {
  // the page's own requests carry it as a header; its <img> thumbnails, as this cookie
  state.token = token;
  document.cookie = `photoid_token=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
}

window.addEventListener("DOMContentLoaded", () => {
  const match = /token=([^&]+)/.exec(location.hash);
  if (match) rememberToken(decodeURIComponent(match[1]));
  $("#token").addEventListener("change", (e) => {
    rememberToken(e.target.value);
    loadCatalog().then(restorePending).catch((err) => say(err.message, true));
  });
  for (const tab of document.querySelectorAll(".tab")) tab.onclick = () => showTab(tab.dataset.tab);
  $("#undo").onclick = undo;
  window.addEventListener("keydown", onKey);
  setupDrop();
  setupZoom();
  loadCatalog().then(restorePending)
    .then(async () => { if (await lastSavedDecision()) $("#undo").disabled = false; })
    .catch((err) => {
      if (err.status === 401) $("#token-box").hidden = false;  // type the token there
      say(err.message, true);
    });
});
