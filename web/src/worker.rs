//! The studio worker: runs the [`Engine`] in a dedicated Web Worker, answers the page's
//! [`Request`]s one at a time, and keeps the session in the browser's private file system (OPFS)
//! so that a reload rebuilds it.
//!
//! Messages are JS objects `{id, body, blob?}` from the page and `{id, body, bytes?}` back, where
//! `body` is the JSON of a [`Request`] / [`Response`]. Files come in as `Blob`s and are read in
//! slices here, so the page's thread never holds or copies them; downloads go back as transferred
//! buffers. A panic posts [`Response::Fatal`] before the module stops, and the page starts a new
//! worker (which restores the saved session).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, DedicatedWorkerGlobalScope, MessageEvent};

use crate::protocol::{Op, Request, Response, TokenizerRef};
use crate::studio::Engine;

/// Bytes read from a `Blob` at a time.
const SLICE: f64 = 8.0 * 1024.0 * 1024.0;

/// A request as it arrived.
struct Incoming {
    id: u64,
    request: Request,
    blob: Option<Blob>,
}

/// The worker's state: the engine, and the requests waiting their turn.
struct Worker {
    scope: DedicatedWorkerGlobalScope,
    engine: RefCell<Engine>,
    queue: RefCell<VecDeque<Incoming>>,
    running: Cell<bool>,
}

/// Entry point of the worker binary: installs the panic report and the message handler.
pub fn run() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    install_panic_hook(scope.clone());
    let worker = Rc::new(Worker {
        scope: scope.clone(),
        engine: RefCell::new(Engine::new()),
        queue: RefCell::new(VecDeque::new()),
        running: Cell::new(false),
    });
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        match parse(&event.data()) {
            Ok(incoming) => {
                worker.queue.borrow_mut().push_back(incoming);
                if !worker.running.replace(true) {
                    wasm_bindgen_futures::spawn_local(drain(worker.clone()));
                }
            }
            Err(message) => post(
                &worker.scope,
                0,
                &Response::Failed {
                    what: "message".into(),
                    message,
                },
                None,
            ),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
}

/// Posts the panic's message to the page; the module aborts right after.
fn install_panic_hook(scope: DedicatedWorkerGlobalScope) {
    std::panic::set_hook(Box::new(move |info| {
        let message = format!("the studio worker stopped on a bug: {info}");
        post(&scope, 0, &Response::Fatal { message }, None);
    }));
}

fn parse(data: &JsValue) -> Result<Incoming, String> {
    let body = Reflect::get(data, &"body".into())
        .ok()
        .and_then(|b| b.as_string())
        .ok_or("a message without a body")?;
    let id = Reflect::get(data, &"id".into())
        .ok()
        .and_then(|v| v.as_f64())
        .ok_or("a message without an id")? as u64;
    let request: Request = serde_json::from_str(&body)
        .map_err(|e| format!("a message the worker cannot read: {e}"))?;
    let blob = Reflect::get(data, &"blob".into())
        .ok()
        .and_then(|b| b.dyn_into::<Blob>().ok());
    Ok(Incoming { id, request, blob })
}

/// Posts one response (and a file's bytes, transferred rather than copied).
fn post(scope: &DedicatedWorkerGlobalScope, id: u64, response: &Response, bytes: Option<Vec<u8>>) {
    let Ok(body) = serde_json::to_string(response) else {
        return;
    };
    let message = Object::new();
    let _ = Reflect::set(&message, &"id".into(), &JsValue::from_f64(id as f64));
    let _ = Reflect::set(&message, &"body".into(), &body.into());
    let result = match bytes {
        Some(bytes) => {
            let array = Uint8Array::from(&bytes[..]);
            let _ = Reflect::set(&message, &"bytes".into(), &array);
            scope.post_message_with_transfer(&message, &Array::of1(&array.buffer()))
        }
        None => scope.post_message(&message),
    };
    if let Err(e) = result {
        web_sys::console::error_2(&"ajuste worker: cannot post".into(), &e);
    }
}

/// Answers queued requests in order; one job at a time, even across awaits.
async fn drain(worker: Rc<Worker>) {
    loop {
        let next = worker.queue.borrow_mut().pop_front();
        let Some(incoming) = next else { break };
        handle(&worker, incoming).await;
    }
    worker.running.set(false);
}

async fn handle(worker: &Worker, incoming: Incoming) {
    let Incoming { id, request, blob } = incoming;
    let scope = &worker.scope;
    let send = |response: Response| post(scope, id, &response, None);
    let mut progress = |task: &str, done: u64, total: u64| {
        post(
            scope,
            id,
            &Response::Progress(crate::protocol::Progress {
                task: task.to_owned(),
                done,
                total,
            }),
            None,
        );
    };
    let failed = |what: &str, message: String| Response::Failed {
        what: what.to_owned(),
        message,
    };
    match request {
        Request::Open { name, options } => {
            let bytes = match read_blob(blob.as_ref(), &mut progress).await {
                Ok(bytes) => bytes,
                Err(message) => {
                    return send(Response::OpenFailed {
                        name,
                        reason: crate::protocol::FailureReason::Read(message),
                    });
                }
            };
            let result = worker
                .engine
                .borrow_mut()
                .open(&name, bytes, options, &mut progress);
            match result {
                Ok(summary) => {
                    save(worker, true, &mut progress).await;
                    send(Response::Session(Box::new(summary)));
                    tidy(worker).await;
                }
                Err(reason) => send(Response::OpenFailed { name, reason }),
            }
        }
        Request::Restore => match restore(worker, &mut progress).await {
            Ok(Some(summary)) => send(Response::Session(Box::new(summary))),
            Ok(None) => send(Response::NoSession),
            Err(message) => {
                send(failed("restore", message));
                send(Response::NoSession);
            }
        },
        Request::Apply(op) => {
            let result = worker.engine.borrow_mut().apply(op, &mut progress);
            match result {
                Ok(summary) => {
                    save(worker, false, &mut progress).await;
                    send(Response::Session(Box::new(summary)));
                }
                Err(message) => send(failed("apply", message)),
            }
        }
        Request::SetTokenizer { name } => {
            let result = match read_blob(blob.as_ref(), &mut progress).await {
                Ok(bytes) => {
                    let added = worker.engine.borrow_mut().add_tokenizer(bytes);
                    match added {
                        Ok(sha256) => {
                            // Copied out so that no borrow of the engine is held across the await.
                            let bytes = worker.engine.borrow().blob(&sha256).map(<[u8]>::to_vec);
                            if let Some(bytes) = bytes {
                                let _ = storage::write(&blob_file(&sha256), &bytes).await;
                            }
                            let op = Op::Tokenizer(Some(TokenizerRef { name, sha256 }));
                            worker.engine.borrow_mut().apply(op, &mut progress)
                        }
                        Err(e) => Err(format!("{name}: {e}")),
                    }
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(summary) => {
                    save(worker, false, &mut progress).await;
                    send(Response::Session(Box::new(summary)));
                }
                Err(message) => send(failed("tokenizer", message)),
            }
        }
        Request::Undo => {
            let result = worker.engine.borrow_mut().undo(&mut progress);
            match result {
                Ok(summary) => {
                    save(worker, false, &mut progress).await;
                    send(Response::Session(Box::new(summary)));
                }
                Err(message) => send(failed("undo", message)),
            }
        }
        Request::Close => {
            worker.engine.borrow_mut().close();
            let _ = storage::clear().await;
            send(Response::NoSession);
        }
        Request::Findings(query) => send(
            worker
                .engine
                .borrow()
                .findings(query)
                .map_or_else(|e| failed("findings", e), Response::Findings),
        ),
        Request::Record { record } => send(
            worker
                .engine
                .borrow()
                .record(record)
                .map_or_else(|e| failed("record", e), |v| Response::Record(Box::new(v))),
        ),
        Request::CleanPreview { steps } => {
            send(worker.engine.borrow().clean_preview(steps).map_or_else(
                |e| failed("clean", e),
                |v| Response::CleanPreview(Box::new(v)),
            ))
        }
        Request::DedupPreview {
            config,
            cluster_offset,
        } => {
            let view = worker
                .engine
                .borrow()
                .dedup_preview(config, cluster_offset, &mut progress);
            send(view.map_or_else(|e| failed("dedup", e), |v| Response::Dedup(Box::new(v))));
        }
        Request::Template { position } => {
            let view = worker
                .engine
                .borrow_mut()
                .template_view(position, &mut progress);
            send(view.map_or_else(
                |e| failed("template", e),
                |v| Response::Template(Box::new(v)),
            ));
        }
        Request::Stats { max_length } => {
            let view = worker.engine.borrow().stats(max_length, &mut progress);
            send(view.map_or_else(|e| failed("stats", e), |v| Response::Stats(Box::new(v))));
        }
        Request::Export(kind) => {
            let result = worker.engine.borrow().export(kind, &mut progress);
            match result {
                Ok((file, bytes)) => post(scope, id, &Response::Export(file), Some(bytes)),
                Err(message) => send(failed("export", message)),
            }
        }
    }
}

/// Reads a `Blob` into memory in slices, reporting progress.
async fn read_blob(
    blob: Option<&Blob>,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Vec<u8>, String> {
    let blob = blob.ok_or("the file did not reach the worker")?;
    let size = blob.size();
    let mut out = Vec::with_capacity(size as usize);
    let mut at = 0.0;
    progress("Reading the file", 0, size as u64);
    while at < size {
        let end = (at + SLICE).min(size);
        let part = blob.slice_with_f64_and_f64(at, end).map_err(js_message)?;
        let buffer = JsFuture::from(part.array_buffer())
            .await
            .map_err(js_message)?;
        let array = Uint8Array::new(&buffer);
        let start = out.len();
        out.resize(start + array.length() as usize, 0);
        array.copy_to(&mut out[start..]);
        at = end;
        progress("Reading the file", at as u64, size as u64);
    }
    Ok(out)
}

fn blob_file(sha256: &str) -> String {
    format!("blob-{sha256}.bin")
}

fn source_file(sha256: &str) -> String {
    format!("source-{sha256}.bin")
}

const SESSION_FILE: &str = "session.json";

/// Writes the session to storage: the source bytes first when `with_source` (a new file), then
/// the ops. Callers await it *before* answering the page, so that a change the page has been
/// told about is already saved: a reload right after it restores it. (The page stays
/// responsive meanwhile: it only waits for this answer, with its progress shown.) The session
/// file is written last and replaced whole, so a reload during the save finds the previous
/// session or this one, never a mix. Storage is a convenience: when it fails (private mode,
/// quota), the studio keeps working and says so in the console.
async fn save(worker: &Worker, with_source: bool, progress: &mut dyn FnMut(&str, u64, u64)) {
    let saved = worker.engine.borrow().saved();
    let Some((saved, _blobs)) = saved else {
        return;
    };
    let result = async {
        if with_source {
            // Copied out so that no borrow of the engine is held across the await.
            let bytes = worker.engine.borrow().source_bytes().map(<[u8]>::to_vec);
            if let Some(bytes) = bytes {
                progress("Keeping the file in this browser", 0, 0);
                storage::write(&source_file(&saved.sha256), &bytes).await?;
            }
        }
        let json = serde_json::to_vec(&saved).map_err(|e| JsValue::from_str(&e.to_string()))?;
        storage::write(SESSION_FILE, &json).await
    }
    .await;
    if let Err(e) = result {
        web_sys::console::warn_2(&"ajuste: the session could not be saved".into(), &e);
    }
}

/// Removes the sources of earlier sessions, which the saved session no longer needs. Nothing
/// depends on it, so it runs after the answer (still before the next request).
async fn tidy(worker: &Worker) {
    let saved = worker.engine.borrow().saved();
    let Some((saved, _blobs)) = saved else {
        return;
    };
    let keep = source_file(&saved.sha256);
    if let Err(e) = storage::remove_except(&[SESSION_FILE, &keep], "source-").await {
        web_sys::console::warn_2(&"ajuste: old files could not be removed".into(), &e);
    }
}

/// Rebuilds the saved session, if there is one.
async fn restore(
    worker: &Worker,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Option<crate::protocol::Summary>, String> {
    let Some(json) = storage::read(SESSION_FILE).await else {
        return Ok(None);
    };
    let saved: crate::studio::SavedSession = match serde_json::from_slice(&json) {
        Ok(saved) => saved,
        Err(_) => return Ok(None),
    };
    progress("Restoring your last session", 0, 0);
    let bytes = storage::read(&source_file(&saved.sha256))
        .await
        .ok_or("the saved session's file is gone from the browser's storage")?;
    for op in saved.base_ops.iter().chain(&saved.ops) {
        if let Op::Tokenizer(Some(t)) = op
            && let Some(blob) = storage::read(&blob_file(&t.sha256)).await
        {
            worker.engine.borrow_mut().add_blob(blob);
        }
    }
    worker
        .engine
        .borrow_mut()
        .restore(saved, bytes, progress)
        .map(Some)
}

fn js_message(value: JsValue) -> String {
    match value.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => value.as_string().unwrap_or_else(|| format!("{value:?}")),
    }
}

/// The origin private file system, in a folder of its own.
mod storage {
    use js_sys::Uint8Array;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{
        DedicatedWorkerGlobalScope, FileSystemDirectoryHandle, FileSystemFileHandle,
        FileSystemGetDirectoryOptions, FileSystemGetFileOptions, FileSystemWritableFileStream,
    };

    const FOLDER: &str = "ajuste-studio";

    async fn folder() -> Result<FileSystemDirectoryHandle, JsValue> {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let root: FileSystemDirectoryHandle =
            JsFuture::from(scope.navigator().storage().get_directory())
                .await?
                .dyn_into()?;
        let options = FileSystemGetDirectoryOptions::new();
        options.set_create(true);
        JsFuture::from(root.get_directory_handle_with_options(FOLDER, &options))
            .await?
            .dyn_into()
    }

    /// Writes a whole file (replacing it).
    pub async fn write(name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        let dir = folder().await?;
        let options = FileSystemGetFileOptions::new();
        options.set_create(true);
        let file: FileSystemFileHandle =
            JsFuture::from(dir.get_file_handle_with_options(name, &options))
                .await?
                .dyn_into()?;
        let stream: FileSystemWritableFileStream =
            JsFuture::from(file.create_writable()).await?.dyn_into()?;
        // A copy in JS memory: the write is asynchronous and wasm memory may move meanwhile.
        let copy = Uint8Array::from(bytes);
        JsFuture::from(stream.write_with_js_u8_array(&copy)?).await?;
        JsFuture::from(stream.close()).await?;
        Ok(())
    }

    /// Reads a whole file; `None` when it is missing or unreadable.
    pub async fn read(name: &str) -> Option<Vec<u8>> {
        let dir = folder().await.ok()?;
        let file: FileSystemFileHandle = JsFuture::from(dir.get_file_handle(name))
            .await
            .ok()?
            .dyn_into()
            .ok()?;
        let blob: web_sys::Blob = JsFuture::from(file.get_file())
            .await
            .ok()?
            .dyn_into()
            .ok()?;
        let buffer = JsFuture::from(blob.array_buffer()).await.ok()?;
        Some(Uint8Array::new(&buffer).to_vec())
    }

    /// Removes the files starting with `prefix` except those in `keep`.
    pub async fn remove_except(keep: &[&str], prefix: &str) -> Result<(), JsValue> {
        let dir = folder().await?;
        // `keys()` is an async iterator; walk it by hand.
        let iterator = dir.keys();
        loop {
            let next = JsFuture::from(iterator.next()?).await?;
            let done = js_sys::Reflect::get(&next, &"done".into())?
                .as_bool()
                .unwrap_or(true);
            if done {
                break;
            }
            let Some(name) = js_sys::Reflect::get(&next, &"value".into())?.as_string() else {
                continue;
            };
            if name.starts_with(prefix) && !keep.contains(&name.as_str()) {
                JsFuture::from(dir.remove_entry(&name)).await?;
            }
        }
        Ok(())
    }

    /// Removes the whole folder.
    pub async fn clear() -> Result<(), JsValue> {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let root: FileSystemDirectoryHandle =
            JsFuture::from(scope.navigator().storage().get_directory())
                .await?
                .dyn_into()?;
        let options = web_sys::FileSystemRemoveOptions::new();
        options.set_recursive(true);
        JsFuture::from(root.remove_entry_with_options(FOLDER, &options)).await?;
        Ok(())
    }
}
