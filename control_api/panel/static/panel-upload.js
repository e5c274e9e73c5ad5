/* Lomuz panel: uploads on /media, one XMLHttpRequest per file (fetch has no upload
   progress). Each file goes as the raw body to the section's data-upload-url, with
   its type as Content-Type and the page's CSRF token; its row shows a <progress>,
   then "added", "already in the library" or the server's message. When every file
   is done the library table is reloaded. Plain JS, no library. */
(function () {
  "use strict";

  var section = document.querySelector("[data-upload-url]");
  if (!section) { return; }
  var url = section.getAttribute("data-upload-url");
  var list = section.querySelector("[data-upload-list]");
  var input = section.querySelector("input[type=file]");
  var zone = section.querySelector("[data-drop-zone]");
  var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  var pending = 0;

  function errorMessage(xhr) {
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var alert = doc.querySelector("[role=alert]");
    var text = alert ? alert.textContent.trim() : "";
    return text || "upload failed (HTTP " + xhr.status + ")";
  }

  function refreshTable() {
    var table = document.getElementById("media-table");
    if (!table || !window.htmx) { return; }
    window.htmx.ajax("GET", window.location.pathname + window.location.search,
      { target: "#media-table", headers: { "HX-Request": "true" } });
  }

  function finished(row, outcome, text) {
    row.setAttribute("data-state", outcome);
    row.querySelector(".upload-status").textContent = text;
    var bar = row.querySelector("progress");
    if (outcome !== "error") { bar.value = bar.max; }
    pending -= 1;
    if (pending === 0) { refreshTable(); }
  }

  function send(file) {
    var row = document.createElement("li");
    row.className = "upload-row";
    row.setAttribute("data-state", "sending");
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "uploading…";
    row.append(name, bar, status);
    list.appendChild(row);
    pending += 1;

    var xhr = new XMLHttpRequest();
    xhr.open("POST", url + "?filename=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    Object.keys(headers).forEach(function (key) { xhr.setRequestHeader(key, headers[key]); });
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) { finished(row, "added", "added"); }
      else if (xhr.status === 200) { finished(row, "existing", "already in the library"); }
      else { finished(row, "error", errorMessage(xhr)); }
    });
    xhr.addEventListener("error", function () {
      finished(row, "error", "the upload was interrupted (network error or file too large)");
    });
    xhr.send(file);
  }

  function sendAll(files) {
    Array.prototype.forEach.call(files, send);
  }

  input.addEventListener("change", function () {
    sendAll(input.files);
    input.value = "";
  });
  zone.addEventListener("dragover", function (event) {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files) { sendAll(event.dataTransfer.files); }
  });
}());
