#!/usr/bin/env node
// Drives one sign-in in headless Chromium, for supervise's integration tests.
//
//   node tests/oidc/browser.mjs --start URL --user USER --password PW --expect-text TEXT
//                               [--screenshot FILE] [--timeout-ms 30000]
//
// Opens URL (a supervise-protected page that redirects to the provider of
// tests/oidc/provider.mjs), fills and submits the provider's login form, then
// its consent form if one is shown, follows the redirects back and waits until
// the page's text contains TEXT.
//
// stdout, one line of JSON:
//   success: {"ok": true, "url": FINAL_URL, "cookies": [names of the cookies the browser holds
//            for the start URL's host (any port, any path)]}        exit 0
//   failure: {"ok": false, "error": "...", "url": CURRENT_URL}      exit 1
// Progress goes to stderr. The whole run is bounded by --timeout-ms (30 s by
// default); the browser is closed and its temporary profile removed in every case.
//
// Uses Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) through
// playwright-core; it never downloads a browser. Requests to hosts other than
// loopback addresses are blocked.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const log = (...args) => console.error('[browser]', ...args);

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function readOptions() {
  const { values } = parseArgs({
    options: {
      start: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'expect-text': { type: 'string' },
      screenshot: { type: 'string' },
      'timeout-ms': { type: 'string' },
    },
    strict: true,
  });
  for (const required of ['start', 'user', 'password', 'expect-text']) {
    if (values[required] === undefined) throw new Error(`--${required} is required`);
  }
  return {
    start: new URL(values.start),
    user: values.user,
    password: values.password,
    expectText: values['expect-text'],
    screenshot: values.screenshot,
    timeoutMs: Number(values['timeout-ms'] ?? 30000),
  };
}

const isLoopback = (hostname) => hostname === 'localhost'
  || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';

// Names of the cookies held for `host` (cookies ignore ports).
function cookieNamesFor(cookies, host) {
  return [...new Set(cookies
    .filter((c) => {
      const domain = c.domain.replace(/^\./, '');
      return domain === host || host.endsWith(`.${domain}`);
    })
    .map((c) => c.name))].sort();
}

let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

async function run(opts, page, deadline) {
  const remaining = () => Math.max(1, deadline - Date.now());
  log(`open ${opts.start.href}`);
  await page.goto(opts.start.href, { timeout: remaining(), waitUntil: 'load' });

  let logins = 0;
  let consents = 0;
  for (;;) {
    if (Date.now() >= deadline) throw new Error(`timed out waiting for text ${JSON.stringify(opts.expectText)}`);

    // The wanted page?
    const text = await page.locator('body').innerText({ timeout: remaining() }).catch(() => '');
    if (text.includes(opts.expectText)) return;

    const loginForm = page.locator('form[data-op="login"]');
    const consentForm = page.locator('form[data-op="consent"]');
    if (await loginForm.count()) {
      const error = page.locator('#login-error');
      if (await error.count()) throw new Error(`login refused: ${(await error.innerText()).trim()}`);
      if (logins++ > 2) throw new Error('the login form keeps coming back');
      log(`login as ${opts.user} at ${page.url()}`);
      await loginForm.locator('input[name="login"]').fill(opts.user, { timeout: remaining() });
      await loginForm.locator('input[name="password"]').fill(opts.password, { timeout: remaining() });
      await Promise.all([
        page.waitForNavigation({ timeout: remaining(), waitUntil: 'load' }),
        loginForm.locator('button[type="submit"]').click({ timeout: remaining() }),
      ]);
      continue;
    }
    if (await consentForm.count()) {
      if (consents++ > 2) throw new Error('the consent form keeps coming back');
      log(`consent at ${page.url()}`);
      await Promise.all([
        page.waitForNavigation({ timeout: remaining(), waitUntil: 'load' }),
        consentForm.locator('button[type="submit"]').click({ timeout: remaining() }),
      ]);
      continue;
    }
    // Neither a provider form nor the wanted text yet: a redirect or a slow page.
    await page.waitForTimeout(Math.min(100, remaining()));
  }
}

async function main() {
  let opts;
  try {
    opts = readOptions();
  } catch (err) {
    finish({ ok: false, error: err.message, url: null });
    return;
  }
  const deadline = Date.now() + opts.timeoutMs;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-browser-'));
  let context;
  let page;

  // Hard stop: whatever hangs, report and leave within the bound.
  const watchdog = setTimeout(() => {
    finish({ ok: false, error: `no result within ${opts.timeoutMs} ms`, url: safeUrl(page) });
    cleanup(context, userDataDir).finally(() => process.exit(1));
  }, opts.timeoutMs + 5000);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      finish({ ok: false, error: `stopped by ${signal}`, url: safeUrl(page) });
      cleanup(context, userDataDir).finally(() => process.exit(1));
    });
  }

  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: Math.max(1, deadline - Date.now()),
    });
    // Only loopback hosts: the tests never need anything else.
    await context.route('**/*', (route) => {
      const { hostname, protocol } = new URL(route.request().url());
      if ((protocol === 'http:' || protocol === 'https:') && !isLoopback(hostname)) {
        log(`blocked ${route.request().url()}`);
        return route.abort('blockedbyclient');
      }
      return route.continue();
    });
    page = context.pages()[0] ?? await context.newPage();
    page.on('response', (r) => log(`${r.status()} ${r.request().method()} ${r.url()}`));

    let error;
    try {
      await run(opts, page, deadline);
    } catch (err) {
      error = err;
    }
    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot, fullPage: true, timeout: 5000 })
        .catch((err) => log(`screenshot failed: ${err.message}`));
    }
    if (error) throw error;
    const cookies = cookieNamesFor(await context.cookies(), opts.start.hostname);
    finish({ ok: true, url: page.url(), cookies });
  } catch (err) {
    finish({ ok: false, error: err.message.split('\n')[0], url: safeUrl(page) });
  } finally {
    clearTimeout(watchdog);
    await cleanup(context, userDataDir);
  }
}

function safeUrl(page) {
  try {
    return page ? page.url() : null;
  } catch {
    return null;
  }
}

async function cleanup(context, userDataDir) {
  if (context) await context.close().catch((err) => log(`close failed: ${err.message}`));
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

main();
