// Opens Sluice's live page (/ui) in Debian's chromium (headless, playwright-core) and prints one
// JSON line: the stages drawn, the console errors, and the page's numbers at first and once they
// moved (the writer's finished messages and the deliveries feed), with a screenshot.
//   node run_ui.js SLUICE_URL SCREENSHOT_PATH
const { chromium } = require("playwright-core");

(async () => {
  const [url, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const consoleErrors = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.goto(url + "/ui");
    await page.waitForFunction(() => window.sluiceState, null, { timeout: 20000 });
    const numbers = () =>
      page.evaluate(() => ({
        acked: Number(document.querySelector('g[data-stage="writer"]').dataset.acked),
        feed: document.querySelectorAll("#feed li").length,
        status: document.getElementById("status").textContent,
      }));
    const first = await numbers();
    const stages = await page.evaluate(() => [...document.querySelectorAll("g[data-stage]")].map((g) => g.dataset.stage));
    const edges = await page.evaluate(() => [...document.querySelectorAll("path[data-edge]")].map((p) => p.dataset.edge));
    await page.waitForFunction(
      (before) => Number(document.querySelector('g[data-stage="writer"]').dataset.acked) > before && document.querySelectorAll("#feed li").length > 0,
      first.acked,
      { timeout: 30000 },
    );
    const later = await numbers();
    const rates = await page.evaluate(() => [...document.querySelectorAll("g[data-stage] .rate")].map((t) => t.textContent));
    await page.screenshot({ path: screenshot });
    console.log(JSON.stringify({ stages, edges, first, later, rates, consoleErrors }));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
