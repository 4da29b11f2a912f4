//! The Ollama `Modelfile` that goes beside an exported GGUF file.
//!
//! Ollama renders prompts with Go's `text/template`, not Jinja, so the training template is
//! translated: for each built-in ajuste template, [`go_template`] gives a Go template that
//! produces, for any list of messages, exactly the text the Jinja template produces for them
//! with `add_generation_prompt` set when the last message is not the assistant's (how Ollama
//! asks for a reply). The golden script `tests/golden/export.py` runs every translation with
//! Go's own `text/template` on the fixture conversations and compares with the Jinja rendering.
//!
//! What cannot be translated, said in the Modelfile too:
//! - Go templates have no `trim`: Llama 3, Gemma and Llama 2 trim message content, the
//!   translations do not (identical for content without leading or trailing whitespace,
//!   which ajuste's cleaning removes).
//! - Qwen's tool branch (`tools` given, assistant `tool_calls`) is not translated; tool results
//!   (`tool` messages) are.
//! - `raise_exception` checks (role alternation) are dropped.
//! - Arbitrary Jinja templates are not translated: the Modelfile then has no TEMPLATE and
//!   relies on the GGUF file's embedded `tokenizer.chat_template` (llama.cpp uses it directly;
//!   Ollama uses it when it recognises it).

use ajuste_shared::template::{Builtin, ChatTemplate};

/// A Modelfile and what the user should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Modelfile {
    /// The file's text.
    pub text: String,
    /// The built-in whose translation is the TEMPLATE, if any.
    pub builtin: Option<Builtin>,
    /// Warnings for stderr.
    pub warnings: Vec<String>,
}

/// The built-in a chat template is, when its text and special tokens are exactly a built-in's.
/// The BOS token counts only where the text uses it: ajuste's own micro model has ChatML's text
/// with `<|endoftext|>` as its (unused) BOS, as SmolLM2 and Qwen2 do.
pub fn builtin_of(template: &ChatTemplate) -> Option<Builtin> {
    Builtin::ALL.into_iter().find(|b| {
        b.jinja_source() == template.source
            && (b.bos_token() == template.bos_token || !template.source.contains("bos_token"))
            && b.eos_token() == template.eos_token
    })
}

/// A Go string literal action printing `s` (nothing for an empty string).
fn lit(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut out = String::from("{{ \"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push_str("\" }}");
    out
}

/// True inside `range $i, $m := .Messages` at the last message.
const LAST: &str = "(eq (len (slice $.Messages $i)) 1)";
/// Declares `$hasSys`: the first message is a system message.
const HAS_SYS: &str = "{{ $hasSys := and .Messages (eq (index .Messages 0).Role \"system\") }}";
/// The first message's content (inside a range).
const SYS: &str = "{{ (index $.Messages 0).Content }}";
const CONTENT: &str = "{{ $m.Content }}";
const ROLE: &str = "{{ $m.Role }}";
/// Skips the leading system message inside a range (it is printed elsewhere).
const SKIP_SYS: &str = "{{ if and $hasSys (eq $i 0) }}";

/// Emits `prompt` after the last message when that message is not the assistant's.
fn generation_prompt(prompt: &str) -> String {
    format!(
        "{{{{ if and {LAST} (ne $m.Role \"assistant\") }}}}{}{{{{ end }}}}",
        lit(prompt)
    )
}

/// The Go template equivalent to built-in `b`. `leading_bos` says whether to print the BOS at
/// the start: false when the tokenizer adds it itself (llama.cpp would otherwise see two).
pub fn go_template(b: Builtin, leading_bos: bool) -> String {
    let bos = if leading_bos { b.bos_token() } else { "" };
    let eos = b.eos_token();
    let range = "{{ range $i, $m := .Messages }}";
    match b {
        Builtin::Chatml => format!(
            "{range}{}{ROLE}{}{CONTENT}{}{}{{{{ end }}}}",
            lit("<|im_start|>"),
            lit("\n"),
            lit("<|im_end|>\n"),
            generation_prompt("<|im_start|>assistant\n"),
        ),
        Builtin::Qwen => format!(
            "{{{{ if and .Messages (eq (index .Messages 0).Role \"system\") }}}}{}{{{{ (index .Messages 0).Content }}}}{}{{{{ else }}}}{}{{{{ end }}}}\
             {{{{ $prev := \"\" }}}}{range}\
             {{{{ if or (eq $m.Role \"user\") (and (eq $m.Role \"system\") (ne $i 0)) (eq $m.Role \"assistant\") }}}}{}{ROLE}{}{CONTENT}{}\
             {{{{ else if eq $m.Role \"tool\" }}}}{{{{ if or (eq $i 0) (ne $prev \"tool\") }}}}{}{{{{ end }}}}{}{CONTENT}{}\
             {{{{ if or {LAST} (ne (index (slice $.Messages $i) 1).Role \"tool\") }}}}{}{{{{ end }}}}{{{{ end }}}}\
             {{{{ $prev = $m.Role }}}}{}{{{{ end }}}}",
            lit("<|im_start|>system\n"),
            lit("<|im_end|>\n"),
            lit(
                "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            ),
            lit("<|im_start|>"),
            lit("\n"),
            lit("<|im_end|>\n"),
            lit("<|im_start|>user"),
            lit("\n<tool_response>\n"),
            lit("\n</tool_response>"),
            lit("<|im_end|>\n"),
            generation_prompt("<|im_start|>assistant\n"),
        ),
        Builtin::Llama3 => format!(
            "{range}{{{{ if eq $i 0 }}}}{}{{{{ end }}}}{}{ROLE}{}{CONTENT}{}{}{{{{ end }}}}",
            lit(bos),
            lit("<|start_header_id|>"),
            lit("<|end_header_id|>\n\n"),
            lit("<|eot_id|>"),
            generation_prompt("<|start_header_id|>assistant<|end_header_id|>\n\n"),
        ),
        Builtin::Llama2 => format!(
            "{HAS_SYS}{range}{SKIP_SYS}{{{{ else if eq $m.Role \"user\" }}}}\
             {{{{ if or (eq $i 0) (and $hasSys (eq $i 1)) }}}}{}{{{{ else }}}}{}{{{{ end }}}}{}\
             {{{{ if and $hasSys (eq $i 1) }}}}{}{SYS}{}{{{{ end }}}}{CONTENT}{}\
             {{{{ else if eq $m.Role \"assistant\" }}}}{}{CONTENT}{}{{{{ end }}}}{{{{ end }}}}",
            lit(bos),
            lit(b.bos_token()),
            lit("[INST] "),
            lit("<<SYS>>\n"),
            lit("\n<</SYS>>\n\n"),
            lit(" [/INST]"),
            lit(" "),
            lit(&format!(" {eos}")),
        ),
        Builtin::Mistral => format!(
            "{}{HAS_SYS}{range}{SKIP_SYS}{{{{ else if eq $m.Role \"user\" }}}}{}\
             {{{{ if and $hasSys (eq $i 1) }}}}{SYS}{}{{{{ end }}}}{CONTENT}{}\
             {{{{ else if eq $m.Role \"assistant\" }}}}{}{CONTENT}{}{{{{ end }}}}{{{{ end }}}}",
            lit(bos),
            lit(" [INST] "),
            lit("\n\n"),
            lit(" [/INST]"),
            lit(" "),
            lit(eos),
        ),
        Builtin::Zephyr => {
            let turn = |role: &str| {
                format!(
                    "{{{{ if eq $m.Role \"{role}\" }}}}{}{CONTENT}{}",
                    lit(&format!("<|{role}|>\n")),
                    lit(&format!("{eos}\n"))
                )
            };
            format!(
                "{range}{}{{{{ else }}}}{}{{{{ else }}}}{}{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}{}{{{{ end }}}}",
                turn("user"),
                turn("system"),
                turn("assistant"),
                generation_prompt("<|assistant|>\n"),
            )
        }
        Builtin::Phi3 => {
            let turn = |role: &str| {
                format!(
                    "{{{{ if eq $m.Role \"{role}\" }}}}{}{CONTENT}{}",
                    lit(&format!("<|{role}|>\n")),
                    lit("<|end|>\n")
                )
            };
            format!(
                "{{{{ $lastRole := \"\" }}}}{range}{}{{{{ else }}}}{}{{{{ else }}}}{}{{{{ end }}}}{{{{ end }}}}{{{{ end }}}}\
                 {{{{ $lastRole = $m.Role }}}}{{{{ end }}}}\
                 {{{{ if ne $lastRole \"assistant\" }}}}{}{{{{ else }}}}{}{{{{ end }}}}",
                turn("system"),
                turn("user"),
                turn("assistant"),
                lit("<|assistant|>\n"),
                lit(eos),
            )
        }
        Builtin::Gemma => format!(
            "{}{range}{}{{{{ if eq $m.Role \"assistant\" }}}}{}{{{{ else }}}}{ROLE}{{{{ end }}}}{}{CONTENT}{}{}{{{{ end }}}}",
            lit(bos),
            lit("<start_of_turn>"),
            lit("model"),
            lit("\n"),
            lit("<end_of_turn>\n"),
            generation_prompt("<start_of_turn>model\n"),
        ),
        Builtin::Alpaca => format!(
            "{HAS_SYS}{}{{{{ if $hasSys }}}}{{{{ (index .Messages 0).Content }}}}{{{{ else }}}}{}{{{{ end }}}}{}\
             {{{{ $lastRole := \"\" }}}}{range}{SKIP_SYS}{{{{ else if eq $m.Role \"user\" }}}}\
             {{{{ if not (or (and $hasSys (eq $i 1)) (and (not $hasSys) (eq $i 0))) }}}}{}{{{{ end }}}}{}{CONTENT}{}\
             {{{{ else if eq $m.Role \"assistant\" }}}}{}{CONTENT}{}{{{{ end }}}}{{{{ $lastRole = $m.Role }}}}{{{{ end }}}}\
             {{{{ if ne $lastRole \"assistant\" }}}}{}{{{{ end }}}}",
            lit(bos),
            lit(
                "Below is an instruction that describes a task. Write a response that appropriately completes the request."
            ),
            lit("\n\n"),
            lit("\n\n"),
            lit("### Instruction:\n"),
            lit("\n\n"),
            lit("### Response:\n"),
            lit(eos),
            lit("### Response:\n"),
        ),
        Builtin::Vicuna => format!(
            "{HAS_SYS}{}{{{{ if $hasSys }}}}{{{{ (index .Messages 0).Content }}}}{{{{ else }}}}{}{{{{ end }}}}{}\
             {{{{ $lastRole := \"\" }}}}{range}{SKIP_SYS}{{{{ else if eq $m.Role \"user\" }}}}{}{CONTENT}{}\
             {{{{ else if eq $m.Role \"assistant\" }}}}{}{CONTENT}{}{{{{ end }}}}{{{{ $lastRole = $m.Role }}}}{{{{ end }}}}\
             {{{{ if ne $lastRole \"assistant\" }}}}{}{{{{ end }}}}",
            lit(bos),
            lit(
                "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions."
            ),
            lit(" "),
            lit("USER: "),
            lit(" "),
            lit("ASSISTANT: "),
            lit(eos),
            lit("ASSISTANT:"),
        ),
    }
}

/// Texts generation should stop at: the template's end of turn, and the end-of-turn markers of
/// templates whose EOS is something else.
pub fn stop_tokens(template: &ChatTemplate, builtin: Option<Builtin>) -> Vec<String> {
    let mut stops = Vec::new();
    let extra: &[&str] = match builtin {
        Some(Builtin::Phi3) => &["<|end|>"],
        Some(Builtin::Gemma) => &["<end_of_turn>"],
        _ => &[],
    };
    for s in std::iter::once(template.eos_token.as_str()).chain(extra.iter().copied()) {
        if !s.is_empty() && !stops.iter().any(|x| x == s) {
            stops.push(s.to_string());
        }
    }
    stops
}

/// A Go-template-safe, Modelfile-safe quoted string for `PARAMETER stop`.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Modelfile for `gguf_from` (the GGUF path as `FROM` takes it: `./name.gguf` beside the
/// Modelfile, or an absolute path).
/// `tokenizer_adds_bos`: whether llama.cpp adds the BOS by itself. `num_ctx`: the context
/// length to run with.
pub fn modelfile(
    gguf_from: &str,
    template: &ChatTemplate,
    tokenizer_adds_bos: bool,
    num_ctx: usize,
) -> Modelfile {
    let builtin = builtin_of(template);
    let mut warnings = Vec::new();
    let mut text = String::new();
    text.push_str("# Written by `ajuste export gguf`.\n");
    match builtin {
        Some(b) => {
            text.push_str(&format!(
                "# TEMPLATE is ajuste's `{b}` training template translated to Go-template syntax: it\n\
                 # renders the same text for any conversation (message content is not trimmed and\n\
                 # role-order checks are dropped; Qwen's tool-call branch is not translated).\n"
            ));
            if tokenizer_adds_bos && !b.bos_token().is_empty() {
                text.push_str(
                    "# The leading BOS is left out of TEMPLATE because llama.cpp adds it itself.\n",
                );
            }
        }
        None => {
            text.push_str(
                "# The chat template is not one of ajuste's built-ins and is not translated to Go;\n\
                 # there is no TEMPLATE: the exact Jinja text is embedded in the GGUF file\n\
                 # (tokenizer.chat_template), which llama.cpp uses and Ollama uses when it knows it.\n",
            );
            warnings.push(
                "the chat template is not an ajuste built-in, so the Modelfile has no TEMPLATE: \
                 Ollama falls back to the GGUF's embedded template only when it recognises it; \
                 check `ollama show --template` before serving"
                    .into(),
            );
        }
    }
    text.push_str(&format!("FROM {gguf_from}\n"));
    if let Some(b) = builtin {
        let go = go_template(b, !tokenizer_adds_bos);
        text.push_str(&format!("TEMPLATE \"\"\"{go}\"\"\"\n"));
    }
    for stop in stop_tokens(template, builtin) {
        text.push_str(&format!("PARAMETER stop {}\n", quoted(&stop)));
    }
    text.push_str(&format!("PARAMETER num_ctx {num_ctx}\n"));
    Modelfile {
        text,
        builtin,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_backslashes_and_newlines() {
        assert_eq!(lit("a\"b\\c\n"), "{{ \"a\\\"b\\\\c\\n\" }}");
        assert_eq!(lit(""), "");
    }

    #[test]
    fn builtins_are_recognised_only_with_their_tokens() {
        let chatml = Builtin::Chatml.to_chat_template();
        assert_eq!(builtin_of(&chatml), Some(Builtin::Chatml));
        let mut other = chatml.clone();
        other.eos_token = "</s>".into();
        assert_eq!(builtin_of(&other), None);
        // A BOS the text never prints does not matter; one it prints does.
        let mut unused_bos = chatml.clone();
        unused_bos.bos_token = "<|endoftext|>".into();
        assert_eq!(builtin_of(&unused_bos), Some(Builtin::Chatml));
        let mut llama2 = Builtin::Llama2.to_chat_template();
        assert_eq!(builtin_of(&llama2), Some(Builtin::Llama2));
        llama2.bos_token = "<|endoftext|>".into();
        assert_eq!(builtin_of(&llama2), None);
    }

    #[test]
    fn chatml_modelfile_has_template_stop_and_context() {
        let t = Builtin::Chatml.to_chat_template();
        let m = modelfile("./model.gguf", &t, false, 2048);
        assert!(m.text.contains("FROM ./model.gguf\n"));
        assert!(
            m.text
                .contains("TEMPLATE \"\"\"{{ range $i, $m := .Messages }}")
        );
        assert!(m.text.contains("PARAMETER stop \"<|im_end|>\"\n"));
        assert!(m.text.contains("PARAMETER num_ctx 2048\n"));
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn leading_bos_is_left_to_a_tokenizer_that_adds_it() {
        assert!(go_template(Builtin::Llama3, true).contains("<|begin_of_text|>"));
        assert!(!go_template(Builtin::Llama3, false).contains("<|begin_of_text|>"));
        // Llama 2 repeats BOS before later turns either way.
        assert!(go_template(Builtin::Llama2, false).contains("<s>"));
    }

    #[test]
    fn unknown_jinja_gets_no_template_and_a_warning() {
        let t = ChatTemplate::new("{{ messages[0]['content'] }}", "", "<|end|>");
        let m = modelfile("./x.gguf", &t, false, 512);
        assert!(!m.text.contains("TEMPLATE \"\"\""));
        assert!(m.text.contains("PARAMETER stop \"<|end|>\""));
        assert_eq!(m.warnings.len(), 1);
    }

    #[test]
    fn every_translation_balances_its_actions() {
        for b in Builtin::ALL {
            let go = go_template(b, true);
            let opens = go.matches("{{ if").count() + go.matches("{{ range").count();
            let ends = go.matches("{{ end }}").count();
            assert_eq!(opens, ends, "{b}: {go}");
            assert!(!go.contains("\"\"\""), "{b}");
        }
    }
}
