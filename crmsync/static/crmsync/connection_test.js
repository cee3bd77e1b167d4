// While a profile's connection test runs, ask the server every 2 s how it is going (the
// one polling loop, live_poller.js); when the worker has written the result, reload the page
// so that it shows the result.
(function () {
  "use strict";
  var box = document.getElementById("connection-test");
  if (!box || box.dataset.running !== "true") {
    return;
  }
  function show(name, text) {
    var element = box.querySelector('[data-field="' + name + '"]');
    if (element) {
      element.textContent = text;
    }
  }
  window.setTimeout(function () {
    window.crmsyncLive.poll(box.dataset.statusUrl, {
      giveUpMs: 10 * 60 * 1000, // the server's own give-up time
      gaveUp: function () {},
      answered: function (state) {
        if (!state.running) {
          window.location.reload();
          return true;
        }
        show("message", state.message || "-");
        return false;
      },
      failed: function () {
        show("message", "Could not ask the server for the result: refresh this page.");
      },
    });
  }, 2000);
})();
