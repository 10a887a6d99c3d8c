// What the browser scripts (login.mjs, data-studio.mjs) share: their step protocol on stdout,
// the mailbox the SMTP sink (or MailDev) fills, and a headless chromium with screenshots.
//
// Protocol: one JSON line per step, {"step":"...","ok":true|false,"detail":"..."}, always every
// step in order (steps after a failure that they build on: ok false, "not run"), then
// {"done":true,"failed":N}; exit status 0 when every step passed, 1 otherwise.

import { chromium } from 'playwright-core';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class StepFailure extends Error {}
export function check(condition, message) {
  if (!condition) throw new StepFailure(message);
}

function report(step, ok, detail = '') {
  process.stdout.write(JSON.stringify({ step, ok, detail: String(detail) }) + '\n');
}
function finish(failed) {
  process.stdout.write(JSON.stringify({ done: true, failed }) + '\n');
  process.exit(failed ? 1 : 0);
}

// Quoted-printable as the mail's text part uses it: soft breaks, then =XX bytes, as UTF-8.
export function decodeQuotedPrintable(text) {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; ) {
    const hex = joined[i] === '=' ? joined.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      for (const b of Buffer.from(joined[i], 'utf8')) bytes.push(b);
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

// Where mail arrives: the SMTP sink's maildir (tests), or MailDev's API (the demo).
export function openMailbox(maildir, maildevUrl) {
  if (maildevUrl) {
    return {
      where: `MailDev ${maildevUrl}`,
      async list() {
        const response = await fetch(`${maildevUrl}/api/email`);
        if (!response.ok) throw new StepFailure(`MailDev /api/email answered ${response.status}`);
        return response.json();
      },
      async ids() {
        return new Set((await this.list()).map((m) => m.id));
      },
      async find(seen, address) {
        for (const mail of await this.list()) {
          if (seen.has(mail.id)) continue;
          if (!(mail.to ?? []).some((to) => to.address?.toLowerCase() === address.toLowerCase())) continue;
          const raw = await (await fetch(`${maildevUrl}/api/email/${mail.id}/source`)).text();
          return { name: mail.id, raw };
        }
        return null;
      },
    };
  }
  const folder = join(maildir, 'new');
  return {
    where: folder,
    async ids() {
      return new Set(existsSync(folder) ? readdirSync(folder) : []);
    },
    // aiosmtpd's Mailbox handler records the envelope recipient in X-RcptTo.
    async find(seen, address) {
      const rcpt = new RegExp(`^X-RcptTo: ${address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'mi');
      for (const name of await this.ids()) {
        if (seen.has(name)) continue;
        const raw = readFileSync(join(folder, name), 'utf8');
        if (rcpt.test(raw)) return { name, raw };
      }
      return null;
    },
  };
}

export async function waitForMail(mailbox, seen, address, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const mail = await mailbox.find(seen, address);
    if (mail) return mail;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

// The first verify link in a mail's text.
export function linkIn(mail) {
  const text = decodeQuotedPrintable(mail.raw);
  const links = [...text.matchAll(/https?:\/\/[^\s"'<>]+\/magic-link\/verify\?token=[A-Za-z0-9_-]+/g)];
  return links.length ? links[0][0] : null;
}

// Starts headless chromium with a fresh profile; on failure every step is reported failed and
// the script ends. Returns { context, page, screenshot(page, name), close() }.
export async function startBrowser({ name, binary, steps, screenshotDir, timeout }) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'ngx-magic-link-chromium-'));
  if (screenshotDir) mkdirSync(screenshotDir, { recursive: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: binary,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
      ],
      viewport: { width: 1200, height: 800 },
      timeout: 30000,
    });
  } catch (error) {
    console.error(`${name}: could not start ${binary}: ${error.message}`);
    for (const step of steps) report(step, false, `not run: the browser did not start: ${error.message.split('\n')[0]}`);
    rmSync(userDataDir, { recursive: true, force: true });
    finish(steps.length);
  }
  context.setDefaultTimeout(timeout);
  context.setDefaultNavigationTimeout(timeout);
  const page = context.pages()[0] ?? (await context.newPage());
  let shot = 0;
  return {
    context,
    page,
    async screenshot(target, label) {
      if (!screenshotDir || !target) return;
      shot += 1;
      const file = join(screenshotDir, `${String(shot).padStart(2, '0')}-${label}.png`);
      try {
        await target.screenshot({ path: file, fullPage: true, timeout: 5000 });
      } catch (error) {
        console.error(`${name}: screenshot ${file} failed: ${error.message}`);
      }
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Runs `steps` (name -> async function returning a detail) in the order of `names`, reports
// each, and ends the script. A failed step stops the ones after it, except `independent` ones.
export async function runSteps(names, steps, independent, browser) {
  let failed = 0;
  let stopped = null;
  const slug = (step) => step.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  for (const step of names) {
    if (stopped) {
      report(step, false, `not run: "${stopped}" failed`);
      failed += 1;
      continue;
    }
    try {
      report(step, true, (await steps[step]()) ?? '');
    } catch (error) {
      failed += 1;
      if (!independent.has(step)) stopped = step;
      await browser.screenshot(browser.page, `failed-${slug(step)}`);
      const message = error instanceof StepFailure ? error.message : `${error.name}: ${error.message.split('\n')[0]}`;
      report(step, false, `${message} (at ${browser.page.url()})`);
    }
  }
  await browser.close();
  finish(failed);
}

// Reports every step as failed before the browser runs (bad usage, no browser binary).
export function failAll(names, why) {
  for (const step of names) report(step, false, `not run: ${why}`);
  finish(names.length);
}
