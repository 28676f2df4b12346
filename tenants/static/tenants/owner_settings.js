// The owner page's settings: changing a value ticks its "own value" box (a value is set for this owner);
// unticking the box puts the inherited value back in the input. Without this script the server refuses a
// changed value whose box is not ticked, so nothing is lost either way.
"use strict";
(function () {
  function attach(input) {
    const own = document.getElementById(input.dataset.settingOwn);
    if (!own) {
      return;
    }
    const isCheckbox = input.type === "checkbox";
    input.addEventListener("change", () => {
      own.checked = true;
    });
    input.addEventListener("input", () => {
      own.checked = true;
    });
    own.addEventListener("change", () => {
      if (own.checked) {
        return;
      }
      const inherited = input.dataset.inherited;
      if (isCheckbox) {
        input.checked = inherited === "true";
      } else {
        input.value = inherited;
      }
    });
  }

  function start() {
    document.querySelectorAll("[data-setting-own]").forEach(attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
