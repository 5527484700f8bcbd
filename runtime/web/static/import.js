// Import page: preview a spreadsheet (every row checked, nothing kept), then import it.
const form = document.getElementById("import-form");
const summary = form.querySelector(".summary");
const table = form.querySelector("table.errors");
const commit = form.querySelector(".commit");
const progress = form.querySelector("progress");
const text = JSON.parse(document.getElementById("import-text").textContent);

async function send(dryRun) {
  const data = new FormData();
  const file = form.elements.file.files[0];
  if (!file) { summary.textContent = text.choose; return null; }
  data.append("file", file);
  const params = new URLSearchParams();
  if (dryRun) params.set("dry_run", "1");
  if (form.elements.key.value) params.set("key", form.elements.key.value);
  progress.hidden = false;
  const response = await fetch(`${form.dataset.url}?${params}`, {method: "POST", body: data, headers: {"X-CSRF-Token": form.dataset.csrf}});
  progress.hidden = true;
  return response.json();
}

function show(report) {
  const rows = report.errors || [];
  table.hidden = !rows.length;
  table.querySelector("tbody").replaceChildren(...rows.map((e) => {
    const tr = document.createElement("tr");
    for (const value of [e.row ?? "", e.column ?? e.field ?? "", e.message]) {
      const td = document.createElement("td"); td.textContent = value; tr.append(td);
    }
    return tr;
  }));
  if (!("rows" in report)) { summary.textContent = rows.map((e) => e.message).join("; "); return; }
  const ignored = report.unmatched && report.unmatched.length ? ` ${text.ignored}: ${report.unmatched.join(", ")}` : "";
  summary.textContent = rows.length
    ? `${report.rows} ${text.rows}, ${rows.length} ${text.problems}. ${text.nothing}${ignored}`
    : report.committed
      ? `${text.done}: ${text.created} ${report.created}, ${text.updated} ${report.updated}.`
      : `${report.rows} ${text.rows} ${text.ok}: ${text.created} ${report.created}, ${text.updated} ${report.updated}.${ignored}`;
}

form.querySelector(".preview").addEventListener("click", async () => {
  const report = await send(true);
  if (!report) return;
  show(report);
  commit.disabled = Boolean((report.errors || []).length) || !("rows" in report);
});
commit.addEventListener("click", async () => {
  commit.disabled = true;
  const report = await send(false);
  if (report) show(report);
});
form.elements.file.addEventListener("change", () => { commit.disabled = true; });
