//! Loading a dataset: read the bytes (a picked file or a fetched sample), hand them to the parse
//! worker, and report each step to the state as an [`Action`].
//!
//! This is the only place that touches the browser's file and fetch APIs. It lives in the app
//! shell rather than on the Load page so that navigating away mid-load neither cancels the read
//! nor loses its result.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::file::callbacks::{FileReader, read_as_bytes};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_agent::oneshot::{UseOneshotRunnerHandle, use_oneshot_runner};

use crate::agent::{ParseInput, ParseTask};
use crate::context::LoadRequest;
use crate::state::{Action, FailureReason, State};

/// Everything a load needs, cheap to clone into callbacks.
#[derive(Clone)]
struct Loader {
    dispatch: UseReducerDispatcher<State>,
    runner: UseOneshotRunnerHandle<ParseTask>,
    /// The pending file read. Dropping a `FileReader` cancels its read, so it is kept here until
    /// the next load replaces it (which is exactly when the old read should stop).
    reader: Rc<RefCell<Option<FileReader>>>,
    /// The last ticket handed out; each load takes the next one.
    tickets: Rc<RefCell<u64>>,
}

/// Returns a callback that loads a dataset into `state`. Must be used inside the
/// `OneshotProvider<ParseTask>` that the app shell sets up.
#[hook]
pub fn use_loader(state: &UseReducerHandle<State>) -> Callback<LoadRequest> {
    let loader = Loader {
        dispatch: state.dispatcher(),
        runner: use_oneshot_runner::<ParseTask>(),
        reader: use_mut_ref(|| None),
        tickets: use_mut_ref(|| 0),
    };
    // The loader's parts are stable across renders, so one callback serves the app's lifetime
    // and the context it is shared through does not change on every render.
    use_callback((), move |request: LoadRequest, _| loader.start(request))
}

impl Loader {
    fn start(&self, request: LoadRequest) {
        let ticket = {
            let mut last = self.tickets.borrow_mut();
            *last += 1;
            *last
        };
        match request {
            LoadRequest::File(file) => self.read_file(ticket, gloo::file::File::from(file)),
            LoadRequest::Url { name, url } => self.fetch(ticket, name.to_string(), url.to_string()),
        }
    }

    fn read_file(&self, ticket: u64, file: gloo::file::File) {
        let name = file.name();
        self.dispatch.dispatch(Action::Begin {
            ticket,
            name: name.clone(),
            size: Some(file.size()),
        });
        let this = self.clone();
        let reader = read_as_bytes(&file, move |result| match result {
            Ok(bytes) => this.inspect(ticket, name, bytes),
            Err(e) => this.fail(ticket, e.to_string()),
        });
        *self.reader.borrow_mut() = Some(reader);
    }

    fn fetch(&self, ticket: u64, name: String, url: String) {
        self.dispatch.dispatch(Action::Begin {
            ticket,
            name: name.clone(),
            size: None,
        });
        // A file read still running belongs to an older load: stop it.
        self.reader.borrow_mut().take();
        let this = self.clone();
        spawn_local(async move {
            match fetch_bytes(&url).await {
                Ok(bytes) => this.inspect(ticket, name, bytes),
                Err(message) => this.fail(ticket, message),
            }
        });
    }

    /// Sends the bytes to the parse worker and reports what it says.
    fn inspect(&self, ticket: u64, name: String, bytes: Vec<u8>) {
        let this = self.clone();
        spawn_local(async move {
            let outcome = this.runner.run(ParseInput { name, bytes }).await;
            this.dispatch.dispatch(Action::Finished {
                ticket,
                outcome: outcome.map_err(FailureReason::from),
            });
        });
    }

    fn fail(&self, ticket: u64, message: String) {
        self.dispatch.dispatch(Action::Finished {
            ticket,
            outcome: Err(FailureReason::Read(message)),
        });
    }
}

/// Fetches `url` (relative to the page) and returns its body.
async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("there is no browser window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(js_message)?;
    let response: web_sys::Response = response.dyn_into().map_err(js_message)?;
    if !response.ok() {
        return Err(format!(
            "{url} answered HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    let body = response.array_buffer().map_err(js_message)?;
    let body = JsFuture::from(body).await.map_err(js_message)?;
    Ok(js_sys::Uint8Array::new(&body).to_vec())
}

/// The message of a JavaScript error, or its debug form when it is not an `Error`.
fn js_message(value: wasm_bindgen::JsValue) -> String {
    match value.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => value.as_string().unwrap_or_else(|| format!("{value:?}")),
    }
}
