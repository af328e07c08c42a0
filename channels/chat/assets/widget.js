/*
 * The intake chat widget. Put one tag on any page:
 *   <script src="https://help.example.com/chat/widget.js" defer></script>
 * It talks to the gateway it was loaded from (WebSocket /v1/chat, protocol
 * intake-chat.v1, described in the gateway's docs/chat.md). Plain JavaScript,
 * no build step; it draws itself inside a shadow root so the page's styles
 * and the widget's never mix.
 *
 * What the customer can rely on: a message shows "sent" only once the gateway
 * has stored it; the conversation survives reloads and dropped connections
 * (the session token stays in localStorage, every event has a number, and a
 * reconnect asks for the ones after the last it saw); a message typed while
 * offline is sent when the connection is back, and never stored twice.
 */
(function () {
  'use strict';
  if (window.IntakeChat) return;

  var script = document.currentScript;
  var base = new URL(script && script.src ? script.src : location.href);
  var wsUrl = (base.protocol === 'https:' ? 'wss://' : 'ws://') + base.host + '/v1/chat';
  var storeKey = 'intake-chat:' + base.host;

  var pageLang = (document.documentElement.lang || navigator.language || 'en').toLowerCase();
  var lang = pageLang.indexOf('zh') === 0 ? 'zh' : 'en';
  var words = {
    en: {
      open: 'Chat with us', title: 'Customer service', name: 'Your name (optional)',
      email: 'Email (optional)', phone: 'Phone (optional)', start: 'Start chat',
      hint: 'Leave an email or phone so we can answer you if you go away.',
      placeholder: 'Type your message', send: 'Send', end: 'End chat',
      badEmail: 'Please check the email address.', badPhone: 'Please use an international number, e.g. +86 138 0013 8000.',
      connecting: 'Connecting…', offline: 'Connection lost, reconnecting…', ended: 'The conversation has ended.',
      pending: 'sending…', failed: 'not sent, will retry', agent: 'Agent', you: 'You',
      typing: 'The agent is typing…'
    },
    zh: {
      open: '在线客服', title: '客户服务', name: '您的姓名（可选）', email: '邮箱（可选）',
      phone: '电话（可选）', start: '开始咨询', hint: '留下邮箱或电话，您离开后我们也能回复您。',
      placeholder: '请输入您的问题', send: '发送', end: '结束对话',
      badEmail: '请检查邮箱地址。', badPhone: '请使用国际格式号码，例如 +86 138 0013 8000。',
      connecting: '正在连接…', offline: '连接已断开，正在重连…', ended: '对话已结束。',
      pending: '发送中…', failed: '未发送，将重试', agent: '客服', you: '您',
      typing: '客服正在输入…'
    }
  }[lang];

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; }
  }
  function save(s) {
    try { localStorage.setItem(storeKey, JSON.stringify(s)); } catch (e) { /* private mode */ }
  }

  var state = load();          // {token}
  var ws = null;
  var lastSeq = 0;             // highest event number shown, in order
  var pending = {};            // client_id -> {text, el}
  var pendingOrder = [];
  var open = false;
  var retryMs = 1000;
  var ended = false;
  var typingSentAt = 0;
  var typingTimer = null;
  var TYPING_SHOWN_MS = 6000; // the agent's console repeats it every few seconds while typing

  // ---- drawing -------------------------------------------------------------
  var host = document.createElement('div');
  host.id = 'intake-chat';
  var root = host.attachShadow({ mode: 'open' });
  root.innerHTML =
    '<style>' +
    ':host{all:initial;font:14px/1.4 system-ui,sans-serif;color:#1d2430}[hidden]{display:none!important}' +
    '.launcher{position:fixed;right:20px;bottom:20px;border:0;border-radius:24px;padding:12px 18px;' +
    'background:#1f6feb;color:#fff;font:inherit;cursor:pointer;box-shadow:0 2px 8px #0003}' +
    '.panel{position:fixed;right:20px;bottom:20px;width:min(360px,calc(100vw - 24px));height:min(520px,calc(100vh - 40px));' +
    'display:none;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 4px 24px #0004;overflow:hidden}' +
    '.panel.shown{display:flex}.head{background:#1f6feb;color:#fff;padding:10px 14px;display:flex;justify-content:space-between;align-items:center}' +
    '.head button{background:none;border:0;color:#fff;font:inherit;cursor:pointer}' +
    '.status{font-size:12px;color:#666;padding:4px 14px;min-height:16px}' +
    'form.pre{padding:14px;display:flex;flex-direction:column;gap:8px}' +
    'input,textarea{font:inherit;padding:8px;border:1px solid #c8ccd2;border-radius:6px}' +
    '.error{color:#b42318;font-size:12px;min-height:16px}.hint{font-size:12px;color:#555}' +
    '.log{flex:1;overflow-y:auto;padding:8px 14px;display:flex;flex-direction:column;gap:6px}' +
    '.msg{max-width:80%;padding:6px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}' +
    '.customer{align-self:flex-end;background:#dbe8ff}.agent{align-self:flex-start;background:#eef0f3}' +
    '.system{align-self:center;background:#fff7e0;font-size:13px;max-width:95%}' +
    '.meta{display:block;font-size:11px;color:#667}' +
    '.typing{font-size:12px;color:#666;padding:0 14px;min-height:16px}' +
    'form.compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e3e5e8}' +
    'form.compose textarea{flex:1;resize:none;height:38px}' +
    'button.primary{background:#1f6feb;color:#fff;border:0;border-radius:6px;padding:8px 12px;font:inherit;cursor:pointer}' +
    '</style>' +
    '<button class="launcher" part="launcher"></button>' +
    '<section class="panel" role="dialog" aria-label="chat">' +
    '<div class="head"><strong class="title"></strong><span><button class="end" hidden></button> <button class="close" aria-label="close">×</button></span></div>' +
    '<div class="status" aria-live="polite"></div>' +
    '<form class="pre" novalidate><input name="name" autocomplete="name"><input name="email" type="email" autocomplete="email">' +
    '<input name="phone" type="tel" autocomplete="tel"><div class="hint"></div><div class="error"></div>' +
    '<button class="primary" type="submit"></button></form>' +
    '<div class="log" hidden></div><div class="typing" aria-live="polite"></div>' +
    '<form class="compose" hidden><textarea name="text" maxlength="4000"></textarea><button class="primary" type="submit"></button></form>' +
    '</section>';

  function $(sel) { return root.querySelector(sel); }
  var panel = $('.panel'), log = $('.log'), pre = $('form.pre'), compose = $('form.compose');
  $('.launcher').textContent = words.open;
  $('.title').textContent = words.title;
  $('.end').textContent = words.end;
  pre.name.placeholder = words.name;
  pre.email.placeholder = words.email;
  pre.phone.placeholder = words.phone;
  $('.hint').textContent = words.hint;
  pre.querySelector('button').textContent = words.start;
  compose.text.placeholder = words.placeholder;
  compose.querySelector('button').textContent = words.send;

  function status(text) { $('.status').textContent = text || ''; }
  function showPanel() { panel.classList.add('shown'); $('.launcher').hidden = true; open = true; }
  function hidePanel() { panel.classList.remove('shown'); $('.launcher').hidden = false; open = false; }
  function showConversation() {
    pre.hidden = true; log.hidden = false; compose.hidden = false; $('.end').hidden = false;
  }
  function showForm() {
    pre.hidden = false; log.hidden = true; compose.hidden = true; $('.end').hidden = true;
    log.textContent = '';
  }

  // "The agent is typing…" for a while, or until their message arrives.
  function agentTyping(shown) {
    clearTimeout(typingTimer);
    $('.typing').textContent = shown ? words.typing : '';
    if (shown) typingTimer = setTimeout(function () { agentTyping(false); }, TYPING_SHOWN_MS);
  }

  function bubble(kind, text, meta, seq) {
    var el = document.createElement('div');
    el.className = 'msg ' + kind;
    if (seq) el.dataset.seq = seq;
    el.textContent = text;
    if (meta) {
      var m = document.createElement('span');
      m.className = 'meta';
      m.textContent = meta;
      el.appendChild(m);
    }
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  // ---- the connection -------------------------------------------------------
  function send(obj) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function connect(profile) {
    status(words.connecting);
    ws = new WebSocket(wsUrl, 'intake-chat.v1');
    ws.onopen = function () {
      var hello = { type: 'hello', lang: lang };
      if (state.token) { hello.token = state.token; hello.last_seq = lastSeq; }
      else if (profile) hello.profile = profile;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      receive(m);
    };
    ws.onclose = function (e) {
      ws = null;
      if (e.code === 4001) {            // the session is gone: start again
        state = {}; save(state); lastSeq = 0; showForm(); status(''); return;
      }
      if (e.code === 4002 || ended) { status(words.ended); return; }
      if (!state.token) { status(e.reason || words.offline); return; }
      status(words.offline);
      setTimeout(function () { connect(); }, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }

  function receive(m) {
    if (m.type === 'welcome') {
      retryMs = 1000;
      status('');
      if (m.token) { state.token = m.token; save(state); }
      showConversation();
      if (m.last_seq < lastSeq) { log.textContent = ''; lastSeq = 0; } // the log was reset
      // Messages written while we were away go now, under their first ids.
      pendingOrder.forEach(function (id) {
        send({ type: 'message', client_id: id, text: pending[id].text });
      });
      return;
    }
    if (m.type === 'ack') {
      var p = pending[m.client_id];
      if (p) {
        p.el.dataset.seq = m.seq;
        p.el.classList.add('stored');
        var meta = p.el.querySelector('.meta');
        if (meta) meta.textContent = words.you + ' · ' + m.ticket;
        delete pending[m.client_id];
        pendingOrder = pendingOrder.filter(function (x) { return x !== m.client_id; });
      }
      return;
    }
    if (m.type === 'error') {
      if (m.client_id && pending[m.client_id]) {
        pending[m.client_id].el.querySelector('.meta').textContent = words.failed;
      } else if (m.field === 'email' || m.field === 'phone') {
        showForm();
        $('.error').textContent = m.field === 'email' ? words.badEmail : words.badPhone;
        state = {}; save(state);
        if (ws) ws.close();
      } else {
        status(m.reason);
      }
      return;
    }
    if (m.type === 'typing') { // not numbered: true only for a moment
      if (m.from === 'agent' && !ended) agentTyping(true);
      return;
    }
    if (typeof m.seq !== 'number' || m.seq <= lastSeq) return; // seen already
    lastSeq = m.seq;
    if (m.type === 'message' && m.from === 'customer') {
      // Our own message: already drawn if this page sent it (acknowledged or not yet).
      var mine = root.querySelector('.customer[data-seq="' + m.seq + '"]');
      var waiting = m.client_id && pending[m.client_id];
      if (waiting) receive({ type: 'ack', client_id: m.client_id, seq: m.seq, ticket: m.ticket });
      else if (!mine) bubble('customer stored', m.text, words.you + ' · ' + (m.ticket || ''), m.seq);
    } else if (m.type === 'message' && m.from === 'agent') {
      agentTyping(false);
      bubble('agent', m.text, (m.agent || words.agent), m.seq);
    } else if (m.type === 'notice') {
      if (m.notice === 'left') { ended = true; status(words.ended); }
      else if (m.notice === 'survey' && /^https?:\/\//.test(m.url || '')) {
        // The survey invitation: its text, then the link as a link (opens apart).
        var el = bubble('system', (m.text || '').split(m.url).join('').trim(), null, m.seq);
        var a = document.createElement('a');
        a.href = m.url;
        a.target = '_blank';
        a.rel = 'noopener';
        a.textContent = ' ' + m.url;
        el.appendChild(a);
      } else bubble('system', m.text || m.notice, null, m.seq);
    }
  }

  function newClientId() {
    var a = new Uint8Array(9);
    crypto.getRandomValues(a);
    return 'c-' + Array.prototype.map.call(a, function (b) { return b.toString(16).padStart(2, '0'); }).join('');
  }

  // ---- the customer's actions ----------------------------------------------
  $('.launcher').onclick = function () {
    showPanel();
    if (state.token && !ws) connect();
  };
  $('.close').onclick = hidePanel;
  $('.end').onclick = function () {
    ended = true;
    send({ type: 'close' });
  };

  pre.onsubmit = function (e) {
    e.preventDefault();
    var email = pre.email.value.trim(), phone = pre.phone.value.trim(), name = pre.name.value.trim();
    $('.error').textContent = '';
    if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) { $('.error').textContent = words.badEmail; return; }
    if (phone && !/^\+?[0-9 ()\-.]{7,20}$/.test(phone)) { $('.error').textContent = words.badPhone; return; }
    var profile = {};
    if (name) profile.name = name;
    if (email) profile.email = email;
    if (phone) profile.phone = phone;
    connect(profile);
  };

  compose.onsubmit = function (e) {
    e.preventDefault();
    var text = compose.text.value.trim();
    if (!text) return;
    compose.text.value = '';
    var id = newClientId();
    var el = bubble('customer', text, words.pending);
    pending[id] = { text: text, el: el };
    pendingOrder.push(id);
    send({ type: 'message', client_id: id, text: text });
  };
  compose.text.onkeydown = function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); compose.requestSubmit(); return; }
    var now = Date.now();
    if (now - typingSentAt > 3000) { typingSentAt = now; send({ type: 'typing' }); }
  };

  function mount() {
    document.body.appendChild(host);
    if (state.token) { showPanel(); connect(); }
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // For pages that open the chat from their own button, and for tests.
  window.IntakeChat = {
    open: function () { $('.launcher').click(); },
    lastSeq: function () { return lastSeq; },
    connected: function () { return !!ws && ws.readyState === 1; }
  };
})();
