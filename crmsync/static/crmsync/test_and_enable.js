// The admin mailbox form's "Test & enable" without leaving the form: the button's form is
// posted in the background, then the mailbox's state (the admin's JSON of
// mailboxes/web/live.py) is asked for every 2 s until the worker has written the test's
// result, which the page then shows with the fresh status fields. After the wait
// (CRMSYNC_WORKER_WAIT_SECONDS) it says that no worker is answering. Without JavaScript the
// button posts and the page reloads as before.
(function () {
  "use strict";
  var form = document.getElementById("test-and-enable");
  var box = document.getElementById("test-enable-progress");
  if (!form || !box || !window.fetch || !window.DOMParser) {
    return;
  }
  var stateUrl = form.dataset.stateUrl;
  var INTERVAL_MS = 2000;
  var GIVE_UP_MS = (Number(form.dataset.waitSeconds) || 120) * 1000;
  var button = form.querySelector("button");
  var line = box.querySelector("li");
  // The read-only rows the worker's test changes, refreshed from the page once it answered.
  var FRESH_ROWS = ["status_in_words", "test_status", "tested_at", "incoming_status",
    "outgoing_status", "act_status", "last_error_text", "last_error_code", "last_error_at",
    "failing_since", "error_count"];

  function getState() {
    return fetch(stateUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    });
  }

  function sentence(text) {
    return /[.!?…]$/.test(text) ? text : text + ".";
  }

  function say(text, level) {
    box.hidden = false;
    line.className = level || "info";
    line.textContent = text;
  }

  function finish(text, level) {
    button.disabled = false;
    box.removeAttribute("aria-busy");
    box.dataset.done = level || "info";
    say(text, level);
  }

  function refreshRows(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    FRESH_ROWS.forEach(function (name) {
      var now = document.querySelector(".form-row.field-" + name);
      var next = fresh.querySelector(".form-row.field-" + name);
      if (now && next) {
        now.replaceWith(next);
      }
    });
    // A passed test enables the mailbox: the box follows unless it was changed by hand.
    var active = document.getElementById("id_is_active");
    var freshActive = fresh.getElementById("id_is_active");
    if (active && freshActive && active.checked === active.defaultChecked) {
      active.checked = active.defaultChecked = freshActive.checked;
    }
  }

  function run() {
    var started = Date.now();
    var before;
    button.disabled = true;
    box.setAttribute("aria-busy", "true");
    delete box.dataset.done;
    say("Test & enable: starting…");
    getState()
      .then(function (state) {
        before = state.test.tested_at;
        return fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          credentials: "same-origin",
        });
      })
      .then(function (response) {
        return response.text();
      })
      .then(function (html) {
        // The answer is the form again, with the admin's message: refused, or queued.
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var refused = fresh.querySelector(".messagelist .warning, .messagelist .error");
        if (refused) {
          finish(refused.textContent.trim(), "warning");
          return;
        }
        poll();
      })
      .catch(function () {
        finish("The server could not be asked: reload this page.", "error");
      });

    function poll() {
      var waited = Date.now() - started;
      if (waited > GIVE_UP_MS) {
        finish(
          "No worker is answering: nothing happened in " + Math.round(waited / 1000) +
            " s. The test waits in the queue; this page shows its result after a reload.",
          "warning"
        );
        return;
      }
      say("Test & enable: waiting for a worker… " + Math.round(waited / 1000) + " s");
      getState()
        .then(function (state) {
          if (!state.test.tested_at || state.test.tested_at === before) {
            window.setTimeout(poll, INTERVAL_MS);
            return;
          }
          return fetch(window.location.pathname, { credentials: "same-origin" })
            .then(function (response) {
              return response.text();
            })
            .then(function (html) {
              refreshRows(html);
              var status = sentence(
                state.status.words + (state.status.reason ? ": " + state.status.reason : "")
              );
              if (state.test.status === "success") {
                finish("Test & enable passed: the mailbox is enabled. " + status, "success");
              } else {
                finish("Test & enable failed. " + status, "error");
              }
            });
        })
        .catch(function () {
          window.setTimeout(poll, INTERVAL_MS);
        });
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    run();
  });
})();
