// The playlist editor: drag a row by its handle to reorder (mouse and touch, via
// SortableJS). The form's fields follow the rows, so Save sends the new order.
document.addEventListener("DOMContentLoaded", function () {
  var list = document.getElementById("playlist-items");
  if (!list || !window.Sortable) return;
  window.Sortable.create(list, {
    handle: ".handle",
    animation: 150,
    onEnd: function () {
      var note = document.querySelector(".unsaved-js");
      if (note) note.hidden = false;
    }
  });
});
