// The whole magic-link login in a real browser (Debian's chromium driven by playwright-core):
// ask for a link on the sign-in page, take it from the SMTP sink's maildir (or MailDev), open it,
// press "Sign in", land on the success page, and check the browser now holds a Directus session.
//
// Run by t/040-browser.t; against a running `make demo`:
//   BASE_URL=http://127.0.0.1:8080 MAILDEV_URL=http://127.0.0.1:1080 EMAIL=demo@example.com \
//     SCREENSHOT_DIR=/tmp/demo-shots node tests/browser/login.mjs
// Prints one JSON line per step on stdout,
//   {"step":"...","ok":true|false,"detail":"..."}
// always every step of STEPS, in order (steps after a failure: ok false, "not run"), then
// {"done":true,"failed":N}. Exit status 0 when every step passed, 1 otherwise, 2 on bad usage.
//
// Environment:
//   BASE_URL            nginx with the module, e.g. http://127.0.0.1:1996 (= magic_link_public_url)
//   TEST_NGINX_MAILDIR  the SMTP sink's maildir (each mail a file in new/), or
//   MAILDEV_URL         MailDev's web address (the demo: http://127.0.0.1:1080), read by its API
//   DIRECTUS_URL        Directus itself (for /users/me with the access token); default BASE_URL
//   SCREENSHOT_DIR      where each step's screenshot goes (created); default: none taken
//   EMAIL               the Directus user who signs in (must exist and be active)
//   USER_ID             that user's id (optional: /users/me must answer it)
//   LOGIN_PATH          the sign-in page, default /magic-link-ui
//   SUCCESS_PATH        the after-login target, default /magic-link-ui/success
//   CHROMIUM            the browser binary, default /usr/bin/chromium
//   STEP_TIMEOUT_MS     timeout of each browser action, default 15000
//   TFA_SECRET          the user's 2FA secret (base32): the confirm page must ask for the code

import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  check, decodeQuotedPrintable, failAll, openMailbox, runSteps, startBrowser, waitForMail,
} from './steps.mjs';

const env = process.env;
const BASE_URL = (env.BASE_URL ?? '').replace(/\/+$/, '');
const MAILDIR = env.TEST_NGINX_MAILDIR ?? '';
const MAILDEV_URL = (env.MAILDEV_URL ?? '').replace(/\/+$/, '');
const DIRECTUS_URL = (env.DIRECTUS_URL || BASE_URL).replace(/\/+$/, '');
const SCREENSHOT_DIR = env.SCREENSHOT_DIR ?? '';
const EMAIL = env.EMAIL ?? 'browser@example.com';
const USER_ID = env.USER_ID ?? '';
const LOGIN_PATH = env.LOGIN_PATH ?? '/magic-link-ui';
const SUCCESS_PATH = env.SUCCESS_PATH ?? '/magic-link-ui/success';
const CHROMIUM = env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = Number(env.STEP_TIMEOUT_MS ?? 15000);
const TFA_SECRET = env.TFA_SECRET ?? '';

const STEPS = [
  'sign-in page',
  'request a link',
  'mail with the link',
  'confirm page',
  'nothing leaves the confirm page',
  'sign in',
  'success page',
  'refresh cookie',
  'refresh through nginx',
  'users/me',
  'link is single-use',
];
// Steps whose failure does not stop the ones after them (those do not build on them).
const INDEPENDENT = new Set(['nothing leaves the confirm page', 'success page', 'users/me', 'link is single-use']);

if (!BASE_URL || !(MAILDIR || MAILDEV_URL)) {
  console.error('login.mjs: BASE_URL and TEST_NGINX_MAILDIR (or MAILDEV_URL) must be set');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`login.mjs: ${CHROMIUM} not found (Debian: apt-get install chromium)`);
  failAll(STEPS, `${CHROMIUM} not found`);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret, as an authenticator app shows it.
function totp(secret, now = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...secret.toUpperCase().replace(/=+$/, '')]
    .map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 30000)));
  const hash = createHmac('sha1', key).update(counter).digest();
  const offset = hash[hash.length - 1] & 0x0f;
  return String((hash.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const mailbox = openMailbox(MAILDIR, MAILDEV_URL);
const browser = await startBrowser({
  name: 'login.mjs', binary: CHROMIUM, steps: STEPS, screenshotDir: SCREENSHOT_DIR, timeout: TIMEOUT,
});
const { context, page } = browser;
const screenshot = (target, label) => browser.screenshot(target, label);
const consoleErrors = [];
page.on('pageerror', (error) => consoleErrors.push(error.message));
// Every request the browser makes, to prove that nothing carries a live token away.
const requests = [];
context.on('request', (request) => requests.push({
  method: request.method(), url: request.url(), referer: request.headers().referer ?? '',
}));

// What the steps pass on to each other.
const state = {};

const steps = {
  async 'sign-in page'() {
    const response = await page.goto(BASE_URL + LOGIN_PATH);
    await screenshot(page, 'sign-in-page');
    check(response, 'no response');
    check(response.status() === 200, `GET ${LOGIN_PATH} answered ${response.status()}`);
    const field = page.getByLabel(/email/i);
    check((await field.count()) === 1, 'no single field labelled "email"');
    check((await field.getAttribute('type')) === 'email', 'the labelled field is not type=email');
    check((await page.getByRole('button', { name: 'Email me a sign-in link' }).count()) === 1,
      'no "Email me a sign-in link" button');
    return `${response.status()} ${await page.title()}`;
  },

  async 'request a link'() {
    state.mailsBefore = await mailbox.ids();
    await page.getByLabel(/email/i).fill(EMAIL);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
      page.getByRole('button', { name: 'Email me a sign-in link' }).click(),
    ]);
    await page.waitForLoadState('load');
    await screenshot(page, 'check-your-email');
    check(response.status() === 200, `the form POST answered ${response.status()}`);
    const body = await page.locator('body').innerText();
    check(/Check your email/i.test(body), `no "Check your email" on the page: ${body.slice(0, 200)}`);
    return `POST ${new URL(response.url()).pathname}: ${response.status()}`;
  },

  async 'mail with the link'() {
    const mail = await waitForMail(mailbox, state.mailsBefore, EMAIL, 20);
    check(mail, `no new mail to ${EMAIL} in ${mailbox.where} after 20 s`);
    const text = decodeQuotedPrintable(mail.raw);
    const links = [...text.matchAll(/https?:\/\/[^\s"'<>]+\/magic-link\/verify\?token=[A-Za-z0-9_-]+/g)].map((m) => m[0]);
    check(links.length > 0, `no verify link in mail ${mail.name}`);
    state.link = links[0];
    check(state.link.startsWith(`${BASE_URL}/magic-link/verify?token=`),
      `the link does not start with the public URL ${BASE_URL}: ${state.link.replace(/token=.*/, 'token=...')}`);
    check(/^[A-Za-z0-9_-]{43}$/.test(new URL(state.link).searchParams.get('token')), 'the token is not 43 base64url characters');
    // Show the mail in the artifacts: its HTML part when there is one.
    const html = text.match(/Content-Type: text\/html[^]*?\r?\n\r?\n([^]*?)\r?\n--/i);
    if (html && SCREENSHOT_DIR) {
      const mailPage = await context.newPage();
      await mailPage.setContent(html[1]);
      await screenshot(mailPage, 'mail');
      await mailPage.close();
    }
    if (MAILDEV_URL && SCREENSHOT_DIR) {  // the inbox as people see it
      const inbox = await context.newPage();
      await inbox.goto(MAILDEV_URL);
      await inbox.getByText(/Magic Login Link|sign/i).first().waitFor({ timeout: 5000 }).catch(() => {});
      await screenshot(inbox, 'maildev-inbox');
      await inbox.close();
    }
    return `mail ${mail.name}: ${state.link.replace(/token=.*/, 'token=...')}`;
  },

  async 'confirm page'() {
    state.requestsBefore = requests.length;
    const response = await page.goto(state.link);
    await screenshot(page, 'confirm-page');
    check(response.status() === 200, `GET the link answered ${response.status()}`);
    const body = await page.locator('body').innerText();
    check(body.includes(EMAIL), `the confirm page does not name ${EMAIL}`);
    const button = page.getByRole('button', { name: 'Sign in', exact: true });
    check((await button.count()) === 1, 'no "Sign in" button');
    check(await page.locator('form[method="post"] button[type="submit"]').count() >= 1, 'the button is not a POST form submit');
    const otp = page.locator('input[name="otp"]');
    check((await otp.count()) === (TFA_SECRET ? 1 : 0),
      TFA_SECRET ? 'no one-time password field for a 2FA user' : 'a one-time password field for a user without 2FA');
    check(response.headers()['referrer-policy'] === 'strict-origin',
      `Referrer-Policy ${response.headers()['referrer-policy']}, not strict-origin`);
    return `${response.status()} ${await page.title()}`;
  },

  // While the page holds a live token in its URL, the browser fetches nothing (no favicon, no
  // subresource) that could carry it away in a Referer.
  async 'nothing leaves the confirm page'() {
    await page.waitForTimeout(1500);
    const extra = requests.slice(state.requestsBefore).filter((r) => r.url !== state.link);
    check(extra.length === 0, `requests while the token is live: ${extra.map((r) => `${r.method} ${r.url.replace(/token=[^&]*/, 'token=...')}`).join(', ')}`);
    return 'only the page itself was fetched';
  },

  async 'sign in'() {
    const verifyPath = new URL(state.link).pathname;
    if (TFA_SECRET) {
      // A code with a few seconds of its step left.
      if (30 - (Date.now() / 1000) % 30 < 4) await page.waitForTimeout(4500);
      await page.locator('input[name="otp"]').fill(totp(TFA_SECRET));
    }
    const before = requests.length;
    const [post] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === verifyPath),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    const location = (await post.allHeaders()).location ?? '';
    if (post.status() === 303) {
      await page.waitForURL((url) => url.pathname !== verifyPath, { waitUntil: 'load' });
    } else {
      await page.waitForLoadState('load');
    }
    await screenshot(page, 'after-sign-in');
    check(post.status() === 303, `the POST answered ${post.status()}, not 303`);
    const firstOut = requests[before];
    check(firstOut && firstOut.method === 'POST' && new URL(firstOut.url).pathname === verifyPath,
      `the first request after the click is not the form POST: ${firstOut?.method} ${firstOut?.url}`);
    check(!requests.some((r) => /token=/.test(r.referer)), 'a request carried the token in its Referer');
    check(new URL(page.url()).pathname === SUCCESS_PATH,
      `landed on ${page.url()} (Location: ${location}), not ${SUCCESS_PATH}`);
    return `303 -> ${page.url()}`;
  },

  async 'success page'() {
    const body = await page.locator('body').innerText();
    check(body.includes(`Signed in as ${EMAIL}`) || new RegExp(`Signed in as\\s+${EMAIL.replace(/\./g, '\\.')}`).test(body),
      `no "Signed in as ${EMAIL}" on ${page.url()}: ${body.slice(0, 200)}`);
    return 'Signed in as ' + EMAIL;
  },

  async 'refresh cookie'() {
    const cookies = await context.cookies(BASE_URL);
    const cookie = cookies.find((c) => c.name === 'directus_refresh_token');
    check(cookie, `no directus_refresh_token cookie for ${BASE_URL} (have: ${cookies.map((c) => c.name).join(', ') || 'none'})`);
    check(cookie.domain === '127.0.0.1', `cookie domain ${cookie.domain}`);
    check(cookie.httpOnly, 'the cookie is not HttpOnly');
    check(cookie.sameSite === 'Lax', `SameSite=${cookie.sameSite}, not Lax`);
    return `HttpOnly, SameSite=${cookie.sameSite}, path ${cookie.path}, expires ${cookie.expires > 0 ? new Date(cookie.expires * 1000).toISOString() : 'session'}`;
  },

  async 'refresh through nginx'() {
    // The page's own request context: the browser's cookies, same origin, through nginx.
    const response = await page.request.post(`${BASE_URL}/auth/refresh`, {
      data: { mode: 'cookie' },
      headers: { Origin: BASE_URL },
    });
    const text = await response.text();
    check(response.status() === 200, `POST /auth/refresh answered ${response.status()}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text);
    state.accessToken = body?.data?.access_token;
    check(state.accessToken, 'no access_token in the answer');
    const rotated = (await context.cookies(BASE_URL)).find((c) => c.name === 'directus_refresh_token');
    check(rotated, 'the refresh cookie is gone after the refresh');
    return `200, expires ${body.data.expires} ms`;
  },

  async 'users/me'() {
    const response = await page.request.get(`${DIRECTUS_URL}/users/me`, {
      headers: { Authorization: `Bearer ${state.accessToken}` },
    });
    const text = await response.text();
    check(response.status() === 200, `GET /users/me answered ${response.status()}: ${text.slice(0, 200)}`);
    // A user without a policy may read only its id: check the email only when it is shown.
    const me = JSON.parse(text).data;
    check(me?.id, `no id in /users/me: ${text.slice(0, 200)}`);
    if (USER_ID) check(me.id === USER_ID, `/users/me id ${me.id}, not ${USER_ID}`);
    if (me.email !== undefined) check(me.email === EMAIL, `/users/me email ${me.email}, not ${EMAIL}`);
    return `${me.id}${me.email ? ' ' + me.email : ''}`;
  },

  async 'link is single-use'() {
    const response = await page.goto(state.link);
    await screenshot(page, 'link-used');
    check(response.status() !== 200, 'the spent link still shows the confirm page');
    check((await page.getByRole('button', { name: 'Sign in', exact: true }).count()) === 0,
      'the spent link still offers "Sign in"');
    return `${response.status()} ${await page.title()}`;
  },
};

process.on('exit', () => {
  if (consoleErrors.length) console.error(`login.mjs: page errors: ${consoleErrors.join(' | ')}`);
});
await runSteps(STEPS, steps, INDEPENDENT, browser);
