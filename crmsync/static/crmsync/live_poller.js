// The one loop that waits for a worker's answer, for every page that does:
//
//   window.crmsyncLive.poll(url, {   // asks url (JSON) every 2 s
//     answered(state),         // true (or a promise of true) once the answer is there
//     asking(waitedMs),        // optional: before each request
//     giveUpMs, gaveUp(waitedMs),  // optional: stop asking after this long
//     failed(),                // optional: a request failed (else it is asked again)
//   });
//
// The profile's connection test (connection_test.js) polls so. The buttons a worker answers
// (the self-service mailbox page's mailbox_live.js, the admin mailbox form's
// mailbox_admin_live.js) post and then poll through `run`: the button's form is posted in
// the background; a refusal in the answer is said at once; otherwise the mailbox's state
// (the JSON of mailboxes/web/live.py) is polled until the worker has written its answer,
// and after the wait (CRMSYNC_WORKER_WAIT_SECONDS) the page says that no worker is
// answering. Each page gives its own parts as callbacks:
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

  function poll(url, watcher) {
    var started = Date.now();
    var giveUpMs = watcher.giveUpMs || Infinity;

    function later() {
      window.setTimeout(ask, INTERVAL_MS);
    }
    function ask() {
      var waited = Date.now() - started;
      if (waited > giveUpMs) {
        watcher.gaveUp(waited);
        return;
      }
      if (watcher.asking) {
        watcher.asking(waited);
      }
      getJson(url)
        .then(function (state) {
          return Promise.resolve(watcher.answered(state)).then(function (done) {
            if (!done) {
              later();
            }
          });
        })
        .catch(function () {
          if (watcher.failed) {
            watcher.failed();
          } else {
            later();
          }
        });
    }
    ask();
  }

  function run(form, page) {
    var button = form.querySelector("button");
    var label = button.textContent.trim();
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

    function waitForWorker() {
      poll(page.stateUrl, {
        giveUpMs: (Number(page.waitSeconds) || 120) * 1000,
        gaveUp: function (waited) {
          finish(
            "No worker is answering: nothing happened in " + Math.round(waited / 1000) +
              " s. The work waits in the queue; this page shows its result after a reload.",
            "warning"
          );
        },
        asking: function (waited) {
          say(label + ": waiting for a worker… " + Math.round(waited / 1000) + " s");
        },
        answered: function (state) {
          var mark = page.mark(state);
          if (!mark || mark === before) {
            return false;
          }
          return Promise.resolve(page.answered(state, before)).then(function (done) {
            finish(done[0], done[1]);
            return true;
          });
        },
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
        waitForWorker();
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

  window.crmsyncLive = { poll: poll, run: run, swap: swap, reloaded: reloaded };
})();
