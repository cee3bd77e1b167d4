// The one post-then-poll loop of the buttons a worker answers (the self-service mailbox
// page's mailbox_live.js, the admin mailbox form's mailbox_admin_live.js): the button's form
// is posted in the background; a refusal in the answer is said at once; otherwise the
// mailbox's state (the JSON of mailboxes/web/live.py) is asked for every 2 s until the
// worker has written its answer, and after the wait (CRMSYNC_WORKER_WAIT_SECONDS) the page
// says that no worker is answering. Each page gives its own parts as callbacks:
//
//   window.crmsyncLive.run(form, {
//     progress: element,        // shown; aria-busy while waiting, data-done=level after
//     say(text, level),         // how the page shows a line
//     stateUrl, waitSeconds,
//     mark(state),              // what the worker writes when done: falsy while not yet
//     refusal(html),            // [text, level] from the post's answer, or null
//     answered(state, before),  // [text, level], or a promise of it (page updates first)
//   });
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function getJson(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    });
  }

  function run(form, page) {
    var button = form.querySelector("button");
    var label = button.textContent.trim();
    var giveUpMs = (Number(page.waitSeconds) || 120) * 1000;
    var started = Date.now();
    var before;

    function say(text, level) {
      page.progress.hidden = false;
      page.say(text, level || "info");
    }
    function finish(text, level) {
      button.disabled = false;
      page.progress.removeAttribute("aria-busy");
      page.progress.dataset.done = level || "info";
      say(text, level);
    }

    function poll() {
      var waited = Date.now() - started;
      if (waited > giveUpMs) {
        finish(
          "No worker is answering: nothing happened in " + Math.round(waited / 1000) +
            " s. The work waits in the queue; this page shows its result after a reload.",
          "warning"
        );
        return;
      }
      say(label + ": waiting for a worker… " + Math.round(waited / 1000) + " s");
      getJson(page.stateUrl)
        .then(function (state) {
          var mark = page.mark(state);
          if (!mark || mark === before) {
            window.setTimeout(poll, INTERVAL_MS);
            return;
          }
          return Promise.resolve(page.answered(state, before)).then(function (done) {
            finish(done[0], done[1]);
          });
        })
        .catch(function () {
          window.setTimeout(poll, INTERVAL_MS);
        });
    }

    button.disabled = true;
    page.progress.setAttribute("aria-busy", "true");
    delete page.progress.dataset.done;
    say(label + ": starting…");
    getJson(page.stateUrl)
      .then(function (state) {
        before = page.mark(state) || "";
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
        var refused = page.refusal(html);
        if (refused) {
          finish(refused[0], refused[1]);
          return;
        }
        poll();
      })
      .catch(function () {
        finish("The server could not be asked: reload this page.", "error");
      });
  }

  // The page's section (or row) elements named by `selectors`, replaced by those of `html`.
  function swap(html, selectors) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    selectors.forEach(function (selector) {
      var now = document.querySelector(selector);
      var next = fresh.querySelector(selector);
      if (now && next) {
        now.replaceWith(next);
      }
    });
    return fresh;
  }

  // The page as it is now, to swap its fresh parts in.
  function reloaded() {
    return fetch(window.location.pathname + window.location.search, {
      credentials: "same-origin",
    }).then(function (response) {
      return response.text();
    });
  }

  window.crmsyncLive = { run: run, swap: swap, reloaded: reloaded };
})();
