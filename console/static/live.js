// Live tiles: where JavaScript runs, replace the tiles with the fragment the server sends
// (Server-Sent Events). Without it the page is whole as served; reload for fresh figures.
(function () {
  var el = document.querySelector('[data-live]');
  if (!el || !window.EventSource) return;
  var source = new EventSource(el.getAttribute('data-live'));
  source.addEventListener('tiles', function (e) {
    el.innerHTML = e.data;
    el.setAttribute('data-updated', String(Date.now()));
  });
})();
