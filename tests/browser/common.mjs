// What the browser flows share (desk.mjs, admin.mjs, report.mjs): settings from the
// environment, collected failures, axe-core on a page, Debian's chromium.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

/** A required setting from the environment (exit 2 without it). */
export const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`${k} is not set`); process.exit(2); }
  return v;
};

export const failures = [];
export const fail = (msg) => { failures.push(msg); console.error(`FEHLER: ${msg}`); };

const axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/** axe-core with the WCAG 2.0/2.1 A and AA rules on the page; each violation a failure. */
export async function axe(page, name) {
  // Runtime.evaluate is not subject to the page's CSP, so the desk's policy stays as served.
  // The mail frame holds the sender's HTML: not ours to check.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run({ exclude: [['iframe.mail-html']] }, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  for (const v of result.violations) {
    fail(`${name}: axe ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }
  console.log(`${name}: axe ${result.violations.length} Verstöße, ${result.passes.length} bestanden`);
}

/** Debian's chromium (or $CHROMIUM), headless, over the DevTools protocol. */
export const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
