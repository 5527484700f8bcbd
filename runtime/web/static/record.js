// Record page actions: submit, withdraw, cancel; approve / return / reject / comment,
// transfer and add a signer for the current assignee.
const bar = document.getElementById("record-actions");
if (bar) {
  const error = bar.querySelector(".form-error");
  bar.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const task = button.closest("[data-task]");
    const url = task ? `/api/v1/tasks/${task.dataset.task}/${action}` : `${bar.dataset.recordUrl}/${action}`;
    const comment = bar.elements.comment ? bar.elements.comment.value : "";
    const body = comment ? {comment} : {};
    const chosen = task && task.querySelector("select[name=to]");
    if (action === "transfer") body.to = Number(chosen.value);
    if (action === "add_signer") {
      body.users = [Number(chosen.value)];
      body.position = task.querySelector("select[name=position]").value;
    }
    button.disabled = true;
    const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": bar.dataset.csrf},
                                       body: JSON.stringify(body)});
    if (response.ok) { window.location.reload(); return; }
    const result = await response.json().catch(() => ({errors: [{message: response.statusText}]}));
    error.textContent = (result.errors || []).map((e) => e.message).join("; ");
    error.hidden = false;
    button.disabled = false;
  });
}
