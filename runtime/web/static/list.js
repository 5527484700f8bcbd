// List page: save the current filters as a named view, delete one of your views, tidy the query.
const save = document.getElementById("save-view");
if (save) {
  save.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = save.querySelector(".form-error");
    const body = {name: save.elements.name.value, query: save.dataset.query,
                  shared: save.elements.shared.checked};
    const response = await fetch(save.dataset.url, {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "X-CSRF-Token": save.dataset.csrf}});
    if (response.ok) { window.location.reload(); return; }
    const result = await response.json().catch(() => ({errors: [{message: response.statusText}]}));
    error.textContent = (result.errors || []).map((e) => e.message).join("; ");
    error.hidden = false;
  });
}
document.querySelectorAll("[data-delete-view]").forEach((button) => {
  button.addEventListener("click", async () => {
    const response = await fetch(button.dataset.deleteView, {method: "DELETE",
      headers: {"X-CSRF-Token": button.closest("[data-csrf]").dataset.csrf}});
    if (response.ok) button.closest(".view").remove();
  });
});
// Leave empty filters out of the address, so a shared or saved link says only what matters.
const filters = document.querySelector("form.list-filters");
if (filters) {
  filters.addEventListener("submit", () => {
    for (const input of filters.elements) if (input.name && !input.value) input.disabled = true;
  });
}
// A large list is exported by a background job: start it, follow it, offer the file.
document.querySelectorAll("[data-export]").forEach((button) => {
  button.addEventListener("click", async () => {
    const status = button.nextElementSibling;
    const bar = status.querySelector("progress");
    button.disabled = true;
    bar.hidden = false;
    let response = await fetch(button.dataset.export, {method: "POST", headers: {"X-CSRF-Token": button.dataset.csrf}});
    let job = await response.json();
    while (response.ok && (job.status === "queued" || job.status === "running")) {
      await new Promise((resolve) => { setTimeout(resolve, 500); });
      response = await fetch(`/api/v1/jobs/${job.id}`);
      job = await response.json();
    }
    bar.hidden = true;
    button.disabled = false;
    if (job.status !== "done") {
      status.textContent = ((job.report || job).errors || []).map((e) => e.message).join("; ");
      return;
    }
    const link = Object.assign(document.createElement("a"), {href: `/api/v1/jobs/${job.id}/file`, textContent: status.dataset.download});
    status.replaceChildren(`${status.dataset.ready} `, link);
  });
});
