// The console's Reports view in Debian's chromium (playwright-core): a
// supervisor opens Reports, picks last month, sees the headline figures
// against their targets and the four charts, in English and in Chinese
// (a screenshot of each saved as an artifact); a click on any bar or
// figure lists exactly the tickets it counts (the list's count equals the
// bar's value, and the tickets are the ones the fixture put there). A plain
// agent gets no Reports button.
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
const apiToken = 'browser-reports-token-0123456789';
const WAIT = 15000;


mkdirSync(artifacts, { recursive: true });
intake('agent', 'add', '--name', 'Sue', '--email', 'sue@example.test', '--role', 'supervisor', '--queues', 'complaints');
intake('agent', 'add', '--name', 'Ann', '--email', 'ann@example.test', '--queues', 'technical');
const sueToken = intake('agent', 'token', 'sue@example.test');
const annToken = intake('agent', 'token', 'ann@example.test');

// Last month (UTC, the gateway's report zone without a calendar): six tickets,
// resolved within a day (so the SLA scanner leaves their clocks alone), three
// surveys answered in it. m(day, hh:mm) is a time in it.
const period = sql("SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month', 'YYYY-MM')");
const m = (day, hm) => `('${period}-${String(day).padStart(2, '0')} ${hm}+00')::timestamptz`;
const min = (t, n) => `${t} + interval '${n} minutes'`;
function ticket(n, channel, priority, created, respondedAfter, dueAfter) {
  const responded = respondedAfter === null ? 'NULL' : min(created, respondedAfter);
  return `('RP-${n}', 900001, '${channel}', 'order', '${priority}', 'orders', 'en', ${created},
    ${min(created, dueAfter)}, ${responded}, ${min(created, 2880)}, ${min(created, 2880)},
    ${min(created, 1440)}, 'resolved')`;
}
sql(`INSERT INTO customers (id, number) OVERRIDING SYSTEM VALUE VALUES (900001, 'C-900001');
  INSERT INTO tickets (number, customer_id, channel, category, priority, queue, language, created_at,
    first_response_due_at, first_responded_at, handling_due_at, resolution_due_at, resolved_at, status) VALUES
  ${ticket(1, 'email', 'normal', m(3, '09:00'), 10, 15)},
  ${ticket(2, 'email', 'normal', m(3, '11:00'), 10, 15)},
  ${ticket(3, 'chat', 'normal', m(3, '12:00'), 30, 15)},
  ${ticket(4, 'phone', 'important', m(10, '09:00'), 120, 60)},
  ${ticket(5, 'email', 'normal', m(10, '10:00'), null, 15)},
  ${ticket(6, 'api', 'urgent', m(20, '09:00'), 5, 15)};
  INSERT INTO surveys (ticket_id, token_hash, language, created_at, expires_at, answered_at,
    response_speed, resolution_efficiency, attitude, professionalism, overall)
  SELECT t.id, decode(md5(t.number), 'hex'), 'en', t.created_at + interval '1 day', t.created_at + interval '8 days',
         t.created_at + interval '1 day 1 hour', x.r, x.r, 5, 4, x.r
    FROM tickets t JOIN (VALUES ('RP-1', 5), ('RP-3', 2), ('RP-6', 4)) x(n, r) ON x.n = t.number;`);

const port = await freePort();
const gw = await startGateway(port, apiToken, 'reports');
const browser = await chromium.launch(CHROMIUM);
let failed = false;
try {
  const page = await browser.newPage({ locale: 'en-US', viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://127.0.0.1:${port}/agent/`);
  await page.evaluate(() => localStorage.setItem('intake-reports-lang', 'en'));
  await page.getByTestId('token-input').fill(sueToken);
  await page.getByTestId('signin-button').click();
  await page.locator('#me-name', { hasText: 'Sue' }).waitFor();
  await page.getByTestId('reports-toggle').click();
  await page.getByTestId('report-period').selectOption(period);
  await page.getByTestId('report-status').filter({ hasText: `${period} (` }).waitFor();

  // The headline figures: 6 tickets; satisfied 2 of 3 answers = 66.7 % against 90 %, missed.
  const tickets = page.getByTestId('kpi-tickets');
  assert.match(await tickets.textContent(), /^6Tickets/);
  const satisfied = page.getByTestId('kpi-satisfied');
  assert.match(await satisfied.textContent(), /66\.7 %Satisfied customers.*target ≥ 90 %/);
  assert.equal(await satisfied.getAttribute('class'), 'kpi missed drill');
  // First response in time: RP-1, RP-2, RP-6 of the six judged (RP-5 unanswered and late).
  assert.match(await page.getByTestId('kpi-answered').textContent(), /^50 %/);
  await page.screenshot({ path: `${artifacts}/reports-en.png`, fullPage: true });

  // Every bar lists exactly the tickets it counts.
  async function drill(locator) {
    const value = Number(await locator.getAttribute('data-value'));
    await locator.click();
    await page.locator(`[data-testid=report-list-count][data-count="${value}"]`).waitFor();
    const numbers = await page.locator('#rp-list-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.number));
    assert.equal(numbers.length, value);
    return numbers;
  }
  const bars = page.locator('[data-testid=bar-day], [data-testid=bar-first-response], [data-testid=bar-rating]');
  const n = await bars.count();
  assert.ok(n >= 15, `${n} bars`);
  for (let i = 0; i < n; i++)
    if (await bars.nth(i).getAttribute('data-value') !== '0') await drill(bars.nth(i));
  // And the right ones: the 3rd's email, the answers within 15 minutes, the rating of 2.
  const day3 = `${period}-03`;
  assert.deepEqual(await drill(page.locator(`[data-testid=bar-day][data-day="${day3}"][data-channel=email]`)), ['RP-1', 'RP-2']);
  assert.deepEqual(await drill(page.locator('[data-testid=bar-first-response][data-key=up_to_15_min]')), ['RP-1', 'RP-2', 'RP-6']);
  assert.deepEqual(await drill(page.locator('[data-testid=bar-first-response][data-key=up_to_4_h]')), ['RP-4']);
  assert.deepEqual(await drill(page.locator('[data-testid=bar-rating][data-dimension=overall][data-rating="2"]')), ['RP-3']);
  await satisfied.click();
  await page.locator('[data-testid=report-list-count][data-count="2"]').waitFor();
  await page.getByTestId('kpi-tickets').click();
  await page.locator('[data-testid=report-list-count][data-count="6"]').waitFor();
  await page.locator('[data-testid=bar-sla][data-key="urgent:first_response"]').click();
  await page.locator('[data-testid=report-list-count][data-count="1"]').waitFor();
  assert.equal(await page.locator('#rp-list-rows tr').first().getAttribute('data-number'), 'RP-6');

  // In Chinese.
  await page.getByTestId('report-lang').selectOption('zh');
  await page.getByTestId('kpi-satisfied').filter({ hasText: '客户满意度' }).waitFor();
  await page.getByTestId('chart-per-day').filter({ hasText: '每日工单量' }).waitFor();
  assert.match(await page.getByTestId('kpi-followups').textContent(), /反馈处理及时率.*目标 ≥ 95 %/);
  await page.screenshot({ path: `${artifacts}/reports-zh.png`, fullPage: true });

  // Back to the tickets; a plain agent has no Reports.
  await page.getByTestId('report-back').click();
  await page.locator('#app').waitFor();
  const agentPage = await browser.newPage({ locale: 'en-US' });
  agentPage.setDefaultTimeout(WAIT);
  await agentPage.goto(`http://127.0.0.1:${port}/agent/`);
  await agentPage.getByTestId('token-input').fill(annToken);
  await agentPage.getByTestId('signin-button').click();
  await agentPage.locator('#me-name', { hasText: 'Ann' }).waitFor();
  assert.equal(await agentPage.getByTestId('reports-toggle').isVisible(), false);
  console.log(`ok: reports of ${period}, ${n} bars, screenshots ${artifacts}/reports-en.png, reports-zh.png`);
} catch (e) {
  failed = true;
  console.error(e);
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: `${artifacts}/reports-failed.png`, fullPage: true })
    .catch(() => {});
} finally {
  await browser.close();
  if (await stopGateway(gw) !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
