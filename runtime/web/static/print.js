// The print page: the browser's own print dialog (paper size and printer are the user's).
document.getElementById("print-now").addEventListener("click", () => window.print());
const choice = document.querySelector("select[name=template]");
if (choice) choice.addEventListener("change", () => choice.form.submit());
