// The job log viewer: loads a job's stored lines page by page, then follows
// new ones over SSE. Only the lines in (and near) the viewport are in the DOM
// — every line has the same height, so the scroll position says which lines
// to draw — which keeps a 100,000-line log as light as a short one.
//
// A failed job opens at its first error: the server finds that line
// (logs.json?around=error) and the viewer shows the lines around it at once,
// loads the whole log behind it, then swaps it in with the same line in view.
(function () {
  'use strict';
  var LINE_H = 20;   // px; must match .log-line in sluice.css
  var OVERSCAN = 40; // lines drawn above and below the viewport
  var ANNOTATION_KINDS = { error: true, warning: true, notice: true };
  var MAX_ANNOTATIONS = 200;
  var STEP_START = 'step started: ';
  var TIMES_KEY = 'sluice.logTimestamps';

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function button(cls, text, title) {
    var b = el('button', 'small ' + cls, text);
    b.type = 'button';
    if (title) { b.title = title; b.setAttribute('aria-label', title); }
    return b;
  }

  function pad(n, w) { var s = String(n); while (s.length < w) s = '0' + s; return s; }

  // clock shows a line's time as local HH:MM:SS.mmm.
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }

  function storedTimes() {
    try { return window.localStorage.getItem(TIMES_KEY) === '1'; } catch (e) { return false; }
  }

  // LogView(host, jobID, opts): opts.onAnnotation(line) is called for error,
  // warning and notice lines; opts.follow starts at the end, following;
  // opts.focusError opens at the job's first error; opts.steps maps step
  // numbers to {name, state, duration} for the step headers.
  function LogView(host, jobID, opts) {
    this.job = jobID;
    this.opts = opts || {};
    this.steps = this.opts.steps || {};
    this.lines = [];      // {seq, time, step, kind, text, g (group header index or -1)}
    this.collapsed = {};  // group header index → true when folded
    this.openGroup = -1;
    this.visible = [];    // indices of lines shown, in order
    this.matches = [];    // indices of lines matching the search
    this.cur = -1;        // index into matches
    this.query = '';
    this.follow = !!this.opts.follow;
    this.times = storedTimes();
    this.annotations = 0;
    this.last = 0;
    this.done = false;
    this.closed = false;
    this.anchored = -1;
    this.focusSeq = 0;    // the first error line, once known
    this.partial = false; // showing only the lines around focusSeq
    this.moved = false;   // the reader scrolled since the viewer placed a line
    this.placedTop = null; // the scroll offset the viewer itself last set
    this.pendingReveal = null;
    this.build(host);
  }

  LogView.prototype.build = function (host) {
    var self = this;
    var root = el('div', 'logview' + (this.times ? ' log-times' : ''));
    var bar = el('div', 'log-toolbar');
    bar.setAttribute('role', 'toolbar');
    bar.setAttribute('aria-label', 'Log tools');
    this.search = el('input', 'log-search');
    this.search.type = 'search';
    this.search.placeholder = 'Search the log ( / )';
    this.search.setAttribute('aria-label', 'Search the log');
    this.prevBtn = button('log-prev', '↑', 'Previous match (Shift+Enter)');
    this.nextBtn = button('log-next', '↓', 'Next match (Enter)');
    this.count = el('span', 'log-count dim', '');
    this.count.setAttribute('aria-live', 'polite');
    this.errBtn = button('log-next-error', 'Next error', 'Next error line (e)');
    this.timeBtn = button('log-time-toggle', 'Timestamps', 'Show each line\'s time (t)');
    this.timeBtn.setAttribute('aria-pressed', String(this.times));
    this.raw = el('a', 'log-raw', 'Raw log');
    this.raw.setAttribute('download', '');
    this.updateRawLink();
    this.status = el('span', 'log-status dim', 'loading…');
    this.status.setAttribute('aria-live', 'polite');
    this.endBtn = button('log-end', 'Follow ⇣', 'Jump to the end and follow');
    bar.append(this.search, this.prevBtn, this.nextBtn, this.count, this.errBtn, this.timeBtn, this.raw, this.status, this.endBtn);
    this.viewport = el('div', 'log-viewport');
    this.viewport.tabIndex = 0;
    this.viewport.setAttribute('role', 'region');
    this.viewport.setAttribute('aria-label', 'Job log. Arrow keys, Page Up/Down, Home and End scroll; / searches; e jumps to the next error; t shows times.');
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
      if (e.key === 'Escape') { self.viewport.focus(); return; }
      if (e.key !== 'Enter') return;
      e.preventDefault();
      clearTimeout(timer);
      if (self.search.value.toLowerCase() !== self.query) { self.setQuery(self.search.value); return; }
      self.step(e.shiftKey ? -1 : 1);
    });
    this.prevBtn.addEventListener('click', function () { self.step(-1); });
    this.nextBtn.addEventListener('click', function () { self.step(1); });
    this.errBtn.addEventListener('click', function () { self.nextError(); });
    this.timeBtn.addEventListener('click', function () { self.toggleTimes(); });
    this.endBtn.addEventListener('click', function () { self.follow = true; self.moved = true; self.scrollToEnd(); });
    this.viewport.addEventListener('keydown', function (e) { self.key(e); });
    var queued = false;
    this.viewport.addEventListener('scroll', function () {
      var v = self.viewport;
      // Scroll events come after the fact: one at the offset the viewer
      // itself set is not the reader's doing.
      if (self.placedTop === null || Math.abs(v.scrollTop - self.placedTop) >= 1) {
        self.placedTop = null;
        self.moved = true;
        self.follow = v.scrollTop + v.clientHeight >= v.scrollHeight - LINE_H;
      }
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

  // key handles the log's keyboard shortcuts (the viewport has focus).
  LogView.prototype.key = function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var v = this.viewport;
    var page = Math.max(LINE_H, v.clientHeight - LINE_H);
    switch (e.key) {
      case 'ArrowDown': case 'j': v.scrollTop += LINE_H; break;
      case 'ArrowUp': case 'k': v.scrollTop -= LINE_H; break;
      case 'PageDown': case ' ': v.scrollTop += page; break;
      case 'PageUp': v.scrollTop -= page; break;
      case 'Home': v.scrollTop = 0; break;
      case 'End': this.follow = true; this.scrollToEnd(); break;
      case '/': this.search.focus(); break;
      case 'e': this.nextError(); break;
      case 't': this.toggleTimes(); break;
      default: return;
    }
    // The reader placed the view: the log swapped in later keeps it there.
    if (e.key !== 'e' && e.key !== 't' && e.key !== '/') this.moved = true;
    e.preventDefault();
  };

  LogView.prototype.toggleTimes = function () {
    this.times = !this.times;
    this.root.classList.toggle('log-times', this.times);
    this.timeBtn.setAttribute('aria-pressed', String(this.times));
    try { window.localStorage.setItem(TIMES_KEY, this.times ? '1' : '0'); } catch (e) { /* private mode */ }
    this.updateRawLink();
    this.draw();
  };

  LogView.prototype.updateRawLink = function () {
    this.raw.href = '/ui/jobs/' + this.job + '/logs.txt' + (this.times ? '?timestamps=1' : '');
  };

  // convert turns a wire line ({s, t, p, k, x}) into the viewer's.
  function convert(l) {
    return { seq: l.s, time: l.t, step: l.p || 0, kind: l.k || '', text: l.x || '', g: -1 };
  }

  // append adds lines (in seq order, possibly overlapping what we have).
  LogView.prototype.append = function (batch, quiet) {
    if (!batch.length) return;
    var stick = this.follow;
    var wasVisible = this.visible.length;
    for (var k = 0; k < batch.length; k++) {
      var line = convert(batch[k]);
      if (line.seq <= this.last) continue;
      this.last = line.seq;
      var i = this.lines.length;
      line.g = this.openGroup;
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
      if (!quiet && ANNOTATION_KINDS[line.kind] && this.annotations < MAX_ANNOTATIONS && this.opts.onAnnotation) {
        this.annotations++;
        this.opts.onAnnotation(line);
      }
    }
    if (this.visible.length !== wasVisible) this.resize();
    this.updateCount();
    if (stick) this.scrollToEnd(); else this.draw();
    this.runPendingReveal();
  };

  // reset forgets every line, for swapping the whole log in.
  LogView.prototype.reset = function () {
    this.lines = [];
    this.collapsed = {};
    this.openGroup = -1;
    this.visible = [];
    this.matches = [];
    this.cur = -1;
    this.last = 0;
    this.anchored = -1;
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

  // place scrolls the viewport to top (clamped by the browser) as the
  // viewer's own move, which the scroll handler then ignores.
  LogView.prototype.place = function (top) {
    this.viewport.scrollTop = top;
    this.placedTop = this.viewport.scrollTop;
  };

  LogView.prototype.scrollToEnd = function () {
    this.place(this.viewport.scrollHeight);
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
    row.dataset.seq = line.seq;
    if (line.kind) row.classList.add('log-kind-' + line.kind);
    if (i === current) row.classList.add('log-current');
    if (i === this.anchored) row.classList.add('log-anchored');
    var num = el('a', 'log-num', String(line.seq));
    num.href = '#job-' + this.job + '-L' + line.seq;
    num.tabIndex = -1;
    row.appendChild(num);
    if (this.times) {
      var t = el('span', 'log-time', line.time ? clock(line.time) : '');
      if (line.time) t.title = new Date(line.time).toISOString();
      row.appendChild(t);
    }
    var text = el('span', 'log-text');
    if (line.kind === 'group') {
      row.appendChild(el('span', 'log-caret', this.collapsed[i] ? '▸' : '▾'));
    }
    if (line.kind === 'step' && line.text.indexOf(STEP_START) === 0) {
      // A step's header: its name and how long it took.
      row.classList.add('log-step-head');
      var st = this.steps[line.step];
      text.textContent = line.text.slice(STEP_START.length);
      row.appendChild(text);
      if (st) {
        var dur = el('span', 'log-step-dur pill small ' + st.state, st.state + ' · ' + st.duration);
        row.appendChild(dur);
      }
      return row;
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

  // nextError reveals the next error line after the anchored one.
  LogView.prototype.nextError = function () {
    var from = this.anchored >= 0 ? this.anchored + 1 : 0;
    for (var n = 0; n < this.lines.length; n++) {
      var i = (from + n) % this.lines.length;
      if (this.lines[i].kind === 'error') { this.anchored = i; this.reveal(i); return; }
    }
    this.setStatus(this.statusText() + ' · no error lines');
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
    this.place(Math.max(0, pos * LINE_H - v.clientHeight / 2));
    this.moved = false;
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

  LogView.prototype.statusText = function () {
    var n = this.lines.length;
    var s = n + (n === 1 ? ' line' : ' lines');
    if (this.partial) {
      s = 'lines ' + this.lines[0].seq + '–' + this.lines[n - 1].seq + ' of ' + this.total + ' · loading the rest…';
    }
    return s;
  };

  LogView.prototype.fetchJSON = function (query) {
    return fetch('/ui/jobs/' + this.job + '/logs.json?' + query, { credentials: 'same-origin' }).then(function (res) {
      if (!res.ok) throw new Error(res.status === 401 ? 'signed out: reload to sign in' : 'HTTP ' + res.status);
      return res.json();
    });
  };

  // start loads stored lines (around the first error first, when asked),
  // then follows the stream until the job ends.
  LogView.prototype.start = function () {
    var self = this;
    var fail = function (err) { self.setStatus('could not load the log: ' + err.message); };
    if (!this.opts.focusError) {
      this.loadAll(null).catch(fail);
      return;
    }
    this.fetchJSON('around=error').then(function (p) {
      if (self.closed) return;
      if (!p.focus || !p.lines.length) { self.loadAll(null); return; }
      self.focusSeq = p.focus;
      self.total = p.total;
      self.partial = p.last < p.total || p.lines[0].s > 1;
      self.append(p.lines, self.partial);
      self.revealSeq(p.focus);
      self.setStatus(self.statusText());
      if (!self.partial) { self.afterLoad(p); return; }
      return self.loadAll([]);
    }).catch(fail);
  };

  // loadAll reads the log from the start. With into (an array), pages are
  // collected there and swapped in at the end (the window around the error
  // stays on screen meanwhile); else they are shown as they come.
  LogView.prototype.loadAll = function (into) {
    var self = this;
    var after = 0;
    function page() {
      return self.fetchJSON('after=' + after).then(function (p) {
        if (self.closed) return;
        if (into) Array.prototype.push.apply(into, p.lines); else self.append(p.lines);
        after = p.last;
        if (!into) self.setStatus(self.statusText());
        if (p.more) return page();
        if (into) self.swapIn(into);
        self.afterLoad(p);
      });
    }
    return page();
  };

  // swapIn replaces the window around the error with the whole log, keeping
  // the error line (or, if the reader scrolled, the top line) in place.
  LogView.prototype.swapIn = function (all) {
    var v = this.viewport;
    var keepSeq = this.focusSeq;
    var offset = null;
    if (this.moved && this.visible.length) {
      var top = this.visible[Math.min(this.visible.length - 1, Math.floor(v.scrollTop / LINE_H))];
      keepSeq = this.lines[top].seq;
      offset = v.scrollTop - Math.floor(v.scrollTop / LINE_H) * LINE_H;
    }
    var follow = this.follow;
    this.partial = false;
    this.reset();
    this.append(all);
    if (this.query) this.setQuery(this.query);
    if (follow) { this.follow = true; this.scrollToEnd(); this.anchored = lowerBoundBy(this.lines, this.focusSeq); return; }
    var i = lowerBoundBy(this.lines, keepSeq);
    if (i >= this.lines.length) return;
    if (offset === null) {
      this.anchored = lowerBoundBy(this.lines, this.focusSeq);
      this.reveal(i);
      return;
    }
    var line = this.lines[i];
    if (line.g >= 0 && this.collapsed[line.g]) { this.collapsed[line.g] = false; this.rebuild(); }
    this.anchored = lowerBoundBy(this.lines, this.focusSeq);
    this.place(lowerBound(this.visible, i) * LINE_H + offset);
    this.draw();
  };

  LogView.prototype.afterLoad = function (p) {
    this.setStatus(this.statusText());
    if (p.done) { this.finish(); return; }
    this.stream();
  };

  LogView.prototype.stream = function () {
    var self = this;
    var es = new EventSource('/ui/jobs/' + this.job + '/stream?after=' + this.last);
    this.es = es;
    self.setStatus(self.statusText() + ' · live');
    es.addEventListener('lines', function (e) {
      self.append(JSON.parse(e.data));
      self.setStatus(self.statusText() + ' · live');
    });
    es.addEventListener('end', function () { es.close(); self.finish(); });
  };

  LogView.prototype.finish = function () {
    this.done = true;
    this.setStatus(this.statusText() + ' · job finished');
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
