// The console's Reports view, for leads and supervisors: a period picker, the
// headline figures against their targets, and four charts drawn as plain SVG
// (volume per day by channel, first-response times, satisfaction per
// dimension, SLA met by priority). Every figure and bar is a link to the
// ticket list filtered to exactly the tickets it counts (GET /v1/tickets with
// the report filters of desk/report_list.c), shown under the charts.
// The report itself comes from GET /v1/reports (served from the gateway's
// cache, docs/reports.md). console.js tells this file who signed in
// ("intake:me") and when they leave ("intake:signout").
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var SVG = 'http://www.w3.org/2000/svg';
  var langKey = 'intake-reports-lang';
  var lang = localStorage.getItem(langKey) || (/^zh/i.test(navigator.language) ? 'zh' : 'en');
  var report = null;   // the report shown
  var asked = 0;       // answers to older requests are dropped
  var COLORS = ['#2457c5', '#e0812b', '#2a9d4b', '#b3261e', '#7b4fc4', '#5d6b7e', '#0f8b8d'];

  var WORDS = {
    en: {
      reports: 'Reports', title: 'Service report', back: 'Back to tickets', period: 'Period',
      tickets: 'Tickets', satisfied: 'Satisfied customers', followups: 'Follow-ups on time',
      answered: 'First response in time', resolution: 'Resolution rate', target: 'target',
      none: 'no data', asOf: 'figures as of', perDay: 'Tickets per day by channel',
      frDist: 'First response time', satDim: 'Satisfaction per dimension (answers rated 1-5)',
      slaPrio: 'SLA met by priority', frMet: 'first response', resMet: 'resolution',
      list: 'Tickets', count: function (n, more) { return (more ? 'over ' : '') + n + ' ticket' + (n === 1 ? '' : 's'); },
      loading: 'Loading…', buckets: ['≤ 15 min', '15-60 min', '1-4 h', '4-24 h', '> 24 h'],
      dims: { response_speed: 'Response speed', resolution_efficiency: 'Resolution efficiency',
        attitude: 'Attitude', professionalism: 'Professionalism', overall: 'Overall' },
      prios: { urgent: 'urgent', important: 'important', normal: 'normal' }
    },
    zh: {
      reports: '报表', title: '售后服务报告', back: '返回工单', period: '期间',
      tickets: '工单数', satisfied: '客户满意度', followups: '反馈处理及时率',
      answered: '首次响应及时率', resolution: '问题解决率', target: '目标',
      none: '无数据', asOf: '数据时间', perDay: '每日工单量（按渠道）',
      frDist: '首次响应时长分布', satDim: '各维度满意度（1-5 分评价数）',
      slaPrio: '各优先级 SLA 达成率', frMet: '首次响应', resMet: '解决',
      list: '工单', count: function (n, more) { return (more ? '超过 ' : '') + n + ' 张工单'; },
      loading: '加载中…', buckets: ['≤ 15 分钟', '15-60 分钟', '1-4 小时', '4-24 小时', '> 24 小时'],
      dims: { response_speed: '响应速度', resolution_efficiency: '解决效率', attitude: '服务态度',
        professionalism: '专业程度', overall: '总体满意度' },
      prios: { urgent: '紧急', important: '重要', normal: '一般' }
    }
  };
  var w = function () { return WORDS[lang]; };

  // An element (HTML, or SVG when ns is given) with attributes and children (text or nodes).
  function make(ns, tag, attrs, children) {
    var e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function el(tag, attrs, children) { return make(null, tag, attrs, children); }
  function svg(tag, attrs, children) { return make(SVG, tag, attrs, children); }

  function token() {
    try { return JSON.parse(localStorage.getItem('intake-agent:' + location.host)).token; } catch (e) { return null; }
  }
  function get(path) {
    return fetch(path, { headers: { authorization: 'Bearer ' + token() } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  // The periods offered: this month and the eleven before it, this quarter and the three before.
  function periods() {
    var now = new Date(), list = [];
    for (var i = 0; i < 12; i++) {
      var d = new Date(now.getFullYear(), now.getMonth() - i, 1);
      list.push(d.getFullYear() + '-' + (d.getMonth() < 9 ? '0' : '') + (d.getMonth() + 1));
    }
    var q = Math.floor(now.getMonth() / 3), y = now.getFullYear();
    for (var k = 0; k < 4; k++) {
      list.push(y + '-Q' + (q + 1));
      if (--q < 0) { q = 3; y--; }
    }
    return list;
  }

  function build() {
    var view = $('reports-view');
    var picker = el('select', { id: 'rp-period', 'data-testid': 'report-period' },
      periods().map(function (p) { return el('option', { value: p }, [p]); }));
    var langs = el('select', { id: 'rp-lang', 'data-testid': 'report-lang' },
      [el('option', { value: 'en' }, ['English']), el('option', { value: 'zh' }, ['中文'])]);
    langs.value = lang;
    view.appendChild(el('div', { class: 'filters' }, [
      el('strong', { id: 'rp-title' }), el('label', {}, [el('span', { id: 'rp-period-label' }), ' ', picker]),
      langs, el('button', { id: 'rp-back', type: 'button', 'data-testid': 'report-back' })]));
    view.appendChild(el('p', { id: 'rp-status', class: 'muted', 'data-testid': 'report-status' }));
    view.appendChild(el('p', { id: 'rp-error', class: 'error', role: 'alert', 'data-testid': 'report-error' }));
    view.appendChild(el('div', { id: 'rp-kpis', class: 'kpis', 'data-testid': 'report-kpis' }));
    view.appendChild(el('div', { id: 'rp-charts', class: 'charts' }));
    view.appendChild(el('div', { id: 'rp-list', 'data-testid': 'report-list', hidden: '' }, [
      el('h3', { id: 'rp-list-title' }),
      el('p', { id: 'rp-list-count', 'data-testid': 'report-list-count' }),
      el('table', {}, [el('tbody', { id: 'rp-list-rows' })])]));
    picker.addEventListener('change', load);
    langs.addEventListener('change', function () {
      lang = langs.value;
      localStorage.setItem(langKey, lang);
      $('rp-list').hidden = true;
      words();
      draw();
    });
    $('rp-back').addEventListener('click', function () { show(false); });
    $('reports-toggle').addEventListener('click', function () { show(true); });
  }

  function words() {
    $('reports-toggle').textContent = w().reports;
    $('rp-title').textContent = w().title;
    $('rp-period-label').textContent = w().period;
    $('rp-back').textContent = w().back;
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }

  function show(on) {
    $('reports-view').hidden = !on;
    $('app').hidden = on;
    if (on) load();
  }

  function load() {
    var mine = ++asked;
    var period = $('rp-period').value;
    $('rp-status').textContent = w().loading;
    $('rp-error').textContent = '';
    $('rp-list').hidden = true;
    get('/v1/reports?period=' + encodeURIComponent(period) + '&format=json').then(function (r) {
      if (mine !== asked) return;
      report = r;
      draw();
    }, function (e) {
      if (mine !== asked) return;
      report = null;
      $('rp-status').textContent = '';
      $('rp-error').textContent = e.message;
      $('rp-kpis').textContent = '';
      $('rp-charts').textContent = '';
    });
  }

  // ---- links: the filters of the tickets a figure counts ---------------------

  function dayBefore(iso) {
    var d = new Date(iso + 'T12:00:00Z');
    d.setUTCDate(d.getUTCDate() - 1);
    return d.toISOString().slice(0, 10);
  }
  function created(from, to) {
    var f = { created_from: from || report.from, created_to: to || dayBefore(report.to), timezone: report.timezone };
    if (report.queue) f.queue = report.queue;
    return f;
  }
  function rated(extra) {
    var f = { rated_from: report.from, rated_to: dayBefore(report.to), timezone: report.timezone };
    if (report.queue) f.queue = report.queue;
    return Object.assign(f, extra || {});
  }
  // Makes node a link to the tickets of filters, titled title.
  function linkTo(node, filters, title) {
    node.setAttribute('data-filters', new URLSearchParams(filters).toString());
    node.setAttribute('tabindex', '0');
    node.setAttribute('role', 'link');
    node.classList.add('drill');
    var go = function () { listTickets(filters, title); };
    node.addEventListener('click', go);
    node.addEventListener('keydown', function (e) { if (e.key === 'Enter') go(); });
    return node;
  }

  // Every page of the list (keyset: next), at most 25 pages of 200.
  function listTickets(filters, title) {
    var mine = ++asked;
    var rows = [];
    $('rp-list').hidden = false;
    $('rp-list-title').textContent = w().list + ': ' + title;
    $('rp-list-count').textContent = w().loading;
    $('rp-list-count').removeAttribute('data-count');
    $('rp-list-rows').textContent = '';
    function page(after, n) {
      var q = new URLSearchParams(filters);
      q.set('limit', '200');
      if (after) q.set('after', after);
      return get('/v1/tickets?' + q.toString()).then(function (body) {
        if (mine !== asked) return;
        rows = rows.concat(body.tickets || []);
        if (body.next && n < 25) return page(body.next, n + 1);
        $('rp-list-count').textContent = w().count(rows.length, !!body.next);
        $('rp-list-count').setAttribute('data-count', String(rows.length));
        rows.slice(0, 500).forEach(function (t) {
          $('rp-list-rows').appendChild(el('tr', { 'data-number': t.number }, [
            el('td', {}, [el('a', { href: '/agent/#' + encodeURIComponent(t.number) }, [t.number])]),
            el('td', {}, [t.subject || t.summary || '']), el('td', {}, [t.channel]),
            el('td', {}, [t.status]), el('td', {}, [t.priority]),
            el('td', { class: 'muted' }, [new Date(t.created_at).toLocaleString()])]));
        });
      });
    }
    page(null, 0).catch(function (e) { $('rp-list-count').textContent = e.message; });
  }

  // ---- drawing ---------------------------------------------------------------

  function pct(v) { return v === null || v === undefined ? '–' : v + ' %'; }

  function kpi(label, value, target, testid) {
    var cls = target === undefined ? 'kpi' : value === null || value === undefined ? 'kpi none'
      : value >= target ? 'kpi met' : 'kpi missed';
    var note = target === undefined ? '' : w().target + ' ≥ ' + target + ' %' +
      (value === null || value === undefined ? ' · ' + w().none : '');
    return el('div', { class: cls, 'data-testid': testid }, [
      el('div', { class: 'v' }, [typeof value === 'number' && target !== undefined ? pct(value) : String(value === null ? '–' : value)]),
      el('div', {}, [label]), el('div', { class: 't' }, [note])]);
  }

  function draw() {
    if (!report) return;
    var r = report;
    $('rp-status').textContent = r.period + ' (' + r.from + ' – ' + dayBefore(r.to) + ', ' + r.timezone + ') · ' +
      w().asOf + ' ' + new Date(r.as_of).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en');
    var k = $('rp-kpis');
    k.textContent = '';
    k.appendChild(linkTo(kpi(w().tickets, r.volume.tickets, undefined, 'kpi-tickets'), created(), w().tickets));
    k.appendChild(linkTo(kpi(w().satisfied, r.satisfaction.satisfied_pct, r.satisfaction.target_pct, 'kpi-satisfied'),
      rated({ rating: 'overall', rating_min: '4' }), w().satisfied));
    k.appendChild(kpi(w().followups, r.followups.on_time_pct, r.followups.target_pct, 'kpi-followups'));
    k.appendChild(linkTo(kpi(w().answered, pct(r.first_response.within_deadline_pct), undefined, 'kpi-answered'),
      Object.assign(created(), { met: 'first_response' }), w().answered));
    k.appendChild(linkTo(kpi(w().resolution, pct(r.resolution.resolution_rate_pct), undefined, 'kpi-resolution'),
      Object.assign(created(), { status: 'resolved,closed' }), w().resolution));
    var c = $('rp-charts');
    c.textContent = '';
    c.appendChild(perDay(r));
    c.appendChild(firstResponse(r));
    c.appendChild(satisfaction(r));
    c.appendChild(slaByPriority(r));
  }

  function figure(title, testid, body) {
    return el('figure', { 'data-testid': testid }, [el('figcaption', {}, [title]), body]);
  }

  // Stacked bars: one per day, a segment per channel.
  function perDay(r) {
    var days = r.volume.per_day, channels = Object.keys(r.volume.by_channel).sort();
    var max = Math.max(1, Math.max.apply(null, days.map(function (d) { return d.tickets; })));
    var W = 760, H = 200, bw = W / Math.max(days.length, 1);
    var g = svg('svg', { viewBox: '0 0 ' + W + ' ' + (H + 40), role: 'img' });
    days.forEach(function (d, i) {
      var y = H;
      channels.forEach(function (ch, j) {
        var n = d.by_channel[ch] || 0;
        if (!n) return;
        var h = n / max * H;
        y -= h;
        var rect = svg('rect', { x: i * bw + 1, y: y, width: Math.max(bw - 2, 1), height: h, fill: COLORS[j % COLORS.length],
          'data-testid': 'bar-day', 'data-day': d.day, 'data-channel': ch, 'data-value': n },
        [svg('title', {}, [d.day + ' ' + ch + ': ' + n])]);
        g.appendChild(linkTo(rect, Object.assign(created(d.day, d.day), { channel: ch }), d.day + ' · ' + ch));
      });
      if (days.length <= 31 && (i % 5 === 0)) g.appendChild(svg('text', { x: i * bw, y: H + 14 }, [d.day.slice(5)]));
    });
    var legend = el('div', { class: 'legend' }, channels.map(function (ch, j) {
      return el('span', {}, [el('i', { style: 'background:' + COLORS[j % COLORS.length] }), ch]);
    }));
    return figure(w().perDay, 'chart-per-day', el('div', {}, [g, legend]));
  }

  // Horizontal bars with a label and a value, each a link.
  function hbars(items, testid) {
    var max = Math.max(1, Math.max.apply(null, items.map(function (b) { return b.value; })));
    var W = 760, row = 24, g = svg('svg', { viewBox: '0 0 ' + W + ' ' + (items.length * row + 4), role: 'img' });
    items.forEach(function (b, i) {
      g.appendChild(svg('text', { x: 0, y: i * row + 16 }, [b.label]));
      var rect = svg('rect', { x: 170, y: i * row + 4, width: Math.max(b.value / max * (W - 260), b.value ? 2 : 0), height: row - 8,
        fill: b.color || COLORS[0], 'data-testid': testid, 'data-key': b.key, 'data-value': b.value },
      [svg('title', {}, [b.label + ': ' + b.text])]);
      g.appendChild(b.filters ? linkTo(rect, b.filters, b.label) : rect);
      g.appendChild(svg('text', { x: 176 + b.value / max * (W - 260), y: i * row + 16 }, [b.text]));
    });
    return g;
  }

  function firstResponse(r) {
    var d = r.first_response.distribution;
    var limits = [[null, 15, 'up_to_15_min'], [15, 60, 'up_to_1_h'], [60, 240, 'up_to_4_h'], [240, 1440, 'up_to_24_h'], [1440, null, 'over_24_h']];
    return figure(w().frDist, 'chart-first-response', hbars(limits.map(function (l, i) {
      var f = created();
      if (l[0] !== null) f.first_response_over = String(l[0]);
      if (l[1] !== null) f.first_response_upto = String(l[1]);
      return { key: l[2], label: w().buckets[i], value: d[l[2]], text: String(d[l[2]]), filters: f };
    }), 'bar-first-response'));
  }

  // One row per dimension: its 1-5 answers stacked, the mean after them.
  function satisfaction(r) {
    var dims = ['response_speed', 'resolution_efficiency', 'attitude', 'professionalism', 'overall'];
    var W = 760, row = 26, g = svg('svg', { viewBox: '0 0 ' + W + ' ' + (dims.length * row + 4), role: 'img' });
    var shades = ['#b3261e', '#e0812b', '#c9b400', '#7cc47f', '#2a9d4b'];
    var most = Math.max(1, Math.max.apply(null, dims.map(function (k) { return r.satisfaction.dimensions[k].answers; })));
    dims.forEach(function (k, i) {
      var dim = r.satisfaction.dimensions[k], x = 170;
      g.appendChild(svg('text', { x: 0, y: i * row + 17 }, [w().dims[k]]));
      [1, 2, 3, 4, 5].forEach(function (v) {
        var n = dim.distribution[String(v)] || 0;
        if (!n) return;
        var wd = n / most * (W - 260);
        var rect = svg('rect', { x: x, y: i * row + 4, width: wd, height: row - 8, fill: shades[v - 1],
          'data-testid': 'bar-rating', 'data-dimension': k, 'data-rating': v, 'data-value': n },
        [svg('title', {}, [w().dims[k] + ' ' + v + ': ' + n])]);
        g.appendChild(linkTo(rect, rated({ rating: k, rating_min: String(v), rating_max: String(v) }), w().dims[k] + ' = ' + v));
        x += wd;
      });
      g.appendChild(svg('text', { x: x + 6, y: i * row + 17 }, [dim.mean === null ? '–' : String(dim.mean)]));
    });
    return figure(w().satDim, 'chart-satisfaction', g);
  }

  function slaByPriority(r) {
    var items = [];
    ['urgent', 'important', 'normal'].forEach(function (p) {
      var x = r.resolution.by_priority[p];
      if (!x) return;
      [['answered_within_deadline_pct', 'first_response', w().frMet, COLORS[0]],
        ['resolved_within_deadline_pct', 'resolution', w().resMet, COLORS[2]]].forEach(function (m) {
        items.push({ key: p + ':' + m[1], label: w().prios[p] + ' · ' + m[2], value: x[m[0]] || 0, text: pct(x[m[0]]),
          color: m[3], filters: Object.assign(created(), { priority: p, met: m[1] }) });
      });
    });
    return figure(w().slaPrio, 'chart-sla', hbars(items, 'bar-sla'));
  }

  // ---- who may see it ------------------------------------------------------

  build();
  words();
  document.addEventListener('intake:me', function (e) {
    var lead = e.detail && (e.detail.role === 'lead' || e.detail.role === 'supervisor');
    $('reports-toggle').hidden = !lead;
    if (!lead) show(false);
  });
  document.addEventListener('intake:signout', function () {
    $('reports-toggle').hidden = true;
    $('reports-view').hidden = true;
    report = null;
  });
}());
