// "Sync now", "Test connection", "Refresh folder list" and "Track it now" on the mailbox
// page, without leaving it (the loop is live_poller.js): once the worker has answered, the
// page's fresh status, folders and messages are swapped in. Without JavaScript the forms
// post and the page reloads as before.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch || !window.DOMParser || !window.crmsyncLive) {
    return;
  }
  var live = window.crmsyncLive;
  var progress = document.getElementById("live-progress");
  var SECTIONS = ["#status", "#folders", "#alerts", "#appointments", "#conflicts", "#why"];

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

  // What the page says when the worker has answered, and how (the level).
  var DONE = {
    sync: function (state) {
      var failed = state.sync.items_failed ? ", " + state.sync.items_failed + " failed" : "";
      return ["Synchronized: " + state.sync.items_processed + " processed" + failed + ". " +
        state.status.words + ".", state.status.level];
    },
    test: function (state) {
      var passed = state.test.status === "success";
      return ["Connection test " + (passed ? "passed" : "failed") + ". " +
        state.status.words + ".", passed ? "ok" : "error"];
    },
    folders: function (state) {
      return [state.folders.count === 1 ? "1 folder listed." : state.folders.count +
        " folders listed.", "ok"];
    },
    track: function (state) {
      return state.track.error ? ["Not tracked: " + state.track.error, "error"]
        : ["Tracked: " + state.track.summary + ".", "ok"];
    },
  };

  function run(form) {
    var kind = form.dataset.live;
    var query = form.dataset.record ? "?track=" + encodeURIComponent(form.dataset.record) : "";
    live.run(form, {
      progress: progress,
      say: function (text, level) {
        progress.className = "live-progress " + level;
        progress.textContent = text;
      },
      stateUrl: root.dataset.liveUrl + query,
      waitSeconds: root.dataset.liveWaitSeconds,
      mark: MARKS[kind],
      // The post's answer is the page with its messages: swapped in, an error said.
      refusal: function (html) {
        var fresh = live.swap(html, SECTIONS.concat(["#messages"]));
        var refused = fresh.querySelector("#messages .message.error");
        return refused ? [refused.textContent.trim(), "error"] : null;
      },
      // The page fetched at the end has no messages left (the post's answer showed them).
      answered: function (state) {
        return live.reloaded().then(function (html) {
          live.swap(html, SECTIONS);
          return DONE[kind](state);
        });
      },
    });
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
