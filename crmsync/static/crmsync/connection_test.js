// While a profile's connection test runs, ask the server every 2 s how it is going; when
// the worker has written the result, reload the page so that it shows the result.
(function () {
  "use strict";
  var box = document.getElementById("connection-test");
  if (!box || box.dataset.running !== "true") {
    return;
  }
  var url = box.dataset.statusUrl;
  var attempts = 0;
  var maxAttempts = 300; // 10 minutes, the server's own give-up time
  function show(name, text) {
    var element = box.querySelector('[data-field="' + name + '"]');
    if (element) {
      element.textContent = text;
    }
  }
  function poll() {
    attempts += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        if (!state.running) {
          window.location.reload();
          return;
        }
        show("message", state.message || "-");
        if (attempts < maxAttempts) {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () {
        show("message", "Could not ask the server for the result: refresh this page.");
      });
  }
  window.setTimeout(poll, 2000);
})();
