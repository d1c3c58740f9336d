// Tidings console: the little behaviour htmx does not cover. No inline script anywhere
// (the Content-Security-Policy allows only this origin's files).
(function () {
  "use strict";
  // A button with data-copy="<element id>" copies that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });
  // The live tail's indicator: on while its event stream is open.
  document.addEventListener("htmx:sseOpen", function (event) {
    var live = document.querySelector("[data-live]");
    if (live) { live.classList.add("on"); live.textContent = "Live"; }
  });
  document.addEventListener("htmx:sseError", function () {
    var live = document.querySelector("[data-live]");
    if (live) { live.classList.remove("on"); live.textContent = "Reconnecting…"; }
  });
})();
