// The console's search box in Debian's chromium, driven by playwright-core:
// an agent of the orders queue types 发票 and sees the ticket that says it
// (with the words around it), not the one of a queue they do not serve, and
// opens it; an English word finds its other form (printer -> printers), a
// phone number typed the way people write it finds its customer's ticket, a
// search that finds nothing says so, and Clear hides the results. A
// screenshot is saved as an artifact.
//
// Run by tests/run-node-test.sh, which gives: INTAKE_BINARY, DB_URL, ARTIFACTS.
import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, freePort, intake, startGateway, stopGateway, sql,
} from '../support/gateway.mjs';

const binary = process.env.INTAKE_BINARY;
const dbUrl = process.env.DB_URL;
const artifacts = process.env.ARTIFACTS;
const apiToken = 'browser-search-token-0123456789';
const WAIT = 15000;


async function contact(port, id, customer, subject, text) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/contacts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ external_id: id, customer, subject, body: text }),
  });
  const answer = await r.text();
  assert.equal(r.status, 201, answer);
  return JSON.parse(answer).ticket;
}

async function searchFor(page, q) {
  await page.getByTestId('search-input').fill(q);
  await page.getByTestId('search-input').press('Enter');
}

const found = (page, number) => page.locator(`#search-rows tr[data-number="${number}"]`);

mkdirSync(artifacts, { recursive: true });
intake('agent', 'add', '--name', 'Ann', '--email', 'ann@example.test', '--queues', 'orders');
const annToken = intake('agent', 'token', 'ann@example.test');

const port = await freePort();
const gw = await startGateway(port, apiToken, 'search');
const browser = await chromium.launch(CHROMIUM);
let failed = false;
try {
  const invoice = await contact(port, 's1', { name: '王小明', email: 'wang@example.cn' }, '发票问题',
    '您好，我上个月的发票丢了，请帮忙重新开具。');
  const elsewhere = await contact(port, 's2', { email: 'li@example.cn' }, '维修',
    '打印机坏了，维修后需要发票。');
  const printers = await contact(port, 's3', { name: 'Ann Lee', phone: '+15551234567' },
    'Printer broken', 'Both printers in room 4 stopped after the update.');
  // Fixed queues: Ann serves orders, the second ticket is technical; nobody assigned.
  sql(`UPDATE tickets SET assignee_id = NULL, queue = CASE WHEN number = '${elsewhere}'
         THEN 'technical' ELSE 'orders' END`);
  // The gateway indexes messages right after their registration (its dispatcher).
  for (let i = 0; sql('SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = m.id)') !== '0'; i++) {
    assert.ok(i < 50, 'the messages were not indexed within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const page = await browser.newPage({ locale: 'zh-CN', viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://127.0.0.1:${port}/agent/`);
  await page.getByTestId('token-input').fill(annToken);
  await page.getByTestId('signin-button').click();
  await page.locator('#me-name', { hasText: 'Ann' }).waitFor();

  // 发票: the orders ticket, with the words around it; not the technical one.
  await searchFor(page, '发票');
  await found(page, invoice).waitFor();
  assert.equal(await page.locator('#search-rows tr').count(), 1);
  assert.equal(await found(page, elsewhere).count(), 0);
  assert.match(await found(page, invoice).getByTestId('search-snippet').textContent(), /发票丢了/);
  assert.match(await found(page, invoice).textContent(), /found by text/);

  // Opening it shows the ticket and its message.
  await found(page, invoice).click();
  await page.locator('#t-number', { hasText: invoice }).waitFor();
  await page.locator('#messages', { hasText: '请帮忙重新开具' }).waitFor();
  assert.equal(await found(page, invoice).getAttribute('class'), 'row selected');

  // An English word finds its other form; a phone number as people write it.
  await searchFor(page, 'printer');
  await found(page, printers).waitFor();
  assert.equal(await found(page, invoice).count(), 0);
  await searchFor(page, '(555) 123-4567'); // the same ticket: wait for how it was found
  await page.locator(`#search-rows tr[data-number="${printers}"][data-match="phone"]`).waitFor();
  await page.screenshot({ path: `${artifacts}/search.png`, fullPage: true });

  // Nothing found says so; Clear hides the results.
  await searchFor(page, '退款');
  await page.getByTestId('search-empty').waitFor();
  assert.equal(await page.locator('#search-rows tr').count(), 0);
  await page.getByTestId('search-clear').click();
  await page.getByTestId('search-results').waitFor({ state: 'hidden' });
  assert.equal(await page.getByTestId('search-input').inputValue(), '');

  console.log(`ok: ${invoice} found by 发票 and opened, ${printers} by printer and by phone`);
} catch (e) {
  failed = true;
  console.error(e);
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: `${artifacts}/search-failed.png` })
    .catch(() => {});
} finally {
  await browser.close();
  const code = await stopGateway(gw);
  if (code !== 0) {
    console.error(`gateway exit status ${code}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
