// Device binding in two real browsers (two chromium profiles: a "laptop" and a "phone"): the
// laptop asks for a link and waits; the phone opens the mailed link, sees where it was asked
// for, and approves; the laptop's waiting page signs in by itself. With MODE=prompt also: the
// laptop opens its own link with one click, and the phone may "Sign in here". With MODE=strict
// the phone is offered only the approval.
//
// Run by t/074-device-binding-browser.t. Same protocol and environment as login.mjs (BASE_URL,
// TEST_NGINX_MAILDIR, EMAIL, CHROMIUM, SCREENSHOT_DIR, STEP_TIMEOUT_MS), plus MODE.

import { existsSync } from 'node:fs';
import { check, failAll, linkIn, openMailbox, runSteps, startBrowser, waitForMail } from './steps.mjs';

const env = process.env;
const BASE_URL = (env.BASE_URL ?? '').replace(/\/+$/, '');
const MAILDIR = env.TEST_NGINX_MAILDIR ?? '';
const EMAIL = env.EMAIL ?? 'device@example.com';
const MODE = env.MODE ?? 'prompt';
const CHROMIUM = env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = Number(env.STEP_TIMEOUT_MS ?? 15000);
const LOGIN_PATH = '/magic-link-ui';
const SUCCESS_PATH = '/magic-link-ui/success';
const APPROVE = 'Approve the sign-in on the other device';

const STEPS = [
  'laptop asks for a link and waits',
  'mail with the link',
  'phone sees where the link was asked for',
  'phone approves',
  'the waiting laptop signs itself in',
  ...(MODE === 'prompt' ? ['the laptop opens its own link with one click', 'the phone may sign in here'] : []),
];

if (!BASE_URL || !MAILDIR) {
  console.error('device-binding.mjs: BASE_URL and TEST_NGINX_MAILDIR must be set');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) failAll(STEPS, `${CHROMIUM} not found`);

const mailbox = openMailbox(MAILDIR, '');
const options = { binary: CHROMIUM, steps: STEPS, timeout: TIMEOUT };
const laptop = await startBrowser({ ...options, name: 'laptop', screenshotDir: env.SCREENSHOT_DIR && `${env.SCREENSHOT_DIR}/laptop` });
const phone = await startBrowser({ ...options, name: 'phone', screenshotDir: env.SCREENSHOT_DIR && `${env.SCREENSHOT_DIR}/phone` });
const state = {};

// Asks for a link on the laptop's sign-in page; resolves when the waiting page is shown.
async function askOnLaptop() {
  state.seen = await mailbox.ids();
  await laptop.page.goto(BASE_URL + LOGIN_PATH);
  await laptop.page.getByLabel(/email/i).fill(EMAIL);
  await Promise.all([
    laptop.page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    laptop.page.getByRole('button', { name: 'Email me a sign-in link' }).click(),
  ]);
  await laptop.page.waitForLoadState('load');
  const mail = await waitForMail(mailbox, state.seen, EMAIL, 20);
  check(mail, `no new mail to ${EMAIL}`);
  state.link = linkIn(mail);
  check(state.link, 'no verify link in the mail');
}

async function bodyText(page) {
  return page.locator('body').innerText();
}

const steps = {
  async 'laptop asks for a link and waits'() {
    await askOnLaptop();
    await laptop.screenshot(laptop.page, 'waiting');
    check(/Check your email/.test(await bodyText(laptop.page)), 'no "Check your email" page');
    const refresh = await laptop.page.locator('meta[http-equiv="refresh"]').getAttribute('content');
    check(/^\d+;url=\/magic-link-ui\?wait=\d+$/.test(refresh ?? ''), `no self-reload: ${refresh}`);
    const cookies = await laptop.context.cookies(BASE_URL);
    const binding = cookies.find((c) => c.name === 'magic_link_device');
    check(binding, 'no magic_link_device cookie');
    check(binding.httpOnly && binding.sameSite === 'Lax', `the binding cookie is not HttpOnly/Lax: ${JSON.stringify(binding)}`);
    return `waiting page reloads with "${refresh}"`;
  },

  async 'mail with the link'() {
    check(state.link.startsWith(`${BASE_URL}/magic-link/verify?token=`), 'the link is not the verify page');
    return state.link.replace(/token=.*/, 'token=...');
  },

  async 'phone sees where the link was asked for'() {
    const response = await phone.page.goto(state.link);
    await phone.screenshot(phone.page, 'prompt');
    check(response.status() === 200, `the link answered ${response.status()}`);
    const text = await bodyText(phone.page);
    check(text.includes('asked for in another browser'), `no "asked for in another browser": ${text.slice(0, 300)}`);
    check(/Chrome on Linux/.test(text), 'the asking browser and OS are not named');
    check(/network 127\.0\.0\.0\/24/.test(text), 'the asking network is not named');
    check((await phone.page.getByRole('button', { name: APPROVE }).count()) === 1, `no "${APPROVE}" button`);
    const here = await phone.page.getByRole('button', { name: 'Sign in here' }).count();
    check(here === (MODE === 'prompt' ? 1 : 0), `"Sign in here" shown ${here} times in ${MODE} mode`);
    return `${MODE}: ${here ? '"Sign in here" and ' : ''}"${APPROVE}"`;
  },

  async 'phone approves'() {
    await phone.page.getByRole('button', { name: APPROVE }).click();
    await phone.page.waitForLoadState('load');
    await phone.screenshot(phone.page, 'approved');
    check(/Sign-in approved/.test(await bodyText(phone.page)), 'no "Sign-in approved"');
    const cookies = await phone.context.cookies(BASE_URL);
    check(!cookies.some((c) => c.name.startsWith('directus_')), 'the approving phone got a Directus session');
    return 'approved; the phone holds no session';
  },

  async 'the waiting laptop signs itself in'() {
    await laptop.page.waitForURL((url) => url.pathname === SUCCESS_PATH, { timeout: 20000, waitUntil: 'load' });
    await laptop.screenshot(laptop.page, 'signed-in-by-approval');
    const text = await bodyText(laptop.page);
    check(text.includes(`Signed in as ${EMAIL}`), `not signed in as ${EMAIL}: ${text.slice(0, 200)}`);
    return `reloaded into ${SUCCESS_PATH}`;
  },

  async 'the laptop opens its own link with one click'() {
    await askOnLaptop();
    const tab = await laptop.context.newPage();
    await tab.goto(state.link);
    await laptop.screenshot(tab, 'same-browser-confirm');
    const text = await bodyText(tab);
    check(!text.includes('another browser'), 'the asking browser is prompted');
    check((await tab.getByRole('button').count()) === 1, 'more than one button');
    await Promise.all([
      tab.waitForURL((url) => url.pathname === SUCCESS_PATH, { waitUntil: 'load' }),
      tab.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    check((await bodyText(tab)).includes(`Signed in as ${EMAIL}`), 'not signed in');
    await tab.close();
    return 'one "Sign in" click';
  },

  async 'the phone may sign in here'() {
    await askOnLaptop();
    await phone.page.goto(state.link);
    await Promise.all([
      phone.page.waitForURL((url) => url.pathname === SUCCESS_PATH, { waitUntil: 'load' }),
      phone.page.getByRole('button', { name: 'Sign in here' }).click(),
    ]);
    await phone.screenshot(phone.page, 'signed-in-here');
    check((await bodyText(phone.page)).includes(`Signed in as ${EMAIL}`), 'the phone is not signed in');
    return 'signed in on the phone';
  },
};

await runSteps(STEPS, steps, new Set(), {
  page: laptop.page,
  screenshot: (target, label) => laptop.screenshot(target, label),
  async close() {
    await phone.close();
    await laptop.close();
  },
});
