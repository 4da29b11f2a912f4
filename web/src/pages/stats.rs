//! The Statistics page: the prepared data (after cleaning, dedup and balancing) as charts:
//! characters and tokens per record against the maximum length, turns per record, roles,
//! languages, and the balance of labels or topics, with the caps that balance them.

use std::rc::Rc;

use ajuste_shared::balance::{BalanceConfig, DEFAULT_BALANCE_SEED, GroupBy, NO_GROUP};
use yew::prelude::*;

use crate::app::Route;
use crate::components::chart::{BarChart, HistogramChart};
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::use_studio;
use crate::format;
use crate::pages::event_value;
use crate::protocol::{BalanceSummary, Op, Request, StatsView, Summary};

/// Bars of a bar chart at most; the rest are summed into "other".
const MAX_BARS: usize = 12;

/// `items` sorted by count (highest first), the tail beyond `MAX_BARS - 1` summed as "other".
pub fn top_items(items: impl IntoIterator<Item = (String, usize)>) -> Vec<(String, usize)> {
    let mut items: Vec<(String, usize)> = items.into_iter().collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if items.len() > MAX_BARS {
        let other: usize = items[MAX_BARS - 1..].iter().map(|(_, c)| c).sum();
        items.truncate(MAX_BARS - 1);
        items.push(("other".to_owned(), other));
    }
    items
}

/// The page at [`Route::Stats`].
#[component]
pub fn StatsPage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Stats {summary} /> },
        None => html! { <NeedsDataset route={Route::Stats} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Stats} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct StatsProps {
    summary: Rc<Summary>,
}

#[component]
fn Stats(props: &StatsProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let max_length = use_state(|| s.max_length);
    {
        let studio = studio.clone();
        use_effect_with((*max_length, s.generation), move |(max_length, _)| {
            studio.send(Request::Stats {
                max_length: *max_length,
            });
        });
    }
    let on_max = {
        let max_length = max_length.clone();
        Callback::from(move |e: Event| {
            if let Ok(n) = event_value(&e).parse::<usize>()
                && n > 0
            {
                max_length.set(n);
            }
        })
    };
    let view = studio
        .state
        .stats
        .clone()
        .filter(|v| v.generation == s.generation && v.max_length == *max_length);
    html! {
        <div class="stats">
            <div class="field field-inline">
                <label for="max-length">{ "Maximum length (tokens)" }</label>
                <input id="max-length" type="number" min="1" value={max_length.to_string()} onchange={on_max} />
                <span class="muted">{ format!(" the training config's is {}", format::count(s.max_length as u64)) }</span>
            </div>
            <Balance summary={props.summary.clone()} />
            if let Some(v) = view {
                <Charts view={v} />
            } else {
                <p class="muted">{ "Computing…" }</p>
            }
        </div>
    }
}

/// What the Balance form holds: text as typed, so a half-typed number is not lost.
#[derive(Debug, Clone, PartialEq)]
struct BalanceDraft {
    /// `auto`, `label` or `field`.
    by: String,
    field: String,
    max_per_group: String,
    max_ratio: String,
}

impl BalanceDraft {
    fn of(applied: Option<&BalanceConfig>) -> Self {
        let (by, field) = match applied.map(|c| &c.by) {
            None | Some(GroupBy::Auto) => ("auto", String::new()),
            Some(GroupBy::Label) => ("label", String::new()),
            Some(GroupBy::Field(f)) => ("field", f.clone()),
        };
        BalanceDraft {
            by: by.to_owned(),
            field,
            max_per_group: applied
                .and_then(|c| c.max_per_group)
                .map(|n| n.to_string())
                .unwrap_or_default(),
            max_ratio: applied
                .and_then(|c| c.max_ratio)
                .map(|r| r.to_string())
                .unwrap_or_else(|| {
                    if applied.is_none() {
                        "1".into()
                    } else {
                        String::new()
                    }
                }),
        }
    }

    /// The config the form describes, or why it describes none.
    fn config(&self, seed: u64) -> Result<BalanceConfig, String> {
        let number = |text: &str| -> Result<Option<f64>, String> {
            match text.trim() {
                "" => Ok(None),
                t => t
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("`{t}` is not a number")),
            }
        };
        let by = match self.by.as_str() {
            "label" => GroupBy::Label,
            "field" => GroupBy::parse(&self.field).map_err(|e| e.to_string())?,
            _ => GroupBy::Auto,
        };
        let max_per_group = match number(&self.max_per_group)? {
            Some(n) if n.fract() != 0.0 || n < 0.0 => {
                return Err(format!("`{n}` records is not a whole number"));
            }
            n => n.map(|n| n as usize),
        };
        let config = BalanceConfig {
            by,
            max_per_group,
            max_ratio: number(&self.max_ratio)?,
            seed,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

#[derive(Properties, PartialEq)]
struct BalanceProps {
    summary: Rc<Summary>,
}

/// Caps per KTO label or topic: the form, and what the applied caps kept.
#[component]
fn Balance(props: &BalanceProps) -> Html {
    let studio = use_studio();
    let applied = props.summary.balance.clone();
    let applied_config = applied.as_ref().map(|b| b.config.clone());
    let draft = {
        let applied = applied_config.clone();
        use_state(move || BalanceDraft::of(applied.as_ref()))
    };
    {
        let draft = draft.clone();
        use_effect_with(applied_config.clone(), move |applied| {
            draft.set(BalanceDraft::of(applied.as_ref()));
        });
    }
    let set = |f: fn(&mut BalanceDraft, String)| {
        let draft = draft.clone();
        Callback::from(move |e: Event| {
            let mut next = (*draft).clone();
            f(&mut next, event_value(&e));
            draft.set(next);
        })
    };
    let seed = applied_config
        .as_ref()
        .map_or(DEFAULT_BALANCE_SEED, |c| c.seed);
    let chosen = draft.config(seed);
    let apply = {
        let studio = studio.clone();
        let chosen = chosen.clone().ok();
        Callback::from(move |_: MouseEvent| {
            if let Some(config) = chosen.clone() {
                studio.send(Request::Apply(Op::Balance(Some(config))));
            }
        })
    };
    let remove = {
        let studio = studio.clone();
        Callback::from(move |_: MouseEvent| studio.send(Request::Apply(Op::Balance(None))))
    };
    let busy = studio.state.is_changing();
    html! {
        <section class="balance" aria-labelledby="balance-title" data-testid="balance">
            <h2 id="balance-title">{ "Balance" }</h2>
            <p class="muted">{ "Cap the records of each KTO label or topic so that none dominates. It runs after deduplication; a seeded draw picks which records a capped group keeps." }</p>
            <form class="balance-form" aria-label="Balance" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                <div class="field-row">
                    <div class="field">
                        <label for="balance-by">{ "Group by" }</label>
                        <select id="balance-by" onchange={set(|d, v| d.by = v)}>
                            <option value="auto" selected={draft.by == "auto"} title="the KTO label, else a topic, category, task or source field">{ "auto: label or topic" }</option>
                            <option value="label" selected={draft.by == "label"}>{ "KTO label" }</option>
                            <option value="field" selected={draft.by == "field"}>{ "a field…" }</option>
                        </select>
                    </div>
                    if draft.by == "field" {
                        <div class="field">
                            <label for="balance-field">{ "Field" }</label>
                            <input id="balance-field" type="text" placeholder="topic" value={draft.field.clone()} onchange={set(|d, v| d.field = v)} />
                        </div>
                    }
                    <div class="field">
                        <label for="balance-max-per-group">{ "At most per group" }</label>
                        <input id="balance-max-per-group" type="number" min="1" value={draft.max_per_group.clone()} onchange={set(|d, v| d.max_per_group = v)} />
                    </div>
                    <div class="field">
                        <label for="balance-max-ratio">{ "At most × the smallest group" }</label>
                        <input id="balance-max-ratio" type="number" min="1" step="0.1" value={draft.max_ratio.clone()} onchange={set(|d, v| d.max_ratio = v)} />
                    </div>
                </div>
                if let Err(why) = &chosen {
                    <p class="alert alert-inline" role="alert" data-testid="balance-invalid">{ why }</p>
                }
                <div class="actions">
                    <button type="button" class="button button-primary" onclick={apply}
                        disabled={busy || chosen.is_err() || chosen.as_ref().ok() == applied_config.as_ref()}
                        data-testid="apply-balance">{ "Apply these caps" }</button>
                    if applied.is_some() {
                        <button type="button" class="button" onclick={remove} disabled={busy} data-testid="remove-balance">{ "Do not balance" }</button>
                    }
                </div>
            </form>
            if let Some(b) = &applied {
                { balance_result(b) }
            }
        </section>
    }
}

/// What the applied caps did, group by group.
fn balance_result(b: &BalanceSummary) -> Html {
    if let Some(error) = &b.error {
        return html! {
            <div class="alert alert-inline" role="alert" data-testid="balance-error">
                <p>{ format!("Balancing cannot run: {error}. Every record is shown, but the bundle cannot be built (nor by its command line) until the caps change or balancing is taken off.") }</p>
            </div>
        };
    }
    let before: usize = b.groups.iter().map(|g| g.records).sum();
    let groups: Vec<String> = b
        .groups
        .iter()
        .map(|g| {
            let name = if g.group == NO_GROUP {
                "no group"
            } else {
                g.group.as_str()
            };
            format!(
                "{name} {} → {}",
                format::count(g.records as u64),
                format::count(g.kept as u64)
            )
        })
        .collect();
    html! {
        <p class="before-after" data-testid="balance-applied">
            { format!("Balanced by {}: {}; {} of {} kept.",
                b.config.by, groups.join(", "),
                format::count(b.records_out as u64),
                format::plural(before as u64, "record", "records")) }
        </p>
    }
}

#[derive(Properties, PartialEq)]
struct ChartsProps {
    view: Rc<StatsView>,
}

#[component]
fn Charts(props: &ChartsProps) -> Html {
    let v = &props.view;
    let st = &v.stats;
    let marker = Some((
        v.max_length,
        AttrValue::from(format!("max length {}", v.max_length)),
    ));
    let roles = top_items(st.roles.iter().map(|(r, c)| (r.to_string(), *c)));
    let languages = top_items(st.languages.iter().map(|(l, c)| (l.clone(), *c)));
    let balance = top_items(st.balance.iter().map(|(k, c)| (k.clone(), *c)));
    html! {
        <>
            <p class="lede" data-testid="stats-summary">
                { format!("{} prepared; {} turns on average (from {} to {}).",
                    format::plural(st.records as u64, "record", "records"),
                    format!("{:.1}", st.turns.mean), st.turns.min, st.turns.max) }
                if let Some(over) = st.over_max_length {
                    <strong data-testid="over-max">{ format!(" {} longer than {} tokens.", format::plural(over as u64, "record is", "records are"), format::count(v.max_length as u64)) }</strong>
                }
                <span class="muted">{ format!(" ({:.0} ms)", v.ms) }</span>
            </p>
            <div class="charts">
                if let Some(tokens) = &st.tokens {
                    <HistogramChart title="Tokens per record" histogram={tokens.clone()} unit="tokens" marker={marker.clone()} testid="chart-tokens" />
                } else {
                    <p class="note" data-testid="no-tokens">{ "Load a tokenizer.json on the Template page to see tokens per record against the maximum length." }</p>
                }
                <HistogramChart title="Characters per record" histogram={st.chars.clone()} unit="characters" testid="chart-chars" />
                <HistogramChart title="Turns per record" histogram={v.turns.clone()} unit="turns" testid="chart-turns" />
                <BarChart title="Turns by role" items={roles} testid="chart-roles" />
                <BarChart title="Records by language" items={languages} testid="chart-languages" />
                if !balance.is_empty() {
                    <BarChart title="Balance (label or topic)" items={balance} testid="chart-balance" />
                }
            </div>
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_sorted_and_the_tail_is_summed() {
        let items = (0..20).map(|i| (format!("l{i:02}"), i));
        let top = top_items(items);
        assert_eq!(top.len(), MAX_BARS);
        assert_eq!(top[0], ("l19".to_owned(), 19));
        assert_eq!(top.last().unwrap().0, "other");
        assert_eq!(
            top.iter().map(|(_, c)| c).sum::<usize>(),
            (0..20).sum::<usize>()
        );
        assert_eq!(top_items([("a".to_owned(), 1)]), [("a".to_owned(), 1)]);
    }

    #[test]
    fn the_balance_form_starts_at_equal_groups_and_reads_back_what_was_applied() {
        let fresh = BalanceDraft::of(None);
        let equal = fresh.config(7).unwrap();
        assert_eq!(
            (equal.by, equal.max_per_group, equal.max_ratio, equal.seed),
            (GroupBy::Auto, None, Some(1.0), 7)
        );
        let applied = BalanceConfig {
            by: GroupBy::Field("topic".into()),
            max_per_group: Some(50),
            max_ratio: None,
            seed: 3,
        };
        assert_eq!(BalanceDraft::of(Some(&applied)).config(3), Ok(applied));
    }

    #[test]
    fn the_balance_form_says_what_is_wrong() {
        let draft = |by: &str, field: &str, max: &str, ratio: &str| BalanceDraft {
            by: by.into(),
            field: field.into(),
            max_per_group: max.into(),
            max_ratio: ratio.into(),
        };
        let err = |d: BalanceDraft| d.config(42).unwrap_err();
        assert!(err(draft("auto", "", "", "")).contains("needs a cap"));
        assert!(err(draft("auto", "", "2.5", "")).contains("not a whole number"));
        assert!(err(draft("auto", "", "", "x")).contains("`x` is not a number"));
        assert!(err(draft("auto", "", "", "0.5")).contains("at least 1"));
        assert!(err(draft("field", " ", "3", "")).contains("empty"));
        assert_eq!(
            draft("label", "", "3", "").config(42).unwrap().by,
            GroupBy::Label
        );
    }
}
