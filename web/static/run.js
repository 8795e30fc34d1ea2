// The run page: picks the job whose log is shown (from the URL hash
// #job-ID or #job-ID-L123), draws the needs arrows of the job graph, and
// keeps run and job states current from /ui/runs/ID/events.
(function () {
  'use strict';
  var root = document.getElementById('run');
  if (!root) return;
  var runID = root.dataset.run;
  var view = null;
  var shownJob = null;

  function panels() { return Array.prototype.slice.call(document.querySelectorAll('.job-panel')); }

  function parseHash() {
    var m = /^#job-(\d+)(?:-L(\d+))?$/.exec(location.hash);
    return m ? { job: m[1], line: m[2] ? +m[2] : 0 } : null;
  }

  function defaultJob() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll('.job-box'));
    var pick = function (cls) {
      for (var i = 0; i < boxes.length; i++) if (boxes[i].classList.contains(cls)) return boxes[i].dataset.job;
      return null;
    };
    return pick('in_progress') || pick('failure') || (boxes[0] && boxes[0].dataset.job);
  }

  function annotate(panel, jobID) {
    var box = panel.querySelector('.annotations');
    var list = box.querySelector('ul');
    list.replaceChildren();
    box.hidden = true;
    return function (line) {
      box.hidden = false;
      var li = document.createElement('li');
      li.className = 'annotation ' + line.kind;
      var a = document.createElement('a');
      a.href = '#job-' + jobID + '-L' + line.seq;
      a.textContent = line.kind + ' (line ' + line.seq + ')';
      var text = document.createElement('span');
      text.textContent = ' ' + SluiceAnsi.parse(line.text).plain;
      li.append(a, text);
      list.appendChild(li);
    };
  }

  function show(jobID, line) {
    var panel = document.getElementById('panel-' + jobID);
    if (!panel) return;
    if (shownJob !== jobID) {
      if (view) view.close();
      panels().forEach(function (p) { p.hidden = p !== panel; });
      document.querySelectorAll('.job-box').forEach(function (b) {
        b.classList.toggle('selected', b.dataset.job === jobID);
      });
      var box = document.getElementById('box-' + jobID);
      var running = box && !box.classList.contains('success') && !box.classList.contains('failure') &&
        !box.classList.contains('cancelled') && !box.classList.contains('skipped');
      view = new SluiceLogView(panel.querySelector('.log-host'), jobID,
        { follow: running && !line, onAnnotation: annotate(panel, jobID) });
      shownJob = jobID;
      view.start();
    }
    if (line) view.revealSeq(line);
  }

  function route() {
    var h = parseHash();
    if (h && document.getElementById('panel-' + h.job)) show(h.job, h.line);
    else if (!shownJob) { var d = defaultJob(); if (d) show(d, 0); }
  }

  document.addEventListener('click', function (e) {
    var step = e.target.closest('.step-link');
    if (step && view) view.revealStep(+step.dataset.step);
  });
  window.addEventListener('hashchange', route);

  // Arrows from each needed job to the job needing it.
  function drawEdges() {
    var graph = document.getElementById('graph');
    var svg = document.getElementById('graph-edges');
    if (!graph || !svg) return;
    var g = graph.getBoundingClientRect();
    svg.setAttribute('width', graph.scrollWidth);
    svg.setAttribute('height', graph.scrollHeight);
    svg.replaceChildren();
    var NS = 'http://www.w3.org/2000/svg';
    var boxes = Array.prototype.slice.call(graph.querySelectorAll('.job-box'));
    boxes.forEach(function (to) {
      var needs = to.dataset.needs ? to.dataset.needs.split('\n') : [];
      needs.forEach(function (need) {
        boxes.forEach(function (from) {
          var k = from.dataset.key;
          if (k !== need && k.indexOf(need + ' (') !== 0) return;
          var a = from.getBoundingClientRect();
          var b = to.getBoundingClientRect();
          var x1 = a.right - g.left, y1 = a.top + a.height / 2 - g.top;
          var x2 = b.left - g.left, y2 = b.top + b.height / 2 - g.top;
          var mid = (x1 + x2) / 2;
          var path = document.createElementNS(NS, 'path');
          path.setAttribute('d', 'M' + x1 + ' ' + y1 + ' C' + mid + ' ' + y1 + ' ' + mid + ' ' + y2 + ' ' + x2 + ' ' + y2);
          path.setAttribute('class', 'edge');
          svg.appendChild(path);
        });
      });
    });
  }

  var STATES = ['waiting', 'queued', 'in_progress', 'completed', 'success', 'failure', 'cancelled', 'skipped'];
  function setState(elem, state) {
    if (!elem) return;
    STATES.forEach(function (s) { elem.classList.remove(s); });
    elem.classList.add(state);
  }

  function applyState(st) {
    var pill = document.getElementById('run-state');
    setState(pill, st.state);
    pill.textContent = st.state;
    document.getElementById('run-duration').textContent = st.duration;
    var unknown = false;
    var failed = false;
    st.jobs.forEach(function (j) {
      var box = document.getElementById('box-' + j.id);
      if (!box) { unknown = true; return; }
      setState(box, j.state);
      box.querySelector('.job-state').textContent = j.state;
      box.querySelector('.job-dur').textContent = j.duration;
      var jp = document.querySelector('#panel-' + j.id + ' .job-state-pill');
      if (jp) { setState(jp, j.state); jp.textContent = j.state; }
      if (j.state === 'failure' || j.state === 'cancelled') failed = true;
    });
    var cancel = document.getElementById('cancel-form');
    var rerun = document.getElementById('rerun-form');
    var rerunFailed = document.getElementById('rerun-failed-form');
    if (cancel) cancel.hidden = st.done;
    if (rerun) rerun.hidden = !st.done;
    if (rerunFailed) rerunFailed.hidden = !(st.done && failed);
    // New jobs (a matrix expanded, a retry): the graph is server-drawn, so redraw it.
    if (unknown) location.reload();
  }

  function follow() {
    if (root.dataset.done === 'true') return;
    var es = new EventSource('/ui/runs/' + runID + '/events');
    es.addEventListener('state', function (e) { applyState(JSON.parse(e.data)); });
    es.addEventListener('end', function () { es.close(); });
  }

  window.addEventListener('resize', drawEdges);
  drawEdges();
  route();
  follow();
})();
