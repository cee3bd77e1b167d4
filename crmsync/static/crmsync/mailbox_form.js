// The admin's mailbox form shows only the fields of its profile's server type and owner
// (a queue has no appointments, contacts or tasks) as soon as another profile or owner is
// picked, before anything is saved. What each profile hides comes from
// mailboxes/admin/mailbox_form.py (fields_by_profile) through the #mailbox-form-fields JSON;
// the page's first state is written by the server (#mailbox-left-out), so that it is right
// without this script too.
(function () {
  "use strict";
  var data = document.getElementById("mailbox-form-fields");
  var profile = document.getElementById("id_profile");
  if (!data || !profile) {
    return;
  }
  var fields = JSON.parse(data.textContent);
  var queue = document.getElementById("id_queue");

  function boxOf(name) {
    if (name === "sync_options") {
      return document.getElementById("sync_options-group");
    }
    return document.querySelector(".form-row.field-" + name);
  }

  function update() {
    var kind = queue && queue.value ? "queue" : "user";
    var choice = fields.by_profile[profile.value || ""];
    // A profile made since the page was written: show everything, the server checks.
    var hidden = {};
    (choice ? choice[kind] : []).forEach(function (name) {
      hidden[name] = true;
    });
    fields.specific.forEach(function (name) {
      var box = boxOf(name);
      if (box) {
        box.style.display = hidden[name] ? "none" : "";
      }
    });
    document.querySelectorAll("fieldset.module").forEach(function (fieldset) {
      var rows = fieldset.querySelectorAll(".form-row");
      if (!rows.length || fieldset.closest(".inline-group")) {
        return;
      }
      var visible = Array.prototype.some.call(rows, function (row) {
        return row.style.display !== "none" && !row.classList.contains("hidden");
      });
      fieldset.classList.remove("crmsync-left-out");
      fieldset.style.display = visible ? "" : "none";
    });
  }

  // From here on the script decides; the server's first style would hide what it shows.
  var style = document.getElementById("mailbox-left-out");
  if (style) {
    style.remove();
  }
  update();
  // The autocomplete (select2) tells its changes through jQuery only.
  var $ = window.django && window.django.jQuery;
  [profile, queue].forEach(function (select) {
    if (!select) {
      return;
    }
    if ($) {
      $(select).on("change", update);
    } else {
      select.addEventListener("change", update);
    }
  });
})();
