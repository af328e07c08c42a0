// What the node tests share: the gateway under test started on a loopback
// port with its own config file and stopped again, SQL on the test's
// database, and how the browser tests start chromium. Environment (from tests/run-node-test.sh): INTAKE_BINARY, DB_URL,
// ARTIFACTS.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import assert from 'node:assert/strict';

const binary = process.env.INTAKE_BINARY;
const dbUrl = process.env.DB_URL;
const artifacts = process.env.ARTIFACTS;
const WAIT = 15000;

// Debian's chromium for playwright's chromium.launch(): headless, without the
// sandbox (CI runs as root), and nothing that reaches out to the network on
// its own while a test runs.
export const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// A gateway on port with the API token given and extra settings over the
// test's database; label names its config file. log: 'inherit' (the test's
// output) or a file descriptor. Resolves to the child process once /healthz
// answers, or once ready() resolves to true when given (a gateway on TLS).
export async function startGateway(port, token, label, extra = {}, log = 'inherit', ready = null) {
  const config = JSON.stringify({
    listen: `127.0.0.1:${port}`,
    public_url: `http://127.0.0.1:${port}`,
    database_url: dbUrl,
    ...extra,
  });
  const path = `${artifacts}/${label}-gateway-${port}.json`;
  writeFileSync(path, config);
  const child = spawn(binary, ['--config', path, 'serve'], {
    env: { ...process.env, INTAKE_API_TOKEN: token },
    stdio: ['ignore', log, log],
  });
  const deadline = Date.now() + WAIT;
  for (;;) {
    try {
      if (ready ? await ready() : (await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch { /* not up yet */ }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`gateway ${label} on ${port} did not start`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopGateway(child) {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  return code;
}

export function sql(query) {
  return execFileSync('psql', [dbUrl, '-XAtc', query], { encoding: 'utf8' }).trim();
}

// The intake command line on the test's database; its standard output, trimmed.
export function intake(...args) {
  return execFileSync(binary, args, {
    encoding: 'utf8',
    env: { ...process.env, INTAKE_DATABASE_URL: dbUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

// A request to the gateway on port with a bearer token; the answer's JSON
// after checking its status.
export async function apiCall(port, token, method, path, body, status) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, status, `${method} ${path}: ${text}`);
  return JSON.parse(text);
}
