// Applies the saved colour scheme and accent before the first paint (a classic script, so it runs
// synchronously in <head>; CSP forbids inline scripts). theme.js owns these settings afterwards.
(function () {
  try {
    var root = document.documentElement;
    var scheme = localStorage.getItem('chatly.scheme');
    if (scheme === 'light' || scheme === 'dark') root.dataset.scheme = scheme;
    root.dataset.accent = localStorage.getItem('chatly.accent') || 'blue';
  } catch (e) { /* storage disabled: follow the system */ }
})();
