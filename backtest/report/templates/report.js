/* Draws every embedded figure: a JSON script element of class bt-fig, drawn into the element before it.
   Traces may reference a shared date array (the bt-shared element) with meta.xref instead of their own x. */
(function () {
  "use strict";
  var shared = JSON.parse(document.getElementById("bt-shared").textContent || "{}");
  var config = {responsive: true, displaylogo: false,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};
  var specs = document.querySelectorAll("script.bt-fig");
  for (var i = 0; i < specs.length; i++) {
    var node = specs[i];
    var div = node.previousElementSibling;
    var spec = JSON.parse(node.textContent);
    (spec.data || []).forEach(function (trace) {
      if (trace.meta && trace.meta.xref && shared[trace.meta.xref]) {
        trace.x = shared[trace.meta.xref];
      }
    });
    Plotly.newPlot(div, spec.data, spec.layout, config);
  }
})();
