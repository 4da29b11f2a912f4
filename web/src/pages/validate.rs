//! The Validate page. Will show: Validation findings (errors and warnings with line, record and field).
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Validate`].
#[component]
pub fn ValidatePage() -> Html {
    html! { <PendingStep route={Route::Validate} /> }
}
