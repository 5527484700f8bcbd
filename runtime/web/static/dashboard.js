// Dashboard page: loads every widget from the dashboards API, draws it with plotly.js,
// lists the records behind a clicked bar / point / slice, and links each widget's
// data as CSV and XLSX with the parameters it ran with.
const form = document.getElementById("dashboard-filters");
const text = JSON.parse(document.getElementById("dashboard-text").textContent);
const drill = document.getElementById("drill");
const boxes = [...document.querySelectorAll(".widget")];
const lang = form.dataset.lang;

function filterValues() {
  const values = new URLSearchParams();
  for (const [key, value] of new FormData(form)) {
    if (value !== "") values.append(key, value);
  }
  return values;
}

function withParams(params, extra = {}) {
  const query = new URLSearchParams({lang, ...extra});
  for (const [key, value] of Object.entries(params || {})) {
    for (const item of Array.isArray(value) ? value : [value]) query.append(key, item);
  }
  return query.toString();
}

function errorText(result) {
  return (result.errors || []).map((e) => (e.field ? `${e.field}: ` : "") + e.message).join("; ");
}

async function load() {
  const values = filterValues();
  history.replaceState(null, "", `?${values}`);
  values.set("lang", lang);
  for (const box of boxes) box.querySelector(".chart").setAttribute("aria-busy", "true");
  const response = await fetch(`${form.dataset.api}?${values}`, {headers: {Accept: "application/json"}});
  const result = await response.json().catch(() => ({errors: [{message: response.statusText}]}));
  if (!response.ok) {
    for (const box of boxes) showError(box, errorText(result));
    return;
  }
  result.widgets.forEach((widget, index) => draw(boxes[index], widget));
}

function showError(box, message) {
  const chart = box.querySelector(".chart");
  chart.removeAttribute("aria-busy");
  chart.replaceChildren(Object.assign(document.createElement("p"), {className: "widget-error", textContent: message}));
}

function draw(box, widget) {
  const chart = box.querySelector(".chart");
  const base = `${form.dataset.reports}${encodeURIComponent(widget.report)}`;
  for (const link of box.querySelectorAll("[data-export]")) {
    link.href = `${base}/export.${link.dataset.export}?${withParams(widget.params)}`;
  }
  if (widget.errors) { showError(box, errorText(widget)); return; }
  chart.textContent = "";
  chart.removeAttribute("aria-busy");
  if (!widget.rows.length && !widget.figure.data.some((t) => t.type === "indicator")) {
    const title = ((widget.figure.layout || {}).title || {}).text || widget.report;
    chart.replaceChildren(Object.assign(document.createElement("h3"), {textContent: title}),
                          Object.assign(document.createElement("p"), {textContent: text.no_data}));
    return;
  }
  const layout = {...widget.figure.layout, autosize: true};
  delete layout.width; delete layout.height;
  Plotly.newPlot(chart, widget.figure.data, layout, {responsive: true, displaylogo: false}).then(() => {
    chart.dataset.rendered = "true";
    chart.removeAllListeners?.("plotly_click");
    chart.on("plotly_click", (event) => {
      const point = event.points && event.points[0];
      let element = point && point.customdata;
      if (Array.isArray(element)) element = element[0];  // pie slices wrap it
      if (element && typeof element === "object") showRecords(base, widget, element);
    });
  });
}

async function showRecords(base, widget, element) {
  drill.hidden = false;
  const list = drill.querySelector(".drill-records");
  const error = drill.querySelector(".form-error");
  const shown = Object.values(element).map((v) => v === null ? "—" : v).join(" · ");
  drill.querySelector("[data-title]").textContent = `${text.drill}: ${shown}`;
  list.replaceChildren();
  error.hidden = true;
  const response = await fetch(`${base}/drill?${withParams(widget.params, {element: JSON.stringify(element)})}`);
  const result = await response.json().catch(() => ({errors: [{message: response.statusText}]}));
  if (!response.ok) {
    error.textContent = errorText(result);
    error.hidden = false;
    return;
  }
  drill.querySelector(".drill-count").textContent =
    `${result.count} ${text.records}${result.truncated ? " — " + text.truncated : ""}`;
  for (const record of result.records) {
    const item = document.createElement("li");
    const label = record.title || Object.entries(record).filter(([k]) => k !== "url")
      .map(([k, v]) => `${k}: ${v}`).join(", ");
    if (record.url) {
      item.append(Object.assign(document.createElement("a"), {href: record.url, textContent: label}));
    } else {
      item.textContent = label;
    }
    list.append(item);
  }
  drill.scrollIntoView({behavior: "smooth", block: "nearest"});
}

form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
form.querySelector("[data-refresh]").addEventListener("click", load);
drill.querySelector("[data-close]").addEventListener("click", () => { drill.hidden = true; });
for (const [key, value] of new URLSearchParams(location.search)) {
  if (form.elements[key]) form.elements[key].value = value;
}
load();
