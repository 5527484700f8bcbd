// The record form: collects a draft, asks the server to evaluate it as the user types
// (formulas, fills, scans, visibility, messages), and saves through the REST API.
// Everything the server decides stays on the server; this file only moves values.

const config = JSON.parse(document.getElementById("form-config").textContent);
const form = document.getElementById("record-form");
const api = `/api/v1/apps/${config.app}/forms/${config.form}/records`;
const headers = {"Content-Type": "application/json", "X-CSRF-Token": config.csrf};
const computed = new Set(["formula", "rollup", "autonumber"]);
let version = config.record ? config.record.version : null;

// ---- values in and out of controls -------------------------------------------------

function readControl(el) {
  const kind = el.dataset.kind;
  if (kind === "checkbox") return el.checked;
  if (kind === "multiselect") return [...el.selectedOptions].map((o) => o.value);
  if (kind === "relation" || kind === "reference") {
    const id = kind === "relation" ? el.dataset.id : el.value;
    return id ? Number(id) : null;
  }
  if (kind === "attachment") return JSON.parse(el.dataset.files || "[]").map((f) => f.id);
  if (kind === "signature") return el.dataset.value || null;
  if (kind === "location") return el.value ? {address: el.value} : null;
  if (el.tagName === "OUTPUT") return undefined;
  return el.value === "" ? null : el.value;
}

function writeControl(el, value, title) {
  const kind = el.dataset.kind;
  if (el.tagName === "OUTPUT") { el.textContent = value ?? ""; return; }
  if (kind === "checkbox") el.checked = Boolean(value);
  else if (kind === "multiselect") [...el.options].forEach((o) => { o.selected = (value || []).includes(o.value); });
  else if (kind === "relation") { el.dataset.id = value ?? ""; el.value = value ? (title || `#${value}`) : ""; }
  else if (kind === "attachment") { el.dataset.files = JSON.stringify(value || []); showFiles(el); }
  else if (kind === "signature") { el.dataset.value = value || ""; if (value) drawImage(el, value); }
  else if (kind === "location") el.value = value ? (value.address || `${value.lat}, ${value.lng}`) : "";
  else if (kind === "datetime") el.value = value ? String(value).slice(0, 19) : "";
  else el.value = value ?? "";
}

function blank(value) {
  return value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
}

const scopeControls = (scope) => [...scope.querySelectorAll("[data-field]")].filter(
  (el) => el.closest("[data-subtable], form") === scope || (scope.matches("tr") && el.closest("tr") === scope));

function collect() {
  const draft = {};
  for (const el of scopeControls(form)) {
    if (el.closest("fieldset[disabled]")) continue;  // read-only for this user: not sent
    const value = readControl(el);
    if (value !== undefined && !blank(value)) draft[el.dataset.field] = value;
  }
  for (const sub of form.querySelectorAll("[data-subtable]")) {
    if (sub.closest("fieldset[disabled]")) continue;
    draft[sub.dataset.subtable] = [...sub.querySelectorAll("tbody tr.line")].map((row) => {
      const line = row.dataset.id ? {id: Number(row.dataset.id)} : {};
      for (const el of row.querySelectorAll("[data-field]")) {
        const value = readControl(el);
        if (value !== undefined && !blank(value)) line[el.dataset.field] = value;
      }
      return line;
    });
  }
  return draft;
}

// ---- subtable lines ----------------------------------------------------------------

function addLine(sub, line = {}) {
  const row = sub.querySelector("template").content.firstElementChild.cloneNode(true);
  if (line.id) row.dataset.id = line.id;
  sub.querySelector("tbody").append(row);
  for (const el of row.querySelectorAll("[data-field]")) {
    el.id = `${el.id}-${crypto.randomUUID().slice(0, 8)}`;
    const value = line[el.dataset.field];
    if (value !== undefined) writeControl(el, value, (config.titles[`${sub.dataset.subtable}.${el.dataset.field}`] || {})[value]);
  }
  wire(row);
  renumber(sub);
  return row;
}

function renumber(sub) {
  const headers = sub.querySelector("thead tr")?.cells;
  sub.querySelectorAll("tbody tr.line").forEach((row, i) => {
    row.querySelector(".line-no").textContent = i + 1;
    for (const box of row.querySelectorAll(".field")) box.dataset.path = `${sub.dataset.subtable}[${i}].${box.dataset.pathKey}`;
    // Line controls have no <label> of their own: name them by column and line number,
    // for screen readers and voice control.
    for (const el of row.querySelectorAll("[data-field]")) {
      const cell = el.closest("td");
      const column = headers && cell ? headers[cell.cellIndex]?.textContent.trim() : el.dataset.field;
      el.setAttribute("aria-label", `${column} ${i + 1}`);
    }
  });
}

// ---- talking to the server ---------------------------------------------------------

function showMessages(errors, hidden = [], required = []) {
  form.querySelectorAll(".msg").forEach((m) => { m.textContent = ""; });
  form.querySelectorAll("[data-path]").forEach((box) => {
    box.hidden = hidden.includes(box.dataset.path);
    box.classList.toggle("required", required.includes(box.dataset.path));
  });
  const general = [];
  for (const error of errors) {
    const box = form.querySelector(`[data-path="${CSS.escape(error.field || "")}"]`);
    const msg = box && (box.matches(".msg") ? box : box.querySelector(".msg"));
    if (msg) msg.textContent = msg.textContent ? `${msg.textContent}; ${error.message}` : error.message;
    else general.push(error.field ? `${error.field}: ${error.message}` : error.message);
  }
  const banner = form.querySelector(".form-error");
  banner.textContent = general.join(" · ");
  banner.hidden = !general.length;
}

function apply(values, scope, prefix, titles) {
  for (const el of scopeControls(scope)) {
    const key = el.dataset.field;
    if (!(key in values)) continue;
    const isComputed = computed.has(el.dataset.kind) || el.tagName === "OUTPUT";
    if (isComputed || (blank(readControl(el)) && !blank(values[key]))) {
      writeControl(el, values[key], titles[prefix + key]);
    }
  }
}

let pending = null;
async function evaluate() {
  const url = `${api}/evaluate${config.record ? `?id=${config.record.id}` : ""}`;
  const response = await fetch(url, {method: "POST", headers, body: JSON.stringify(collect())});
  if (!response.ok) return;
  const result = await response.json();
  apply(result.values, form, "", result.titles);
  for (const sub of form.querySelectorAll("[data-subtable]")) {
    const key = sub.dataset.subtable;
    const lines = result.values[key] || [];
    sub.querySelectorAll("tbody tr.line").forEach((row, i) => { if (lines[i]) apply(lines[i], row, `${key}[${i}].`, result.titles); });
  }
  showMessages(result.errors.filter((e) => !/is required$/.test(e.message) || touched.has(e.field)), result.hidden, result.required);
  form.dispatchEvent(new CustomEvent("evaluated"));
}

const touched = new Set();
const edited = new Set();  // what the user changed here: top-level field keys, "lines" for any line
function schedule(event) {
  const box = event && event.target.closest("[data-path]");
  if (box) touched.add(box.dataset.path);
  if (event && event.isTrusted) {
    const sub = event.target.closest("[data-subtable]");
    if (sub) edited.add(sub.dataset.subtable);
    else if (box) edited.add(box.dataset.path);
  }
  clearTimeout(pending);
  pending = setTimeout(evaluate, 200);
}

async function save(event) {
  event.preventDefault();
  const draft = collect();
  if (config.record) draft.version = version;
  const response = await fetch(config.record ? `${api}/${config.record.id}` : api, {
    method: config.record ? "PATCH" : "POST", headers, body: JSON.stringify(draft)});
  const result = await response.json().catch(() => ({errors: [{message: response.statusText}]}));
  if (response.ok) { window.location = `${config.recordPage}${result.id}`; return; }
  if (response.status === 409 && config.record && await showConflict(draft)) return;
  // Nothing typed is lost: the form keeps every value and shows what went wrong where.
  form.querySelectorAll("[data-path]").forEach((box) => touched.add(box.dataset.path));
  showMessages(result.errors || []);
}

// ---- someone else saved first (409) ------------------------------------------------
// Show what they changed beside what you changed, and offer to apply your changes on
// top of their version: their values come in where you changed nothing, yours stay.

const SKIP = new Set(["version", "updated_at", "updated_by", "approval", "id"]);
const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const shown = (v) => (blank(v) ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

function fieldLabel(key) {
  const box = form.querySelector(`[data-path="${CSS.escape(key)}"] label, [data-subtable="${CSS.escape(key)}"] h2`);
  return box ? box.textContent.trim() : key;
}

async function showConflict(draft) {
  const response = await fetch(`${api}/${config.record.id}`);
  if (!response.ok) return false;
  const theirs = await response.json();
  const changed = Object.keys(theirs).filter((k) => !SKIP.has(k) && !same(config.record[k], theirs[k]));
  const text = config.text;
  form.querySelector(".conflict")?.remove();
  const panel = document.createElement("section");
  panel.className = "conflict";
  panel.setAttribute("role", "alert");
  const title = document.createElement("h2");
  title.textContent = text.conflict_title.replace("{from}", version).replace("{to}", theirs.version);
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th></th><th></th><th></th></tr></thead><tbody></tbody>";
  table.querySelectorAll("th").forEach((th, i) => { th.textContent = [text.conflict_field, text.conflict_theirs, text.conflict_mine][i]; });
  for (const key of changed) {
    const row = table.tBodies[0].insertRow();
    const mine = edited.has(key) ? shown(draft[key]) : text.conflict_unchanged;
    [fieldLabel(key), Array.isArray(theirs[key]) ? text.conflict_lines : shown(theirs[key]), mine]
      .forEach((value) => { row.insertCell().textContent = value; });
    row.dataset.field = key;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.className = "primary";
  button.textContent = text.conflict_reapply;
  button.addEventListener("click", () => reapply(theirs, changed, panel));
  panel.append(title, table, button);
  form.prepend(panel);
  panel.scrollIntoView({block: "start"});
  return true;
}

function reapply(theirs, changed, panel) {
  for (const key of changed) {
    if (edited.has(key)) continue;  // yours wins where you changed it
    const sub = form.querySelector(`[data-subtable="${CSS.escape(key)}"]`);
    if (sub) {
      sub.querySelectorAll("tbody tr.line").forEach((row) => row.remove());
      (theirs[key] || []).forEach((line) => addLine(sub, line));
      continue;
    }
    for (const el of scopeControls(form)) {
      if (el.dataset.field === key) writeControl(el, theirs[key], (theirs._titles || {})[key]);
    }
  }
  config.record = theirs;
  version = theirs.version;
  panel.remove();
  showMessages([]);
  evaluate();
}

// ---- special controls --------------------------------------------------------------

function resolveScan(el) {
  // A new scan replaces what the last one filled in: clear it, then resolve.
  const sub = el.closest("[data-subtable]");
  const clears = config.scans[`${sub ? `${sub.dataset.subtable}.` : ""}${el.dataset.field}`] || [];
  for (const other of scopeControls(el.closest("tr.line") || form)) {
    if (clears.includes(other.dataset.field)) writeControl(other, null);
  }
  touched.add(el.closest("[data-path]").dataset.path);
  evaluate();
}

// Phones scan with their camera where the browser can read barcodes (BarcodeDetector);
// elsewhere the field takes a keyboard-wedge scanner or typing, and no button shows.
function offerCamera(el) {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) return;
  const button = Object.assign(document.createElement("button"), {type: "button", className: "camera"});
  // An inline icon: phones and servers without an emoji font still show it.
  button.innerHTML = '<svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="currentColor"><path d="M9 4 7.2 6H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V8a2 2 0 0 0-2-2h-3.2L15 4zm3 4.5a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9z"/></svg>';
  button.setAttribute("aria-label", config.text.scan_camera);
  el.after(button);
  button.addEventListener("click", () => scanWithCamera(el));
}

async function scanWithCamera(el) {
  const dialog = document.createElement("dialog");
  dialog.className = "camera-scan";
  const video = Object.assign(document.createElement("video"), {autoplay: true, muted: true, playsInline: true});
  const close = Object.assign(document.createElement("button"), {type: "button", textContent: "×"});
  close.setAttribute("aria-label", config.text.close_camera);
  dialog.append(video, close);
  document.body.append(dialog);
  dialog.showModal();
  let stream = null;
  let done = false;
  const stop = () => { done = true; stream?.getTracks().forEach((t) => t.stop()); dialog.close(); dialog.remove(); };
  close.addEventListener("click", stop);
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}});
    video.srcObject = stream;
    const detector = new window.BarcodeDetector();
    while (!done) {
      const [found] = await detector.detect(video).catch(() => []);
      if (found && found.rawValue) {
        stop();
        el.value = found.rawValue;
        resolveScan(el);
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, 200); });
    }
  } catch (error) {
    stop();
    showMessages([{field: el.closest("[data-path]").dataset.path, message: `${config.text.camera_failed}: ${error.message}`}]);
  }
}

async function searchRelation(el) {
  const target = config.targets[el.dataset.target];
  if (!target || !el.value || el.value.startsWith("#")) return;
  const list = document.getElementById(el.getAttribute("list"));
  const params = new URLSearchParams({limit: "10", q: el.value});
  const response = await fetch(`/api/v1/apps/${config.app}/forms/${el.dataset.target}/records?${params}`);
  if (!response.ok) return;
  const {records} = await response.json();
  el._choices = new Map(records.map((r) => [target.fields.map((k) => r[k]).filter(Boolean).join(" "), r.id]));
  list.replaceChildren(...[...el._choices.keys()].map((text) => Object.assign(document.createElement("option"), {value: text})));
}

function pickRelation(el) {
  const id = el._choices && el._choices.get(el.value);
  el.dataset.id = id || (el.value ? el.dataset.id : "");
  if (!el.value) el.dataset.id = "";
}

function showFiles(el) {
  const list = el.parentElement.querySelector(".files");
  list.replaceChildren(...JSON.parse(el.dataset.files || "[]").map((f) => {
    const item = document.createElement("li");
    item.textContent = `${f.name} (${Math.ceil(f.size / 1024)} KB)`;
    return item;
  }));
}

function upload(el) {
  const progress = el.parentElement.querySelector("progress");
  for (const file of el.files) {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/v1/apps/${config.app}/files`);
    request.setRequestHeader("X-CSRF-Token", config.csrf);
    progress.hidden = false;
    request.upload.onprogress = (e) => { progress.value = e.lengthComputable ? (100 * e.loaded) / e.total : 50; };
    request.onload = () => {
      progress.hidden = true;
      const result = JSON.parse(request.responseText);
      if (request.status === 201) {
        el.dataset.files = JSON.stringify([...JSON.parse(el.dataset.files || "[]"), result]);
        showFiles(el);
        schedule();
      } else showMessages(result.errors || []);
    };
    const data = new FormData();
    data.append("file", file);
    request.send(data);
  }
  el.value = "";
}

function drawImage(canvas, url) {
  const image = new Image();
  image.onload = () => canvas.getContext("2d").drawImage(image, 0, 0);
  image.src = url;
}

function wireSignature(canvas) {
  const context = canvas.getContext("2d");
  let drawing = false;
  const point = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; context.beginPath(); context.moveTo(...point(e)); });
  canvas.addEventListener("pointermove", (e) => { if (drawing) { context.lineTo(...point(e)); context.stroke(); } });
  canvas.addEventListener("pointerup", () => { drawing = false; canvas.dataset.value = canvas.toDataURL("image/png"); schedule(); });
  canvas.parentElement.querySelector(".clear-signature").addEventListener("click", () => {
    context.clearRect(0, 0, canvas.width, canvas.height);
    canvas.dataset.value = "";
  });
}

function wire(scope) {
  const isForm = scope === form;  // lines are wired when they are added
  for (const el of scope.querySelectorAll("[data-field]")) {
    if (isForm && el.closest("tr.line")) continue;
    const kind = el.dataset.kind;
    if (kind === "relation") {
      el.addEventListener("input", () => { pickRelation(el); searchRelation(el); });
      el.addEventListener("change", () => { pickRelation(el); schedule({target: el}); });
    } else if (kind === "barcode") {
      // A keyboard-wedge scanner types the code and Enter: resolve it at once.
      el.addEventListener("keydown", (e) => {
        if (e.key !== "Enter") return;
        e.preventDefault();
        resolveScan(el);
      });
      offerCamera(el);
    } else if (kind === "attachment") {
      el.addEventListener("change", () => upload(el));
    } else if (kind === "signature") {
      wireSignature(el);
    }
  }
  if (isForm) return;
  scope.querySelectorAll(".remove-line").forEach((b) => b.addEventListener("click", () => {
    const sub = b.closest("[data-subtable]"); b.closest("tr").remove(); renumber(sub); schedule();
  }));
  scope.querySelectorAll(".move-up").forEach((b) => b.addEventListener("click", () => {
    const row = b.closest("tr"); if (row.previousElementSibling) row.previousElementSibling.before(row);
    renumber(b.closest("[data-subtable]")); schedule();
  }));
}

// ---- start -------------------------------------------------------------------------

for (const box of form.querySelectorAll(":scope .field")) {
  if (!box.closest("[data-subtable]")) box.dataset.path = box.dataset.pathKey;
}
for (const el of scopeControls(form)) {
  if (config.record && el.dataset.field in config.record) writeControl(el, config.record[el.dataset.field], (config.titles[el.dataset.field] || {})[config.record[el.dataset.field]]);
}
for (const sub of form.querySelectorAll("[data-subtable]")) {
  const lines = config.record ? config.record[sub.dataset.subtable] || [] : [{}];
  lines.forEach((line) => addLine(sub, line));
  sub.querySelector(".add-line").addEventListener("click", () => { addLine(sub).querySelector("[data-field]")?.focus(); schedule(); });
}
wire(form);
form.addEventListener("input", schedule);
form.addEventListener("change", schedule);
form.addEventListener("submit", save);
evaluate();
