//! The Load page: pick or drop a file (or a `.ajuste` bundle), or load the shipped sample; pick
//! the format or let it be detected, and rename fields and roles of an odd dialect (a CSV's
//! columns) to a format's names; see what the file is.

use ajuste_shared::formats::FieldMap;
use ajuste_shared::formats::field_map::pairs_text;
use ajuste_shared::{Format, LoadOptions};
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
use ajuste_shared::Code;

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
    // How the next file is read: its format (`None` detects it) and the renames, as typed.
    let format = use_state(|| None::<Format>);
    let renames = use_state(Renames::default);
    // The last file asked for, to load again with other options after it failed.
    let last = use_state(|| None::<LoadRequest>);
    let options = renames.map().map(|fields| LoadOptions {
        format: *format,
        fields,
    });

    let load = {
        let load = studio.load.clone();
        let last = last.clone();
        let options = options.clone();
        Callback::from(move |request: LoadRequest| {
            if let Ok(options) = &options {
                last.set(Some(request.clone()));
                load.emit((request, options.clone()));
            }
        })
    };
    let onfile = load.reform(LoadRequest::File);
    let on_format = {
        let format = format.clone();
        Callback::from(move |e: Event| format.set(event_value(&e).parse().ok()))
    };
    let on_renames = {
        let renames = renames.clone();
        Callback::from(move |r: Renames| renames.set(r))
    };
    let load_again = match (&studio.state.open, (*last).clone()) {
        (OpenState::Failed(_), Some(request)) if options.is_ok() => {
            let load = load.clone();
            Some(Callback::from(move |_: MouseEvent| {
                load.emit(request.clone())
            }))
        }
        _ => None,
    };
    let busy_or_bad = busy || options.is_err();

    html! {
        <>
            <PageHeader route={Route::Load} />
            <div class="load-grid">
                <DropZone {onfile} busy={busy_or_bad} />
                <section class="samples" aria-labelledby="samples-title">
                    <h2 id="samples-title">{ "No file at hand?" }</h2>
                    <p>{ "Try a small sample that ships with the studio. It has a few flaws on purpose, for the later steps to find." }</p>
                    for sample in SAMPLES.iter() {
                        <SampleButton
                            name={sample.name}
                            url={sample.url}
                            label={sample.label}
                            onload={load.clone()}
                            disabled={busy_or_bad}
                        />
                    }
                    <fieldset class="read-options">
                    <legend>{ "How to read the next file" }</legend>
                    <div class="field">
                        <label for="format-select">{ "Format" }</label>
                        <select id="format-select" onchange={on_format}>
                            <option value="" selected={format.is_none()}>{ "Detect it" }</option>
                            for f in Format::ALL {
                                <option value={f.as_str()} selected={*format == Some(f)}>{ format_name(f) }</option>
                            }
                        </select>
                    </div>
                    <RenameInputs id="next" value={(*renames).clone()} onchange={on_renames} />
                    </fieldset>
                </section>
            </div>
            <div class="load-status" aria-live="polite" data-testid="load-status">
                { open_status(&studio.state.open, load_again) }
                if let Some(summary) = studio.state.session.clone() {
                    <DatasetCard summary={summary.clone()} />
                    <ReadAs forced={summary.file.forced_format} detected={summary.file.format} />
                    <Rename fields={summary.file.fields.clone()} />
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
    onload: Callback<LoadRequest>,
    disabled: bool,
}

#[component]
fn SampleButton(props: &SampleButtonProps) -> Html {
    let onclick = {
        let request = LoadRequest::Url {
            name: props.name.clone(),
            url: props.url.clone(),
        };
        let onload = props.onload.clone();
        Callback::from(move |_: MouseEvent| onload.emit(request.clone()))
    };
    html! {
        <button type="button" class="button" disabled={props.disabled} {onclick}>
            { &props.label }
        </button>
    }
}

/// What the status area says about the last file asked for; a failed file can be loaded again
/// (with the options as they are now) when `load_again` is given.
fn open_status(open: &OpenState, load_again: Option<Callback<MouseEvent>>) -> Html {
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
                if matches!(&failure.reason, FailureReason::Load(f) if f.code == Code::UnknownFormat) {
                    <p class="alert-meta">{ FORMAT_NAMES }</p>
                }
                if let Some(onclick) = load_again {
                    <button type="button" class="button" {onclick} data-testid="load-again">
                        { format!("Load {} again with the format and renames above", failure.name) }
                    </button>
                }
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

/// The names each format reads, for renaming an unknown layout to one of them.
const FORMAT_NAMES: &str = "Each format reads these fields: ShareGPT conversations (turns with \
    from, value); OpenAI messages (turns with role, content); Alpaca instruction, input, output; \
    DPO prompt, chosen, rejected; KTO prompt, completion, label. Rename the file's fields to one \
    of these under \"Rename fields\".";

/// The rename lists as typed: `FROM=TO, ...` for fields and for roles.
#[derive(Debug, Clone, Default, PartialEq)]
struct Renames {
    fields: String,
    roles: String,
}

impl Renames {
    fn of(map: &FieldMap) -> Self {
        Renames {
            fields: pairs_text(&map.fields, ", "),
            roles: pairs_text(&map.roles, ", "),
        }
    }

    /// The map the lists describe, or what is wrong with them.
    fn map(&self) -> Result<FieldMap, String> {
        let fields = FieldMap::parse_pairs(&self.fields).map_err(|e| format!("fields: {e}"))?;
        let roles = FieldMap::parse_pairs(&self.roles).map_err(|e| format!("roles: {e}"))?;
        FieldMap::new(fields, roles)
    }
}

#[derive(Properties, PartialEq)]
struct RenameInputsProps {
    /// Prefix of the inputs' ids (two forms can be on the page).
    id: AttrValue,
    value: Renames,
    onchange: Callback<Renames>,
    #[prop_or_default]
    disabled: bool,
}

/// The two rename lists, and what is wrong with them.
#[component]
fn RenameInputs(props: &RenameInputsProps) -> Html {
    let input = |which: &'static str| {
        let value = props.value.clone();
        let onchange = props.onchange.clone();
        Callback::from(move |e: InputEvent| {
            let mut next = value.clone();
            let text = event_value(&e);
            match which {
                "fields" => next.fields = text,
                _ => next.roles = text,
            }
            onchange.emit(next);
        })
    };
    let fields_id = format!("{}-fields-map", props.id);
    let roles_id = format!("{}-roles-map", props.id);
    html! {
        <div class="renames">
            <div class="field">
                <label for={fields_id.clone()}>{ "Rename fields (FROM=TO, comma-separated)" }</label>
                <input id={fields_id.clone()} data-testid={fields_id} type="text" spellcheck="false"
                    placeholder="question=instruction, answer=output"
                    value={props.value.fields.clone()} oninput={input("fields")} disabled={props.disabled} />
            </div>
            <div class="field">
                <label for={roles_id.clone()}>{ "Rename turn roles" }</label>
                <input id={roles_id.clone()} data-testid={roles_id} type="text" spellcheck="false"
                    placeholder="customer=user, agent=assistant"
                    value={props.value.roles.clone()} oninput={input("roles")} disabled={props.disabled} />
            </div>
            if let Err(problem) = props.value.map() {
                <p class="alert alert-inline" role="alert" data-testid={format!("{}-renames-error", props.id)}>
                    { sentence(&problem) }
                </p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct RenameProps {
    /// The renames the loaded file is read with.
    fields: FieldMap,
}

/// Reads the loaded file again with other renames (an undoable change).
#[component]
fn Rename(props: &RenameProps) -> Html {
    let studio = use_studio();
    let typed = use_state(|| Renames::of(&props.fields));
    {
        // The session's renames changed (undo, another file): show them.
        let typed = typed.clone();
        use_effect_with(props.fields.clone(), move |fields| {
            typed.set(Renames::of(fields))
        });
    }
    let onchange = {
        let typed = typed.clone();
        Callback::from(move |r: Renames| typed.set(r))
    };
    let map = typed.map();
    let unchanged = map.as_ref() == Ok(&props.fields);
    let changing = studio.state.is_changing();
    let onclick = {
        let map = map.clone();
        Callback::from(move |_: MouseEvent| {
            if let Ok(map) = &map {
                studio.send(Request::Apply(Op::Fields(map.clone())));
            }
        })
    };
    html! {
        <div class="read-renames" data-testid="read-renames">
            <RenameInputs id="read" value={(*typed).clone()} {onchange} disabled={changing} />
            <button type="button" class="button" {onclick} disabled={changing || unchanged || map.is_err()}
                data-testid="apply-renames">
                { "Read it again with these renames" }
            </button>
        </div>
    }
}
