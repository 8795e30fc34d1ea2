// ANSI SGR colours to DOM spans, for the log viewer. Only SGR ("ESC [ ... m")
// is interpreted: 0 reset, 1 bold, 2 dim, 3 italic, 4 underline, 22-24 off,
// 30-37/90-97 foreground, 40-47/100-107 background, 39/49 defaults; 256-colour
// and RGB forms are consumed and ignored. Other escape sequences are dropped.
// Text is only ever set through textContent, never parsed as HTML.
(function () {
  'use strict';
  var ESC = /\x1b\[([0-9;?]*)([A-Za-z])/g;

  // parse returns {segs: [{text, cls}], plain} for one line.
  function parse(line) {
    var segs = [];
    var plain = '';
    if (line.indexOf('\x1b') < 0) {
      return { segs: [{ text: line, cls: '' }], plain: line };
    }
    var st = { fg: '', bg: '', bold: false, dim: false, italic: false, under: false };
    var last = 0;
    var m;
    ESC.lastIndex = 0;
    while ((m = ESC.exec(line)) !== null) {
      if (m.index > last) {
        var t = line.slice(last, m.index);
        segs.push({ text: t, cls: classes(st) });
        plain += t;
      }
      last = ESC.lastIndex;
      if (m[2] === 'm') {
        apply(st, m[1]);
      }
    }
    if (last < line.length) {
      var rest = line.slice(last).replace(/\x1b/g, '');
      segs.push({ text: rest, cls: classes(st) });
      plain += rest;
    }
    return { segs: segs, plain: plain };
  }

  function apply(st, params) {
    var ps = params === '' ? [0] : params.split(';').map(function (p) { return p === '' ? 0 : parseInt(p, 10); });
    for (var i = 0; i < ps.length; i++) {
      var p = ps[i];
      if (p === 0) { st.fg = ''; st.bg = ''; st.bold = st.dim = st.italic = st.under = false; }
      else if (p === 1) { st.bold = true; }
      else if (p === 2) { st.dim = true; }
      else if (p === 3) { st.italic = true; }
      else if (p === 4) { st.under = true; }
      else if (p === 22) { st.bold = false; st.dim = false; }
      else if (p === 23) { st.italic = false; }
      else if (p === 24) { st.under = false; }
      else if (p >= 30 && p <= 37) { st.fg = String(p - 30); }
      else if (p >= 90 && p <= 97) { st.fg = String(p - 90 + 8); }
      else if (p === 39) { st.fg = ''; }
      else if (p >= 40 && p <= 47) { st.bg = String(p - 40); }
      else if (p >= 100 && p <= 107) { st.bg = String(p - 100 + 8); }
      else if (p === 49) { st.bg = ''; }
      else if (p === 38 || p === 48) {
        // 38;5;n or 38;2;r;g;b: skip the colour's own parameters.
        if (ps[i + 1] === 5) { i += 2; } else if (ps[i + 1] === 2) { i += 4; }
      }
    }
  }

  function classes(st) {
    var c = [];
    if (st.fg) c.push('ansi-fg-' + st.fg);
    if (st.bg) c.push('ansi-bg-' + st.bg);
    if (st.bold) c.push('ansi-bold');
    if (st.dim) c.push('ansi-dim');
    if (st.italic) c.push('ansi-italic');
    if (st.under) c.push('ansi-under');
    return c.join(' ');
  }

  // render appends the parsed line to el, wrapping the plain-text ranges in
  // marks ([[start, end], ...], sorted) in <mark> elements.
  function render(el, parsed, marks) {
    var pos = 0;
    var mi = 0;
    parsed.segs.forEach(function (seg) {
      var text = seg.text;
      var start = pos;
      var end = pos + text.length;
      var at = start;
      while (at < end) {
        while (mi < marks.length && marks[mi][1] <= at) mi++;
        var next = end;
        var marked = false;
        if (mi < marks.length && marks[mi][0] <= at) {
          marked = true;
          next = Math.min(end, marks[mi][1]);
        } else if (mi < marks.length && marks[mi][0] < end) {
          next = marks[mi][0];
        }
        var piece = text.slice(at - start, next - start);
        var node;
        if (marked) {
          node = document.createElement('mark');
          if (seg.cls) node.className = seg.cls;
          node.textContent = piece;
        } else if (seg.cls) {
          node = document.createElement('span');
          node.className = seg.cls;
          node.textContent = piece;
        } else {
          node = document.createTextNode(piece);
        }
        el.appendChild(node);
        at = next;
      }
      pos = end;
    });
  }

  window.SluiceAnsi = { parse: parse, render: render };
})();
