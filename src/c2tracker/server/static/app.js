// C2 Tracker dashboard behaviour. Loaded from this origin only; the page has no inline script.
// Tables with class "sortable" sort by a column when its header is clicked.
"use strict";

(function () {
  function cellValue(row, index) {
    const cell = row.children[index];
    const text = cell ? cell.textContent.trim() : "";
    const number = Number(text.replace(/^#/, ""));
    return text !== "" && !Number.isNaN(number) ? number : text.toLowerCase();
  }

  function sortBy(table, header, index) {
    const body = table.tBodies[0];
    if (!body) return;
    const ascending = !header.classList.contains("sorted-asc");
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = cellValue(a, index);
      const y = cellValue(b, index);
      if (x === y) return 0;
      return (x < y ? -1 : 1) * (ascending ? 1 : -1);
    });
    for (const th of table.tHead.rows[0].cells) th.classList.remove("sorted-asc", "sorted-desc");
    header.classList.add(ascending ? "sorted-asc" : "sorted-desc");
    for (const row of rows) body.appendChild(row);
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const table of document.querySelectorAll("table.sortable")) {
      if (!table.tHead) continue;
      Array.from(table.tHead.rows[0].cells).forEach(function (header, index) {
        header.addEventListener("click", function () { sortBy(table, header, index); });
      });
    }
    document.documentElement.dataset.ready = "1";
  });
})();
