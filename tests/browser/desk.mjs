// One real-browser flow through the staff desk: Debian's chromium driven over the DevTools
// protocol (playwright-core, no browser download), axe-core on every page visited (WCAG 2.0/2.1
// A and AA), a keyboard-only login, the work list at 320 px width. Screenshots go to SHOT_DIR.
// Then the case work: open the overdue case from the list, classify, assess and close it by
// form; a mail case from the real intake (its HTML part in the sandboxed frame) and
// /vorgaenge/neu, axe on each (the mail frame, whose HTML comes from the sender, excluded).
// Started by tests/it/web.rs (browser_flow…) with a running `krm-intake web`:
//   DESK_URL=http://127.0.0.1:PORT DESK_USER=… DESK_PASSWORD=… DESK_CASE=KRM-… \
//   DESK_MAIL_CASE=KRM-… SHOT_DIR=… node desk.mjs
import { env, failures, fail, axe, launch } from './common.mjs';
import { mkdirSync } from 'node:fs';

const base = env('DESK_URL');
const user = env('DESK_USER');
const password = env('DESK_PASSWORD');
const caseNumber = env('DESK_CASE');
const mailCase = env('DESK_MAIL_CASE');
const shots = env('SHOT_DIR');
mkdirSync(shots, { recursive: true });

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'de-DE' });
  const page = await context.newPage();
  const cspErrors = [];
  // A policy violation means a page relies on something the CSP forbids (inline script or
  // style, a foreign source). Status errors (the 400 of a bad filter, the favicon's 404) are
  // expected and not collected.
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text());
  });

  // 1. Without a session the work list sends us to the login page.
  await page.goto(`${base}/vorgaenge?status=alle`);
  if (!new URL(page.url()).pathname.startsWith('/login')) fail(`no login redirect: ${page.url()}`);
  await axe(page, 'login');
  await shot(page, '01-anmelden');

  // 2. Keyboard only: Tab to the name field, type, Tab, type, Enter.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (focused === 'username') break;
  }
  const outline = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return `${s.outlineStyle} ${s.outlineWidth}`;
  });
  if (outline.startsWith('none') || outline.endsWith(' 0px')) fail(`no visible focus on the name field: ${outline}`);
  await page.keyboard.type(user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const after = new URL(page.url());
  if (after.pathname !== '/vorgaenge' || after.search !== '?status=alle') {
    fail(`after login not back at the page asked for: ${page.url()}`);
    console.error(await page.textContent('main'));
    await shot(page, '00-anmeldung-fehlgeschlagen');
    process.exitCode = 1;
    throw new Error('login failed');
  }

  // 3. The work list.
  const text = await page.textContent('main');
  if (!text.includes(caseNumber)) fail(`case ${caseNumber} not in the work list`);
  if (await page.evaluate(() => window.__pwned !== undefined)) fail('a payload ran: window.__pwned is set');
  await axe(page, 'vorgaenge');
  await shot(page, '02-vorgaenge');

  // 4. A filter with an error is shown at its field.
  await page.fill('#due_within', 'viele');
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Filtern")')]);
  if (!(await page.isVisible('#due_within-fehler'))) fail('filter error not shown at its field');
  await axe(page, 'vorgaenge-fehler');
  await shot(page, '03-vorgaenge-filterfehler');

  // 5. 320 px wide: nothing wider than the screen.
  await page.setViewportSize({ width: 320, height: 800 });
  await page.goto(`${base}/vorgaenge?status=alle`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) fail(`horizontal scrolling at 320 px: ${overflow} px too wide`);
  await axe(page, 'vorgaenge-320px');
  await shot(page, '04-vorgaenge-320px');
  // 200 % zoom of a 1280 px window is a 640 px wide layout.
  await page.setViewportSize({ width: 640, height: 450 });
  const overflow640 = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow640 > 0) fail(`horizontal scrolling at 200 % zoom: ${overflow640} px too wide`);
  await shot(page, '05-vorgaenge-200-prozent');
  await page.setViewportSize({ width: 1280, height: 900 });

  // 6. The overdue case, from its link in the list: classify, assess, close by form.
  await page.goto(`${base}/vorgaenge?overdue=1`);
  await Promise.all([page.waitForNavigation(), page.click(`a:has-text("${caseNumber}")`)]);
  if (new URL(page.url()).pathname !== `/vorgaenge/${caseNumber}`) fail(`case link went to ${page.url()}`);
  await axe(page, 'vorgang');
  await shot(page, '07-vorgang');
  const submit = async (verb, fill) => {
    await page.click(`#aktion-${verb} summary`);
    if (fill) await fill();
    await Promise.all([page.waitForNavigation(), page.click(`#aktion-${verb} button[type=submit]`)]);
    if (!(await page.isVisible('.notice'))) {
      fail(`${verb}: no confirmation: ${await page.textContent('main')}`);
    }
  };
  await submit('classify', () => page.selectOption('#classify-kind', 'beschwerde'));
  await submit('assess', () => page.selectOption('#assess-justified', 'yes'));
  await axe(page, 'vorgang-bewertet');
  // Clarification work: a contact recorded (its note a payload that must stay text), then
  // removed by its own form, which the page offers only while the case has a contact.
  const note = '<img src=x onerror="window.__pwned=1">';
  await submit('contact', async () => {
    await page.selectOption('#contact-stelle', 'Familienkasse');
    await page.fill('#contact-note', note);
  });
  if (!(await page.textContent('main')).includes(note)) fail('the contact note is not shown as text');
  await page.click('#aktion-contact-remove summary');
  await axe(page, 'vorgang-kontakt');
  await shot(page, '07b-vorgang-kontakt');
  await page.click('#aktion-contact-remove summary'); // closed again; `submit` opens it
  await submit('contact-remove', () => page.selectOption('#contact-remove-contact', { index: 1 }));
  if ((await page.locator('#aktion-contact-remove').count()) > 0) fail('"Kontakt entfernen" still offered without a contact');
  if (await page.evaluate(() => window.__pwned !== undefined)) fail('a payload ran: window.__pwned is set');
  await submit('close');
  const facts = await page.textContent('.facts');
  for (const want of ['abgeschlossen', 'Beschwerde', 'ja']) {
    if (!facts.includes(want)) fail(`after closing, the facts lack "${want}": ${facts}`);
  }
  await shot(page, '08-vorgang-abgeschlossen');
  // A closed case offers no second close; a refusal is shown beside its form and announced.
  if ((await page.locator('#aktion-close').count()) > 0) fail('a closed case still offers "Abschließen"');
  await page.click('#aktion-note summary');
  await Promise.all([page.waitForNavigation(), page.click('#aktion-note button[type=submit]')]);
  if (!(await page.isVisible('#note-fehler'))) fail('a refused (empty) note shows no message at its form');
  await axe(page, 'vorgang-fehler');
  await shot(page, '09-vorgang-fehler');

  // 7. A case from the real intake: its text and its HTML part in the sandboxed frame.
  await page.goto(`${base}/vorgaenge/${mailCase}`);
  await page.waitForLoadState('load');
  const frame = page.frames().find((f) => f.url().endsWith('/html'));
  if (!frame) fail('no mail frame on the mail case');
  else if (!(await frame.textContent('body')).includes('mein Umzug')) fail('the mail frame does not show the HTML part');
  await axe(page, 'vorgang-mail');
  await shot(page, '10-vorgang-mail');
  await page.locator('iframe.mail-html').screenshot({ path: `${shots}/10-vorgang-mail-html-teil.png` });
  if (await page.evaluate(() => window.__pwned !== undefined)) fail('a payload ran: window.__pwned is set');

  // 8. A new reaction by phone.
  await page.goto(`${base}/vorgaenge/neu`);
  await axe(page, 'neu');
  await page.check('#channel-telefon');
  await page.fill('#received', '2026-01-07T10:00');
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Erfassen")')]);
  if (!/\/vorgaenge\/KRM-\d{4}-\d{5}\?erledigt=neu&z=[0-9a-f]{16}$/.test(page.url())) fail(`new reaction not created: ${page.url()}`);
  await shot(page, '11-neu-erfasst');
  if (await page.evaluate(() => window.__pwned !== undefined)) fail('a payload ran: window.__pwned is set');

  // 9. Logout.
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Abmelden")')]);
  if (!page.url().includes('/login?abgemeldet=1')) fail(`logout did not land on the login page: ${page.url()}`);
  await axe(page, 'abgemeldet');
  await shot(page, '06-abgemeldet');
  await page.goto(`${base}/vorgaenge`);
  if (!new URL(page.url()).pathname.startsWith('/login')) fail('the work list is still reachable after logout');

  for (const e of cspErrors) fail(`browser console: ${e}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} Fehler`);
  process.exit(1);
}
console.log('Browser-Durchlauf in Ordnung');
