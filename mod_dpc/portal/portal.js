/* The portal's progressive JavaScript: copy buttons.  Every page works
 * without it (the value to copy is on the page). */
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest("button.copy");
  if (!btn) return;
  var el = document.getElementById(btn.getAttribute("data-copy"));
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(function () {
    btn.textContent = "Copied";
  }, function () {
    btn.textContent = "Select and copy it";
  });
});
