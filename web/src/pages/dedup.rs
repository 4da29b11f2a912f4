//! The Deduplicate page: exact and near (MinHash LSH) duplicates with a threshold slider,
//! clusters shown beside the record kept, train/eval leakage of the session's split, and
//! contradicting preference pairs. Previews run in the worker; "Apply" makes it the session's.

use std::rc::Rc;

use ajuste_shared::dedup::{DedupConfig, DupKind};
use yew::prelude::*;

use crate::app::Route;
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::use_studio;
use crate::format;
use crate::pages::{event_checked, event_value};
use crate::protocol::{DedupView, Op, PairView, RecordText, Request, Summary};

/// Clusters per page (the worker sends this many).
const PAGE: usize = 10;

/// The page at [`Route::Dedup`].
#[component]
pub fn DedupPage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Dedup {summary} /> },
        None => html! { <NeedsDataset route={Route::Dedup} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Dedup} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct DedupProps {
    summary: Rc<Summary>,
}

#[component]
fn Dedup(props: &DedupProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let applied = s.dedup.as_ref().map(|d| d.config.clone());
    // The configuration being tried; off is `None`.
    let draft = {
        let applied = applied.clone();
        use_state(move || applied.unwrap_or_default())
    };
    let enabled = {
        let on = applied.is_some();
        use_state(move || on)
    };
    {
        let draft = draft.clone();
        let enabled = enabled.clone();
        use_effect_with(applied.clone(), move |applied| {
            enabled.set(applied.is_some());
            draft.set(applied.clone().unwrap_or_default());
        });
    }
    // The threshold as the slider shows it while it moves.
    let shown_threshold = use_state(|| draft.threshold);
    {
        let shown = shown_threshold.clone();
        use_effect_with(draft.threshold, move |t| shown.set(*t));
    }
    let offset = use_state(|| 0usize);
    {
        let studio = studio.clone();
        let offset = offset.clone();
        use_effect_with(((*draft).clone(), s.generation), move |(config, _)| {
            offset.set(0);
            studio.send(Request::DedupPreview {
                config: config.clone(),
                cluster_offset: 0,
            });
        });
    }
    let set = |f: fn(&mut DedupConfig, &str)| {
        let draft = draft.clone();
        Callback::from(move |e: Event| {
            let mut next = (*draft).clone();
            f(&mut next, &event_value(&e));
            draft.set(next);
        })
    };
    let on_near = {
        let draft = draft.clone();
        Callback::from(move |e: Event| {
            let mut next = (*draft).clone();
            next.near = event_checked(&e);
            draft.set(next);
        })
    };
    let on_enabled = {
        let enabled = enabled.clone();
        Callback::from(move |e: Event| enabled.set(event_value(&e) == "on"))
    };
    let on_slide = {
        let shown = shown_threshold.clone();
        Callback::from(move |e: InputEvent| {
            if let Ok(v) = event_value(&e).parse() {
                shown.set(v);
            }
        })
    };
    let chosen = enabled.then(|| (*draft).clone());
    let apply = {
        let studio = studio.clone();
        let chosen = chosen.clone();
        Callback::from(move |_: MouseEvent| studio.send(Request::Apply(Op::Dedup(chosen.clone()))))
    };
    let page = {
        let studio = studio.clone();
        let offset = offset.clone();
        let config = (*draft).clone();
        Callback::from(move |to: usize| {
            offset.set(to);
            studio.send(Request::DedupPreview {
                config: config.clone(),
                cluster_offset: to,
            });
        })
    };
    let view = studio
        .state
        .dedup
        .clone()
        .filter(|v| v.config == *draft && v.generation == s.generation);
    let applied_text = match &s.dedup {
        None => "no deduplication".to_owned(),
        Some(d) => format!(
            "{} dedup{} — {} exact and {} near duplicates removed, {} left",
            if d.config.near {
                "exact and near"
            } else {
                "exact"
            },
            if d.config.near {
                format!(" at Jaccard {}", d.config.threshold)
            } else {
                String::new()
            },
            format::count(d.exact as u64),
            format::count(d.near as u64),
            format::plural(d.records_out as u64, "record", "records"),
        ),
    };
    html! {
        <div class="dedup">
            <p class="lede" data-testid="dedup-applied">{ "Applied: " }<strong>{ applied_text }</strong>{ "." }</p>
            <form class="dedup-form" aria-label="Deduplication" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                <fieldset class="inline-checks">
                    <legend>{ "Remove duplicates" }</legend>
                    <label><input type="radio" name="dedup-on" value="on" checked={*enabled} onchange={on_enabled.clone()} />{ "yes (the first of each cluster stays)" }</label>
                    <label><input type="radio" name="dedup-on" value="off" checked={!*enabled} onchange={on_enabled} />{ "no" }</label>
                </fieldset>
                <label class="step-switch" for="dedup-near">
                    <input id="dedup-near" type="checkbox" checked={draft.near} onchange={on_near} />
                    { "Near duplicates too (MinHash over word n-grams, LSH bands)" }
                </label>
                <div class="field">
                    <label for="dedup-threshold">
                        { format!("Similarity threshold (Jaccard): {:.2}", *shown_threshold) }
                        if let Some(v) = &view {
                            <span class="muted">{ format!(" — a pair at the threshold is found with probability {:.2}", v.catch_probability) }</span>
                        }
                    </label>
                    <input id="dedup-threshold" type="range" min="0.3" max="1" step="0.01"
                        value={draft.threshold.to_string()} oninput={on_slide}
                        onchange={set(|c, v| if let Ok(t) = v.parse() { c.threshold = t })}
                        aria-valuetext={format!("{:.2}", *shown_threshold)} data-testid="dedup-threshold" />
                </div>
                <details class="params">
                    <summary>{ "MinHash parameters" }</summary>
                    <div class="field-row">
                        <div class="field">
                            <label for="dedup-ngram">{ "Words per shingle" }</label>
                            <input id="dedup-ngram" type="number" min="1" value={draft.ngram.to_string()}
                                onchange={set(|c, v| if let Ok(n) = v.parse() { c.ngram = n })} />
                        </div>
                        <div class="field">
                            <label for="dedup-perms">{ "Permutations" }</label>
                            <input id="dedup-perms" type="number" min="1" value={draft.permutations.to_string()}
                                onchange={set(|c, v| if let Ok(n) = v.parse() { c.permutations = n })} />
                        </div>
                        <div class="field">
                            <label for="dedup-bands">{ "Bands" }</label>
                            <input id="dedup-bands" type="number" min="1" value={draft.bands.to_string()}
                                onchange={set(|c, v| if let Ok(n) = v.parse() { c.bands = n })} />
                        </div>
                        <div class="field">
                            <label for="dedup-seed">{ "Seed" }</label>
                            <input id="dedup-seed" type="number" min="0" value={draft.seed.to_string()}
                                onchange={set(|c, v| if let Ok(n) = v.parse() { c.seed = n })} />
                        </div>
                    </div>
                </details>
                <button type="button" class="button button-primary" onclick={apply}
                    disabled={chosen == applied || studio.state.is_changing() || view.as_ref().is_some_and(|v| v.invalid.is_some())}
                    data-testid="apply-dedup">
                    { if *enabled { "Apply this deduplication" } else { "Apply: no deduplication" } }
                </button>
            </form>
            if let Some(view) = view {
                <DedupResult view={view} offset={*offset} onpage={page} />
            } else {
                <p class="muted">{ "Looking for duplicates…" }</p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct DedupResultProps {
    view: Rc<DedupView>,
    offset: usize,
    onpage: Callback<usize>,
}

/// Counts, clusters (a page at a time), leaks and contradictions.
#[component]
fn DedupResult(props: &DedupResultProps) -> Html {
    let v = &props.view;
    if let Some(why) = &v.invalid {
        return html! { <div class="alert alert-inline" role="alert" data-testid="dedup-invalid"><p>{ why }</p></div> };
    }
    let prev = {
        let onpage = props.onpage.clone();
        let to = props.offset.saturating_sub(PAGE);
        Callback::from(move |_: MouseEvent| onpage.emit(to))
    };
    let next = {
        let onpage = props.onpage.clone();
        let to = props.offset + PAGE;
        Callback::from(move |_: MouseEvent| onpage.emit(to))
    };
    html! {
        <section aria-labelledby="dups-title" data-testid="dedup-result">
            <h2 id="dups-title">{ "Duplicates" }</h2>
            <p class="before-after" data-testid="dedup-counts">
                { format!("{} exact and {} near duplicates in {} ({} clusters); {} would stay.",
                    format::count(v.exact as u64), format::count(v.near as u64),
                    format::plural(v.records as u64, "record", "records"),
                    format::count(v.clusters as u64),
                    format::count((v.records - v.exact - v.near) as u64)) }
                <span class="muted">{ format!(" ({:.0} ms)", v.ms) }</span>
            </p>
            for c in v.cluster_page.iter() {
                <div class="cluster" data-testid="cluster">
                    <div class="cluster-kept">
                        <p class="cluster-head"><span class="badge badge-ok">{ "kept" }</span>{ " " }{ where_(&c.kept) }</p>
                        <pre>{ &c.kept.text }</pre>
                    </div>
                    <div class="cluster-removed">
                        for (r, sim) in c.removed.iter() {
                            <p class="cluster-head">
                                <span class="badge badge-warning">{ match c.kind { DupKind::Exact => "exact copy", DupKind::Near => "near copy" } }</span>
                                { " " }{ where_(r) }{ format!(", similarity {sim:.2}") }
                            </p>
                            <pre>{ &r.text }</pre>
                        }
                    </div>
                </div>
            }
            if v.clusters > PAGE {
                <nav class="pager" aria-label="Clusters">
                    <button type="button" class="button" onclick={prev} disabled={props.offset == 0}>{ "Previous" }</button>
                    <span>{ format!("Clusters {}–{} of {}", props.offset + 1, (props.offset + PAGE).min(v.clusters), v.clusters) }</span>
                    <button type="button" class="button" onclick={next} disabled={props.offset + PAGE >= v.clusters}>{ "Next" }</button>
                </nav>
            }
            <h2>{ "Train/eval leakage" }</h2>
            <p data-testid="dedup-leaks">
                { format!("{} of the eval part (the session's split) duplicate a train record{}.",
                    format::plural(v.leaks as u64, "record", "records"),
                    if v.config.near { ", exactly or nearly" } else { " exactly" }) }
            </p>
            <Pairs pairs={v.leak_sample.clone()} first="eval" second="train" />
            if v.contradictions > 0 || !v.contradiction_sample.is_empty() {
                <h2>{ "Contradicting preferences" }</h2>
                <p data-testid="dedup-contradictions">
                    { format!("{} with a prompt seen before and chosen and rejected swapped.", format::plural(v.contradictions as u64, "record", "records")) }
                </p>
                <Pairs pairs={v.contradiction_sample.clone()} first="later" second="earlier" />
            }
        </section>
    }
}

fn where_(r: &RecordText) -> String {
    format!("record {} (line {})", r.record, r.line)
}

#[derive(Properties, PartialEq)]
struct PairsProps {
    pairs: Vec<PairView>,
    first: AttrValue,
    second: AttrValue,
}

/// Pairs of records side by side.
#[component]
fn Pairs(props: &PairsProps) -> Html {
    html! {
        <>
            for p in props.pairs.iter() {
                <div class="cluster">
                    <div><p class="cluster-head">{ format!("{} {}", props.first, where_(&p.first)) }</p><pre>{ &p.first.text }</pre></div>
                    <div><p class="cluster-head">{ format!("{} {}, similarity {:.2}", props.second, where_(&p.second), p.similarity) }</p><pre>{ &p.second.text }</pre></div>
                </div>
            }
        </>
    }
}
