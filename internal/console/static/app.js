// BorderProof Console: small progressive enhancements. Every page works
// without this script.
(function () {
  'use strict';

  // Copy buttons next to secrets shown once.
  document.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('button.copy') : null;
    if (!b) return;
    var el = document.getElementById(b.getAttribute('data-copy'));
    if (!el || !navigator.clipboard) return;
    navigator.clipboard.writeText(el.textContent.trim()).then(function () {
      b.textContent = 'Copied';
    });
  });

  // The review queue updates itself from server-sent events. Notes being
  // typed and the focused control survive an update.
  var table = document.querySelector('table[data-live]');
  if (!table || !window.EventSource) return;
  var status = document.getElementById('live-status');
  var body = table.tBodies[0];
  var say = function (msg) { if (status) status.textContent = msg; };
  var es = new EventSource(table.getAttribute('data-live'));
  es.addEventListener('open', function () { say('Live: the queue updates by itself.'); });
  es.addEventListener('error', function () { say('Reconnecting…'); });
  es.addEventListener('signedout', function () {
    es.close();
    say('Your session has ended: reload the page to sign in again.');
  });
  es.addEventListener('queue', function (ev) {
    var nl = ev.data.indexOf('\n');
    var head = (nl < 0 ? ev.data : ev.data.slice(0, nl)).split(' ');
    var html = nl < 0 ? '' : ev.data.slice(nl + 1);
    var notes = {};
    Array.prototype.forEach.call(body.querySelectorAll('textarea'), function (t) {
      if (t.value) notes[t.id] = t.value;
    });
    var active = document.activeElement;
    var focused = active && body.contains(active) && active.id ? active.id : null;
    body.innerHTML = html;
    Object.keys(notes).forEach(function (id) {
      var t = document.getElementById(id);
      if (t) t.value = notes[id];
    });
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    table.setAttribute('data-fingerprint', head[0] || '');
    say('Queue updated: ' + (head[1] || '0') + ' waiting.');
  });
})();
