// The operator in a real browser (Debian's chromium, driven by playwright-core), for
// tests/net/bunker/console.rs: it opens the login link of `passport bunker console`,
// lands on /console, opens the waiting request, reads what the page shows, clicks
// Approve, reads the result page, then logs out. Pages run with JavaScript off: the
// console must work without it.
//
//   node console-browser.mjs LOGIN_URL PENDING_URL
//
// stdout, one JSON object a line: {"landed"…}, {"cookie"…}, {"request"…}, {"result"…},
// {"logout"…}, {"again"…} (the login link opened a second time). Any failure: a message
// on stderr and exit 1 (2 after 90 s).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const [login, pending] = process.argv.slice(2)
if (!login || !pending) {
  console.error('usage: console-browser.mjs LOGIN_URL PENDING_URL')
  process.exit(1)
}
setTimeout(() => {
  console.error('timed out after 90 s')
  process.exit(2)
}, 90_000).unref()

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const text = async (page, sel) => (await page.locator(sel).first().innerText()).trim()

const profile = mkdtempSync(join(tmpdir(), 'console-browser-'))
// A fresh profile (the user-data-dir); without the background-networking flags
// Chromium's own connections can hang here.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  javaScriptEnabled: false,
  timeout: 30_000,
})
try {
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()

  const first = await page.goto(login)
  const landed = new URL(page.url())
  say({
    landed: landed.pathname,
    query: landed.search,
    status: first.status(),
    links: await page.locator('#pending a').evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
  })

  const cookies = await context.cookies()
  const c = cookies.find((c) => c.name === 'passport_console')
  say({ cookie: c ? { httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path, expires: c.expires } : null })

  const shown = await page.goto(pending)
  say({
    request: {
      status: shown.status(),
      method: await text(page, '#method'),
      kind: await text(page, '#kind'),
      content: await text(page, '#content'),
      tags: await page.locator('#tags tr').evaluateAll((rows) =>
        rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent))),
      created_at: await text(page, '#created_at'),
      npub: await text(page, '#npub'),
      scripts: await page.locator('script').count(),
      images: await page.locator('img').count(),
    },
  })

  const [result] = await Promise.all([
    page.waitForNavigation(),
    page.locator('#approve').click(),
  ])
  say({ result: { status: result.status(), path: new URL(page.url()).pathname, message: await text(page, '#message') } })

  // Log out from the list page: the cookie is gone and the console closed.
  const consoleUrl = new URL('/console', login).href
  await page.goto(consoleUrl)
  const [out] = await Promise.all([page.waitForNavigation(), page.locator('#logout').click()])
  const message = await text(page, '#message')
  const left = (await context.cookies()).some((c) => c.name === 'passport_console')
  const after = await page.goto(consoleUrl)
  say({ logout: { status: out.status(), message, cookie_left: left, after: after.status() } })

  const again = await page.goto(login)
  say({ again: { status: again.status(), message: await text(page, '#message') } })
} catch (e) {
  console.error(`console-browser: ${e && e.stack ? e.stack : e}`)
  process.exitCode = 1
} finally {
  await context.close()
  rmSync(profile, { recursive: true, force: true })
}
