//! The Statistics page. Will show: Length, turn and role distributions.
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Stats`].
#[component]
pub fn StatsPage() -> Html {
    html! { <PendingStep route={Route::Stats} /> }
}
