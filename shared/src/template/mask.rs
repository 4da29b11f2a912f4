//! Which rendered text belongs to which turn, and which of it is trained.
//!
//! The full conversation is rendered once. Each turn's *region* is found by rendering prefixes:
//! turn `i` spans from the end of `render(messages[..i])` to the end of `render(messages[..=i])`.
//! A trained assistant turn starts after `render(messages[..i], add_generation_prompt=true)`, so its
//! header is not trained but everything the template writes after the content (end-of-turn token,
//! newline) is, which is what TRL's `assistant_only_loss` trains. (A template that writes no
//! generation prompt, like Llama 2's, has its assistant turns trained from the content on.) When the
//! template has
//! `{% generation %}` blocks, the trained text of an assistant turn is the block output inside its
//! region instead, exactly as transformers' `return_assistant_tokens_mask` marks it.
//!
//! This needs the *prefix property*: rendering the first turns gives a prefix of rendering them
//! all. One exception is allowed because real templates do it: Phi-3 closes every conversation with
//! EOS when no generation prompt is asked for, so a prefix may end with EOS where the full text
//! goes on. A template that breaks the property otherwise (one that rewrites earlier turns
//! depending on later ones) falls back to searching each turn's content in the text, and the record
//! gets a `template-not-incremental` finding.

// Lists of byte ranges that hold one range are meant, not ranges turned into lists.
#![allow(clippy::single_range_in_vec_init)]

use std::ops::Range;

use minijinja::value::Value;
use serde_json::Value as Json;

use super::jinja::{ChatTemplate, GEN_END, GEN_START, Rendering, json_value, message_value};
use super::{Rendered, Segment, TemplateError};
use crate::codes::Code;
use crate::diagnostic::{Finding, pointer_push};
use crate::record::{Message, Role};

/// A turn to render: the message, its JSON pointer, whether it is trained.
pub(crate) struct Turn<'a> {
    pub message: &'a Message,
    pub path: String,
    pub trained: bool,
}

/// The turns of one message list. `trainable` lists (an SFT conversation, a completion) train their
/// assistant turns by default; `Message::train` overrides either way.
pub(crate) fn turns<'a>(
    list: &'static str,
    messages: &'a [Message],
    trainable: bool,
) -> impl Iterator<Item = Turn<'a>> + 'a {
    messages.iter().enumerate().map(move |(i, message)| Turn {
        message,
        path: pointer_push(list, i),
        trained: message
            .train
            .unwrap_or(trainable && message.role == Role::Assistant),
    })
}

/// Where one turn is in the full text.
struct Placed {
    region: Range<usize>,
    /// The turn's content (trimmed, as templates often trim it), when found inside the text.
    content: Option<Range<usize>>,
    /// Trained ranges, inside `region`, in order.
    trained: Vec<Range<usize>>,
    /// End of the end-of-turn text that follows the content, when known.
    end_of_turn: Option<Range<usize>>,
}

/// Renders the turns and splits the text into segments; never fails (problems become findings).
pub(crate) fn render_turns(
    template: &ChatTemplate,
    name: &str,
    turns: &[Turn],
    tools: Option<&Json>,
) -> Rendered {
    let values: Vec<Value> = turns.iter().map(|t| message_value(t.message)).collect();
    let tools = tools.map(json_value);
    let ctx = Ctx {
        template,
        values: &values,
        tools: tools.as_ref(),
    };
    // Content holding the generation markers would confuse tracking; such (odd) records are masked
    // without the template's blocks.
    let track = template.has_generation_blocks()
        && !turns
            .iter()
            .any(|t| t.message.content.contains([GEN_START, GEN_END]));
    let full = match template.render_values(&values, false, track, ctx.tools) {
        Ok(full) => full,
        Err(err) => {
            let why = match &err {
                TemplateError::Render(why) => why.clone(),
                other => other.to_string(),
            };
            let finding = Finding::new(
                Code::TemplateError,
                format!("the {name} template cannot render this record: {why}"),
            );
            return Rendered {
                segments: Vec::new(),
                findings: vec![finding],
            };
        }
    };
    let mut findings = Vec::new();
    let placed = match boundaries(&ctx, &full.text) {
        Some(bounds) => place_by_prefix(&ctx, turns, &full, &bounds),
        None => {
            findings.push(Finding::new(
                Code::TemplateNotIncremental,
                format!(
                    "rendering the first turns of this record with the {name} template does not give a prefix of \
                     rendering the whole record; the loss mask was found by searching each turn's text"
                ),
            ));
            place_by_search(template, turns, &full)
        }
    };
    findings.extend(check_turns(&ctx, name, turns, &full.text, &placed));
    let segments = segments(&full.text, turns, &placed);
    let rendered = Rendered { segments, findings };
    with_trained_check(rendered, name, turns)
}

/// What every prefix render needs.
struct Ctx<'a> {
    template: &'a ChatTemplate,
    values: &'a [Value],
    tools: Option<&'a Value>,
}

impl Ctx<'_> {
    fn render_prefix(&self, n: usize, add_generation_prompt: bool) -> Option<String> {
        let prefix = self.values.get(..n)?;
        self.template
            .render_values(prefix, add_generation_prompt, false, self.tools)
            .ok()
            .map(|r| r.text)
    }
}

/// Where each turn starts (plus the end of the text), from prefix renders; `None` when the template
/// breaks the prefix property.
fn boundaries(ctx: &Ctx, full: &str) -> Option<Vec<usize>> {
    let eos = ctx.template.eos_token.as_str();
    let mut bounds = Vec::with_capacity(ctx.values.len() + 1);
    for i in 0..ctx.values.len() {
        let prefix = ctx.render_prefix(i, false);
        let at = match prefix.and_then(|p| prefix_len(&p, full, eos)) {
            Some(at) => at,
            // The empty conversation is special: many templates cannot render it (`messages[0]`
            // is undefined), others render a default system prompt that a first system turn
            // replaces. The first turn then starts at the top.
            None if i == 0 => 0,
            None => return None,
        };
        if at < bounds.last().copied().unwrap_or(0) {
            return None;
        }
        bounds.push(at);
    }
    bounds.push(full.len());
    Some(bounds)
}

/// How much of `full` the `prefix` render covers, allowing a trailing EOS that closes the prefix
/// conversation but not the full one.
fn prefix_len(prefix: &str, full: &str, eos: &str) -> Option<usize> {
    if full.starts_with(prefix) {
        return Some(prefix.len());
    }
    let stem = prefix.strip_suffix(eos).filter(|_| !eos.is_empty())?;
    full.starts_with(stem).then_some(stem.len())
}

fn place_by_prefix(ctx: &Ctx, turns: &[Turn], full: &Rendering, bounds: &[usize]) -> Vec<Placed> {
    turns
        .iter()
        .enumerate()
        .map(|(i, turn)| place_turn(ctx, i, turn, full, bounds[i]..bounds[i + 1]))
        .collect()
}

/// Where a turn's content and trained text are inside its region.
fn place_turn(ctx: &Ctx, i: usize, turn: &Turn, full: &Rendering, region: Range<usize>) -> Placed {
    let text = full.text.as_str();
    let message = &turn.message.content;
    let (content, trained) = if !turn.trained {
        (find_content(text, region.clone(), message), Vec::new())
    } else if turn.message.role == Role::Assistant {
        let blocks = intersect(&full.generation, &region);
        // After the generation prompt; a template that writes none (Llama 2, Mistral) has its
        // answer start at the content, so that no header text is trained.
        let eos = ctx.template.eos_token.as_str();
        let prompt_end = ctx
            .render_prefix(i, true)
            .and_then(|prompt| prefix_len(&prompt, text, eos))
            .filter(|at| region.start < *at && *at <= region.end);
        // The content is searched from where the answer starts: a short answer ("N") also
        // occurs in the header ("ASSISTANT:").
        let from = blocks
            .first()
            .map(|b| b.start)
            .or(prompt_end)
            .unwrap_or(region.start);
        let content = find_content(text, from..region.end, message)
            .or_else(|| find_content(text, region.clone(), message));
        let trained = if blocks.is_empty() {
            let start = prompt_end
                .or(content.as_ref().map(|c| c.start))
                .unwrap_or(region.start);
            vec![start..region.end]
        } else {
            blocks
        };
        (content, trained)
    } else {
        // A turn trained by override (`train: true` on a user turn): its content and what
        // follows, not its header.
        let content = probe_content(ctx, i, turn, text, &region)
            .or_else(|| find_content(text, region.clone(), message));
        let start = content.as_ref().map_or(region.start, |c| c.start);
        (content, vec![start..region.end])
    };
    // Everything after the content up to the next turn is the end-of-turn text.
    let end_of_turn = content.as_ref().map(|c| trimmed(text, c.end..region.end));
    Placed {
        region,
        content,
        trained,
        end_of_turn,
    }
}

/// The content of turn `i` found by rendering the turn with a sentinel as its content: the text
/// before the sentinel is the turn's header, so the content starts right after it (searching could
/// find "user" inside the header `<|im_start|>user`).
fn probe_content(
    ctx: &Ctx,
    i: usize,
    turn: &Turn,
    text: &str,
    region: &Range<usize>,
) -> Option<Range<usize>> {
    let mut values = ctx.values.get(..=i)?.to_vec();
    values[i] = message_value(&with_content(turn.message, SENTINEL));
    let probe = ctx
        .template
        .render_values(&values, false, false, ctx.tools)
        .ok()?
        .text;
    let header = probe.get(region.start..)?.split_once(SENTINEL)?.0;
    let at = region.start + header.len();
    let rest = text.get(at..region.end)?;
    // Templates trim content: skip what the template left out at the front, then take the content.
    let needle = turn.message.content.trim();
    (!needle.is_empty()
        && text.get(region.clone())?.starts_with(header)
        && rest.starts_with(needle))
    .then(|| at..at + needle.len())
}

fn with_content(message: &Message, content: &str) -> Message {
    let mut probe = message.clone();
    probe.content = content.to_owned();
    probe
}

/// The fallback: find each turn's content in order and train it plus a recognised end-of-turn
/// token right after it (or the generation block around it).
fn place_by_search(template: &ChatTemplate, turns: &[Turn], full: &Rendering) -> Vec<Placed> {
    let text = full.text.as_str();
    let mut cursor = 0;
    let mut found = Vec::with_capacity(turns.len());
    for turn in turns {
        let content = find_content(text, cursor..text.len(), &turn.message.content);
        if let Some(c) = &content {
            cursor = c.end;
        }
        found.push((cursor, content));
    }
    let starts: Vec<usize> = found
        .iter()
        .map(|(at, c)| c.as_ref().map_or(*at, |c| c.start))
        .collect();
    turns
        .iter()
        .zip(found)
        .enumerate()
        .map(|(i, (turn, (_, content)))| {
            let region = starts[i]..starts.get(i + 1).copied().unwrap_or(text.len());
            let end_of_turn = content
                .as_ref()
                .and_then(|c| end_of_turn_marker(text, c.end, &template.eos_token));
            let trained = match (&content, turn.trained) {
                (Some(c), true) => {
                    let blocks: Vec<Range<usize>> = full
                        .generation
                        .iter()
                        .filter(|g| g.start < c.end.max(c.start + 1) && g.end > c.start)
                        .map(|g| g.start.max(region.start)..g.end.min(region.end))
                        .filter(|g| g.start < g.end)
                        .collect();
                    if blocks.is_empty() {
                        let end = end_of_turn
                            .as_ref()
                            .map_or(c.end, |e| e.end)
                            .min(region.end);
                        vec![c.start..end]
                    } else {
                        blocks
                    }
                }
                _ => Vec::new(),
            };
            Placed {
                region,
                content,
                trained,
                end_of_turn,
            }
        })
        .collect()
}

/// End-of-turn tokens the fallback recognises after a turn's content (besides the template's EOS).
const END_OF_TURN_MARKERS: [&str; 8] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<eos>",
];

/// The range of an end-of-turn token following `at` (after optional whitespace).
fn end_of_turn_marker(text: &str, at: usize, eos: &str) -> Option<Range<usize>> {
    let rest = text.get(at..)?;
    let skipped = rest.len() - rest.trim_start().len();
    let rest = &rest[skipped..];
    let marker = std::iter::once(eos)
        .chain(END_OF_TURN_MARKERS)
        .filter(|m| !m.is_empty())
        .find(|m| rest.starts_with(*m))?;
    Some(at + skipped..at + skipped + marker.len())
}

/// Where the (trimmed) content of a turn is inside `within`.
fn find_content(text: &str, within: Range<usize>, content: &str) -> Option<Range<usize>> {
    let needle = content.trim();
    if needle.is_empty() {
        return None;
    }
    let haystack = text.get(within.clone())?;
    haystack
        .find(needle)
        .map(|at| within.start + at..within.start + at + needle.len())
}

/// `range` with surrounding whitespace removed (empty, at its end, when all whitespace).
fn trimmed(text: &str, range: Range<usize>) -> Range<usize> {
    let Some(slice) = text.get(range.clone()) else {
        return range.start..range.start;
    };
    let lead = slice.len() - slice.trim_start().len();
    let start = range.start + lead;
    start..start + slice.trim().len()
}

fn intersect(blocks: &[Range<usize>], region: &Range<usize>) -> Vec<Range<usize>> {
    blocks
        .iter()
        .map(|b| b.start.max(region.start)..b.end.min(region.end))
        .filter(|b| b.start < b.end)
        .collect()
}

/// `template-drops-role` and `eos-not-trained`.
fn check_turns(
    ctx: &Ctx,
    name: &str,
    turns: &[Turn],
    text: &str,
    placed: &[Placed],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, (turn, place)) in turns.iter().zip(placed).enumerate() {
        let role = turn.message.role;
        if dropped(ctx, i, turn, text, place) {
            findings.push(
                Finding::new(
                    Code::TemplateDropsRole,
                    format!("the {name} template renders no text of this {role} turn; its content never reaches the model"),
                )
                .path(turn.path.clone()),
            );
        }
        if turn.trained
            && role == Role::Assistant
            && place.content.is_some()
            && let Some(finding) = check_end_of_turn(name, text, place)
        {
            findings.push(finding.path(turn.path.clone()));
        }
    }
    findings
}

/// Stands in for a turn's content to see whether the template writes it anywhere.
const SENTINEL: &str = "\u{FDD2}ajuste-content\u{FDD2}";

/// Whether the template writes nothing of a turn's content.
fn dropped(ctx: &Ctx, i: usize, turn: &Turn, text: &str, place: &Placed) -> bool {
    let content = turn.message.content.trim();
    if content.is_empty() || place.content.is_some() {
        return false;
    }
    if !text.contains(content) {
        return true;
    }
    // The content is in the text but not where the turn is: merged into another turn (Mistral
    // puts the system prompt in the first user turn) or a coincidence ("42" inside a later answer).
    // Rendering with a sentinel in its place tells which.
    let mut values = ctx.values.to_vec();
    values[i] = message_value(&with_content(turn.message, SENTINEL));
    match ctx.template.render_values(&values, false, false, ctx.tools) {
        Ok(rendering) => !rendering.text.contains(SENTINEL),
        Err(_) => false,
    }
}

/// Whether the text that closes a trained assistant turn is trained too.
fn check_end_of_turn(name: &str, text: &str, place: &Placed) -> Option<Finding> {
    let end = place.end_of_turn.as_ref()?;
    if end.is_empty() {
        return Some(Finding::new(
            Code::EosNotTrained,
            format!(
                "the {name} template writes nothing after this assistant turn, so no end-of-turn token is trained and \
                 the model does not learn to stop"
            ),
        ));
    }
    let covered = place
        .trained
        .iter()
        .any(|t| t.start <= end.start && end.end <= t.end);
    if covered {
        return None;
    }
    let marker = text.get(end.clone()).unwrap_or_default();
    Some(Finding::new(
        Code::EosNotTrained,
        format!(
            "the end-of-turn text `{marker}` after this assistant turn is not trained, so the model does not learn to stop"
        ),
    ))
}

/// Cuts the text into segments by turn region and trained ranges, merging neighbours that agree.
fn segments(text: &str, turns: &[Turn], placed: &[Placed]) -> Vec<Segment> {
    let mut pieces: Vec<(Range<usize>, bool, Option<Role>)> = Vec::new();
    let first = placed.first().map_or(text.len(), |p| p.region.start);
    pieces.push((0..first, false, None));
    for (turn, place) in turns.iter().zip(placed) {
        let role = Some(turn.message.role);
        let mut at = place.region.start;
        for t in &place.trained {
            let t = t.start.max(at)..t.end.min(place.region.end);
            if t.start >= t.end {
                continue;
            }
            pieces.push((at..t.start, false, role));
            pieces.push((t.clone(), true, role));
            at = t.end;
        }
        pieces.push((at..place.region.end, false, role));
    }
    let last = placed.last().map_or(text.len(), |p| p.region.end);
    pieces.push((last..text.len(), false, None));

    let mut out: Vec<Segment> = Vec::new();
    for (range, trained, role) in pieces {
        let Some(piece) = text.get(range).filter(|p| !p.is_empty()) else {
            continue;
        };
        match out.last_mut() {
            Some(prev) if prev.trained == trained && prev.role == role => prev.text.push_str(piece),
            _ => out.push(Segment {
                text: piece.to_owned(),
                trained,
                role,
            }),
        }
    }
    out
}

/// `no-trained-tokens` when nothing of the record is trained.
fn with_trained_check(mut rendered: Rendered, name: &str, turns: &[Turn]) -> Rendered {
    if rendered.has_trained_text() {
        return rendered;
    }
    let message = if turns.iter().any(|t| t.trained) {
        format!("the trained turns of this record render no text with the {name} template")
    } else {
        "no turn of this record is trained (by default only assistant turns are)".to_owned()
    };
    rendered
        .findings
        .push(Finding::new(Code::NoTrainedTokens, message));
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_len_allows_a_closing_eos_only() {
        assert_eq!(prefix_len("ab", "abc", "</s>"), Some(2));
        assert_eq!(prefix_len("ab</s>", "abc</s>", "</s>"), Some(2));
        assert_eq!(prefix_len("ax", "abc", "</s>"), None);
        assert_eq!(prefix_len("ab</s>", "abc", ""), None);
    }

    #[test]
    fn end_of_turn_marker_skips_whitespace() {
        assert_eq!(
            end_of_turn_marker("hi <|im_end|>\n", 2, "</s>"),
            Some(3..13)
        );
        assert_eq!(end_of_turn_marker("hi there", 2, "</s>"), None);
    }

    #[test]
    fn trimmed_handles_all_whitespace() {
        assert_eq!(trimmed("a \n<x>\n", 1..7), 3..6);
        assert_eq!(trimmed("a  ", 1..3), 3..3);
    }
}
