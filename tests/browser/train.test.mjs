// The Train page in real headless Chromium. The training worker's module is fetched only when
// the Train page opens; then a few steps of LoRA SFT run in it.
//
// 1. CPU (flex), the micro model shipped with the studio, the pirate persona sample
//    (static/samples/pirate-train.jsonl): the eval loss falls, the charts update, the eval before and
//    after is shown, the chat box answers with the base and with the adapter, and the downloaded
//    adapter (PEFT zip, adapter_config.json, adapter_model.safetensors) and events.jsonl match
//    what `target/debug/ajuste train` makes natively from the same bundle with the command line
//    the page shows: every step's loss and the eval losses within 1e-3, the same adapter tensors
//    (to float noise), and the held-out loss of each adapter, scored natively, within 1e-3.
//    Then a longer run is paused (no step while paused), resumed and stopped (it still
//    evaluates, and its adapter is the stopped step's).
// 2. WebGPU: Chromium's SwiftShader adapter is detected (a software adapter, so the page picks the
//    CPU and says why); a model directory too large for a tab is refused from its config.json, a
//    tiny Llama directory is read from disk (tests/fixtures/browser/tiny-model); then the micro
//    model trains two short steps on WebGPU: the eval loss falls, and the step and eval losses
//    are the native run's within 1e-3.
// 3. A model at a URL, served by another site (as huggingface.co serves a model's files): a site
//    that does not let other sites read its files, and a directory with no config.json, get clear
//    messages; a sharded model's index is found by its HEAD requests and read; the micro model,
//    named by a link to its config.json, trains two steps on flex with the native run's losses.
//
// Run through tests/browser/run.sh (which builds dist/ and target/debug/ajuste).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { ROOT, closeStudio, launchBrowser, openStudio, screenshot, serveDir, serveFiles } from "./harness.mjs";
import {
  MICRO,
  PIRATE,
  download,
  downloadBundle,
  loadData,
  openTrain,
  readEvents,
  runNative as runNativeWith,
  runToEnd,
  setNumber,
  stepLosses,
} from "./train-page.mjs";

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

/** Opens the studio, loads `data` (else the shipped sample), and opens the Train page. */
async function trainPage(data) {
  const opened = server.requests.length;
  const page = await openStudio(browser, server.url);
  await loadData(page, data);
  const requestsBefore = server.requests.length;
  assert.ok(
    !server.requests.slice(opened).some((r) => r.includes("train_worker")),
    "the training worker's module must not load before the Train page opens",
  );
  await openTrain(page);
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

async function settings(page, { steps, maxLength = 128, lr = 0.01 }) {
  await setNumber(page, "train-steps", steps);
  await setNumber(page, "train-lr", lr);
  await setNumber(page, "train-max-length", maxLength);
  await setNumber(page, "train-batch", 4);
}

/** The page's native command, run with `target/debug/ajuste`. */
function runNative(command, bundle, model, runDir, device) {
  return runNativeWith(AJUSTE, command, { bundle, model, runDir, device });
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

/** ‖a − b‖ / ‖b‖. */
function relativeDifference(a, b) {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

/** The token-weighted mean loss of `model` (with the PEFT adapter in `adapter`) on the
 *  held-out pirate records, scored natively by `ajuste score`. */
function heldOutLoss(model, adapter) {
  const argv = ["score", "--model", model, "--data", join(ROOT, "static", "samples", "pirate-eval.jsonl"), "--template", "chatml", "--max-len", "128", "--json"];
  if (adapter) argv.push("--adapter", adapter);
  const out = execFileSync(AJUSTE, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  let tokens = 0;
  let logprob = 0;
  for (const line of out.split("\n").filter(Boolean)) {
    const row = JSON.parse(line);
    if (typeof row.record === "number" && typeof row.tokens === "number") {
      tokens += row.tokens;
      logprob += row.logprob;
    }
  }
  assert.ok(tokens > 0, `ajuste score gave no scores: ${out.slice(0, 200)}`);
  return -logprob / tokens;
}

/**
 * Downloads the finished run's adapter and events and the session's bundle, runs the page's
 * native command on that bundle and the micro model (`device` replacing its --device), and
 * asserts every step's loss is the native run's within 1e-3. Resolves to both runs' events.
 */
async function matchesNative(page, command, name, device) {
  const dir = join(work, name.replaceAll(" ", "-"));
  await download(page, page.getByTestId("adapter-download"), dir);
  const events = readEvents(await download(page, page.getByTestId("adapter-events"), dir, "events.jsonl"));
  const bundle = await downloadBundle(page, join(dir, "bundle"));
  const native = runNative(command, bundle, MICRO, join(dir, "native"), device);
  assertClose(stepLosses(events), stepLosses(native), 1e-3, `step losses (${name} vs native)`);
  return { events, native };
}

function assertClose(a, b, tolerance, what) {
  assert.equal(a.length, b.length, `${what}: ${a.length} values vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tolerance, `${what}[${i}]: ${a[i]} vs ${b[i]} (tolerance ${tolerance})`);
  }
}

describe("train page", () => {
  test("LoRA SFT of the micro model on the CPU (flex): loss falls, charts, eval, chat, and the adapter matches the native run", { timeout: 300_000 }, async () => {
    const page = await trainPage(PIRATE);
    try {
      // The shipped model is the default; its config is checked before anything loads.
      assert.ok(await page.getByTestId("model-shipped").isChecked());
      await page.getByTestId("model-check").waitFor();
      assert.match(await page.getByTestId("model-check").innerText(), /^micro: llama, 2\.0 million parameters, 4 layers/);
      await page.getByTestId("backend-cpu").check();
      await settings(page, { steps: STEPS });
      assert.equal(await page.getByTestId("train-method").inputValue(), "sft");
      assert.equal(await page.getByTestId("train-adapter").inputValue(), "lora");
      const command = await page.getByTestId("train-native-command").innerText();
      assert.match(command, new RegExp(`--steps ${STEPS} .*--device cpu -o train-run$`), command);

      const seconds = await runToEnd(page, 120_000);
      const step = page.getByTestId("train-step");
      assert.equal(await step.getAttribute("data-step"), String(STEPS));
      // Every step reached the charts.
      for (const id of ["chart-loss", "chart-lr", "chart-grad-norm", "chart-tokens", "chart-token-accuracy"]) {
        assert.equal(await page.getByTestId(id).getAttribute("data-points"), String(STEPS), id);
      }
      // The eval split (5% of the data) was scored before and after.
      const before = Number(await page.getByTestId("eval-before-eval_loss").innerText());
      const afterLoss = Number(await page.getByTestId("eval-after-eval_loss").innerText());
      assert.ok(afterLoss < before, `eval loss should fall: ${before} -> ${afterLoss}`);
      const rate = (await step.innerText()).match(/([\d.]+) steps\/s/)?.[1];
      console.log(`# flex: ${STEPS} steps in ${seconds.toFixed(1)} s (setup included), ${rate} steps/s`);
      await screenshot(page, "train-1-flex-finished");

      // The chat box answers on both sides.
      await page.getByTestId("chat-prompt").fill("What colour is the sky?");
      await page.getByTestId("chat-send").click();
      await page.locator('[data-testid="chat-adapter"][data-done="true"]').waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId("chat-base").getAttribute("data-done"), "true");
      for (const side of ["chat-base", "chat-adapter"]) {
        const text = await page.getByTestId(side).innerText();
        assert.match(text, /\d+ tokens in [\d.]+ s/, side);
        console.log(`# ${side}: ${JSON.stringify(await page.getByTestId(side).locator(".chat-text").innerText())}`);
      }
      await screenshot(page, "train-1-chat");

      // The adapter: the zip starts downloading; then each file.
      const dir = join(work, "browser");
      const zip = await download(page, page.getByTestId("adapter-download"), dir);
      assert.match(zip, /micro-sft-lora-adapter\.zip$/);
      const weights = await download(page, page.getByTestId("adapter-weights"), dir, "adapter_model.safetensors");
      const config = await download(page, page.getByTestId("adapter-config"), dir, "adapter_config.json");
      const eventsPath = await download(page, page.getByTestId("adapter-events"), dir, "events.jsonl");
      const zipped = execFileSync("python3", ["-c", "import sys, zipfile; print(' '.join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))", zip], { encoding: "utf8" }).trim();
      assert.equal(zipped, "adapter_config.json adapter_model.safetensors");
      const events = readEvents(eventsPath);
      // Learning is asserted on the eval split above (the same records before and after); each
      // step's loss is another batch's, so the last step's need not be below the first's.
      const losses = stepLosses(events);
      assert.equal(losses.length, STEPS);

      // The same run natively, from the same bundle (the Export page's download).
      const bundle = await downloadBundle(page, join(work, "bundle"));
      const native = runNative(command, bundle, MICRO, join(work, "native-flex"));
      assertClose(losses, stepLosses(native), 1e-3, "step losses (browser vs native)");
      const evalOf = (evs) => evs.filter((e) => e.event === "eval").map((e) => e.eval_loss);
      assertClose(evalOf(events), evalOf(native), 1e-3, "eval losses");
      // The adapters: the same tensors. Element by element they agree only roughly: Adam's
      // first steps move every value by about the learning rate whatever its gradient's size,
      // so a gradient near 0 whose sign differs by float noise (one thread in the browser,
      // SIMD on all cores natively) moves its value the other way. What they do agrees within
      // 1e-3: the held-out loss of each, scored natively.
      const ours = readSafetensors(weights);
      const theirs = readSafetensors(join(work, "native-flex", "adapter", "adapter_model.safetensors"));
      assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
      let worst = 0;
      for (const name of Object.keys(ours)) {
        assert.deepEqual(ours[name].shape, theirs[name].shape, name);
        worst = Math.max(worst, relativeDifference(ours[name].values, theirs[name].values));
      }
      console.log(`# adapter tensors: largest relative difference ${worst.toExponential(2)}`);
      assert.ok(worst < 0.02, `the adapters differ: relative difference ${worst}`);
      const base = heldOutLoss(MICRO, null);
      const browserLoss = heldOutLoss(MICRO, dir);
      const nativeLoss = heldOutLoss(MICRO, join(work, "native-flex", "adapter"));
      console.log(`# held-out loss (pirate-eval): base ${base.toFixed(4)}, browser adapter ${browserLoss.toFixed(4)}, native adapter ${nativeLoss.toFixed(4)}`);
      assert.ok(Math.abs(browserLoss - nativeLoss) <= 1e-3, `held-out loss: browser ${browserLoss} vs native ${nativeLoss}`);
      assert.ok(browserLoss < base, `the adapter should lower the held-out loss: ${base} -> ${browserLoss}`);
      const cfg = JSON.parse(readFileSync(config, "utf8"));
      const nativeCfg = JSON.parse(readFileSync(join(work, "native-flex", "adapter", "adapter_config.json"), "utf8"));
      delete cfg.base_model_name_or_path;
      delete nativeCfg.base_model_name_or_path;
      assert.deepEqual(cfg, nativeCfg);

      // Pause, resume and stop: a longer run on the same page, paused after its second step.
      await page.getByRole("navigation", { name: "Steps" }).getByRole("link", { name: "Train" }).click();
      await setNumber(page, "train-steps", 200);
      await page.getByTestId("train-start").click();
      await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.step) >= 2, null, { timeout: 60_000 });
      await page.getByTestId("train-pause").click();
      await page.locator('[data-testid="train-phase"][data-phase="paused"]').waitFor({ timeout: 30_000 });
      const pausedAt = await page.getByTestId("train-step").getAttribute("data-step");
      await page.waitForTimeout(1500);
      assert.equal(await page.getByTestId("train-step").getAttribute("data-step"), pausedAt, "no step while paused");
      await page.getByTestId("train-resume").click();
      await page.waitForFunction((at) => Number(document.querySelector('[data-testid="train-step"]')?.dataset.step) > Number(at), pausedAt, { timeout: 30_000 });
      await page.getByTestId("train-stop").click();
      await page.locator('[data-testid="train-phase"][data-phase="stopped"]').waitFor({ timeout: 60_000 });
      const stoppedAt = Number(await page.getByTestId("train-step").getAttribute("data-step"));
      assert.ok(stoppedAt < 200, `stopped early (step ${stoppedAt})`);
      // A stopped run still evaluates and hands out its adapter.
      assert.ok(await page.getByTestId("eval-after-eval_loss").isVisible());
      await download(page, page.getByTestId("adapter-download"), join(work, "stopped"));
      assert.equal(await page.getByTestId("adapter-ready").getAttribute("data-step"), String(stoppedAt));
      assert.deepEqual(page.problems, [], "the page logged errors");
    } catch (error) {
      await screenshot(page, "train-1-failed").catch(() => {});
      throw error;
    } finally {
      await closeStudio(page);
    }
  });

  test("WebGPU: SwiftShader is detected, a model directory is read from disk (or refused when too large), and the micro model trains on WebGPU with the native losses", { timeout: 600_000 }, async () => {
    const page = await trainPage(PIRATE);
    try {
      const ok = page.getByTestId("webgpu-ok");
      assert.equal(await ok.count(), 1, `WebGPU should be detected: ${await page.getByTestId("webgpu-status").innerText()}`);
      assert.equal(await ok.getAttribute("data-software"), "true", "headless Chromium's adapter is SwiftShader");
      // A software adapter: the page picks the CPU and says why.
      assert.ok(await page.getByTestId("backend-cpu").isChecked());
      assert.match(await page.getByTestId("webgpu-status").innerText(), /CPU backend is much faster/);
      // A model too large for a tab is refused from its config.json, before anything loads.
      const big = join(work, "Llama-3.1-8B");
      mkdirSync(big, { recursive: true });
      writeFileSync(join(big, "config.json"), JSON.stringify({
        model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_attention_heads: 32,
        num_key_value_heads: 8, num_hidden_layers: 32, vocab_size: 128256, max_position_embeddings: 131072,
      }));
      writeFileSync(join(big, "tokenizer.json"), readFileSync(join(TINY, "tokenizer.json")));
      writeFileSync(join(big, "model.safetensors"), "");
      await page.getByTestId("model-dir").setInputFiles(big);
      const tooLarge = page.getByTestId("model-too-large");
      await tooLarge.waitFor();
      assert.match(await tooLarge.innerText(), /^Llama-3\.1-8B has 8\.0 billion parameters: a LoRA run on it .* needs about [\d.]+ GB of memory, more than a browser tab can count on/);
      assert.ok(await page.getByTestId("train-start").isDisabled(), "a model too large cannot be started");

      await pickTiny(page);
      // Back to the shipped micro model, to train on WebGPU.
      await page.getByTestId("model-shipped").check();
      await page.waitForFunction(() => /^micro: /.test(document.querySelector('[data-testid="model-check"]')?.innerText ?? ""));
      await page.getByTestId("backend-webgpu").check();
      // SwiftShader runs every kernel on the CPU: short sequences keep this test short. A smaller
      // learning rate than on flex: Adam's first steps move a value whose gradient is float noise
      // by the full rate, one way on the GPU and maybe the other on the CPU, and the eval after
      // training is compared too.
      await settings(page, { steps: GPU_STEPS, maxLength: 64, lr: 0.001 });
      const command = await page.getByTestId("train-native-command").innerText();
      assert.match(command, /--device wgpu -o train-run$/, command);
      const seconds = await runToEnd(page, 480_000);
      const rate = (await page.getByTestId("train-step").innerText()).match(/([\d.]+) steps\/s/)?.[1];
      console.log(`# webgpu (SwiftShader): ${GPU_STEPS} steps in ${seconds.toFixed(1)} s (setup and shader compilation included), ${rate} steps/s`);
      assert.equal(await page.getByTestId("chart-loss").getAttribute("data-points"), String(GPU_STEPS));
      const evalBefore = Number(await page.getByTestId("eval-before-eval_loss").innerText());
      const evalAfter = Number(await page.getByTestId("eval-after-eval_loss").innerText());
      assert.ok(evalAfter < evalBefore, `eval loss should fall on WebGPU: ${evalBefore} -> ${evalAfter}`);
      await screenshot(page, "train-2-webgpu-finished");
      // The native run on the CPU: the same numbers, to float noise.
      const { events, native } = await matchesNative(page, command, "webgpu", "cpu");
      const evalOf = (evs) => evs.filter((e) => e.event === "eval").map((e) => e.eval_loss);
      assertClose(evalOf(events), evalOf(native), 1e-3, "eval losses (WebGPU vs native CPU)");
      assert.deepEqual(page.problems, [], "the page logged errors");
    } catch (error) {
      await screenshot(page, "train-2-failed").catch(() => {});
      throw error;
    } finally {
      await closeStudio(page);
    }
  });

  test("A model at a URL on another site: refused reads and missing files are explained, a sharded index is read, and the micro model trains with the native losses", { timeout: 300_000 }, async () => {
    // A folder of model directories, served by two sites: one lets pages of other sites read
    // its files (CORS, as huggingface.co does), one does not.
    const hub = join(work, "hub");
    cpSync(MICRO, join(hub, "micro"), { recursive: true });
    const sharded = join(hub, "qwen2-sharded");
    const golden = join(ROOT, "tests", "fixtures", "golden", "qwen2-f16-sharded");
    for (const file of ["config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
      cpSync(join(golden, file), join(sharded, file));
    }
    cpSync(join(TINY, "tokenizer.json"), join(sharded, "tokenizer.json"));
    const open = await serveFiles(hub, { cors: true });
    const closed = await serveFiles(hub);
    const page = await trainPage(PIRATE);
    const useUrl = async (url) => {
      await page.getByTestId("model-url").fill(url);
      await page.getByTestId("model-url").press("Enter");
      await page.locator('[data-testid="model-check"], [data-testid="model-check-error"]').first().waitFor();
    };
    try {
      await useUrl(`${closed.url}micro`);
      assert.ok(await page.getByTestId("model-url-choice").isChecked(), "typing a URL chooses it");
      assert.match(await page.getByTestId("model-check-error").innerText(), /^micro\/config\.json could not be fetched from http:\/\/127\.0\.0\.1:\d+\/micro\/: .*does its server let other sites read its files\?\)/);
      assert.ok(await page.getByTestId("train-start").isDisabled());
      await useUrl(`${open.url}nowhere`);
      assert.match(await page.getByTestId("model-check-error").innerText(), /^Nowhere has no config\.json/);
      await useUrl("huggingface.co/HuggingFaceTB/SmolLM2-135M");
      assert.match(await page.getByTestId("model-check-error").innerText(), /is not a URL/);

      // A sharded model: its index is found and read; the safetensors files are only asked about.
      await useUrl(`${open.url}qwen2-sharded/`);
      await page.getByTestId("model-check").waitFor();
      assert.match(await page.getByTestId("model-check").innerText(), /^qwen2-sharded: qwen2, /);
      assert.equal(await page.getByTestId("model-check").getAttribute("data-parameters"), "28960");
      assert.equal(await page.getByTestId("model-missing").count(), 0);
      assert.ok(open.requests.includes("HEAD /qwen2-sharded/model.safetensors.index.json"), open.requests.join(" "));
      assert.ok(open.requests.includes("/qwen2-sharded/model.safetensors.index.json"), "the index is read for the weights' size");
      assert.ok(!open.requests.some((r) => r.startsWith("/qwen2-sharded/model-0000")), "no weights are downloaded to check a model");

      // The micro model, named by a link to one of its files, trains like the shipped one.
      await useUrl(`${open.url}micro/config.json`);
      await page.waitForFunction(() => /^micro: llama, 2\.0 million parameters/.test(document.querySelector('[data-testid="model-check"]')?.innerText ?? ""));
      await page.getByTestId("backend-cpu").check();
      await settings(page, { steps: GPU_STEPS });
      const command = await page.getByTestId("train-native-command").innerText();
      assert.match(command, / --model micro /, command);
      assert.match(await page.getByTestId("train-native-download").innerText(), new RegExp(`download the files at ${open.url}micro/config\\.json into micro/ first`));
      await runToEnd(page, 120_000);
      assert.ok(open.requests.includes("/micro/model.safetensors"), "the weights come from the URL");
      await screenshot(page, "train-3-url-finished");
      await matchesNative(page, command, "model at a URL");
      assert.deepEqual(page.problems, [], "the page logged errors");
    } catch (error) {
      await screenshot(page, "train-3-failed").catch(() => {});
      throw error;
    } finally {
      await closeStudio(page);
      await open.close();
      await closed.close();
    }
  });
});
