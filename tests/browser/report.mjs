// The lead's report in the browser (issue 16): log in, open /bericht, pick the year 2017 in its
// form, axe-core (WCAG 2.0/2.1 A and AA) on the page with the document, download the CSV and
// compare it with the CLI's bytes, then pick a half-year with the year still shown in its form. Started by tests/it/web_report.rs with a running desk:
//   DESK_URL=… DESK_USER=… DESK_PASSWORD=… REPORT_CSV=file SHOT_DIR=… node report.mjs
import { env, failures, fail, axe, launch } from './common.mjs';
import { readFileSync, mkdirSync } from 'node:fs';

const base = env('DESK_URL');
const shots = env('SHOT_DIR');
const wantCsv = readFileSync(env('REPORT_CSV'));
mkdirSync(shots, { recursive: true });

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'de-DE', acceptDownloads: true });
  const page = await context.newPage();
  const cspErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text());
  });

  // 1. Log in, asking for the report.
  await page.goto(`${base}/bericht`);
  await page.fill('#username', env('DESK_USER'));
  await page.fill('#password', env('DESK_PASSWORD'));
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  if (new URL(page.url()).pathname !== '/bericht') fail(`after login not at the report: ${page.url()}`);

  // 2. The nav leads there; the form picks the year.
  const nav = await page.getAttribute('nav a[aria-current="page"]', 'href');
  if (nav !== '/bericht') fail(`the navigation does not mark the report: ${nav}`);
  await page.fill('#year', '2017');
  await Promise.all([page.waitForNavigation(), page.click('#form-jahr button')]);
  const title = await page.textContent('article h1');
  if (!title || !title.includes('2017')) fail(`no report of 2017: ${title}`);
  if (!(await page.isVisible('article svg'))) fail('no chart');
  const tableText = await page.textContent('article');
  for (const s of ['Klärungsarbeit', 'Netzwerkarbeit', 'Familienkasse', 'Caritas, Diakonie']) {
    if (!tableText.includes(s)) fail(`the document lacks ${s}`);
  }
  await axe(page, 'bericht');
  await page.screenshot({ path: `${shots}/10-bericht.png`, fullPage: true });

  // 320 px wide: the page does not scroll sideways (wide tables scroll in their own region).
  await page.setViewportSize({ width: 320, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) fail(`horizontal scrolling at 320 px: ${overflow} px too wide`);
  await axe(page, 'bericht-320px');
  await page.screenshot({ path: `${shots}/11-bericht-320px.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // 3. The CSV download is the CLI's.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('a:has-text("Als CSV herunterladen")'),
  ]);
  const got = readFileSync(await download.path());
  if (!got.equals(wantCsv)) fail(`the downloaded CSV differs from the CLI's (${got.length} vs ${wantCsv.length} bytes)`);
  if (!download.suggestedFilename().endsWith('.csv')) fail(`file name ${download.suggestedFilename()}`);

  // 4. Then a half-year, the year still shown in its own form: the half-year's report.
  if ((await page.inputValue('#year')) !== '2017') fail('the year shown is not kept in its form');
  await page.fill('#half_year', '2017-2');
  await Promise.all([page.waitForNavigation(), page.click('#form-halbjahr button')]);
  const half = await page.textContent('article h1');
  if (!half || !half.includes('2. Halbjahr 2017')) fail(`no report of the second half of 2017: ${half}`);
  if (await page.isVisible('.alert')) fail('a half-year after a year is refused');
  await axe(page, 'bericht-halbjahr');

  // 5. A bad period: the message at the form, still accessible.
  await page.goto(`${base}/bericht?half_year=2017-3`);
  if (!(await page.isVisible('.alert'))) fail('no message for a bad half-year');
  await axe(page, 'bericht-fehler');

  for (const e of cspErrors) fail(`browser console: ${e}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} Fehler`);
  process.exit(1);
}
console.log('Bericht im Browser in Ordnung');
