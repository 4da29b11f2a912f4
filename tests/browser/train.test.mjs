// The Train page in real headless Chromium: the shipped sample is loaded, the Train page opens
// (and only then fetches the training worker's module), a tiny Llama directory is picked from
// disk (tests/fixtures/browser/tiny-model), and a few steps of LoRA SFT run in the worker.
//
// 1. CPU (flex): the loss falls, the charts update, the eval before/after is shown, the chat
//    box answers with the base and with the adapter, and the downloaded adapter (PEFT zip,
//    adapter_config.json, adapter_model.safetensors) and events.jsonl match what
//    `target/debug/ajuste train` makes natively from the same bundle with the command line the
//    page shows: every step's loss within 1e-3, the adapter's tensors within 1e-3.
// 2. WebGPU: Chromium's SwiftShader adapter is detected (a software adapter, so the page says the
//    CPU is faster) and two steps run on it, with the native run's losses.
//
// Run through tests/browser/run.sh (which builds dist/ and target/debug/ajuste).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { ROOT, closeStudio, launchBrowser, openStudio, screenshot, serveDir } from "./harness.mjs";

const TINY = join(ROOT, "tests", "fixtures", "browser", "tiny-model");
const AJUSTE =
  process.env.AJUSTE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug", "ajuste");
// Few steps: every step of the tiny model is quick on flex, but CI has two cores.
const STEPS = 4;
const GPU_STEPS = 2;

let server;
let browser;
let work;

before(async () => {
  server = await serveDir();
  browser = await launchBrowser();
  work = mkdtempSync(join(tmpdir(), "ajuste-train-"));
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Opens the studio, loads the shipped sample, and opens the Train page. */
async function trainPage() {
  const opened = server.requests.length;
  const page = await openStudio(browser, server.url);
  await page.getByRole("button", { name: /Load the sample/ }).click();
  await page.getByTestId("dataset-card").first().waitFor();
  const requestsBefore = server.requests.length;
  assert.ok(
    !server.requests.slice(opened).some((r) => r.includes("train_worker")),
    "the training worker's module must not load before the Train page opens",
  );
  await page.getByRole("navigation", { name: "Steps" }).getByRole("link", { name: "Train" }).click();
  await page.getByRole("heading", { level: 1, name: "Train" }).waitFor();
  // The worker answers the WebGPU probe either way (an adapter, or why not).
  await page.locator('[data-testid="webgpu-ok"], [data-testid="webgpu-missing"]').first().waitFor({ timeout: 60_000 });
  assert.ok(
    server.requests.slice(requestsBefore).some((r) => r.endsWith("train_worker_bg.wasm")),
    "opening the Train page fetches the training worker",
  );
  return page;
}

/** Picks the tiny model directory and waits for its check. */
async function pickTiny(page) {
  await page.getByTestId("model-dir").setInputFiles(TINY);
  await page.getByTestId("model-check").waitFor();
  const text = await page.getByTestId("model-check").innerText();
  assert.match(text, /^tiny-model: llama, /, text);
  assert.equal(await page.getByTestId("model-too-large").count(), 0);
  assert.equal(await page.getByTestId("model-missing").count(), 0);
}

/** Sets a number field (change event). */
async function setNumber(page, testid, value) {
  await page.getByTestId(testid).fill(String(value));
  await page.getByTestId(testid).dispatchEvent("change");
  await page.waitForFunction(
    ([id, v]) => document.querySelector(`[data-testid="${id}"]`)?.value === String(v),
    [testid, value],
  );
}

async function settings(page, steps) {
  await setNumber(page, "train-steps", steps);
  await setNumber(page, "train-lr", 0.01);
  await setNumber(page, "train-max-length", 128);
  await setNumber(page, "train-batch", 4);
}

/** Clicks Start and waits for the run to end; resolves to the seconds it took. */
async function run(page, timeout) {
  const started = Date.now();
  await page.getByTestId("train-start").click();
  await page.waitForFunction(
    () => ["finished", "failed", "stopped"].includes(document.querySelector('[data-testid="train-phase"]')?.dataset.phase),
    null,
    { timeout },
  );
  const phase = await page.getByTestId("train-phase").getAttribute("data-phase");
  if (phase !== "finished") {
    const error = await page.getByTestId("train-error").innerText().catch(() => "(no message)");
    assert.fail(`the run ended ${phase}: ${error}`);
  }
  return (Date.now() - started) / 1000;
}

/** Clicks `locator` and saves the download it starts as `name` under `dir`. */
async function download(page, locator, dir, name) {
  mkdirSync(dir, { recursive: true });
  const [file] = await Promise.all([page.waitForEvent("download"), locator.click()]);
  const path = join(dir, name ?? file.suggestedFilename());
  await file.saveAs(path);
  return path;
}

/** The page's native command, run with the bundle and model paths of this machine. */
function runNative(command, bundle, runDir) {
  const words = command.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["ajuste", "train"], command);
  const flags = words.slice(5, -2); // after `BUNDLE --model DIR`, before `-o train-run`
  assert.equal(words[3], "--model", command);
  const argv = ["train", bundle, "--model", TINY, ...flags, "-o", runDir];
  execFileSync(AJUSTE, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, AJUSTE_NO_PROGRESS: "1" } });
  return readEvents(join(runDir, "events.jsonl"));
}

function readEvents(path) {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** safetensors: name -> { shape, values } (f32). */
function readSafetensors(path) {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    assert.equal(info.dtype, "F32", name);
    const [a, b] = info.data_offsets;
    const data = bytes.subarray(8 + n + a, 8 + n + b);
    const values = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    out[name] = { shape: info.shape, values };
  }
  return out;
}

function stepLosses(events) {
  return events.filter((e) => e.event === "step").map((e) => e.loss);
}

function assertClose(a, b, tolerance, what) {
  assert.equal(a.length, b.length, `${what}: ${a.length} values vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tolerance, `${what}[${i}]: ${a[i]} vs ${b[i]} (tolerance ${tolerance})`);
  }
}

describe("train page", () => {
  test("LoRA SFT on the CPU (flex): loss falls, charts, eval, chat, and the adapter matches the native run", { timeout: 300_000 }, async () => {
    const page = await trainPage();
    try {
      await pickTiny(page);
      await page.getByTestId("backend-cpu").check();
      await settings(page, STEPS);
      assert.equal(await page.getByTestId("train-method").inputValue(), "sft");
      assert.equal(await page.getByTestId("train-adapter").inputValue(), "lora");
      const command = await page.getByTestId("train-native-command").innerText();
      assert.match(command, new RegExp(`--steps ${STEPS} .*--device cpu -o train-run$`), command);

      const seconds = await run(page, 120_000);
      const step = page.getByTestId("train-step");
      assert.equal(await step.getAttribute("data-step"), String(STEPS));
      // Every step reached the charts.
      for (const id of ["chart-loss", "chart-lr", "chart-grad-norm", "chart-tokens", "chart-token-accuracy"]) {
        assert.equal(await page.getByTestId(id).getAttribute("data-points"), String(STEPS), id);
      }
      // The eval split (5% of the sample) was scored before and after.
      const before = Number(await page.getByTestId("eval-before-eval_loss").innerText());
      const afterLoss = Number(await page.getByTestId("eval-after-eval_loss").innerText());
      assert.ok(afterLoss < before, `eval loss should fall: ${before} -> ${afterLoss}`);
      const rate = (await step.innerText()).match(/([\d.]+) steps\/s/)?.[1];
      console.log(`# flex: ${STEPS} steps in ${seconds.toFixed(1)} s (setup included), ${rate} steps/s`);
      await screenshot(page, "train-1-flex-finished");

      // The chat box answers on both sides.
      await page.getByTestId("chat-prompt").fill("How do I boil an egg?");
      await page.getByTestId("chat-send").click();
      await page.locator('[data-testid="chat-adapter"][data-done="true"]').waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId("chat-base").getAttribute("data-done"), "true");
      for (const side of ["chat-base", "chat-adapter"]) {
        assert.match(await page.getByTestId(side).innerText(), /\d+ tokens in [\d.]+ s/, side);
      }

      // The adapter: the zip starts downloading; then each file.
      const dir = join(work, "browser");
      const zip = await download(page, page.getByTestId("adapter-download"), dir);
      assert.match(zip, /tiny-model-sft-lora-adapter\.zip$/);
      const weights = await download(page, page.getByTestId("adapter-weights"), dir, "adapter_model.safetensors");
      const config = await download(page, page.getByTestId("adapter-config"), dir, "adapter_config.json");
      const eventsPath = await download(page, page.getByTestId("adapter-events"), dir, "events.jsonl");
      const zipped = execFileSync("python3", ["-c", "import sys, zipfile; print(' '.join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))", zip], { encoding: "utf8" }).trim();
      assert.equal(zipped, "adapter_config.json adapter_model.safetensors");
      const events = readEvents(eventsPath);
      const losses = stepLosses(events);
      assert.equal(losses.length, STEPS);
      assert.ok(losses[STEPS - 1] < losses[0], `the loss should fall: ${losses.join(", ")}`);

      // The same run natively, from the same bundle (the Export page's download).
      await page.getByRole("navigation", { name: "Steps" }).getByRole("link", { name: "Export" }).click();
      const bundle = await download(page, page.getByTestId("export-bundle"), join(work, "bundle"));
      const native = runNative(command, bundle, join(work, "native-flex"));
      assertClose(losses, stepLosses(native), 1e-3, "step losses (browser vs native)");
      const evalOf = (evs) => evs.filter((e) => e.event === "eval").map((e) => e.eval_loss);
      assertClose(evalOf(events), evalOf(native), 1e-3, "eval losses");
      const ours = readSafetensors(weights);
      const theirs = readSafetensors(join(work, "native-flex", "adapter", "adapter_model.safetensors"));
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
      for (const name of Object.keys(ours)) {
        assert.deepEqual(ours[name].shape, theirs[name].shape, name);
        assertClose(ours[name].values, theirs[name].values, 1e-3, name);
      }
      const cfg = JSON.parse(readFileSync(config, "utf8"));
      const nativeCfg = JSON.parse(readFileSync(join(work, "native-flex", "adapter", "adapter_config.json"), "utf8"));
      delete cfg.base_model_name_or_path;
      delete nativeCfg.base_model_name_or_path;
      assert.deepEqual(cfg, nativeCfg);
      assert.deepEqual(page.problems, [], "the page logged errors");
    } catch (error) {
      await screenshot(page, "train-1-failed").catch(() => {});
      throw error;
    } finally {
      await closeStudio(page);
    }
  });

  test("WebGPU: SwiftShader is detected, and steps run on it with the native losses", { timeout: 400_000 }, async () => {
    const page = await trainPage();
    try {
      const ok = page.getByTestId("webgpu-ok");
      assert.equal(await ok.count(), 1, `WebGPU should be detected: ${await page.getByTestId("webgpu-status").innerText()}`);
      assert.equal(await ok.getAttribute("data-software"), "true", "headless Chromium's adapter is SwiftShader");
      // A software adapter: the page picks the CPU and says why.
      assert.ok(await page.getByTestId("backend-cpu").isChecked());
      assert.match(await page.getByTestId("webgpu-status").innerText(), /CPU backend is much faster/);
      await pickTiny(page);
      await page.getByTestId("backend-webgpu").check();
      await settings(page, GPU_STEPS);
      const command = await page.getByTestId("train-native-command").innerText();
      assert.match(command, /--device wgpu -o train-run$/, command);
      const seconds = await run(page, 240_000);
      const rate = (await page.getByTestId("train-step").innerText()).match(/([\d.]+) steps\/s/)?.[1];
      console.log(`# webgpu (SwiftShader): ${GPU_STEPS} steps in ${seconds.toFixed(1)} s (setup and shader compilation included), ${rate} steps/s`);
      assert.equal(await page.getByTestId("chart-loss").getAttribute("data-points"), String(GPU_STEPS));
      await screenshot(page, "train-2-webgpu-finished");
      const eventsPath = await download(page, page.getByTestId("adapter-download"), join(work, "gpu"))
        .then(() => download(page, page.getByTestId("adapter-events"), join(work, "gpu"), "events.jsonl"));
      const losses = stepLosses(readEvents(eventsPath));
      // The native run on the CPU: the same numbers, to float noise.
      await page.getByRole("navigation", { name: "Steps" }).getByRole("link", { name: "Export" }).click();
      const bundle = await download(page, page.getByTestId("export-bundle"), join(work, "bundle-gpu"));
      const native = runNative(command.replace("--device wgpu", "--device cpu"), bundle, join(work, "native-gpu"));
      assertClose(losses, stepLosses(native), 1e-3, "step losses (WebGPU vs native CPU)");
      assert.deepEqual(page.problems, [], "the page logged errors");
    } catch (error) {
      await screenshot(page, "train-2-failed").catch(() => {});
      throw error;
    } finally {
      await closeStudio(page);
    }
  });
});
