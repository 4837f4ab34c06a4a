{#- Click a header to sort by it; again to reverse. Numbers sort by their exact value
(data-v), missing ones last; text sorts alphabetically. -#}
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var asc = th.dataset.dir !== "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? "asc" : "desc";
    function key(tr) {
      var td = tr.cells[col];
      if (td.dataset.v === undefined) return td.textContent;
      var v = parseFloat(td.dataset.v);
      return isNaN(v) ? -Infinity : v;
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
