// Inbox: approve or return a task from its row, without opening the record.
document.querySelectorAll(".quick[data-task]").forEach((box) => {
  box.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const response = await fetch(`/api/v1/tasks/${box.dataset.task}/${button.dataset.action}`, {
      method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf}, body: "{}"});
    if (response.ok) { box.closest("tr").remove(); return; }
    const result = await response.json().catch(() => ({errors: [{message: response.statusText}]}));
    const error = box.querySelector(".form-error");
    error.textContent = (result.errors || []).map((e) => e.message).join("; ");
    error.hidden = false;
    box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  });
});
