// The run page: picks the job whose log is shown (from the URL hash
// #job-ID or #job-ID-L123, else the job the server chose: the first failing
// one, opened at its first error), draws the needs arrows of the job graph,
// moves through the jobs with the arrow keys, and keeps run and job states
// current from /ui/runs/ID/events.
(function () {
  'use strict';
  var root = document.getElementById('run');
  if (!root) return;
  var runID = root.dataset.run;
  var view = null;
  var shownJob = null;

  function all(sel, from) { return Array.prototype.slice.call((from || document).querySelectorAll(sel)); }
  function panels() { return all('.job-panel'); }
  function boxes() { return all('.job-box'); }

  function parseHash() {
    var m = /^#job-(\d+)(?:-L(\d+))?$/.exec(location.hash);
    return m ? { job: m[1], line: m[2] ? +m[2] : 0 } : null;
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

  function finished(box) {
    return box && ['success', 'failure', 'cancelled', 'skipped', 'rejected'].some(function (c) { return box.classList.contains(c); });
  }

  // show opens job jobID's panel: at line (a #job-N-L123 link), at its
  // first error (a failed job), or following it (a running one).
  function show(jobID, line, scroll) {
    var panel = document.getElementById('panel-' + jobID);
    if (!panel) return;
    var box = document.getElementById('box-' + jobID);
    if (shownJob !== jobID) {
      if (view) { view.close(); view.root.remove(); }
      panels().forEach(function (p) { p.hidden = p !== panel; });
      boxes().forEach(function (b) {
        var on = b.dataset.job === jobID;
        b.classList.toggle('selected', on);
        if (on) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
      });
      var steps = {};
      try { steps = JSON.parse(panel.dataset.steps || '{}'); } catch (e) { /* shown without durations */ }
      var failed = box && box.classList.contains('failure');
      view = new SluiceLogView(panel.querySelector('.log-host'), jobID, {
        follow: !finished(box) && !line, focusError: failed && !line, steps: steps,
        onAnnotation: annotate(panel, jobID)
      });
      shownJob = jobID;
      view.start();
    }
    if (line) view.revealSeq(line);
    if (scroll) panel.scrollIntoView({ block: 'start' });
  }

  function route(initial) {
    var h = parseHash();
    if (h && document.getElementById('panel-' + h.job)) { show(h.job, h.line, !initial || h.line > 0); return; }
    if (!shownJob && root.dataset.open && root.dataset.open !== '0') {
      // A failed run opens where it failed, with the log in view.
      show(root.dataset.open, 0, root.dataset.focus === 'error');
    }
  }

  document.addEventListener('click', function (e) {
    var step = e.target.closest('.step-link');
    if (step && view) view.revealStep(+step.dataset.step);
  });
  window.addEventListener('hashchange', function () { route(false); });

  // Arrow keys move between the jobs of the graph, in reading order.
  document.getElementById('graph').addEventListener('keydown', function (e) {
    var keys = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
    if (!(e.key in keys) || !e.target.classList.contains('job-box')) return;
    var list = boxes();
    var i = list.indexOf(e.target) + keys[e.key];
    if (i >= 0 && i < list.length) { list[i].focus(); e.preventDefault(); }
  });

  // Arrows from each needed job to the job needing it; a matrix's legs are
  // one node.
  function drawEdges() {
    var graph = document.getElementById('graph');
    var svg = document.getElementById('graph-edges');
    if (!graph || !svg) return;
    var g = graph.getBoundingClientRect();
    svg.setAttribute('width', graph.scrollWidth);
    svg.setAttribute('height', graph.scrollHeight);
    svg.replaceChildren();
    var NS = 'http://www.w3.org/2000/svg';
    var nodes = all('.graph-node', graph);
    nodes.forEach(function (to) {
      var needs = to.dataset.needs ? to.dataset.needs.split('\n') : [];
      needs.forEach(function (need) {
        nodes.forEach(function (from) {
          if (from.dataset.key !== need) return;
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

  var STATES = ['waiting', 'queued', 'in_progress', 'completed', 'success', 'failure', 'cancelled', 'skipped', 'rejected'];
  function setState(elem, state) {
    if (!elem) return;
    STATES.forEach(function (s) { elem.classList.remove(s); });
    elem.classList.add(state);
  }

  // groupState sums up a matrix's legs as the server does (ui_graph.go).
  function groupState(group) {
    var order = ['in_progress', 'failure', 'rejected', 'queued', 'waiting', 'cancelled', 'success', 'skipped'];
    var have = {};
    all('.job-box', group).forEach(function (b) {
      STATES.forEach(function (s) { if (b.classList.contains(s)) have[s] = true; });
    });
    for (var i = 0; i < order.length; i++) if (have[order[i]]) return order[i];
    return 'waiting';
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
      box.setAttribute('aria-label', j.name + ': ' + j.state);
      box.querySelector('.job-state').textContent = j.state;
      box.querySelector('.job-dur').textContent = j.duration;
      var wait = box.querySelector('.job-wait');
      if (wait && !j.waiting) wait.remove();
      var jp = document.querySelector('#panel-' + j.id + ' .job-state-pill');
      if (jp) { setState(jp, j.state); jp.textContent = j.state; }
      if (j.state === 'failure' || j.state === 'cancelled') failed = true;
    });
    all('.job-group').forEach(function (g) { setState(g, groupState(g)); });
    var cancel = document.getElementById('cancel-form');
    var rerun = document.getElementById('rerun-form');
    var rerunFailed = document.getElementById('rerun-failed-form');
    if (cancel) cancel.hidden = st.done;
    if (rerun) rerun.hidden = !st.done;
    if (rerunFailed) rerunFailed.hidden = !(st.done && failed);
    // New jobs (a matrix expanded, a retry): the graph is server-drawn, so redraw it.
    if (unknown) { location.reload(); return; }
    // The run ended: its panel of failures and summaries is server-drawn too,
    // but a reader may be deep in a log, so offer the reload.
    if (st.done && !document.getElementById('run-ended')) {
      var p = document.createElement('p');
      p.id = 'run-ended';
      p.className = 'flash';
      p.setAttribute('role', 'status');
      p.textContent = 'The run finished (' + st.state + '). ';
      var a = document.createElement('a');
      a.href = location.pathname;
      a.textContent = 'Reload for its summary';
      p.appendChild(a);
      root.insertBefore(p, root.querySelector('.run-meta'));
    }
  }

  function follow() {
    if (root.dataset.done === 'true') return;
    var es = new EventSource('/ui/runs/' + runID + '/events');
    es.addEventListener('state', function (e) { applyState(JSON.parse(e.data)); });
    es.addEventListener('end', function () { es.close(); });
  }

  window.addEventListener('resize', drawEdges);
  drawEdges();
  route(true);
  follow();
})();
