//! What every page can reach: the studio state and a way to load a file.

use yew::prelude::*;

use crate::state::State;

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
    /// The studio state; dispatch [`crate::state::Action`]s to change it.
    pub state: UseReducerHandle<State>,
    /// Starts loading a dataset; the outcome arrives in `state.load`.
    pub load: Callback<LoadRequest>,
}

/// The studio context. Pages are only ever rendered inside the app shell, which provides it;
/// outside it (a bug), this falls back to an idle state that cannot load anything rather than
/// panicking.
#[hook]
pub fn use_studio() -> StudioContext {
    let fallback = use_reducer(State::default);
    use_context::<StudioContext>().unwrap_or(StudioContext {
        state: fallback,
        load: Callback::noop(),
    })
}
