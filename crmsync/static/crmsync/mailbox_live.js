// "Sync now", "Test connection", "Refresh folder list" and "Track it now" on the mailbox
// page, without
// leaving it: the form is posted in the background, the page then asks the server every
// 2 s how the mailbox is (the JSON of mailboxes/web/live.py) and, once the worker has
// answered, swaps in the page's fresh status, folders and messages. Without JavaScript the
// forms post and the page reloads as before.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch || !window.DOMParser) {
    return;
  }
  var stateUrl = root.dataset.liveUrl;
  var INTERVAL_MS = 2000;
  // Then: no worker is answering (CRMSYNC_WORKER_WAIT_SECONDS).
  var GIVE_UP_MS = (Number(root.dataset.liveWaitSeconds) || 120) * 1000;
  var SECTIONS = ["status", "folders", "alerts", "appointments", "conflicts", "why"];

  function getState(query) {
    return fetch(stateUrl + (query || ""), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    });
  }

  // What the worker writes when it has done each kind of work.
  var MARKS = {
    sync: function (state) {
      return state.sync.running ? null : state.sync.last_started_at;
    },
    test: function (state) {
      return state.test.tested_at;
    },
    folders: function (state) {
      if (state.folders.waiting) {
        return null;
      }
      return (state.folders.listed_at || "") + "|" + (state.folders.error_at || "");
    },
    track: function (state) {
      return !state.track || state.track.waiting ? null : state.track.finished_at;
    },
  };

  // What the page says when the worker has answered.
  var DONE = {
    sync: function (state) {
      var failed = state.sync.items_failed ? ", " + state.sync.items_failed + " failed" : "";
      return "Synchronized: " + state.sync.items_processed + " processed" + failed + ". " +
        state.status.words + ".";
    },
    test: function (state) {
      return "Connection test " + (state.test.status === "success" ? "passed" : "failed") +
        ". " + state.status.words + ".";
    },
    folders: function (state) {
      return state.folders.count === 1 ? "1 folder listed." : state.folders.count + " folders listed.";
    },
    track: function (state) {
      return state.track.error ? "Not tracked: " + state.track.error : "Tracked: " + state.track.summary + ".";
    },
  };
  var LEVELS = {
    sync: function (state) { return state.status.level; },
    test: function (state) { return state.test.status === "success" ? "ok" : "error"; },
    folders: function () { return "ok"; },
    track: function (state) { return state.track.error ? "error" : "ok"; },
  };

  // Messages are swapped only from the answer to the button's post: the page fetched at
  // the end has none left (the post's answer showed them).
  function swapSections(html, withMessages) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    SECTIONS.concat(withMessages ? ["messages"] : []).forEach(function (id) {
      var now = document.getElementById(id);
      var next = fresh.getElementById(id);
      if (now && next) {
        now.replaceWith(next);
      }
    });
    return fresh;
  }

  function run(form) {
    var kind = form.dataset.live;
    var query = form.dataset.record ? "?track=" + encodeURIComponent(form.dataset.record) : "";
    var button = form.querySelector("button");
    var progress = document.getElementById("live-progress");
    var started = Date.now();
    var before;
    function say(text, level) {
      progress.hidden = false;
      progress.className = "live-progress " + (level || "info");
      progress.textContent = text;
    }
    function finish(text, level) {
      button.disabled = false;
      progress.removeAttribute("aria-busy");
      say(text, level);
    }
    button.disabled = true;
    progress.setAttribute("aria-busy", "true");
    say(button.textContent.trim() + ": starting…");
    getState(query)
      .then(function (state) {
        before = MARKS[kind](state);
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
        var fresh = swapSections(html, true);
        var refused = fresh.querySelector("#messages .message.error");
        if (refused) {
          finish(refused.textContent.trim(), "error");
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
          "No worker is answering: nothing happened in " +
            Math.round(waited / 1000) +
            " s. The work waits in the queue; this page shows it after a reload.",
          "warning"
        );
        return;
      }
      say(button.textContent.trim() + ": waiting for a worker… " + Math.round(waited / 1000) + " s");
      getState(query)
        .then(function (state) {
          var mark = MARKS[kind](state);
          if (mark === null || mark === before) {
            window.setTimeout(poll, INTERVAL_MS);
            return;
          }
          return fetch(window.location.pathname + window.location.search, {
            credentials: "same-origin",
          })
            .then(function (response) {
              return response.text();
            })
            .then(function (html) {
              swapSections(html, false);
              finish(DONE[kind](state), LEVELS[kind](state));
            });
        })
        .catch(function () {
          window.setTimeout(poll, INTERVAL_MS);
        });
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.live) {
      return;
    }
    event.preventDefault();
    run(form);
  });
})();
