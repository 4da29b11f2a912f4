//! The body of a step whose data-side API is still being built.

use yew::prelude::*;

use crate::app::Route;
use crate::components::empty_state::EmptyState;
use crate::components::page_header::PageHeader;
use crate::context::use_studio;
use crate::format;
use crate::state::LoadState;

/// Props of [`PendingStep`].
#[derive(Properties, PartialEq)]
pub struct PendingStepProps {
    pub route: Route,
}

/// A step page that needs a dataset: says "Load a dataset first" until one is loaded, then
/// says plainly that this step is not available in this build yet.
#[component]
pub fn PendingStep(props: &PendingStepProps) -> Html {
    let studio = use_studio();
    let body = match &studio.state.load {
        LoadState::Ready(file) => html! {
            <EmptyState title="Not available yet">
                <p>
                    { format!("{} is not part of this build of the studio yet. ", props.route.title()) }
                    { "The loaded file, " }<strong>{ &file.name }</strong>
                    { format!(" ({}), stays loaded.", format::plural(file.analysis.load.records, "record", "records")) }
                </p>
            </EmptyState>
        },
        LoadState::Reading { name, .. } => html! {
            <EmptyState title="Loading…">
                <p>{ format!("{name} is being read. This page fills in when it is done.") }</p>
            </EmptyState>
        },
        LoadState::Idle | LoadState::Failed(_) => html! {
            <EmptyState
                title="Load a dataset first"
                action={Some((Route::Load, AttrValue::from("Go to Load")))}
            >
                <p>{ format!("{} works on a loaded dataset. Open a file, or try the shipped sample, on the Load page.", props.route.title()) }</p>
            </EmptyState>
        },
    };
    html! {
        <>
            <PageHeader route={props.route} />
            { body }
        </>
    }
}
