//! The page's side of the studio worker: starts it, sends [`Request`]s (with a file as a `Blob`
//! beside them), turns what comes back into [`Event`]s, and notices when the worker dies (a
//! panic, a module that did not load, an uncaught error) so the page can say so and start a new
//! one instead of waiting forever.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, ErrorEvent, MessageEvent, Worker};
use yew::Callback;

use crate::protocol::{Request, Response};

/// The script that starts the worker (static/studio-worker.js, copied into dist/).
pub const WORKER_SCRIPT: &str = "studio-worker.js";

/// What the worker said, or that it is gone.
#[derive(Debug, Clone)]
pub enum Event {
    /// An answer (or progress) to request `id`; a file's bytes come with an export.
    Message {
        id: u64,
        response: Response,
        bytes: Option<Uint8Array>,
    },
    /// The worker stopped; nothing more will come from it.
    Died(String),
}

/// A handle on the worker, cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

struct Inner {
    worker: RefCell<Option<Running>>,
    next_id: Cell<u64>,
    on_event: Callback<Event>,
}

/// A started worker and the closures it calls (dropping them would detach the handlers);
/// dropping it terminates the worker. The studio worker's and the training worker's.
pub(crate) struct Running {
    pub(crate) worker: Worker,
    pub(crate) _on_message: Closure<dyn Fn(MessageEvent)>,
    pub(crate) _on_error: Closure<dyn Fn(ErrorEvent)>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl Client {
    /// Starts a worker whose events go to `on_event`.
    pub fn start(on_event: Callback<Event>) -> Client {
        let client = Client {
            inner: Rc::new(Inner {
                worker: RefCell::new(None),
                next_id: Cell::new(0),
                on_event,
            }),
        };
        client.restart();
        client
    }

    /// Stops the worker (if any) and starts a fresh one.
    pub fn restart(&self) {
        self.inner.worker.borrow_mut().take();
        match spawn(self.inner.on_event.clone()) {
            Ok(running) => *self.inner.worker.borrow_mut() = Some(running),
            Err(message) => self.inner.on_event.emit(Event::Died(message)),
        }
    }

    /// Sends a request (and a file) and returns the id its answers will carry.
    pub fn send(&self, request: &Request, blob: Option<&Blob>) -> u64 {
        let id = self.inner.next_id.get() + 1;
        self.inner.next_id.set(id);
        let result = match &*self.inner.worker.borrow() {
            Some(running) => post(&running.worker, id, request, blob),
            None => Err("the studio worker is not running".to_owned()),
        };
        if let Err(message) = result {
            self.inner.on_event.emit(Event::Died(message));
        }
        id
    }
}

fn spawn(on_event: Callback<Event>) -> Result<Running, String> {
    let worker = Worker::new(WORKER_SCRIPT).map_err(js_message)?;
    let events = on_event.clone();
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        events.emit(decode(&event.data()));
    });
    let on_error = Closure::<dyn Fn(ErrorEvent)>::new(move |event: ErrorEvent| {
        // The page handles it: the browser must not log it as uncaught as well.
        event.prevent_default();
        let message = event.message();
        on_event.emit(Event::Died(if message.is_empty() {
            "the studio worker stopped".to_owned()
        } else {
            format!("the studio worker stopped: {message}")
        }));
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(Running {
        worker,
        _on_message: on_message,
        _on_error: on_error,
    })
}

fn post(worker: &Worker, id: u64, request: &Request, blob: Option<&Blob>) -> Result<(), String> {
    let body = serde_json::to_string(request).map_err(|e| e.to_string())?;
    let message = Object::new();
    let set = |key: &str, value: &JsValue| Reflect::set(&message, &key.into(), value);
    set("id", &JsValue::from_f64(id as f64)).map_err(js_message)?;
    set("body", &body.into()).map_err(js_message)?;
    if let Some(blob) = blob {
        set("blob", blob).map_err(js_message)?;
    }
    worker.post_message(&message).map_err(js_message)
}

/// A message from the worker as an event.
fn decode(data: &JsValue) -> Event {
    let get = |key: &str| Reflect::get(data, &key.into()).ok();
    if let Some(fatal) = get("fatal").and_then(|f| f.as_string()) {
        return Event::Died(fatal);
    }
    let id = get("id").and_then(|v| v.as_f64()).unwrap_or_default() as u64;
    let body = get("body").and_then(|b| b.as_string()).unwrap_or_default();
    match serde_json::from_str::<Response>(&body) {
        Ok(Response::Fatal { message }) => Event::Died(message),
        Ok(response) => Event::Message {
            id,
            response,
            bytes: get("bytes").and_then(|b| b.dyn_into::<Uint8Array>().ok()),
        },
        Err(e) => Event::Died(format!(
            "the studio worker sent a message the page cannot read: {e}"
        )),
    }
}

/// The message of a JavaScript error, or its debug form when it is not an `Error`.
pub fn js_message(value: JsValue) -> String {
    match value.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => value.as_string().unwrap_or_else(|| format!("{value:?}")),
    }
}

/// Offers `bytes` as a download named `name`; returns the object URL (kept for a "download
/// again" link).
pub fn download(bytes: &Uint8Array, name: &str, mime: &str) -> Result<String, String> {
    let parts = js_sys::Array::of1(bytes);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob =
        Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(js_message)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js_message)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("there is no document")?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(js_message)?
        .unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    Ok(url)
}
