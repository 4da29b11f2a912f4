//! The Template page: pick a built-in template or load a model's tokenizer_config.json (and
//! chat_template.jinja), load its tokenizer.json, and see each record rendered with the trained
//! text and tokens highlighted, token counts, and the data crate's warnings over every record.

use std::rc::Rc;

use ajuste_shared::template::Builtin;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::app::Route;
use crate::components::dataset_card::severity_class;
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::{StudioContext, use_studio};
use crate::format;
use crate::pages::{event_value, sentence};
use crate::protocol::{Op, RenderView, Request, Summary, TemplateChoice, TemplateView};
use crate::state::{Action, Job};

/// The page at [`Route::Template`].
#[component]
pub fn TemplatePage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <TemplateBody {summary} /> },
        None => html! { <NeedsDataset route={Route::Template} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Template} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct BodyProps {
    summary: Rc<Summary>,
}

#[component]
fn TemplateBody(props: &BodyProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let position = use_state(|| 0usize);
    {
        let studio = studio.clone();
        use_effect_with((*position, s.generation), move |(position, _)| {
            studio.send(Request::Template {
                position: *position,
            });
        });
    }
    let t = &s.template;
    let on_builtin = {
        let studio = studio.clone();
        Callback::from(move |e: Event| {
            if let Ok(b) = event_value(&e).parse::<Builtin>() {
                studio.send(Request::Apply(Op::Template(TemplateChoice::Builtin(b))));
            }
        })
    };
    let on_hf = {
        let studio = studio.clone();
        Callback::from(move |e: Event| {
            if let Some(files) = input_files(&e) {
                load_hf_template(studio.clone(), files);
            }
        })
    };
    let on_tokenizer = {
        let studio = studio.clone();
        Callback::from(move |e: Event| {
            if let Some(file) = input_files(&e).and_then(|f| f.into_iter().next()) {
                studio.send_with(Request::SetTokenizer { name: file.name() }, file.into());
            }
        })
    };
    let no_tokenizer = {
        let studio = studio.clone();
        Callback::from(move |_: MouseEvent| studio.send(Request::Apply(Op::Tokenizer(None))))
    };
    let current_builtin = match &t.choice {
        TemplateChoice::Builtin(b) => Some(*b),
        TemplateChoice::HuggingFace { .. } => None,
    };
    let view = studio
        .state
        .template
        .clone()
        .filter(|v| v.generation == s.generation);
    let go = {
        let position = position.clone();
        Callback::from(move |p: usize| position.set(p))
    };
    html! {
        <div class="template">
            <p class="lede" data-testid="template-current">
                { "Template: " }<strong>{ &t.name }</strong>
                { match &t.choice {
                    TemplateChoice::Builtin(_) => " (built-in)".to_owned(),
                    TemplateChoice::HuggingFace { config_name, jinja, .. } => format!(" (from {config_name}{})", if jinja.is_some() { " and chat_template.jinja" } else { "" }),
                } }
                { "; tokenizer: " }
                <strong data-testid="tokenizer-current">{ match &t.tokenizer {
                    Some(tok) => format!("{} ({} tokens)", tok.name, format::count(tok.vocab_size as u64)),
                    None => "none (load one for token counts)".to_owned(),
                } }</strong>
                { format!(". Maximum length {} tokens.", format::count(s.max_length as u64)) }
            </p>
            if let Some(error) = &t.error {
                <div class="alert alert-inline" role="alert"><p>{ sentence(error) }</p></div>
            }
            if let Some(error) = studio.state.error_of(Job::Tokenizer) {
                <div class="alert alert-inline" role="alert" data-testid="tokenizer-error"><p>{ sentence(error) }</p></div>
            }
            <form class="template-form" aria-label="Template and tokenizer" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                <div class="field">
                    <label for="builtin-select">{ "Built-in template" }</label>
                    <select id="builtin-select" onchange={on_builtin} disabled={studio.state.is_changing()}>
                        if current_builtin.is_none() { <option value="" selected=true>{ "(a model's own template)" }</option> }
                        for b in Builtin::ALL {
                            <option value={b.as_str()} selected={current_builtin == Some(b)}>{ b.as_str() }</option>
                        }
                    </select>
                </div>
                <div class="field">
                    <label for="hf-template">{ "Or a model's tokenizer_config.json (and chat_template.jinja)" }</label>
                    <input id="hf-template" type="file" multiple=true accept=".json,.jinja" onchange={on_hf} />
                </div>
                <div class="field">
                    <label for="tokenizer-file">{ "Tokenizer (tokenizer.json)" }</label>
                    <input id="tokenizer-file" type="file" accept=".json" onchange={on_tokenizer} />
                    if t.tokenizer.is_some() {
                        <button type="button" class="link-button" onclick={no_tokenizer}>{ "Use no tokenizer" }</button>
                    }
                </div>
            </form>
            if let Some(v) = view {
                <Overall view={v.clone()} />
                <RecordRender view={v} onposition={go} />
            } else if let Some(error) = studio.state.error_of(Job::Template) {
                <div class="alert alert-inline" role="alert"><p>{ sentence(error) }</p></div>
            } else {
                <p class="muted">{ "Rendering…" }</p>
            }
        </div>
    }
}

/// The files chosen in the `<input type=file>` that fired `e`.
fn input_files(e: &Event) -> Option<Vec<web_sys::File>> {
    let input: web_sys::HtmlInputElement = e.target()?.dyn_into().ok()?;
    let list = input.files()?;
    let files = (0..list.length()).filter_map(|i| list.get(i)).collect();
    // Choosing the same files again must fire `change` again.
    input.set_value("");
    Some(files)
}

/// Reads tokenizer_config.json (and chat_template.jinja, when given) as text and sets the
/// template. These files are small; the text is read without blocking the page.
fn load_hf_template(studio: StudioContext, files: Vec<web_sys::File>) {
    spawn_local(async move {
        let mut config = None;
        let mut jinja = None;
        for file in files {
            let name = file.name();
            let text = match JsFuture::from(file.text()).await {
                Ok(t) => t.as_string().unwrap_or_default(),
                Err(e) => {
                    return report(
                        &studio,
                        format!("{name} could not be read: {}", crate::client::js_message(e)),
                    );
                }
            };
            if name.ends_with(".jinja") {
                jinja = Some(text);
            } else {
                config = Some((name, text));
            }
        }
        let (config_name, config) = match config {
            Some(c) => c,
            // A template alone: its special tokens are unknown, as transformers 5 keeps them
            // in tokenizer_config.json.
            None => ("tokenizer_config.json".to_owned(), "{}".to_owned()),
        };
        studio.send(Request::Apply(Op::Template(TemplateChoice::HuggingFace {
            config_name,
            config,
            jinja,
        })));
    });
}

fn report(studio: &StudioContext, message: String) {
    studio.state.dispatch(Action::Received {
        id: 0,
        response: crate::protocol::Response::Failed {
            what: "template".into(),
            message,
        },
        url: None,
    });
}

#[derive(Properties, PartialEq)]
struct ViewProps {
    view: Rc<TemplateView>,
}

/// The template over every record: findings by code and token totals.
#[component]
fn Overall(props: &ViewProps) -> Html {
    let o = &props.view.overall;
    html! {
        <section aria-labelledby="overall-title" data-testid="template-overall">
            <h2 id="overall-title">{ "Every record" }</h2>
            <p>
                { format!("{} rendered in {:.0} ms", format::plural(o.records as u64, "record", "records"), o.ms) }
                if let (Some(tokens), Some(trained)) = (o.tokens, o.trained_tokens) {
                    <span data-testid="template-tokens">{ format!("; {} tokens, {} trained ({:.0}%)", format::count(tokens), format::count(trained), 100.0 * trained as f64 / tokens.max(1) as f64) }</span>
                }
                if let Some(longest) = o.longest { { format!("; the longest needs {} tokens", format::count(longest as u64)) } }
                { "." }
            </p>
            if o.untrained > 0 {
                <p class="alert alert-inline" role="alert">{ format!("{} have no trained text: the model learns nothing from them.", format::plural(o.untrained as u64, "record", "records")) }</p>
            }
            if !props.view.template_findings.is_empty() {
                <ul class="record-findings">
                    for f in props.view.template_findings.iter() {
                        <li><span class={classes!("badge", severity_class(f.severity))}>{ f.severity.as_str() }</span>{ " " }<code>{ f.code.as_str() }</code>{ " " }{ sentence(&f.message) }</li>
                    }
                </ul>
            }
            if o.by_code.is_empty() {
                <p class="note" data-testid="template-clean">{ "No warnings: every record has trained text, the end-of-turn token is trained, no role is dropped, nothing is cut." }</p>
            } else {
                <table class="codes" data-testid="template-codes">
                    <caption class="visually-hidden">{ "Warnings over every record" }</caption>
                    <thead><tr><th scope="col">{ "Code" }</th><th scope="col" class="num">{ "Records" }</th><th scope="col">{ "What it means" }</th></tr></thead>
                    <tbody>
                        for (code, count) in o.by_code.iter() {
                            <tr>
                                <td><code>{ code.as_str() }</code></td>
                                <td class="num" data-testid={format!("template-count-{}", code.as_str())}>{ format::count(*count as u64) }</td>
                                <td class="muted">{ code.doc().what }</td>
                            </tr>
                        }
                    </tbody>
                </table>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct RecordRenderProps {
    view: Rc<TemplateView>,
    onposition: Callback<usize>,
}

/// One record: navigation, its renderings and their findings.
#[component]
fn RecordRender(props: &RecordRenderProps) -> Html {
    let v = &props.view;
    let prev = {
        let on = props.onposition.clone();
        let to = v.position.saturating_sub(1);
        Callback::from(move |_: MouseEvent| on.emit(to))
    };
    let next = {
        let on = props.onposition.clone();
        let to = v.position + 1;
        Callback::from(move |_: MouseEvent| on.emit(to))
    };
    let jump = {
        let on = props.onposition.clone();
        Callback::from(move |e: Event| {
            if let Ok(n) = event_value(&e).parse::<usize>() {
                on.emit(n.saturating_sub(1));
            }
        })
    };
    html! {
        <section aria-labelledby="render-title" data-testid="template-record">
            <h2 id="render-title">{ "Rendered record" }</h2>
            <nav class="pager" aria-label="Records">
                <button type="button" class="button" onclick={prev} disabled={v.position == 0}>{ "Previous" }</button>
                <label for="record-position">{ "Record" }</label>
                <input id="record-position" type="number" min="1" max={v.records.to_string()}
                    value={(v.position + 1).to_string()} onchange={jump} />
                <span>{ format!("of {} (source record {}, line {})", format::count(v.records as u64), v.record, v.line) }</span>
                <button type="button" class="button" onclick={next} disabled={v.position + 1 >= v.records}>{ "Next" }</button>
            </nav>
            <p class="legend" data-testid="template-legend">
                <span class="legend-item"><mark class="trained swatch">{ "trained" }</mark>{ " text and tokens: the loss is computed on them" }</span>
                <span class="legend-item"><span class="context swatch">{ "context" }</span>{ " (prompt, template markup): seen, not trained" }</span>
                if v.renders.iter().any(|r| r.segments.iter().any(|s| s.cut)) {
                    <span class="legend-item"><del class="cut swatch">{ "cut" }</del>{ " past the maximum length: not seen in training" }</span>
                }
            </p>
            for r in v.renders.iter() {
                <Render render={r.clone()} />
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct RenderProps {
    render: RenderView,
}

#[component]
fn Render(props: &RenderProps) -> Html {
    let r = &props.render;
    html! {
        <article class="render">
            if !r.label.is_empty() { <h3>{ &r.label }</h3> }
            <pre class="rendered" data-testid="rendered">
                for seg in r.segments.iter() {
                    if seg.cut {
                        <del class="cut" title="cut: past the maximum length, not trained">{ &seg.text }</del>
                    } else if seg.trained {
                        <mark class="trained" title={seg.role.map(|r| format!("{r}, trained")).unwrap_or_default()}>{ &seg.text }</mark>
                    } else {
                        <span class="context" title={seg.role.map(|r| r.to_string()).unwrap_or_default()}>{ &seg.text }</span>
                    }
                }
            </pre>
            if let (Some(count), Some(trained)) = (r.token_count, r.trained_tokens) {
                <p data-testid="token-counts">{ format!("{} tokens, {} trained.", format::count(count as u64), format::count(trained as u64)) }</p>
                if let Some(tokens) = &r.tokens {
                    <p class="tokens" aria-label="Tokens">
                        for t in tokens.iter() {
                            <span class={classes!("token", t.trained.then_some("trained"))} title={format!("id {}{}", t.id, if t.trained { ", trained" } else { "" })}>{ t.text.replace('\n', "↵") }</span>
                        }
                    </p>
                }
            }
            if !r.findings.is_empty() {
                <ul class="record-findings" data-testid="render-findings">
                    for f in r.findings.iter() {
                        <li><span class={classes!("badge", severity_class(f.severity))}>{ f.severity.as_str() }</span>{ " " }<code>{ f.code.as_str() }</code>{ " " }{ sentence(&f.message) }</li>
                    }
                </ul>
            }
        </article>
    }
}
