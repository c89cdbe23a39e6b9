// Cloud account admin form: show only the chosen cloud's fieldsets (Huawei or Tencent).
// The server still validates and drops the other cloud's values (jobs/forms_admin.py); this
// only hides what does not apply. A file of its own: the Content-Security-Policy refuses
// inline script.
"use strict";

(function () {
  function showChosenCloud() {
    const select = document.getElementById("id_provider");
    if (!select) return;
    for (const fieldset of document.querySelectorAll("fieldset.cloud-huawei, fieldset.cloud-tencent")) {
      // No cloud chosen yet: show both, so nothing seems missing.
      fieldset.hidden = Boolean(select.value) && !fieldset.classList.contains("cloud-" + select.value);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const select = document.getElementById("id_provider");
    if (!select) return;
    select.addEventListener("change", showChosenCloud);
    showChosenCloud();
  });
})();
