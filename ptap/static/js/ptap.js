// PTAP page helpers. No inline scripts anywhere (the CSP forbids them).
document.addEventListener("DOMContentLoaded", () => {
  // Move focus to the error summary so screen-reader users hear what went wrong.
  const summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
});
