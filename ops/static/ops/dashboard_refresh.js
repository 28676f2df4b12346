// Refreshes the dashboard's live parts without reloading the page: every data-refresh-seconds it asks
// data-live-url (the same server, the viewer's session) and replaces each element named in the answer's
// "sections" with its HTML (drawn and escaped by the server's own templates). Pauses while the tab is
// hidden; after a failed request it says so and tries again at the next interval.
"use strict";
(function () {
  function start() {
    const main = document.querySelector("[data-live-url]");
    const seconds = main ? Number(main.dataset.refreshSeconds) : 0;
    if (!main || !seconds) {
      return;
    }
    const state = document.getElementById("ops-refresh-state");
    let busy = false;

    async function refresh() {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      try {
        const response = await fetch(main.dataset.liveUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (!response.ok) {
          throw new Error("the server answered " + response.status);
        }
        const answer = await response.json();
        for (const [id, html] of Object.entries(answer.sections)) {
          const element = document.getElementById(id);
          if (element) {
            element.innerHTML = html;
          }
        }
        document.body.classList.remove("ops-stale");
        if (state) {
          state.textContent = "Refreshes every " + seconds + " s";
        }
      } catch (failure) {
        document.body.classList.add("ops-stale");
        if (state) {
          state.textContent = "Not refreshed (" + failure.message + "); trying again in " + seconds + " s";
        }
      } finally {
        busy = false;
      }
    }

    window.setInterval(refresh, seconds * 1000);
    document.addEventListener("visibilitychange", refresh);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
