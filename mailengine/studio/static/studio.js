/* mailengine studio: small progressive enhancements; every page works without them.
   - window.studio.post(url, data): fetch() with the session's CSRF token (X-CSRF-Token)
   - forms with data-confirm="question?" ask before they are sent
   - a form is sent once: its submit buttons wait while the next page loads */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  function post(url, data) {
    var headers = { "X-CSRF-Token": csrfToken, Accept: "application/json" };
    var body = data;
    if (data && !(data instanceof FormData) && typeof data !== "string") {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(data);
    }
    return fetch(url, {
      method: "POST",
      headers: headers,
      body: body,
      credentials: "same-origin",
    });
  }

  window.studio = { csrfToken: csrfToken, post: post };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // After this event, so that the pressed button's name and value are still sent.
    window.setTimeout(function () {
      form.querySelectorAll('button[type="submit"]:not(:disabled)').forEach(function (button) {
        button.disabled = true;
        button.setAttribute("data-sending", "");
      });
    }, 0);
  });

  // Coming back with the browser's Back button shows the page as it was left: usable.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[data-sending]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("data-sending");
    });
  });
})();
