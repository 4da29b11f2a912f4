//! The Clean page: every cleaning step of the data crate, each toggled and parameterised; a
//! preview (computed by the worker on every change) with before/after counts per step, the
//! dropped records and a word diff of a sample of changed records; then apply.

use std::rc::Rc;

use ajuste_shared::clean::{DEFAULT_REFUSAL_PHRASES, PiiKind, Step};
use yew::prelude::*;

use crate::app::Route;
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::use_studio;
use crate::format;
use crate::pages::{event_checked, event_value, sentence};
use crate::protocol::{Change, CleanPreview, Op, Request, Summary};

/// One step of the form: on or off, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub on: bool,
    pub step: Step,
}

/// The form's entries for an applied pipeline: every step in recommended order, those applied
/// on with their parameters, the others off with their defaults.
pub fn entries(applied: &[Step]) -> Vec<Entry> {
    Step::NAMES
        .iter()
        .filter_map(|name| {
            let applied = applied.iter().find(|s| s.name() == *name);
            let step = applied.cloned().or_else(|| Step::with_defaults(name))?;
            Some(Entry {
                on: applied.is_some(),
                step,
            })
        })
        .collect()
}

/// The steps that are on, in recommended order.
pub fn steps_of(entries: &[Entry]) -> Vec<Step> {
    let mut steps: Vec<Step> = entries
        .iter()
        .filter(|e| e.on)
        .map(|e| e.step.clone())
        .collect();
    steps.sort_by_key(Step::rank);
    steps
}

/// What a step does, in one sentence.
fn describe(step: &Step) -> &'static str {
    match step {
        Step::StripHtml => {
            "Turn HTML (scraped chat pages) into Markdown text; code blocks are kept."
        }
        Step::Nfkc => {
            "Unicode NFKC: full-width forms, ligatures and odd spaces become plain characters."
        }
        Step::ZeroWidth => "Remove zero-width characters and soft hyphens.",
        Step::Whitespace => {
            "Trim turns, collapse runs of spaces and blank lines, remove control characters."
        }
        Step::RepairTurns => {
            "Merge consecutive turns of one role, drop empty turns and dangling first or last turns."
        }
        Step::RedactPii { .. } => {
            "Replace emails, phone numbers, IP addresses, card numbers and IBANs with placeholders."
        }
        Step::DropRefusals { .. } => {
            "Drop records whose answers contain refusal or boilerplate phrases."
        }
        Step::Language { .. } => "Keep only records confidently detected in the languages listed.",
        Step::Length { .. } => "Drop records with fewer or more characters than the bounds.",
        Step::Repetition { .. } => {
            "Drop looping answers (Gopher's repeated-line and n-gram rules)."
        }
    }
}

/// The page at [`Route::Clean`].
#[component]
pub fn CleanPage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Clean {summary} /> },
        None => html! { <NeedsDataset route={Route::Clean} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Clean} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct CleanProps {
    summary: Rc<Summary>,
}

#[component]
fn Clean(props: &CleanProps) -> Html {
    let studio = use_studio();
    let applied = props.summary.clean.steps.clone();
    let draft = {
        let applied = applied.clone();
        use_state(move || entries(&applied))
    };
    {
        // A change applied (or undone) elsewhere resets the form to what is applied.
        let draft = draft.clone();
        use_effect_with(applied.clone(), move |applied| draft.set(entries(applied)));
    }
    let steps = steps_of(&draft);
    {
        // Preview every version of the form (and again when the session changes).
        let studio = studio.clone();
        use_effect_with(
            (steps.clone(), props.summary.generation),
            move |(steps, _)| {
                studio.send(Request::CleanPreview {
                    steps: steps.clone(),
                });
            },
        );
    }
    let update = {
        let draft = draft.clone();
        Callback::from(move |(i, entry): (usize, Entry)| {
            let mut next = (*draft).clone();
            next[i] = entry;
            draft.set(next);
        })
    };
    let preview = studio
        .state
        .clean
        .clone()
        .filter(|p| p.steps == steps && p.generation == props.summary.generation);
    let apply = {
        let studio = studio.clone();
        let steps = steps.clone();
        Callback::from(move |_: MouseEvent| studio.send(Request::Apply(Op::Clean(steps.clone()))))
    };
    let reset = {
        let draft = draft.clone();
        let applied = applied.clone();
        Callback::from(move |_: MouseEvent| draft.set(entries(&applied)))
    };
    let valid = preview.as_ref().is_some_and(|p| p.invalid.is_empty());
    let c = &props.summary.clean;
    html! {
        <div class="clean">
            <p class="lede" data-testid="clean-applied">
                { "Applied: " }
                <strong>{ if c.steps.is_empty() { "no cleaning".to_owned() } else { c.steps.iter().map(Step::name).collect::<Vec<_>>().join(", ") } }</strong>
                { format!(" — {} in, {} out.", format::plural(c.records_in as u64, "record", "records"), format::count(c.records_out as u64)) }
            </p>
            <div class="clean-grid">
                <form class="steps" aria-label="Cleaning steps" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                    for (i, entry) in draft.iter().enumerate() {
                        <StepEditor index={i} entry={entry.clone()} onchange={update.clone()} />
                    }
                    <div class="actions">
                        <button type="button" class="button button-primary" onclick={apply}
                            disabled={steps == applied || !valid || studio.state.is_changing()}
                            data-testid="apply-clean">
                            { "Apply these steps" }
                        </button>
                        <button type="button" class="button" onclick={reset} disabled={steps == applied}>
                            { "Back to what is applied" }
                        </button>
                    </div>
                </form>
                <section class="clean-preview" aria-labelledby="preview-title" data-testid="clean-preview">
                    <h2 id="preview-title">{ "Preview" }</h2>
                    if let Some(p) = preview {
                        <PreviewView preview={p} />
                    } else {
                        <p class="muted">{ "Computing…" }</p>
                    }
                </section>
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct StepEditorProps {
    index: usize,
    entry: Entry,
    onchange: Callback<(usize, Entry)>,
}

/// A step's switch and parameters.
#[component]
fn StepEditor(props: &StepEditorProps) -> Html {
    let Entry { on, step } = props.entry.clone();
    let name = step.name();
    let id = format!("step-{name}");
    let emit = {
        let onchange = props.onchange.clone();
        let index = props.index;
        move |entry: Entry| onchange.emit((index, entry))
    };
    let toggle = {
        let emit = emit.clone();
        let step = step.clone();
        Callback::from(move |e: Event| {
            emit(Entry {
                on: event_checked(&e),
                step: step.clone(),
            })
        })
    };
    let set = {
        let emit = emit.clone();
        move |step: Step| emit(Entry { on, step })
    };
    let params = match &step {
        Step::DropRefusals { phrases } => {
            let set = set.clone();
            let text = phrases.join("\n");
            let custom = !phrases.iter().eq(DEFAULT_REFUSAL_PHRASES.iter());
            html! {
                <div class="field">
                    <label for="refusal-phrases">{ "Phrases, one per line" }
                        if !custom { <span class="muted">{ " (the built-in list)" }</span> }
                    </label>
                    <textarea id="refusal-phrases" rows="4" value={text}
                        onchange={Callback::from(move |e: Event| set(Step::DropRefusals {
                            phrases: event_value(&e).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect(),
                        }))} />
                </div>
            }
        }
        Step::RedactPii { kinds } => html! {
            <fieldset class="inline-checks">
                <legend>{ "Kinds of personal data" }</legend>
                for kind in PiiKind::ALL {
                    <label>
                        <input type="checkbox" checked={kinds.contains(&kind)}
                            onchange={{
                                let set = set.clone();
                                let kinds = kinds.clone();
                                Callback::from(move |e: Event| {
                                    let mut next: Vec<PiiKind> = kinds.iter().copied().filter(|k| *k != kind).collect();
                                    if event_checked(&e) { next.push(kind); }
                                    next.sort();
                                    set(Step::RedactPii { kinds: next });
                                })
                            }} />
                        { kind.noun(2) }
                    </label>
                }
            </fieldset>
        },
        Step::Language { allow, min_chars } => {
            let (set_allow, set_min) = (set.clone(), set.clone());
            let (min, allow2) = (*min_chars, allow.clone());
            html! {
                <div class="field-row">
                    <div class="field">
                        <label for="language-allow">{ "Languages (ISO 639-3, comma-separated: eng, por)" }</label>
                        <input id="language-allow" type="text" value={allow.join(", ")}
                            onchange={Callback::from(move |e: Event| set_allow(Step::Language {
                                allow: event_value(&e).split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                                min_chars: min,
                            }))} />
                    </div>
                    <div class="field">
                        <label for="language-min">{ "Judge texts of at least (characters)" }</label>
                        <input id="language-min" type="number" min="0" value={min_chars.to_string()}
                            onchange={Callback::from(move |e: Event| set_min(Step::Language {
                                allow: allow2.clone(),
                                min_chars: event_value(&e).parse().unwrap_or(min),
                            }))} />
                    </div>
                </div>
            }
        }
        Step::Length {
            min_chars,
            max_chars,
        } => {
            let (set_min, set_max) = (set.clone(), set.clone());
            let (min, max) = (*min_chars, *max_chars);
            html! {
                <div class="field-row">
                    <div class="field">
                        <label for="length-min">{ "At least (characters)" }</label>
                        <input id="length-min" type="number" min="0" value={min.map(|v| v.to_string()).unwrap_or_default()}
                            onchange={Callback::from(move |e: Event| set_min(Step::Length { min_chars: event_value(&e).parse().ok(), max_chars: max }))} />
                    </div>
                    <div class="field">
                        <label for="length-max">{ "At most (characters)" }</label>
                        <input id="length-max" type="number" min="0" value={max.map(|v| v.to_string()).unwrap_or_default()}
                            onchange={Callback::from(move |e: Event| set_max(Step::Length { min_chars: min, max_chars: event_value(&e).parse().ok() }))} />
                    </div>
                </div>
            }
        }
        Step::Repetition { .. } => repetition_fields(&step, set.clone()),
        _ => Html::default(),
    };
    html! {
        <div class={classes!("step", on.then_some("is-on"))} data-testid={id.clone()}>
            <label class="step-switch" for={id.clone()}>
                <input type="checkbox" id={id.clone()} checked={on} onchange={toggle} />
                <span class="step-name"><code>{ name }</code></span>
                if step.is_safe() { <span class="badge badge-ok">{ "safe" }</span> }
                else { <span class="badge badge-warning">{ "changes text or drops records" }</span> }
            </label>
            <p class="step-doc muted">{ describe(&step) }</p>
            if on { { params } }
        </div>
    }
}

/// The six limits of the repetition rules, in a collapsed group.
fn repetition_fields(step: &Step, set: impl Fn(Step) + Clone + 'static) -> Html {
    let Step::Repetition {
        max_dup_line_frac,
        max_dup_line_char_frac,
        max_top_2gram_frac,
        max_top_3gram_frac,
        max_top_4gram_frac,
        min_words,
    } = step.clone()
    else {
        return Html::default();
    };
    let field = |label: &'static str, id: &'static str, value: f64, apply: fn(&mut Step, f64)| {
        let set = set.clone();
        let step = step.clone();
        html! {
            <div class="field">
                <label for={id}>{ label }</label>
                <input id={id} type="number" min="0" max="1" step="0.01" value={value.to_string()}
                    onchange={Callback::from(move |e: Event| {
                        if let Ok(v) = event_value(&e).parse::<f64>() {
                            let mut next = step.clone();
                            apply(&mut next, v);
                            set(next);
                        }
                    })} />
            </div>
        }
    };
    fn set_field(step: &mut Step, which: usize, v: f64) {
        if let Step::Repetition {
            max_dup_line_frac,
            max_dup_line_char_frac,
            max_top_2gram_frac,
            max_top_3gram_frac,
            max_top_4gram_frac,
            min_words,
        } = step
        {
            match which {
                0 => *max_dup_line_frac = v,
                1 => *max_dup_line_char_frac = v,
                2 => *max_top_2gram_frac = v,
                3 => *max_top_3gram_frac = v,
                4 => *max_top_4gram_frac = v,
                _ => *min_words = v as usize,
            }
        }
    }
    html! {
        <details class="params">
            <summary>{ "Limits (the command line uses the defaults)" }</summary>
            <div class="field-row">
                { field("Duplicate lines (share)", "rep-lines", max_dup_line_frac, |s, v| set_field(s, 0, v)) }
                { field("Characters in duplicate lines", "rep-line-chars", max_dup_line_char_frac, |s, v| set_field(s, 1, v)) }
                { field("Top 2-gram share", "rep-2", max_top_2gram_frac, |s, v| set_field(s, 2, v)) }
                { field("Top 3-gram share", "rep-3", max_top_3gram_frac, |s, v| set_field(s, 3, v)) }
                { field("Top 4-gram share", "rep-4", max_top_4gram_frac, |s, v| set_field(s, 4, v)) }
                { field("Judge answers of at least (words)", "rep-words", min_words as f64, |s, v| set_field(s, 5, v)) }
            </div>
        </details>
    }
}

#[derive(Properties, PartialEq)]
struct PreviewProps {
    preview: Rc<CleanPreview>,
}

/// Counts per step, the drops, and the word diffs.
#[component]
fn PreviewView(props: &PreviewProps) -> Html {
    let p = &props.preview;
    html! {
        <>
            if !p.invalid.is_empty() {
                <div class="alert alert-inline" role="alert" data-testid="clean-invalid">
                    for (step, why) in p.invalid.iter() {
                        <p><code>{ step }</code>{ ": " }{ sentence(why) }</p>
                    }
                </div>
            }
            <p class="before-after" data-testid="clean-counts">
                <span>{ format!("Before: {}", format::plural(p.records_in as u64, "record", "records")) }</span>
                <span aria-hidden="true">{ " → " }</span>
                <span>{ format!("after: {}", format::plural(p.records_out as u64, "record", "records")) }</span>
                <span class="muted">{ format!(" ({} changed, {} dropped)", format::count(p.changed as u64), format::count((p.records_in - p.records_out) as u64)) }</span>
            </p>
            if !p.reports.is_empty() {
                <table class="codes" data-testid="clean-steps">
                    <caption class="visually-hidden">{ "What each step did" }</caption>
                    <thead><tr>
                        <th scope="col">{ "Step" }</th>
                        <th scope="col" class="num">{ "Changed" }</th>
                        <th scope="col" class="num">{ "Dropped" }</th>
                    </tr></thead>
                    <tbody>
                        for r in p.reports.iter() {
                            <tr>
                                <td><code>{ &r.step }</code>
                                    if let Some(why) = &r.skipped { <span class="muted">{ format!(" skipped: {why}") }</span> }
                                </td>
                                <td class="num">{ format::count(r.changed as u64) }</td>
                                <td class="num">{ format::count(r.dropped as u64) }</td>
                            </tr>
                        }
                    </tbody>
                </table>
            }
            if !p.drops.is_empty() {
                <h3>{ "Dropped" }</h3>
                <ul class="drops" data-testid="clean-drops">
                    for d in p.drops.iter() {
                        <li>{ format!("Record {} (line {}), ", d.record, d.line) }<code>{ &d.step }</code>{ ": " }{ &d.reason }</li>
                    }
                </ul>
            }
            if !p.samples.is_empty() {
                <h3>{ format!("Changed ({} shown of {})", p.samples.len(), format::count(p.changed as u64)) }</h3>
                <p class="legend">
                    <span class="legend-item"><del>{ "struck out" }</del>{ ": in the record before, removed" }</span>
                    <span class="legend-item"><ins>{ "underlined" }</ins>{ ": in the record after, added" }</span>
                </p>
                for sample in p.samples.iter() {
                    <article class="diff" data-testid="clean-diff">
                        <h4>{ format!("Record {} (line {})", sample.record, sample.line) }</h4>
                        for turn in sample.turns.iter() {
                            <p class="diff-turn">
                                <span class="diff-where">
                                    <code>{ &turn.pointer }</code>
                                    if let Some(role) = turn.role { { format!(" {role}") } }
                                </span>
                                for part in turn.parts.iter() {
                                    { match part.change {
                                        Change::Same => html! { <span>{ &part.text }</span> },
                                        Change::Removed => html! { <del>{ &part.text }</del> },
                                        Change::Added => html! { <ins>{ &part.text }</ins> },
                                    } }
                                }
                            </p>
                        }
                    </article>
                }
            }
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_shows_every_step_with_the_applied_ones_on() {
        let e = entries(&Step::defaults());
        assert_eq!(e.len(), Step::NAMES.len());
        let on: Vec<&str> = e.iter().filter(|e| e.on).map(|e| e.step.name()).collect();
        assert_eq!(on, ["nfkc", "zero-width", "whitespace"]);
        assert_eq!(steps_of(&e), Step::defaults());
    }

    #[test]
    fn applied_parameters_are_kept_and_order_is_the_recommended_one() {
        let applied = vec![
            Step::Length {
                min_chars: Some(5),
                max_chars: None,
            },
            Step::StripHtml,
        ];
        let mut e = entries(&applied);
        assert!(e.iter().any(|x| x.on && x.step == applied[0]));
        let steps = steps_of(&e);
        assert_eq!(steps, [Step::StripHtml, applied[0].clone()]);
        e.iter_mut().for_each(|x| x.on = false);
        assert!(steps_of(&e).is_empty());
    }
}
