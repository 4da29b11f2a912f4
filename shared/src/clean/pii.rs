//! Personal data: finding and redacting emails, phone numbers, IP addresses, card numbers and
//! IBANs.
//!
//! The detectors favour precision: a redaction that eats a version number, a date, an order id
//! or `127.0.0.1` in a networking tutorial damages training data, so every candidate is checked
//! beyond its shape. Cards must pass the Luhn check and start like a card network's numbers,
//! IBANs must pass the ISO 7064 mod-97 check, IPs must be publicly routable addresses (private,
//! loopback, documentation ranges and netmasks are technical content, not personal data), and
//! phone numbers must be written the way phone numbers are (a `+` country code, an area code in
//! parentheses, or a national grouping) with 10 to 15 digits (8 with a `+`).
//!
//! Each found value becomes a placeholder such as `<EMAIL_1>`; the same value gets the same
//! placeholder everywhere in a record, so a conversation that repeats an address stays
//! coherent.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PiiKind {
    Email,
    Phone,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// Payment card numbers.
    Card,
    Iban,
}

impl PiiKind {
    pub const ALL: [PiiKind; 5] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Ip,
        PiiKind::Card,
        PiiKind::Iban,
    ];

    /// The word used in placeholders (`<EMAIL_1>`).
    pub fn label(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Ip => "IP",
            PiiKind::Card => "CARD",
            PiiKind::Iban => "IBAN",
        }
    }

    /// A plain-English noun for messages, singular and plural.
    pub fn noun(self, n: usize) -> &'static str {
        match (self, n == 1) {
            (PiiKind::Email, true) => "email address",
            (PiiKind::Email, false) => "email addresses",
            (PiiKind::Phone, true) => "phone number",
            (PiiKind::Phone, false) => "phone numbers",
            (PiiKind::Ip, true) => "IP address",
            (PiiKind::Ip, false) => "IP addresses",
            (PiiKind::Card, true) => "card number",
            (PiiKind::Card, false) => "card numbers",
            (PiiKind::Iban, true) => "IBAN",
            (PiiKind::Iban, false) => "IBANs",
        }
    }
}

/// One piece of personal data in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub kind: PiiKind,
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    /// The value in a canonical form, so differently written copies share a placeholder.
    pub key: String,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}")
        .expect("valid regex")
});

/// Phone shapes: international with `+`; area code in parentheses; NANP 3-3-4 with `-`/`.`
/// (optionally after the country code "1-") or spaces; Brazilian mobile "11 98765-4321"; a national trunk prefix "020 7946 0958".
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,5}(?:[ .-][0-9]{1,5}){0,5}",
        r"|\([0-9]{2,4}\) ?[0-9]{3,5}[-. ]?[0-9]{4}",
        r"|(?:1[-.])?[0-9]{3}[-.][0-9]{3}[-.][0-9]{4}",
        r"|[0-9]{3} [0-9]{3} [0-9]{4}",
        r"|[0-9]{2} 9[0-9]{4}-[0-9]{4}",
        r"|0[0-9]{2,4} [0-9]{3,4} [0-9]{4}",
    ))
    .expect("valid regex")
});

static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}").expect("valid regex"));

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*").expect("valid regex")
});

/// Runs of digit groups separated by single spaces or hyphens: where card numbers hide.
static DIGIT_GROUPS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9]+(?:[ -][0-9]+)*").expect("valid regex"));

/// A country code and check digits, then groups of letters and digits.
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Z]{2}[0-9]{2}[A-Z0-9]*(?: [A-Z0-9]+)*").expect("valid regex"));

fn char_before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn char_after(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// The match is not glued to a longer word or number: no letter or digit (or one of
/// `before_joiners`, such as the `.` of a longer dotted number) right before it, no letter or
/// digit right after it, and not followed by `.5`, `-7`, `/24` or `,50` continuing the number.
/// Sentence punctuation after a match is fine.
fn standalone(text: &str, start: usize, end: usize, before_joiners: &[char]) -> bool {
    let glued_before = char_before(text, start)
        .is_some_and(|c| c.is_alphanumeric() || before_joiners.contains(&c));
    let glued_after = char_after(text, end).is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut after = text[end..].chars();
    let continues_number = matches!(after.next(), Some('.' | '-' | '/' | ','))
        && after.next().is_some_and(|c| c.is_ascii_digit());
    !glued_before && !glued_after && !continues_number
}

fn emails(text: &str, out: &mut Vec<Found>) {
    for m in EMAIL.find_iter(text) {
        // A local part may not start or end with a dot; trim the sentence punctuation a
        // greedy local part picked up ("(ana@x.pt" is fine, ".ana@x.pt" starts at "ana").
        let lead = m.as_str().len() - m.as_str().trim_start_matches(['.', '-', '+', '%']).len();
        let start = m.start() + lead;
        if text[start..m.end()].starts_with('@') {
            continue;
        }
        out.push(Found {
            kind: PiiKind::Email,
            start,
            end: m.end(),
            key: text[start..m.end()].to_lowercase(),
        });
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Whether `s`, found at `start`, is a phone number: enough digits, not part of a longer run
/// of digit groups, not glued to a word or number.
fn phone_at(text: &str, start: usize, s: &str) -> bool {
    let end = start + s.len();
    let n = digits(s).len();
    let international = s.starts_with('+');
    let enough = if international {
        (8..=15).contains(&n)
    } else {
        (10..=15).contains(&n)
    };
    // Without a `+`, a phone shape inside a longer run of digit groups is a piece of
    // something else (an IBAN, a card, a table of numbers).
    let before = &text[..start];
    let after = &text[end..];
    let in_run = !international
        && (before.ends_with(' ') && before.trim_end().ends_with(|c: char| c.is_ascii_digit())
            || after.starts_with(' ')
                && after.trim_start().starts_with(|c: char| c.is_ascii_digit()));
    enough && !in_run && standalone(text, start, end, &['+', '_', '-', '.', '/'])
}

/// Finds phone numbers left to right in `text` (already masked for other findings), masking
/// each one found before judging the next, so that every decision sees on its left what a
/// second pass over the redacted text will see.
fn phones(text: &str, out: &mut Vec<Found>) {
    let mut text = text.to_owned();
    let mut pos = 0;
    while let Some(m) = PHONE.find_at(&text, pos) {
        let (start, whole) = (m.start(), m.as_str().to_owned());
        // The international pattern is greedy and may swallow what follows the phone ("+55 11
        // 98765-4321 2024", "... 2a00:1450::1"): give back whole groups until what is left is
        // a phone number, or nothing is.
        let mut s = whole.as_str();
        let found = loop {
            if phone_at(&text, start, s) {
                break Some(s.len());
            }
            match s.rfind([' ', '.', '-']) {
                Some(cut) => s = &s[..cut],
                None => break None,
            }
        };
        match found {
            Some(len) => {
                let f = Found {
                    kind: PiiKind::Phone,
                    start,
                    end: start + len,
                    key: digits(&whole[..len]),
                };
                text = mask(&text, std::slice::from_ref(&f));
                pos = f.end;
                out.push(f);
            }
            None => pos = start + whole.len(),
        }
    }
}

/// Whether the address is one people own: public unicast, not a netmask.
fn public_v4(ip: Ipv4Addr) -> bool {
    let inverted = !u32::from(ip);
    let netmask = inverted & inverted.wrapping_add(1) == 0;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || netmask)
}

/// Global unicast (2000::/3) outside the documentation prefix 2001:db8::/32.
fn public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    (0x2000..=0x3FFF).contains(&seg[0]) && !(seg[0] == 0x2001 && seg[1] == 0x0DB8)
}

fn ips(text: &str, out: &mut Vec<Found>) {
    for m in IPV4.find_iter(text) {
        if !standalone(text, m.start(), m.end(), &['.', '_']) {
            continue;
        }
        if let Ok(ip) = m.as_str().parse::<Ipv4Addr>()
            && public_v4(ip)
        {
            out.push(Found {
                kind: PiiKind::Ip,
                start: m.start(),
                end: m.end(),
                key: ip.to_string(),
            });
        }
    }
    for m in IPV6.find_iter(text) {
        let s = m.as_str().trim_end_matches('.');
        let end = m.start() + s.len();
        if !standalone(text, m.start(), end, &[':', '_']) {
            continue;
        }
        if let Ok(ip) = s.parse::<Ipv6Addr>()
            && public_v6(ip)
        {
            out.push(Found {
                kind: PiiKind::Ip,
                start: m.start(),
                end,
                key: ip.to_string(),
            });
        }
    }
}

/// The Luhn checksum used by every card network.
fn luhn(number: &str) -> bool {
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Card numbers are 13 to 19 digits, start with a network's digit (3 Amex/Diners/JCB, 4 Visa,
/// 5 and 2 Mastercard, 6 Discover/Elo/UnionPay), and are written either unbroken or in groups
/// of 4 (Amex 4-6-5) with one kind of separator.
fn card_like(groups: &[&str], seps: &[char]) -> bool {
    let number: String = groups.concat();
    let len_ok = (13..=19).contains(&number.len());
    let network = matches!(number.as_bytes().first(), Some(b'2'..=b'6'));
    let uniform = seps.windows(2).all(|w| w[0] == w[1]);
    let grouping = groups.len() == 1
        || groups[..groups.len() - 1].iter().all(|g| g.len() == 4)
        || groups.iter().map(|g| g.len()).eq([4, 6, 5]);
    len_ok && network && uniform && grouping && luhn(&number)
}

fn cards(text: &str, out: &mut Vec<Found>) {
    for m in DIGIT_GROUPS.find_iter(text) {
        let s = m.as_str();
        if s.bytes().filter(u8::is_ascii_digit).count() < 13 {
            continue;
        }
        let groups: Vec<(usize, &str)> = s
            .split([' ', '-'])
            .scan(0, |pos, g| {
                let at = *pos;
                *pos += g.len() + 1;
                Some((at, g))
            })
            .collect();
        let seps: Vec<char> = s.chars().filter(|c| matches!(c, ' ' | '-')).collect();
        let mut first = 0;
        // The longest window of groups that is a card, scanning left to right, so a card
        // between other numbers ("pedido 12 4111 1111 1111 1111 em 2024") is still found.
        while first < groups.len() {
            let span = |last: usize| {
                let (at, g) = groups[last - 1];
                (m.start() + groups[first].0, m.start() + at + g.len())
            };
            let found = (first + 1..=groups.len()).rev().find(|&last| {
                let gs: Vec<&str> = groups[first..last].iter().map(|(_, g)| *g).collect();
                let (start, end) = span(last);
                card_like(&gs, &seps[first..last - 1])
                    && standalone(text, start, end, &['_', '.', '-', '/'])
            });
            match found {
                Some(last) => {
                    let (start, end) = span(last);
                    out.push(Found {
                        kind: PiiKind::Card,
                        start,
                        end,
                        key: digits(&text[start..end]),
                    });
                    first = last;
                }
                None => first += 1,
            }
        }
    }
}

/// ISO 7064 mod-97-10 over the rearranged IBAN (letters as 10..35).
fn iban_checksum_ok(iban: &str) -> bool {
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// The longest IBAN made of a prefix of `groups` (space-separated in the text), as (number of
/// groups, compact form). Grouped IBANs come in fours, with a shorter last group.
fn iban_prefix(groups: &[&str]) -> Option<(usize, String)> {
    (1..=groups.len()).rev().find_map(|k| {
        let gs = &groups[..k];
        let compact: String = gs.concat();
        let grouping = k == 1 || gs[..k - 1].iter().all(|g| g.len() == 4) && gs[k - 1].len() <= 4;
        let valid = (15..=34).contains(&compact.len()) && grouping && iban_checksum_ok(&compact);
        valid.then_some((k, compact))
    })
}

fn starts_like_iban(group: &str) -> bool {
    let b = group.as_bytes();
    b.len() >= 4
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
}

fn ibans(text: &str, out: &mut Vec<Found>) {
    for m in IBAN.find_iter(text) {
        if char_before(text, m.start()).is_some_and(char::is_alphanumeric) {
            continue;
        }
        // A run may hold an IBAN, an upper-case word after it, or several IBANs in a row.
        let groups: Vec<&str> = m.as_str().split(' ').collect();
        let offsets: Vec<usize> = groups
            .iter()
            .scan(m.start(), |at, g| {
                let start = *at;
                *at += g.len() + 1;
                Some(start)
            })
            .collect();
        let mut i = 0;
        while i < groups.len() {
            let found = if starts_like_iban(groups[i]) {
                iban_prefix(&groups[i..])
            } else {
                None
            };
            let Some((k, compact)) = found else {
                i += 1;
                continue;
            };
            let last = i + k - 1;
            let end = offsets[last] + groups[last].len();
            if !char_after(text, end).is_some_and(char::is_alphanumeric) {
                out.push(Found {
                    kind: PiiKind::Iban,
                    start: offsets[i],
                    end,
                    key: compact,
                });
            }
            i += k;
        }
    }
}

/// Every piece of personal data of the given kinds in `text`, in order, without overlaps.
///
/// Emails, IPs, cards and IBANs are found first (the longer match wins where they overlap);
/// phone numbers, the least certain detector, are then looked for in a copy of the text where
/// those findings are masked the way their placeholders will read (`<XXXX>`). A digit group
/// that is a card is thus not "a longer run of numbers" next to a phone, and a second pass over
/// redacted text sees exactly what the first pass judged.
pub(crate) fn find(text: &str, kinds: &[PiiKind]) -> Vec<Found> {
    let mut all = Vec::new();
    for kind in kinds {
        match kind {
            PiiKind::Email => emails(text, &mut all),
            PiiKind::Ip => ips(text, &mut all),
            PiiKind::Card => cards(text, &mut all),
            PiiKind::Iban => ibans(text, &mut all),
            PiiKind::Phone => {}
        }
    }
    all.sort_by_key(|f| (std::cmp::Reverse(f.end - f.start), f.start));
    let mut kept: Vec<Found> = Vec::new();
    for f in all {
        if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
            kept.push(f);
        }
    }
    if kinds.contains(&PiiKind::Phone) {
        phones(&mask(text, &kept), &mut kept);
    }
    kept.sort_by_key(|f| f.start);
    kept
}

/// `text` with each finding's bytes replaced by `<`, `X`..., `>`: same byte offsets, and
/// neighbours see what they will see once the placeholder is in.
fn mask(text: &str, found: &[Found]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for f in found {
        bytes[f.start..f.end].fill(b'X');
        bytes[f.start] = b'<';
        bytes[f.end - 1] = b'>';
    }
    // Whole UTF-8 sequences were replaced by ASCII, so the bytes are still valid UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<(EMAIL|PHONE|IP|CARD|IBAN)_([0-9]{1,9})>").expect("valid regex")
});

/// Placeholders handed out within one record.
#[derive(Default)]
pub(crate) struct Placeholders {
    by_value: HashMap<(PiiKind, String), usize>,
    next: HashMap<PiiKind, usize>,
}

impl Placeholders {
    /// Numbers new placeholders after those already in `texts` (a record redacted before, or
    /// by an earlier step for other kinds), so `<EMAIL_1>` never names two addresses.
    pub(crate) fn continuing<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut p = Placeholders::default();
        for text in texts {
            for c in PLACEHOLDER.captures_iter(text) {
                let kind = PiiKind::ALL.into_iter().find(|k| k.label() == &c[1]);
                if let (Some(kind), Ok(n)) = (kind, c[2].parse::<usize>()) {
                    let next = p.next.entry(kind).or_insert(0);
                    *next = (*next).max(n);
                }
            }
        }
        p
    }

    fn get(&mut self, kind: PiiKind, key: &str) -> String {
        let n = match self.by_value.get(&(kind, key.to_owned())) {
            Some(&n) => n,
            None => {
                let n = self.next.entry(kind).or_insert(0);
                *n += 1;
                self.by_value.insert((kind, key.to_owned()), *n);
                *n
            }
        };
        format!("<{}_{n}>", kind.label())
    }

    /// The text with every finding replaced by its placeholder, or `None` if nothing was found.
    pub(crate) fn redact(&mut self, text: &str, kinds: &[PiiKind]) -> Option<String> {
        let found = find(text, kinds);
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in found {
            out.push_str(&text[at..f.start]);
            out.push_str(&self.get(f.kind, &f.key));
            at = f.end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_found(text: &str) -> Vec<(PiiKind, String)> {
        find(text, &PiiKind::ALL)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned()))
            .collect()
    }

    fn redact(text: &str) -> String {
        Placeholders::default()
            .redact(text, &PiiKind::ALL)
            .unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn emails_including_accented_local_parts() {
        assert_eq!(
            kinds_found("Escreva para joão.silva@exemplo.com.br ou (ANA@Mail.pt)."),
            [
                (PiiKind::Email, "joão.silva@exemplo.com.br".into()),
                (PiiKind::Email, "ANA@Mail.pt".into())
            ]
        );
        assert!(kinds_found("use git@ or @decorator and x@y").is_empty());
    }

    #[test]
    fn phones_in_common_national_and_international_forms() {
        let text = "Ligue (11) 98765-4321, +351 912 345 678, +1 (555) 123-4567 ou 555.123.4567.";
        let found: Vec<String> = kinds_found(text).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            found,
            [
                "(11) 98765-4321",
                "+351 912 345 678",
                "+1 (555) 123-4567",
                "555.123.4567"
            ]
        );
    }

    #[test]
    fn dates_versions_amounts_and_ids_are_not_phones() {
        for text in [
            "Em 2023-01-15 saiu a versão 1.2.3.4567.",
            "A população é 1 000 000 e o PIB 2 500 000 000.",
            "ISBN 978-3-16-148410-0, CPF 123.456.789-09",
            "pedido 12345678901234567890",
            "entre 10:30 e 11:45",
        ] {
            assert!(
                kinds_found(text).is_empty(),
                "{text}: {:?}",
                kinds_found(text)
            );
        }
    }

    #[test]
    fn only_public_ips_are_personal() {
        assert_eq!(
            kinds_found("servidor em 203.0.114.7, porta 80"),
            [(PiiKind::Ip, "203.0.114.7".into())]
        );
        assert_eq!(
            kinds_found("IPv6 2a00:1450:4001:82b::200e ok"),
            [(PiiKind::Ip, "2a00:1450:4001:82b::200e".into())]
        );
        for text in [
            "rode em 127.0.0.1:8080 ou 0.0.0.0",
            "rede 192.168.1.10/24, máscara 255.255.255.0, gw 10.0.0.1",
            "doc 192.0.2.1 e 2001:db8::1, link-local fe80::1",
            "versão 1.2.3.4.5 e std::vec::Vec e a[1::2]",
            "hora 12:30:45 e MAC 00:1a:2b:3c:4d:5e",
        ] {
            assert!(
                kinds_found(text).is_empty(),
                "{text}: {:?}",
                kinds_found(text)
            );
        }
    }

    #[test]
    fn cards_need_luhn_and_a_network_prefix() {
        assert_eq!(
            kinds_found("cartão 4111 1111 1111 1111."),
            [(PiiKind::Card, "4111 1111 1111 1111".into())]
        );
        assert_eq!(
            kinds_found("amex 3782-822463-10005"),
            [(PiiKind::Card, "3782-822463-10005".into())]
        );
        assert_eq!(
            kinds_found("5500005555555559"),
            [(PiiKind::Card, "5500005555555559".into())]
        );
        // Same shape, fails Luhn.
        assert!(kinds_found("cartão 4111 1111 1111 1112.").is_empty());
        // Passes Luhn but starts like no card network (an order id).
        assert!(luhn("1111111111111117"));
        assert!(kinds_found("pedido 1111111111111117").is_empty());
        // Mixed separators are not how cards are written.
        assert!(kinds_found("4111-1111 1111-1111").is_empty());
    }

    #[test]
    fn card_between_other_numbers_is_found() {
        assert_eq!(
            kinds_found("pedido 12 4111 1111 1111 1111 2024"),
            [(PiiKind::Card, "4111 1111 1111 1111".into())]
        );
    }

    #[test]
    fn ibans_need_the_mod_97_check() {
        assert_eq!(
            kinds_found("IBAN PT50 0002 0123 1234 5678 9015 4 OBRIGADO"),
            [(PiiKind::Iban, "PT50 0002 0123 1234 5678 9015 4".into())]
        );
        assert_eq!(
            kinds_found("DE89370400440532013000"),
            [(PiiKind::Iban, "DE89370400440532013000".into())]
        );
        assert!(kinds_found("PT51 0002 0123 1234 5678 9015 4").is_empty());
        let two = "PT50 0002 0123 1234 5678 9015 4 DE89 3704 0044 0532 0130 00";
        assert_eq!(kinds_found(two).len(), 2);
    }

    #[test]
    fn punctuation_after_a_value_does_not_hide_it() {
        assert_eq!(
            kinds_found("4111111111111111, validade 12/29"),
            [(PiiKind::Card, "4111111111111111".into())]
        );
        assert_eq!(
            kinds_found("Ligue 1-800-555-1234."),
            [(PiiKind::Phone, "1-800-555-1234".into())]
        );
        assert_eq!(
            kinds_found("+55 11 98765-4321 2024"),
            [(PiiKind::Phone, "+55 11 98765-4321".into())]
        );
    }

    #[test]
    fn a_phone_next_to_a_card_is_found_on_the_first_pass() {
        assert_eq!(
            kinds_found("(10) 90000-0000 4111 1111 1111 1111"),
            [
                (PiiKind::Phone, "(10) 90000-0000".into()),
                (PiiKind::Card, "4111 1111 1111 1111".into())
            ]
        );
        let once = redact("(10) 90000-0000 8.8.4.4");
        assert_eq!(once, "<PHONE_1> <IP_1>");
    }

    #[test]
    fn same_value_same_placeholder() {
        let mut p = Placeholders::default();
        let a = p
            .redact("Ana: ana@x.pt, Rui: rui@x.pt", &PiiKind::ALL)
            .unwrap();
        let b = p
            .redact("Confirme ANA@x.pt e +55 11 98765-4321", &PiiKind::ALL)
            .unwrap();
        assert_eq!(a, "Ana: <EMAIL_1>, Rui: <EMAIL_2>");
        assert_eq!(b, "Confirme <EMAIL_1> e <PHONE_1>");
    }

    #[test]
    fn redaction_is_stable() {
        let once = redact("mail ana@x.pt tel +55 11 98765-4321 ip 8.8.8.8 card 4111111111111111");
        assert_eq!(once, "mail <EMAIL_1> tel <PHONE_1> ip <IP_1> card <CARD_1>");
        assert_eq!(redact(&once), once);
    }

    #[test]
    fn numbering_continues_after_existing_placeholders() {
        let mut p = Placeholders::continuing(["já redigido: <EMAIL_2> e <IP_1>"]);
        assert_eq!(
            p.redact("novo: rui@x.pt", &PiiKind::ALL).unwrap(),
            "novo: <EMAIL_3>"
        );
    }

    #[test]
    fn kinds_not_asked_for_are_left() {
        let mut p = Placeholders::default();
        assert_eq!(
            p.redact("ana@x.pt 8.8.8.8", &[PiiKind::Ip]).unwrap(),
            "ana@x.pt <IP_1>"
        );
    }
}
