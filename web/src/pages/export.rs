//! The Export page: the split and training method of the recipe, the `.ajuste` bundle with the
//! `ajuste bundle create` line that builds the same file natively (and the `ajuste train` line
//! that trains it), the prepared data in any format, and the edited source.

use std::rc::Rc;

use ajuste_shared::config::Method;
use ajuste_shared::split::SplitConfig;
use ajuste_shared::{Container, Format};
use yew::prelude::*;

use crate::app::Route;
use crate::components::copy_button::CopyButton;
use crate::components::dataset_card::format_name;
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::use_studio;
use crate::format;
use crate::pages::{event_value, sentence};
use crate::protocol::{ExportKind, Op, Request, Summary};
use crate::state::Job;

/// The page at [`Route::Export`].
#[component]
pub fn ExportPage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Export {summary} /> },
        None => html! { <NeedsDataset route={Route::Export} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Export} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ExportProps {
    summary: Rc<Summary>,
}

#[component]
fn Export(props: &ExportProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let export = |kind: ExportKind| {
        let studio = studio.clone();
        Callback::from(move |_: MouseEvent| studio.send(Request::Export(kind.clone())))
    };
    let data_format = use_state(|| s.file.format);
    let container = use_state(|| Container::Jsonl);
    let exported = studio.state.export.clone();
    let last = |kind: &ExportKind| exported.as_ref().filter(|e| &e.file.kind == kind).cloned();
    let busy = studio.running(Job::Export);
    let formats: Vec<Format> = Format::ALL
        .into_iter()
        .filter(|f| f.kind() == s.file.kind)
        .collect();
    let on_format = {
        let data_format = data_format.clone();
        Callback::from(move |e: Event| {
            if let Ok(f) = event_value(&e).parse() {
                data_format.set(f);
            }
        })
    };
    let on_container = {
        let container = container.clone();
        Callback::from(move |e: Event| {
            if let Ok(c) = event_value(&e).parse() {
                container.set(c);
            }
        })
    };
    let bundle_done = last(&ExportKind::Bundle);
    let data_kind = ExportKind::Data {
        format: *data_format,
        container: *container,
    };
    let data_done = last(&data_kind);
    let edited_done = last(&ExportKind::EditedSource);
    html! {
        <div class="export">
            if let Some(error) = studio.state.error_of(Job::Export) {
                <div class="alert alert-inline" role="alert" data-testid="export-error"><p>{ sentence(error) }</p></div>
            }
            <Recipe summary={props.summary.clone()} />
            <section class="card" aria-labelledby="bundle-title">
                <h2 id="bundle-title">{ "Bundle for the native trainer" }</h2>
                <p>
                    { format!("{} prepared ({} train, about {} eval), template {}, method {}.",
                        format::plural(s.records_out as u64, "record", "records"),
                        format::count(s.records_out.saturating_sub(eval_size(s.records_out, s.split)) as u64),
                        format::count(eval_size(s.records_out, s.split) as u64),
                        s.template.name, s.method) }
                </p>
                <div class="export-row">
                    <button type="button" class="button button-primary" onclick={export(ExportKind::Bundle)}
                        disabled={busy || studio.state.is_changing()} data-testid="export-bundle">
                        { format!("Download {}", s.bundle_name) }
                    </button>
                    <div class="command">
                        <p class="muted">{ "The same file, built natively:" }</p>
                        { match &s.command {
                            Ok(line) => html! {
                                <div class="command-block">
                                    <pre data-testid="bundle-command"><code>{ command_line(line) }</code></pre>
                                    <CopyButton text={line.clone()} what="the ajuste bundle create line" testid="copy-bundle-command" />
                                </div>
                            },
                            Err(why) => html! { <p class="note" data-testid="bundle-command-none">{ format!("No command line makes this bundle: {}.", why) }</p> },
                        } }
                        <p class="muted">{ "Then train it:" }</p>
                        <div class="command-block">
                            <pre data-testid="train-command"><code>{ command_line(&s.train_command) }</code></pre>
                            <CopyButton text={s.train_command.clone()} what="the ajuste train line" testid="copy-train-command" />
                        </div>
                    </div>
                </div>
                if s.edited_records + s.dropped_records > 0 {
                    <p class="note" data-testid="needs-edited">
                        { "The records you fixed or dropped make a new source file; the command reads it, so download it too:" }
                        { " " }
                        <button type="button" class="button" onclick={export(ExportKind::EditedSource)} disabled={busy} data-testid="export-edited">
                            { "Download the edited source" }
                        </button>
                    </p>
                }
                if let Some(done) = bundle_done {
                    <p class="done" data-testid="bundle-done">
                        { format!("{} ({}) built in {:.0} ms. ", done.file.name, format::bytes(done.file.bytes as u64), done.file.ms) }
                        if let Some(url) = &done.url {
                            <a href={url.clone()} download={done.file.name.clone()}>{ "Download again" }</a>
                        }
                    </p>
                }
                if let Some(done) = edited_done {
                    <p class="done" data-testid="edited-done">
                        { format!("{} ({}). ", done.file.name, format::bytes(done.file.bytes as u64)) }
                        if let Some(url) = &done.url {
                            <a href={url.clone()} download={done.file.name.clone()}>{ "Download again" }</a>
                        }
                    </p>
                }
            </section>
            <section class="card" aria-labelledby="data-title">
                <h2 id="data-title">{ "Prepared data" }</h2>
                <p>{ "The records after cleaning, deduplication and balancing, in any format that holds them." }</p>
                <div class="field-row">
                    <div class="field">
                        <label for="data-format">{ "Format" }</label>
                        <select id="data-format" onchange={on_format}>
                            for f in formats {
                                <option value={f.as_str()} selected={*data_format == f}>{ format_name(f) }</option>
                            }
                        </select>
                    </div>
                    <div class="field">
                        <label for="data-container">{ "File" }</label>
                        <select id="data-container" onchange={on_container}>
                            <option value="jsonl" selected={*container == Container::Jsonl}>{ "JSON Lines (.jsonl)" }</option>
                            <option value="json" selected={*container == Container::JsonArray}>{ "JSON array (.json)" }</option>
                        </select>
                    </div>
                </div>
                <button type="button" class="button" onclick={export(data_kind)} disabled={busy} data-testid="export-data">
                    { "Download the prepared data" }
                </button>
                if let Some(done) = data_done {
                    <p class="done" data-testid="data-done">
                        { format!("{} ({}). ", done.file.name, format::bytes(done.file.bytes as u64)) }
                        if let Some(url) = &done.url {
                            <a href={url.clone()} download={done.file.name.clone()}>{ "Download again" }</a>
                        }
                    </p>
                }
            </section>
        </div>
    }
}

/// A command line, each argument in a span of its own so that a line wraps between arguments
/// (not at the hyphens inside `--drop-refusals`); the text is the line's, unchanged.
fn command_line(line: &str) -> Html {
    html! {
        for (i, word) in line.split(' ').enumerate() {
            if i > 0 { { " " } }
            <span class="arg">{ word }</span>
        }
    }
}

/// How many records the split puts in eval (as `ajuste_shared::split` counts them).
fn eval_size(n: usize, split: SplitConfig) -> usize {
    ajuste_shared::split::split(n, split).map_or(0, |s| s.eval.len())
}

#[derive(Properties, PartialEq)]
struct RecipeProps {
    summary: Rc<Summary>,
}

/// The split and the training method: part of the recipe, set here.
#[component]
fn Recipe(props: &RecipeProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let fraction = use_state(|| s.split.eval_fraction.to_string());
    let seed = use_state(|| s.split.seed.to_string());
    let method = use_state(|| s.method);
    let model = use_state(|| s.model.clone().unwrap_or_default());
    {
        let (fraction, seed, method, model) = (
            fraction.clone(),
            seed.clone(),
            method.clone(),
            model.clone(),
        );
        let (split, m, md) = (s.split, s.method, s.model.clone());
        use_effect_with(s.generation, move |_| {
            fraction.set(split.eval_fraction.to_string());
            seed.set(split.seed.to_string());
            method.set(m);
            model.set(md.unwrap_or_default());
        });
    }
    let text = |state: &UseStateHandle<String>| {
        let state = state.clone();
        Callback::from(move |e: Event| state.set(event_value(&e)))
    };
    let on_method = {
        let method = method.clone();
        Callback::from(move |e: Event| {
            if let Ok(m) = event_value(&e).parse::<Method>() {
                method.set(m);
            }
        })
    };
    let split = fraction
        .trim()
        .parse::<f64>()
        .ok()
        .zip(seed.trim().parse::<u64>().ok())
        .map(|(eval_fraction, seed)| SplitConfig {
            eval_fraction,
            seed,
        });
    let model_value = Some(model.trim().to_owned()).filter(|m| !m.is_empty());
    let onsubmit = {
        let studio = studio.clone();
        let (split, current_split) = (split, s.split);
        let (method, current_method) = (*method, s.method);
        let (model_value, current_model) = (model_value.clone(), s.model.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(split) = split.filter(|sp| *sp != current_split) {
                studio.send(Request::Apply(Op::Split(split)));
            }
            if method != current_method || model_value != current_model {
                studio.send(Request::Apply(Op::Train {
                    method,
                    model: model_value.clone(),
                }));
            }
        })
    };
    let changed =
        split.is_some_and(|sp| sp != s.split) || *method != s.method || model_value != s.model;
    html! {
        <form class="card recipe" aria-labelledby="recipe-title" {onsubmit}>
            <h2 id="recipe-title">{ "Split and training" }</h2>
            <div class="field-row">
                <div class="field">
                    <label for="eval-fraction">{ "Eval fraction" }</label>
                    <input id="eval-fraction" type="number" min="0" max="0.99" step="0.01" value={(*fraction).clone()} onchange={text(&fraction)} />
                </div>
                <div class="field">
                    <label for="split-seed">{ "Split seed" }</label>
                    <input id="split-seed" type="number" min="0" value={(*seed).clone()} onchange={text(&seed)} />
                </div>
                <div class="field">
                    <label for="method">{ "Method" }</label>
                    <select id="method" onchange={on_method}>
                        for m in Method::ALL.into_iter().filter(|m| m.kind() == s.file.kind) {
                            <option value={m.as_str()} selected={*method == m}>{ m.as_str() }</option>
                        }
                    </select>
                </div>
                <div class="field">
                    <label for="base-model">{ "Base model (Hugging Face id or directory)" }</label>
                    <input id="base-model" type="text" value={(*model).clone()} onchange={text(&model)} placeholder="HuggingFaceTB/SmolLM2-135M-Instruct" />
                </div>
            </div>
            if split.is_none() {
                <p class="alert alert-inline" role="alert">{ "The eval fraction must be a number below 1 and the seed a whole number." }</p>
            }
            <button type="submit" class="button" disabled={!changed || split.is_none() || studio.state.is_changing()} data-testid="apply-recipe">
                { "Apply" }
            </button>
        </form>
    }
}
