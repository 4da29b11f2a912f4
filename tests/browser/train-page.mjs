// Driving the studio's Train page, and running the same training natively: shared by the Train
// page's tests (train.test.mjs) and its benchmark (bench-train.mjs).

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ROOT } from "./harness.mjs";

export const MICRO = join(ROOT, "static", "models", "micro");
export const PIRATE = join(ROOT, "static", "samples", "pirate-train.jsonl");

/** Loads `data` through the Load page's file input (else the shipped sample). */
export async function loadData(page, data) {
  if (data) {
    await page.locator("#file-input:enabled").waitFor();
    await page.locator("#file-input").setInputFiles(data);
  } else {
    await page.getByRole("button", { name: /Load the sample/ }).click();
  }
  await page.getByTestId("dataset-card").first().waitFor();
}

/** Opens the Train page from the step navigation and waits for the worker's WebGPU probe. */
export async function openTrain(page) {
  await page.getByRole("navigation", { name: "Steps" }).getByRole("link", { name: "Train" }).click();
  await page.getByRole("heading", { level: 1, name: "Train" }).waitFor();
  // The worker answers the WebGPU probe either way (an adapter, or why not).
  await page.locator('[data-testid="webgpu-ok"], [data-testid="webgpu-missing"]').first().waitFor({ timeout: 60_000 });
}

/** Sets a number field (change event) and waits until the page shows the value. */
export async function setNumber(page, testid, value) {
  await page.getByTestId(testid).fill(String(value));
  await page.getByTestId(testid).dispatchEvent("change");
  await page.waitForFunction(
    ([id, v]) => document.querySelector(`[data-testid="${id}"]`)?.value === String(v),
    [testid, value],
  );
}

/** Clicks Start and waits for the run to end; resolves to the seconds it took. Throws, with the
 *  page's message, when the run ends any way but finished. */
export async function runToEnd(page, timeout) {
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
    throw new Error(`the run ended ${phase}: ${error}`);
  }
  return (Date.now() - started) / 1000;
}

/** Clicks `locator` and saves the download it starts as `name` (else its own name) under `dir`. */
export async function download(page, locator, dir, name) {
  mkdirSync(dir, { recursive: true });
  const [file] = await Promise.all([page.waitForEvent("download"), locator.click()]);
  const path = join(dir, name ?? file.suggestedFilename());
  await file.saveAs(path);
  return path;
}

/** Downloads the bundle of the loaded data from the Export page. */
export async function downloadBundle(page, dir) {
  await page.getByRole("navigation", { name: "Steps" }).getByRole("link", { name: "Export" }).click();
  return download(page, page.getByTestId("export-bundle"), dir);
}

/**
 * Runs the page's native command (`ajuste train BUNDLE --model DIR FLAGS -o train-run`) with
 * `ajuste` at `bin`, this machine's bundle and model paths, and `-o runDir`; `device` replaces
 * the command's `--device` when given. Returns the run's events.
 */
export function runNative(bin, command, { bundle, model, runDir, device }) {
  const words = command.split(/\s+/);
  if (words[0] !== "ajuste" || words[1] !== "train" || words[3] !== "--model" || words.at(-2) !== "-o") {
    throw new Error(`not the page's native command: ${command}`);
  }
  let flags = words.slice(5, -2); // after `BUNDLE --model DIR`, before `-o train-run`
  if (device) {
    const at = flags.indexOf("--device");
    flags = at < 0 ? [...flags, "--device", device] : flags.toSpliced(at, 2, "--device", device);
  }
  const argv = ["train", bundle, "--model", model, ...flags, "-o", runDir];
  execFileSync(bin, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, AJUSTE_NO_PROGRESS: "1" } });
  return readEvents(join(runDir, "events.jsonl"));
}

/** The lines of an events.jsonl file, parsed. */
export function readEvents(path) {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

export function stepLosses(events) {
  return events.filter((e) => e.event === "step").map((e) => e.loss);
}
