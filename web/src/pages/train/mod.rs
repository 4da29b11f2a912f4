//! The Train page. Will show: Training in a worker of its own, with live loss and a chat box.
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Train`].
#[component]
pub fn TrainPage() -> Html {
    html! { <PendingStep route={Route::Train} /> }
}
