//! One module per page, in data-flow order (see [`crate::app::Route`]).

pub mod clean;
pub mod dedup;
pub mod export;
pub mod load;
pub mod not_found;
pub mod stats;
pub mod template;
pub mod train;
pub mod validate;

/// The data crate writes messages in lower case without a final stop (they are also printed
/// after "error: " by the CLI); on their own they read better as sentences. A message that
/// starts with a file's or a model's path (`micro/config.json could not…`) keeps its spelling.
pub fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let first_word = text.split_whitespace().next().unwrap_or_default();
    let mut out: String = if first_word.contains(['/', '.', '_']) {
        text.to_owned()
    } else {
        first.to_uppercase().chain(chars).collect()
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// Reads the value of an `<input>` or `<select>` from its change/input event.
pub fn event_value(e: &yew::Event) -> String {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| {
            t.clone()
                .dyn_into::<web_sys::HtmlInputElement>()
                .map(|i| i.value())
                .or_else(|_| {
                    t.clone()
                        .dyn_into::<web_sys::HtmlSelectElement>()
                        .map(|s| s.value())
                })
                .or_else(|_| {
                    t.dyn_into::<web_sys::HtmlTextAreaElement>()
                        .map(|a| a.value())
                })
                .ok()
        })
        .unwrap_or_default()
}

/// Whether the checkbox that fired `e` is checked.
pub fn event_checked(e: &yew::Event) -> bool {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .is_some_and(|i| i.checked())
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
        assert_eq!(
            sentence("micro/config.json could not be read"),
            "micro/config.json could not be read."
        );
        assert_eq!(sentence("  "), "");
    }
}
