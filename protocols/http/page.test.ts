// Proves the admin web page end to end in a real browser: Debian's Chromium (installed with apt
// on first use, else the test fails loudly) driven by playwright-core against a real server
// over TLS. A wrong credential is refused; with the right one the page lists every copy, the
// mailboxes and the chart; clicking "Switchover here" on DB01's passive copy makes it active
// (the roles change on the page without a reload); adding a user through the form shows it in
// the mailbox list; suspend, resume and reseed work on a passive copy; a multi-mailbox search
// from the eDiscovery form shows its counts per mailbox and lands in the audit table. A
// screenshot is saved under test-artifacts/ (git-ignored).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { aptInstall } from '../../scripts/services/runner.js';
import { startTestServer } from '../../test/harness.js';

const chromiumPath = '/usr/bin/chromium';
const artifacts = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

function ensureChromium(): void {
  if (!existsSync(chromiumPath)) aptInstall('chromium', ['chromium']);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing and could not be installed`);
}

test('admin page: log in, see copies, switch over, add a user, suspend and resume; screenshot', { timeout: 120_000 }, async () => {
  ensureChromium();
  const quire = await startTestServer();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // The server's self-signed certificate: the browser is told to accept it for this test only.
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    const base = `https://127.0.0.1:${quire.port('https')}`;
    await page.goto(`${base}/admin`);

    await page.fill('#token', 'not-the-token');
    await page.click('#login-button');
    await page.waitForSelector('#login-error:has-text("refused")');

    await page.fill('#token', quire.server.adminToken);
    await page.click('#login-button');
    await page.waitForSelector('#copies tbody tr[data-copy="DB01/MBX1#2"]');
    assert.equal(await page.locator('#copies tbody tr').count(), 4);
    assert.equal(await page.getAttribute('tr[data-copy="DB01/MBX1#1"]', 'data-role'), 'active');
    assert.equal(await page.getAttribute('tr[data-copy="DB01/MBX1#2"]', 'data-role'), 'passive');
    await page.waitForSelector(`#users tr[data-address="${quire.demo.address}"]`);
    assert.match((await page.textContent('#health')) ?? '', /healthy/);
    assert.equal(await page.locator('#chart polyline').count(), 2);

    await page.click('tr[data-copy="DB01/MBX1#2"] button:has-text("Switchover here")');
    await page.waitForSelector('tr[data-copy="DB01/MBX1#2"][data-role="active"]');
    await page.waitForSelector('tr[data-copy="DB01/MBX1#1"][data-role="passive"]');
    assert.match((await page.textContent('#message')) ?? '', /DB01 is now active on MBX1#2/);
    const copies = await quire.server.supervisor.list();
    assert.equal(copies.find((c) => c.database === 'DB01' && c.copy === 2)?.role, 'active', 'the server agrees');

    // A history sample before and after the user's mailbox is created: the chart then has a commit latency to draw.
    await quire.server.metrics.sample();
    await page.fill('#new-address', 'webuser@example.org');
    await page.fill('#new-password', 'web-pw-1');
    await page.selectOption('#new-database', 'DB02');
    await page.click('#add-user button');
    await page.waitForSelector('#users tr[data-address="webuser@example.org"]');
    assert.match((await page.textContent('#users tr[data-address="webuser@example.org"]')) ?? '', /DB02/);
    await quire.server.metrics.sample();
    await page.waitForFunction(() => /^\d+(\.\d+)?$/.test(document.getElementById('latency-now')?.textContent ?? ''));

    await page.click('tr[data-copy="DB02/MBX1#2"] button:has-text("Suspend")');
    await page.waitForSelector('tr[data-copy="DB02/MBX1#2"] td:has-text("Suspended")');
    await page.click('tr[data-copy="DB02/MBX1#2"] button:has-text("Resume")');
    await page.waitForSelector('tr[data-copy="DB02/MBX1#2"] button:has-text("Suspend")');
    await page.click('tr[data-copy="DB02/MBX1#2"] button:has-text("Reseed")');
    await page.waitForSelector('#message:has-text("DB02 MBX1#2 reseeded")');
    await page.waitForSelector('tr[data-copy="DB02/MBX1#2"] td:has-text("Healthy")');

    // eDiscovery: search every mailbox for a word only the demo mailbox's new message holds.
    const demo = (await quire.server.directory.findUser(quire.demo.address))!;
    const appended = await quire.server.supervisor.api(demo.database).commit({
      mailboxId: demo.mailboxId,
      ops: [{ op: 'append', folder: 'INBOX', content: new TextEncoder().encode('From: a@example.org\r\nSubject: zanzibar plans\r\n\r\nmeet in Zanzibar\r\n') }],
    });
    assert.ok(appended.ok);
    await page.fill('#discovery-text', 'zanzibar');
    await page.fill('#discovery-name', 'Page case');
    await page.click('#discovery button');
    await page.waitForSelector('#discovery-progress[data-state="done"]');
    assert.equal(await page.textContent(`#discovery-results tr[data-address="${quire.demo.address}"] td:nth-child(3)`), '1');
    assert.equal(await page.textContent('#discovery-results tr[data-address="webuser@example.org"] td:nth-child(3)'), '0');
    assert.match((await page.textContent('#discovery-progress')) ?? '', /Page case: done, 1 messages in 1 of 2 mailboxes/);
    await page.waitForSelector('#discovery-audit tbody tr:has-text("Page case")');
    assert.match((await page.textContent('#discovery-audit tbody tr:has-text("Page case")')) ?? '', /admin \(admin page\)/);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'admin-page.png'), fullPage: true });
    assert.ok(existsSync(join(artifacts, 'admin-page.png')));
  } finally {
    await browser.close();
    await quire.stop();
  }
});
