//! What the worker is doing now (a progress bar), what went wrong with the last request, and a
//! banner when the worker itself stopped.

use yew::prelude::*;

use crate::context::use_studio;
use crate::format;
use crate::state::{Job, WorkerHealth};

/// The running job with its progress. Announced politely to screen readers; the bar is a
/// real `progress` element (indeterminate while the total is unknown).
#[component]
pub fn StatusBar() -> Html {
    let studio = use_studio();
    let state = &studio.state;
    let busy = state.busy().map(|pending| {
        let (task, done, total) = match &pending.progress {
            Some(p) => (p.task.clone(), p.done, p.total),
            None => (pending.job.label().to_owned(), 0, 0),
        };
        let detail = if total > 0 && pending.progress.as_ref().is_some_and(|p| p.task.starts_with("Reading")) {
            format!(" {} of {}", format::bytes(done), format::bytes(total))
        } else if total > 0 {
            format!(" {} of {}", format::count(done), format::count(total))
        } else {
            String::new()
        };
        html! {
            <div class="status-busy" data-testid="busy">
                <span class="spinner" aria-hidden="true"></span>
                <span>{ format!("{task}…{detail}") }</span>
                if total > 0 {
                    <progress max={total.to_string()} value={done.min(total).to_string()} aria-label={task.clone()}></progress>
                } else {
                    <progress aria-label={task.clone()}></progress>
                }
            </div>
        }
    });
    let error = state.error.as_ref().filter(|e| {
        // Errors the pages show in place are not repeated here.
        !matches!(e.job, Job::Open | Job::Restore)
    });
    let dismiss = {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| state.dispatch(crate::state::Action::DismissError))
    };
    html! {
        <div class="status" aria-live="polite" data-testid="status">
            { busy.unwrap_or_default() }
            if let Some(error) = error {
                <div class="alert alert-inline" role="alert" data-testid="job-error">
                    <p>{ format!("{} failed: {}", error.job.label(), error.message) }</p>
                    <button type="button" class="button" onclick={dismiss}>{ "Dismiss" }</button>
                </div>
            }
        </div>
    }
}

/// Shown when the worker stopped: what it said, and a way to start a new one (which rebuilds
/// the session from the browser's storage).
#[component]
pub fn WorkerBanner() -> Html {
    let studio = use_studio();
    let WorkerHealth::Crashed(message) = &studio.state.worker else {
        return Html::default();
    };
    let restart = {
        let restart = studio.restart.clone();
        Callback::from(move |_: MouseEvent| restart.emit(()))
    };
    html! {
        <div class="alert" role="alert" data-testid="worker-crashed">
            <h2>{ "The studio's worker stopped" }</h2>
            <p>{ crate::pages::sentence(message) }</p>
            <p>{ "Your work is kept in this browser: a new worker rebuilds it." }</p>
            <button type="button" class="button button-primary" onclick={restart}>
                { "Start a new worker" }
            </button>
        </div>
    }
}
