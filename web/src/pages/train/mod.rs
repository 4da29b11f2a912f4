//! The Train page: a short fine-tune of a small model on the session's data, in a worker of its
//! own (crate `ajuste-train-worker`, fetched the first time this page opens), on WebGPU or on the
//! CPU (burn's flex backend).
//!
//! The user picks the model (the micro model shipped with the studio, or a Hugging Face
//! directory from disk: checked from its `config.json` before anything loads), the backend
//! (WebGPU when the browser has a usable adapter; why not, when it has none), the method and
//! adapter with per-method defaults; starts, pauses, resumes, stops; watches loss, learning rate,
//! gradient norm, tokens/s and the preference metrics; compares the evaluation before and after;
//! chats with the base model and the adapter side by side; downloads the adapter in PEFT format
//! with the run's `events.jsonl`. The page shows the `ajuste train` line that makes the same run
//! natively.

pub mod chart;
pub mod store;
pub mod view;

use std::collections::BTreeMap;
use std::rc::Rc;

use ajuste_shared::config::{AdapterKind, Method};
use ajuste_shared::train_protocol::{
    Backend, ChatReply, ChatSettings, ModelCheck, ModelSource, TrainSettings,
};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use self::chart::{LineChart, Series};
use self::store::{Form, ModelChoice, SHIPPED_NAME, Store, store};
use self::view::{Phase, TrainView, WorkerState};
use crate::app::Route;
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::{StudioContext, use_studio};
use crate::format;
use crate::pages::{event_value, sentence};
use crate::protocol::Summary;
use crate::state::Job;

/// The page at [`Route::Train`].
#[component]
pub fn TrainPage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Train {summary} /> },
        None => html! { <NeedsDataset route={Route::Train} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Train} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct TrainProps {
    summary: Rc<Summary>,
}

/// The methods offered for the session's data (its record kind).
fn methods_for(summary: &Summary) -> Vec<Method> {
    TrainSettings::METHODS
        .into_iter()
        .filter(|m| m.kind() == summary.file.kind)
        .collect()
}

/// The form a first visit starts with: the session's method when offered, its defaults.
fn default_form(summary: &Summary) -> Form {
    let methods = methods_for(summary);
    let method = if methods.contains(&summary.method) {
        summary.method
    } else {
        methods.first().copied().unwrap_or(Method::Sft)
    };
    Form {
        choice: ModelChoice::Shipped,
        url: String::new(),
        backend: None,
        settings: TrainSettings::defaults(method),
        drafts: Default::default(),
        prompt: String::new(),
        chat: ChatSettings::default(),
    }
}

/// The backend the page uses: the user's, else WebGPU on a hardware adapter, else the CPU.
fn backend_of(form: &Form, view: &TrainView) -> Backend {
    let hardware = view
        .probe
        .as_ref()
        .is_some_and(|p| p.webgpu.as_ref().is_ok_and(|g| !g.software));
    form.backend.unwrap_or(if hardware {
        Backend::WebGpu
    } else {
        Backend::Cpu
    })
}

/// Subscribes the component to the store; returns it.
#[hook]
fn use_train_store() -> Rc<Store> {
    let store = use_memo((), |_| store());
    let update = use_force_update();
    {
        let store = store.clone();
        use_effect_with((), move |_| {
            let id = store.subscribe(Callback::from(move |()| update.force_update()));
            move || store.unsubscribe(id)
        });
    }
    (*store).clone()
}

#[component]
fn Train(props: &TrainProps) -> Html {
    let studio = use_studio();
    let store = use_train_store();
    let s = &props.summary;
    let mut form = store.form(|| default_form(s));
    if form.settings.method.kind() != s.file.kind {
        // Another dataset, of another kind, was loaded since.
        form = default_form(s);
        store.set_form(form.clone());
    }
    let view = store.view().clone();
    let backend = backend_of(&form, &view);
    let picked = store.picked();
    {
        // Check the model whenever what decides the fit changes.
        let store = store.clone();
        let key = (
            form.choice.clone(),
            backend,
            form.settings.clone(),
            picked.clone(),
        );
        use_effect_with(key, move |(choice, backend, settings, _)| {
            store.check(choice, *backend, settings);
        });
    }
    {
        // A bundle the studio worker could not make ends the start.
        let store = store.clone();
        let error = studio.state.error_of(Job::Export).map(str::to_owned);
        use_effect_with(error, move |error| {
            if let Some(message) = error {
                store.bundle_failed(message);
            }
        });
    }
    let edit = {
        let store = store.clone();
        Callback::from(move |change: Edit| store.edit_form(|f| change(f)))
    };
    html! {
        <div class="train">
            if let WorkerState::Died(message) = &view.worker {
                <div class="alert" role="alert" data-testid="train-worker-died">
                    <p>{ format!("The training worker stopped: {}", sentence(message)) }</p>
                    <button type="button" class="button" onclick={{
                        let store = store.clone();
                        Callback::from(move |_| store.restart())
                    }}>{ "Start it again" }</button>
                </div>
            }
            if view.worker == WorkerState::Loading {
                <p class="note" data-testid="train-worker-loading">{ "Loading the training engine…" }</p>
            }
            <ModelCard form={form.clone()} edit={edit.clone()} check={view.check.clone()} picked={picked.clone()} store={StoreRef(store.clone())} />
            <BackendCard form={form.clone()} edit={edit.clone()} view={Rc::new(view.clone())} {backend} />
            <SettingsCard form={form.clone()} edit={edit.clone()} summary={props.summary.clone()} {backend}
                context={view.check.as_ref().and_then(|c| c.as_ref().ok()).map(|c| c.context)}
                disabled={view.phase.is_active()} model={native_model(&form.choice, picked.as_ref().map(|p| p.0.as_str()))} />
            <Controls form={form.clone()} view={Rc::new(view.clone())} {backend} studio_busy={studio.state.is_changing()} store={StoreRef(store.clone())} />
            <Progress view={Rc::new(view.clone())} />
            <Evaluation view={Rc::new(view.clone())} />
            <Chat form={form} {edit} view={Rc::new(view.clone())} store={StoreRef(store.clone())} />
            <AdapterCard view={Rc::new(view)} store={StoreRef(store)} />
        </div>
    }
}

/// A change to the form, applied to the store's current form when the event fires (never to a
/// copy captured at render time, which a quicker second event would overwrite).
pub type Edit = Rc<dyn Fn(&mut Form)>;

/// The store, as a prop (compared by identity).
#[derive(Clone)]
struct StoreRef(Rc<Store>);

impl PartialEq for StoreRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Properties, PartialEq)]
struct ModelCardProps {
    form: Form,
    edit: Callback<Edit>,
    check: Option<Result<ModelCheck, String>>,
    picked: Option<(String, Vec<String>)>,
    store: StoreRef,
}

#[component]
fn ModelCard(props: &ModelCardProps) -> Html {
    let choose = |choice: ModelChoice| {
        let edit = props.edit.clone();
        Callback::from(move |_: Event| {
            let choice = choice.clone();
            edit.emit(Rc::new(move |f: &mut Form| f.choice = choice.clone()))
        })
    };
    let on_pick = {
        let (edit, store) = (props.edit.clone(), props.store.0.clone());
        Callback::from(move |e: Event| {
            let input = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
            if let Some(files) = input.and_then(|i| i.files())
                && files.length() > 0
            {
                store.pick(&files);
                edit.emit(Rc::new(|f: &mut Form| f.choice = ModelChoice::Picked));
            }
        })
    };
    let on_url_input = {
        let edit = props.edit.clone();
        Callback::from(move |e: InputEvent| {
            let text = event_value(&e);
            edit.emit(Rc::new(move |f: &mut Form| f.url = text.clone()))
        })
    };
    // The URL is read when the field is left (or Enter is pressed), not at every key.
    let use_url = {
        let edit = props.edit.clone();
        Callback::from(move |_: Event| {
            edit.emit(Rc::new(|f: &mut Form| {
                f.choice = ModelChoice::Url(f.url.clone())
            }))
        })
    };
    let choice = &props.form.choice;
    html! {
        <section class="card" aria-labelledby="model-title">
            <h2 id="model-title">{ "Model" }</h2>
            <div class="choice-list">
                <label class="choice">
                    <input type="radio" name="model" checked={*choice == ModelChoice::Shipped} onchange={choose(ModelChoice::Shipped)} data-testid="model-shipped" />
                    <span>
                        <strong>{ format!("The {SHIPPED_NAME} model") }</strong>
                        { " shipped with the studio: a small Llama made for trying things out in a browser tab." }
                    </span>
                </label>
                <label class="choice">
                    <input type="radio" name="model" checked={*choice == ModelChoice::Picked} disabled={props.picked.is_none()}
                        onchange={choose(ModelChoice::Picked)} data-testid="model-picked" />
                    <span>
                        <strong>{ "A Hugging Face model directory" }</strong>
                        { " from this computer (config.json, tokenizer.json and safetensors weights; Llama, Mistral or Qwen2). Nothing is uploaded." }
                    </span>
                </label>
                <label class="choice">
                    <input type="radio" name="model" checked={matches!(choice, ModelChoice::Url(_))}
                        onchange={use_url.clone()} data-testid="model-url-choice" />
                    <span>
                        <strong>{ "A model at a URL" }</strong>
                        { " on the web: a Hugging Face model's page, or any address that serves a model directory's files. They are downloaded into this tab; nothing is uploaded." }
                    </span>
                </label>
            </div>
            <div class="field-row">
                <div class="field">
                    <label for="model-dir">{ "Model directory" }</label>
                    <input id="model-dir" type="file" webkitdirectory={true} multiple={true} onchange={on_pick} data-testid="model-dir" />
                    if let Some((name, files)) = &props.picked {
                        <p class="muted" data-testid="model-picked-files">{ format!("{name}: {}", files.join(", ")) }</p>
                    }
                </div>
                <div class="field field-wide">
                    <label for="model-url">{ "Model URL" }</label>
                    <input id="model-url" type="url" value={props.form.url.clone()} oninput={on_url_input} onchange={use_url}
                        placeholder="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct" data-testid="model-url" />
                </div>
            </div>
            <div aria-live="polite">
                { match &props.check {
                    None => html! { <p class="muted" data-testid="model-check-pending">{ "Reading the model's config.json…" }</p> },
                    Some(Err(message)) => html! {
                        <div class="alert alert-inline" role="alert" data-testid="model-check-error"><p>{ sentence(message) }</p></div>
                    },
                    Some(Ok(c)) => html! { <ModelFacts check={c.clone()} /> },
                } }
            </div>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct ModelFactsProps {
    check: ModelCheck,
}

#[component]
fn ModelFacts(props: &ModelFactsProps) -> Html {
    let c = &props.check;
    html! {
        <>
            <p data-testid="model-check" data-parameters={c.parameters.to_string()}>
                { format!("{}: {}, {} parameters, {} layers, hidden size {}, vocabulary {}, context {} tokens. A run needs about {}.",
                    c.name, c.model_type, parameters(c.parameters), c.layers, c.hidden_size,
                    format::count(c.vocab_size as u64), format::count(c.context as u64), format::bytes(c.estimated_bytes)) }
            </p>
            if let Some(problem) = &c.problem {
                <div class="alert alert-inline" role="alert" data-testid="model-too-large"><p>{ sentence(problem) }</p></div>
            }
            if !c.missing.is_empty() {
                <div class="alert alert-inline" role="alert" data-testid="model-missing">
                    <p>{ format!("The directory has no {}: the run needs it.", c.missing.join(" and no ")) }</p>
                </div>
            }
        </>
    }
}

/// `2.1 million`, `134.5 million`, `1.2 billion`.
fn parameters(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.1} billion", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} million", f / 1e6)
    } else {
        format::count(n)
    }
}

#[derive(Properties, PartialEq)]
struct BackendCardProps {
    form: Form,
    edit: Callback<Edit>,
    view: Rc<TrainView>,
    backend: Backend,
}

#[component]
fn BackendCard(props: &BackendCardProps) -> Html {
    let choose = |b: Backend| {
        let edit = props.edit.clone();
        Callback::from(move |_: Event| edit.emit(Rc::new(move |f: &mut Form| f.backend = Some(b))))
    };
    let webgpu = props.view.probe.as_ref().map(|p| p.webgpu.clone());
    let usable = matches!(webgpu, Some(Ok(_)));
    let disabled = props.view.phase.is_active();
    html! {
        <section class="card" aria-labelledby="backend-title">
            <h2 id="backend-title">{ "Backend" }</h2>
            <div aria-live="polite" data-testid="webgpu-status">
                { match &webgpu {
                    None => html! { <p class="muted">{ "Looking for WebGPU…" }</p> },
                    Some(Ok(gpu)) => html! {
                        <>
                            <p data-testid="webgpu-ok" data-software={gpu.software.to_string()}>
                                { format!("WebGPU works here: {}.", [&gpu.vendor, &gpu.architecture, &gpu.description]
                                    .into_iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" ")) }
                            </p>
                            if gpu.software {
                                <p class="note">{ "This adapter is a software renderer (SwiftShader): every GPU kernel runs on the CPU, so the CPU backend is much faster on this machine." }</p>
                            }
                        </>
                    },
                    Some(Err(why)) => html! {
                        <div class="alert alert-inline" role="status" data-testid="webgpu-missing">
                            <p>{ format!("WebGPU cannot be used: {}", sentence(why)) }</p>
                            <p>{ "Train on the CPU instead (burn's flex backend): it works in every browser, and for models this small it is fast." }</p>
                        </div>
                    },
                } }
            </div>
            <div class="choice-list">
                <label class="choice">
                    <input type="radio" name="backend" checked={props.backend == Backend::WebGpu} disabled={!usable || disabled}
                        onchange={choose(Backend::WebGpu)} data-testid="backend-webgpu" />
                    <span><strong>{ "WebGPU" }</strong>{ " (the GPU, through the browser)" }</span>
                </label>
                <label class="choice">
                    <input type="radio" name="backend" checked={props.backend == Backend::Cpu} disabled={disabled}
                        onchange={choose(Backend::Cpu)} data-testid="backend-cpu" />
                    <span><strong>{ "CPU" }</strong>{ " (burn's flex backend, one core of this tab)" }</span>
                </label>
            </div>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct SettingsCardProps {
    form: Form,
    edit: Callback<Edit>,
    summary: Rc<Summary>,
    backend: Backend,
    context: Option<usize>,
    disabled: bool,
    /// The native command's `--model`, and how to download it there first (a model at a URL).
    model: (String, Option<String>),
}

#[component]
fn SettingsCard(props: &SettingsCardProps) -> Html {
    let s = &props.form.settings;
    // A number field: every keystroke is kept as typed and applied when it reads as a number;
    // leaving the field drops what was typed if it did.
    let typed = |id: &'static str, change: fn(&mut TrainSettings, &str) -> bool| {
        let edit = props.edit.clone();
        Callback::from(move |e: InputEvent| {
            let text = event_value(&e);
            edit.emit(Rc::new(move |f: &mut Form| {
                f.drafts.insert(id, text.clone());
                let _ = change(&mut f.settings, text.trim());
            }))
        })
    };
    let left = |id: &'static str| {
        let edit = props.edit.clone();
        Callback::from(move |_: Event| {
            edit.emit(Rc::new(move |f: &mut Form| {
                f.drafts.remove(id);
            }))
        })
    };
    let on_adapter = {
        let edit = props.edit.clone();
        Callback::from(move |e: Event| {
            if let Ok(kind) = event_value(&e).parse::<AdapterKind>() {
                edit.emit(Rc::new(move |f: &mut Form| f.settings.adapter = kind));
            }
        })
    };
    let on_method = {
        let edit = props.edit.clone();
        Callback::from(move |e: Event| {
            if let Ok(m) = event_value(&e).parse::<Method>() {
                edit.emit(Rc::new(move |f: &mut Form| {
                    f.settings = TrainSettings::defaults(m);
                    f.drafts.clear();
                }));
            }
        })
    };
    let reset = {
        let edit = props.edit.clone();
        Callback::from(move |_: MouseEvent| {
            edit.emit(Rc::new(|f: &mut Form| {
                f.settings = TrainSettings::defaults(f.settings.method);
                f.drafts.clear();
            }))
        })
    };
    let number = |id: &'static str,
                  label: &'static str,
                  value: String,
                  step: &'static str,
                  min: &'static str,
                  change: fn(&mut TrainSettings, &str) -> bool| {
        let value = props.form.drafts.get(id).cloned().unwrap_or(value);
        html! {
            <div class="field">
                <label for={id}>{ label }</label>
                <input id={id} type="number" value={value} step={step} min={min} disabled={props.disabled}
                    oninput={typed(id, change)} onchange={left(id)} data-testid={id} />
            </div>
        }
    };
    let (model_arg, download) = props.model.clone();
    let mut args: Vec<String> = vec![
        "ajuste".into(),
        "train".into(),
        props.summary.bundle_name.clone(),
        "--model".into(),
        model_arg.clone(),
    ];
    args.extend(s.cli_args(props.backend, props.context));
    args.extend(["-o".into(), "train-run".into()]);
    let command = ajuste_shared::command::shell_line(&args);
    let problem = s.check().err();
    html! {
        <section class="card" aria-labelledby="settings-title">
            <h2 id="settings-title">{ "Method and adapter" }</h2>
            <div class="field-row">
                <div class="field">
                    <label for="train-method">{ "Method" }</label>
                    <select id="train-method" onchange={on_method} disabled={props.disabled} data-testid="train-method">
                        for m in methods_for(&props.summary) {
                            <option value={m.as_str()} selected={s.method == m}>{ method_label(m) }</option>
                        }
                    </select>
                </div>
                <div class="field">
                    <label for="train-adapter">{ "Adapter" }</label>
                    <select id="train-adapter" disabled={props.disabled} data-testid="train-adapter"
                        onchange={on_adapter}>
                        for a in TrainSettings::ADAPTERS {
                            <option value={a.as_str()} selected={s.adapter == a}>{ adapter_label(a) }</option>
                        }
                    </select>
                </div>
                { number("train-rank", "Rank", s.rank.to_string(), "1", "1", |t, v| v.parse().map(|n| t.rank = n).is_ok()) }
                { number("train-alpha", "Alpha", s.alpha.to_string(), "any", "0", |t, v| v.parse().map(|n| t.alpha = n).is_ok()) }
            </div>
            <div class="field-row">
                { number("train-lr", "Learning rate", s.learning_rate.to_string(), "any", "0", |t, v| v.parse().map(|n| t.learning_rate = n).is_ok()) }
                { number("train-steps", "Steps", s.steps.to_string(), "1", "1", |t, v| v.parse().map(|n| t.steps = n).is_ok()) }
                { number("train-batch", "Batch size", s.batch_size.to_string(), "1", "1", |t, v| v.parse().map(|n| t.batch_size = n).is_ok()) }
                { number("train-max-length", "Max tokens", s.max_length.to_string(), "1", "8", |t, v| v.parse().map(|n| t.max_length = n).is_ok()) }
                { number("train-seed", "Seed", s.seed.to_string(), "1", "0", |t, v| v.parse().map(|n| t.seed = n).is_ok()) }
            </div>
            <p class="muted">{ method_note(s.method) }</p>
            <button type="button" class="button" onclick={reset} disabled={props.disabled} data-testid="train-defaults">
                { format!("Defaults for {}", method_label(s.method)) }
            </button>
            if let Some(problem) = problem {
                <div class="alert alert-inline" role="alert" data-testid="settings-error"><p>{ sentence(&problem) }</p></div>
            }
            <div class="command">
                <p class="muted">{ "The same run natively (after downloading the bundle on the Export page):" }</p>
                <div class="command-block">
                    <pre data-testid="train-native-command"><code>{ command }</code></pre>
                </div>
                if let Some(how) = download {
                    <p class="muted" data-testid="train-native-download">{ how }</p>
                }
            </div>
        </section>
    }
}

/// The native command's `--model` for `choice`, and, for a model at a URL, how to download it
/// into that directory first.
fn native_model(choice: &ModelChoice, picked: Option<&str>) -> (String, Option<String>) {
    match choice {
        ModelChoice::Shipped => (format!("static/models/{SHIPPED_NAME}"), None),
        ModelChoice::Picked => (picked.unwrap_or("MODEL_DIR").to_owned(), None),
        ModelChoice::Url(text) => match ModelSource::from_url(text) {
            Ok(source) => {
                let dir = source.name().to_owned();
                let how = match source.hugging_face_repo() {
                    Some((repo, revision)) => format!(
                        "download it first with `{}`",
                        ajuste_shared::command::shell_line(
                            &[
                                "hf",
                                "download",
                                &repo,
                                "--revision",
                                &revision,
                                "--local-dir",
                                &dir
                            ]
                            .map(str::to_owned)
                        )
                    ),
                    None => format!("download the files at {} into {dir}/ first", text.trim()),
                };
                let how = format!("ajuste reads the model from a directory: {how}.");
                (dir, Some(how))
            }
            Err(_) => ("MODEL_DIR".to_owned(), None),
        },
    }
}

fn method_label(m: Method) -> &'static str {
    match m {
        Method::Sft => "SFT",
        Method::Dpo => "DPO",
        Method::Simpo => "SimPO",
        Method::Kto => "KTO",
        Method::Orpo => "ORPO",
    }
}

fn adapter_label(a: AdapterKind) -> &'static str {
    match a {
        AdapterKind::Lora => "LoRA",
        AdapterKind::Rslora => "rsLoRA",
        AdapterKind::Dora => "DoRA",
        AdapterKind::Qlora => "QLoRA",
        AdapterKind::None => "Full fine-tune",
    }
}

fn method_note(m: Method) -> &'static str {
    match m {
        Method::Sft => {
            "SFT: cross-entropy on the trained (assistant) tokens the Template page shows."
        }
        Method::Dpo => {
            "DPO: prefers chosen over rejected relative to the base model (β 0.1); the base's log-probs are computed once before the first step."
        }
        Method::Simpo => {
            "SimPO: length-normalised preference margin without a reference model (β 2, γ 1, as the paper recommends)."
        }
        Method::Kto => {
            "KTO: desirable and undesirable completions with a KL baseline from the batch (β 0.1); needs a batch of at least 2."
        }
        Method::Orpo => "ORPO: SFT plus an odds-ratio preference term.",
    }
}

#[derive(Properties, PartialEq)]
struct ControlsProps {
    form: Form,
    view: Rc<TrainView>,
    backend: Backend,
    studio_busy: bool,
    store: StoreRef,
}

#[component]
fn Controls(props: &ControlsProps) -> Html {
    let studio = use_studio();
    let v = &props.view;
    let store = props.store.0.clone();
    let check_ok = matches!(&v.check, Some(Ok(c)) if c.problem.is_none() && c.missing.is_empty());
    let webgpu_ok =
        props.backend == Backend::Cpu || v.probe.as_ref().is_some_and(|p| p.webgpu.is_ok());
    let can_start = !v.phase.is_active()
        && v.worker == WorkerState::Ready
        && check_ok
        && webgpu_ok
        && props.form.settings.check().is_ok()
        && !props.studio_busy;
    let on_start = {
        let (store, backend) = (store.clone(), props.backend);
        Callback::from(move |_: MouseEvent| {
            if let Some(form) = store.current_form() {
                start(&store, &studio, &form, backend);
            }
        })
    };
    let button = |label: &'static str, testid: &'static str, enabled: bool, action: fn(&Store)| {
        let store = store.clone();
        html! {
            <button type="button" class="button" disabled={!enabled} data-testid={testid}
                onclick={Callback::from(move |_: MouseEvent| action(&store))}>{ label }</button>
        }
    };
    let total = v.run.as_ref().map(|r| r.total_steps);
    let step = v.steps.last().map_or(0, |s| s.step);
    let elapsed = v
        .started_ms
        .map(|t| (v.ended_ms.unwrap_or_else(js_sys::Date::now) - t) / 1000.0);
    html! {
        <section class="card train-controls" aria-labelledby="run-title">
            <h2 id="run-title">{ "Run" }</h2>
            <div class="train-buttons">
                <button type="button" class="button button-primary" disabled={!can_start} onclick={on_start} data-testid="train-start">
                    { if matches!(v.phase, Phase::Finished { .. } | Phase::Failed) { "Start again" } else { "Start training" } }
                </button>
                if v.phase == Phase::Paused {
                    { button("Resume", "train-resume", true, Store::resume) }
                } else {
                    { button("Pause", "train-pause", v.phase == Phase::Running, Store::pause) }
                }
                { button("Stop", "train-stop", matches!(v.phase, Phase::Running | Phase::Paused | Phase::Pausing), Store::stop) }
            </div>
            <p aria-live="polite" data-testid="train-phase" data-phase={phase_name(v.phase)}>
                { phase_label(v.phase) }
                if let Some(status) = v.status.as_ref().filter(|_| v.phase.is_active()) {
                    { format!(" · {status}") }
                }
            </p>
            if let Some(total) = total {
                <p data-testid="train-step" data-step={step.to_string()} data-total={total.to_string()}>
                    { format!("Step {step} of {total}") }
                    if let Some(rate) = v.steps_per_s() {
                        { format!(" · {rate:.2} steps/s") }
                    }
                    if let Some(tps) = v.steps.last().and_then(|s| s.tokens_per_s) {
                        { format!(" · {} tokens/s", format::count(tps as u64)) }
                    }
                    if let Some(e) = elapsed {
                        { format!(" · {e:.1} s") }
                    }
                </p>
            }
            if let Some(run) = &v.run {
                <p class="muted" data-testid="train-run-facts">
                    { format!("{} with {} on {}, {}: {} training examples, {} for evaluation, {} trainable values; set up in {:.1} s.",
                        method_label(run.method), adapter_label(run.adapter), run.model, run.backend.label(),
                        format::count(run.train_examples as u64), format::count(run.eval_examples as u64),
                        format::count(run.trainable_params as u64), run.setup_s) }
                </p>
                for w in run.warnings.iter() {
                    <p class="note">{ sentence(w) }</p>
                }
            }
            if let Some((_, message)) = &v.error {
                <div class="alert alert-inline" role="alert" data-testid="train-error"><p>{ sentence(message) }</p></div>
            }
        </section>
    }
}

fn start(store: &Store, studio: &StudioContext, form: &Form, backend: Backend) {
    store.start(studio, &form.choice, backend, form.settings.clone());
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Idle => "idle",
        Phase::Preparing => "preparing",
        Phase::Running => "running",
        Phase::Pausing => "pausing",
        Phase::Paused => "paused",
        Phase::Stopping => "stopping",
        Phase::Finished { stopped: false } => "finished",
        Phase::Finished { stopped: true } => "stopped",
        Phase::Failed => "failed",
    }
}

fn phase_label(p: Phase) -> &'static str {
    match p {
        Phase::Idle => "Not started.",
        Phase::Preparing => "Preparing",
        Phase::Running => "Training",
        Phase::Pausing => "Pausing after this step",
        Phase::Paused => "Paused",
        Phase::Stopping => "Stopping after this step",
        Phase::Finished { stopped: false } => "Finished.",
        Phase::Finished { stopped: true } => "Stopped.",
        Phase::Failed => "Failed.",
    }
}

#[derive(Properties, PartialEq)]
struct ViewProps {
    view: Rc<TrainView>,
}

/// Charts of the step values: always loss, learning rate, gradient norm and tokens/s; then the
/// objective's metrics (preference rewards, margins, accuracy, KL, token accuracy).
#[component]
fn Progress(props: &ViewProps) -> Html {
    let v = &props.view;
    let one = |name: &str, points: Vec<(f64, f64)>| {
        vec![Series {
            name: AttrValue::from(name.to_owned()),
            points,
        }]
    };
    let metric = |key: &str| v.series(|s| s.metrics.get(key).copied().flatten());
    let names = v.metric_names();
    let has = |key: &str| names.iter().any(|n| n == key);
    let mut charts: Vec<(&str, &str, Vec<Series>)> = vec![
        ("Loss", "chart-loss", one("loss", v.series(|s| s.loss))),
        ("Learning rate", "chart-lr", one("lr", v.series(|s| s.lr))),
        (
            "Gradient norm",
            "chart-grad-norm",
            one("grad norm", v.series(|s| s.grad_norm)),
        ),
        (
            "Tokens per second",
            "chart-tokens",
            one("tokens/s", v.series(|s| s.tokens_per_s)),
        ),
    ];
    if has("rewards/chosen") {
        charts.push((
            "Rewards",
            "chart-rewards",
            vec![
                Series {
                    name: "chosen".into(),
                    points: metric("rewards/chosen"),
                },
                Series {
                    name: "rejected".into(),
                    points: metric("rewards/rejected"),
                },
            ],
        ));
    }
    for (key, title, id) in [
        ("rewards/margins", "Reward margin", "chart-margins"),
        (
            "rewards/accuracies",
            "Preference accuracy",
            "chart-accuracy",
        ),
        ("kl", "KL estimate", "chart-kl"),
        (
            "mean_token_accuracy",
            "Token accuracy",
            "chart-token-accuracy",
        ),
    ] {
        if has(key) {
            charts.push((title, id, one(key, metric(key))));
        }
    }
    html! {
        <section class="card" aria-labelledby="progress-title">
            <h2 id="progress-title">{ "Progress" }</h2>
            if v.steps.is_empty() {
                <p class="muted">{ "The charts fill in as steps are taken." }</p>
            }
            <div class="train-charts">
                for (title, id, series) in charts {
                    <LineChart title={title} testid={id} {series} />
                }
            </div>
        </section>
    }
}

/// The evaluation before the first step and after the last, side by side.
#[component]
fn Evaluation(props: &ViewProps) -> Html {
    let v = &props.view;
    let no_eval = v.run.as_ref().is_some_and(|r| r.eval_examples == 0);
    let table = v.eval_before_after().map(|(before, after)| {
        let empty = BTreeMap::new();
        let after = after.unwrap_or(&empty);
        let keys: Vec<&String> = before.keys().chain(after.keys().filter(|k| !before.contains_key(*k))).collect();
        html! {
            <table class="codes" data-testid="eval-table">
                <thead><tr><th scope="col">{ "Metric" }</th><th scope="col">{ "Before" }</th><th scope="col">{ "After" }</th><th scope="col">{ "Change" }</th></tr></thead>
                <tbody>
                    for key in keys {
                        <tr data-metric={key.clone()}>
                            <th scope="row">{ key.trim_start_matches("eval_") }</th>
                            <td data-testid={format!("eval-before-{key}")}>{ value(before.get(key)) }</td>
                            <td data-testid={format!("eval-after-{key}")}>{ value(after.get(key)) }</td>
                            <td>{ change(before.get(key), after.get(key)) }</td>
                        </tr>
                    }
                </tbody>
            </table>
        }
    });
    html! {
        <section class="card" aria-labelledby="eval-title">
            <h2 id="eval-title">{ "Evaluation" }</h2>
            if no_eval {
                <p class="note" data-testid="eval-none">{ "The data has no eval split, so there is nothing to evaluate on: set an eval fraction on the Export page." }</p>
            } else if let Some(table) = table {
                { table }
            } else {
                <p class="muted">{ "The eval split is scored before the first step and after the last." }</p>
            }
        </section>
    }
}

fn value(v: Option<&Option<f64>>) -> String {
    match v.copied().flatten() {
        Some(x) => format!("{x:.4}"),
        None => "–".into(),
    }
}

fn change(before: Option<&Option<f64>>, after: Option<&Option<f64>>) -> String {
    match (before.copied().flatten(), after.copied().flatten()) {
        (Some(b), Some(a)) => format!("{:+.4}", a - b),
        _ => String::new(),
    }
}

#[derive(Properties, PartialEq)]
struct ChatProps {
    form: Form,
    edit: Callback<Edit>,
    view: Rc<TrainView>,
    store: StoreRef,
}

#[component]
fn Chat(props: &ChatProps) -> Html {
    let v = &props.view;
    let ready = v.phase.has_model() && !v.chat.busy && !props.form.prompt.trim().is_empty();
    let on_prompt = {
        let edit = props.edit.clone();
        Callback::from(move |e: InputEvent| {
            let value = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
                .map(|t| t.value())
                .unwrap_or_default();
            edit.emit(Rc::new(move |f: &mut Form| f.prompt = value.clone()))
        })
    };
    // Kept as typed (see `Form::drafts`): replies streaming in re-render the page meanwhile.
    let on_tokens = {
        let edit = props.edit.clone();
        Callback::from(move |e: InputEvent| {
            let text = event_value(&e);
            edit.emit(Rc::new(move |f: &mut Form| {
                if let Ok(n) = text.trim().parse::<usize>() {
                    f.chat.max_new_tokens = n.clamp(1, 512);
                }
                f.drafts.insert("chat-tokens", text.clone());
            }))
        })
    };
    let tokens_left = {
        let edit = props.edit.clone();
        Callback::from(move |_: Event| {
            edit.emit(Rc::new(|f: &mut Form| {
                f.drafts.remove("chat-tokens");
            }))
        })
    };
    let tokens_value = props
        .form
        .drafts
        .get("chat-tokens")
        .cloned()
        .unwrap_or_else(|| props.form.chat.max_new_tokens.to_string());
    let onsubmit = {
        let store = props.store.0.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(form) = store.current_form()
                && !form.prompt.trim().is_empty()
            {
                store.chat(form.prompt.trim().to_owned(), form.chat);
            }
        })
    };
    html! {
        <section class="card" aria-labelledby="chat-title">
            <h2 id="chat-title">{ "Chat" }</h2>
            <p class="muted">{ "The same prompt, rendered with the session's template, answered by the base model and by the base with the adapter (greedy)." }</p>
            <form class="chat-form" {onsubmit}>
                <div class="field">
                    <label for="chat-prompt">{ "Prompt" }</label>
                    <textarea id="chat-prompt" rows="2" value={props.form.prompt.clone()} oninput={on_prompt} data-testid="chat-prompt" />
                </div>
                <div class="field">
                    <label for="chat-tokens">{ "New tokens at most" }</label>
                    <input id="chat-tokens" type="number" min="1" max="512" value={tokens_value} oninput={on_tokens} onchange={tokens_left} />
                </div>
                <button type="submit" class="button" disabled={!ready} data-testid="chat-send">
                    { if v.chat.busy { "Generating…" } else { "Generate" } }
                </button>
            </form>
            if !v.phase.has_model() {
                <p class="muted">{ "Start a run to chat with its model." }</p>
            }
            if let Some(error) = &v.chat.error {
                <div class="alert alert-inline" role="alert" data-testid="chat-error"><p>{ sentence(error) }</p></div>
            }
            <div class="chat-columns">
                <Reply title="Base model" testid="chat-base" reply={v.chat.base.clone()} />
                <Reply title="With the adapter" testid="chat-adapter" reply={v.chat.adapter.clone()} />
            </div>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct ReplyProps {
    title: AttrValue,
    testid: AttrValue,
    reply: Option<ChatReply>,
}

#[component]
fn Reply(props: &ReplyProps) -> Html {
    let done = props.reply.as_ref().and_then(|r| r.done.clone());
    html! {
        <div class="chat-reply" data-testid={props.testid.clone()} data-done={done.is_some().to_string()}>
            <h3>{ &props.title }</h3>
            <pre class="chat-text">{ props.reply.as_ref().map(|r| r.text.clone()).unwrap_or_default() }</pre>
            if let Some(r) = &props.reply {
                <p class="muted">
                    { format!("{} tokens in {:.1} s", r.tokens, r.seconds) }
                    if let Some(why) = &done {
                        { format!(" · stopped at {why}") }
                    }
                </p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct AdapterProps {
    view: Rc<TrainView>,
    store: StoreRef,
}

#[component]
fn AdapterCard(props: &AdapterProps) -> Html {
    let v = &props.view;
    let on_download = {
        let store = props.store.0.clone();
        Callback::from(move |_: MouseEvent| store.adapter())
    };
    html! {
        <section class="card" aria-labelledby="adapter-title">
            <h2 id="adapter-title">{ "Adapter" }</h2>
            <p>{ "PEFT format: adapter_config.json and adapter_model.safetensors. Unzip into a directory and load it with PeftModel.from_pretrained(base, directory), or " }<code>{ "ajuste generate --model BASE --adapter DIR" }</code>{ "." }</p>
            <button type="button" class="button button-primary" disabled={!v.phase.has_model() || v.adapter_busy} onclick={on_download} data-testid="adapter-download">
                { if v.adapter_busy { "Preparing…" } else { "Download the adapter" } }
            </button>
            if let Some(a) = &v.adapter {
                <p class="done" data-testid="adapter-ready" data-step={a.file.step.to_string()}>
                    { format!("The adapter at step {} ({} of weights): ", a.file.step, format::bytes(a.file.weights_bytes as u64)) }
                    <a href={a.zip_url.clone()} download={a.file.name.clone()} data-testid="adapter-zip">{ a.file.name.clone() }</a>
                    { ", " }
                    <a href={a.config_url.clone()} download="adapter_config.json" data-testid="adapter-config">{ "adapter_config.json" }</a>
                    { ", " }
                    <a href={a.weights_url.clone()} download="adapter_model.safetensors" data-testid="adapter-weights">{ "adapter_model.safetensors" }</a>
                    { ", and the run's " }
                    <a href={a.events_url.clone()} download="events.jsonl" data-testid="adapter-events">{ "events.jsonl" }</a>
                    { "." }
                </p>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_read_well() {
        assert_eq!(parameters(2_100_000), "2.1 million");
        assert_eq!(parameters(1_700_000_000), "1.7 billion");
    }

    #[test]
    fn the_native_command_names_where_to_download_a_model_at_a_url() {
        let url = |text: &str| native_model(&ModelChoice::Url(text.into()), None);
        assert_eq!(
            url("https://huggingface.co/HuggingFaceTB/SmolLM2-135M/tree/main"),
            (
                "SmolLM2-135M".into(),
                Some(
                    "ajuste reads the model from a directory: download it first with `hf download \
                     HuggingFaceTB/SmolLM2-135M --revision main --local-dir SmolLM2-135M`."
                        .into()
                )
            )
        );
        let (dir, how) = url("http://127.0.0.1:8000/models/micro/");
        assert_eq!(dir, "micro");
        assert!(
            how.unwrap()
                .contains("download the files at http://127.0.0.1:8000/models/micro/ into micro/")
        );
        assert_eq!(url("models/micro"), ("MODEL_DIR".into(), None));
        assert_eq!(
            native_model(&ModelChoice::Picked, Some("tiny-model")),
            ("tiny-model".into(), None)
        );
    }

    #[test]
    fn every_phase_has_a_name_and_a_label() {
        for p in [
            Phase::Idle,
            Phase::Preparing,
            Phase::Running,
            Phase::Pausing,
            Phase::Paused,
            Phase::Stopping,
            Phase::Finished { stopped: true },
            Phase::Finished { stopped: false },
            Phase::Failed,
        ] {
            assert!(!phase_name(p).is_empty() && !phase_label(p).is_empty());
        }
    }
}
