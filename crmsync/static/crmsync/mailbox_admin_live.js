// The admin mailbox form's "Test & enable" and "Refresh folder list" without leaving the
// form (the loop is live_poller.js): once the worker has answered, the page says it (a
// test's result comes with the fresh status rows). Without JavaScript the buttons post and
// the page reloads as before.
(function () {
  "use strict";
  var box = document.getElementById("admin-live-progress");
  if (!box || !window.fetch || !window.DOMParser || !window.crmsyncLive) {
    return;
  }
  var live = window.crmsyncLive;
  var line = box.querySelector("li");
  // The read-only rows the worker's test changes, refreshed from the page once it answered.
  var FRESH_ROWS = ["status_in_words", "test_status", "tested_at", "incoming_status",
    "outgoing_status", "act_status", "last_error_text", "last_error_code", "last_error_at",
    "failing_since", "error_count"].map(function (name) {
    return ".form-row.field-" + name;
  });

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

  function refreshRows(html) {
    var fresh = live.swap(html, FRESH_ROWS);
    // A passed test enables the mailbox: the box follows unless it was changed by hand.
    var active = document.getElementById("id_is_active");
    var freshActive = fresh.getElementById("id_is_active");
    if (active && freshActive && active.checked === active.defaultChecked) {
      active.checked = active.defaultChecked = freshActive.checked;
    }
  }

  function run(form) {
    var kind = form.dataset.adminLive;
    live.run(form, {
      progress: box,
      say: function (text, level) {
        line.className = level;
        line.textContent = text;
      },
      stateUrl: box.dataset.stateUrl,
      waitSeconds: box.dataset.waitSeconds,
      mark: MARKS[kind],
      // The answer is the form again, with the admin's message: refused, or queued.
      refusal: function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var refused = fresh.querySelector(".messagelist .warning, .messagelist .error");
        return refused ? [refused.textContent.trim(), "warning"] : null;
      },
      answered: function (state, before) {
        var done = DONE[kind](state, before);
        if (kind !== "test") {
          return done;
        }
        return live.reloaded().then(function (html) {
          refreshRows(html);
          return done;
        });
      },
    });
  }

  document.querySelectorAll("form[data-admin-live]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run(form);
    });
  });
})();
