// The admin pages in a real browser (issue 16): Debian's chromium over the DevTools protocol,
// axe-core (WCAG 2.0/2.1 A and AA) on every admin page, a mail uploaded to the rule test, and
// the admin queueing the retry of a quarantined mail (the Rust test then runs the daemon and
// checks the move). Started by tests/it/web_admin.rs (browser_admin…) with a running desk:
//   DESK_URL=… DESK_USER=… DESK_PASSWORD=… MAIL_FILE=… SHOT_DIR=… node admin.mjs
import { env, failures, fail, axe, launch } from './common.mjs';
import { mkdirSync } from 'node:fs';

const base = env('DESK_URL');
const user = env('DESK_USER');
const password = env('DESK_PASSWORD');
const mailFile = env('MAIL_FILE');
const shots = env('SHOT_DIR');
mkdirSync(shots, { recursive: true });

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'de-DE' });
  const page = await context.newPage();
  const cspErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text());
  });

  await page.goto(`${base}/login`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Anmelden")')]);

  for (const [path, name] of [['/zugriffe', 'zugriffe'], ['/benutzer', 'benutzer'], ['/regeln', 'regeln'], ['/passwort', 'passwort'], ['/quarantaene', 'quarantaene']]) {
    const res = await page.goto(`${base}${path}`);
    if (res.status() !== 200) fail(`${path}: status ${res.status()}`);
    await axe(page, name);
    await page.screenshot({ path: `${shots}/admin-${name}.png`, fullPage: true });
  }

  // The quarantine at 320 px: no horizontal scrolling.
  await page.setViewportSize({ width: 320, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) fail(`quarantaene: horizontal scrolling at 320 px: ${overflow} px too wide`);
  await page.setViewportSize({ width: 1280, height: 900 });

  // The admin queues the retry of the quarantined mail.
  const retry = page.locator('button:has-text("Erneut versuchen")');
  if (await retry.count() !== 1) fail(`expected one retry button, found ${await retry.count()}`);
  await Promise.all([page.waitForNavigation(), retry.first().click()]);
  const notice = await page.textContent('main');
  if (!notice.includes('erneuter Versuch vorgemerkt')) fail(`retry not queued: ${notice}`);
  await axe(page, 'quarantaene-vorgemerkt');
  await page.screenshot({ path: `${shots}/admin-quarantaene-vorgemerkt.png`, fullPage: true });

  // The rule test with an uploaded mail: the result is shown, its text escaped.
  await page.goto(`${base}/regeln`);
  await page.setInputFiles('#mail', mailFile);
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Prüfen")')]);
  const main = await page.textContent('main');
  if (!main.includes('Was der Dienst mit dieser Mail täte')) fail(`no explanation shown: ${main.slice(0, 400)}`);
  if (await page.evaluate(() => window.__pwned)) fail('script from the uploaded mail ran');
  await axe(page, 'regeln-ergebnis');
  await page.screenshot({ path: `${shots}/admin-regeln-ergebnis.png`, fullPage: true });

  for (const e of cspErrors) fail(`browser console: ${e}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} Fehler`);
  process.exit(1);
}
console.log('Admin-Durchlauf in Ordnung');
