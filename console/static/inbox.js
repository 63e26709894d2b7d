// Refreshes the inbox in place every few seconds, so the agent keeps their tab, scroll position
// and focus. Skipped while the agent is focused inside the inbox or the page is hidden.
(function () {
  "use strict";
  var box = document.getElementById("inbox");
  if (!box) return;
  var url = box.getAttribute("data-refresh-url");
  var every = Number(box.getAttribute("data-refresh-seconds") || 15) * 1000;

  async function refresh() {
    if (document.hidden || box.contains(document.activeElement)) return;
    try {
      var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.status === 401) {
        window.location.reload(); // the session ended: the reload leads to the sign-in page
        return;
      }
      if (response.ok) box.innerHTML = await response.text();
    } catch (err) {
      // The network blinked: the next tick tries again.
    }
  }

  setInterval(refresh, every);
})();
