// warren inspector: the live list (server-sent events), the detail view,
// replay and edit-and-replay. Plain DOM, no libraries, nothing external.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const recs = new Map();       // id -> summary
  let selected = 0;             // id shown (or highlighted)
  let detail = null;            // the record open in the detail view
  let refreshTimer = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtSize(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  function fmtDur(r) {
    if (r.duration_ms < 0) return r.upgraded ? 'open' : '…';
    if (r.duration_ms < 1000) return r.duration_ms.toFixed(1) + ' ms';
    return (r.duration_ms / 1000).toFixed(2) + ' s';
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function matches(r) {
    const q = $('q').value.trim().toLowerCase();
    const st = $('status').value;
    if (st === 'open' && r.state !== 'open') return false;
    if (st === 'replay' && !r.replay_of) return false;
    if (/^[1-5]$/.test(st) && String(r.status)[0] !== st) return false;
    if (!q) return true;
    return [r.method, r.path, String(r.status), r.peer, r.tunnel].some((s) => s.toLowerCase().includes(q));
  }

  function row(r) {
    const tr = el('tr');
    tr.dataset.id = r.id;
    tr.tabIndex = -1;
    tr.append(el('td', 'time', fmtTime(r.start)), el('td', 'method', r.method));
    const path = el('td', 'path', r.path);
    path.title = r.path;
    if (r.replay_of) path.append(el('span', 'tag replay', 'replay of #' + r.replay_of));
    if (r.upgraded) path.append(el('span', 'tag', 'websocket · ' + (r.frames_in + r.frames_out) + ' frames'));
    tr.append(path);
    tr.append(el('td', 'status s' + String(r.status || 0)[0], r.status ? String(r.status) : (r.state === 'open' ? '…' : '—')));
    tr.append(el('td', 'dur', fmtDur(r)), el('td', 'size', fmtSize(r.resp_bytes)));
    tr.append(el('td', 'peer', r.peer), el('td', 'tunnel', r.tunnel));
    if (r.id === selected) tr.classList.add('sel');
    tr.addEventListener('click', () => open(r.id));
    return tr;
  }

  function render() {
    const rows = $('rows');
    const list = [...recs.values()].sort((a, b) => b.id - a.id).filter(matches);
    rows.replaceChildren(...list.map(row));
    $('empty').hidden = recs.size > 0;
  }

  function upsert(r) {
    recs.set(r.id, r);
    render();
    if (detail && detail.id === r.id) {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => open(r.id, true), 150);
    }
  }

  async function load() {
    const res = await fetch('/api/requests');
    if (!res.ok) return;
    recs.clear();
    for (const r of await res.json()) recs.set(r.id, r);
    render();
  }

  function connect() {
    const es = new EventSource('/api/events');
    es.addEventListener('open', () => {
      $('live').textContent = 'live';
      $('live').classList.remove('off');
      load();
    });
    es.addEventListener('error', () => {
      $('live').textContent = 'reconnecting';
      $('live').classList.add('off');
    });
    es.addEventListener('request', (ev) => upsert(JSON.parse(ev.data)));
    es.addEventListener('clear', () => { recs.clear(); render(); closeDetail(); });
  }

  function hexdump(bytes, max) {
    const lines = [];
    const n = Math.min(bytes.length, max);
    for (let i = 0; i < n; i += 16) {
      const chunk = bytes.slice(i, Math.min(i + 16, n));
      const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      const asc = [...chunk].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      lines.push(i.toString(16).padStart(8, '0') + '  ' + hex.padEnd(48) + '  ' + asc);
    }
    return lines.join('\n');
  }

  function headerValue(side, name) {
    const h = side.headers.find(([n]) => n.toLowerCase() === name);
    return h ? h[1] : '';
  }

  function showBody(box, side) {
    const b = side.body;
    box.replaceChildren();
    if (!b || b.size === 0) {
      box.append(el('p', 'note', 'no body'));
      return;
    }
    let note = fmtSize(b.size);
    if (b.truncated) note += ' — truncated: the first ' + fmtSize(b.kept) + ' were kept (--inspect-body-max)';
    let text;
    if (b.encoding === 'text') {
      text = b.data;
      const type = headerValue(side, 'content-type');
      if (/json/i.test(type) || /^\s*[[{]/.test(text)) {
        try { text = JSON.stringify(JSON.parse(text), null, 2); note += ' · JSON'; } catch (e) { /* as text */ }
      }
    } else {
      const raw = atob(b.data);
      const bytes = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      text = hexdump(bytes, 65536);
      note += ' · binary' + (bytes.length > 65536 ? ' (first 64 KiB shown)' : '');
    }
    box.append(el('p', 'note', note), el('pre', 'body-text', text));
  }

  function showHeaders(table, side) {
    table.replaceChildren(...side.headers.map(([n, v]) => {
      const tr = el('tr');
      tr.append(el('td', '', n), el('td', '', v));
      return tr;
    }));
  }

  async function open(id, quiet) {
    selected = id;
    const res = await fetch('/api/requests/' + id);
    if (!res.ok) {
      if (!quiet) msg('request #' + id + ' is gone (cleared or older than --inspect-keep)');
      return;
    }
    const r = await res.json();
    if (!detail || detail.id !== r.id) $('editor').hidden = true;
    detail = r;
    $('detail').hidden = false;
    $('d-title').textContent = '#' + r.id + ' ' + r.method + ' ' + r.path;
    let meta = r.tunnel + ' · from ' + r.peer + ' · ' + fmtTime(r.start) + ' · ' + fmtDur(r) + ' · ' + r.state;
    if (r.replay_of) meta += ' · replay of #' + r.replay_of;
    if (r.upgraded) meta += ' · WebSocket: ' + r.frames_in + ' frames in, ' + r.frames_out + ' out';
    $('d-meta').textContent = meta;
    $('d-req-line').textContent = r.request.line;
    $('d-resp-line').textContent = r.response.line || (r.state === 'open' ? 'waiting for the response…' : 'no response');
    showHeaders($('d-req-headers'), r.request);
    showHeaders($('d-resp-headers'), r.response);
    showBody($('d-req-body'), r.request);
    showBody($('d-resp-body'), r.response);
    if (!quiet) msg('');
    render();
  }

  function closeDetail() {
    detail = null;
    $('detail').hidden = true;
    $('editor').hidden = true;
  }

  function msg(text) { $('d-msg').textContent = text; }

  async function replay(body) {
    if (!detail) return;
    const res = await fetch('/api/requests/' + detail.id + '/replay', {
      method: 'POST',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) { msg('replay failed: ' + (out.error || res.status)); return; }
    msg('replayed as #' + out.id);
    $('editor').hidden = true;
  }

  function edit() {
    if (!detail) return;
    const parts = detail.request.line.split(' ');
    $('e-method').value = detail.method;
    $('e-path').value = parts.length >= 3 ? parts[1] : detail.path;
    $('e-headers').value = detail.request.headers
      .filter(([n]) => !/^(content-length|transfer-encoding|connection)$/i.test(n))
      .map(([n, v]) => n + ': ' + v).join('\n');
    const b = detail.request.body;
    $('e-body').value = b && b.encoding === 'text' ? b.data : '';
    $('e-body').dataset.binary = b && b.encoding === 'base64' && b.size > 0 ? b.data : '';
    $('editor').hidden = false;
    $('e-method').focus();
  }

  function sendEdit() {
    const headers = $('e-headers').value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
      const i = l.indexOf(':');
      return i > 0 ? [l.slice(0, i).trim(), l.slice(i + 1).trim()] : [l, ''];
    });
    const body = { method: $('e-method').value.trim(), path: $('e-path').value.trim(), headers };
    const bin = $('e-body').dataset.binary;
    if (bin && $('e-body').value === '') body.body_base64 = bin;
    else body.body = $('e-body').value;
    replay(body);
  }

  function move(delta) {
    const rows = [...$('rows').children];
    if (!rows.length) return;
    let i = rows.findIndex((tr) => Number(tr.dataset.id) === selected);
    i = i < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, i + delta));
    selected = Number(rows[i].dataset.id);
    render();
    const tr = $('rows').querySelector('tr.sel');
    if (tr) { tr.focus(); tr.scrollIntoView({ block: 'nearest' }); }
  }

  document.addEventListener('keydown', (ev) => {
    const typing = /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(ev.target.tagName);
    if (ev.key === 'Escape') {
      if (!$('editor').hidden) $('editor').hidden = true; else closeDetail();
      return;
    }
    if (typing) return;
    if (ev.key === '/') { ev.preventDefault(); $('q').focus(); }
    else if (ev.key === 'j' || ev.key === 'ArrowDown') { ev.preventDefault(); move(1); }
    else if (ev.key === 'k' || ev.key === 'ArrowUp') { ev.preventDefault(); move(-1); }
    else if (ev.key === 'Enter' && selected) open(selected);
    else if (ev.key === 'r' && detail) replay();
    else if (ev.key === 'e' && detail) edit();
  });
  $('q').addEventListener('input', render);
  $('status').addEventListener('change', render);
  $('clear').addEventListener('click', () => fetch('/api/requests', { method: 'DELETE' }));
  $('replay').addEventListener('click', () => replay());
  $('edit').addEventListener('click', edit);
  $('close').addEventListener('click', closeDetail);
  $('e-cancel').addEventListener('click', () => { $('editor').hidden = true; });
  $('editor').addEventListener('submit', (ev) => { ev.preventDefault(); sendEdit(); });
  connect();
}());
