// The profile form shows only the fields of the chosen server type (and, for Exchange
// Server, the application's fields when its authentication is OAuth). The lists come from
// profiles/forms.py (FIELDS_BY_TYPE) through the #server-type-fields JSON; the server checks
// what each type needs whatever the page showed.
(function () {
  "use strict";
  var data = document.getElementById("server-type-fields");
  var select = document.getElementById("id_server_type");
  if (!data || !select) {
    return;
  }
  var fields = JSON.parse(data.textContent);
  var protocol = document.getElementById("id_incoming_authentication_protocol");

  function rowOf(name) {
    var row = document.querySelector(".form-row.field-" + name);
    if (row) {
      return row;
    }
    var input = document.getElementById("id_" + name);
    return input ? input.closest(".form-row") : null;
  }

  function update() {
    var shown = {};
    (fields.by_type[select.value] || []).forEach(function (name) {
      shown[name] = true;
    });
    if (select.value === "exchange" && protocol && protocol.value === "oauth") {
      fields.oauth_extra.forEach(function (name) {
        shown[name] = true;
      });
    }
    fields.specific.forEach(function (name) {
      var row = rowOf(name);
      if (row) {
        row.style.display = shown[name] ? "" : "none";
      }
    });
    // A fieldset whose rows are all hidden is hidden too.
    document.querySelectorAll("fieldset.module").forEach(function (fieldset) {
      var rows = fieldset.querySelectorAll(".form-row");
      if (!rows.length) {
        return;
      }
      var visible = Array.prototype.some.call(rows, function (row) {
        return row.style.display !== "none";
      });
      fieldset.style.display = visible ? "" : "none";
    });
  }

  select.addEventListener("change", update);
  if (protocol) {
    protocol.addEventListener("change", update);
  }
  update();
})();
