// The schedule form shows only the fields of the chosen trigger kind. The kind's select carries
// data-trigger-fields, {"cron": ["cron_expression"], "interval": [...], ...}: a form row (or a field box
// in a row of several) is hidden when every field it holds belongs to other kinds only. Fields listed under
// no kind always show; without this script every field shows and the server ignores the other kinds' fields.
"use strict";
(function () {
  function fieldsOf(element, known) {
    return Array.from(element.classList)
      .filter((name) => name.startsWith("field-"))
      .map((name) => name.slice("field-".length))
      .filter((name) => known.has(name));
  }

  function attach(select) {
    const kinds = JSON.parse(select.dataset.triggerFields);
    const known = new Set(Object.values(kinds).flat());
    const form = select.form || document;
    function apply() {
      const shown = new Set(kinds[select.value] || []);
      form.querySelectorAll(".form-row, .fieldBox").forEach((element) => {
        const fields = fieldsOf(element, known);
        if (fields.length) {
          element.hidden = fields.every((name) => !shown.has(name));
        }
      });
    }
    select.addEventListener("change", apply);
    apply();
  }

  function start() {
    document.querySelectorAll("select[data-trigger-fields]").forEach(attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
