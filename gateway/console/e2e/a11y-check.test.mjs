// a11y-check.test.mjs — the accessibility checker the view specs use
// (lib.mjs a11y) finds what it claims to: unlabelled controls, nameless
// buttons, tables without captions, and actions Tab does not reach. (A
// checker that always says "fine" would make every view's check vacuous.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, a11y, takePageProblems } from './lib.mjs';

test('the accessibility checker reports what is wrong and passes what is right', async () => {
  const { page, close } = await open({ withCert: false });
  try {
    await page.setContent(`<html><body>
      <input type="text"><select><option>a</option></select>
      <button type="button"></button>
      <table><tr><td>1</td></tr></table>
      <svg role="img"></svg>
      <button type="button" tabindex="-1">Hidden from Tab</button>
    </body></html>`);
    const bad = await a11y(page, ['Hidden from Tab']);
    const want = [/form control without a label: <input/, /form control without a label: <select/, /button without a name/,
      /table without a caption/, /svg role=img without an aria-label/, /<html> has no lang/, /Tab does not reach "Hidden from Tab"/];
    for (const w of want) assert.ok(bad.some((p) => w.test(p)), `missing ${w} in ${JSON.stringify(bad)}`);
    assert.equal(bad.length, want.length, JSON.stringify(bad));

    await page.setContent(`<html lang="en"><body>
      <label for="r">Record</label><input id="r" type="text">
      <input type="text" aria-label="Officer">
      <button type="button">Filter</button>
      <table><caption>Audit entries</caption><tr><td>1</td></tr></table>
      <svg role="img" aria-label="A chart"></svg>
    </body></html>`);
    assert.deepEqual(await a11y(page, ['Record', 'Officer', 'Filter']), []);
  } finally {
    await close();
  }
});

test('a CSP violation and an uncaught exception in a page are caught', async () => {
  const { page, close } = await open({ withCert: false });
  try {
    await page.route('https://csp.invalid/', (route) => route.fulfill({
      status: 200,
      headers: { 'Content-Type': 'text/html', 'Content-Security-Policy': "default-src 'none'; script-src 'self'" },
      body: '<html lang="en"><body><script>document.title = "inline ran"</script><p>x</p></body></html>',
    }));
    await page.goto('https://csp.invalid/');
    assert.notEqual(await page.title(), 'inline ran', 'the inline script was blocked');
    await page.evaluate(() => setTimeout(() => { throw new Error('boom'); }, 0));
    await page.waitForTimeout(200);
    const seen = takePageProblems();
    assert.ok(seen.some((p) => p.startsWith('CSP:')), JSON.stringify(seen));
    assert.ok(seen.some((p) => /uncaught in the page: boom/.test(p)), JSON.stringify(seen));
  } finally {
    await close();
  }
});
