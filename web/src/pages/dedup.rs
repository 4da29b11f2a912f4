//! The Deduplicate page. Will show: Duplicate clusters, the kept record of each, and leaks between splits.
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Dedup`].
#[component]
pub fn DedupPage() -> Html {
    html! { <PendingStep route={Route::Dedup} /> }
}
