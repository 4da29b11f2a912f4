//! The Load page: pick or drop a file (or a `.ajuste` bundle), or load the shipped sample; pick
//! the format or let it be detected; see what the file is.

use ajuste_shared::Format;
use yew::prelude::*;

use crate::app::Route;
use crate::components::dataset_card::{DatasetCard, format_name};
use crate::components::drop_zone::DropZone;
use crate::components::page_header::PageHeader;
use crate::context::{LoadRequest, use_studio};
use crate::format;
use crate::pages::{event_value, sentence};
use crate::protocol::{FailureReason, Op, Request};
use crate::state::OpenState;

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
    let busy = studio.state.is_opening() || studio.state.restoring;
    // The format for the next file; `None` detects it.
    let format = use_state(|| None::<Format>);

    let onfile = {
        let load = studio.load.clone();
        let format = format.clone();
        Callback::from(move |file: web_sys::File| load.emit((LoadRequest::File(file), *format)))
    };
    let on_format = {
        let format = format.clone();
        Callback::from(move |e: Event| format.set(event_value(&e).parse().ok()))
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
                            format={*format}
                            disabled={busy}
                        />
                    }
                    <div class="field">
                        <label for="format-select">{ "Format of the next file" }</label>
                        <select id="format-select" onchange={on_format}>
                            <option value="" selected={format.is_none()}>{ "Detect it" }</option>
                            for f in Format::ALL {
                                <option value={f.as_str()} selected={*format == Some(f)}>{ format_name(f) }</option>
                            }
                        </select>
                    </div>
                </section>
            </div>
            <div class="load-status" aria-live="polite" data-testid="load-status">
                { open_status(&studio.state.open) }
                if let Some(summary) = studio.state.session.clone() {
                    <DatasetCard summary={summary.clone()} />
                    <ReadAs forced={summary.file.forced_format} detected={summary.file.format} />
                    <p class="next">
                        { "Next: " }
                        <yew_router::components::Link<Route> to={Route::Validate}>
                            { "check it on the Validate page" }
                        </yew_router::components::Link<Route>>
                        { "." }
                    </p>
                } else if studio.state.restoring {
                    <p class="reading" data-testid="restoring">
                        <span class="spinner" aria-hidden="true"></span>
                        { "Looking for your last session…" }
                    </p>
                }
            </div>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ReadAsProps {
    forced: Option<Format>,
    detected: Format,
}

/// Reads the loaded file again as another format (an undoable change).
#[component]
fn ReadAs(props: &ReadAsProps) -> Html {
    let studio = use_studio();
    let onchange = {
        let studio = studio.clone();
        Callback::from(move |e: Event| {
            let format = event_value(&e).parse().ok();
            studio.send(Request::Apply(Op::Format(format)));
        })
    };
    html! {
        <div class="field field-inline">
            <label for="read-as">{ "Read this file as" }</label>
            <select id="read-as" {onchange} disabled={studio.state.is_changing()}>
                <option value="" selected={props.forced.is_none()}>
                    { format!("{} (detected)", format_name(props.detected)) }
                </option>
                for f in Format::ALL {
                    <option value={f.as_str()} selected={props.forced == Some(f)}>{ format_name(f) }</option>
                }
            </select>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct SampleButtonProps {
    name: AttrValue,
    url: AttrValue,
    label: AttrValue,
    format: Option<Format>,
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
        let format = props.format;
        Callback::from(move |_: MouseEvent| studio.load.emit((request.clone(), format)))
    };
    html! {
        <button type="button" class="button" disabled={props.disabled} {onclick}>
            { &props.label }
        </button>
    }
}

/// What the status area says about the last file asked for.
fn open_status(open: &OpenState) -> Html {
    match open {
        OpenState::Idle => Html::default(),
        OpenState::Reading { name, size, .. } => {
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
        OpenState::Failed(failure) => html! {
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
        FailureReason::Inspect(_) | FailureReason::Read(_) | FailureReason::Bundle(_) => {
            html! { <p>{ sentence(&reason.to_string()) }</p> }
        }
    }
}
