// The job log viewer: loads a job's stored lines page by page, then follows
// new ones over SSE. Only the lines in (and near) the viewport are in the DOM
// — every line has the same height, so the scroll position says which lines
// to draw — which keeps a 100,000-line log as light as a short one.
(function () {
  'use strict';
  var LINE_H = 20;   // px; must match .log-line in sluice.css
  var OVERSCAN = 40; // lines drawn above and below the viewport
  var ANNOTATION_KINDS = { error: true, warning: true, notice: true };
  var MAX_ANNOTATIONS = 200;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // LogView(host, jobID, opts): opts.onAnnotation(line) is called for error,
  // warning and notice lines; opts.follow starts at the end, following.
  function LogView(host, jobID, opts) {
    this.job = jobID;
    this.opts = opts || {};
    this.lines = [];      // {seq, step, kind, text, g (group header index or -1)}
    this.collapsed = {};  // group header index → true when folded
    this.openGroup = -1;
    this.visible = [];    // indices of lines shown, in order
    this.matches = [];    // indices of lines matching the search
    this.cur = -1;        // index into matches
    this.query = '';
    this.follow = !!this.opts.follow;
    this.annotations = 0;
    this.last = 0;
    this.done = false;
    this.closed = false;
    this.anchored = -1;
    this.pendingReveal = null;
    this.build(host);
  }

  LogView.prototype.build = function (host) {
    var self = this;
    var root = el('div', 'logview');
    var bar = el('div', 'log-toolbar');
    this.search = el('input', 'log-search');
    this.search.type = 'search';
    this.search.placeholder = 'Search the log';
    this.search.setAttribute('aria-label', 'Search the log');
    this.prevBtn = el('button', 'small log-prev', '↑');
    this.prevBtn.type = 'button';
    this.prevBtn.title = 'Previous match (Shift+Enter)';
    this.nextBtn = el('button', 'small log-next', '↓');
    this.nextBtn.type = 'button';
    this.nextBtn.title = 'Next match (Enter)';
    this.count = el('span', 'log-count dim', '');
    this.status = el('span', 'log-status dim', 'loading…');
    this.endBtn = el('button', 'small log-end', 'Follow ⇣');
    this.endBtn.type = 'button';
    bar.append(this.search, this.prevBtn, this.nextBtn, this.count, this.status, this.endBtn);
    this.viewport = el('div', 'log-viewport');
    this.viewport.tabIndex = 0;
    this.spacer = el('div', 'log-spacer');
    this.win = el('div', 'log-window');
    this.spacer.appendChild(this.win);
    this.viewport.appendChild(this.spacer);
    root.append(bar, this.viewport);
    host.replaceChildren(root);
    this.root = root;

    var timer = null;
    this.search.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.setQuery(self.search.value); }, 150);
    });
    this.search.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      clearTimeout(timer);
      if (self.search.value !== self.query) { self.setQuery(self.search.value); return; }
      self.step(e.shiftKey ? -1 : 1);
    });
    this.prevBtn.addEventListener('click', function () { self.step(-1); });
    this.nextBtn.addEventListener('click', function () { self.step(1); });
    this.endBtn.addEventListener('click', function () { self.follow = true; self.scrollToEnd(); });
    var queued = false;
    this.viewport.addEventListener('scroll', function () {
      var v = self.viewport;
      self.follow = v.scrollTop + v.clientHeight >= v.scrollHeight - LINE_H;
      if (queued) return;
      queued = true;
      requestAnimationFrame(function () { queued = false; self.draw(); });
    });
    this.win.addEventListener('click', function (e) {
      var row = e.target.closest('.log-line');
      if (!row || e.target.closest('a')) return;
      var i = +row.dataset.idx;
      if (self.lines[i] && self.lines[i].kind === 'group') self.toggle(i);
    });
  };

  // append adds lines (in seq order, possibly overlapping what we have).
  LogView.prototype.append = function (batch) {
    if (!batch.length) return;
    var stick = this.follow;
    var wasVisible = this.visible.length;
    for (var k = 0; k < batch.length; k++) {
      var l = batch[k];
      if (l.seq <= this.last) continue;
      this.last = l.seq;
      var i = this.lines.length;
      var line = { seq: l.seq, step: l.step, kind: l.kind || '', text: l.text || '', g: this.openGroup };
      if (line.kind === 'group') {
        line.g = -1;
        this.openGroup = i;
        this.collapsed[i] = true;
      } else if (line.kind === 'endgroup') {
        this.openGroup = -1;
      }
      this.lines.push(line);
      if (this.shown(line)) this.visible.push(i);
      if (this.query && this.matchesQuery(line)) this.matches.push(i);
      if (ANNOTATION_KINDS[line.kind] && this.annotations < MAX_ANNOTATIONS && this.opts.onAnnotation) {
        this.annotations++;
        this.opts.onAnnotation(line);
      }
    }
    if (this.visible.length !== wasVisible) this.resize();
    this.updateCount();
    if (stick) this.scrollToEnd(); else this.draw();
    this.runPendingReveal();
  };

  LogView.prototype.shown = function (line) {
    if (line.kind === 'endgroup') return false;
    return !(line.g >= 0 && this.collapsed[line.g]);
  };

  LogView.prototype.rebuild = function () {
    var vis = [];
    for (var i = 0; i < this.lines.length; i++) {
      if (this.shown(this.lines[i])) vis.push(i);
    }
    this.visible = vis;
    this.resize();
  };

  LogView.prototype.resize = function () {
    this.spacer.style.height = (this.visible.length * LINE_H) + 'px';
  };

  LogView.prototype.toggle = function (i) {
    this.collapsed[i] = !this.collapsed[i];
    this.rebuild();
    this.draw();
  };

  LogView.prototype.scrollToEnd = function () {
    this.viewport.scrollTop = this.viewport.scrollHeight;
    this.draw();
  };

  // draw renders the lines around the viewport, and only those.
  LogView.prototype.draw = function () {
    var v = this.viewport;
    var first = Math.max(0, Math.floor(v.scrollTop / LINE_H) - OVERSCAN);
    var count = Math.ceil((v.clientHeight || 600) / LINE_H) + 2 * OVERSCAN;
    var last = Math.min(this.visible.length, first + count);
    this.win.style.top = (first * LINE_H) + 'px';
    var current = this.cur >= 0 ? this.matches[this.cur] : -1;
    var frag = document.createDocumentFragment();
    for (var p = first; p < last; p++) {
      frag.appendChild(this.row(this.visible[p], current));
    }
    this.win.replaceChildren(frag);
  };

  LogView.prototype.row = function (i, current) {
    var line = this.lines[i];
    var row = el('div', 'log-line');
    row.dataset.idx = i;
    if (line.kind) row.classList.add('log-kind-' + line.kind);
    if (i === current) row.classList.add('log-current');
    if (i === this.anchored) row.classList.add('log-anchored');
    var num = el('a', 'log-num', String(line.seq));
    num.href = '#job-' + this.job + '-L' + line.seq;
    row.appendChild(num);
    var text = el('span', 'log-text');
    if (line.kind === 'group') {
      row.appendChild(el('span', 'log-caret', this.collapsed[i] ? '▸' : '▾'));
    }
    var parsed = SluiceAnsi.parse(line.text);
    SluiceAnsi.render(text, parsed, this.query ? this.ranges(parsed.plain) : []);
    row.appendChild(text);
    return row;
  };

  LogView.prototype.plain = function (line) {
    if (line.plain === undefined) {
      line.plain = line.text.indexOf('\x1b') < 0 ? line.text : SluiceAnsi.parse(line.text).plain;
      line.lower = line.plain.toLowerCase();
    }
    return line.lower;
  };

  LogView.prototype.matchesQuery = function (line) {
    return line.kind !== 'endgroup' && this.plain(line).indexOf(this.query) >= 0;
  };

  LogView.prototype.ranges = function (plain) {
    var out = [];
    var lower = plain.toLowerCase();
    var q = this.query;
    for (var at = lower.indexOf(q); at >= 0; at = lower.indexOf(q, at + q.length)) {
      out.push([at, at + q.length]);
    }
    return out;
  };

  LogView.prototype.setQuery = function (q) {
    this.query = q.toLowerCase();
    this.matches = [];
    this.cur = -1;
    if (this.query) {
      for (var i = 0; i < this.lines.length; i++) {
        if (this.matchesQuery(this.lines[i])) this.matches.push(i);
      }
    }
    if (this.matches.length) {
      this.cur = 0;
      this.reveal(this.matches[0]);
    } else {
      this.draw();
    }
    this.updateCount();
  };

  LogView.prototype.step = function (dir) {
    if (!this.matches.length) return;
    this.cur = (this.cur + dir + this.matches.length) % this.matches.length;
    this.reveal(this.matches[this.cur]);
    this.updateCount();
  };

  LogView.prototype.updateCount = function () {
    if (!this.query) { this.count.textContent = ''; return; }
    this.count.textContent = this.matches.length ? (this.cur + 1) + ' / ' + this.matches.length : 'no matches';
  };

  // reveal scrolls line i into the middle of the viewport, unfolding its group.
  LogView.prototype.reveal = function (i) {
    var line = this.lines[i];
    if (!line) return;
    if (line.g >= 0 && this.collapsed[line.g]) {
      this.collapsed[line.g] = false;
      this.rebuild();
    }
    var pos = lowerBound(this.visible, i);
    this.follow = false;
    var v = this.viewport;
    v.scrollTop = Math.max(0, pos * LINE_H - v.clientHeight / 2);
    this.draw();
  };

  // revealSeq shows line seq now, or once it has been loaded.
  LogView.prototype.revealSeq = function (seq) {
    this.pendingReveal = function () {
      var i = lowerBoundBy(this.lines, seq);
      if (i >= this.lines.length || this.lines[i].seq !== seq) return false;
      this.anchored = i;
      this.reveal(i);
      return true;
    };
    this.runPendingReveal();
  };

  LogView.prototype.revealStep = function (step) {
    for (var i = 0; i < this.lines.length; i++) {
      if (this.lines[i].step === step) { this.anchored = i; this.reveal(i); return; }
    }
  };

  LogView.prototype.runPendingReveal = function () {
    if (this.pendingReveal && this.pendingReveal.call(this)) this.pendingReveal = null;
  };

  LogView.prototype.setStatus = function (s) { this.status.textContent = s; };

  // start loads stored lines, then follows the stream until the job ends.
  LogView.prototype.start = function () {
    var self = this;
    var base = '/ui/jobs/' + this.job;
    function page() {
      return fetch(base + '/logs.json?after=' + self.last, { credentials: 'same-origin' }).then(function (res) {
        if (!res.ok) throw new Error(res.status === 401 ? 'signed out: reload to sign in' : 'HTTP ' + res.status);
        return res.json();
      }).then(function (p) {
        if (self.closed) return;
        self.append(p.lines);
        self.setStatus(self.lines.length + ' lines');
        if (p.more) return page();
        if (p.done) { self.finish(); return; }
        self.stream();
      });
    }
    page().catch(function (err) { self.setStatus('could not load the log: ' + err.message); });
  };

  LogView.prototype.stream = function () {
    var self = this;
    var es = new EventSource('/ui/jobs/' + this.job + '/stream?after=' + this.last);
    this.es = es;
    self.setStatus(self.lines.length + ' lines · live');
    es.addEventListener('lines', function (e) {
      self.append(JSON.parse(e.data));
      self.setStatus(self.lines.length + ' lines · live');
    });
    es.addEventListener('end', function () { es.close(); self.finish(); });
  };

  LogView.prototype.finish = function () {
    this.done = true;
    this.setStatus(this.lines.length + ' lines · job finished');
    this.root.classList.add('log-done');
  };

  LogView.prototype.close = function () {
    this.closed = true;
    if (this.es) this.es.close();
  };

  function lowerBound(arr, x) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (arr[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function lowerBoundBy(lines, seq) {
    var lo = 0, hi = lines.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (lines[mid].seq < seq) lo = mid + 1; else hi = mid; }
    return lo;
  }

  window.SluiceLogView = LogView;
})();
