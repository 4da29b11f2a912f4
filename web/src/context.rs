//! What every page can reach: the studio state, and a way to ask the worker something.

use ajuste_shared::LoadOptions;
use web_sys::Blob;
use yew::prelude::*;

use crate::protocol::{FailureReason, Request};
use crate::state::{Action, Job, State};

/// Where a dataset comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadRequest {
    /// A file the user picked or dropped.
    File(web_sys::File),
    /// A file served with the studio (the shipped samples), fetched by relative URL.
    Url { name: AttrValue, url: AttrValue },
}

/// Shared with every page through a `ContextProvider` in the app shell.
#[derive(Clone, PartialEq)]
pub struct StudioContext {
    /// The studio state; it changes as the worker answers.
    pub state: UseReducerHandle<State>,
    /// Sends a request (and a file) to the worker.
    pub sender: Callback<(Request, Option<Blob>)>,
    /// Starts loading a dataset, read as the options say (a format, or detect it; renames).
    pub load: Callback<(LoadRequest, LoadOptions)>,
    /// Starts a new worker after the last one stopped, and restores the session.
    pub restart: Callback<()>,
}

impl StudioContext {
    /// Sends a request without a file.
    pub fn send(&self, request: Request) {
        self.sender.emit((request, None));
    }

    /// Sends a request with a file.
    pub fn send_with(&self, request: Request, blob: Blob) {
        self.sender.emit((request, Some(blob)));
    }

    /// Whether a request of `job` is running.
    pub fn running(&self, job: Job) -> bool {
        self.state.is_running(job)
    }
}

/// The studio context. Pages are only ever rendered inside the app shell, which provides it;
/// outside it (a bug), this falls back to an idle state that cannot do anything rather than
/// panicking.
#[hook]
pub fn use_studio() -> StudioContext {
    let fallback = use_reducer(State::default);
    use_context::<StudioContext>().unwrap_or(StudioContext {
        state: fallback,
        sender: Callback::noop(),
        load: Callback::noop(),
        restart: Callback::noop(),
    })
}

/// An open that failed before reaching the worker (a fetch error).
pub fn open_failed(name: &str, message: String) -> Action {
    Action::OpenFailed {
        name: name.to_owned(),
        reason: FailureReason::Read(message),
    }
}
