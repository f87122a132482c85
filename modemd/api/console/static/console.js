// Refreshes the page's live part (#live) every data-refresh seconds without a full reload:
// the same URL is fetched with X-Console-Partial: 1 and only that block is swapped in. Skipped
// while the pointer or focus is inside it (a person is about to click or type there).
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const every = Number(live.dataset.refresh || 0) * 1000;
  if (!every) return;
  async function refresh() {
    if (live.matches(":hover") || live.contains(document.activeElement)) return;
    try {
      const answer = await fetch(location.href, {
        headers: { "X-Console-Partial": "1" }, credentials: "same-origin", redirect: "manual",
      });
      if (answer.type === "opaqueredirect" || answer.status === 303) {
        location.assign("/console/login");  // the session ended
        return;
      }
      if (answer.ok) {
        live.innerHTML = await answer.text();
        live.dataset.refreshedAt = String(Date.now());
      }
    } catch (error) {
      live.dataset.refreshError = String(error);
    }
  }
  setInterval(refresh, every);
})();
