//! The Load page: pick or drop a file, or load the shipped sample, and see what it is.

use yew::prelude::*;

use crate::app::Route;
use crate::components::dataset_card::DatasetCard;
use crate::components::drop_zone::DropZone;
use crate::components::page_header::PageHeader;
use crate::context::{LoadRequest, use_studio};
use crate::format;
use crate::state::{FailureReason, LoadState};

/// A dataset served with the studio (from `static/samples/`, copied into `dist/samples/`).
struct Sample {
    /// File name shown once loaded.
    name: &'static str,
    /// Path relative to the page.
    url: &'static str,
    /// What the button says.
    label: &'static str,
}

const SAMPLES: [Sample; 1] = [Sample {
    name: "sharegpt-sample.jsonl",
    url: "samples/sharegpt-sample.jsonl",
    label: "Load the sample: ShareGPT, 50 conversations",
}];

/// The page at [`Route::Load`].
#[component]
pub fn LoadPage() -> Html {
    let studio = use_studio();
    let busy = studio.state.is_loading();

    let onfile = {
        let load = studio.load.clone();
        Callback::from(move |file: web_sys::File| load.emit(LoadRequest::File(file)))
    };

    html! {
        <>
            <PageHeader route={Route::Load} />
            <div class="load-grid">
                <DropZone {onfile} {busy} />
                <section class="samples" aria-labelledby="samples-title">
                    <h2 id="samples-title">{ "No file at hand?" }</h2>
                    <p>{ "Try a small sample that ships with the studio. It has a few flaws on purpose, for the later steps to find." }</p>
                    for sample in SAMPLES.iter() {
                        <SampleButton
                            name={sample.name}
                            url={sample.url}
                            label={sample.label}
                            disabled={busy}
                        />
                    }
                </section>
            </div>
            <div class="load-status" aria-live="polite" data-testid="load-status">
                { status(&studio.state.load) }
            </div>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct SampleButtonProps {
    name: AttrValue,
    url: AttrValue,
    label: AttrValue,
    disabled: bool,
}

#[component]
fn SampleButton(props: &SampleButtonProps) -> Html {
    let studio = use_studio();
    let onclick = {
        let request = LoadRequest::Url {
            name: props.name.clone(),
            url: props.url.clone(),
        };
        Callback::from(move |_: MouseEvent| studio.load.emit(request.clone()))
    };
    html! {
        <button type="button" class="button" disabled={props.disabled} {onclick}>
            { &props.label }
        </button>
    }
}

/// What the status area says for each stage of a load.
fn status(load: &LoadState) -> Html {
    match load {
        LoadState::Idle => Html::default(),
        LoadState::Reading { name, size, .. } => {
            let size = size
                .map(|s| format!(" ({})", format::bytes(s)))
                .unwrap_or_default();
            html! {
                <p class="reading" data-testid="reading">
                    <span class="spinner" aria-hidden="true"></span>
                    { format!("Reading {name}{size}…") }
                </p>
            }
        }
        LoadState::Ready(file) => html! {
            <>
                <DatasetCard file={file.clone()} />
                <p class="next">
                    { "Next: " }
                    <yew_router::components::Link<Route> to={Route::Validate}>
                        { "check it on the Validate page" }
                    </yew_router::components::Link<Route>>
                    { "." }
                </p>
            </>
        },
        LoadState::Failed(failure) => html! {
            <div class="alert" role="alert" data-testid="load-error">
                <h2>{ format!("{} could not be loaded", failure.name) }</h2>
                { reason(&failure.reason) }
            </div>
        },
    }
}

/// Why a load failed. A finding from the loader is shown as the data crate wrote it: its
/// message, its code (what the CLI and the docs call it) and its hint.
fn reason(reason: &FailureReason) -> Html {
    match reason {
        FailureReason::Load(finding) => html! {
            <>
                <p>{ sentence(&finding.message) }</p>
                <p class="alert-meta">
                    <code>{ finding.code.as_str() }</code>
                    if let Some(hint) = &finding.hint {
                        { " " }{ sentence(hint) }
                    }
                </p>
            </>
        },
        FailureReason::Inspect(_) | FailureReason::Read(_) => {
            html! { <p>{ reason.to_string() }</p> }
        }
    }
}

/// The data crate writes messages in lower case without a final stop (they are also printed
/// after "error: " by the CLI); on their own they read better as sentences.
fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn messages_become_sentences() {
        assert_eq!(
            sentence("the file holds no records"),
            "The file holds no records."
        );
        assert_eq!(sentence("Already one."), "Already one.");
        assert_eq!(sentence("élan"), "Élan.");
        assert_eq!(sentence("  "), "");
    }
}
