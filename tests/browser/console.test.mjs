// The agent console end to end in Debian's chromium, driven by playwright-core:
// an agent signs in with their token (a wrong one is refused); a contact made
// while they are online arrives live as an assigned ticket; its SLA clock
// ticks; they reply (checked in PostgreSQL: the outbound message, the first
// response), add a note, see the customer's next message arrive live, and
// resolve it (status and survey in PostgreSQL); a chat customer on another
// gateway and the agent see each other typing; a dropped stream (the gateway
// stopped, an event written on a second gateway meanwhile) gets exactly the
// missed event; a server refusal is shown; escalation, presence and the
// list's filters work; a reload stays signed in without announcing anything
// twice; a revoked token signs the console out (close 4001), and so does the
// sign-out button. A screenshot is saved as an artifact.
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
const apiToken = 'browser-console-token-0123456789';
const WAIT = 15000;


const call = (port, method, path, body, status) =>
  apiCall(port, apiToken, method, path, body, status);

function contact(port, id, name, subject, text) {
  return call(port, 'POST', '/v1/contacts', {
    external_id: id,
    customer: { email: `${id}@example.test`, name },
    subject,
    body: text,
  }, 201);
}

const row = (page, number) => page.locator(`#queue tr[data-number="${number}"]`);

// The colour an element is drawn in. The list is drawn again on stream events, so the
// element found may be gone by the time it is read (no colour then): find it again.
async function colorOf(locator) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const color = await locator.evaluate((e) => (e.isConnected ? getComputedStyle(e).color : ''));
    if (color) return color;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return '';
}
const noticeCount = (page, text) => page.locator('#notices [data-testid=notice]', { hasText: text }).count();

mkdirSync(artifacts, { recursive: true });
const ann = JSON.parse(intake('agent', 'add', '--name', 'Ann', '--email', 'ann@example.test',
  '--queues', 'technical,general', '--capacity', '5'));
intake('agent', 'add', '--name', 'Bob', '--email', 'bob@example.test', '--queues', 'technical');
const annToken = intake('agent', 'token', 'ann@example.test');
assert.match(annToken, /^\S{20,}$/);

const portA = await freePort();
const portB = await freePort();
let gwA = await startGateway(portA, apiToken, 'console');
const gwB = await startGateway(portB, apiToken, 'console');
const browser = await chromium.launch(CHROMIUM);
let failed = false;
try {
  const page = await browser.newPage({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://127.0.0.1:${portA}/agent/`);

  // A wrong token is refused and nothing is kept.
  await page.getByTestId('token-input').fill('not-a-real-token-000000000000');
  await page.getByTestId('signin-button').click();
  await page.locator('#signin-error', { hasText: 'unknown or revoked' }).waitFor();
  assert.equal(await page.locator('#app').isVisible(), false);
  assert.equal(await page.evaluate(() =>
    JSON.parse(localStorage.getItem(`intake-agent:${location.host}`) || '{}').token), undefined);

  // The right one: name, role, and the stream makes the agent online.
  await page.getByTestId('token-input').fill(annToken);
  await page.getByTestId('signin-button').click();
  await page.locator('#me-name', { hasText: 'Ann' }).waitFor();
  assert.equal(await page.locator('#me-role').textContent(), 'agent');
  await page.waitForFunction(() => window.IntakeConsole.connected);
  await page.locator('#me-presence', { hasText: 'online' }).waitFor();
  assert.equal(sql(`SELECT presence FROM agents WHERE id = ${ann.id}`), 'online');
  assert.equal(await page.locator('#queue tr').count(), 0);

  // A customer writes; the ticket is assigned to Ann and appears without a reload.
  await page.evaluate(() => { window.notReloaded = true; });
  const first = await contact(portA, 'c1', 'Bo Chen', 'App crash 应用崩溃',
    'The app crash on start since the update. 更新后一打开就崩溃。');
  const t1 = first.ticket;
  assert.equal(first.queue, 'technical');
  await row(page, t1).waitFor();
  assert.equal(await row(page, t1).getByTestId('assignee').textContent(), 'Ann');
  assert.equal(await noticeCount(page, `${t1} assigned to you`), 1);
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  assert.ok(await page.evaluate(() => window.IntakeConsole.lastSeq) >= 1);

  // The SLA countdown runs: first response within 15 minutes, ticking. It is
  // redrawn every second, so 2.5 s apart the two readings differ by 2 or 3 s.
  const sla = row(page, t1).getByTestId('sla');
  const seconds = (text) => {
    const m = text.match(/^(1[45])m (\d\d)s · first response$/);
    assert.ok(m, `countdown "${text}"`);
    return Number(m[1]) * 60 + Number(m[2]);
  };
  const before = seconds(await sla.textContent());
  await page.waitForTimeout(2500);
  const after = seconds(await sla.textContent());
  assert.ok(before - after >= 1 && before - after <= 4, `countdown ${before}s, then ${after}s`);

  // The ticket: customer record and conversation, shown as written.
  await row(page, t1).click();
  await page.locator('#t-number', { hasText: t1 }).waitFor();
  assert.equal(await page.getByTestId('customer-name').textContent(), 'Bo Chen');
  await page.locator('#customer li', { hasText: 'email: c1@example.test' }).waitFor();
  await page.locator('#messages .msg.in', { hasText: '更新后一打开就崩溃' }).waitFor();

  // A reply: stored as an outbound message; the first response is recorded.
  const answer = 'Please update to 2.3.1, which fixes the crash. 请升级到 2.3.1。';
  await page.getByTestId('reply-text').fill(answer);
  await page.getByTestId('reply-send').click();
  await page.locator('#messages .msg.out', { hasText: '请升级到 2.3.1' }).waitFor();
  assert.equal(await page.getByTestId('reply-text').inputValue(), '');
  assert.equal(sql(`SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id
                    WHERE t.number = '${t1}' AND m.direction = 'out'
                    AND m.body = '${answer.replace(/'/g, "''")}'`), '1');
  assert.equal(sql(`SELECT first_responded_at IS NOT NULL FROM tickets WHERE number = '${t1}'`), 't');
  // Answered: the first-response clock stopped, the countdown shows the next one.
  await page.waitForFunction(() => !/first response/.test(document.querySelector('#t-sla').textContent));

  // An internal note.
  await page.getByTestId('note-text').fill('Known issue, see bug 4411.');
  await page.getByTestId('note-send').click();
  await page.locator('#notes .note', { hasText: 'bug 4411' }).waitFor();
  assert.equal(sql(`SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
                    WHERE t.number = '${t1}' AND e.kind = 'note'
                    AND e.detail->>'text' = 'Known issue, see bug 4411.'`), '1');

  // The customer writes again: the open ticket shows it live (message.new).
  const again = await call(portA, 'POST', '/v1/contacts', {
    external_id: 'c1-again', ticket: t1, customer: { email: 'c1@example.test', name: 'Bo Chen' },
    body: '好的，我试一下。 OK, trying now.',
  }, 201);
  assert.equal(again.new_ticket, false);
  await page.locator('#messages .msg.in', { hasText: '我试一下' }).waitFor();
  assert.equal(await noticeCount(page, `New message on ${t1}`), 1);

  // Resolved: the status, a survey, and the ticket leaves the open list.
  await page.getByTestId('status-resolved').click();
  await page.locator('#ticket-body[data-status=resolved]').waitFor();
  assert.equal(sql(`SELECT status FROM tickets WHERE number = '${t1}'`), 'resolved');
  assert.equal(sql(`SELECT count(*) FROM surveys s JOIN tickets t ON t.id = s.ticket_id
                    WHERE t.number = '${t1}'`), '1');
  await row(page, t1).waitFor({ state: 'detached' });

  // A second ticket, live as well.
  const t2 = (await contact(portA, 'c2', 'Dana Li', 'Crash when printing',
    'Printing a report makes it crash.')).ticket;
  await row(page, t2).waitFor();

  // Typing, both ways and across gateways: a chat customer on gateway B types
  // and Ann, on A, sees it under the open ticket; she types her answer and the
  // customer sees that. Nothing of it is stored.
  const customer = await browser.newPage({ locale: 'en-US' });
  customer.setDefaultTimeout(WAIT);
  await customer.goto(`http://127.0.0.1:${portB}/chat/`);
  await customer.locator('#intake-chat .launcher').click();
  await customer.locator('#intake-chat form.pre button').click();
  const chatBox = customer.locator('#intake-chat form.compose textarea');
  await chatBox.fill('Is the printer driver on your site?');
  await chatBox.press('Enter');
  const chatSent = customer.locator('#intake-chat .msg.customer.stored .meta');
  await chatSent.waitFor();
  const t3 = (await chatSent.textContent()).split(' · ')[1];
  assert.match(t3, /^SR-\d+$/);
  await row(page, t3).click();
  await page.locator('#t-number', { hasText: t3 }).waitFor();
  assert.equal(await page.getByTestId('customer-typing').textContent(), '');
  await chatBox.pressSequentially('And the manual?');
  await page.getByTestId('customer-typing').filter({ hasText: 'The customer is typing' }).waitFor();
  await page.getByTestId('reply-text').pressSequentially('Yes, under Downloads');
  await customer.locator('#intake-chat .typing', { hasText: 'The agent is typing' }).waitFor();
  assert.equal(sql(`SELECT count(*) FROM session_events WHERE event->>'type' = 'typing'`), '0');
  await customer.close();

  // The stream drops (the gateway stops); meanwhile a note is written on the
  // other gateway; when the first is back, exactly that event arrives.
  const seqBefore = await page.evaluate(() => window.IntakeConsole.lastSeq);
  assert.equal(await stopGateway(gwA), 0);
  await page.waitForFunction(() => !window.IntakeConsole.connected);
  await call(portB, 'POST', `/v1/tickets/${t2}/notes`, { text: 'Customer called again.' }, 201);
  gwA = await startGateway(portA, apiToken, 'console');
  await page.waitForFunction(() => window.IntakeConsole.connected, null, { timeout: 40000 });
  await page.waitForFunction((s) => window.IntakeConsole.lastSeq === s + 1, seqBefore);
  await page.waitForTimeout(500);
  assert.equal(await page.evaluate(() => window.IntakeConsole.lastSeq), seqBefore + 1);
  assert.equal(await noticeCount(page, `${t2} note`), 1);

  // A refusal from the server is shown: Bob holds the ticket, Ann cannot claim it.
  await call(portA, 'POST', `/v1/tickets/${t2}/transfer`, { agent: 'bob@example.test' }, 200);
  await row(page, t2).getByTestId('assignee').filter({ hasText: 'Bob' }).waitFor();
  await row(page, t2).click();
  await page.locator('#t-number', { hasText: t2 }).waitFor();
  await page.locator('#notes .note', { hasText: 'Customer called again.' }).waitFor();
  await page.getByTestId('claim').click();
  await page.locator('#ticket-error', { hasText: 'assigned to Bob' }).waitFor();

  // Escalation raises the level (one step).
  await page.getByTestId('escalate').click();
  await page.locator('#t-facts', { hasText: 'level 2' }).waitFor();
  assert.equal(sql(`SELECT escalation_level FROM tickets WHERE number = '${t2}'`), '2');

  // Presence: away and back, through the stream.
  await page.getByTestId('presence-toggle').click();
  await page.locator('#me-presence', { hasText: 'away' }).waitFor();
  assert.equal(sql(`SELECT presence FROM agents WHERE id = ${ann.id}`), 'away');
  await page.getByTestId('presence-toggle').click();
  await page.locator('#me-presence', { hasText: 'online' }).waitFor();
  assert.equal(sql(`SELECT presence FROM agents WHERE id = ${ann.id}`), 'online');

  // Filters: Bob's ticket is not Ann's, nor unassigned, nor overdue.
  await page.getByTestId('filter-mine').check();
  await row(page, t2).waitFor({ state: 'detached' });
  await page.getByTestId('filter-unassigned').check();
  await page.locator('#queue-empty').waitFor();
  assert.equal(await row(page, t2).count(), 0);
  await page.getByTestId('filter-all').check();
  await row(page, t2).waitFor();
  await page.getByTestId('filter-overdue').check();
  await row(page, t2).waitFor({ state: 'detached' });
  // Once its first-response clock ran out 5 minutes ago, it is overdue, in red.
  sql(`UPDATE tickets SET first_response_due_at = now() - interval '5 minutes 1 second'
       WHERE number = '${t2}'`);
  await page.getByTestId('filter-overdue').uncheck();
  await page.getByTestId('filter-overdue').check();
  await row(page, t2).waitFor();
  const late = row(page, t2).getByTestId('sla');
  assert.match(await late.textContent(), /^overdue 5m 0\ds$/);
  assert.equal(await colorOf(late), 'rgb(179, 38, 30)');
  await page.getByTestId('filter-overdue').uncheck();
  await row(page, t2).waitFor();

  // A reload: still signed in, the list and the open ticket back, nothing announced again.
  const seqReload = await page.evaluate(() => window.IntakeConsole.lastSeq);
  await page.reload();
  await page.locator('#me-name', { hasText: 'Ann' }).waitFor();
  await row(page, t2).waitFor();
  await page.locator('#t-number', { hasText: t2 }).waitFor();
  await page.waitForFunction(() => window.IntakeConsole.connected);
  await page.waitForTimeout(500);
  assert.equal(await page.locator('#notices [data-testid=notice]').count(), 0);
  assert.equal(await page.evaluate(() => window.IntakeConsole.lastSeq), seqReload);
  await page.screenshot({ path: `${artifacts}/console.png`, fullPage: true });

  // A new token revokes the old one: on the next connect the stream refuses
  // it (close 4001) and the console signs out.
  const newToken = intake('agent', 'token', 'ann@example.test');
  assert.equal(await stopGateway(gwA), 0);
  gwA = await startGateway(portA, apiToken, 'console');
  await page.locator('#signin').waitFor({ timeout: 40000 });
  await page.locator('#signin-error', { hasText: 'Signed out' }).waitFor();

  // Sign in again, then out with the button: a reload stays signed out.
  await page.getByTestId('token-input').fill(newToken);
  await page.getByTestId('signin-button').click();
  await page.waitForFunction(() => window.IntakeConsole.connected);
  await page.getByTestId('signout').click();
  await page.locator('#signin').waitFor();
  await page.reload();
  await page.locator('#signin').waitFor();
  assert.equal(await page.locator('#app').isVisible(), false);
  assert.equal(await page.evaluate(() => window.IntakeConsole.connected), false);

  console.log(`ok: tickets ${t1}, ${t2}, screenshot ${artifacts}/console.png`);
} catch (e) {
  failed = true;
  console.error(e);
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: `${artifacts}/console-failed.png` })
    .catch(() => {});
} finally {
  await browser.close();
  const a = await stopGateway(gwA);
  const b = await stopGateway(gwB);
  if (a !== 0 || b !== 0) {
    console.error(`gateway exit status ${a}, ${b}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
