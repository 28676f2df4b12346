// Live preview of a cron expression: its meaning in words and the next fire times in the schedule's time
// zone, or the reason it is invalid. Asks the server (admin:jobs_schedule_cron_preview), so the rules are the engine's own.
"use strict";
(function () {
  const DELAY_MS = 250;

  function zoneOf(input) {
    const name = input.dataset.cronTimezoneField;
    const field = name && input.form ? input.form.elements.namedItem(name) : null;
    return field && field.value ? field.value : "UTC";
  }

  function show(box, answer) {
    box.replaceChildren();
    if (!answer.valid) {
      const error = document.createElement("span");
      error.className = "errornote cron-preview-error";
      error.textContent = answer.error;
      box.append(error);
      return;
    }
    const description = document.createElement("strong");
    description.className = "cron-preview-description";
    description.textContent = answer.description;
    const list = document.createElement("ol");
    list.className = "cron-preview-next";
    for (const time of answer.next) {
      const item = document.createElement("li");
      item.textContent = time.local;
      item.title = time.utc;
      list.append(item);
    }
    box.append(description, document.createTextNode(" — next runs (" + answer.timezone + "):"), list);
  }

  function attach(input) {
    const box = document.getElementById(input.id + "_preview");
    if (!box) {
      return;
    }
    let timer = null;
    let latest = 0;
    async function refresh() {
      const expression = input.value.trim();
      if (!expression) {
        box.replaceChildren();
        return;
      }
      const ticket = ++latest;
      const url = new URL(input.dataset.cronPreviewUrl, window.location.href);
      url.searchParams.set("expression", expression);
      url.searchParams.set("timezone", zoneOf(input));
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        const answer = await response.json();
        if (ticket === latest) {
          show(box, answer);
        }
      } catch (failure) {
        if (ticket === latest) {
          show(box, { valid: false, error: "Preview unavailable: " + failure.message });
        }
      }
    }
    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, DELAY_MS);
    }
    input.addEventListener("input", later);
    const zone = input.form && input.form.elements.namedItem(input.dataset.cronTimezoneField || "");
    if (zone) {
      zone.addEventListener("change", refresh);
    }
    refresh();
  }

  function start() {
    document.querySelectorAll("input[data-cron-preview-url]").forEach(attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
