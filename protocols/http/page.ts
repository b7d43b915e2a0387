// The admin web page at /admin (HTTPS): one self-contained HTML document (no build step, no
// third-party code) that is a client of the admin API. The operator pastes the administrator
// credential once (kept in the tab's sessionStorage, sent as a Bearer token); the page then
// polls the API every 2 s and shows the server's health, every database copy (role, state,
// queues, positions, replay lag), the mailboxes with their sizes, and a chart of the delivery
// rate and the mean commit latency over the sampled history. Actions: switchover to a copy,
// suspend/resume and reseed (with a progress bar while it runs) a passive copy, add a user, and
// a multi-mailbox search (eDiscovery: a form, progress, counts per mailbox, the audit log of
// earlier searches). The page itself holds no data, so it is public.

import type { FastifyInstance } from 'fastify';

export const adminPagePath = '/admin';
export const pollIntervalMs = 2_000;

const page = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quire admin</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2733; background: #f4f6f8; }
  body { margin: 0; }
  header { background: #1d2733; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  section { background: #fff; border-radius: 6px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e7eb; white-space: nowrap; }
  th { color: #5b6876; font-weight: 600; }
  .ok { color: #17803d; font-weight: 600; } .bad { color: #c0262d; font-weight: 600; }
  .role-active { color: #17803d; font-weight: 600; } .role-passive { color: #5b6876; }
  button { font-size: 12px; padding: 3px 8px; cursor: pointer; }
  #login { max-width: 420px; margin: 60px auto; }
  #login input { width: 100%; box-sizing: border-box; padding: 6px; margin: 8px 0; }
  #message { min-height: 1em; font-size: 13px; }
  form.inline { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 8px; }
  form.inline input, form.inline select { padding: 4px; }
  .legend span { display: inline-block; margin-right: 16px; font-size: 12px; }
  .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
</style>
</head>
<body>
<header><h1>Quire admin</h1><span id="server-name"></span><span id="health"></span><span id="updated" style="margin-left:auto;font-size:12px"></span></header>
<section id="login">
  <h2>Administrator credential</h2>
  <p style="font-size:13px">The Bearer token printed at first start (also in <code>data/secrets/admin.json</code>).</p>
  <form id="login-form"><input id="token" type="password" autocomplete="off" placeholder="token"><button id="login-button" type="submit">Log in</button></form>
  <div id="login-error" class="bad"></div>
</section>
<main id="app" hidden>
  <div id="message"></div>
  <section>
    <h2>Databases and copies</h2>
    <table id="copies"><thead><tr><th>database</th><th>copy</th><th>role</th><th>state</th><th>copy queue</th><th>replay queue</th><th>last log position</th><th>checkpoint</th><th>replay lag</th><th>content index</th><th>actions</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Delivery rate and commit latency</h2>
    <svg id="chart" width="720" height="180" viewBox="0 0 720 180" role="img" aria-label="delivery rate and commit latency"></svg>
    <div class="legend"><span><i class="swatch" style="background:#2f6fdf"></i>deliveries/s (<b id="rate-now">0</b>)</span><span><i class="swatch" style="background:#e07b17"></i>mean commit latency ms (<b id="latency-now">-</b>)</span></div>
  </section>
  <section>
    <h2>Mailboxes</h2>
    <table id="users"><thead><tr><th>address</th><th>database</th><th>used</th><th>quota</th></tr></thead><tbody></tbody></table>
    <form id="add-user" class="inline">
      <input id="new-address" placeholder="address" required>
      <input id="new-password" type="password" placeholder="password" required>
      <select id="new-database"></select>
      <button type="submit">Add user</button>
    </form>
  </section>
  <section>
    <h2>Multi-mailbox search (eDiscovery)</h2>
    <form id="discovery" class="inline">
      <input id="discovery-text" placeholder="text">
      <input id="discovery-from" placeholder="from">
      <input id="discovery-to" placeholder="to or cc">
      <input id="discovery-since" type="date" title="received since">
      <input id="discovery-before" type="date" title="received before">
      <input id="discovery-mailboxes" placeholder="mailboxes (comma-separated; empty: all)" size="32">
      <input id="discovery-copy-to" placeholder="copy to discovery mailbox (optional)" size="28">
      <input id="discovery-name" placeholder="search name (folder)">
      <button type="submit">Search</button>
    </form>
    <div id="discovery-progress" style="margin-top:8px;font-size:13px"></div>
    <table id="discovery-results"><thead><tr><th>mailbox</th><th>database</th><th>messages</th><th>size</th><th>error</th></tr></thead><tbody></tbody></table>
    <h2 style="margin-top:12px">Audit log</h2>
    <table id="discovery-audit"><thead><tr><th>started</th><th>by</th><th>name</th><th>query</th><th>mailboxes</th><th>state</th><th>found</th><th>copied</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
'use strict';
const pollMs = ${pollIntervalMs};
let token = sessionStorage.getItem('quire-admin-token') || '';
let timer = null;
const $ = (id) => document.getElementById(id);
const text = (value) => document.createTextNode(value === null || value === undefined ? '' : String(value));
const bytes = (n) => n === null || n === undefined ? '-' : n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB';

async function api(method, path, body) {
  const response = await fetch('/api/v1' + path, { method, headers: { authorization: 'Bearer ' + token, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401) { logout('The credential was refused.'); throw new Error('unauthorized'); }
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.message || answer.error || response.statusText);
  return answer;
}

function say(line, bad) { const m = $('message'); m.textContent = line; m.className = bad ? 'bad' : 'ok'; }

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) { const td = document.createElement('td'); if (cell instanceof Node) td.appendChild(cell); else td.appendChild(text(cell)); tr.appendChild(td); }
  return tr;
}

function button(label, action) {
  const b = document.createElement('button');
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await action(); } catch (error) { say(label + ': ' + error.message, true); } finally { b.disabled = false; refresh(); }
  });
  return b;
}

function indexCell(c) {
  if (c.contentIndexState === 'Healthy' && c.contentIndexBacklog > 0) return text('Healthy (' + c.contentIndexBacklog + ' waiting, ' + (c.contentIndexLagMs / 1000).toFixed(1) + ' s)');
  if (c.contentIndexState !== 'Crawling' || !c.contentIndexDocumentsTotal) return text(c.contentIndexState);
  const cell = document.createElement('span');
  const bar = document.createElement('progress'); bar.max = c.contentIndexDocumentsTotal; bar.value = c.contentIndexDocuments || 0;
  cell.append('Crawling ', bar, ' ' + Math.floor(100 * (c.contentIndexDocuments || 0) / c.contentIndexDocumentsTotal) + ' %');
  return cell;
}

function renderCopies(copies) {
  const body = $('copies').tBodies[0];
  body.replaceChildren();
  for (const c of copies) {
    const name = c.server + '#' + c.copy;
    const actions = document.createElement('span');
    actions.style.display = 'inline-flex'; actions.style.gap = '4px';
    if (c.role !== 'active') {
      actions.appendChild(button('Switchover here', async () => { await api('POST', '/databases/' + encodeURIComponent(c.database) + '/switchover', { server: c.server, copy: c.copy }); say(c.database + ' is now active on ' + name); }));
      actions.appendChild(button('Reseed', async () => { say('reseeding ' + c.database + ' ' + name + '...'); await api('POST', '/databases/' + encodeURIComponent(c.database) + '/reseed', { server: c.server, copy: c.copy }); say(c.database + ' ' + name + ' reseeded'); }));
      if (c.state === 'Suspended' || c.state === 'FailedAndSuspended') actions.appendChild(button('Resume', async () => { await api('POST', '/databases/' + encodeURIComponent(c.database) + '/resume', { server: c.server, copy: c.copy }); say(c.database + ' ' + name + ' resumed'); }));
      else actions.appendChild(button('Suspend', async () => { await api('POST', '/databases/' + encodeURIComponent(c.database) + '/suspend', { server: c.server, copy: c.copy }); say(c.database + ' ' + name + ' suspended'); }));
    }
    const role = document.createElement('span'); role.textContent = c.role; role.className = 'role-' + c.role;
    let state = text(c.state);
    if (c.state === 'Seeding' && c.seedBytesTotal) {
      state = document.createElement('span');
      const bar = document.createElement('progress'); bar.max = c.seedBytesTotal; bar.value = c.seedBytesCopied || 0;
      state.append('Seeding ', bar, ' ' + Math.floor(100 * (c.seedBytesCopied || 0) / c.seedBytesTotal) + ' %');
    }
    const tr = row([c.database, name, role, state, bytes(c.copyQueueLength), bytes(c.replayQueueLength), c.lastLogPosition, c.checkpointPosition, c.replayLagMs + ' ms', indexCell(c), actions]);
    tr.dataset.copy = c.database + '/' + name;
    tr.dataset.role = c.role;
    body.appendChild(tr);
  }
  const select = $('new-database');
  const databases = [...new Set(copies.map((c) => c.database))];
  if (select.options.length !== databases.length) select.replaceChildren(...databases.map((d) => { const o = document.createElement('option'); o.value = d; o.textContent = d; return o; }));
}

function renderUsers(users) {
  const body = $('users').tBodies[0];
  body.replaceChildren(...users.map((u) => { const tr = row([u.address, u.database, bytes(u.usedBytes), u.quotaBytes === null ? 'unlimited' : bytes(u.quotaBytes)]); tr.dataset.address = u.address; return tr; }));
}

function renderChart(history) {
  const svg = $('chart');
  const w = 720, h = 180, pad = 24;
  const rates = history.map((s) => s.deliveriesPerSecond);
  const latencies = history.map((s) => { const v = Object.values(s.commitLatencyMsMean).filter((x) => x !== null); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0; });
  const line = (values, color) => {
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
    const points = values.map((v, i) => (pad + i * step).toFixed(1) + ',' + (h - pad - (v / max) * (h - 2 * pad)).toFixed(1)).join(' ');
    return '<polyline fill="none" stroke="' + color + '" stroke-width="2" points="' + points + '"/><text x="' + (w - pad) + '" y="' + (pad - 8) + '" font-size="10" text-anchor="end" fill="' + color + '">max ' + max.toFixed(2) + '</text>';
  };
  svg.innerHTML = '<rect x="0" y="0" width="' + w + '" height="' + h + '" fill="#fafbfc"/><line x1="' + pad + '" y1="' + (h - pad) + '" x2="' + (w - pad) + '" y2="' + (h - pad) + '" stroke="#ccd"/>'
    + line(rates, '#2f6fdf') + line(latencies, '#e07b17').replace('y="' + (pad - 8) + '"', 'y="' + (pad + 4) + '"')
    + '<text x="' + pad + '" y="' + (h - 6) + '" font-size="10" fill="#889">' + history.length + ' samples</text>';
  $('rate-now').textContent = rates.length ? rates[rates.length - 1].toFixed(2) : '0';
  $('latency-now').textContent = latencies.length ? latencies[latencies.length - 1].toFixed(1) : '-';
}

function describeQuery(q) {
  const parts = [];
  if (q.text) parts.push('"' + q.text + '"');
  if (q.from) parts.push('from:' + q.from);
  if (q.to) parts.push('to:' + q.to);
  if (q.sinceMs !== undefined) parts.push('since:' + new Date(q.sinceMs).toISOString().slice(0, 10));
  if (q.beforeMs !== undefined) parts.push('before:' + new Date(q.beforeMs).toISOString().slice(0, 10));
  return parts.join(' ') || '(everything)';
}

function renderDiscovery(search) {
  const progress = $('discovery-progress');
  progress.replaceChildren();
  if (search.state === 'searching' || search.state === 'copying') {
    const bar = document.createElement('progress');
    if (search.state === 'searching') { bar.max = search.mailboxesTotal || 1; bar.value = search.mailboxesSearched; }
    else { bar.max = search.messagesFound || 1; bar.value = search.messagesCopied; }
    progress.append(search.state + ' ', bar);
  } else {
    progress.append(search.name + ': ' + search.state + ', ' + search.messagesFound + ' messages in ' + search.counts.filter((c) => c.messages > 0).length + ' of ' + search.mailboxesSearched + ' mailboxes'
      + (search.copyTo ? '; ' + search.messagesCopied + ' copied to ' + search.copyTo + ' (' + search.folder + ')' : '') + (search.error ? ' (' + search.error + ')' : ''));
  }
  progress.dataset.state = search.state;
  $('discovery-results').tBodies[0].replaceChildren(...search.counts.map((c) => { const tr = row([c.address, c.database, c.messages, bytes(c.sizeBytes), c.error || '']); tr.dataset.address = c.address; return tr; }));
}

function renderAudit(searches) {
  $('discovery-audit').tBodies[0].replaceChildren(...searches.slice().reverse().map((s) => {
    const tr = row([new Date(s.startedAtMs).toLocaleString(), s.actor, s.name, describeQuery(s.query), s.mailboxes === 'all' ? 'all' : s.mailboxes.join(', '), s.state, s.messagesFound, s.copyTo ? s.messagesCopied + ' to ' + s.copyTo : '-']);
    tr.dataset.id = s.id;
    return tr;
  }));
}

$('discovery').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = (id) => $(id).value.trim();
  const mailboxes = value('discovery-mailboxes').split(',').map((m) => m.trim()).filter((m) => m);
  const body = { mailboxes: mailboxes.length ? mailboxes : 'all', requestedBy: 'admin page' };
  for (const [key, id] of [['text', 'discovery-text'], ['from', 'discovery-from'], ['to', 'discovery-to'], ['since', 'discovery-since'], ['before', 'discovery-before'], ['copyTo', 'discovery-copy-to'], ['name', 'discovery-name']]) if (value(id)) body[key] = value(id);
  try {
    let search = await api('POST', '/discovery/searches', body);
    renderDiscovery(search);
    while (search.state === 'searching' || search.state === 'copying') {
      await new Promise((r) => setTimeout(r, 300));
      search = await api('GET', '/discovery/searches/' + encodeURIComponent(search.id));
      renderDiscovery(search);
    }
  } catch (error) { say('search: ' + error.message, true); }
  refresh();
});

async function refresh() {
  try {
    const [server, copies, users, history, searches] = await Promise.all([api('GET', '/server'), api('GET', '/databases'), api('GET', '/users'), api('GET', '/server/history'), api('GET', '/discovery/searches')]);
    renderAudit(searches);
    $('server-name').textContent = 'server ' + server.name;
    const health = $('health');
    health.textContent = server.health.ok ? 'healthy' : 'unhealthy: ' + server.health.unhealthy.join(', ');
    health.className = server.health.ok ? 'ok' : 'bad';
    renderCopies(copies);
    renderUsers(users);
    renderChart(history);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (error) {
    if (error.message !== 'unauthorized') say('refresh failed: ' + error.message, true);
  }
}

function logout(why) {
  token = '';
  sessionStorage.removeItem('quire-admin-token');
  clearInterval(timer);
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why || '';
}

async function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  await refresh();
  clearInterval(timer);
  timer = setInterval(refresh, pollMs);
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  sessionStorage.setItem('quire-admin-token', token);
  await start();
});

$('add-user').addEventListener('submit', async (event) => {
  event.preventDefault();
  const address = $('new-address').value.trim();
  try {
    await api('POST', '/users', { address, password: $('new-password').value, database: $('new-database').value });
    say('added ' + address);
    $('new-address').value = ''; $('new-password').value = '';
  } catch (error) { say('add user: ' + error.message, true); }
  refresh();
});

if (token) start();
</script>
</body>
</html>`;

export function registerAdminPage(app: FastifyInstance): void {
  const send = async (_request: unknown, reply: import('fastify').FastifyReply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .send(page);
  app.get(adminPagePath, send);
  app.get(`${adminPagePath}/`, send);
}
