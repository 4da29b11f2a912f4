//! The Train page's link to the training worker, kept for the life of the tab.
//!
//! The worker (crate `ajuste-train-worker`, started by `static/train-worker.js`) is created the
//! first time the Train page opens, never before: its module holds burn and is megabytes, and
//! nothing else in the studio needs it. It then stays, with what the page shows of it (a
//! [`TrainView`]), so a run goes on while the user looks at other pages; the page subscribes to
//! changes while it is open.
//!
//! Messages are `{id, body, files?}` to the worker and `{id, body, bytes?, weights?}` back
//! (`body`: JSON of [`TrainRequest`] / [`TrainResponse`]); `{fatal}` when the worker panicked.
//! The session's bundle comes from the studio worker ([`ExportKind::TrainingBundle`]), through
//! [`bundle_ready`], and goes to the training worker as a `Blob` after the model's files.

use std::cell::{Cell, Ref, RefCell};
use std::rc::Rc;

use ajuste_shared::train_protocol::{
    Backend, ChatSettings, ModelSource, TrainRequest, TrainResponse, TrainSettings,
};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, BlobPropertyBag, ErrorEvent, MessageEvent, Worker};
use yew::Callback;

use super::view::{AdapterDownload, Phase, TrainView, WorkerState};
use crate::client::{Running, download, js_message};
use crate::context::StudioContext;
use crate::protocol::{ExportKind, Request};

/// The script that starts the worker (static/train-worker.js, copied into dist/).
pub const WORKER_SCRIPT: &str = "train-worker.js";

/// The model shipped with the studio (static/models/micro/, copied into dist/).
pub const SHIPPED_NAME: &str = "micro";
pub const SHIPPED_URL: &str = "models/micro/";

/// Which model the page trains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelChoice {
    /// The micro model shipped with the studio.
    #[default]
    Shipped,
    /// A Hugging Face directory the user picked ([`Store::pick`]).
    Picked,
    /// A model directory at a URL: the address as typed ([`ModelSource::from_url`] reads it).
    Url(String),
}

/// Files of a picked directory: names (without the directory) and the `File`s.
struct Picked {
    name: String,
    names: Vec<String>,
    files: Vec<Blob>,
}

/// A Start waiting for the bundle from the studio worker.
struct PendingStart {
    source: ModelSource,
    files: Vec<Blob>,
    backend: Backend,
    settings: TrainSettings,
}

/// The page's form, kept with the store so it survives leaving the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub choice: ModelChoice,
    /// The model URL field as typed; [`ModelChoice::Url`] takes it when the field is left.
    pub url: String,
    /// `None`: the page picks (WebGPU on a hardware adapter, else the CPU).
    pub backend: Option<Backend>,
    pub settings: TrainSettings,
    /// Number fields as typed, by id, while they do not read back as their setting ("0.", "",
    /// "1e-"): the page shows what was typed, not the setting (a re-render would otherwise put
    /// the old value back under the user's fingers).
    pub drafts: std::collections::BTreeMap<&'static str, String>,
    pub prompt: String,
    pub chat: ChatSettings,
}

/// The worker, what the page shows of it, and who listens.
pub struct Store {
    view: RefCell<TrainView>,
    form: RefCell<Option<Form>>,
    worker: RefCell<Option<Running>>,
    next_id: Cell<u64>,
    listeners: RefCell<Vec<(u64, Callback<()>)>>,
    next_listener: Cell<u64>,
    picked: RefCell<Option<Picked>>,
    pending: RefCell<Option<PendingStart>>,
    /// Object URLs of the last adapter's files (revoked when replaced).
    urls: RefCell<Vec<String>>,
}

thread_local! {
    static STORE: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
}

/// The store, created (and the worker started) on first use.
pub fn store() -> Rc<Store> {
    if let Some(store) = STORE.with(|s| s.borrow().clone()) {
        return store;
    }
    let store = Rc::new(Store {
        view: RefCell::new(TrainView::default()),
        form: RefCell::new(None),
        worker: RefCell::new(None),
        next_id: Cell::new(0),
        listeners: RefCell::new(Vec::new()),
        next_listener: Cell::new(0),
        picked: RefCell::new(None),
        pending: RefCell::new(None),
        urls: RefCell::new(Vec::new()),
    });
    STORE.with(|s| *s.borrow_mut() = Some(store.clone()));
    store.restart();
    store
}

/// The studio worker made the bundle a Start waits for: hand it to the training worker.
pub fn bundle_ready(bytes: &Uint8Array, name: &str) {
    let Some(store) = STORE.with(|s| s.borrow().clone()) else {
        return;
    };
    let Some(pending) = store.pending.borrow_mut().take() else {
        return;
    };
    let bundle = match blob_of(bytes, "application/zip") {
        Ok(b) => b,
        Err(message) => {
            store.update(|v| {
                v.apply(
                    0,
                    TrainResponse::Failed {
                        what: "start".into(),
                        message: format!("the bundle could not be handed over: {message}"),
                    },
                    now_ms(),
                )
            });
            return;
        }
    };
    let mut files = pending.files;
    files.push(bundle);
    store.send(
        &TrainRequest::Start {
            source: pending.source,
            backend: pending.backend,
            settings: pending.settings,
            bundle: name.to_owned(),
        },
        &files,
    );
}

fn blob_of(bytes: &Uint8Array, mime: &str) -> Result<Blob, String> {
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    Blob::new_with_u8_array_sequence_and_options(&Array::of1(bytes), &options).map_err(js_message)
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Store {
    /// What the page shows.
    pub fn view(&self) -> Ref<'_, TrainView> {
        self.view.borrow()
    }

    /// The form as the user left it, or `default`.
    pub fn form(&self, default: impl FnOnce() -> Form) -> Form {
        self.form.borrow_mut().get_or_insert_with(default).clone()
    }

    /// Changes the form (and re-renders the page).
    pub fn set_form(&self, form: Form) {
        *self.form.borrow_mut() = Some(form);
        self.update(|_| {});
    }

    /// Changes the current form in place (and re-renders the page).
    pub fn edit_form(&self, change: impl FnOnce(&mut Form)) {
        if let Some(form) = self.form.borrow_mut().as_mut() {
            change(form);
        }
        self.update(|_| {});
    }

    /// The form as it is now.
    pub fn current_form(&self) -> Option<Form> {
        self.form.borrow().clone()
    }

    /// Calls `listener` on every change until [`Store::unsubscribe`].
    pub fn subscribe(&self, listener: Callback<()>) -> u64 {
        let id = self.next_listener.get() + 1;
        self.next_listener.set(id);
        self.listeners.borrow_mut().push((id, listener));
        id
    }

    pub fn unsubscribe(&self, id: u64) {
        self.listeners.borrow_mut().retain(|(i, _)| *i != id);
    }

    fn update(&self, change: impl FnOnce(&mut TrainView)) {
        change(&mut self.view.borrow_mut());
        let listeners: Vec<Callback<()>> = self
            .listeners
            .borrow()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in listeners {
            l.emit(());
        }
    }

    /// Starts a new worker (after the last one died) and asks what backends work.
    pub fn restart(self: &Rc<Self>) {
        self.worker.borrow_mut().take();
        self.update(|v| {
            v.worker = WorkerState::Loading;
            if v.phase.is_active() {
                v.phase = Phase::Failed;
            }
        });
        match spawn(Rc::downgrade(self)) {
            Ok(running) => {
                *self.worker.borrow_mut() = Some(running);
                self.send(&TrainRequest::Probe, &[]);
            }
            Err(message) => self.died(message),
        }
    }

    fn died(&self, message: String) {
        self.worker.borrow_mut().take();
        self.update(|v| {
            if v.phase.is_active() {
                v.phase = Phase::Failed;
                v.error = Some((
                    "run".into(),
                    format!("the training worker stopped: {message}"),
                ));
            }
            v.chat.busy = false;
            v.adapter_busy = false;
            v.worker = WorkerState::Died(message);
        });
    }

    /// Sends a request with files; returns its id.
    pub fn send(&self, request: &TrainRequest, files: &[Blob]) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let result = match &*self.worker.borrow() {
            Some(running) => post(&running.worker, id, request, files),
            None => Err("the training worker is not running".to_owned()),
        };
        if let Err(message) = result {
            self.died(message);
        }
        id
    }

    /// Remembers a picked directory's files (only those directly in it).
    pub fn pick(&self, files: &web_sys::FileList) {
        let mut name = String::new();
        let mut names = Vec::new();
        let mut blobs = Vec::new();
        for i in 0..files.length() {
            let Some(file) = files.get(i) else { continue };
            let relative = Reflect::get(&file, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
            match parts.as_slice() {
                // A file of the picked directory itself.
                [dir, _] => name = (*dir).to_owned(),
                // Picked as files, not as a directory.
                [] | [_] => {}
                // Deeper: not part of the model.
                _ => continue,
            }
            names.push(file.name());
            blobs.push(file.into());
        }
        if name.is_empty() {
            name = "model".to_owned();
        }
        *self.picked.borrow_mut() = Some(Picked {
            name,
            names,
            files: blobs,
        });
    }

    /// The picked directory's name and file names.
    pub fn picked(&self) -> Option<(String, Vec<String>)> {
        self.picked
            .borrow()
            .as_ref()
            .map(|p| (p.name.clone(), p.names.clone()))
    }

    /// The model to send and its files, or why there is none.
    pub fn source(&self, choice: &ModelChoice) -> Result<(ModelSource, Vec<Blob>), String> {
        match choice {
            ModelChoice::Shipped => Ok((
                ModelSource::Url {
                    name: SHIPPED_NAME.into(),
                    url: SHIPPED_URL.into(),
                },
                Vec::new(),
            )),
            ModelChoice::Picked => self
                .picked
                .borrow()
                .as_ref()
                .map(|p| {
                    (
                        ModelSource::Files {
                            name: p.name.clone(),
                            files: p.names.clone(),
                        },
                        p.files.clone(),
                    )
                })
                .ok_or_else(|| "pick a model directory first".to_owned()),
            ModelChoice::Url(text) => {
                ModelSource::from_url(text).map(|source| (source, Vec::new()))
            }
        }
    }

    /// Asks whether the model fits a run of `settings` on `backend`.
    pub fn check(&self, choice: &ModelChoice, backend: Backend, settings: &TrainSettings) {
        let (source, files) = match self.source(choice) {
            Ok(source) => source,
            Err(message) => {
                self.update(|v| v.check = Some(Err(message)));
                return;
            }
        };
        let request = TrainRequest::CheckModel {
            source,
            backend,
            settings: settings.clone(),
        };
        let id = self.send(&request, &files);
        self.update(|v| {
            v.check_id = id;
            v.check = None;
        });
    }

    /// Starts a run: asks the studio worker for the session's bundle; [`bundle_ready`] goes on.
    pub fn start(
        &self,
        studio: &StudioContext,
        choice: &ModelChoice,
        backend: Backend,
        settings: TrainSettings,
    ) {
        let Ok((source, files)) = self.source(choice) else {
            return;
        };
        *self.pending.borrow_mut() = Some(PendingStart {
            source,
            files,
            backend,
            settings,
        });
        self.update(TrainView::preparing);
        studio.send(Request::Export(ExportKind::TrainingBundle));
    }

    /// The studio worker could not make the bundle.
    pub fn bundle_failed(&self, message: &str) {
        if self.pending.borrow_mut().take().is_some() {
            self.update(|v| {
                v.apply(
                    0,
                    TrainResponse::Failed {
                        what: "start".into(),
                        message: format!("the bundle could not be made: {message}"),
                    },
                    now_ms(),
                )
            });
        }
    }

    pub fn pause(&self) {
        self.send(&TrainRequest::Pause, &[]);
        self.update(|v| {
            if v.phase == Phase::Running {
                v.phase = Phase::Pausing;
            }
        });
    }

    pub fn resume(&self) {
        self.send(&TrainRequest::Resume, &[]);
    }

    pub fn stop(&self) {
        self.send(&TrainRequest::Stop, &[]);
        self.update(|v| {
            if v.phase.is_active() {
                v.phase = Phase::Stopping;
            }
        });
    }

    pub fn chat(&self, prompt: String, chat: ChatSettings) {
        self.send(&TrainRequest::Chat { prompt, chat }, &[]);
        self.update(|v| {
            v.chat.busy = true;
            v.chat.error = None;
            v.chat.base = None;
            v.chat.adapter = None;
        });
    }

    pub fn adapter(&self) {
        self.send(&TrainRequest::Adapter, &[]);
        self.update(|v| v.adapter_busy = true);
    }

    fn on_message(&self, data: &JsValue) {
        let get = |key: &str| Reflect::get(data, &key.into()).ok();
        if let Some(fatal) = get("fatal").and_then(|f| f.as_string()) {
            self.died(fatal);
            return;
        }
        let id = get("id").and_then(|v| v.as_f64()).unwrap_or_default() as u64;
        let body = get("body").and_then(|b| b.as_string()).unwrap_or_default();
        let response = match serde_json::from_str::<TrainResponse>(&body) {
            Ok(r) => r,
            Err(e) => {
                self.died(format!("it sent a message the page cannot read: {e}"));
                return;
            }
        };
        if let TrainResponse::Adapter(file) = &response {
            let bytes = |key: &str| get(key).and_then(|b| b.dyn_into::<Uint8Array>().ok());
            match adapter_urls(file, bytes("bytes"), bytes("weights")) {
                Ok(download) => {
                    for url in self.urls.replace(vec![
                        download.zip_url.clone(),
                        download.weights_url.clone(),
                        download.config_url.clone(),
                        download.events_url.clone(),
                    ]) {
                        let _ = web_sys::Url::revoke_object_url(&url);
                    }
                    self.update(|v| v.adapter_ready(download));
                }
                Err(message) => self.update(|v| {
                    v.apply(
                        id,
                        TrainResponse::Failed {
                            what: "adapter".into(),
                            message,
                        },
                        now_ms(),
                    )
                }),
            }
            return;
        }
        self.update(|v| v.apply(id, response, now_ms()));
    }
}

/// Object URLs of the adapter's files; the zip is offered as a download right away.
fn adapter_urls(
    file: &ajuste_shared::train_protocol::AdapterFile,
    zip: Option<Uint8Array>,
    weights: Option<Uint8Array>,
) -> Result<AdapterDownload, String> {
    let (zip, weights) = zip
        .zip(weights)
        .ok_or("the adapter's files did not come with the message")?;
    let url = |bytes: &Uint8Array, mime: &str| -> Result<String, String> {
        web_sys::Url::create_object_url_with_blob(&blob_of(bytes, mime)?).map_err(js_message)
    };
    let text = |s: &str| Uint8Array::from(s.as_bytes());
    Ok(AdapterDownload {
        zip_url: download(&zip, &file.name, "application/zip")?,
        weights_url: url(&weights, "application/octet-stream")?,
        config_url: url(&text(&file.config_json), "application/json")?,
        events_url: url(&text(&file.events_jsonl), "application/x-ndjson")?,
        file: file.clone(),
    })
}

fn spawn(store: std::rc::Weak<Store>) -> Result<Running, String> {
    let worker = Worker::new(WORKER_SCRIPT).map_err(js_message)?;
    let on_message = {
        let store = store.clone();
        Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(store) = store.upgrade() {
                store.on_message(&event.data());
            }
        })
    };
    let on_error = Closure::<dyn Fn(ErrorEvent)>::new(move |event: ErrorEvent| {
        event.prevent_default();
        let message = event.message();
        if let Some(store) = store.upgrade() {
            store.died(if message.is_empty() {
                "its module did not load or it stopped".to_owned()
            } else {
                message
            });
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(Running {
        worker,
        _on_message: on_message,
        _on_error: on_error,
    })
}

fn post(worker: &Worker, id: u64, request: &TrainRequest, files: &[Blob]) -> Result<(), String> {
    let body = serde_json::to_string(request).map_err(|e| e.to_string())?;
    let message = Object::new();
    let set = |key: &str, value: &JsValue| Reflect::set(&message, &key.into(), value);
    set("id", &JsValue::from_f64(id as f64)).map_err(js_message)?;
    set("body", &body.into()).map_err(js_message)?;
    if !files.is_empty() {
        let array = Array::new();
        for f in files {
            array.push(f);
        }
        set("files", &array).map_err(js_message)?;
    }
    worker.post_message(&message).map_err(js_message)
}
