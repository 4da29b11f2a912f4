// The studio shell in real headless Chromium: it loads, the navigation works, the Load page reads
// the shipped sample and picked or dropped files in the parse worker, and bad files get a clear
// message. Run through tests/browser/run.sh, which builds dist/ first.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { after, before, beforeEach, afterEach, describe, test } from "node:test";

import { ROOT, closeStudio, launchBrowser, openStudio, screenshot, serveDir } from "./harness.mjs";

// The steps in data-flow order: [nav label, hash path, heading].
const STEPS = [
  ["Load", "#/", "Load"],
  ["Validate", "#/validate", "Validate"],
  ["Clean", "#/clean", "Clean"],
  ["Deduplicate", "#/dedup", "Deduplicate"],
  ["Template", "#/template", "Template"],
  ["Statistics", "#/stats", "Statistics"],
  ["Train", "#/train", "Train"],
  ["Export", "#/export", "Export"],
];

const SAMPLE = join(ROOT, "static", "samples", "sharegpt-sample.jsonl");
const AJUSTE =
  process.env.AJUSTE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug", "ajuste");

let server;
let browser;
let page;

before(async () => {
  server = await serveDir();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

beforeEach(async () => {
  page = await openStudio(browser, server.url);
});

afterEach(async (t) => {
  // Every test leaves a screenshot of the state it ended in (the one to look at when it fails).
  if (page && !page.isClosed()) {
    await screenshot(page, `end-${slug(t.name)}`).catch(() => {});
    await closeStudio(page);
  }
});

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

const nav = () => page.getByRole("navigation", { name: "Steps" });
const status = () => page.getByTestId("load-status");

function assertNoProblems() {
  assert.deepEqual(page.problems, [], "the page logged errors");
}

describe("shell", () => {
  test("shows the name, and the steps in data-flow order", async () => {
    assert.match(await page.locator("header").innerText(), /ajuste/);
    const labels = await nav().getByRole("link").allInnerTexts();
    assert.deepEqual(
      labels.map((l) => l.replace(/^\s*\S+\s+/, "").trim()),
      STEPS.map(([label]) => label),
    );
    await assertCurrent("Load");
    assert.equal(await page.title(), "Load · ajuste studio");
    assertNoProblems();
  });

  test("every nav link opens its page, and a screenshot of each is saved", async () => {
    for (const [index, [label, hash, heading]] of STEPS.entries()) {
      await nav().getByRole("link", { name: label }).click();
      await page.getByRole("heading", { level: 1, name: heading }).waitFor();
      assert.equal(new URL(page.url()).hash, hash);
      await assertCurrent(label);
      assert.equal(await page.title(), `${heading} · ajuste studio`);
      if (label !== "Load") {
        // Focus moves to the page so keyboard users land on the new content.
        assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
        await page.getByRole("heading", { name: "Load a dataset first" }).waitFor();
      }
      await screenshot(page, `page-${index + 1}-${slug(label)}`);
    }
    // The empty state's button leads back to Load.
    await page.getByRole("link", { name: "Go to Load" }).click();
    await page.getByRole("heading", { level: 1, name: "Load" }).waitFor();
    assertNoProblems();
  });

  test("back and forward follow the history, and unknown addresses say so", async () => {
    await nav().getByRole("link", { name: "Clean" }).click();
    await page.getByRole("heading", { level: 1, name: "Clean" }).waitFor();
    await page.goBack();
    await page.getByRole("heading", { level: 1, name: "Load" }).waitFor();
    await page.goForward();
    await page.getByRole("heading", { level: 1, name: "Clean" }).waitFor();

    await page.goto(new URL("#/no-such-page", server.url).href);
    await page.getByRole("heading", { level: 1, name: "Page not found" }).waitFor();
    assertNoProblems();
  });

  test("a reload keeps the page", async () => {
    await page.goto(new URL("#/stats", server.url).href);
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Statistics" }).waitFor();
    await assertCurrent("Statistics");
  });
});

describe("load page", () => {
  test("the sample button loads the sample in the worker: name, size, lines, format, records, findings", async () => {
    const bytes = readFileSync(SAMPLE);
    const lines = bytes.toString("utf8").split("\n").filter((l, i, all) => i < all.length - 1 || l).length;
    assert.equal(lines, 50, "the shipped sample should have 50 lines");

    await page.getByRole("button", { name: /Load the sample/ }).click();
    await status().getByTestId("dataset-card").waitFor();
    assert.equal(await page.getByTestId("file-name").innerText(), "sharegpt-sample.jsonl");
    assert.equal(await page.getByTestId("file-lines").innerText(), "50");
    assert.equal(await page.getByTestId("file-blank-lines").innerText(), "0");
    assert.equal(await page.getByTestId("file-format").innerText(), "ShareGPT");
    assert.equal(await page.getByTestId("file-container").innerText(), "JSON Lines");
    assert.equal(await page.getByTestId("file-records").innerText(), "50");
    // The sample has planted flaws (static/samples/README.md). Exact counts belong to the data
    // crate's tests; here: the loader's findings reach the page, by code, with kept/dropped.
    assert.match(await page.getByTestId("finding-totals").innerText(), /[1-9]\d* errors?/);
    assert.match(
      await page.getByTestId("records-kept").innerText(),
      /^(\d+) records kept, (\d+) dropped\.$/,
    );
    const kept = await page.getByTestId("records-kept").innerText();
    const [, valid, dropped] = kept.match(/(\d+) records kept, (\d+) dropped/).map(Number);
    assert.equal(valid + dropped, 50, kept);
    assert.ok(dropped >= 1, kept);
    assert.match(await page.getByTestId("finding-codes").innerText(), /unknown-role\s+error/);
    assert.equal(
      await page.getByTestId("file-size").getAttribute("title"),
      `${bytes.length.toLocaleString("en-US")} bytes`,
    );
    assert.match(await page.getByTestId("header-dataset").innerText(), /sharegpt-sample\.jsonl\s+50 records/);
    // The count came from the parse worker, not from the page.
    assert.ok(server.requests.includes("/studio_worker.js"), "studio_worker.js was never fetched");
    assert.ok(server.requests.includes("/studio_worker_bg.wasm"), "the worker's wasm was never fetched");
    await screenshot(page, "load-sample");

    // Other pages now know a dataset is loaded.
    await nav().getByRole("link", { name: "Validate" }).click();
    assert.match(
      await page.getByTestId("validate-summary").innerText(),
      new RegExp(`50 records: ${valid} kept, ${dropped} dropped by errors`),
    );
    // And going back to Load shows it still loaded.
    await nav().getByRole("link", { name: /Load/ }).click();
    assert.equal(await page.getByTestId("file-lines").innerText(), "50");
    assertNoProblems();
  });

  test("a picked file shows its name, size, line count, format and records", async () => {
    const record = JSON.stringify({
      messages: [
        { role: "user", content: "Olá!" },
        { role: "assistant", content: "Olá! Em que posso ajudar?" },
      ],
    });
    const text = `${record}\n\n${record}\n${record}`; // a blank line, and no final newline
    await pick({ name: "picked.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(text) });
    await status().getByTestId("dataset-card").waitFor();
    assert.equal(await page.getByTestId("file-name").innerText(), "picked.jsonl");
    assert.equal(await page.getByTestId("file-lines").innerText(), "4");
    assert.equal(await page.getByTestId("file-blank-lines").innerText(), "1");
    assert.equal(await page.getByTestId("file-size").getAttribute("title"), `${Buffer.byteLength(text)} bytes`);
    assert.equal(await page.getByTestId("file-format").innerText(), "OpenAI messages");
    assert.equal(await page.getByTestId("file-records").innerText(), "3");
    assert.equal(await page.getByTestId("records-kept").innerText(), "3 records kept, 0 dropped.");
    assertNoProblems();
  });

  test("a dropped file is loaded", async () => {
    const transfer = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      const csv = "instruction,output\nSay hello,Hello!\nCount to three,\"1, 2, 3\"\n";
      dt.items.add(new File([csv], "dropped.csv", { type: "text/csv" }));
      return dt;
    });
    await page.getByTestId("drop-zone").dispatchEvent("drop", { dataTransfer: transfer });
    await status().getByTestId("dataset-card").waitFor();
    assert.equal(await page.getByTestId("file-name").innerText(), "dropped.csv");
    assert.equal(await page.getByTestId("file-lines").innerText(), "3");
    assert.equal(await page.getByTestId("file-container").innerText(), "CSV");
    assert.equal(await page.getByTestId("file-format").innerText(), "Alpaca");
    assert.equal(await page.getByTestId("file-records").innerText(), "2");
    assertNoProblems();
  });

  test("a gzip-compressed file is read through", async () => {
    const buffer = gzipSync(readFileSync(SAMPLE));
    await pick({ name: "sample.jsonl.gz", mimeType: "application/gzip", buffer });
    await status().getByTestId("dataset-card").waitFor();
    assert.equal(await page.getByTestId("file-container").innerText(), "JSON Lines, gzip-compressed");
    assert.equal(await page.getByTestId("file-records").innerText(), "50");
    // Lines of compressed bytes mean nothing, so none are shown.
    assert.equal(await page.getByTestId("file-lines").count(), 0);
    assertNoProblems();
  });

  test("a file in no known format shows the loader's finding with its code", async () => {
    const buffer = Buffer.from('{"question": "2+2?", "answer": "4"}\n');
    await pick({ name: "qa.jsonl", mimeType: "application/x-ndjson", buffer });
    const alert = page.getByRole("alert");
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, /qa\.jsonl could not be loaded/);
    assert.match(text, /No known dataset format matches.*question, answer/s);
    assert.match(text, /unknown-format/);
    await screenshot(page, "load-unknown-format");
    assertNoProblems();
  });

  test("a CSV of other column names loads once they are renamed, and its bundle is the command line's", async () => {
    const csv = "question,answer\nWhat is 2+2?,4\nName a colour.,Blue.\nSay hi.,hi\nCount to two.,\"1, 2\"\n";
    await pick({ name: "qa.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    const alert = status().getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /fields: question, answer.*Each format reads these fields/s);
    // A list that is not FROM=TO is refused where it is typed, and nothing can be loaded.
    await page.getByTestId("next-fields-map").fill("question");
    assert.match(await page.getByTestId("next-renames-error").innerText(), /`question` is not FROM=TO/);
    assert.equal(await page.getByTestId("load-again").count(), 0);
    await page.getByTestId("next-fields-map").fill("question=instruction, answer=output");
    await page.getByTestId("load-again").click();
    await status().getByTestId("dataset-card").waitFor();
    assert.equal(await page.getByTestId("file-format").innerText(), "Alpaca");
    assert.equal(await page.getByTestId("file-records").innerText(), "4");
    assert.equal(await page.getByTestId("read-fields-map").inputValue(), "question=instruction, answer=output");
    await screenshot(page, "load-renamed-fields");

    // The Export page's command line names the renames, and builds the same bytes natively.
    await nav().getByRole("link", { name: /Export/ }).click();
    const line = (await page.getByTestId("bundle-command").innerText()).trim();
    assert.match(line, /^ajuste bundle create qa\.csv --map question=instruction,answer=output --template chatml /);
    await assertBundleIsTheCommandLines(line, "qa.csv", csv);

    // The loaded file's renames change like any other setting, and undo takes the change back.
    await nav().getByRole("link", { name: /Load/ }).click();
    await page.getByTestId("read-fields-map").fill("question=instruction, answer=output, extra=input");
    await page.getByTestId("apply-renames").click();
    await page.locator('[data-testid="apply-renames"]:disabled').waitFor();
    assert.equal(await page.getByTestId("file-records").innerText(), "4");
    await page.getByTestId("undo").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="read-fields-map"]')?.value === "question=instruction, answer=output");
    assertNoProblems();
  });

  test("balancing caps the larger KTO label, the charts follow, and its bundle is the command line's", async () => {
    const kto = readFileSync(join(ROOT, "tests", "fixtures", "cli", "kto-unbalanced.jsonl"));
    await pick({ name: "kto.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(kto) });
    await status().getByTestId("dataset-card").waitFor();
    await nav().getByRole("link", { name: /Statistics/ }).click();
    const chart = page.getByTestId("chart-balance");
    await page.waitForFunction(() => /desirable/.test(document.querySelector('[data-testid="chart-balance"]')?.textContent ?? ""));
    assert.match(await chart.innerText(), /desirable[\s\S]*6/);

    // A ratio under 1 is refused in the form; the default (1: equal groups) applies.
    const ratio = page.locator("#balance-max-ratio");
    await ratio.fill("0.5");
    await ratio.dispatchEvent("change");
    assert.match(await page.getByTestId("balance-invalid").innerText(), /at least 1/);
    assert.ok(await page.getByTestId("apply-balance").isDisabled());
    await ratio.fill("1");
    await ratio.dispatchEvent("change");
    await page.getByTestId("apply-balance").click();
    const applied = page.getByTestId("balance-applied");
    await applied.waitFor();
    assert.equal(
      (await applied.innerText()).trim(),
      "Balanced by auto: desirable 6 → 2, undesirable 2 → 2; 4 of 8 records kept.",
    );
    await page.waitForFunction(() => /^4 records prepared/.test(document.querySelector('[data-testid="stats-summary"]')?.textContent ?? ""));
    await screenshot(page, "stats-balanced");

    await nav().getByRole("link", { name: /Export/ }).click();
    const line = (await page.getByTestId("bundle-command").innerText()).trim();
    assert.match(line, / --balance-by auto --max-ratio 1 /);
    await assertBundleIsTheCommandLines(line, "kto.jsonl", kto);

    // Taking the caps away keeps every record again.
    await nav().getByRole("link", { name: /Statistics/ }).click();
    await page.getByTestId("remove-balance").click();
    await page.waitForFunction(() => /^8 records prepared/.test(document.querySelector('[data-testid="stats-summary"]')?.textContent ?? ""));
    assert.equal(await page.getByTestId("balance-applied").count(), 0);
    assertNoProblems();
  });

  test("an empty file gets a clear message", async () => {
    await pick({ name: "empty.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.alloc(0) });
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /empty\.jsonl could not be loaded/);
    assert.match(await alert.innerText(), /The file is empty \(0 bytes\)/);
    assert.equal(await page.getByTestId("dataset-card").count(), 0);
    await screenshot(page, "load-empty-file");
    assertNoProblems();
  });

  test("a binary file gets a clear message", async () => {
    const buffer = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00]);
    await pick({ name: "program.bin", mimeType: "application/octet-stream", buffer });
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /program\.bin could not be loaded/);
    assert.match(await alert.innerText(), /binary file.*byte 7 is a NUL byte/s);
    await screenshot(page, "load-binary-file");
    assertNoProblems();
  });

  test("text that is not UTF-8 names the line", async () => {
    const buffer = Buffer.concat([Buffer.from('{"a": 1}\n{"b": "'), Buffer.from([0xe9]), Buffer.from('t\u00e9"}\n')]);
    await pick({ name: "latin1.jsonl", mimeType: "application/x-ndjson", buffer });
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /Line 2 is not valid UTF-8 \(byte 16\)/);
    assertNoProblems();
  });

  test("a good file after a bad one replaces the message", async () => {
    await pick({ name: "empty.jsonl", mimeType: "text/plain", buffer: Buffer.alloc(0) });
    await page.getByRole("alert").waitFor();
    await page.getByRole("button", { name: /Load the sample/ }).click();
    await status().getByTestId("dataset-card").waitFor();
    await page.getByRole("alert").waitFor({ state: "detached" });
    assert.equal(await page.getByTestId("file-lines").innerText(), "50");
  });

  test("a bad file after a good one loses none of the loaded work", async () => {
    await page.getByRole("button", { name: /Load the sample/ }).click();
    await status().getByTestId("dataset-card").waitFor();
    for (const [name, buffer] of [
      ["empty.jsonl", Buffer.alloc(0)],
      ["notes.txt", Buffer.from("this is not JSON at all\n")],
      ["program.bin", Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01])],
    ]) {
      await pick({ name, mimeType: "application/octet-stream", buffer });
      const alert = page.getByRole("alert");
      await alert.waitFor();
      assert.match(await alert.innerText(), new RegExp(`${name.replace(".", "\\.")} could not be loaded`));
      // The sample is still the dataset, everywhere.
      assert.equal(await page.getByTestId("file-name").innerText(), "sharegpt-sample.jsonl");
      assert.match(await page.getByTestId("header-dataset").innerText(), /sharegpt-sample\.jsonl\s+50 records/);
    }
    assertNoProblems();
  });

  test("the loaded dataset survives a reload", async () => {
    await page.getByRole("button", { name: /Load the sample/ }).click();
    await status().getByTestId("dataset-card").waitFor();
    await page.reload();
    await page.getByTestId("dataset-card").waitFor();
    assert.equal(await page.getByTestId("file-name").innerText(), "sharegpt-sample.jsonl");
    assert.equal(await page.getByTestId("file-records").innerText(), "50");
    assertNoProblems();
  });

  test("the file picker can be reached with the keyboard", async () => {
    // The picker is disabled while the worker starts and looks for a saved session (over a
    // second for a debug build); tab from the top of the page once it can be used.
    await page.locator("#file-input:enabled").waitFor();
    await page.evaluate(() => document.activeElement?.blur());
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement?.id === "file-input")) return;
    }
    assert.fail("the file input never received focus from the keyboard");
  });
});

describe("validate page", () => {
  test("the findings table scrolls through all of 500 findings, to the last one", async () => {
    // 500 records, each with one warning (two user turns in a row) on its own line.
    const lines = Array.from({ length: 500 }, (_, i) =>
      JSON.stringify({
        conversations: [
          { from: "human", value: `Question ${i}?` },
          { from: "human", value: "Still there?" },
          { from: "gpt", value: `Answer ${i}.` },
        ],
      }),
    );
    await page.locator("#file-input:enabled").waitFor();
    await pick({ name: "many.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(`${lines.join("\n")}\n`) });
    await status().getByTestId("dataset-card").waitFor();
    await nav().getByRole("link", { name: "Validate" }).click();
    const table = page.getByTestId("findings-table");
    await page.getByTestId("findings-count").filter({ hasText: /^500 findings$/ }).waitFor();
    const scroller = table.locator(".vscroll");
    const rowAt = (line) => table.locator(`[data-testid="finding-row"][aria-rowindex="${line + 1}"]`);

    // A box of fixed height over content as tall as every row; only rows near the view exist.
    const size = await scroller.evaluate((el) => ({ scroll: el.scrollHeight, client: el.clientHeight }));
    assert.ok(size.client > 200 && size.client < 600, JSON.stringify(size));
    assert.ok(size.scroll >= 500 * 30, JSON.stringify(size));
    await rowAt(1).waitFor();
    assert.ok((await table.getByTestId("finding-row").count()) < 150);
    await assertInView(scroller, rowAt(1));
    // Each row in its place: the second right below the first.
    const [first, second] = [await rowAt(1).boundingBox(), await rowAt(2).boundingBox()];
    assert.ok(Math.abs(second.y - (first.y + first.height)) < 1, `${JSON.stringify(first)} ${JSON.stringify(second)}`);

    // The middle, with the mouse wheel.
    await scroller.hover();
    for (let i = 0; i < 20 && !(await rowAt(250).count()); i++) {
      await page.mouse.wheel(0, 800);
      await page.waitForTimeout(50);
    }
    await rowAt(250).waitFor();

    // The very end: the last finding is fetched, drawn in view, and opens its record.
    await scroller.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    const last = rowAt(500);
    await last.waitFor();
    assert.equal(await last.locator(".c-line").innerText(), "500");
    assert.equal(await last.locator(".c-code").innerText(), "bad-turn-order");
    await assertInView(scroller, last);
    assert.equal(await rowAt(1).count(), 0, "the first rows are no longer drawn");
    await screenshot(page, "validate-500-findings-end");
    await last.click();
    await page.getByTestId("record-panel").getByRole("heading", { level: 2, name: /^Record 499 \(line 500\)/ }).waitFor();
    await page.getByTestId("record-highlight").waitFor();

    // Keyboard: from the last row, ArrowUp moves to the one above.
    await last.focus();
    await page.keyboard.press("ArrowUp");
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-rowindex")), "500");

    // Another filter starts at the top of its findings.
    await page.locator("#severity-filter").selectOption("warning");
    await rowAt(1).waitFor();
    await assertInView(scroller, rowAt(1));
    assertNoProblems();
  });

  test("a change is saved before the page hears of it: a reload straight after keeps it", async () => {
    await page.getByRole("button", { name: /Load the sample/ }).click();
    await status().getByTestId("dataset-card").waitFor();
    await nav().getByRole("link", { name: "Validate" }).click();
    await page.getByTestId("finding-row").first().click();
    const heading = page.getByTestId("record-panel").getByRole("heading", { level: 2, name: /^Record \d+/ });
    await heading.waitFor();
    const record = (await heading.innerText()).match(/^Record (\d+)/)[1];
    await page.getByTestId("drop-record").click();
    const undo = page.getByTestId("undo");
    await undo.filter({ hasText: `Undo: drop record ${record}` }).waitFor();
    // The page has been told: the session in the browser's storage already has the drop.
    const ops = await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle("ajuste-studio");
      const file = await (await dir.getFileHandle("session.json")).getFile();
      return JSON.parse(await file.text()).ops.length;
    });
    assert.equal(ops, 1);
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Validate" }).waitFor();
    await undo.filter({ hasText: `Undo: drop record ${record}` }).waitFor();
    await page.getByTestId("edit-counts").filter({ hasText: "0 records fixed by hand, 1 dropped by hand." }).waitFor();
    assertNoProblems();
  });
});

/** Asserts that `row` is drawn within the visible part of the scroll box `scroller`. */
async function assertInView(scroller, row) {
  const box = await scroller.boundingBox();
  const r = await row.boundingBox();
  assert.ok(
    r && r.y >= box.y - 1 && r.y + r.height <= box.y + box.height + 1,
    `the row at ${JSON.stringify(r)} is outside the table's view ${JSON.stringify(box)}`,
  );
}

async function assertCurrent(label) {
  const current = nav().locator('[aria-current="page"]');
  assert.equal(await current.count(), 1, "exactly one nav link should be current");
  assert.match(await current.innerText(), new RegExp(`${label}$`));
}

// Downloads the Export page's bundle and compares it byte for byte with what the page's
// `ajuste bundle create` line builds natively from the same source file.
async function assertBundleIsTheCommandLines(line, name, contents) {
  const work = mkdtempSync(join(tmpdir(), "ajuste-bundle-"));
  try {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-bundle").click()]);
    const ours = join(work, "studio.ajuste");
    await download.saveAs(ours);
    writeFileSync(join(work, name), contents);
    const argv = line.split(/\s+/).slice(1);
    argv[argv.length - 1] = "native.ajuste";
    execFileSync(AJUSTE, argv, { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
    assert.ok(readFileSync(ours).equals(readFileSync(join(work, "native.ajuste"))), "the studio's bundle differs from the command line's");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function pick(file) {
  await page.locator("#file-input").setInputFiles(file);
}
