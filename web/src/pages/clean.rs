//! The Clean page. Will show: Cleaning steps and what each one changed.
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Clean`].
#[component]
pub fn CleanPage() -> Html {
    html! { <PendingStep route={Route::Clean} /> }
}
