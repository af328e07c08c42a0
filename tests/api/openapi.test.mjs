// The desk's REST API (and POST /v1/contacts, and the survey page) against
// docs/openapi.json, in both directions, on a real gateway:
//   - every answer's status must be one the document lists for that
//     operation, and its body (JSON Schema 2020-12, by ajv), content type and
//     required headers (WWW-Authenticate, Retry-After) must match the document;
//   - every status the document lists for an operation must have been produced
//     by some request here, so the document promises nothing the server never
//     does (an operation nobody exercised fails the same way);
//   - the document itself: its references resolve, its examples validate, and
//     the request bodies sent here that the server accepted validate against
//     the documented request schemas (and those it refused as invalid fail them).
// Three gateways: one on the test database (the scenario), one whose database
// is unreachable (503 + Retry-After on every operation), one with a request
// rate of 1/s (429 + Retry-After on every operation).
//
// Failures are collected, not thrown, so that one run lists every mismatch.
// Run by tests/run-node-test.sh, which gives: INTAKE_BINARY, DB_URL, ARTIFACTS.
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { freePort, startGateway, stopGateway, sql } from '../support/gateway.mjs';

const binary = process.env.INTAKE_BINARY;
const dbUrl = process.env.DB_URL;
const artifacts = process.env.ARTIFACTS;
const apiToken = 'openapi-test-token-0123456789';
const docPath = new URL('../../docs/openapi.json', import.meta.url);
const doc = JSON.parse(readFileSync(docPath, 'utf8'));
const DOC_ID = 'urn:intake:openapi';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const failures = [];
function fail(msg) {
  failures.push(msg);
  console.error(`FAIL ${msg}`);
}
function check(cond, msg) {
  if (!cond) fail(msg);
  return !!cond;
}

// ---------------------------------------------------------------------------
// The document: references, schemas, operations.

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
// The OpenAPI document is added whole so that "#/components/..." references
// resolve; its top-level keys are no schema keywords.
for (const k of ['openapi', 'info', 'servers', 'paths', 'components', 'tags', 'security',
  'externalDocs', 'webhooks', 'jsonSchemaDialect']) ajv.addKeyword(k);
ajv.addSchema(doc, DOC_ID);

const esc = (s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1');
const unesc = (s) => s.replace(/~1/g, '/').replace(/~0/g, '~');

function at(pointer) {
  let v = doc;
  for (const part of pointer.split('/').slice(1)) {
    if (v === undefined || v === null) return undefined;
    v = v[unesc(part)];
  }
  return v;
}

// Follows OpenAPI Reference Objects; returns the object and its JSON pointer.
function deref(pointer) {
  let v = at(pointer);
  for (let hops = 0; v && typeof v.$ref === 'string' && hops < 10; hops++) {
    if (!v.$ref.startsWith('#/')) throw new Error(`non-local $ref ${v.$ref}`);
    pointer = v.$ref.slice(1);
    v = at(pointer);
  }
  return { value: v, pointer };
}

const validators = new Map();
function validatorAt(pointer) {
  if (!validators.has(pointer)) validators.set(pointer, ajv.getSchema(`${DOC_ID}#${pointer}`));
  return validators.get(pointer);
}
function schemaErrors(pointer, value) {
  const v = validatorAt(pointer);
  if (!v) return [`no schema at ${pointer}`];
  return v(value) ? [] : v.errors.map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

// Every operation, with a regexp for its path template.
const operations = [];
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  const rx = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{[^}]+\}/g, '([^/]+)')}$`);
  const literal = !path.includes('{');
  for (const m of METHODS) {
    if (!item[m]) continue;
    operations.push({
      method: m.toUpperCase(), path, rx, literal, op: item[m],
      pointer: `/paths/${esc(path)}/${m}`, pathItemPointer: `/paths/${esc(path)}`,
      id: item[m].operationId ?? `${m.toUpperCase()} ${path}`,
    });
  }
}
// Literal paths win over templates.
operations.sort((a, b) => Number(b.literal) - Number(a.literal));
const seen = new Map(operations.map((o) => [o.id, new Set()]));

function findOperation(method, path) {
  return operations.find((o) => o.method === method && o.rx.test(path));
}

function parametersOf(o) {
  const list = [...(at(`${o.pathItemPointer}/parameters`) ?? []).map((_, i) => `${o.pathItemPointer}/parameters/${i}`),
    ...(o.op.parameters ?? []).map((_, i) => `${o.pointer}/parameters/${i}`)];
  return list.map((p) => deref(p));
}

function checkDocument() {
  check(/^3\.1\.\d+$/.test(doc.openapi ?? ''), `openapi is ${doc.openapi}, not 3.1.x`);
  check(doc.info?.title && doc.info?.version, 'info.title and info.version are required');
  // Every $ref resolves.
  (function walk(v, where) {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}/${i}`));
    else if (v && typeof v === 'object') {
      if (typeof v.$ref === 'string')
        check(v.$ref.startsWith('#/') && at(v.$ref.slice(1)) !== undefined, `${where}: $ref ${v.$ref} does not resolve`);
      for (const [k, x] of Object.entries(v)) walk(x, `${where}/${esc(k)}`);
    }
  })(doc, '');
  const ids = new Set();
  for (const o of operations) {
    check(o.op.operationId && !ids.has(o.op.operationId), `${o.method} ${o.path}: missing or repeated operationId`);
    ids.add(o.op.operationId);
    check(o.op.summary, `${o.id}: no summary`);
    const statuses = Object.keys(o.op.responses ?? {});
    check(statuses.length > 0 && statuses.every((s) => /^[1-5]\d\d$/.test(s)),
      `${o.id}: responses must be explicit status codes (got ${statuses})`);
    for (const name of (o.path.match(/\{[^}]+\}/g) ?? []).map((s) => s.slice(1, -1)))
      check(parametersOf(o).some((p) => p.value?.in === 'path' && p.value.name === name),
        `${o.id}: path parameter ${name} is not described`);
    for (const p of parametersOf(o))
      for (const [n, e] of Object.entries(p.value.examples ?? {})) {
        const errs = schemaErrors(`${p.pointer}/schema`, e.value);
        check(errs.length === 0, `${o.id}: parameter ${p.value.name} example ${n}: ${errs.join('; ')}`);
      }
    for (const s of statuses) {
      const r = deref(`${o.pointer}/responses/${s}`);
      check(r.value?.description, `${o.id} ${s}: no description`);
      for (const [type, media] of Object.entries(r.value?.content ?? {})) {
        const mp = `${r.pointer}/content/${esc(type)}`;
        check(media.schema && validatorAt(`${mp}/schema`), `${o.id} ${s} ${type}: no schema`);
        check(Object.keys(media.examples ?? {}).length > 0 || s >= '400', `${o.id} ${s} ${type}: no example`);
        for (const [n, e] of Object.entries(media.examples ?? {})) {
          const errs = schemaErrors(`${mp}/schema`, deref(`${mp}/examples/${esc(n)}`).value.value);
          check(errs.length === 0, `${o.id} ${s} example ${n}: ${errs.join('; ')}`);
        }
      }
    }
    const rb = o.op.requestBody && deref(`${o.pointer}/requestBody`);
    for (const [type, media] of Object.entries(rb?.value?.content ?? {}))
      for (const [n, e] of Object.entries(media.examples ?? {})) {
        const errs = schemaErrors(`${rb.pointer}/content/${esc(type)}/schema`, e.value);
        check(errs.length === 0, `${o.id} request example ${n}: ${errs.join('; ')}`);
      }
  }
  // Examples inside component schemas.
  for (const [name, s] of Object.entries(doc.components?.schemas ?? {}))
    for (const [i, e] of (s.examples ?? []).entries()) {
      const errs = schemaErrors(`/components/schemas/${esc(name)}`, e);
      check(errs.length === 0, `schema ${name} example ${i}: ${errs.join('; ')}`);
    }
}

// ---------------------------------------------------------------------------
// Requests, and each answer checked against the document.

// The request body as the document's request schema sees it.
function requestValue(r) {
  if (r.json !== undefined) return { type: 'application/json', value: r.json };
  if (r.form !== undefined) return { type: 'application/x-www-form-urlencoded', value: r.form };
  return null;
}

// req: {method, path (with query), token, json | form | body + contentType, expect, field,
//       invalid: 'body' | 'query' (the server refuses it: the document's schema must too)}
function verify(req, res) {
  const url = new URL(req.path, 'http://x');
  const what = `${req.method} ${req.path} -> ${res.status}`;
  const o = findOperation(req.method, url.pathname);
  if (!o) {
    fail(`${what}: the document has no operation for ${req.method} ${url.pathname}`);
    return;
  }
  seen.get(o.id).add(String(res.status));
  if (req.expect !== undefined && res.status !== req.expect)
    fail(`${o.id}: ${what}, expected ${req.expect}: ${res.text.slice(0, 300)}`);
  if (!o.op.responses?.[String(res.status)]) {
    fail(`${o.id}: ${what}: status ${res.status} is not in the document (${Object.keys(o.op.responses)}): ${res.text.slice(0, 300)}`);
    return;
  }
  const r = deref(`${o.pointer}/responses/${res.status}`);
  // Headers the document requires.
  for (const [name, h0] of Object.entries(r.value.headers ?? {})) {
    const h = h0.$ref ? deref(h0.$ref.slice(1)).value : h0;
    const got = res.headers.get(name);
    if (got === null) {
      check(!h.required, `${o.id}: ${what}: header ${name} is missing`);
      continue;
    }
    const v = h.schema?.type === 'integer' && /^\d+$/.test(got) ? Number(got) : got;
    const hp = h0.$ref ? `${h0.$ref.slice(1)}/schema` : `${r.pointer}/headers/${esc(name)}/schema`;
    const errs = schemaErrors(hp, v);
    check(errs.length === 0, `${o.id}: ${what}: header ${name}: ${got}: ${errs.join('; ')}`);
  }
  // Content type and body.
  const ct = res.headers.get('content-type') ?? '';
  const content = r.value.content ?? {};
  const media = Object.keys(content).find((k) => k.split(';')[0].trim() === ct.split(';')[0].trim());
  if (!check(media, `${o.id}: ${what}: content type ${ct} is not documented (${Object.keys(content)})`)) return;
  let body = res.text;
  if (media.startsWith('application/json')) {
    try {
      body = JSON.parse(res.text);
    } catch {
      fail(`${o.id}: ${what}: body is not JSON: ${res.text.slice(0, 200)}`);
      return;
    }
  }
  const errs = schemaErrors(`${r.pointer}/content/${esc(media)}/schema`, body);
  check(errs.length === 0, `${o.id}: ${what}: body does not match the document: ${errs.join('; ')}: ${res.text.slice(0, 400)}`);
  if (req.field !== undefined)
    check(body?.field === req.field, `${o.id}: ${what}: field is ${body?.field}, expected ${req.field}`);
  // What the server took, the document's request schema takes; what it
  // refused as invalid, the document refuses too.
  const sent = requestValue(req);
  const rb = o.op.requestBody && deref(`${o.pointer}/requestBody`);
  if (sent && res.status < 300) {
    if (check(rb?.value?.content?.[sent.type], `${o.id}: ${what}: request type ${sent.type} is not documented`)) {
      const e = schemaErrors(`${rb.pointer}/content/${esc(sent.type)}/schema`, sent.value);
      check(e.length === 0, `${o.id}: ${what}: accepted body fails the documented request schema: ${e.join('; ')}`);
    }
  }
  if (sent && req.invalid === 'body' && rb?.value?.content?.[sent.type])
    check(schemaErrors(`${rb.pointer}/content/${esc(sent.type)}/schema`, sent.value).length > 0,
      `${o.id}: ${what}: the server refused ${JSON.stringify(sent.value)} but the documented request schema allows it`);
  const params = parametersOf(o).map((p) => p);
  if (res.status < 300 || req.invalid === 'query') {
    let allOk = true;
    for (const [k, v] of url.searchParams) {
      const p = params.find((x) => x.value.in === 'query' && x.value.name === k);
      if (!p) {
        allOk = false;
        check(req.invalid === 'query', `${o.id}: ${what}: query parameter ${k} is not documented`);
        continue;
      }
      const schema = deref(`${p.pointer}/schema`).value;
      let val = v;
      if (schema.type === 'array') val = v.split(',');
      else if (schema.type === 'integer' && /^-?\d+$/.test(v)) val = Number(v);
      else if (schema.type === 'boolean' && (v === 'true' || v === 'false')) val = v === 'true';
      const e = schemaErrors(`${p.pointer}/schema`, val);
      if (e.length) allOk = false;
      check(e.length === 0 || req.invalid === 'query', `${o.id}: ${what}: query ${k}=${v}: ${e.join('; ')}`);
    }
    if (req.invalid === 'query')
      check(!allOk, `${o.id}: ${what}: the server refused the query but the documented parameters allow it`);
  }
  return body;
}

let base = null; // the scenario gateway's URL

async function call(req) {
  const headers = { ...(req.headers ?? {}) };
  if (req.token) headers.authorization = `Bearer ${req.token}`;
  let body = req.body;
  if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    headers['content-type'] ??= 'application/json';
  } else if (req.form !== undefined) {
    body = new URLSearchParams(req.form).toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  }
  if (req.contentType) headers['content-type'] = req.contentType;
  const r = await fetch(`${req.base ?? base}${req.path}`, { method: req.method, headers, body, redirect: 'manual' });
  const res = { status: r.status, headers: r.headers, text: await r.text() };
  res.body = verify(req, res);
  return res;
}

// A POST whose body has no Content-Length (chunked: 411), or whose
// Content-Length is over the cap (413, refused before the body is read).
function rawPost(path, { token, chunked, length }, b = base) {
  const u = new URL(path, b);
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', connection: 'close' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (length) headers['content-length'] = String(length);
    const rq = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', headers });
    rq.on('response', (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { text += d; });
      r.on('end', () => {
        rq.destroy();
        resolve({ status: r.statusCode, headers: new Headers(Object.entries(r.headers).map(([k, v]) => [k, String(v)])), text });
      });
    });
    rq.on('error', reject);
    if (chunked) {
      rq.write('{');
      setTimeout(() => rq.end('}'), 50);
    } else {
      rq.flushHeaders();
    }
  });
}

async function raw(path, opts, expect, b) {
  const res = await rawPost(path, opts, b);
  verify({ method: 'POST', path, expect }, res);
  return res;
}

// ---------------------------------------------------------------------------
// Gateways and the database.

// A gateway named name (main, down, slow) with extra settings; its log goes
// to a file unless it is the main one (the others complain about their
// database all along).
async function startNamedGateway(name, extra) {
  const port = await freePort();
  const log = name === 'main' ? 'inherit' : openSync(`${artifacts}/openapi-${name}.log`, 'w');
  const child = await startGateway(port, apiToken, `openapi-${name}`, extra, log);
  return { child, url: `http://127.0.0.1:${port}`, name };
}

function intake(...args) {
  return execFileSync(binary, args, { encoding: 'utf8', env: { ...process.env, INTAKE_DATABASE_URL: dbUrl } }).trim();
}

function latestSurveyToken() {
  return sql("SELECT payload->>'token' FROM outbox WHERE kind = 'survey' ORDER BY id DESC LIMIT 1");
}

// ---------------------------------------------------------------------------
// The scenario.

const J = (method, path, token, json, more = {}) => call({ method, path, token, json, ...more });
const GET = (path, token, more = {}) => call({ method: 'GET', path, token, ...more });

let n = 0;
async function contact(text, who = `c${n}@example.test`) {
  n += 1;
  const r = await J('POST', '/v1/contacts', apiToken, { external_id: `openapi-${n}`,
    customer: { name: `Customer ${n}`, email: who }, subject: `case ${n}`, body: text }, { expect: 201 });
  return r.body.ticket;
}

// The usual refusals of a ticket action: tokens, content type, lengths, unknown ticket.
async function refusals(verb, good, annToken) {
  const p = (t) => `/v1/tickets/${t}/${verb}`;
  await J('POST', p('SR-999999'), annToken, good, { expect: 404 });
  await J('POST', p('SR.000001'), annToken, good, { expect: 404 });
  await J('POST', p('SR-000001'), undefined, good, { expect: 401 });
  await J('POST', p('SR-000001'), 'not-a-token-of-anyone', good, { expect: 401 });
  await call({ method: 'POST', path: p('SR-000001'), token: annToken, body: JSON.stringify(good), contentType: 'text/plain', expect: 415 });
  await raw(p('SR-000001'), { token: annToken, chunked: true }, 411);
  await raw(p('SR-000001'), { token: annToken, length: 200 * 1024 }, 413);
}

async function scenario() {
  const ann = intake('agent', 'token', 'ann@example.test');
  const sue = intake('agent', 'token', 'sue@example.test');
  const tom = intake('agent', 'token', 'tom@example.test');
  const annId = Number(sql("SELECT id FROM agents WHERE email = 'ann@example.test'"));

  // POST /v1/contacts
  const t1 = await contact('The app shows an error when I save', 'bob@example.test');
  await J('POST', '/v1/contacts', apiToken, { external_id: 'openapi-1', customer: { email: 'bob@example.test' },
    body: 'The app shows an error when I save' }, { expect: 200 });
  await J('POST', '/v1/contacts', apiToken, { external_id: 'x', customer: { email: 'bob@example.test' } },
    { expect: 400, field: 'body', invalid: 'body' });
  await J('POST', '/v1/contacts', apiToken, { external_id: 'x', customer: { email: 'not-an-address' }, body: 'hi' },
    { expect: 400, field: 'customer.email', invalid: 'body' });
  await J('POST', '/v1/contacts', apiToken, { external_id: 'x', customer: { email: 'a@example.test' }, body: 'hi', colour: 'red' },
    { expect: 400, field: 'colour', invalid: 'body' });
  await J('POST', '/v1/contacts', undefined, { external_id: 'x', customer: { email: 'a@example.test' }, body: 'hi' }, { expect: 401 });
  await J('POST', '/v1/contacts', 'wrong-token', { external_id: 'x', customer: { email: 'a@example.test' }, body: 'hi' }, { expect: 403 });
  await call({ method: 'POST', path: '/v1/contacts', token: apiToken, body: '{}', contentType: 'text/plain', expect: 415 });
  await raw('/v1/contacts', { token: apiToken, chunked: true }, 411);
  await raw('/v1/contacts', { token: apiToken, length: 1024 * 1024 }, 413);

  const t2 = await contact('The app crashes on start');
  const t3 = await contact('Login fails with an error');
  const t4 = await contact('The app freezes, error 42');
  const c1 = await contact('This is a complaint: terrible service');
  const c2 = await contact('I want to complain about the unacceptable delay');
  for (const [t, q] of [[t1, 'technical'], [t2, 'technical'], [c1, 'complaints'], [c2, 'complaints']])
    check(sql(`SELECT queue FROM tickets WHERE number = '${t}'`) === q, `${t} should be in ${q}`);

  // GET /v1/tickets
  let r = await GET('/v1/tickets', ann, { expect: 200 });
  const annSees = (r.body?.tickets ?? []).map((t) => t.number);
  check(annSees.includes(t1) && !annSees.includes(c1), `Ann's list (technical, general) is ${annSees}`);
  r = await GET(`/v1/tickets?queue=technical&status=new,open&priority=normal&assignee=none&overdue=false&limit=5`, ann, { expect: 200 });
  check(r.body?.tickets?.length >= 1 && r.body.tickets.every((t) => t.queue === 'technical' && t.assignee === null),
    'a filtered list holds only unassigned technical tickets');
  r = await GET('/v1/tickets?status=new', apiToken, { expect: 200 });
  check((r.body?.tickets ?? []).some((t) => t.number === c1), 'the API token sees every queue');
  await GET('/v1/tickets?limit=0', ann, { expect: 400, field: 'limit', invalid: 'query' });
  await GET('/v1/tickets?limit=201', ann, { expect: 400, field: 'limit', invalid: 'query' });
  await GET('/v1/tickets?status=new,bogus', ann, { expect: 400, field: 'status', invalid: 'query' });
  await GET('/v1/tickets?assignee=someone', ann, { expect: 400, field: 'assignee', invalid: 'query' });
  await GET('/v1/tickets?overdue=yes', ann, { expect: 400, field: 'overdue', invalid: 'query' });
  await GET('/v1/tickets?colour=red', ann, { expect: 400, field: 'colour', invalid: 'query' });
  // The report filters (what a report's figures link to): every status, oldest first.
  r = await GET(`/v1/tickets?created_from=2020-01-01&created_to=2099-12-31&timezone=Asia/Shanghai&channel=api&category=complaint&limit=200`, apiToken, { expect: 200 });
  check(r.body?.tickets?.length === Number(sql("SELECT count(*) FROM tickets WHERE channel = 'api' AND category = 'complaint'")),
    'the report filters list every ticket they match');
  await GET('/v1/tickets?breached=first_response&met=resolution&first_response_over=0&first_response_upto=60&rated_from=2026-01-01&rated_to=2026-01-31&rating=attitude&rating_min=1&rating_max=3', sue, { expect: 200 });
  await GET('/v1/tickets?created_from=2026-02-30', ann, { expect: 400, field: 'created_from', invalid: 'query' });
  await GET('/v1/tickets?breached=soon', ann, { expect: 400, field: 'breached', invalid: 'query' });
  await GET('/v1/tickets?rating_max=6', ann, { expect: 400, field: 'rating_max', invalid: 'query' });
  await GET('/v1/tickets?created_from=2026-01-01&timezone=Mars/Olympus', ann, { expect: 400, field: 'timezone' });
  await GET('/v1/tickets', undefined, { expect: 401 });
  await GET('/v1/tickets', 'not-a-token-of-anyone', { expect: 401 });
  await GET('/v1/tickets', undefined, { expect: 401, headers: { authorization: 'Basic YW5uOnB3' } });

  // GET /v1/search
  r = await GET(`/v1/search?q=${encodeURIComponent('errors')}`, ann, { expect: 200 });
  const annFinds = (r.body?.tickets ?? []).map((t) => t.number);
  check(annFinds.includes(t1) && annFinds.includes(t4), `Ann's search for errors finds ${annFinds}`);
  r = await GET(`/v1/search?q=${encodeURIComponent('terrible service')}`, ann, { expect: 200 });
  check(r.body?.tickets?.length === 0, 'Ann finds nothing in the complaints queue');
  r = await GET(`/v1/search?q=${encodeURIComponent('terrible service')}&limit=1`, apiToken, { expect: 200 });
  check(r.body?.tickets?.[0]?.number === c1 && r.body.tickets[0].match === 'text', 'the API token finds the complaint');
  r = await GET(`/v1/search?q=${encodeURIComponent('error')}&limit=1`, ann, { expect: 200 });
  check(typeof r.body?.next === 'string', 'a first page of one of several has a next');
  r = await GET(`/v1/search?q=error&limit=1&after=${encodeURIComponent(r.body?.next ?? '')}`, ann, { expect: 200 });
  await GET('/v1/search', ann, { expect: 400, field: 'q' });
  await GET('/v1/search?q=x&limit=0', ann, { expect: 400, field: 'limit', invalid: 'query' });
  await GET('/v1/search?q=x&limit=51', ann, { expect: 400, field: 'limit', invalid: 'query' });
  await GET('/v1/search?q=x&after=1:2', ann, { expect: 400, field: 'after', invalid: 'query' });
  await GET(`/v1/search?q=${'a'.repeat(201)}`, ann, { expect: 400, field: 'q', invalid: 'query' });
  await GET('/v1/search?q=x&colour=red', ann, { expect: 400, field: 'colour', invalid: 'query' });
  await GET('/v1/search?q=x', undefined, { expect: 401 });
  await GET('/v1/search?q=x', 'not-a-token-of-anyone', { expect: 401 });

  // POST .../transfer: c2 goes to Sue (complaints), so it is another queue's, held by another.
  r = await J('POST', `/v1/tickets/${c2}/transfer`, apiToken, { agent: 'sue@example.test' }, { expect: 200 });
  check(r.body?.assignee?.name === 'Sue', `${c2} should be Sue's now`);
  await J('POST', `/v1/tickets/${t3}/transfer`, apiToken, { queue: 'general' }, { expect: 200 });
  await J('POST', `/v1/tickets/${t3}/transfer`, apiToken, { queue: 'technical', agent: null }, { expect: 200 });
  await J('POST', `/v1/tickets/${t1}/transfer`, apiToken, { queue: 'nowhere' }, { expect: 400, field: 'queue' });
  await J('POST', `/v1/tickets/${t1}/transfer`, apiToken, { agent: 'nobody@example.test' }, { expect: 400, field: 'agent' });
  await J('POST', `/v1/tickets/${t1}/transfer`, apiToken, { agent: 7 }, { expect: 400, field: 'agent', invalid: 'body' });
  await J('POST', `/v1/tickets/${c2}/transfer`, ann, { queue: 'technical' }, { expect: 403 });
  await refusals('transfer', { queue: 'technical' }, ann);

  // GET /v1/tickets/{number}
  r = await GET(`/v1/tickets/${t1}`, ann, { expect: 200 });
  check(r.body?.messages?.[0]?.text === 'The app shows an error when I save', 'the ticket view carries the message');
  check(r.body?.customer?.identities?.some((i) => i.value === 'bob@example.test'), 'the ticket view carries the customer');
  await GET(`/v1/tickets/${c2}`, ann, { expect: 403 });
  // An unassigned ticket of a queue Ann does not serve is no more hers than an assigned one.
  await GET(`/v1/tickets/${c1}`, ann, { expect: 403 });
  await GET('/v1/tickets/SR-999999', ann, { expect: 404 });
  await GET('/v1/tickets/SR.000001', ann, { expect: 404 });
  await GET(`/v1/tickets/${t1}`, undefined, { expect: 401 });
  await GET(`/v1/tickets/${t1}`, 'not-a-token-of-anyone', { expect: 401 });

  // POST .../claim
  r = await J('POST', `/v1/tickets/${t1}/claim`, ann, {}, { expect: 200 });
  check(r.body?.assignee?.id === annId && r.body?.status === 'open', `Ann holds ${t1}, open`);
  await J('POST', `/v1/tickets/${t2}/claim`, tom, {}, { expect: 200 });
  r = await J('POST', `/v1/tickets/${t2}/claim`, ann, {}, { expect: 409 });
  check(/Tom/.test(r.body?.error ?? ''), 'the conflict names who holds the ticket');
  await J('POST', `/v1/tickets/${t2}/claim`, apiToken, {}, { expect: 400 });
  await J('POST', `/v1/tickets/${t1}/claim`, ann, { agent: 'me' }, { expect: 400, field: 'agent', invalid: 'body' });
  await J('POST', `/v1/tickets/${c2}/claim`, ann, {}, { expect: 403 });
  await J('POST', `/v1/tickets/${c1}/claim`, ann, {}, { expect: 403 });
  await refusals('claim', {}, ann);

  // POST .../replies
  r = await J('POST', `/v1/tickets/${t1}/replies`, ann, { text: 'We are on it.', key: 'openapi-reply-1' }, { expect: 201 });
  check(r.body?.duplicate === false && r.body?.outbox === true, 'a reply to an API customer goes through the outbox');
  await J('POST', `/v1/tickets/${t1}/replies`, ann, { text: 'We are on it.', key: 'openapi-reply-1' }, { expect: 200 });
  await J('POST', `/v1/tickets/${t1}/replies`, apiToken, { text: 'From the CRM.', agent: 'Li Wei', key: null }, { expect: 201 });
  await J('POST', `/v1/tickets/${t1}/replies`, ann, { key: 'k' }, { expect: 400, field: 'text', invalid: 'body' });
  await J('POST', `/v1/tickets/${t1}/replies`, ann, { text: ' \n ' }, { expect: 400, field: 'text', invalid: 'body' });
  await J('POST', `/v1/tickets/${t1}/replies`, ann, { text: 'x'.repeat(20001) }, { expect: 400, field: 'text', invalid: 'body' });
  await J('POST', `/v1/tickets/${c2}/replies`, ann, { text: 'hi' }, { expect: 403 });
  await call({ method: 'POST', path: `/v1/tickets/${t1}/replies`, token: ann, body: '[1]', contentType: 'application/json', expect: 400 });
  await refusals('replies', { text: 'hi' }, ann);

  // POST .../notes
  await J('POST', `/v1/tickets/${t1}/notes`, ann, { text: 'Customer sent logs.' }, { expect: 201 });
  await J('POST', `/v1/tickets/${t1}/notes`, ann, {}, { expect: 400, field: 'text', invalid: 'body' });
  await J('POST', `/v1/tickets/${t1}/notes`, ann, { text: 5 }, { expect: 400, field: 'text', invalid: 'body' });
  await J('POST', `/v1/tickets/${c2}/notes`, ann, { text: 'peek' }, { expect: 403 });
  await J('POST', `/v1/tickets/${c1}/notes`, ann, { text: 'peek' }, { expect: 403 });
  await refusals('notes', { text: 'hi' }, ann);

  // POST .../escalate
  r = await J('POST', `/v1/tickets/${t3}/escalate`, apiToken, { reason: 'customer is upset' }, { expect: 200 });
  check(r.body?.escalation_level === 2, 'level 2');
  r = await J('POST', `/v1/tickets/${t3}/escalate`, ann, {}, { expect: 200 });
  check(r.body?.escalation_level === 3, 'level 3');
  await J('POST', `/v1/tickets/${t3}/escalate`, ann, {}, { expect: 409 });
  await J('POST', `/v1/tickets/${t3}/escalate`, ann, { level: 3 }, { expect: 400, field: 'level', invalid: 'body' });
  await J('POST', `/v1/tickets/${c2}/escalate`, ann, {}, { expect: 403 });
  await refusals('escalate', {}, ann);

  // POST .../status
  r = await J('POST', `/v1/tickets/${t1}/status`, ann, { status: 'resolved', solution: 'Updated to 2.4.1', result: 'works' }, { expect: 200 });
  check(Number.isInteger(r.body?.survey), 'resolving sends a survey');
  const s1 = latestSurveyToken();
  await J('POST', `/v1/tickets/${t1}/status`, ann, { status: 'open' }, { expect: 200 });
  await J('POST', `/v1/tickets/${t1}/status`, ann, { status: 'resolved' }, { expect: 200 });
  const s2 = latestSurveyToken();
  check(/^[0-9a-f]{64}$/.test(s1) && /^[0-9a-f]{64}$/.test(s2) && s1 !== s2, `two survey tokens (${s1}, ${s2})`);
  await J('POST', `/v1/tickets/${t4}/status`, ann, { status: 'pending' }, { expect: 200 });
  await J('POST', `/v1/tickets/${t4}/status`, ann, { status: 'closed', result: 'duplicate of another request' }, { expect: 200 });
  r = await J('POST', `/v1/tickets/${t4}/status`, ann, { status: 'open' }, { expect: 409 });
  await J('POST', `/v1/tickets/${t4}/claim`, ann, {}, { expect: 409 });
  await J('POST', `/v1/tickets/${t4}/escalate`, ann, {}, { expect: 409 });
  await J('POST', `/v1/tickets/${t4}/replies`, ann, { text: 'too late' }, { expect: 409 });
  await J('POST', `/v1/tickets/${t4}/transfer`, ann, { queue: 'general' }, { expect: 409 });
  await J('POST', `/v1/tickets/${t1}/status`, ann, { status: 'new' }, { expect: 400, field: 'status', invalid: 'body' });
  await J('POST', `/v1/tickets/${t1}/status`, ann, { solution: 'x' }, { expect: 400, field: 'status', invalid: 'body' });
  await J('POST', `/v1/tickets/${c2}/status`, ann, { status: 'closed' }, { expect: 403 });
  await refusals('status', { status: 'open' }, ann);

  // The survey page: the form, a form with a gap, the answer, a second answer,
  // the superseded first survey, links that are not ours.
  r = await GET(`/s/${s2}`, undefined, { expect: 200 });
  check(/<form method="post">/.test(r.text) && (r.text.match(/type="radio"/g) ?? []).length === 25 &&
    ['response_speed', 'resolution_efficiency', 'attitude', 'professionalism', 'overall'].every((k) => r.text.includes(`name="${k}"`)),
  'the survey page is a form with five 1-5 ratings');
  check(r.text.includes(t1), 'the survey page names the ticket');
  const answer = { response_speed: '2', resolution_efficiency: '5', attitude: '5', professionalism: '4', overall: '3', comment: 'Slow, but fixed.' };
  const { overall, ...gap } = answer;
  r = await call({ method: 'POST', path: `/s/${s2}`, form: gap, expect: 400, invalid: 'body' });
  check(/class="problem"/.test(r.text) && /<form/.test(r.text), 'a form with a gap comes back with the problem');
  r = await call({ method: 'POST', path: `/s/${s2}`, form: answer, expect: 200 });
  check(r.text.includes('class="done"') && r.text.includes(t1), 'the answer is thanked for');
  await call({ method: 'POST', path: `/s/${s2}`, form: answer, expect: 409 });
  await GET(`/s/${s2}`, undefined, { expect: 409 });
  await GET(`/s/${s1}`, undefined, { expect: 410 });
  await call({ method: 'POST', path: `/s/${s1}`, form: answer, expect: 410 });
  await GET('/s/not-a-token', undefined, { expect: 404 });
  await GET(`/s/${'0'.repeat(64)}`, undefined, { expect: 404 });
  await call({ method: 'POST', path: '/s/not-a-token', form: answer, expect: 404 });
  await call({ method: 'POST', path: `/s/${'0'.repeat(64)}`, form: answer, expect: 404 });
  await raw(`/s/${s2}`, { chunked: true }, 411);
  await raw(`/s/${s2}`, { length: 64 * 1024 }, 413);
  check(sql(`SELECT overall FROM surveys WHERE ticket_id = (SELECT id FROM tickets WHERE number = '${t1}') AND answered_at IS NOT NULL`) === '3',
    'the answer is stored');

  // GET /v1/followups: the low ratings opened one, for the complaints queue's supervisor.
  r = await GET('/v1/followups', sue, { expect: 200 });
  const f = (r.body?.followups ?? []).find((x) => x.ticket === t1);
  check(f && f.queue === 'complaints', `Sue sees the follow-up of ${t1}`);
  r = await GET('/v1/followups', ann, { expect: 200 });
  check((r.body?.followups ?? []).length === 0, 'Ann (technical, general) sees no complaints follow-up');
  await GET('/v1/followups?all=true', apiToken, { expect: 200 });
  await GET('/v1/followups?all=false', sue, { expect: 200 });
  await GET('/v1/followups?all=maybe', sue, { expect: 400, field: 'all', invalid: 'query' });
  await GET('/v1/followups?queue=complaints', sue, { expect: 400, field: 'queue', invalid: 'query' });
  await GET('/v1/followups', undefined, { expect: 401 });
  await GET('/v1/followups', 'not-a-token-of-anyone', { expect: 401 });

  // POST /v1/followups/{id}/close
  const fid = f?.id ?? 1;
  await J('POST', `/v1/followups/${fid}/close`, sue, {}, { expect: 400, field: 'outcome', invalid: 'body' });
  await J('POST', `/v1/followups/${fid}/close`, ann, { outcome: 'not mine' }, { expect: 404 });
  r = await J('POST', `/v1/followups/${fid}/close`, sue, { outcome: 'Called the customer back.' }, { expect: 200 });
  check(r.body?.closed_by === 'Sue' && r.body?.outcome === 'Called the customer back.', 'the follow-up is closed by Sue');
  await J('POST', `/v1/followups/${fid}/close`, sue, { outcome: 'again' }, { expect: 409 });
  await J('POST', '/v1/followups/999999/close', sue, { outcome: 'x' }, { expect: 404 });
  await J('POST', '/v1/followups/abc/close', sue, { outcome: 'x' }, { expect: 404 });
  await J('POST', `/v1/followups/${fid}/close`, undefined, { outcome: 'x' }, { expect: 401 });
  await J('POST', `/v1/followups/${fid}/close`, 'not-a-token-of-anyone', { outcome: 'x' }, { expect: 401 });
  await call({ method: 'POST', path: `/v1/followups/${fid}/close`, token: sue, body: 'outcome=x', contentType: 'application/x-www-form-urlencoded', expect: 415 });
  await raw(`/v1/followups/${fid}/close`, { token: sue, chunked: true }, 411);
  await raw(`/v1/followups/${fid}/close`, { token: sue, length: 200 * 1024 }, 413);

  // GET /v1/reports: this month (UTC: the gateway has no calendar), every format, the refusals.
  const month = sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')");
  const created = Number(sql("SELECT count(*) FROM tickets WHERE created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"));
  r = await GET(`/v1/reports?period=${month}`, sue, { expect: 200 });
  check(r.body?.volume?.tickets === created && r.body?.period === month, `the report counts this month's ${created} tickets (${r.body?.volume?.tickets})`);
  r = await GET(`/v1/reports?period=${month}&format=csv&lang=zh`, apiToken, { expect: 200 });
  check(r.text.trim().split('\r\n').length === created + 1, 'the CSV has a header and a row per ticket');
  r = await GET(`/v1/reports?period=${month}&format=html&lang=zh`, sue, { expect: 200 });
  check(r.text.includes('售后服务报告'), 'the HTML report is in Chinese');
  await GET(`/v1/reports?period=${month}&format=text`, sue, { expect: 200 });
  r = await GET(`/v1/reports?period=${month}&queue=complaints&format=json`, sue, { expect: 200 });
  check(r.body?.queue === 'complaints' && r.body?.volume?.tickets === Number(sql("SELECT count(*) FROM tickets WHERE queue = 'complaints'")),
    'a queue\'s report counts its tickets');
  await GET(`/v1/reports?from=${month}-01&to=${month}-01`, apiToken, { expect: 200 });
  await GET(`/v1/reports?period=${month}`, ann, { expect: 403 });
  await GET(`/v1/reports?period=${month}`, undefined, { expect: 401 });
  await GET(`/v1/reports?period=${month}`, 'not-a-token-of-anyone', { expect: 401 });
  await GET('/v1/reports?period=2026-13', sue, { expect: 400, field: 'period', invalid: 'query' });
  await GET('/v1/reports?period=2999-01', sue, { expect: 400, field: 'period' });
  await GET(`/v1/reports?period=${month}&queue=nowhere`, sue, { expect: 400, field: 'queue' });
  await GET(`/v1/reports?period=${month}&format=pdf`, sue, { expect: 400, field: 'format', invalid: 'query' });
  await GET(`/v1/reports?period=${month}&lang=fr`, sue, { expect: 400, field: 'lang', invalid: 'query' });
  await GET(`/v1/reports?period=${month}&colour=red`, sue, { expect: 400, field: 'colour', invalid: 'query' });
  await GET(`/v1/reports?from=${month}-01`, sue, { expect: 400, field: 'to' });
  await GET('/v1/reports?from=2026-02-30&to=2026-03-01', sue, { expect: 400, field: 'from', invalid: 'query' });

  // GET /v1/agent/me and POST /v1/agent/presence
  r = await GET('/v1/agent/me', ann, { expect: 200 });
  check(r.body?.email === 'ann@example.test' && r.body?.queues?.join() === 'general,technical', 'me is Ann');
  await GET('/v1/agent/me', apiToken, { expect: 400 });
  await GET('/v1/agent/me', undefined, { expect: 401 });
  await GET('/v1/agent/me', 'not-a-token-of-anyone', { expect: 401 });
  const waiting = Number(sql("SELECT count(*) FROM tickets WHERE queue = 'complaints' AND assignee_id IS NULL AND status IN ('new', 'open', 'pending')"));
  r = await J('POST', '/v1/agent/presence', sue, { presence: 'online' }, { expect: 200 });
  check(r.body?.presence === 'online' && r.body?.assigned === waiting,
    `Sue, online, is handed the ${waiting} waiting complaint(s) (${r.body?.assigned})`);
  await J('POST', '/v1/agent/presence', ann, { presence: 'away' }, { expect: 200 });
  await J('POST', '/v1/agent/presence', ann, { presence: 'busy' }, { expect: 400, field: 'presence', invalid: 'body' });
  await J('POST', '/v1/agent/presence', ann, {}, { expect: 400, field: 'presence', invalid: 'body' });
  await J('POST', '/v1/agent/presence', apiToken, { presence: 'online' }, { expect: 400 });
  await J('POST', '/v1/agent/presence', undefined, { presence: 'online' }, { expect: 401 });
  await J('POST', '/v1/agent/presence', 'not-a-token-of-anyone', { presence: 'online' }, { expect: 401 });
  await call({ method: 'POST', path: '/v1/agent/presence', token: ann, body: '{"presence":"online"}', contentType: 'text/plain', expect: 415 });
  await raw('/v1/agent/presence', { token: ann, chunked: true }, 411);
  await raw('/v1/agent/presence', { token: ann, length: 200 * 1024 }, 413);

  // Last, because it has stopped the gateway before: a POST without a body
  // (Content-Length: 0), which claim documents as fine.
  const fresh = await contact('The app crashes when I print');
  try {
    await call({ method: 'POST', path: `/v1/tickets/${fresh}/claim`, token: ann, expect: 200 });
  } catch (e) {
    fail(`claimTicket: POST /v1/tickets/${fresh}/claim with Content-Length: 0 got no answer (${e.cause?.code ?? e.message})`);
  }
}

// A person's data and the audit trail: supervisors and the API token only.
async function privacyScenario() {
  intake('agent', 'add', '--name', 'Pia', '--email', 'pia@example.test', '--role', 'supervisor');
  const pia = intake('agent', 'token', 'pia@example.test');
  const max = intake('agent', 'token', 'tom@example.test');
  await contact('Please erase me', 'eve@example.test');
  const num = (email) => sql(`SELECT c.number FROM customers c JOIN customer_identities i ON i.customer_id = c.id WHERE i.value = '${email}'`);
  const bob = num('bob@example.test');
  const eve = num('eve@example.test');
  const exp = (n) => `/v1/customers/${n}/export`;
  const era = (n) => `/v1/customers/${n}/erase`;

  // GET .../export
  let r = await GET(exp(bob), pia, { expect: 200 });
  check(r.headers.get('content-type') === 'application/zip' && r.text.startsWith('PK'), 'the export is a zip by default');
  r = await GET(exp(bob), apiToken, { expect: 200, headers: { accept: 'application/json' } });
  check(r.body?.identities?.some((i) => i.value === 'bob@example.test'), 'the JSON export holds the identities');
  await GET(exp(bob), max, { expect: 403 });
  await GET(exp(bob), undefined, { expect: 401 });
  await GET(exp(bob), 'not-a-token-of-anyone', { expect: 401 });
  await GET(exp('C-999999'), pia, { expect: 404 });
  await GET(`${exp(bob)}?format=zip`, pia, { expect: 400, invalid: 'query' });
  // A customer number that is also another customer's chat identity: which one is meant?
  sql(`INSERT INTO customer_identities (kind, value, customer_id) SELECT 'chat', lower('${bob}'), customer_id FROM customer_identities WHERE value = 'eve@example.test'`);
  await GET(exp(bob), pia, { expect: 409 });
  await J('POST', era(bob), pia, { confirm: bob }, { expect: 409 });
  sql(`DELETE FROM customer_identities WHERE kind = 'chat' AND value = lower('${bob}')`);
  // More mail and attachments than an API export carries.
  sql(`INSERT INTO attachments (message_id, filename, size_bytes, sha256, content) SELECT m.id, 'big.bin', 67108865, sha256('x'::bytea), convert_to(repeat('x', 67108865), 'UTF8') FROM messages m JOIN tickets t ON t.id = m.ticket_id JOIN customers c ON c.id = t.customer_id WHERE c.number = '${bob}' LIMIT 1`);
  await GET(exp(bob), pia, { expect: 413 });
  sql("DELETE FROM attachments WHERE filename = 'big.bin'");

  // POST .../erase
  await J('POST', era(eve), pia, {}, { expect: 400, field: 'confirm', invalid: 'body' });
  await J('POST', era(eve), pia, { confirm: 'x'.repeat(65) }, { expect: 400, field: 'confirm', invalid: 'body' });
  await J('POST', era(eve), pia, { confirm: eve, why: 'asked' }, { expect: 400, field: 'why', invalid: 'body' });
  await J('POST', era(eve), max, { confirm: eve }, { expect: 403 });
  await J('POST', era(eve), undefined, { confirm: eve }, { expect: 401 });
  await J('POST', era('C-999999'), pia, { confirm: 'C-999999' }, { expect: 404 });
  await call({ method: 'POST', path: era(eve), token: pia, body: `confirm=${eve}`, contentType: 'application/x-www-form-urlencoded', expect: 415 });
  await raw(era(eve), { token: pia, chunked: true }, 411);
  await raw(era(eve), { token: pia, length: 200 * 1024 }, 413);
  check(num('eve@example.test') === eve, 'refusals erased nothing');
  r = await J('POST', era(eve), pia, { confirm: eve }, { expect: 200 });
  check(r.body?.customer === eve && r.body?.tickets === 1, `${eve} is erased`);
  check(num('eve@example.test') === '', 'nobody is known by the erased address');

  // GET /v1/audit
  r = await GET('/v1/audit?limit=2', pia, { expect: 200 });
  check(r.body?.entries?.length === 2 && r.body.entries[0].action === 'customer.erase' && r.body.entries[0].actor_name === 'Pia',
    'the newest entry is the erase, by Pia');
  r = await GET(`/v1/audit?limit=200&after=${r.body?.next}`, apiToken, { expect: 200 });
  check(r.body?.entries?.some((e) => e.action === 'customer.export' && e.subject === bob), 'the exports are in the trail');
  check(r.body?.entries?.some((e) => e.action === 'customer.view'), 'ticket views are in the trail');
  await GET('/v1/audit?limit=0', pia, { expect: 400, field: 'limit', invalid: 'query' });
  await GET('/v1/audit?after=abc', pia, { expect: 400, field: 'after', invalid: 'query' });
  await GET('/v1/audit?subject=C-000001', pia, { expect: 400, invalid: 'query' });
  await GET('/v1/audit', max, { expect: 403 });
  await GET('/v1/audit', undefined, { expect: 401 });
}

// One request per operation, with what would be a good request otherwise.
function oneOfEach(token) {
  const form = { response_speed: '5', resolution_efficiency: '5', attitude: '5', professionalism: '5', overall: '5' };
  const tok = 'a'.repeat(64);
  return [
    { method: 'GET', path: '/v1/tickets', token },
    { method: 'GET', path: '/v1/search?q=x', token },
    { method: 'GET', path: '/v1/tickets/SR-000001', token },
    { method: 'POST', path: '/v1/tickets/SR-000001/claim', token, json: {} },
    { method: 'POST', path: '/v1/tickets/SR-000001/transfer', token, json: { queue: 'general' } },
    { method: 'POST', path: '/v1/tickets/SR-000001/replies', token, json: { text: 'hi' } },
    { method: 'POST', path: '/v1/tickets/SR-000001/notes', token, json: { text: 'hi' } },
    { method: 'POST', path: '/v1/tickets/SR-000001/status', token, json: { status: 'open' } },
    { method: 'POST', path: '/v1/tickets/SR-000001/escalate', token, json: {} },
    { method: 'GET', path: '/v1/agent/me', token },
    { method: 'POST', path: '/v1/agent/presence', token, json: { presence: 'online' } },
    { method: 'GET', path: '/v1/followups', token },
    { method: 'POST', path: '/v1/followups/1/close', token, json: { outcome: 'x' } },
    { method: 'POST', path: '/v1/contacts', token: apiToken,
      json: { external_id: 'down-1', customer: { email: 'a@example.test' }, body: 'hi' } },
    { method: 'GET', path: `/s/${tok}` },
    { method: 'GET', path: '/v1/reports?period=2026-11', token },
    { method: 'POST', path: `/s/${tok}`, form },
    // privacy
    { method: 'GET', path: '/v1/customers/C-000001/export', token },
    { method: 'POST', path: '/v1/customers/C-000001/erase', token, json: { confirm: 'C-000001' } },
    { method: 'GET', path: '/v1/audit', token },
  ];
}

// The database is away: every operation says 503 + Retry-After.
async function databaseDown(gw) {
  for (const req of oneOfEach('some-agent-token'))
    await call({ ...req, base: gw.url, expect: 503 });
}

// Over the request rate: every operation says 429 + Retry-After.
async function rateLimited(gw) {
  for (const req of oneOfEach('some-agent-token')) {
    for (let i = 0; i < 5; i++) {
      const r = await call({ ...req, base: gw.url });
      if (r.status === 429) break;
      check(i < 4, `${req.method} ${req.path}: never 429 at 1 request/s`);
    }
  }
}

function coverage() {
  const lines = [];
  for (const o of operations) {
    const documented = Object.keys(o.op.responses ?? {});
    const got = seen.get(o.id);
    if (got.size === 0) fail(`${o.id} (${o.method} ${o.path}) was never exercised`);
    for (const s of documented)
      if (!got.has(s)) fail(`${o.id}: the document lists ${s}, but no request here produced it`);
    lines.push(`${o.id.padEnd(16)} ${documented.map((s) => (got.has(s) ? s : `!${s}`)).join(' ')}`);
  }
  writeFileSync(`${artifacts}/openapi-coverage.txt`, `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
}

mkdirSync(artifacts, { recursive: true });
checkDocument();
intake('agent', 'add', '--name', 'Ann', '--email', 'ann@example.test', '--queues', 'technical,general');
intake('agent', 'add', '--name', 'Sue', '--email', 'sue@example.test', '--role', 'supervisor', '--queues', 'complaints');
intake('agent', 'add', '--name', 'Tom', '--email', 'tom@example.test', '--queues', 'technical');
// Surveys wait an hour in the outbox (so the test reads the link's token);
// failed tokens are not limited here (the rate gateway tests 429).
const gateways = [];
let failed = false;
try {
  const main = await startNamedGateway('main', { surveys: { delay_minutes: 60 },
    limits: { auth_failures_per_minute: 100000 } });
  gateways.push(main);
  const down = await startNamedGateway('down', { database_url: 'postgresql://postgres@127.0.0.1:9/none?connect_timeout=1' });
  gateways.push(down);
  const slow = await startNamedGateway('slow', { database_url: 'postgresql://postgres@127.0.0.1:9/none?connect_timeout=1',
    limits: { requests_per_second_per_client: 1, request_burst: 1 } });
  gateways.push(slow);
  base = main.url;
  await scenario();
  await privacyScenario();
  await databaseDown(down);
  await rateLimited(slow);
  coverage();
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  for (const gw of gateways) {
    const code = await stopGateway(gw.child);
    if (code !== 0) {
      console.error(`gateway ${gw.name} exit status ${code}`);
      failed = true;
    }
  }
}
if (failures.length) {
  console.error(`\n${failures.length} mismatch(es) between the server and docs/openapi.json:`);
  for (const f of failures) console.error(`  - ${f}`);
}
if (!failed && !failures.length) console.log('ok: every operation matches docs/openapi.json');
process.exit(failed || failures.length ? 1 : 0);
