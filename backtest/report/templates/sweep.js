/* Sortable tables: a click on a heading of table.sortable sorts its body rows by that column, again to
   reverse. Numeric columns (th data-type="num") sort by the cell's data-v value; empty cells go last. */
(function () {
  "use strict";
  function key(row, col, num) {
    var cell = row.cells[col];
    if (!num) { var text = (cell.textContent || "").toLowerCase(); return text === "" ? null : text; }
    var v = cell.getAttribute("data-v");
    return v === null || v === "" ? null : parseFloat(v);
  }
  function sortBy(table, th) {
    var col = th.cellIndex, num = th.getAttribute("data-type") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col, num), y = key(b, col, num);
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () { sortBy(table, th); });
    });
  });
})();
