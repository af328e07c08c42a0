// The chat widget end to end in Debian's chromium, driven by playwright-core:
// the demo page from a real gateway, the pre-chat form, a message that opens a
// ticket (checked in PostgreSQL), an agent reply arriving live, a reload that
// shows the history, and a dropped connection (the gateway stopped, a reply
// posted on a second gateway meanwhile, the first one started again) after
// which exactly the missed event appears. A screenshot is saved as an artifact.
//
// Run by tests/run-node-test.sh, which gives: INTAKE_BINARY, DB_URL, ARTIFACTS.
import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { CHROMIUM, freePort, startGateway, stopGateway, sql } from '../support/gateway.mjs';

const artifacts = process.env.ARTIFACTS;
const token = 'browser-test-token-0123456789';
const WAIT = 15000;

async function reply(port, ticket, text) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/tickets/${ticket}/replies`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text, agent: 'Li Wei' }),
  });
  assert.equal(r.status, 201, `reply on ${ticket}: ${await r.text()}`);
}

// The sequence numbers of the drawn events, in page order.
async function drawnSeqs(page) {
  return page.locator('#intake-chat .msg[data-seq]').evaluateAll((els) =>
    els.map((e) => Number(e.dataset.seq)));
}

mkdirSync(artifacts, { recursive: true });
const portA = await freePort();
const portB = await freePort();
let gwA = await startGateway(portA, token, 'chat');
const gwB = await startGateway(portB, token, 'chat');
const browser = await chromium.launch(CHROMIUM);
let failed = false;
try {
  const page = await browser.newPage({ locale: 'en-US' });
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://127.0.0.1:${portA}/chat/`);
  await page.locator('#intake-chat .launcher').click();

  // The pre-chat form refuses a bad address before anything is sent.
  const form = page.locator('#intake-chat form.pre');
  await form.locator('input[name=name]').fill('Ana Silva');
  await form.locator('input[name=email]').fill('not-an-address');
  await form.locator('button').click();
  await page.locator('#intake-chat .error', { hasText: 'email' }).waitFor();
  assert.equal(sql('SELECT count(*) FROM live_sessions'), '0');
  await form.locator('input[name=email]').fill('ana@example.com');
  await form.locator('button').click();

  // The first message opens a ticket; the acknowledgement names it.
  const box = page.locator('#intake-chat form.compose textarea');
  await box.fill('My order 5512 arrived broken');
  await box.press('Enter');
  const notice = page.locator('#intake-chat .msg.system');
  await notice.waitFor();
  const ticket = (await notice.textContent()).match(/SR-\d+/)[0];
  assert.equal(sql(`SELECT count(*) FROM tickets t JOIN customer_identities i
                    ON i.customer_id = t.customer_id AND i.kind = 'email'
                    WHERE t.number = '${ticket}' AND t.channel = 'chat'
                    AND i.value = 'ana@example.com'`), '1');
  await page.locator('#intake-chat .msg.customer.stored').waitFor();

  // An agent's reply appears live.
  await reply(portA, ticket, 'Sorry about that. A replacement ships today.');
  await page.locator('#intake-chat .msg.agent', { hasText: 'replacement ships today' }).waitFor();

  // A reload shows the whole conversation again, in order.
  await page.reload();
  await page.locator('#intake-chat .msg.agent', { hasText: 'replacement ships today' }).waitFor();
  assert.deepEqual(await drawnSeqs(page), [1, 2, 3]);

  // The connection drops (the gateway stops); a reply is posted on another
  // gateway meanwhile; when the first is back the widget reconnects and shows
  // exactly that reply.
  assert.equal(await stopGateway(gwA), 0);
  await page.waitForFunction(() => !window.IntakeChat.connected());
  await reply(portB, ticket, 'Tracking number: YT123456789CN');
  gwA = await startGateway(portA, token, 'chat');
  await page.locator('#intake-chat .msg.agent', { hasText: 'YT123456789CN' }).waitFor();
  assert.deepEqual(await drawnSeqs(page), [1, 2, 3, 4]);

  // A message typed after the reconnect is stored once and joins the ticket.
  await box.fill('Thank you!');
  await box.press('Enter');
  await page.waitForFunction(() => window.IntakeChat.lastSeq() >= 5);
  assert.equal(sql(`SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id
                    WHERE t.number = '${ticket}' AND m.direction = 'in'`), '2');

  await page.screenshot({ path: `${artifacts}/chat.png` });
  console.log(`ok: ticket ${ticket}, screenshot ${artifacts}/chat.png`);
} catch (e) {
  failed = true;
  console.error(e);
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
