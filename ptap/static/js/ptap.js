// PTAP page helpers. No inline scripts anywhere (the CSP forbids them).
document.addEventListener("DOMContentLoaded", () => {
  // Move focus to the error summary so screen-reader users hear what went wrong.
  const summary = document.querySelector(".error-summary");
  if (summary) summary.focus();

  // Main menu: wide screens show it open. ptap.css does it with ::details-content; older
  // browsers get the disclosure opened here (small screens keep it collapsed).
  const menu = document.getElementById("nav-menu");
  const css = window.CSS;
  const modern = css && css.supports && css.supports("selector(::details-content)");
  if (menu && !modern && window.matchMedia("(min-width: 48.01rem)").matches) menu.open = true;
});
