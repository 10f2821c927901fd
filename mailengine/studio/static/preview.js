/* Preview page: switch step and customer without reloading the page.
   Links marked data-swap and GET forms marked data-swap-form inside the workbench load the
   same page with fragment=1 and swap the workbench in; the address bar follows, and Back
   works. Without this script the links and forms load whole pages. */
(function () {
  "use strict";

  var root = document.getElementById("workbench");
  if (!root || !window.fetch) {
    return;
  }

  function chosenView() {
    var checked = root.querySelector('input[name="view"]:checked');
    return checked ? checked.value : null;
  }

  function load(url, push) {
    var view = chosenView();
    var fragmentUrl = new URL(url, window.location.href);
    fragmentUrl.searchParams.set("fragment", "1");
    root.setAttribute("aria-busy", "true");
    return fetch(fragmentUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text();
      })
      .then(function (html) {
        root.innerHTML = html;
        if (view) {
          var again = root.querySelector('input[name="view"][value="' + view + '"]');
          if (again) {
            again.checked = true;
          }
        }
        if (push) {
          window.history.pushState({ preview: true }, "", url);
        }
        var current = root.querySelector('[aria-current="step"]');
        if (current && push === "step") {
          current.focus();
        }
      })
      .catch(function () {
        window.location.href = url; // fall back to a whole page
      })
      .finally(function () {
        root.removeAttribute("aria-busy");
      });
  }

  root.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-swap]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
      return;
    }
    event.preventDefault();
    load(link.href, link.closest(".step-tabs") ? "step" : true);
  });

  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-swap-form]");
    if (!form) {
      return;
    }
    event.preventDefault();
    var url = new URL(form.action, window.location.href);
    new FormData(form).forEach(function (value, name) {
      url.searchParams.set(name, value);
    });
    load(url.toString(), true);
  });

  window.addEventListener("popstate", function () {
    load(window.location.href, false);
  });
})();
