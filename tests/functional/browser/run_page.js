// Opens a page in Debian's chromium (headless, driven by playwright-core) and prints, as one JSON
// line, what it recorded in window.results and the console errors it raised.
//   node run_page.js URL [TIMEOUT_MS]
const { chromium } = require("playwright-core");

(async () => {
  const [url, timeout = "30000"] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => window.results && window.results.done, null, { timeout: Number(timeout) });
    const results = await page.evaluate(() => window.results);
    console.log(JSON.stringify({ results, consoleErrors }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
