//! The app shell's link to the studio worker: starts it, restores the saved session at start-up,
//! sends requests, turns answers into [`Action`]s (an export's bytes into a download first), and
//! loads datasets (a picked file goes to the worker as it is; a shipped sample is fetched as a
//! `Blob` first, never read on this thread).

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;
use yew::platform::spawn_local;
use yew::prelude::*;

use ajuste_shared::LoadOptions;

use crate::client::{self, Client, Event};
use crate::context::{LoadRequest, StudioContext, open_failed};
use crate::protocol::{ExportKind, Request, Response};
use crate::state::{Action, Job, State};

/// The studio context of the app shell: state, worker, and the callbacks pages use.
#[hook]
pub fn use_studio_shell() -> StudioContext {
    let state = use_reducer(State::default);
    let client = {
        let dispatch = state.dispatcher();
        use_memo((), move |_| {
            Client::start(Callback::from(move |event| on_event(&dispatch, event)))
        })
    };
    let sender = {
        let client = client.clone();
        let dispatch = state.dispatcher();
        use_callback((), move |(request, blob): (Request, Option<Blob>), _| {
            let job = Job::of(&request);
            let file = match &request {
                Request::Open { name, .. } => {
                    Some((name.clone(), blob.as_ref().map(|b| b.size() as u64)))
                }
                _ => None,
            };
            let id = client.send(&request, blob.as_ref());
            dispatch.dispatch(Action::Sent { id, job, file });
        })
    };
    {
        // Once: rebuild what the last visit left.
        let sender = sender.clone();
        use_effect_with((), move |_| sender.emit((Request::Restore, None)));
    }
    let load = {
        let sender = sender.clone();
        let dispatch = state.dispatcher();
        use_callback(
            (),
            move |(request, options): (LoadRequest, LoadOptions), _| {
                load(&sender, &dispatch, request, options)
            },
        )
    };
    let restart = {
        let client = client.clone();
        let sender = sender.clone();
        let dispatch = state.dispatcher();
        use_callback((), move |(), _| {
            client.restart();
            dispatch.dispatch(Action::Restarted);
            sender.emit((Request::Restore, None));
        })
    };
    StudioContext {
        state,
        sender,
        load,
        restart,
    }
}

/// What the worker said, as an action.
fn on_event(dispatch: &UseReducerDispatcher<State>, event: Event) {
    match event {
        Event::Message {
            id,
            response,
            bytes,
        } => {
            let url = match (&response, bytes) {
                (Response::Export(file), Some(bytes))
                    if file.kind == ExportKind::TrainingBundle =>
                {
                    crate::pages::train::store::bundle_ready(&bytes, &file.name);
                    None
                }
                (Response::Export(file), Some(bytes)) => {
                    match client::download(&bytes, &file.name, &file.mime) {
                        Ok(url) => Some(url),
                        Err(message) => {
                            let failed = Response::Failed {
                                what: "export".into(),
                                message: format!("the download could not start: {message}"),
                            };
                            dispatch.dispatch(Action::Received {
                                id,
                                response: failed,
                                url: None,
                            });
                            return;
                        }
                    }
                }
                _ => None,
            };
            dispatch.dispatch(Action::Received { id, response, url });
        }
        Event::Died(message) => dispatch.dispatch(Action::Died(message)),
    }
}

/// Opens a dataset: a file goes to the worker as it is; a sample is fetched first.
fn load(
    sender: &Callback<(Request, Option<Blob>)>,
    dispatch: &UseReducerDispatcher<State>,
    request: LoadRequest,
    options: LoadOptions,
) {
    match request {
        LoadRequest::File(file) => {
            let name = file.name();
            sender.emit((Request::Open { name, options }, Some(file.into())));
        }
        LoadRequest::Url { name, url } => {
            let sender = sender.clone();
            let dispatch = dispatch.clone();
            spawn_local(async move {
                match fetch_blob(&url).await {
                    Ok(blob) => sender.emit((
                        Request::Open {
                            name: name.to_string(),
                            options,
                        },
                        Some(blob),
                    )),
                    Err(message) => dispatch.dispatch(open_failed(&name, message)),
                }
            });
        }
    }
}

/// Fetches `url` (relative to the page) as a `Blob`.
async fn fetch_blob(url: &str) -> Result<Blob, String> {
    let window = web_sys::window().ok_or("there is no browser window")?;
    let response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(client::js_message)?;
    let response: web_sys::Response = response.dyn_into().map_err(client::js_message)?;
    if !response.ok() {
        return Err(format!(
            "{url} answered HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    let blob = response.blob().map_err(client::js_message)?;
    JsFuture::from(blob)
        .await
        .map_err(client::js_message)?
        .dyn_into()
        .map_err(client::js_message)
}
