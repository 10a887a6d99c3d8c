// Sign in to the Data Studio by email link, in a real browser: open /admin/content unsigned, be
// sent to the sign-in page by the gate, ask for a link, open it, press "Sign in", and land in the
// Data Studio's content module, signed in with Directus' own session cookie; then the Data
// Studio's own refresh works and /users/me with the browser's cookies answers the user.
//
// Run by t/072-data-studio.t. Environment: BASE_URL (nginx), TEST_NGINX_MAILDIR, EMAIL, USER_ID,
// CHROMIUM, SCREENSHOT_DIR, STEP_TIMEOUT_MS (as login.mjs). Protocol: see steps.mjs.

import { existsSync } from 'node:fs';
import { check, failAll, linkIn, openMailbox, runSteps, startBrowser, waitForMail } from './steps.mjs';

const env = process.env;
const BASE_URL = (env.BASE_URL ?? '').replace(/\/+$/, '');
const EMAIL = env.EMAIL ?? '';
const USER_ID = env.USER_ID ?? '';
const CHROMIUM = env.CHROMIUM ?? '/usr/bin/chromium';
const STEPS = [
  'the gate sends the Data Studio to sign in',
  'request a link',
  'mail with the link',
  'sign in lands in the Data Studio',
  'content module',
  'session cookie',
  'users/me with the browser cookies',
  'the Data Studio refreshes its session',
];

if (!BASE_URL || !env.TEST_NGINX_MAILDIR || !EMAIL) {
  console.error('data-studio.mjs: BASE_URL, TEST_NGINX_MAILDIR and EMAIL must be set');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) failAll(STEPS, `${CHROMIUM} not found`);

const mailbox = openMailbox(env.TEST_NGINX_MAILDIR, '');
const browser = await startBrowser({
  name: 'data-studio.mjs', binary: CHROMIUM, steps: STEPS, screenshotDir: env.SCREENSHOT_DIR ?? '',
  timeout: Number(env.STEP_TIMEOUT_MS ?? 30000),
});
const { context, page } = browser;
const state = {};

// The content module is on screen: the Data Studio's navigation shows "Content" and the URL
// stayed in the module (not the Data Studio's own login page).
async function contentModuleShown() {
  await page.waitForURL((url) => url.pathname.startsWith('/admin/content'), { waitUntil: 'load' });
  await page.getByText('Content', { exact: false }).first().waitFor();
  await page.waitForLoadState('networkidle').catch(() => {});
  return !page.url().includes('/admin/login');
}

const steps = {
  async 'the gate sends the Data Studio to sign in'() {
    const response = await page.goto(`${BASE_URL}/admin/content`);
    await browser.screenshot(page, 'sent-to-sign-in');
    const url = new URL(page.url());
    check(url.pathname === '/magic-link-ui', `landed on ${page.url()}, not the sign-in page`);
    check(url.searchParams.get('return') === '/admin/content', `return=${url.searchParams.get('return')}`);
    check(response.status() === 200, `the sign-in page answered ${response.status()}`);
    return page.url();
  },

  async 'request a link'() {
    state.seen = await mailbox.ids();
    await page.getByLabel(/email/i).fill(EMAIL);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Email me a sign-in link' }).click()]);
    check(/Check your email/i.test(await page.locator('body').innerText()), 'no "Check your email"');
    return 'asked';
  },

  async 'mail with the link'() {
    const mail = await waitForMail(mailbox, state.seen, EMAIL, 20);
    check(mail, `no mail to ${EMAIL} after 20 s`);
    state.link = linkIn(mail);
    check(state.link, 'no verify link in the mail');
    return state.link.replace(/token=.*/, 'token=...');
  },

  async 'sign in lands in the Data Studio'() {
    await page.goto(state.link);
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith('/admin'), { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    check(new URL(page.url()).pathname.startsWith('/admin/content'), `landed on ${page.url()}`);
    return page.url();
  },

  async 'content module'() {
    check(await contentModuleShown(), `the Data Studio shows its login page: ${page.url()}`);
    await browser.screenshot(page, 'data-studio-content');
    return page.url();
  },

  async 'session cookie'() {
    const cookies = await context.cookies(BASE_URL);
    const session = cookies.find((c) => c.name === 'directus_session_token');
    check(session, `no directus_session_token (have: ${cookies.map((c) => c.name).join(', ')})`);
    check(session.httpOnly, 'not HttpOnly');
    const payload = JSON.parse(Buffer.from(session.value.split('.')[1], 'base64url').toString());
    check(payload.exp - payload.iat > 60, 'the cookie is the 30-second bootstrap, not Directus\' session');
    check(payload.app_access === true, `app_access ${payload.app_access}: not computed by Directus`);
    return `HttpOnly, SameSite=${session.sameSite}, Directus' own JWT (app_access true)`;
  },

  async 'users/me with the browser cookies'() {
    const response = await page.request.get(`${BASE_URL}/users/me?fields=id,email`);
    const text = await response.text();
    check(response.status() === 200, `/users/me answered ${response.status()}: ${text.slice(0, 200)}`);
    const me = JSON.parse(text).data;
    check(me.id === USER_ID, `/users/me id ${me.id}, not ${USER_ID}`);
    return `${me.id} ${me.email ?? ''}`;
  },

  // What the Data Studio does before its access token expires: POST /auth/refresh in session
  // mode with its cookie; then it still shows the content module.
  async 'the Data Studio refreshes its session'() {
    const before = (await context.cookies(BASE_URL)).find((c) => c.name === 'directus_session_token').value;
    const response = await page.request.post(`${BASE_URL}/auth/refresh`, { data: { mode: 'session' } });
    check(response.status() === 200, `/auth/refresh answered ${response.status()}: ${(await response.text()).slice(0, 200)}`);
    const after = (await context.cookies(BASE_URL)).find((c) => c.name === 'directus_session_token');
    check(after && after.value !== before, 'the session cookie was not rotated');
    // A new page, as a person opening the Data Studio again would (a reload of the one page
    // waits on the Data Studio's open connections).
    const fresh = await context.newPage();
    const opened = await fresh.goto(`${BASE_URL}/admin/content`, { waitUntil: 'domcontentloaded' });
    check(opened.status() === 200, `GET /admin/content answered ${opened.status()}`);
    await fresh.close();
    await page.reload({ waitUntil: 'domcontentloaded' });
    check(await contentModuleShown(), 'after the refresh the Data Studio shows its login page');
    await browser.screenshot(page, 'data-studio-after-refresh');
    return 'rotated, still in the content module';
  },
};

await runSteps(STEPS, steps, new Set(['session cookie', 'users/me with the browser cookies']), browser);
