// The chat widget over the gateway's own TLS in Debian's chromium: a
// throwaway CA and a certificate for 127.0.0.1 made with openssl (in a
// temporary folder, removed at the end), a gateway with tls.cert_file and
// tls.key_file, and chromium trusting exactly that certificate's key
// (--ignore-certificate-errors-spki-list, not a blanket ignore: a browser
// without the flag is refused first). The page loads over https, the widget
// connects over wss, and a message opens a ticket (checked in PostgreSQL).
//
// Run by tests/run-node-test.sh, which gives: INTAKE_BINARY, DB_URL, ARTIFACTS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';
import { CHROMIUM, freePort, startGateway, stopGateway, sql } from '../support/gateway.mjs';

const artifacts = process.env.ARTIFACTS;
const token = 'browser-tls-token-0123456789';
const WAIT = 15000;

// A CA and, signed by it, a P-256 certificate for IP 127.0.0.1.
function makeCertificates(dir) {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-days', '30', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-subj', '/CN=Intake Browser Test CA']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=intake-browser']);
  writeFileSync(`${dir}/san.ext`, 'subjectAltName=IP:127.0.0.1\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x42',
    '-days', '30', '-extfile', 'san.ext', '-out', 'server.pem']);
}

// GET over https trusting the test CA alone; resolves to the status.
function httpsStatus(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
}

mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(`${tmpdir()}/intake-tls-browser-`);
let gateway = null;
let browser = null;
let failed = false;
try {
  makeCertificates(dir);
  const ca = readFileSync(`${dir}/ca.pem`);
  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  // Up when /healthz answers over https (a TLS port never answers plain http).
  gateway = await startGateway(port, token, 'tls', {
    public_url: base,
    tls: { cert_file: `${dir}/server.pem`, key_file: `${dir}/server.key` },
  }, 'inherit', async () => (await httpsStatus(`${base}/healthz`, ca)) === 200);

  // The SPKI pin: base64 of the SHA-256 of the server key's SubjectPublicKeyInfo.
  const spki = createHash('sha256')
    .update(new X509Certificate(readFileSync(`${dir}/server.pem`)).publicKey
      .export({ type: 'spki', format: 'der' }))
    .digest('base64');

  // Without the pin chromium refuses the certificate: the trust below is the pin's.
  browser = await chromium.launch(CHROMIUM);
  const untrusting = await browser.newPage();
  await assert.rejects(untrusting.goto(`${base}/chat/`), /ERR_CERT_AUTHORITY_INVALID/);
  await browser.close();

  browser = await chromium.launch({
    ...CHROMIUM,
    args: [...CHROMIUM.args, `--ignore-certificate-errors-spki-list=${spki}`],
  });
  const page = await browser.newPage({ locale: 'en-US' });
  page.setDefaultTimeout(WAIT);
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const response = await page.goto(`${base}/chat/`);
  assert.equal(response.status(), 200);
  assert.equal((await response.securityDetails()).subjectName, 'intake-browser');
  await page.locator('#intake-chat .launcher').click();
  const form = page.locator('#intake-chat form.pre');
  await form.locator('input[name=name]').fill('Mei Chen');
  await form.locator('input[name=email]').fill('mei@example.com');
  await form.locator('button').click();
  const box = page.locator('#intake-chat form.compose textarea');
  await box.fill('The invoice for order 7781 is missing');
  await box.press('Enter');
  const notice = page.locator('#intake-chat .msg.system');
  await notice.waitFor();
  const ticket = (await notice.textContent()).match(/SR-\d+/)[0];
  assert.deepEqual(sockets, [`wss://127.0.0.1:${port}/v1/chat`]);
  assert.equal(sql(`SELECT count(*) FROM tickets t JOIN customer_identities i
                    ON i.customer_id = t.customer_id AND i.kind = 'email'
                    WHERE t.number = '${ticket}' AND t.channel = 'chat'
                    AND i.value = 'mei@example.com'`), '1');
  await page.screenshot({ path: `${artifacts}/tls-chat.png` });
  console.log(`ok: ticket ${ticket} over wss, screenshot ${artifacts}/tls-chat.png`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (browser) await browser.close();
  if (gateway) {
    const code = await stopGateway(gateway);
    if (code !== 0) {
      console.error(`gateway exit status ${code}`);
      failed = true;
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
