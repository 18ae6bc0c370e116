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
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
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
    const card = newCard(`sent earlier (${query.upload.slice(0, 12)}…)`, `${query.thumbnail}?size=440`);
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
  } catch (err) {
    card.classList.add("failed");
    $(".query-state", card).textContent = `not identified: ${err.message}`;
  }
}

function queryPane(card) {
  return { src: `${card.answer.query.thumbnail}?size=1600`, caption: "query" };
}

function renderCandidates(card, answer) {
  const list = $(".candidates", card);
  list.replaceChildren();
  answer.candidates.forEach((c, rank) => {
    const item = el("li", { className: "candidate" });
    item.dataset.testid = "candidate";
    item.dataset.individual = c.individual;
    const score = el("div", { className: "score", textContent: `${rank + 1}. score ${c.score.toFixed(4)}` });
    if (c.new_individual) {
      item.classList.add("new-individual");
      item.append(el("div", { className: "name", textContent: "new_individual" }), score,
        el("div", { textContent: "the calibrated threshold: candidates after it score below it" }));
    } else {
      const img = el("img", { src: `${c.photo.thumbnail}?size=256`, alt: `${c.individual}'s best photo` });
      img.onclick = () => zoom([queryPane(card),
        { src: `${c.photo.thumbnail}?size=1600`, caption: `${c.individual}: ${c.photo.name}` }]);
      const button = el("button", { className: "confirm", textContent: `Confirm ${c.individual}` });
      button.dataset.testid = "confirm";
      button.onclick = () => decide(card, "confirm", c.individual);
      item.append(img, el("div", { className: "name", textContent: c.individual }), score, button);
    }
    list.append(item);
  });
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
    refresh();
  } catch (err) {
    say(err.message, true);
    setBusy(card, false);
  }
}

async function undo() {
  const last = state.undo.pop();
  if (!last) return;
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
function zoom(panes) {
  state.zoom = { scale: 1, x: 0, y: 0 };
  $("#zoom-panes").replaceChildren(...panes.map((p) =>
    el("div", { className: "pane" }, el("img", { src: p.src, alt: p.caption, draggable: false }),
      el("span", { className: "caption", textContent: p.caption }))));
  $("#zoom").hidden = false;
  applyZoom();
}

function applyZoom() {
  const { scale, x, y } = state.zoom;
  for (const img of document.querySelectorAll("#zoom-panes img")) {
    img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  }
}

function setupZoom() {
  const panes = $("#zoom-panes");
  panes.addEventListener("wheel", (event) => {
    event.preventDefault();
    const factor = event.deltaY < 0 ? 1.2 : 1 / 1.2;
    const rect = event.target.closest(".pane").getBoundingClientRect();
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
  $("#zoom-close").onclick = () => { $("#zoom").hidden = true; };
  window.addEventListener("keydown", (e) => { if (e.key === "Escape") $("#zoom").hidden = true; });
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

window.addEventListener("DOMContentLoaded", () => {
  const match = /token=([^&]+)/.exec(location.hash);
  if (match) state.token = decodeURIComponent(match[1]);
  for (const tab of document.querySelectorAll(".tab")) tab.onclick = () => showTab(tab.dataset.tab);
  $("#undo").onclick = undo;
  setupDrop();
  setupZoom();
  loadCatalog().then(restorePending).catch((err) => say(err.message, true));
});
