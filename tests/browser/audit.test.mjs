// The console's Audit view in Debian's chromium (playwright-core): a plain
// agent has no Audit button; a supervisor opens the view and reads the trail
// newest first, fifty entries a page with older ones on demand (checked
// against audit_log in PostgreSQL), including the agents made and their
// tokens; when the supervisor opens a ticket, the view's newest entry says
// that they opened that customer's record. Everything is drawn as text: a
// customer name with markup stays text.
//
// Run by tests/run-node-test.sh, which gives: INTAKE_BINARY, DB_URL, ARTIFACTS.
import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, apiCall, freePort, intake, startGateway, stopGateway, sql,
} from '../support/gateway.mjs';

const binary = process.env.INTAKE_BINARY;
const dbUrl = process.env.DB_URL;
const artifacts = process.env.ARTIFACTS;
const apiToken = 'browser-audit-token-0123456789';
const WAIT = 15000;


const call = (port, method, path, body, status) =>
  apiCall(port, apiToken, method, path, body, status);

async function signIn(page, port, token, name) {
  await page.goto(`http://127.0.0.1:${port}/agent/`);
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('signin-button').click();
  await page.locator('#me-name', { hasText: name }).waitFor();
}

mkdirSync(artifacts, { recursive: true });
const sue = JSON.parse(intake('agent', 'add', '--name', 'Sue', '--email', 'sue@example.test',
  '--role', 'supervisor', '--queues', 'complaints'));
intake('agent', 'add', '--name', 'Ann', '--email', 'ann@example.test', '--queues', 'technical');
const sueToken = intake('agent', 'token', 'sue@example.test');
const annToken = intake('agent', 'token', 'ann@example.test');

const port = await freePort();
const gw = await startGateway(port, apiToken, 'audit');
const browser = await chromium.launch(CHROMIUM);
let failed = false;
try {
  const made = await call(port, 'POST', '/v1/contacts', {
    external_id: 'audit-1', customer: { email: 'li.na@example.test', name: '<b>Li Na</b>' },
    subject: 'Where is my parcel', body: 'Order 5521 has not arrived.',
  }, 201);
  const ticket = made.ticket;
  const customer = made.customer;
  // 55 views of the customer's record by a tool write one entry (one per agent and
  // customer in ten minutes); 54 more, as if from the hours before, make more than one
  // page of the trail (after 2 agents made, given queues and tokens: 6 entries).
  for (let i = 0; i < 55; i++) await call(port, 'GET', `/v1/tickets/${ticket}`, undefined, 200);
  assert.equal(sql("SELECT count(*) FROM audit_log WHERE action = 'customer.view'"), '1');
  sql(`INSERT INTO audit_log (actor, action, subject, at) SELECT 'api', 'customer.view', '${customer}', `
    + "now() - g * interval '11 minutes' FROM generate_series(1, 54) g");
  const total = Number(sql('SELECT count(*) FROM audit_log'));
  assert.equal(total, 61, `${total} audit entries`);

  // A plain agent sees no Audit button.
  const annPage = await browser.newPage({ locale: 'en-US' });
  annPage.setDefaultTimeout(WAIT);
  await signIn(annPage, port, annToken, 'Ann');
  assert.equal(await annPage.getByTestId('audit-toggle').isVisible(), false);
  await annPage.close();

  // The supervisor reads the trail: a page of 50, then the rest.
  const page = await browser.newPage({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT);
  await signIn(page, port, sueToken, 'Sue');
  await page.getByTestId('audit-toggle').click();
  const rows = page.getByTestId('audit-row');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=audit-row]').length === 50);
  assert.equal(await page.locator('#app').isVisible(), false);
  assert.equal(await rows.first().getAttribute('data-action'), 'customer.view');
  assert.equal(await rows.first().getByTestId('audit-actor').textContent(), 'api');
  assert.equal(await rows.first().getByTestId('audit-subject').textContent(), customer);
  await page.getByTestId('audit-more').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=audit-row]').length === n, total);
  assert.equal(await page.getByTestId('audit-more').isVisible(), false);
  // The oldest entries: the agents made, given queues and tokens by the command line.
  const actions = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-action')));
  assert.deepEqual(actions.slice(-6), ['agent.token_issue', 'agent.token_issue', 'agent.queues',
    'agent.create', 'agent.queues', 'agent.create']);
  assert.equal(await page.locator('#audit-rows b').count(), 0);

  // Back to the tickets: Sue opens the ticket, and the trail says so first.
  await page.getByTestId('audit-toggle').click();
  await page.locator(`#queue tr[data-number="${ticket}"]`).click();
  await page.locator('#t-number', { hasText: ticket }).waitFor();
  await page.getByTestId('audit-toggle').click();
  await page.waitForFunction((who) =>
    document.querySelector('[data-testid=audit-row] [data-testid=audit-actor]')?.textContent === who,
  `Sue (agent:${sue.id})`);
  assert.equal(await rows.first().getAttribute('data-action'), 'customer.view');
  assert.equal(await rows.first().getByTestId('audit-subject').textContent(), customer);
  assert.equal(sql(`SELECT count(*) FROM audit_log WHERE actor = 'agent:${sue.id}' AND action = 'customer.view'`), '1');
  await page.screenshot({ path: `${artifacts}/console-audit.png`, fullPage: true });
  console.log(`ok: ${total} entries, screenshot ${artifacts}/console-audit.png`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
  if ((await stopGateway(gw)) !== 0) {
    console.error('gateway exit status not 0');
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
