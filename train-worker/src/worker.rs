//! The training worker: answers the Train page's [`TrainRequest`]s in a dedicated Web Worker.
//!
//! Messages are JS objects `{id, body, files?}` from the page and `{id, body, bytes?, weights?}`
//! back, where `body` is the JSON of a [`TrainRequest`] / [`TrainResponse`]. The model's files
//! and the bundle come in as `Blob`s (`files`); the adapter goes back as a zip (`bytes`) and as
//! its `adapter_model.safetensors` (`weights`). A panic posts `{fatal}` before the module stops.
//!
//! The run loop takes one step at a time and yields to the event loop between steps, so Pause and
//! Stop (which only set a flag) are seen at the next step boundary. While the run waits (paused
//! or finished) it sits in [`Worker::run`], where Chat and Adapter find it; while a step (or a
//! chat) is under way it is out of that slot, and those requests are refused as busy.
//! Values are read back only when logging (`into_scalar_async`): every read is a sync point.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ajuste_shared::record::Message;
use ajuste_shared::template::Template;
use ajuste_shared::tokenize::TextTokenizer;
use ajuste_shared::train_protocol::{
    AdapterFile, Backend, ChatReply, ChatSettings, ChatSide, GpuInfo, ModelCheck, ModelSource,
    Probe, RunStart, TrainRequest, TrainResponse, TrainSettings,
};
use ajuste_trainer::adapter::peft::adapter_files;
use ajuste_trainer::generate::{SamplingConfig, StopReason, generate};
use ajuste_trainer::model::{Model, ModelConfig};
use ajuste_trainer::train::events::Event;
use ajuste_trainer::train::{Trainer, TrainerOptions, adapter_spec, pad_id};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, DedicatedWorkerGlobalScope, MessageEvent};
use web_time::Instant;

use crate::check::{RunShape, check_model};
use crate::events::{jsonl_line, run_event};
use crate::package::{adapter_zip, adapter_zip_name};
use crate::plan::plan;

/// What the page last asked the running loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Stop,
}

/// A run: the trainer and what chatting with it needs.
struct Run {
    trainer: Trainer,
    template: Template,
    tokenizer: TextTokenizer,
    model_name: String,
    backend: Backend,
    /// `events.jsonl`, line by line.
    events: Vec<String>,
}

/// The worker's state.
struct Worker {
    scope: DedicatedWorkerGlobalScope,
    /// WebGPU, once probed: burn's device and the adapter, or why not.
    gpu: RefCell<Option<Result<(Device, GpuInfo), String>>>,
    control: Cell<Control>,
    /// The run between its phases; empty while a step, an evaluation, a chat or an export has it.
    run: RefCell<Option<Run>>,
    /// A run is being set up or trained (its loop is alive).
    active: Cell<bool>,
    /// A chat or an adapter export has the run.
    lent: Cell<bool>,
}

/// Entry point of the worker binary: installs the panic report and the message handler.
pub fn run() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    install_panic_hook(scope.clone());
    let worker = Rc::new(Worker {
        scope: scope.clone(),
        gpu: RefCell::new(None),
        control: Cell::new(Control::Run),
        run: RefCell::new(None),
        active: Cell::new(false),
        lent: Cell::new(false),
    });
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        let data = event.data();
        let id = Reflect::get(&data, &"id".into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or_default() as u64;
        let body = Reflect::get(&data, &"body".into())
            .ok()
            .and_then(|b| b.as_string())
            .unwrap_or_default();
        let files: Vec<Blob> = Reflect::get(&data, &"files".into())
            .ok()
            .and_then(|f| f.dyn_into::<Array>().ok())
            .map(|a| a.iter().filter_map(|b| b.dyn_into::<Blob>().ok()).collect())
            .unwrap_or_default();
        match serde_json::from_str::<TrainRequest>(&body) {
            Ok(request) => handle(&worker, id, request, files),
            Err(e) => worker.post(
                id,
                &TrainResponse::Failed {
                    what: "message".into(),
                    message: format!("the training worker cannot read this request: {e}"),
                },
            ),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}

/// Posts the panic's message to the page; the module stops right after.
fn install_panic_hook(scope: DedicatedWorkerGlobalScope) {
    std::panic::set_hook(Box::new(move |info| {
        let message = format!("the training worker stopped on a bug: {info}");
        let out = Object::new();
        let _ = Reflect::set(&out, &"fatal".into(), &message.into());
        let _ = scope.post_message(&out);
    }));
}

impl Worker {
    fn post(&self, id: u64, response: &TrainResponse) {
        self.post_with(id, response, &[]);
    }

    /// Posts `response` with byte buffers beside it (transferred, not copied).
    fn post_with(&self, id: u64, response: &TrainResponse, buffers: &[(&str, Vec<u8>)]) {
        let out = Object::new();
        let body = serde_json::to_string(response).unwrap_or_default();
        let _ = Reflect::set(&out, &"id".into(), &JsValue::from_f64(id as f64));
        let _ = Reflect::set(&out, &"body".into(), &body.into());
        let transfer = Array::new();
        for (key, bytes) in buffers {
            let array = Uint8Array::from(&bytes[..]);
            transfer.push(&array.buffer());
            let _ = Reflect::set(&out, &(*key).into(), &array);
        }
        if self
            .scope
            .post_message_with_transfer(&out, &transfer)
            .is_err()
        {
            let _ = self.scope.post_message(&out);
        }
    }

    fn fail(&self, id: u64, what: &str, message: impl Into<String>) {
        self.post(
            id,
            &TrainResponse::Failed {
                what: what.into(),
                message: message.into(),
            },
        );
    }

    fn status(&self, id: u64, text: &str) {
        self.post(id, &TrainResponse::Status(text.into()));
    }

    /// Takes the run from its slot, waiting while a step, a chat or an export has it.
    async fn take(&self) -> Run {
        loop {
            if let Some(run) = self.run.borrow_mut().take() {
                return run;
            }
            yield_now(20).await;
        }
    }

    /// Takes the run for a chat or an export (waiting for the step under way to end), or says
    /// why there is none.
    async fn borrow_run(&self) -> Result<Run, String> {
        if self.lent.get() {
            return Err(
                "the model is busy with the last request: try again when it is done".into(),
            );
        }
        if self.run.borrow().is_none() && !self.active.get() {
            return Err("there is no run yet: start one first".into());
        }
        self.lent.set(true);
        Ok(self.take().await)
    }

    /// Puts back a run [`Worker::borrow_run`] lent.
    fn return_run(&self, run: Run) {
        self.park(run);
        self.lent.set(false);
    }

    /// Puts the run back in its slot.
    fn park(&self, run: Run) {
        *self.run.borrow_mut() = Some(run);
    }
}

fn handle(worker: &Rc<Worker>, id: u64, request: TrainRequest, files: Vec<Blob>) {
    match request {
        TrainRequest::Probe => {
            let worker = worker.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let webgpu = probe_gpu(&worker).await.map(|(_, info)| info);
                worker.post(id, &TrainResponse::Probed(Probe { webgpu }));
            });
        }
        TrainRequest::CheckModel {
            source,
            backend,
            settings,
        } => {
            let worker = worker.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let checked = match ModelFiles::open(&source, &files).await {
                    Ok(model) => check(&worker, &model, backend, &settings).await,
                    Err(message) => Err(message),
                };
                match checked {
                    Ok((check, _)) => worker.post(id, &TrainResponse::Checked(check)),
                    Err(message) => worker.fail(id, "model", message),
                }
            });
        }
        TrainRequest::Start {
            source,
            backend,
            settings,
            bundle,
        } => {
            if worker.active.get() {
                worker.fail(
                    id,
                    "start",
                    "a run is going on: stop it before starting another",
                );
                return;
            }
            if worker.lent.get() {
                worker.fail(
                    id,
                    "start",
                    "the model is busy (chat or download): try again when it is done",
                );
                return;
            }
            worker.active.set(true);
            worker.control.set(Control::Run);
            // Free the last run's model before loading the next.
            worker.run.borrow_mut().take();
            let worker = worker.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let job = Job {
                    source,
                    backend,
                    settings,
                    bundle,
                };
                match set_up(&worker, id, &job, &files).await {
                    Ok(run) => train(&worker, id, run).await,
                    Err(message) => worker.fail(id, "start", message),
                }
                worker.active.set(false);
            });
        }
        TrainRequest::Pause => {
            if worker.active.get() && worker.control.get() == Control::Run {
                worker.control.set(Control::Pause);
            }
        }
        TrainRequest::Resume => {
            if worker.control.get() == Control::Pause {
                worker.control.set(Control::Run);
            }
        }
        TrainRequest::Stop => {
            if worker.active.get() {
                worker.control.set(Control::Stop);
            }
        }
        TrainRequest::Chat { prompt, chat } => {
            let worker = worker.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match worker.borrow_run().await {
                    Ok(run) => {
                        if let Err(message) = chat_with(&worker, id, &run, &prompt, chat).await {
                            worker.fail(id, "chat", message);
                        }
                        worker.return_run(run);
                    }
                    Err(message) => worker.fail(id, "chat", message),
                }
            });
        }
        TrainRequest::Adapter => {
            let worker = worker.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match worker.borrow_run().await {
                    Ok(run) => {
                        if let Err(message) = export_adapter(&worker, id, &run).await {
                            worker.fail(id, "adapter", message);
                        }
                        worker.return_run(run);
                    }
                    Err(message) => worker.fail(id, "adapter", message),
                }
            });
        }
    }
}

/// WebGPU, opened once: the adapter through JavaScript (to report what it is, or why there is
/// none), then burn's runtime on it, checked with a small computation read back.
async fn probe_gpu(worker: &Worker) -> Result<(Device, GpuInfo), String> {
    if let Some(done) = worker.gpu.borrow().as_ref() {
        return done.clone();
    }
    let result = open_gpu().await;
    *worker.gpu.borrow_mut() = Some(result.clone());
    result
}

async fn open_gpu() -> Result<(Device, GpuInfo), String> {
    let info = adapter_info().await?;
    let device = Device::wgpu_options().init_async().await.map_err(|e| {
        format!(
            "the WebGPU adapter ({}) was found, but burn could not start on it: {e}",
            describe(&info)
        )
    })?;
    let two = Tensor::<1>::ones([4], &device).sum() * 2.0;
    let value: f32 = two
        .into_scalar_async::<f32>()
        .await
        .map_err(|e| format!("WebGPU started but reading a result back failed: {e}"))?;
    if (value - 8.0).abs() > 1e-4 {
        return Err(format!(
            "WebGPU computed a wrong result on this adapter ({}): 2·(1+1+1+1) gave {value}",
            describe(&info)
        ));
    }
    Ok((device, info))
}

fn describe(info: &GpuInfo) -> String {
    [&info.vendor, &info.architecture, &info.description]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The adapter `navigator.gpu.requestAdapter()` gives, or why there is none.
async fn adapter_info() -> Result<GpuInfo, String> {
    let global = js_sys::global();
    let get = |target: &JsValue, key: &str| {
        Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
    };
    let gpu = get(&get(&global, "navigator"), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err(
            "this browser does not offer WebGPU here (navigator.gpu is missing): it is \
                    too old, WebGPU is turned off, or the page is not served over HTTPS or \
                    localhost"
                .into(),
        );
    }
    let request: Function = get(&gpu, "requestAdapter")
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter is missing".to_string())?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(js_message)?
        .dyn_into()
        .map_err(|_| "requestAdapter() did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise).await.map_err(js_message)?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err(
            "WebGPU is there but found no adapter: the browser has no GPU it may use \
                    (none in this machine, or it is blocklisted)"
                .into(),
        );
    }
    let info = get(&adapter, "info");
    let text = |key: &str| get(&info, key).as_string().unwrap_or_default();
    let limits = get(&adapter, "limits");
    let limit = |key: &str| get(&limits, key).as_f64().unwrap_or(0.0) as u64;
    let (vendor, architecture, description) =
        (text("vendor"), text("architecture"), text("description"));
    let fallback = get(&adapter, "isFallbackAdapter")
        .as_bool()
        .unwrap_or(false)
        || get(&info, "isFallbackAdapter").as_bool().unwrap_or(false);
    let software = fallback
        || [&architecture, &description]
            .iter()
            .any(|s| s.to_ascii_lowercase().contains("swiftshader"));
    Ok(GpuInfo {
        vendor,
        architecture,
        description,
        software,
        max_binding_bytes: limit("maxStorageBufferBindingSize"),
        max_buffer_bytes: limit("maxBufferSize"),
    })
}

fn js_message(value: JsValue) -> String {
    match value.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => value.as_string().unwrap_or_else(|| format!("{value:?}")),
    }
}

/// Files a model directory at a URL is probed for (HEAD requests), in order: what [`check`]
/// and [`set_up`] ask about (a web server lists no directories). Probing stops at a missing
/// `config.json` (no model there), and asks for the index only when `model.safetensors` is
/// missing: each 404 is a line in the browser's console.
const URL_FILES: [&str; 4] = ["config.json", "tokenizer.json", "model.safetensors", INDEX];

/// The model's files: by name, from the picked `Blob`s or fetched from the model's URL.
struct ModelFiles<'a> {
    source: &'a ModelSource,
    blobs: &'a [Blob],
    /// The files there are and their sizes in bytes (`0`: the server did not say).
    present: Vec<(String, u64)>,
}

impl<'a> ModelFiles<'a> {
    /// Lists the files: the picked ones, or those of [`URL_FILES`] the URL has.
    async fn open(source: &'a ModelSource, blobs: &'a [Blob]) -> Result<Self, String> {
        let present = match source {
            ModelSource::Files { files, .. } => files
                .iter()
                .zip(blobs)
                .map(|(f, b)| (f.clone(), b.size() as u64))
                .collect(),
            ModelSource::Url { url, name } => {
                let mut present: Vec<(String, u64)> = Vec::new();
                for file in URL_FILES {
                    let has = |f: &str| present.iter().any(|(p, _)| p == f);
                    let wanted = match file {
                        "config.json" => true,
                        INDEX => has("config.json") && !has("model.safetensors"),
                        _ => has("config.json"),
                    };
                    if !wanted {
                        continue;
                    }
                    if let Some(size) = head(&format!("{url}{file}")).await.map_err(|e| {
                        format!("{name}/{file} could not be fetched from {url}: {e}")
                    })? {
                        present.push((file.to_owned(), size));
                    }
                }
                present
            }
        };
        Ok(ModelFiles {
            source,
            blobs,
            present,
        })
    }

    fn label(&self, file: &str) -> String {
        format!("{}/{file}", self.source.name())
    }

    fn has(&self, file: &str) -> bool {
        self.present.iter().any(|(f, _)| f == file)
    }

    /// The file's bytes; `None` when it is not there.
    async fn read(&self, file: &str) -> Result<Option<Vec<u8>>, String> {
        let label = self.label(file);
        match self.source {
            ModelSource::Files { files, .. } => {
                match files
                    .iter()
                    .position(|f| f == file)
                    .and_then(|i| self.blobs.get(i))
                {
                    Some(blob) => read_blob(blob)
                        .await
                        .map(Some)
                        .map_err(|e| format!("{label} could not be read: {e}")),
                    None => Ok(None),
                }
            }
            ModelSource::Url { url, .. } => fetch(&format!("{url}{file}"))
                .await
                .map_err(|e| format!("{label} could not be fetched from {url}: {e}")),
        }
    }

    /// Bytes of the weights (`0` when unknown): the safetensors files' sizes, else the total
    /// size a sharded model's index records.
    async fn weight_bytes(&self) -> Result<u64, String> {
        let files: u64 = self
            .present
            .iter()
            .filter(|(f, _)| f.ends_with(".safetensors"))
            .map(|(_, size)| size)
            .sum();
        if files > 0 || !self.has(INDEX) {
            return Ok(files);
        }
        let index = self.index().await?;
        Ok(index
            .pointer("/metadata/total_size")
            .and_then(|n| n.as_u64())
            .unwrap_or(0))
    }

    async fn index(&self) -> Result<serde_json::Value, String> {
        let bytes = self.read(INDEX).await?.unwrap_or_default();
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", self.label(INDEX)))
    }

    /// Which weight files hold the model: `model.safetensors`, or the shards its index names.
    async fn weight_files(&self) -> Result<Vec<String>, String> {
        if self.has("model.safetensors") {
            return Ok(vec!["model.safetensors".into()]);
        }
        if !self.has(INDEX) {
            return Err(format!(
                "{} has no model.safetensors or {INDEX}: pick a Hugging Face model directory \
                 with safetensors weights",
                self.source.name()
            ));
        }
        let mut shards: Vec<String> = self
            .index()
            .await?
            .get("weight_map")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        shards.sort();
        shards.dedup();
        if shards.is_empty() {
            return Err(format!("{}: no weight_map", self.label(INDEX)));
        }
        Ok(shards)
    }
}

/// A sharded model's index of its weight files.
const INDEX: &str = "model.safetensors.index.json";

async fn read_blob(blob: &Blob) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(js_message)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// GETs `url`; `None` on 404.
async fn fetch(url: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(response) = request(url, "GET").await? else {
        return Ok(None);
    };
    let buffer = JsFuture::from(response.array_buffer().map_err(js_message)?)
        .await
        .map_err(js_message)?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}

/// Asks whether `url` is there (HEAD); its size in bytes (`0` when the server does not say),
/// `None` on 404.
async fn head(url: &str) -> Result<Option<u64>, String> {
    Ok(request(url, "HEAD").await?.map(|response| {
        response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }))
}

/// Sends a `method` request for `url`: the response when it is OK, `None` on 404, else why
/// not, in words that say what the user can do.
async fn request(url: &str, method: &str) -> Result<Option<web_sys::Response>, String> {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let response: web_sys::Response = JsFuture::from(scope.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| {
            // The browser does not tell a refused connection from a server that does not let
            // other sites read its files (CORS); both read "Failed to fetch".
            format!(
                "{} (is the address right, and does its server let other sites read its files?)",
                js_message(e)
            )
        })?
        .dyn_into()
        .map_err(js_message)?;
    match response.status() {
        404 => Ok(None),
        401 | 403 => Err(format!(
            "HTTP {}: the model is private or gated; download it and pick its directory instead",
            response.status()
        )),
        _ if !response.ok() => Err(format!(
            "HTTP {} {}",
            response.status(),
            response.status_text()
        )),
        _ => Ok(Some(response)),
    }
}

/// Reads `config.json` and checks the model for the run.
async fn check(
    worker: &Worker,
    files: &ModelFiles<'_>,
    backend: Backend,
    settings: &TrainSettings,
) -> Result<(ModelCheck, ModelConfig), String> {
    let source = files.source;
    let label = files.label("config.json");
    let Some(bytes) = files.read("config.json").await? else {
        return Err(format!(
            "{} has no config.json: pick the directory of a Hugging Face model (it holds \
             config.json, tokenizer.json and model.safetensors)",
            source.name()
        ));
    };
    let config = ModelConfig::from_json(&bytes, &label).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    if !files.has("tokenizer.json") {
        missing.push("tokenizer.json".to_owned());
    }
    if !files.has("model.safetensors") && !files.has(INDEX) {
        missing.push("model.safetensors".to_owned());
    }
    let gpu = match backend {
        Backend::WebGpu => worker
            .gpu
            .borrow()
            .as_ref()
            .and_then(|g| g.as_ref().ok().map(|(_, info)| info.clone())),
        Backend::Cpu => None,
    };
    let file_bytes = match files.weight_bytes().await? {
        0 => 4 * crate::check::parameters(&config),
        n => n,
    };
    let shape = RunShape::of(settings, config.max_position_embeddings);
    let check = check_model(
        source.name(),
        &config,
        file_bytes,
        (backend, gpu.as_ref()),
        shape,
        missing,
    );
    Ok((check, config))
}

/// What a Start asks for.
struct Job {
    source: ModelSource,
    backend: Backend,
    settings: TrainSettings,
    bundle: String,
}

/// Loads the model and the data and builds the trainer; posts [`TrainResponse::Started`].
async fn set_up(worker: &Worker, id: u64, job: &Job, blobs: &[Blob]) -> Result<Run, String> {
    let started = Instant::now();
    let model_blobs = match &job.source {
        ModelSource::Files { files, .. } => &blobs[..files.len().min(blobs.len())],
        ModelSource::Url { .. } => &[][..],
    };
    let bundle_blob = blobs
        .get(model_blobs.len())
        .ok_or("the bundle did not reach the training worker")?;
    worker.status(id, "Checking the model");
    let files = ModelFiles::open(&job.source, model_blobs).await?;
    let (check, model_config) = check(worker, &files, job.backend, &job.settings).await?;
    if let Some(problem) = check.problem {
        return Err(problem);
    }
    let name = job.source.name().to_owned();
    let tokenizer_json = files.read("tokenizer.json").await?.ok_or_else(|| {
        format!("{name} has no tokenizer.json: the data is tokenized with the model's tokenizer")
    })?;
    worker.status(id, "Tokenizing the data");
    let bundle = read_blob(bundle_blob)
        .await
        .map_err(|e| format!("the bundle could not be read: {e}"))?;
    let plan = plan(
        &bundle,
        &job.bundle,
        &name,
        &model_config,
        &tokenizer_json,
        &job.settings,
    )?;
    drop(bundle);
    let device = match job.backend {
        Backend::Cpu => Device::flex(),
        Backend::WebGpu => {
            worker.status(id, "Opening WebGPU");
            probe_gpu(worker)
                .await
                .map(|(device, _)| device)
                .map_err(|e| format!("{e}; train on the CPU backend instead"))?
        }
    }
    .autodiff();
    worker.status(id, "Reading the weights");
    let mut weights = Vec::new();
    for file in files.weight_files().await? {
        let bytes = files
            .read(&file)
            .await?
            .ok_or_else(|| format!("{} is missing", files.label(&file)))?;
        weights.push((files.label(&file), bytes));
    }
    let config_json = files.read("config.json").await?.unwrap_or_default();
    worker.status(
        id,
        &format!("Loading the weights onto {}", job.backend.label()),
    );
    let model = Model::from_bytes(
        &config_json,
        weights,
        &name,
        &device,
        &adapter_spec(&plan.config),
    )
    .map_err(|e| e.to_string())?;
    let options = TrainerOptions {
        pad_id: pad_id(&model.config),
        reference: None,
    };
    let trainer = Trainer::new(model, plan.config.clone(), plan.train, plan.eval, options)
        .map_err(|e| e.to_string())?;
    let start = trainer.start_event();
    worker.post(
        id,
        &TrainResponse::Started(Box::new(RunStart {
            backend: job.backend,
            model: name.clone(),
            method: plan.config.method(),
            adapter: plan.config.adapter.kind,
            total_steps: start.total_steps,
            train_examples: start.train_examples,
            eval_examples: start.eval_examples,
            trainable_params: start.trainable_params,
            warnings: plan.warnings,
            config: plan.config,
            setup_s: started.elapsed().as_secs_f64(),
        })),
    );
    Ok(Run {
        trainer,
        template: plan.template,
        tokenizer: plan.tokenizer,
        model_name: name,
        backend: job.backend,
        events: Vec::new(),
    })
}

/// Records an event in `events.jsonl` and sends it to the page.
fn log(worker: &Worker, id: u64, run: &mut Run, event: &Event) {
    run.events.push(jsonl_line(event));
    if let Some(e) = run_event(event) {
        worker.post(id, &TrainResponse::Event(e));
    }
}

/// Gives the event loop a turn (messages from the page get handled), after `ms` milliseconds.
async fn yield_now(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// The run, as [`Trainer::run`] drives it (an evaluation before the first step, steps with
/// evaluations every `eval_steps`, a final evaluation, the summary), one step at a time with the
/// page's Pause and Stop honoured between steps. Between steps the run sits in the worker's
/// slot, where a chat or an adapter export can take it for a moment.
async fn train(worker: &Worker, id: u64, run: Run) {
    worker.park(run);
    let result = steps(worker, id).await;
    let step = worker
        .run
        .borrow()
        .as_ref()
        .map_or(0, |r| r.trainer.progress().step);
    match result {
        Ok(stopped) => worker.post(id, &TrainResponse::Finished { step, stopped }),
        // The run stays: its adapter of the last good step can still be looked at.
        Err(message) => {
            let backend = worker.run.borrow().as_ref().map(|r| r.backend);
            let hint = if backend == Some(Backend::WebGpu) {
                "; the CPU backend (flex) may work where WebGPU failed"
            } else {
                ""
            };
            worker.fail(id, "run", format!("{message}{hint}"))
        }
    }
}

/// Runs one phase of the run (a step, an evaluation) with the run taken from its slot.
macro_rules! phase {
    ($worker:expr, |$run:ident| $body:expr) => {{
        #[allow(unused_mut)]
        let mut $run = $worker.take().await;
        let out = $body;
        $worker.park($run);
        out
    }};
}

async fn steps(worker: &Worker, id: u64) -> Result<bool, String> {
    let err = |e: ajuste_trainer::train::TrainError| e.to_string();
    worker.status(id, "Computing reference log-probs");
    phase!(worker, |run| run.trainer.prepare_references().await).map_err(err)?;
    phase!(worker, |run| {
        let start = Event::Start(run.trainer.start_event());
        log(worker, id, &mut run, &start);
    });
    let (eval_every, mut evaluated_at) = phase!(worker, |run| (
        run.trainer.config().eval_steps,
        run.trainer.progress().step
    ));
    if evaluated_at == 0 {
        worker.status(id, "Evaluating before training");
        phase!(worker, |run| evaluate(worker, id, &mut run).await)?;
    }
    worker.status(id, "Training");
    loop {
        yield_now(0).await;
        match worker.control.get() {
            Control::Run => {}
            Control::Stop => return finish(worker, id, evaluated_at, true).await,
            Control::Pause => {
                let step = phase!(worker, |run| run.trainer.progress().step);
                worker.post(id, &TrainResponse::Paused { step });
                while worker.control.get() == Control::Pause {
                    yield_now(50).await;
                }
                worker.post(id, &TrainResponse::Resumed { step });
                continue;
            }
        }
        let step = phase!(worker, |run| {
            if run.trainer.is_done() {
                Ok(None)
            } else {
                match run.trainer.train_step().await {
                    Ok(event) => {
                        log(worker, id, &mut run, &Event::Step(event));
                        Ok(Some(run.trainer.progress().step))
                    }
                    Err(e) => Err(err(e)),
                }
            }
        })?;
        let Some(step) = step else {
            return finish(worker, id, evaluated_at, false).await;
        };
        if eval_every > 0 && step.is_multiple_of(eval_every) {
            phase!(worker, |run| evaluate(worker, id, &mut run).await)?;
            evaluated_at = step;
        }
    }
}

/// The final evaluation (unless the last step had one) and the summary.
async fn finish(
    worker: &Worker,
    id: u64,
    evaluated_at: usize,
    stopped: bool,
) -> Result<bool, String> {
    phase!(worker, |run| {
        let mut result = Ok(stopped);
        if evaluated_at != run.trainer.progress().step {
            worker.status(id, "Evaluating after training");
            if let Err(e) = evaluate(worker, id, &mut run).await {
                result = Err(e);
            }
        }
        let summary = Event::Summary(run.trainer.summary());
        log(worker, id, &mut run, &summary);
        result
    })
}

async fn evaluate(worker: &Worker, id: u64, run: &mut Run) -> Result<(), String> {
    if let Some(e) = run.trainer.evaluate().await.map_err(|e| e.to_string())? {
        log(worker, id, run, &Event::Eval(e));
    }
    Ok(())
}

/// Generates a reply with the base model (adapter off) and with the adapter.
async fn chat_with(
    worker: &Worker,
    id: u64,
    run: &Run,
    prompt: &str,
    chat: ChatSettings,
) -> Result<(), String> {
    let text = run
        .template
        .render_prompt(&[Message::user(prompt.to_owned())])
        .map_err(|e| format!("the prompt cannot be rendered with the template: {e}"))?;
    let ids = run.tokenizer.encode_text(&text);
    let adapted = run.trainer.model().valid();
    let mut stop: Vec<u32> = adapted.config.eos_token_ids.clone();
    stop.extend(run.tokenizer.token_id(run.template.eos_token()));
    let mut base = adapted.clone();
    base.set_adapters_enabled(false);
    let sampling = SamplingConfig {
        max_new_tokens: chat.max_new_tokens,
        temperature: chat.temperature,
        top_k: 0,
        top_p: 1.0,
        seed: chat.seed,
    };
    for (side, model) in [(ChatSide::Base, &base), (ChatSide::Adapter, &adapted)] {
        let started = Instant::now();
        let mut tokens: Vec<u32> = Vec::new();
        let result = generate(model, &ids, &stop, &sampling, |t| {
            tokens.push(t);
            if tokens.len().is_multiple_of(4) {
                worker.post(
                    id,
                    &TrainResponse::Chat(ChatReply {
                        side,
                        text: run.tokenizer.decode(&tokens),
                        tokens: tokens.len(),
                        done: None,
                        seconds: started.elapsed().as_secs_f64(),
                    }),
                );
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        let why = match result.stop {
            StopReason::Stop(_) => "end of turn".to_owned(),
            StopReason::MaxNewTokens => format!("{} tokens", chat.max_new_tokens),
            StopReason::Context => "the context is full".to_owned(),
        };
        worker.post(
            id,
            &TrainResponse::Chat(ChatReply {
                side,
                text: run.tokenizer.decode(&result.tokens),
                tokens: result.tokens.len(),
                done: Some(why),
                seconds: started.elapsed().as_secs_f64(),
            }),
        );
    }
    Ok(())
}

/// The adapter as a zip of PEFT's files, with `events.jsonl`.
async fn export_adapter(worker: &Worker, id: u64, run: &Run) -> Result<(), String> {
    let files = adapter_files(run.trainer.model(), "default", &run.model_name)
        .await
        .map_err(|e| e.to_string())?;
    let zip = adapter_zip(&files)?;
    let config = run.trainer.config();
    let mut events = run.events.join("\n");
    events.push('\n');
    let file = AdapterFile {
        name: adapter_zip_name(
            &run.model_name,
            config.method().as_str(),
            config.adapter.kind.as_str(),
        ),
        step: run.trainer.progress().step,
        config_json: String::from_utf8_lossy(&files.config_json).into_owned(),
        weights_bytes: files.weights.len(),
        events_jsonl: events,
    };
    worker.post_with(
        id,
        &TrainResponse::Adapter(file),
        &[("bytes", zip), ("weights", files.weights)],
    );
    Ok(())
}
