//! The bodies of step pages before a dataset is there: "load a dataset first", or "loading".

use yew::prelude::*;

use crate::app::Route;
use crate::components::empty_state::EmptyState;
use crate::context::use_studio;

/// Props of [`NeedsDataset`].
#[derive(Properties, PartialEq)]
pub struct NeedsDatasetProps {
    pub route: Route,
}

/// What a step page shows without a session: that a file (or the saved session) is loading,
/// or a way to the Load page.
#[component]
pub fn NeedsDataset(props: &NeedsDatasetProps) -> Html {
    let studio = use_studio();
    let state = &studio.state;
    if state.restoring || state.is_opening() {
        return html! {
            <EmptyState title="Loading…">
                <p>{ format!("{} fills in when the data is loaded.", props.route.title()) }</p>
            </EmptyState>
        };
    }
    html! {
        <EmptyState
            title="Load a dataset first"
            action={Some((Route::Load, AttrValue::from("Go to Load")))}
        >
            <p>{ format!("{} works on a loaded dataset. Open a file, or try the shipped sample, on the Load page.", props.route.title()) }</p>
        </EmptyState>
    }
}

/// Props of [`PendingStep`].
#[derive(Properties, PartialEq)]
pub struct PendingStepProps {
    pub route: Route,
}

/// A step that is not part of this build (training in the browser lives in its own worker).
#[component]
pub fn PendingStep(props: &PendingStepProps) -> Html {
    let studio = use_studio();
    let body = match &studio.state.session {
        Some(s) => html! {
            <EmptyState title="Not available yet">
                <p>
                    { format!("{} is not part of this build of the studio yet. ", props.route.title()) }
                    { "The loaded file, " }<strong>{ &s.file.name }</strong>
                    { ", stays loaded. Export a bundle and train it with " }<code>{ "ajuste train" }</code>{ "." }
                </p>
            </EmptyState>
        },
        None => html! { <NeedsDataset route={props.route} /> },
    };
    html! {
        <>
            <crate::components::page_header::PageHeader route={props.route} />
            { body }
        </>
    }
}
