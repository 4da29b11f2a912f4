//! HTML to Markdown-ish text, as FastChat's ShareGPT cleaning does it.
//!
//! Scraped chat logs (the original ShareGPT dump) store answers as the HTML of the chat page:
//! `<div class="markdown"><p>...</p><pre><div>python<button>Copy code</button></div>
//! <code class="language-python">...</code></pre></div>`. This step turns such text back into
//! what the model should learn to write: paragraphs, lists, headings, emphasis, links, and code
//! blocks as Markdown fences with their language, entities decoded, UI noise ("Copy code"
//! buttons, SVG icons) dropped.
//!
//! It only touches text that looks like HTML ([`looks_like_html`]): an answer that merely
//! mentions `<div>` in backticks or shows HTML inside a fenced code block is left as it is, and
//! fenced code blocks of a converted text pass through untouched.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::fence;

/// Tags the converter knows. Anything else in angle brackets (`Vec<T>`, `<thinking>`) is text.
#[rustfmt::skip]
const KNOWN: &[&str] = &[
    "a", "abbr", "article", "aside", "b", "blockquote", "body", "br", "button", "caption", "center",
    "cite", "code", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "font",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "i",
    "img", "input", "ins", "kbd", "label", "li", "main", "mark", "nav", "noscript", "ol", "option",
    "p", "path", "pre", "q", "s", "samp", "script", "section", "select", "small", "span", "strike",
    "strong", "style", "sub", "summary", "sup", "svg", "table", "tbody", "td", "template",
    "textarea", "tfoot", "th", "thead", "time", "title", "tr", "u", "ul", "var",
];

/// Elements whose content is not text a reader sees (scripts, styles, icons, buttons).
const SKIPPED: &[&str] = &[
    "button", "head", "noscript", "script", "style", "svg", "template", "title",
];

/// Elements that break a paragraph.
#[rustfmt::skip]
const BLOCKS: &[&str] = &[
    "article", "aside", "blockquote", "body", "caption", "center", "details", "div", "dl",
    "figcaption", "figure", "footer", "form", "header", "html", "main", "nav", "p", "section",
    "summary", "table", "tbody", "tfoot", "thead",
];

/// Elements whose presence (closing tag, or line-break element) marks real markup.
#[rustfmt::skip]
const STRUCTURAL: &[&str] = &[
    "blockquote", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre",
    "table", "td", "tr", "ul",
];

static INLINE_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`[^`\n]*`").expect("valid regex"));
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:^|\s)(class|href|alt)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#)
        .expect("valid regex")
});
static CODE_LANG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|\s)(?:language|lang)-([A-Za-z0-9_+#.-]+)").expect("valid regex")
});

/// One parsed tag.
#[derive(Debug)]
struct Tag {
    /// Lowercase name.
    name: String,
    closing: bool,
    self_closing: bool,
    /// The raw attribute text between the name and `>`.
    attrs: String,
}

impl Tag {
    /// The decoded value of an attribute, if present.
    fn attr(&self, key: &str) -> Option<String> {
        ATTR.captures_iter(&self.attrs)
            .find(|c| c[1].eq_ignore_ascii_case(key))
            .and_then(|c| c.get(2).or(c.get(3)).or(c.get(4)))
            .map(|m| decode_entities(m.as_str()).into_owned())
    }
}

/// What starts at a `<`.
enum Lexed {
    Tag(Tag),
    /// A comment, doctype or processing instruction: skipped in HTML mode.
    Ignorable,
}

/// Reads a known tag, comment or doctype at the start of `s` (which starts with `<`); returns
/// it with the number of bytes it spans, or `None` when the `<` is just text.
fn lex(s: &str) -> Option<(Lexed, usize)> {
    if let Some(rest) = s.strip_prefix("<!--") {
        let end = rest.find("-->").map_or(s.len(), |i| 4 + i + 3);
        return Some((Lexed::Ignorable, end));
    }
    if s.starts_with("<!") || s.starts_with("<?") {
        let end = s.find('>')?;
        return Some((Lexed::Ignorable, end + 1));
    }
    let closing = s[1..].starts_with('/');
    let name_start = if closing { 2 } else { 1 };
    let name_len = s[name_start..]
        .bytes()
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    if name_len == 0 || !s.as_bytes()[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[name_start..name_start + name_len].to_ascii_lowercase();
    if !KNOWN.contains(&name.as_str()) {
        return None;
    }
    let after = name_start + name_len;
    match s[after..].chars().next() {
        Some(c) if c.is_ascii_whitespace() || c == '/' || c == '>' => {}
        _ => return None,
    }
    let end = after + tag_end(&s[after..])?;
    let inner = s[after..end].trim_end();
    let self_closing = inner.ends_with('/');
    let attrs = inner.trim_end_matches('/').to_owned();
    Some((
        Lexed::Tag(Tag {
            name,
            closing,
            self_closing,
            attrs,
        }),
        end + 1,
    ))
}

/// Byte offset of the `>` that ends a tag, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// The known tags in `s`, in order.
fn tags(s: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find('<') {
        i += off;
        match lex(&s[i..]) {
            Some((Lexed::Tag(t), len)) => {
                out.push(t);
                i += len;
            }
            Some((Lexed::Ignorable, len)) => i += len,
            None => i += 1,
        }
    }
    out
}

/// Whether the text is HTML markup rather than text that mentions tags: outside fenced code
/// and inline code spans, it starts with a known tag, or has at least three known tags of
/// which one closes a structural element (or is a `<br>`/`<hr>`).
pub(crate) fn looks_like_html(text: &str) -> bool {
    let prose = fence::prose(text);
    let prose = INLINE_CODE.replace_all(&prose, "");
    let found = tags(&prose);
    if found.is_empty() {
        return false;
    }
    let trimmed = prose.trim_start();
    let starts_with_tag =
        trimmed.starts_with('<') && matches!(lex(trimmed), Some((Lexed::Tag(_), _)));
    let structural = found.iter().any(|t| {
        STRUCTURAL.contains(&t.name.as_str()) && (t.closing || t.name == "br" || t.name == "hr")
    });
    starts_with_tag || (found.len() >= 3 && structural)
}

/// Converts HTML-looking text to Markdown-ish text; other text is returned unchanged.
pub(crate) fn strip_html(text: &str) -> Cow<'_, str> {
    if !looks_like_html(text) {
        return Cow::Borrowed(text);
    }
    let out = convert_outside_fences(text);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// Converts the prose between fenced code blocks and keeps the blocks verbatim.
fn convert_outside_fences(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut prose: Vec<&str> = Vec::new();
    let mut code: Vec<&str> = Vec::new();
    let flush_prose = |prose: &mut Vec<&str>, parts: &mut Vec<String>| {
        let converted = html_to_markdown(&prose.join("\n"));
        if !converted.is_empty() {
            parts.push(converted);
        }
        prose.clear();
    };
    // A fence line carrying markup (```` ```</code></pre> ````) is code inside a `<pre>`, not
    // Markdown: only fences with a plain info string delimit verbatim blocks here.
    for (line, is_code) in fence::lines_where(text, |info| !info.contains(['<', '>'])) {
        if is_code {
            if !prose.is_empty() {
                flush_prose(&mut prose, &mut parts);
            }
            code.push(line);
        } else {
            if !code.is_empty() {
                parts.push(code.join("\n"));
                code.clear();
            }
            prose.push(line);
        }
    }
    if !prose.is_empty() {
        flush_prose(&mut prose, &mut parts);
    }
    if !code.is_empty() {
        parts.push(code.join("\n"));
    }
    parts.join("\n\n")
}

/// Markdown output with deferred line breaks, so that nested blocks (`<div><p>`) give one
/// blank line rather than several, and no line ends in spaces.
#[derive(Default)]
struct Writer {
    out: String,
    /// Newlines wanted before the next text (0, 1 or 2).
    breaks: usize,
    /// A space is wanted before the next text.
    space: bool,
    /// A list marker or heading prefix was just written: block breaks before its first text
    /// would separate the marker from its item (`<li><p>text</p></li>`).
    after_marker: bool,
}

impl Writer {
    fn brk(&mut self, n: usize) {
        if !self.after_marker {
            self.breaks = self.breaks.max(n);
        }
        self.space = false;
    }

    fn flush(&mut self) {
        if self.breaks > 0 && !self.out.is_empty() {
            let trimmed = self.out.trim_end_matches([' ', '\t']).len();
            self.out.truncate(trimmed);
            let have = self.out.len() - self.out.trim_end_matches('\n').len();
            for _ in have..self.breaks {
                self.out.push('\n');
            }
        } else if self.space && !self.out.is_empty() && !self.out.ends_with(['\n', ' ']) {
            self.out.push(' ');
        }
        self.breaks = 0;
        self.space = false;
    }

    /// Writes markup or text verbatim.
    fn raw(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.flush();
        self.out.push_str(s);
        self.after_marker = false;
    }

    /// Writes a list marker or heading prefix.
    fn marker(&mut self, s: &str) {
        self.raw(s);
        self.after_marker = true;
    }

    /// A hard line break (`<br>`).
    fn newline(&mut self) {
        self.flush();
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        self.out.push('\n');
        self.after_marker = false;
    }

    /// Writes a text node: ASCII whitespace collapses as in HTML, except that line breaks in
    /// the source are kept (one or a blank line), which protects Markdown mixed into HTML.
    fn text(&mut self, s: &str) {
        let mut word = String::new();
        let mut newlines = 0usize;
        let mut in_space = false;
        for c in s.chars() {
            if c.is_ascii_whitespace() {
                if !word.is_empty() {
                    self.raw(&std::mem::take(&mut word));
                }
                in_space = true;
                newlines += usize::from(c == '\n');
                continue;
            }
            if in_space {
                self.whitespace_run(newlines);
                in_space = false;
                newlines = 0;
            }
            word.push(c);
        }
        if !word.is_empty() {
            self.raw(&word);
        }
        if in_space {
            self.whitespace_run(newlines);
        }
    }

    fn whitespace_run(&mut self, newlines: usize) {
        if newlines > 0 {
            self.brk(newlines.min(2));
        } else if self.breaks == 0 {
            self.space = true;
        }
    }
}

/// A `<pre>` being read: its text, and the text of the `<code>` inside it, which is all that
/// is kept when present (the rest is the chat page's header: language label, copy button).
#[derive(Default)]
struct Pre {
    lang: Option<String>,
    all: String,
    code: String,
    in_code: bool,
    saw_code: bool,
}

impl Pre {
    fn finish(self) -> String {
        let body = if self.saw_code { self.code } else { self.all };
        let body = trim_blank_lines(&body);
        let longest_run = longest_backtick_run(body);
        let fence = "`".repeat(longest_run.max(2) + 1);
        format!("{fence}{}\n{body}\n{fence}", self.lang.unwrap_or_default())
    }
}

/// Removes blank lines at both ends, keeping the first line's indentation.
fn trim_blank_lines(s: &str) -> &str {
    let s = s.trim_end();
    let mut start = 0;
    for line in s.split_inclusive('\n') {
        if !line.trim().is_empty() {
            break;
        }
        start += line.len();
    }
    &s[start..]
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn code_language(tag: &Tag) -> Option<String> {
    let class = tag.attr("class")?;
    CODE_LANG
        .captures(&class)
        .map(|c| c[1].to_ascii_lowercase())
}

/// An open `<ul>` or `<ol>` and the items written so far.
struct List {
    ordered: bool,
    items: usize,
}

/// The conversion state machine.
#[derive(Default)]
struct Converter {
    w: Writer,
    /// Open skipped elements (names), innermost last.
    skipping: Vec<String>,
    pre: Option<Pre>,
    /// Open lists, innermost last.
    lists: Vec<List>,
    /// Open links: the href to write when the link closes.
    links: Vec<Option<String>>,
    /// Cells written in the current table row, and whether it had header cells.
    row_cells: usize,
    row_header: bool,
    /// Inside an inline `<code>` (outside `<pre>`).
    inline_code: bool,
}

/// Converts one stretch of HTML (no fenced code inside) to Markdown-ish text.
fn html_to_markdown(html: &str) -> String {
    let mut conv = Converter::default();
    let mut i = 0;
    let mut text_start = 0;
    while let Some(off) = html[i..].find('<') {
        i += off;
        match lex(&html[i..]) {
            Some((lexed, len)) => {
                conv.text(&html[text_start..i]);
                if let Lexed::Tag(tag) = lexed {
                    conv.tag(&tag);
                }
                i += len;
                text_start = i;
            }
            None => i += 1,
        }
    }
    conv.text(&html[text_start..]);
    if let Some(pre) = conv.pre.take() {
        // An unclosed <pre> still becomes a code block.
        conv.w.brk(2);
        conv.w.raw(&pre.finish());
    }
    conv.w.out.trim().to_owned()
}

impl Converter {
    fn text(&mut self, raw: &str) {
        if raw.is_empty() || !self.skipping.is_empty() {
            return;
        }
        let decoded = decode_entities(raw);
        if let Some(pre) = &mut self.pre {
            pre.all.push_str(&decoded);
            if pre.in_code {
                pre.code.push_str(&decoded);
            }
        } else if self.inline_code {
            self.w.text(&decoded);
        } else {
            self.w.text(&quote_literal_tags(&decoded));
        }
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        if !self.skipping.is_empty() {
            // Only track nesting of the element being skipped.
            if self.skipping.last().is_some_and(|s| s == name) {
                if tag.closing {
                    self.skipping.pop();
                } else if !tag.self_closing {
                    self.skipping.push(tag.name.clone());
                }
            }
            return;
        }
        if SKIPPED.contains(&name) {
            if !tag.closing && !tag.self_closing {
                self.skipping.push(tag.name.clone());
            }
            return;
        }
        if self.pre.is_some() {
            self.tag_in_pre(tag);
            return;
        }
        if tag.closing {
            self.close(name)
        } else {
            self.open(tag)
        }
    }

    fn tag_in_pre(&mut self, tag: &Tag) {
        let Some(pre) = &mut self.pre else { return };
        match (tag.name.as_str(), tag.closing) {
            ("pre", true) => {
                let pre = self.pre.take().expect("checked above");
                self.w.brk(2);
                self.w.raw(&pre.finish());
                self.w.brk(2);
            }
            ("code", false) => {
                pre.in_code = true;
                pre.saw_code = true;
                if pre.lang.is_none() {
                    pre.lang = code_language(tag);
                }
            }
            ("code", true) => pre.in_code = false,
            ("br", _) => {
                pre.all.push('\n');
                if pre.in_code {
                    pre.code.push('\n');
                }
            }
            _ => {}
        }
    }

    fn open(&mut self, tag: &Tag) {
        let w = &mut self.w;
        match tag.name.as_str() {
            "pre" => {
                self.pre = Some(Pre {
                    lang: code_language(tag),
                    ..Pre::default()
                });
            }
            "br" => w.newline(),
            "hr" => {
                w.brk(2);
                w.raw("---");
                w.brk(2);
            }
            "p" | "div" if tag.self_closing => w.brk(2),
            h if is_heading(h) => {
                let level = usize::from(h.as_bytes()[1] - b'0');
                w.brk(2);
                w.marker(&format!("{} ", "#".repeat(level)));
            }
            "ul" | "ol" => {
                w.brk(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(List {
                    ordered: tag.name == "ol",
                    items: 0,
                });
            }
            "li" => self.list_item(),
            "dt" | "dd" => w.brk(1),
            "tr" => {
                w.brk(1);
                self.row_cells = 0;
                self.row_header = false;
            }
            "td" | "th" => {
                w.raw(if self.row_cells == 0 { "| " } else { " | " });
                self.row_cells += 1;
                self.row_header |= tag.name == "th";
            }
            "b" | "strong" => w.raw("**"),
            "i" | "em" => w.raw("*"),
            "del" | "s" | "strike" => w.raw("~~"),
            "q" => w.raw("\""),
            "code" => {
                w.raw("`");
                self.inline_code = true;
            }
            "a" => {
                let href = tag
                    .attr("href")
                    .filter(|h| !h.is_empty() && !h.starts_with("javascript:"));
                if href.is_some() {
                    w.raw("[");
                }
                self.links.push(href);
            }
            "img" => {
                if let Some(alt) = tag.attr("alt") {
                    w.text(&alt);
                }
            }
            name if BLOCKS.contains(&name) => w.brk(2),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        let w = &mut self.w;
        match name {
            h if is_heading(h) => w.brk(2),
            "ul" | "ol" => {
                self.lists.pop();
                w.brk(if self.lists.is_empty() { 2 } else { 1 });
            }
            "li" | "dt" | "dd" => w.brk(1),
            "tr" => {
                if self.row_cells > 0 {
                    w.raw(" |");
                    if self.row_header {
                        w.newline();
                        w.raw(&format!("|{}", " --- |".repeat(self.row_cells)));
                    }
                }
                self.row_cells = 0;
                self.row_header = false;
                w.brk(1);
            }
            "b" | "strong" => w.raw("**"),
            "i" | "em" => w.raw("*"),
            "del" | "s" | "strike" => w.raw("~~"),
            "q" => w.raw("\""),
            "code" if self.inline_code => {
                w.raw("`");
                self.inline_code = false;
            }
            "a" => {
                if let Some(Some(href)) = self.links.pop() {
                    w.raw(&format!("]({href})"));
                }
            }
            name if BLOCKS.contains(&name) => w.brk(2),
            _ => {}
        }
    }

    fn list_item(&mut self) {
        let depth = self.lists.len().max(1);
        let (marker, follows_item) = match self.lists.last_mut() {
            Some(list) => {
                list.items += 1;
                let marker = if list.ordered {
                    format!("{}. ", list.items)
                } else {
                    "- ".to_owned()
                };
                (marker, list.items > 1)
            }
            None => ("- ".to_owned(), false),
        };
        // Items stay on consecutive lines (a tight list) even when each wraps its text in
        // <p>, as chat pages do: the paragraph break pending from the previous item is
        // replaced, not merged.
        if follows_item && self.w.breaks > 1 {
            self.w.breaks = 1;
        }
        self.w.brk(1);
        self.w
            .marker(&format!("{}{marker}", "  ".repeat(depth - 1)));
    }
}

fn is_heading(name: &str) -> bool {
    name.len() == 2 && name.starts_with('h') && matches!(name.as_bytes()[1], b'1'..=b'6')
}

/// Text that spelled a tag with entities (`&lt;p&gt;`) meant the literal tag; after decoding it
/// goes in backticks, as Markdown writes it, so it is not taken for markup later.
fn quote_literal_tags(text: &str) -> Cow<'_, str> {
    if !text.contains('<') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    let mut copied = 0;
    while let Some(off) = text[i..].find('<') {
        i += off;
        match lex(&text[i..]) {
            Some((_, len)) if !text[..i].ends_with('`') => {
                out.push_str(&text[copied..i]);
                out.push('`');
                out.push_str(&text[i..i + len]);
                out.push('`');
                i += len;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Named entities worth knowing: the XML five, typography, and the Latin-1 letters Portuguese,
/// Spanish, French and German text uses.
#[rustfmt::skip]
const ENTITIES: &[(&str, &str)] = &[
    ("amp", "&"), ("lt", "<"), ("gt", ">"), ("quot", "\""), ("apos", "'"), ("nbsp", "\u{A0}"),
    ("shy", "\u{AD}"), ("hellip", "…"), ("mdash", "—"), ("ndash", "–"), ("lsquo", "‘"),
    ("rsquo", "’"), ("ldquo", "“"), ("rdquo", "”"), ("laquo", "«"), ("raquo", "»"), ("bull", "•"),
    ("middot", "·"), ("copy", "©"), ("reg", "®"), ("trade", "™"), ("euro", "€"), ("pound", "£"),
    ("cent", "¢"), ("yen", "¥"), ("sect", "§"), ("para", "¶"), ("deg", "°"), ("plusmn", "±"),
    ("times", "×"), ("divide", "÷"), ("iexcl", "¡"), ("iquest", "¿"), ("ordf", "ª"), ("ordm", "º"),
    ("rarr", "→"), ("larr", "←"), ("le", "≤"), ("ge", "≥"), ("ne", "≠"), ("szlig", "ß"),
    ("Aacute", "Á"), ("aacute", "á"), ("Agrave", "À"), ("agrave", "à"), ("Acirc", "Â"),
    ("acirc", "â"), ("Atilde", "Ã"), ("atilde", "ã"), ("Auml", "Ä"), ("auml", "ä"), ("Ccedil", "Ç"),
    ("ccedil", "ç"), ("Eacute", "É"), ("eacute", "é"), ("Egrave", "È"), ("egrave", "è"),
    ("Ecirc", "Ê"), ("ecirc", "ê"), ("Euml", "Ë"), ("euml", "ë"), ("Iacute", "Í"), ("iacute", "í"),
    ("Igrave", "Ì"), ("igrave", "ì"), ("Icirc", "Î"), ("icirc", "î"), ("Iuml", "Ï"), ("iuml", "ï"),
    ("Ntilde", "Ñ"), ("ntilde", "ñ"), ("Oacute", "Ó"), ("oacute", "ó"), ("Ograve", "Ò"),
    ("ograve", "ò"), ("Ocirc", "Ô"), ("ocirc", "ô"), ("Otilde", "Õ"), ("otilde", "õ"),
    ("Ouml", "Ö"), ("ouml", "ö"), ("Uacute", "Ú"), ("uacute", "ú"), ("Ugrave", "Ù"),
    ("ugrave", "ù"), ("Ucirc", "Û"), ("ucirc", "û"), ("Uuml", "Ü"), ("uuml", "ü"),
];

/// Characters that HTML reads for numeric references 0x80..=0x9F (windows-1252 bytes, which
/// scraped pages are full of: `&#146;` is a right quote, not a control character).
#[rustfmt::skip]
const WINDOWS_1252: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// The character of a numeric reference, as HTML parsers read it.
fn numeric_char(code: u32) -> char {
    match code {
        0x80..=0x9F => WINDOWS_1252[(code - 0x80) as usize],
        0 => '\u{FFFD}',
        _ => char::from_u32(code).unwrap_or('\u{FFFD}'),
    }
}

/// Decodes one entity at the start of `s` (which starts with `&`); returns the text and the
/// bytes consumed.
fn entity_at(s: &str) -> Option<(Cow<'static, str>, usize)> {
    let end = s[1..].find(';').filter(|&e| e <= 32)? + 1;
    let body = &s[1..end];
    let decoded = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        Cow::Owned(numeric_char(code).to_string())
    } else {
        let (_, text) = ENTITIES.iter().find(|(name, _)| *name == body)?;
        Cow::Borrowed(*text)
    };
    Some((decoded, end + 1))
}

/// Decodes named and numeric character references; unknown ones stay as they are.
pub(crate) fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        match entity_at(rest) {
            Some((text, len)) => {
                out.push_str(&text);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatgpt_page_html_becomes_markdown() {
        let html = concat!(
            r#"<div class="markdown prose"><p>Claro! Aqui está a função:</p>"#,
            r#"<pre><div class="bg-black"><div class="flex"><span>python</span>"#,
            r#"<button class="flex"><svg viewBox="0 0 24 24"><path d="M16"></path></svg>Copy code</button></div>"#,
            r#"<div class="p-4"><code class="!whitespace-pre hljs language-python"><span class="hljs-keyword">def</span> "#,
            "soma(a, b):\n    <span class=\"hljs-keyword\">return</span> a + b\n</code></div></pre>",
            r#"<ol><li><p>Use <code>soma(1, 2)</code>;</p></li><li><p>Veja &lt;a&gt; &amp; <strong>mais</strong>.</p></li></ol></div>"#,
        );
        let want = "Claro! Aqui está a função:\n\n```python\ndef soma(a, b):\n    return a + b\n```\n\n1. Use `soma(1, 2)`;\n2. Veja `<a>` & **mais**.";
        assert_eq!(strip_html(html), want);
    }

    #[test]
    fn plain_text_and_markdown_are_untouched() {
        let md =
            "Use a tag `<div>` para agrupar.\n\n```html\n<div class=\"x\"><p>oi</p></div>\n```";
        assert!(matches!(strip_html(md), Cow::Borrowed(_)));
        let generic = "Em Rust, Vec<T> e Option<T> são genéricos; a < b e b > c.";
        assert!(matches!(strip_html(generic), Cow::Borrowed(_)));
        // Two tags mentioned in prose are not markup.
        let mention = "Wrap it in <b> or <i> to emphasise.";
        assert!(matches!(strip_html(mention), Cow::Borrowed(_)));
    }

    #[test]
    fn code_blocks_survive_and_keep_inner_html() {
        let html = "<p>Exemplo:</p><pre><code class=\"language-html\">&lt;p&gt;Olá&lt;/p&gt;\n&lt;br&gt;</code></pre>";
        assert_eq!(
            strip_html(html),
            "Exemplo:\n\n```html\n<p>Olá</p>\n<br>\n```"
        );
        // A fenced block in text that is otherwise HTML passes through verbatim.
        let mixed = "<p>Antes</p>\n```html\n<div>  mantido  </div>\n```\n<p>Depois</p>";
        assert_eq!(
            strip_html(mixed),
            "Antes\n\n```html\n<div>  mantido  </div>\n```\n\nDepois"
        );
    }

    #[test]
    fn code_containing_fences_gets_a_longer_fence() {
        let html = "<pre><code>```\nx\n```</code></pre>";
        assert_eq!(strip_html(html), "````\n```\nx\n```\n````");
    }

    #[test]
    fn headings_links_tables_and_breaks() {
        let html = concat!(
            "<h2>Título</h2><p>Linha um<br>linha dois</p>",
            r#"<p><a href="https://exemplo.pt/?a=1&amp;b=2">site</a> e <em>ênfase</em></p>"#,
            "<table><tr><th>Nome</th><th>Idade</th></tr><tr><td>Ana</td><td>30</td></tr></table>",
        );
        let want = "## Título\n\nLinha um\nlinha dois\n\n[site](https://exemplo.pt/?a=1&b=2) e *ênfase*\n\n| Nome | Idade |\n| --- | --- |\n| Ana | 30 |";
        assert_eq!(strip_html(html), want);
    }

    #[test]
    fn nested_lists_indent() {
        let html = "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>";
        assert_eq!(strip_html(html), "- a\n  - b\n- c");
    }

    #[test]
    fn entities_decode_named_numeric_and_windows_1252() {
        assert_eq!(
            decode_entities("a&amp;b &eacute; &#227; &#xE7; &#146; &bogus; & x"),
            "a&b é ã ç ’ &bogus; & x"
        );
        assert_eq!(decode_entities("&#0; &#x110000;"), "\u{FFFD} \u{FFFD}");
    }

    #[test]
    fn comments_scripts_and_styles_disappear() {
        let html = "<div><!-- nota --><style>p{color:red}</style><p>Texto</p><script>alert(1)</script></div>";
        assert_eq!(strip_html(html), "Texto");
    }
}
