// Drives the console in headless Chromium (Debian's, through playwright-core)
// against a running server; started by tests/console.rs, which reads its
// output. Each step prints "ok   STEP" or "FAIL STEP: why" and the first
// failure exits 1.
//
//   ADMIN=http://127.0.0.1:PORT PLUGINS=DIR ECHO_WASM=FILE SCREENSHOT=FILE \
//   PLAYWRIGHT=DIR/node_modules CHROMIUM=/usr/bin/chromium node drive.mjs
import { createRequire } from "node:module";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.log(`FAIL setup: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const admin = env("ADMIN");
const plugins = env("PLUGINS");
const echoWasm = env("ECHO_WASM");
const screenshot = env("SCREENSHOT");
const { chromium } = createRequire(join(env("PLAYWRIGHT"), "x.js"))("playwright-core");

const STEP_MS = 15000;
let browser;
let current = "start";

async function step(name, body) {
  current = name;
  const started = Date.now();
  await body();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

/** Wait until `locator`'s text satisfies `pred`; fail naming what it last was. */
async function textBecomes(locator, pred, what) {
  const deadline = Date.now() + STEP_MS;
  let last = "";
  while (Date.now() < deadline) {
    last = (await locator.count()) > 0 ? await locator.first().innerText() : "<absent>";
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: last seen ${JSON.stringify(last)}`);
}

async function main() {
  browser = await chromium.launch({ executablePath: env("CHROMIUM"), headless: true });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(STEP_MS);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });

  await step("open the console", async () => {
    await page.goto(admin + "/");
    await page.evaluate(() => { window.__sameDocument = true; });
  });

  const echoRow = page.locator('#plugins tr[data-plugin="echo"]');
  await step("the echo plugin is listed with its route, version, sha256 and mode", async () => {
    await echoRow.waitFor();
    const text = await echoRow.innerText();
    for (const want of ["echo", "/echo", "shared", "serving"]) {
      if (!text.includes(want)) throw new Error(`row lacks ${want}: ${text}`);
    }
    await textBecomes(echoRow.locator("td.version"), (t) => t === "1", "version");
    await textBecomes(echoRow.locator("td.hash"), (t) => /^[0-9a-f]{12}$/.test(t), "sha256");
  });

  await step("the recent events show the echo plugin's load", async () => {
    await page.locator('#events li[data-kind="loaded"][data-plugin="echo"]').waitFor();
  });

  const panels = page.locator(".panel");
  const one = panels.nth(0);
  const two = panels.nth(1);
  const count = echoRow.locator("td.connections");

  await step("connect a panel to /echo", async () => {
    await one.locator("select.route").selectOption("/echo");
    const url = await one.locator("input.url").inputValue();
    if (!/^ws:\/\/127\.0\.0\.1:\d+\/echo$/.test(url)) throw new Error(`URL ${url}`);
    await one.locator("button.connect").click();
    await textBecomes(one.locator(".state"), (t) => t.startsWith("open"), "panel state");
  });

  await step("the live connection count rises to 1", async () => {
    await textBecomes(count, (t) => t === "1", "connections");
  });

  await step("send text and see it echoed", async () => {
    await one.locator("textarea.message").fill("hello from chromium ☃");
    await one.locator("select.kind").selectOption("text");
    await one.locator("button.send-button").click();
    await textBecomes(one.locator(".log li.in.text"), (t) => t.includes("hello from chromium ☃"), "echoed text");
  });

  await step("send binary (hex) and see it echoed as hex", async () => {
    await one.locator("textarea.message").fill("00 01 fe ff");
    await one.locator("select.kind").selectOption("binary");
    await one.locator("button.send-button").click();
    await textBecomes(one.locator(".log li.in.binary"), (t) => t.includes("00 01 fe ff") && t.includes("4B"), "echoed binary");
  });

  await step("a second panel side by side: the count rises to 2", async () => {
    await two.locator("select.route").selectOption("/echo");
    await two.locator("input.query").fill("name=ada");
    await two.locator("button.connect").click();
    await textBecomes(two.locator(".state"), (t) => t.startsWith("open"), "second panel state");
    await two.locator("textarea.message").fill("second panel");
    await two.locator("button.send-button").click();
    await textBecomes(two.locator(".log li.in.text"), (t) => t.includes("second panel"), "second echo");
    await textBecomes(count, (t) => t === "2", "connections");
  });

  await step("disconnect the first panel: close code shown, the count falls to 1", async () => {
    await one.locator("button.disconnect").click();
    await textBecomes(one.locator(".log li.close"), (t) => t.includes("code 1000") && t.includes("console disconnect"), "close line");
    await textBecomes(count, (t) => t === "1", "connections");
  });

  await step("a plugin copied into the folder appears without reloading the page", async () => {
    copyFileSync(echoWasm, join(plugins, "hello.wasm"));
    await page.locator('#plugins tr[data-plugin="hello"]').waitFor();
    await page.locator('#events li[data-kind="loaded"][data-plugin="hello"]').waitFor();
    await one.locator('select.route option[value="/hello"]').waitFor({ state: "attached" });
    if (!(await page.evaluate(() => window.__sameDocument === true))) throw new Error("the page was reloaded");
  });

  await step("a broken file shows its refusal reason", async () => {
    writeFileSync(join(plugins, "broken.wasm"), "not a component");
    await textBecomes(page.locator('#refused li[data-plugin="broken"]'), (t) => t.includes("not a WebAssembly file"), "refused list");
    await textBecomes(page.locator('#events li[data-kind="refused"][data-plugin="broken"]'), (t) => t.includes("not a WebAssembly file"), "refused event");
  });

  await step("the plugin filter narrows the table", async () => {
    await page.locator("#plugin-filter").fill("hel");
    await textBecomes(page.locator("#plugin-count"), (t) => t === "1 of 2", "count");
    if ((await page.locator('#plugins tr[data-plugin="echo"]').count()) !== 0) throw new Error("echo still shown");
    await page.locator("#plugin-filter").fill("");
    await echoRow.waitFor();
  });

  await step("screenshot", async () => {
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.screenshot({ path: screenshot, fullPage: true });
  });

  await step("disconnect the second panel: the count falls to 0", async () => {
    await two.locator("button.disconnect").click();
    await textBecomes(two.locator(".state"), (t) => t.startsWith("closed 1000"), "second panel state");
    await textBecomes(count, (t) => t === "0", "connections");
  });

  await step("no script error on the page", async () => {
    if (pageErrors.length) throw new Error(pageErrors.join("; "));
  });
}

try {
  await main();
  await browser.close();
  console.log("console: every step passed");
} catch (e) {
  console.log(`FAIL ${current}: ${e.message}`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
