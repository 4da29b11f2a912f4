// The whole studio flow in real headless Chromium, on a fixture with planted flaws
// (tests/fixtures/browser/README.md): load -> validate (fix one record, drop another) -> clean ->
// dedup (exact and near) -> template (built-in + tokenizer) -> statistics -> export. Each step
// asserts the counts the page shows; undo and a reload in the middle are checked on the way; the
// exported bundle must be byte-identical to what `ajuste bundle create` builds natively with the
// command line the Export page shows. Run through tests/browser/run.sh.
//
// The steps share one page (in order): a later step starts where the earlier one left, and is
// skipped when an earlier one failed.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { ROOT, closeStudio, launchBrowser, openStudio, screenshot, serveDir } from "./harness.mjs";

const FIXTURE = join(ROOT, "tests", "fixtures", "browser", "chats.jsonl");
const TOKENIZER = join(ROOT, "shared", "tests", "fixtures", "templates", "tiny", "tokenizer.json");
const AJUSTE =
  process.env.AJUSTE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug", "ajuste");

let server;
let browser;
let page;
let work;
let failed = false;

before(async () => {
  server = await serveDir();
  browser = await launchBrowser();
  page = await openStudio(browser, server.url);
  work = mkdtempSync(join(tmpdir(), "ajuste-flow-"));
});

after(async () => {
  if (page && !page.isClosed()) {
    await screenshot(page, "flow-end").catch(() => {});
    await closeStudio(page);
  }
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A step of the flow: skipped after a failure, and a failure skips the rest. */
function step(name, body) {
  test(name, async (t) => {
    if (failed) {
      t.skip("an earlier step of the flow failed");
      return;
    }
    try {
      await body(t);
    } catch (error) {
      failed = true;
      await screenshot(page, `flow-failed-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`).catch(() => {});
      throw error;
    }
  });
}

const nav = () => page.getByRole("navigation", { name: "Steps" });
const byId = (id) => page.getByTestId(id);

/** Opens a page through the navigation and waits for its heading. */
async function go(label) {
  await nav().getByRole("link", { name: label }).click();
  await page.getByRole("heading", { level: 1, name: label }).waitFor();
}

/** Waits until `locator`'s text matches `expected` (a string: equal once trimmed; a RegExp). */
async function textOf(locator, expected, timeout = 20_000) {
  const matches = (text) =>
    typeof expected === "string" ? text.replace(/\s+/g, " ").trim() === expected : expected.test(text);
  const deadline = Date.now() + timeout;
  let last = "(never rendered)";
  for (;;) {
    if ((await locator.count()) > 0) {
      last = await locator.first().innerText().catch(() => last);
      if (matches(last)) return last;
    }
    if (Date.now() > deadline) {
      assert.fail(`${locator} never showed ${expected}; last text: ${JSON.stringify(last)}`);
    }
    await page.waitForTimeout(50);
  }
}

/**
 * Asserts that the browser's storage already holds the session with `ops` changes. The worker
 * saves a change before it answers, so once the page shows a change it is saved: no waiting
 * here, and a reload straight after must restore it.
 */
async function saved(ops) {
  const found = await page.evaluate(async () => {
    try {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle("ajuste-studio");
      const file = await (await dir.getFileHandle("session.json")).getFile();
      return JSON.parse(await file.text()).ops.length;
    } catch (error) {
      return `no saved session: ${error}`;
    }
  });
  assert.equal(found, ops, "the saved session lags behind the page");
}

/** Splits a POSIX shell line as `shell_line` (shared/src/command.rs) writes it. */
function shellWords(line) {
  const words = [];
  let word = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unterminated quote in ${line}`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === "\\") {
      word = (word ?? "") + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** Clicks `button` and saves the download it starts under `work`; resolves to its path. */
async function download(button) {
  const [file] = await Promise.all([page.waitForEvent("download"), button.click()]);
  const path = join(work, "studio", file.suggestedFilename());
  await file.saveAs(path);
  return { path, name: file.suggestedFilename() };
}

describe("flow", () => {
  step("1 load: the picked file's records and format", async () => {
    // The picker is disabled until the worker has looked for a saved session (there is none).
    await page.locator("#file-input:enabled").waitFor();
    await page.locator("#file-input").setInputFiles(FIXTURE);
    await byId("load-status").getByTestId("dataset-card").waitFor();
    assert.equal(await byId("file-name").innerText(), "chats.jsonl");
    assert.equal(await byId("file-format").innerText(), "ShareGPT");
    assert.equal(await byId("file-container").innerText(), "JSON Lines");
    assert.equal(await byId("file-lines").innerText(), "24");
    assert.equal(await byId("file-records").innerText(), "24");
    await textOf(byId("records-kept"), "21 records kept, 3 dropped.");
    await textOf(byId("finding-totals"), /3 errors\s*1 warning/);
    await textOf(byId("header-dataset"), /chats\.jsonl\s+24 records/);
    // A fresh file has nothing to undo.
    assert.equal(await byId("undo").count(), 0);
    await screenshot(page, "flow-1-load");
    assert.deepEqual(page.problems, []);
  });

  step("2 validate: counts by code, a finding's record, fix one record and drop another", async () => {
    await go("Validate");
    await textOf(byId("validate-summary"), /^24 records: 21 kept, 3 dropped by errors\./);
    for (const [code, count] of [
      ["unknown-role", "1"],
      ["no-assistant-turn", "1"],
      ["invalid-json", "1"],
      ["bad-turn-order", "1"],
    ]) {
      assert.equal(await byId(`count-${code}`).innerText(), count, code);
    }
    await textOf(byId("findings-count"), "4 findings");
    // The severity filter shows what it filters by (all), and filters.
    const severity = page.locator("#severity-filter");
    assert.equal(await severity.inputValue(), "");
    await severity.selectOption("warning");
    await textOf(byId("findings-count"), "1 finding");
    await textOf(byId("finding-row").locator(".c-code"), "bad-turn-order");
    await severity.selectOption("error");
    await textOf(byId("findings-count"), "3 findings");
    await severity.selectOption("");
    await textOf(byId("findings-count"), "4 findings");

    // Only the unknown-role findings, then its record with the field highlighted.
    await byId("code-counts").getByRole("button", { name: "unknown-role" }).click();
    await textOf(byId("findings-count"), "1 finding");
    const row = byId("finding-row");
    await textOf(row.locator(".c-code"), "unknown-role");
    assert.equal(await row.locator(".c-line").innerText(), "15");
    assert.equal(await row.locator(".c-field").innerText(), "/conversations/1/from");
    await row.click();
    const panel = byId("record-panel");
    await textOf(panel.getByRole("heading", { level: 2 }), /^Record 14 \(line 15\)/);
    await textOf(byId("record-status"), "dropped: it has errors");
    await textOf(byId("record-highlight"), '"robot"');

    // Fix it in place: the finding's field is the one offered.
    assert.equal(await page.locator("#fix-field").inputValue(), "/conversations/1/from");
    assert.equal(await byId("fix-text").inputValue(), "robot");
    await byId("fix-text").fill("gpt");
    await panel.getByRole("button", { name: "Save the fix" }).click();
    await textOf(byId("validate-summary"), /^24 records: 22 kept, 2 dropped by errors\./);
    await textOf(byId("record-status"), "kept");
    await textOf(byId("record-json"), /"from": "gpt",\s*"value": "01101000 01101001"/);
    assert.equal(await byId("count-unknown-role").count(), 0);
    await textOf(byId("edit-counts"), "1 record fixed by hand, 0 dropped by hand.");
    await textOf(byId("undo"), "Undo: fix /conversations/1/from of record 14");

    // Drop the record that only asks a question.
    await byId("code-counts").getByRole("button", { name: "no-assistant-turn" }).click();
    await textOf(byId("findings-count"), "1 finding");
    await byId("finding-row").click();
    await textOf(panel.getByRole("heading", { level: 2 }), /^Record 20 \(line 21\)/);
    await byId("drop-record").click();
    await textOf(byId("edit-counts"), "1 record fixed by hand, 1 dropped by hand.");
    await textOf(byId("validate-summary"), /^23 records: 22 kept, 1 dropped by errors\./);
    assert.equal(await byId("count-no-assistant-turn").count(), 0);
    assert.equal(await byId("count-bad-turn-order").count(), 0);
    assert.equal(await byId("count-invalid-json").innerText(), "1");
    await textOf(byId("undo"), "Undo: drop record 20");

    // Ctrl+Z (outside a text field) undoes as the header's button does: the record comes back.
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press("Control+z");
    await textOf(byId("validate-summary"), /^24 records: 22 kept, 2 dropped by errors\./);
    await textOf(byId("edit-counts"), "1 record fixed by hand, 0 dropped by hand.");
    await textOf(byId("record-status"), "dropped: it has errors");
    assert.equal(await byId("count-no-assistant-turn").innerText(), "1");
    await textOf(byId("undo"), "Undo: fix /conversations/1/from of record 14");
    await byId("drop-record").click();
    await textOf(byId("validate-summary"), /^23 records: 22 kept, 1 dropped by errors\./);
    await textOf(byId("undo"), "Undo: drop record 20");
    await screenshot(page, "flow-2-validate");
    assert.deepEqual(page.problems, []);
  });

  step("3 clean: strip HTML and drop refusals, before/after counts, apply", async () => {
    await go("Clean");
    await textOf(byId("clean-applied"), "Applied: nfkc, zero-width, whitespace — 22 records in, 22 out.");
    // The safe steps are on; switch on two more.
    for (const name of ["nfkc", "zero-width", "whitespace"]) {
      assert.equal(await page.locator(`#step-${name}`).isChecked(), true, name);
    }
    await page.locator("#step-strip-html").check();
    await page.locator("#step-drop-refusals").check();
    await textOf(byId("clean-counts"), /Before: 22 records → after: 21 records \(\d+ changed, 1 dropped\)/);
    await textOf(byId("clean-drops"), /Record 5 \(line 6\), drop-refusals/);
    const steps = await byId("clean-steps").innerText();
    assert.match(steps, /strip-html\s+1\s+0/);
    assert.match(steps, /drop-refusals\s+0\s+1/);
    await byId("clean-diff").first().waitFor();

    await byId("apply-clean").click();
    await textOf(
      byId("clean-applied"),
      "Applied: strip-html, nfkc, zero-width, whitespace, drop-refusals — 22 records in, 21 out.",
    );
    await textOf(byId("undo"), "Undo: clean: strip-html, nfkc, zero-width, whitespace, drop-refusals");
    assert.equal(await byId("apply-clean").isDisabled(), true, "what is applied cannot be applied again");
    await screenshot(page, "flow-3-clean");
    assert.deepEqual(page.problems, []);
  });

  step("the session survives a reload (OPFS)", async () => {
    await saved(3); // the fix, the drop, the cleaning
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Clean" }).waitFor();
    await textOf(
      byId("clean-applied"),
      "Applied: strip-html, nfkc, zero-width, whitespace, drop-refusals — 22 records in, 21 out.",
    );
    await textOf(byId("header-dataset"), /chats\.jsonl\s+23 records/);
    await textOf(byId("undo"), "Undo: clean: strip-html, nfkc, zero-width, whitespace, drop-refusals");
    assert.equal(await page.locator("#step-strip-html").isChecked(), true);
    await go("Validate");
    await textOf(byId("validate-summary"), /^23 records: 22 kept, 1 dropped by errors\./);
    await textOf(byId("edit-counts"), "1 record fixed by hand, 1 dropped by hand.");
    assert.deepEqual(page.problems, []);
  });

  step("4 dedup: exact and near duplicates, clusters, apply, undo", async () => {
    await go("Deduplicate");
    // A fresh session removes exact duplicates, as the command line does by default.
    const exactOnly = "Applied: exact dedup — 2 exact and 0 near duplicates removed, 19 records left.";
    await textOf(byId("dedup-applied"), exactOnly);
    await textOf(byId("dedup-counts"), /^2 exact and 0 near duplicates in 21 records \(2 clusters\); 19 would stay\./);

    await page.locator("#dedup-near").check();
    await textOf(byId("dedup-counts"), /^2 exact and 1 near duplicates in 21 records \(3 clusters\); 18 would stay\./);
    const clusters = byId("cluster");
    assert.equal(await clusters.count(), 3);
    const near = clusters.filter({ hasText: "near copy" });
    assert.equal(await near.count(), 1);
    await textOf(near, /kept record 12 \(line 13\)[\s\S]*near copy record 13 \(line 14\), similarity 0\.\d\d/);
    await textOf(clusters.filter({ hasText: "record 10 (line 11)" }), /kept record 4 \(line 5\)[\s\S]*exact copy record 10 \(line 11\)/);

    const applied = "Applied: exact and near dedup at Jaccard 0.8 — 2 exact and 1 near duplicates removed, 18 records left.";
    await byId("apply-dedup").click();
    await textOf(byId("dedup-applied"), applied);
    await textOf(byId("undo"), "Undo: exact and near dedup at 0.8");

    // Undo takes back the last change: the counts return.
    await byId("undo").click();
    await textOf(byId("dedup-applied"), exactOnly);
    await textOf(byId("undo"), "Undo: clean: strip-html, nfkc, zero-width, whitespace, drop-refusals");
    assert.equal(await page.locator("#dedup-near").isChecked(), false);
    await textOf(byId("dedup-counts"), /^2 exact and 0 near duplicates in 21 records/);

    // And again.
    await page.locator("#dedup-near").check();
    await textOf(byId("dedup-counts"), /^2 exact and 1 near duplicates/);
    await byId("apply-dedup").click();
    await textOf(byId("dedup-applied"), applied);
    await screenshot(page, "flow-4-dedup");
    assert.deepEqual(page.problems, []);
  });

  step("5 template: a built-in and a tokenizer, the trained text and token counts", async () => {
    await go("Template");
    await textOf(byId("template-current"), /^Template: chatml \(built-in\); tokenizer: none/);
    await page.locator("#builtin-select").selectOption("qwen");
    await textOf(byId("template-current"), /^Template: qwen \(built-in\)/);
    await textOf(byId("undo"), "Undo: template qwen");
    // Undo puts the choice back, in the select too; then choose it again.
    await byId("undo").click();
    await textOf(byId("template-current"), /^Template: chatml \(built-in\)/);
    assert.equal(await page.locator("#builtin-select").inputValue(), "chatml");
    await page.locator("#builtin-select").selectOption("qwen");
    await textOf(byId("template-current"), /^Template: qwen \(built-in\)/);
    await page.locator("#tokenizer-file").setInputFiles(TOKENIZER);
    await textOf(byId("tokenizer-current"), /^tokenizer\.json \([\d,]+ tokens\)$/);
    await textOf(byId("undo"), "Undo: tokenizer tokenizer.json");

    await textOf(byId("template-overall"), /^Every record\s+18 records rendered/);
    const totals = await textOf(byId("template-tokens"), /[\d,]+ tokens, [\d,]+ trained \(\d+%\)/);
    const [, tokens, trained] = totals.match(/([\d,]+) tokens, ([\d,]+) trained/).map((n) => Number(n.replace(/,/g, "")));
    assert.ok(trained > 0 && trained < tokens, totals);

    const record = byId("template-record");
    await textOf(record, /of 18 \(source record 0, line 1\)/);
    const rendered = byId("rendered");
    await textOf(rendered, /<\|im_start\|>user\s+How do I boil an egg\?<\|im_end\|>/);
    // The assistant's answer is trained; the user's question is not.
    const marks = await rendered.locator("mark.trained").allInnerTexts();
    assert.ok(marks.some((m) => m.includes("Place the egg in boiling water")), marks.join(" | "));
    assert.ok(!marks.some((m) => m.includes("How do I boil an egg")), marks.join(" | "));
    await textOf(byId("token-counts"), /^[\d,]+ tokens, [\d,]+ trained\.$/);
    assert.ok((await record.locator(".token.trained").count()) > 0);

    // The next record.
    await record.getByRole("button", { name: "Next" }).click();
    await textOf(record, /of 18 \(source record 1, line 2\)/);
    await textOf(rendered, /capital of Portugal/);
    await screenshot(page, "flow-5-template");
    assert.deepEqual(page.problems, []);
  });

  step("6 statistics: the summary and the charts", async () => {
    await go("Statistics");
    await textOf(byId("stats-summary"), /^18 records prepared; 2\.0 turns on average \(from 2 to 2\)\./);
    for (const chart of ["chart-tokens", "chart-chars", "chart-turns", "chart-roles", "chart-languages"]) {
      const svg = byId(chart).locator("svg");
      assert.equal(await svg.count(), 1, chart);
      assert.ok((await svg.locator("rect").count()) > 0, `${chart} draws no bars`);
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 100 && box.height > 50, `${chart} is not drawn: ${JSON.stringify(box)}`);
    }
    await textOf(byId("chart-turns"), /18 records; turns from 2 to 2/);
    await textOf(byId("chart-roles"), /user/);
    await screenshot(page, "flow-6-stats");
    assert.deepEqual(page.problems, []);
  });

  step("7 export: the bundle equals what `ajuste bundle create` makes", async () => {
    assert.ok(existsSync(AJUSTE), `${AJUSTE} is missing: cargo build -p ajuste-trainer (or set AJUSTE_BIN)`);
    // Everything so far (the tokenizer too) comes back from the browser's storage after a
    // reload, and the bundle is built from what came back.
    await saved(6); // ... and the dedup, the template, the tokenizer
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Statistics" }).waitFor();
    await textOf(byId("stats-summary"), /^18 records prepared;/);
    await textOf(byId("undo"), "Undo: tokenizer tokenizer.json");
    await go("Export");
    const bundleCard = page.locator("section.card", { has: byId("export-bundle") });
    await textOf(bundleCard.locator("p").first(), "18 records prepared (17 train, about 1 eval), template qwen, method sft.");
    // Another split: typed, then Enter applies it.
    await page.locator("#eval-fraction").fill("0.2");
    await page.locator("#split-seed").fill("7");
    await page.locator("#split-seed").press("Enter");
    await textOf(byId("undo"), "Undo: eval split 0.2 (seed 7)");
    const splitText = await textOf(bundleCard.locator("p").first(), /^18 records prepared \(\d+ train, about \d+ eval\)/);
    const [, train, evalCount] = splitText.match(/\((\d+) train, about (\d+) eval\)/).map(Number);
    assert.equal(train + evalCount, 18, splitText);
    await textOf(byId("bundle-command"), /--eval-fraction 0\.2 --seed 7 /);

    // The prepared records: cleaned and deduplicated.
    const prepared = await download(byId("export-data"));
    assert.equal(prepared.name, "chats.prepared.sharegpt.jsonl");
    const kept = readFileSync(prepared.path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(kept.length, 18);
    const text = JSON.stringify(kept);
    for (const gone of ["<p>", "As an AI language model", "the  capital", "improves mood", "Is this question ever answered"]) {
      assert.ok(!text.includes(gone), `the prepared data still has ${gone}`);
    }

    const line = (await textOf(byId("bundle-command"), /^ajuste bundle create /)).trim();
    // The line's Copy button puts exactly it on the clipboard.
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(server.url).origin });
    await byId("copy-bundle-command").click();
    await textOf(byId("copy-bundle-command"), "Copied");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), line);
    // Fixes and drops were made, so the command reads the edited source, which is offered too.
    await byId("needs-edited").waitFor();
    const edited = await download(byId("export-edited"));
    assert.equal(edited.name, "chats.edited.jsonl");
    const records = readFileSync(edited.path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(records.length, 22, "the edited source leaves out the dropped record and the one that is not JSON");
    assert.equal(records[14].id, "robot");
    assert.equal(records[14].conversations[1].from, "gpt");

    const bundle = await download(byId("export-bundle"));
    assert.equal(bundle.name, "chats.edited.ajuste");
    await textOf(byId("bundle-done"), /^chats\.edited\.ajuste \([^)]+\) built in \d+ ms\./);

    // The command line, with the files where this test keeps them.
    const args = shellWords(line);
    assert.deepEqual(args.slice(0, 4), ["ajuste", "bundle", "create", "chats.edited.jsonl"]);
    for (const flag of [
      ["--template", "qwen"],
      ["--tokenizer", "tokenizer.json"],
      ["-o", "chats.edited.ajuste"],
    ]) {
      const at = args.indexOf(flag[0]);
      assert.ok(at > 0 && args[at + 1] === flag[1], `${flag.join(" ")} is not in ${line}`);
    }
    for (const flag of ["--strip-html", "--drop-refusals", "--near"]) {
      assert.ok(args.includes(flag), `${flag} is not in ${line}`);
    }
    mkdirSync(join(work, "native"));
    const native = join(work, "native", "chats.edited.ajuste");
    const files = { "chats.edited.jsonl": edited.path, "tokenizer.json": TOKENIZER, "chats.edited.ajuste": native };
    const argv = args.slice(1).map((a) => files[a] ?? a);
    try {
      // Exit 0: the edited source has no record with errors left.
      execFileSync(AJUSTE, argv, { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      assert.fail(`${line} exited with ${error.status}: ${error.stderr}`);
    }
    const ours = readFileSync(bundle.path);
    const theirs = readFileSync(native);
    assert.ok(ours.length > 1000, `the bundle has ${ours.length} bytes`);
    assert.ok(
      ours.equals(theirs),
      `the studio's bundle (${ours.length} bytes) differs from ${AJUSTE}'s (${theirs.length} bytes); is that binary up to date?`,
    );
    // What the page said about the bundle is what the bundle holds.
    const manifest = JSON.parse(execFileSync(AJUSTE, ["bundle", "inspect", "--json", bundle.path], { encoding: "utf8" }));
    assert.deepEqual([manifest.split.train, manifest.split.eval], [train, evalCount]);
    assert.equal(manifest.template.name, "qwen");
    await screenshot(page, "flow-7-export");
    assert.deepEqual(page.problems, []);
  });

  step("8 every page fits a 1280 and a 1024 wide window, in the light and the dark scheme", async () => {
    // Nothing runs off the side (long lines wrap); screenshots narrow-* and dark-* to look at.
    const pages = ["Validate", "Clean", "Deduplicate", "Template", "Statistics", "Export"];
    for (const [width, scheme] of [
      [1280, "light"],
      [1024, "light"],
      [1280, "dark"],
    ]) {
      await page.setViewportSize({ width, height: 800 });
      await page.emulateMedia({ colorScheme: scheme });
      for (const label of pages) {
        await go(label);
        // The page's own view (records, previews, charts) is drawn.
        await page.waitForFunction(() => !document.querySelector(".page")?.innerText.match(/Computing…|Rendering…|Looking for duplicates…/));
        if (label === "Validate") {
          await byId("finding-row").first().click();
          await byId("record-panel").getByRole("heading", { level: 2, name: /^Record \d+/ }).waitFor();
        }
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${label} at ${width} px runs ${overflow} px off the side`);
        if (width !== 1280 || scheme !== "light") {
          await screenshot(page, `${scheme === "dark" ? "dark" : "narrow"}-${label.toLowerCase()}`);
        }
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "light" });
    assert.deepEqual(page.problems, []);
  });
});
