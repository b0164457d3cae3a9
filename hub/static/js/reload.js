// Pages that wait for something (a class that has not started yet) reload themselves every
// 30 s; kept out of the page so the Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";
  setTimeout(function () { location.reload(); }, 30000);
})();
