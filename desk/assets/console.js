/*
 * The agent console (served at /agent/). Plain JavaScript, no build step.
 * It is a client of the desk's REST API (/v1/tickets..., /v1/agent/me, with
 * the agent's token as a bearer token) and of the agent stream (WebSocket
 * /v1/agent/stream, subprotocol intake-agent.v1), both described in the
 * gateway's desk/desk_api.c and desk/desk_stream.c.
 *
 * The stream only says that something happened; the list and the open
 * ticket are then fetched again, so what is shown is always what the
 * database holds. Every stream event has a number: the last one seen is kept
 * in localStorage and sent as "after" on each (re)connect, so no event is
 * announced twice. Everything from the server is drawn with textContent,
 * never as HTML.
 */
(function () {
  'use strict';

  var storeKey = 'intake-agent:' + location.host;
  var streamUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    '/v1/agent/stream';
  var CLOSE_BAD_TOKEN = 4001;

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }

  // Kept across reloads: token, lastSeq, filter, overdue, away.
  var state = load();
  var me = null;          // the agent, from /v1/agent/me and the stream
  var ws = null;
  var connected = false;
  var retryMs = 1000;
  var retryTimer = null;
  var openNumber = null;  // the ticket shown on the right
  var listTimer = null;
  var replyKey = null;    // idempotency key of the reply being written
  var typingUntil = {};   // ticket number -> when "the customer is typing" goes out of date
  var typingSentAt = 0;   // when we last told the customer that we type
  var typingSentFor = null; // on which ticket: another one is told at once
  var TYPING_SHOWN_MS = 6000; // the widget repeats it every few seconds while the customer types

  window.IntakeConsole = {
    get connected() { return connected; },
    get lastSeq() { return state.lastSeq || 0; }
  };

  var $ = function (id) { return document.getElementById(id); };

  // An element with text content and attributes; children appended in order.
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'className') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function notice(text) {
    var n = el('div', { text: text, 'data-testid': 'notice' });
    $('notices').appendChild(n);
    setTimeout(function () { n.remove(); }, 6000);
  }

  // ---- REST ---------------------------------------------------------------

  // Resolves with the JSON answer; rejects with an Error carrying the
  // server's "error" (and "field"), and status.
  function api(method, path, body) {
    var opts = { method: method, headers: { Authorization: 'Bearer ' + state.token } };
    if (method === 'POST') {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body || {});
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : {}; } catch (e) { /* not JSON */ }
        if (r.ok && data) return data;
        var msg = (data && data.error) || ('HTTP ' + r.status);
        if (data && data.field) msg += ' (' + data.field + ')';
        var err = new Error(msg);
        err.status = r.status;
        if (r.status === 401 && path !== '/v1/agent/me') signOut('Signed out: ' + msg);
        throw err;
      });
    }, function () {
      throw new Error('the gateway cannot be reached');
    });
  }

  // ---- time ---------------------------------------------------------------

  // "3d 4h", "2h 05m", "4m 09s", "12s".
  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
    var m = Math.floor(s / 60) % 60, sec = s % 60;
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + two(m) + 'm';
    if (m) return m + 'm ' + two(sec) + 's';
    return sec + 's';
  }

  // The nearest running clock of a ticket: {at (ms), name} or null.
  function nearestDue(t) {
    var best = null;
    ['first_response', 'handling', 'resolution'].forEach(function (name) {
      var v = t.due && t.due[name];
      var at = v ? Date.parse(v) : NaN;
      if (!isNaN(at) && (!best || at < best.at)) best = { at: at, name: name };
    });
    return best;
  }

  // Redraws every countdown (elements with data-due); runs every second.
  function tick() {
    var now = Date.now();
    document.querySelectorAll('[data-due]').forEach(function (e) {
      var left = Number(e.getAttribute('data-due')) - now;
      var clock = e.getAttribute('data-clock').replace('_', ' ');
      e.textContent = left < 0 ? 'overdue ' + span(left) : span(left) + ' · ' + clock;
      e.classList.toggle('late', left < 0);
    });
  }

  function slaCell(t, attrs) {
    var due = nearestDue(t);
    var e = el('span', attrs);
    if (due) {
      e.setAttribute('data-due', String(due.at));
      e.setAttribute('data-clock', due.name);
    } else {
      e.textContent = '—';
    }
    return e;
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleString();
  }

  // ---- the list -----------------------------------------------------------

  function listPath() {
    var q = [];
    if (state.filter === 'mine') q.push('assignee=me');
    if (state.filter === 'none') q.push('assignee=none');
    if (state.overdue) q.push('overdue=true');
    return '/v1/tickets' + (q.length ? '?' + q.join('&') : '');
  }

  var listAsked = 0; // answers may overtake each other: only the latest request is drawn

  function refreshList() {
    clearTimeout(listTimer);
    listTimer = setTimeout(refreshList, 30000); // also catch tickets no event tells us of
    if (!state.token) return Promise.resolve();
    var asked = ++listAsked;
    return api('GET', listPath()).then(function (data) {
      if (asked !== listAsked) return;
      $('list-error').textContent = '';
      drawList(data.tickets || []);
    }, function (e) {
      if (asked === listAsked) $('list-error').textContent = 'Could not load the tickets: ' + e.message;
    });
  }

  function drawList(tickets) {
    var body = $('queue');
    body.textContent = '';
    tickets.forEach(function (t) {
      var row = el('tr', {
        className: 'row' + (t.number === openNumber ? ' selected' : ''),
        'data-testid': 'ticket-row', 'data-number': t.number, 'data-status': t.status
      }, [
        el('td', { className: 'number' }, [el('strong', { text: t.number }),
          el('div', { className: 'muted', text: t.status })]),
        el('td', {}, [
          el('div', { text: t.subject || t.summary || '(no subject)' }),
          el('div', { className: 'muted',
            text: t.customer ? t.customer.name || t.customer.number : '' })
        ]),
        el('td', {}, [el('span', { className: 'pill ' + t.priority, text: t.priority }),
          t.escalation_level > 1
            ? el('div', { className: 'late', text: 'level ' + t.escalation_level }) : null]),
        el('td', { 'data-testid': 'assignee', text: t.assignee ? t.assignee.name : 'unassigned' }),
        el('td', { className: 'sla' }, [slaCell(t, { 'data-testid': 'sla' })])
      ]);
      row.addEventListener('click', function () { openTicket(t.number); });
      body.appendChild(row);
    });
    $('queue-empty').hidden = tickets.length > 0;
    tick();
  }

  // ---- one ticket ---------------------------------------------------------

  function openTicket(number) {
    if (number !== openNumber) {
      replyKey = null;
      $('reply-text').value = '';
      $('note-text').value = '';
      $('ticket-error').textContent = '';
    }
    openNumber = number;
    showTyping();
    if (location.hash !== '#' + number) history.replaceState(null, '', '#' + number);
    document.querySelectorAll('tr.row').forEach(function (r) {
      r.classList.toggle('selected', r.getAttribute('data-number') === number);
    });
    return refreshTicket();
  }

  var ticketAsked = 0;

  function refreshTicket() {
    var number = openNumber;
    if (!number) return Promise.resolve();
    var asked = ++ticketAsked;
    return api('GET', '/v1/tickets/' + encodeURIComponent(number)).then(function (t) {
      if (asked === ticketAsked) drawTicket(t);
    }, function (e) {
      if (asked !== ticketAsked) return;
      $('ticket-empty').hidden = true;
      $('ticket-error').textContent = 'Could not load ' + number + ': ' + e.message;
    });
  }

  function drawTicket(t) {
    $('ticket-empty').hidden = true;
    $('ticket-body').hidden = false;
    $('ticket-body').setAttribute('data-number', t.number);
    $('ticket-body').setAttribute('data-status', t.status);
    $('t-number').textContent = t.number;
    $('t-subject').textContent = t.subject || '(no subject)';
    $('t-facts').textContent = [t.status, t.priority, t.category, 'queue ' + t.queue,
      t.channel, 'level ' + t.escalation_level,
      t.assignee ? 'assigned to ' + t.assignee.name : 'unassigned'].filter(Boolean).join(' · ');
    var sla = $('t-sla');
    sla.textContent = '';
    sla.appendChild(slaCell(t, {}));

    var mine = me && t.assignee && t.assignee.id === me.id;
    var done = t.status === 'resolved' || t.status === 'closed';
    $('claim').disabled = mine || done;
    $('escalate').disabled = done || t.escalation_level >= 3;
    // A closed ticket stays closed; "open" is for taking a ticket back up.
    document.querySelectorAll('button[data-status]').forEach(function (b) {
      var to = b.getAttribute('data-status');
      b.disabled = t.status === 'closed' || to === t.status || (to === 'open' && t.status === 'new');
    });

    var c = t.customer || {};
    var facts = [c.number, c.company, c.language,
      c.open_tickets != null ? c.open_tickets + ' open tickets' : ''].filter(Boolean).join(' · ');
    $('customer').textContent = '';
    $('customer').appendChild(el('strong',
      { text: c.name || '(no name)', 'data-testid': 'customer-name' }));
    $('customer').appendChild(el('div', { className: 'muted', text: facts }));
    $('customer').appendChild(el('ul', {}, (c.identities || []).map(function (i) {
      return el('li', { text: i.kind + ': ' + i.value });
    })));

    $('messages').textContent = '';
    (t.messages || []).forEach(function (m) {
      var who = m.direction === 'out' ? (m.from || 'agent') : (m.from || m.address || 'customer');
      $('messages').appendChild(el('div', {
        className: 'msg ' + (m.direction === 'out' ? 'out' : 'in'),
        'data-testid': 'message', 'data-direction': m.direction
      }, [
        el('div', { className: 'meta', text: who + ' · ' + m.channel + ' · ' + when(m.at) }),
        m.subject ? el('div', { text: m.subject, className: 'meta' }) : null,
        el('div', { className: 'text', text: m.text || '' })
      ]));
    });

    $('notes').textContent = '';
    $('activity').textContent = '';
    (t.events || []).forEach(function (e) {
      if (e.kind === 'note') {
        $('notes').appendChild(el('div', { className: 'note', 'data-testid': 'note' }, [
          el('div', { className: 'meta', text: (e.actor || '') + ' · ' + when(e.at) }),
          el('div', { className: 'text', text: (e.detail && e.detail.text) || '' })
        ]));
      }
      $('activity').appendChild(el('li',
        { text: when(e.at) + ' ' + e.kind + (e.actor ? ' by ' + e.actor : '') }));
    });
    if (!$('notes').firstChild) {
      $('notes').appendChild(el('p', { className: 'muted', text: 'No notes yet.' }));
    }
    tick();
  }

  // A POST on the open ticket: buttons off while it runs, the error shown.
  function act(verb, body, button) {
    var number = openNumber;
    $('ticket-error').textContent = '';
    if (button) button.disabled = true;
    return api('POST', '/v1/tickets/' + encodeURIComponent(number) + '/' + verb, body)
      .then(function (answer) {
        refreshList();
        return refreshTicket().then(function () { return answer; });
      }, function (e) {
        $('ticket-error').textContent = verb + ' failed: ' + e.message;
        if (button) button.disabled = false;
        throw e;
      });
  }

  function randomKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    var hex = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); });
    return 'console-' + hex.join('');
  }

  // ---- the stream ---------------------------------------------------------

  // "The customer is typing…" under the open ticket's conversation, while it is fresh.
  var typingTimer = null;
  function showTyping() {
    clearTimeout(typingTimer);
    var left = (typingUntil[openNumber] || 0) - Date.now();
    $('customer-typing').textContent = left > 0 ? 'The customer is typing…' : '';
    if (left > 0) typingTimer = setTimeout(showTyping, left);
  }
  function customerTyping(number, on) {
    if (on) typingUntil[number] = Date.now() + TYPING_SHOWN_MS;
    else delete typingUntil[number];
    if (number === openNumber) showTyping();
  }

  function setConnected(on) {
    connected = on;
    $('conn').classList.toggle('on', on);
    $('conn').title = on ? 'live' : 'stream disconnected, reconnecting';
    $('presence-toggle').disabled = !on;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (!state.token || ws) return;
    var sock = ws = new WebSocket(streamUrl, 'intake-agent.v1');
    // A first sign-in here: the backlog is history, not news (the list shows it).
    var fresh = !state.lastSeq;
    sock.onopen = function () {
      var hello = { type: 'hello', token: state.token, after: state.lastSeq || 0 };
      if (state.away) hello.presence = 'away';
      sock.send(JSON.stringify(hello));
    };
    var backlogEnd = 0;
    sock.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (ev.type === 'welcome') {
        retryMs = 1000;
        // The server's log is shorter than what we counted: it was reset.
        if ((state.lastSeq || 0) > ev.last_seq) {
          state.lastSeq = 0;
          fresh = true;
        }
        backlogEnd = fresh ? ev.last_seq : 0;
        save();
        showMe(ev.agent);
        setConnected(true);
        refreshList();
        refreshTicket();
      } else if (ev.type === 'presence') {
        showMe(ev.agent);
      } else if (ev.type === 'error') {
        notice('Stream: ' + (ev.reason || ev.code));
      } else if (ev.type === 'typing') { // not numbered: true only for a moment
        if (typeof ev.ticket === 'string') customerTyping(ev.ticket, true);
      } else if (typeof ev.seq === 'number') {
        if (ev.seq <= (state.lastSeq || 0)) return; // seen already
        state.lastSeq = ev.seq;
        save();
        onEvent(ev, ev.seq > backlogEnd);
      }
    };
    sock.onclose = function (e) {
      if (ws === sock) ws = null;
      setConnected(false);
      if (e.code === CLOSE_BAD_TOKEN) {
        signOut('Signed out: ' + (e.reason || 'the token is not valid any more'));
        return;
      }
      if (!state.token) return;
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }

  function disconnect() {
    clearTimeout(retryTimer);
    if (ws) {
      var sock = ws;
      ws = null;
      sock.onclose = null;
      sock.close(1000);
    }
    setConnected(false);
  }

  function eventTicket(ev) {
    if (!ev.ticket) return '';
    return typeof ev.ticket === 'string' ? ev.ticket : ev.ticket.number;
  }

  function describe(ev, number) {
    switch (ev.type) {
    case 'ticket.assigned':
      return number + ' assigned to you' + (ev.ticket.subject ? ': ' + ev.ticket.subject : '');
    case 'ticket.updated': return number + ' ' + (ev.what || 'updated') + (ev.by ? ' by ' + ev.by : '');
    case 'message.new':
      return 'New message on ' + number + (ev.message && ev.message.from ? ' from ' + ev.message.from : '');
    case 'ticket.escalated':
      return number + ' escalated to level ' + ev.level + (ev.reason ? ': ' + ev.reason : '');
    case 'sla.breached':
      return number + ': ' + String(ev.clock || 'SLA').replace('_', ' ') + ' clock breached';
    case 'followup.opened':
      return 'Follow-up opened on ' + number + (ev.reason ? ': ' + ev.reason : '');
    default: return ev.type + (number ? ' on ' + number : '');
    }
  }

  var refreshSoon = null;
  function onEvent(ev, announce) {
    var number = eventTicket(ev);
    if (ev.type === 'message.new' && number) customerTyping(number, false); // it has arrived
    if (announce) notice(describe(ev, number));
    // Events come in bursts (a backlog after a reconnect): one refresh for all.
    clearTimeout(refreshSoon);
    refreshSoon = setTimeout(refreshList, 100);
    if (number && number === openNumber) refreshTicket();
  }

  // ---- signing in and out -------------------------------------------------

  function showMe(agent) {
    if (!agent) return;
    me = agent;
    $('me-name').textContent = agent.name;
    $('me-role').textContent = agent.role;
    $('me-presence').textContent = agent.presence;
    $('presence-toggle').textContent = agent.presence === 'away' ? 'Set online' : 'Set away';
    $('audit-toggle').hidden = agent.role !== 'supervisor';
    document.dispatchEvent(new CustomEvent('intake:me', { detail: agent })); // reports.js
  }

  function showSignedIn(on) {
    $('signin').hidden = on;
    $('app').hidden = !on;
    $('me').hidden = !on;
    $('audit').hidden = true;
    $('audit-toggle').textContent = 'Audit';
  }

  function signIn(token) {
    state.token = token;
    return api('GET', '/v1/agent/me').then(function (agent) {
      $('signin-error').textContent = '';
      showMe(agent);
      save();
      showSignedIn(true);
      syncFilters();
      refreshList();
      if (location.hash.length > 1) openTicket(decodeURIComponent(location.hash.slice(1)));
      connect();
    }, function (e) {
      showSignedIn(false);
      $('signin-error').textContent = 'Cannot sign in: ' + e.message;
      if (e.status === 401 || e.status === 400) {
        state = {};
        save();
      } else if (load().token === token) {
        // A reload while the gateway is away: the token is fine, try again.
        setTimeout(function () { if (state.token === token) signIn(token); }, 5000);
      } else {
        delete state.token;
      }
    });
  }

  function signOut(why) {
    disconnect();
    clearTimeout(listTimer);
    listAsked++; // answers still on their way are for the agent who left
    ticketAsked++;
    state = {};
    save();
    me = null;
    openNumber = null;
    $('queue').textContent = '';
    clearSearch(); // the next agent may not see what this one found
    $('ticket-body').hidden = true;
    $('ticket-empty').hidden = false;
    $('signin-error').textContent = why || '';
    $('token-input').value = '';
    history.replaceState(null, '', location.pathname);
    showSignedIn(false);
    document.dispatchEvent(new CustomEvent('intake:signout')); // reports.js
  }

  function syncFilters() {
    var f = state.filter || 'all';
    document.querySelectorAll('input[name=assignee]').forEach(function (r) {
      r.checked = r.value === f;
    });
    $('overdue-only').checked = !!state.overdue;
  }

  // ---- wiring -------------------------------------------------------------

  $('signin').addEventListener('submit', function (e) {
    e.preventDefault();
    var token = $('token-input').value.trim();
    $('signin-error').textContent = '';
    if (token) signIn(token);
  });
  $('signout').addEventListener('click', function () { signOut(''); });
  $('presence-toggle').addEventListener('click', function () {
    if (!ws || !connected || !me) return;
    var next = me.presence === 'away' ? 'online' : 'away';
    state.away = next === 'away';
    save();
    ws.send(JSON.stringify({ type: 'presence', presence: next }));
  });
  document.querySelectorAll('input[name=assignee]').forEach(function (r) {
    r.addEventListener('change', function () { state.filter = r.value; save(); refreshList(); });
  });
  $('overdue-only').addEventListener('change', function (e) {
    state.overdue = e.target.checked;
    save();
    refreshList();
  });

  var ignore = function () { /* act() has shown the error */ };
  $('claim').addEventListener('click', function (e) { act('claim', {}, e.target).catch(ignore); });
  $('escalate').addEventListener('click', function (e) { act('escalate', {}, e.target).catch(ignore); });
  document.querySelectorAll('button[data-status]').forEach(function (b) {
    b.addEventListener('click', function () {
      act('status', { status: b.getAttribute('data-status') }, b).catch(ignore);
    });
  });
  $('reply-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var text = $('reply-text').value;
    if (!text.trim()) { $('ticket-error').textContent = 'Write a reply first.'; return; }
    // The same key until it is stored, so sending again after an error never sends twice.
    replyKey = replyKey || randomKey();
    act('replies', { text: text, key: replyKey }, $('reply-send')).then(function () {
      replyKey = null;
      $('reply-text').value = '';
      $('reply-send').disabled = false;
    }, ignore);
  });
  $('note-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var text = $('note-text').value;
    if (!text.trim()) { $('ticket-error').textContent = 'Write a note first.'; return; }
    act('notes', { text: text }, $('note-send')).then(function () {
      $('note-text').value = '';
      $('note-send').disabled = false;
    }, ignore);
  });
  $('reply-text').addEventListener('input', function () {
    replyKey = null; // new text, new reply
    // The customer sees that we type (a chat customer, if still there); every 3 s at
    // most per ticket.
    var now = Date.now();
    if (openNumber && ws && ws.readyState === 1 &&
        (openNumber !== typingSentFor || now - typingSentAt > 3000)) {
      typingSentAt = now;
      typingSentFor = openNumber;
      ws.send(JSON.stringify({ type: 'typing', ticket: openNumber }));
    }
  });

  // ---- the audit trail (supervisors) ---------------------------------------

  var auditNext = null; // the "next" of the last page shown: older entries remain

  function auditRow(e) {
    var who = e.actor_name ? e.actor_name + ' (' + e.actor + ')' : e.actor;
    var detail = e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : '';
    return el('tr', { 'data-testid': 'audit-row', 'data-action': e.action }, [
      el('td', { text: new Date(e.at).toLocaleString() }),
      el('td', { text: who, 'data-testid': 'audit-actor' }),
      el('td', { text: e.action }),
      el('td', { text: e.subject || '', 'data-testid': 'audit-subject' }),
      el('td', { text: detail, className: 'muted' })
    ]);
  }

  // The first page again, or (older) the page after the last one shown.
  function loadAudit(older) {
    var path = '/v1/audit?limit=50' + (older && auditNext ? '&after=' + auditNext : '');
    return api('GET', path).then(function (page) {
      if (!older) $('audit-rows').textContent = '';
      page.entries.forEach(function (e) { $('audit-rows').appendChild(auditRow(e)); });
      auditNext = page.next || null;
      $('audit-more').hidden = !auditNext;
      $('audit-error').textContent = '';
    }, function (e) {
      $('audit-error').textContent = 'Cannot load the audit trail: ' + e.message;
    });
  }

  $('audit-toggle').addEventListener('click', function () {
    var show = $('audit').hidden;
    $('audit').hidden = !show;
    $('app').hidden = show;
    $('audit-toggle').textContent = show ? 'Tickets' : 'Audit';
    if (show) loadAudit(false);
  });
  $('audit-more').addEventListener('click', function () { loadAudit(true); });

  // ---- search (GET /v1/search) --------------------------------------------

  var searchAsked = 0;  // as for the list: only the latest answer is drawn
  var searchFor = '';   // the query whose results are shown
  var searchNext = null;
  var matchedBy = { number: 'ticket number', email: 'email address', phone: 'phone number',
    customer: 'customer name', text: 'text' };

  function search(q, after) {
    var asked = ++searchAsked;
    $('search-error').textContent = '';
    return api('GET', '/v1/search?q=' + encodeURIComponent(q) +
        (after ? '&after=' + encodeURIComponent(after) : '')).then(function (data) {
      if (asked !== searchAsked) return;
      searchFor = q;
      searchNext = data.next || null;
      drawSearch(data.tickets || [], !after);
    }, function (e) {
      if (asked === searchAsked) $('search-error').textContent = 'Could not search: ' + e.message;
    });
  }

  function drawSearch(tickets, fresh) {
    var body = $('search-rows');
    if (fresh) body.textContent = '';
    tickets.forEach(function (t) {
      var row = el('tr', {
        className: 'row' + (t.number === openNumber ? ' selected' : ''),
        'data-testid': 'search-row', 'data-number': t.number, 'data-match': t.match
      }, [
        el('td', { className: 'number' }, [el('strong', { text: t.number }),
          el('div', { className: 'muted', text: t.status })]),
        el('td', {}, [
          el('div', { text: t.subject || t.summary || '(no subject)' }),
          el('div', { className: 'muted', text: (t.customer ? t.customer.name || t.customer.number : '') +
            ' · found by ' + (matchedBy[t.match] || t.match) }),
          t.snippet ? el('div', { className: 'snippet', 'data-testid': 'search-snippet', text: t.snippet }) : null
        ]),
        el('td', {}, [el('span', { className: 'pill ' + t.priority, text: t.priority })]),
        el('td', { text: t.queue })
      ]);
      row.addEventListener('click', function () { openTicket(t.number); });
      body.appendChild(row);
    });
    $('search-empty').hidden = body.children.length > 0;
    $('search-more').hidden = !searchNext;
    $('search-results').hidden = false;
    $('search-clear').hidden = false;
  }

  function clearSearch() {
    searchAsked++;
    searchFor = '';
    searchNext = null;
    $('search-input').value = '';
    $('search-rows').textContent = '';
    $('search-error').textContent = '';
    $('search-results').hidden = true;
    $('search-clear').hidden = true;
  }

  $('search-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var q = $('search-input').value.trim();
    if (q) search(q, null);
    else clearSearch();
  });
  $('search-more').addEventListener('click', function () {
    if (searchNext) search(searchFor, searchNext);
  });
  $('search-clear').addEventListener('click', clearSearch);

  setInterval(tick, 1000);
  setConnected(false);
  if (state.token) signIn(state.token);
  else showSignedIn(false);
})();
