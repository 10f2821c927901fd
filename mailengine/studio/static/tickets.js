/* mailengine studio, the ticket page: insert a saved reply at the cursor, filled in for the
   ticket's customer by the server (without this script the Insert button loads the page
   with the saved reply in the composer); say what a change did once only. */
(function () {
  "use strict";

  // What a change said (?done=...) is said once: reloading the page later does not repeat it.
  if (window.location.search.indexOf("done=") !== -1 && window.history.replaceState) {
    var url = new URL(window.location.href);
    url.searchParams.delete("done");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }

  var form = document.getElementById("snippet-form");
  var answer = document.getElementById("reply-body");
  var status = document.getElementById("snippet-status");
  if (!form || !answer) {
    return;
  }

  function insertAtCursor(text) {
    var start = answer.selectionStart;
    var end = answer.selectionEnd;
    var before = answer.value.slice(0, start);
    var after = answer.value.slice(end);
    var gap = before && !/\n\n$/.test(before) ? (/\n$/.test(before) ? "\n" : "\n\n") : "";
    answer.value = before + gap + text + after;
    var cursor = (before + gap + text).length;
    answer.focus();
    answer.setSelectionRange(cursor, cursor);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var select = form.querySelector("select[name=snippet]");
    var name = select.options[select.selectedIndex].text;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "";
    fetch(form.getAttribute("data-snippets") + encodeURIComponent(select.value), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (found) {
        if (found.error) {
          status.textContent = found.error;
          return;
        }
        insertAtCursor(found.text);
        status.textContent = "Inserted “" + name + "”, filled in for this customer.";
      })
      .catch(function () {
        status.textContent = "The saved reply could not be fetched; try again.";
      })
      .then(function () {
        // The studio's own script disables a form's buttons once it is submitted.
        window.setTimeout(function () {
          button.disabled = false;
          button.removeAttribute("data-sending");
        }, 0);
      });
  });
})();
