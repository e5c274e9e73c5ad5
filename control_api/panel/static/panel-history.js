// A page answering a form post that must not be posted again on reload (the
// device just added): the address bar takes the page's own URL, so a reload
// reads that page instead of offering to send the form a second time.
(function () {
  var meta = document.querySelector('meta[name="lomuz-replace-url"]');
  if (meta && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", meta.getAttribute("content"));
  }
})();
