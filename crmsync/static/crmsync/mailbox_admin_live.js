// The admin mailbox form's "Test & enable" and "Refresh folder list" without leaving the
// form: the button's form is posted in the background, then the mailbox's state (the
// admin's JSON of mailboxes/web/live.py) is asked for every 2 s until the worker has written
// its answer, which the page then says (a test's result comes with the fresh status rows).
// After the wait (CRMSYNC_WORKER_WAIT_SECONDS) it says that no worker is answering. Without
// JavaScript the buttons post and the page reloads as before.
(function () {
  "use strict";
  var box = document.getElementById("admin-live-progress");
  if (!box || !window.fetch || !window.DOMParser) {
    return;
  }
  var stateUrl = box.dataset.stateUrl;
  var INTERVAL_MS = 2000;
  var GIVE_UP_MS = (Number(box.dataset.waitSeconds) || 120) * 1000;
  var line = box.querySelector("li");
  // The read-only rows the worker's test changes, refreshed from the page once it answered.
  var FRESH_ROWS = ["status_in_words", "test_status", "tested_at", "incoming_status",
    "outgoing_status", "act_status", "last_error_text", "last_error_code", "last_error_at",
    "failing_since", "error_count"];

  // What the worker writes when it has done each kind of work (null: not yet).
  var MARKS = {
    test: function (state) {
      return state.test.tested_at;
    },
    folders: function (state) {
      return state.folders.waiting ? null
        : (state.folders.listed_at || "") + "|" + (state.folders.error_at || "");
    },
  };

  function sentence(text) {
    return /[.!?…]$/.test(text) ? text : text + ".";
  }

  // What the page says once the worker has answered; [text, level].
  var DONE = {
    test: function (state) {
      var status = sentence(
        state.status.words + (state.status.reason ? ": " + state.status.reason : "")
      );
      if (state.test.status === "success") {
        return ["Test & enable passed: the mailbox is enabled. " + status, "success"];
      }
      return ["Test & enable failed. " + status, "error"];
    },
    folders: function (state, before) {
      if (state.folders.listed_at && before.indexOf(state.folders.listed_at + "|") !== 0) {
        var count = state.folders.count === 1 ? "1 folder" : state.folders.count + " folders";
        return [count + " listed under the Inbox: reload this page to pick tracking and " +
          "contact folders from the new list.", "success"];
      }
      return ["The folder listing failed: reload this page to read why.", "error"];
    },
  };

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

  function say(text, level) {
    box.hidden = false;
    line.className = level || "info";
    line.textContent = text;
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

  function run(form) {
    var kind = form.dataset.adminLive;
    var button = form.querySelector("button");
    var label = button.textContent.trim();
    var started = Date.now();
    var before;

    function finish(text, level) {
      button.disabled = false;
      box.removeAttribute("aria-busy");
      box.dataset.done = level || "info";
      say(text, level);
    }

    button.disabled = true;
    box.setAttribute("aria-busy", "true");
    delete box.dataset.done;
    say(label + ": starting…");
    getState()
      .then(function (state) {
        before = MARKS[kind](state) || "";
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
            " s. The work waits in the queue; this page shows its result after a reload.",
          "warning"
        );
        return;
      }
      say(label + ": waiting for a worker… " + Math.round(waited / 1000) + " s");
      getState()
        .then(function (state) {
          var mark = MARKS[kind](state);
          if (!mark || mark === before) {
            window.setTimeout(poll, INTERVAL_MS);
            return;
          }
          var done = DONE[kind](state, before);
          if (kind !== "test") {
            finish(done[0], done[1]);
            return;
          }
          return fetch(window.location.pathname, { credentials: "same-origin" })
            .then(function (response) {
              return response.text();
            })
            .then(function (html) {
              refreshRows(html);
              finish(done[0], done[1]);
            });
        })
        .catch(function () {
          window.setTimeout(poll, INTERVAL_MS);
        });
    }
  }

  document.querySelectorAll("form[data-admin-live]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run(form);
    });
  });
})();
