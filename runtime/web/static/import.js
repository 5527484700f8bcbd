// Import page: preview a spreadsheet (every row checked, nothing kept), then import it.
// Both run as background jobs on the server; this page shows their progress, so a
// file of 100,000 rows works, and a job survives the page being closed.
const form = document.getElementById("import-form");
const summary = form.querySelector(".summary");
const table = form.querySelector("table.errors");
const commit = form.querySelector(".commit");
const job = form.querySelector(".job");
const bar = job.querySelector("progress");
const phase = job.querySelector(".phase");
const text = JSON.parse(document.getElementById("import-text").textContent);
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function send(dryRun) {
  const data = new FormData();
  const file = form.elements.file.files[0];
  if (!file) { summary.textContent = text.choose; return null; }
  data.append("file", file);
  const params = new URLSearchParams();
  if (dryRun) params.set("dry_run", "1");
  if (form.elements.key.value) params.set("key", form.elements.key.value);
  const response = await fetch(`${form.dataset.url}?${params}`, {method: "POST", body: data, headers: {"X-CSRF-Token": form.dataset.csrf}});
  const started = await response.json();
  if (!response.ok) return started;
  return follow(started);
}

async function follow(started) {
  job.hidden = false;
  let state = started;
  while (state.status === "queued" || state.status === "running") {
    bar.max = state.total || 1;
    bar.value = state.done || 0;
    phase.textContent = state.total
      ? `${state.phase === "write" ? text.writing : text.checking} ${state.done} / ${state.total}` : "";
    await sleep(500);
    const response = await fetch(`/api/v1/jobs/${state.id}`);
    state = await response.json();
    if (!response.ok) return state;
  }
  job.hidden = true;
  return {...state.report, failed: state.status === "failed", phase: state.phase};
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
  if (report.failed && report.phase === "write") {
    summary.textContent = `${text.failed}: ${text.written} ${report.written} / ${report.rows}.`;
    return;
  }
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
