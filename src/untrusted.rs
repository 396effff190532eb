//! Showing text that someone else chose to a person on a terminal: event content and
//! tags, roster purposes, strings from packages and clients, in reviews, reports, errors
//! and logs.
//!
//! A terminal obeys what it is sent: `CR` returns to the start of the line, `ESC [2K`
//! erases it, `ESC [1A` moves up one line, U+202E shows what follows reversed, U+200B is
//! not shown at all. Text holding them can make a review show something other than what
//! will be signed. So every such character is rendered as a visible marker in angle
//! brackets: `⟨ESC⟩`, `⟨CR⟩`, `⟨LF⟩`, `⟨U+202E⟩`. The brackets are escaped too when they
//! occur in the text (`⟨U+27E8⟩`, `⟨U+27E9⟩`), so in rendered text every `⟨` starts a
//! marker that passport wrote; an attacker cannot type one.
//!
//! Pure functions only (no I/O), so every layer can use them.

use std::fmt::{self, Write as _};

/// The characters that open and close a marker.
const OPEN: char = '⟨';
const CLOSE: char = '⟩';

const C0: [&str; 32] = [
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
    "FS", "GS", "RS", "US",
];

/// Bidirectional formatting characters (Unicode UAX #9): embeddings, overrides,
/// isolates and the implicit marks. They reorder or hide what is around them.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no visible space or break lines outside `LF`: soft hyphen,
/// zero-width space, word joiner and invisible operators, deprecated format
/// characters, BOM, interlinear annotations, tag characters, Hangul fillers, and the
/// line and paragraph separators. (Zero-width (non-)joiners are left alone: scripts and
/// emoji need them, and they cannot move or hide text.)
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// True for every character a terminal would act on, hide or reorder: C0 controls
/// (newline and tab included), DEL, C1 controls, bidi controls and invisible
/// formatting characters.
pub fn is_dangerous(c: char) -> bool {
    c.is_control() || is_bidi(c) || is_invisible(c)
}

fn push_marker(out: &mut String, c: char) {
    out.push(OPEN);
    match c as u32 {
        n @ 0..=0x1F => out.push_str(C0[n as usize]),
        0x7F => out.push_str("DEL"),
        n => {
            let _ = write!(out, "U+{n:04X}");
        }
    }
    out.push(CLOSE);
}

/// Appends `s` with every dangerous character and every marker bracket as a marker.
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            OPEN | CLOSE => push_marker(out, c),
            '"' | '\\' if quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_dangerous(c) => push_marker(out, c),
            c => out.push(c),
        }
    }
}

/// Untrusted text as one line: every dangerous character (newlines included) and every
/// marker bracket is shown as a marker.
pub fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, false);
    out
}

/// [`line`] as a `Display` value, for `format!("{}", show(name))`.
pub fn show(s: &str) -> Shown<'_> {
    Shown(s)
}

pub struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&line(self.0))
    }
}

/// `"…"` around [`line`], with `"` and `\` backslash-escaped as in JSON: for values in
/// a list (a tag's fields), where a space or a comma inside a value must not look like
/// a separator.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    escape_into(&mut out, s, true);
    out.push('"');
    out
}

/// Untrusted multi-line text split at its newlines, each line rendered as by [`line`]
/// (a `CR` before the newline stays visible as `⟨CR⟩`). Empty text is one empty line.
pub fn lines(s: &str) -> Vec<String> {
    s.split('\n').map(line).collect()
}

/// A message that passport composed, possibly around untrusted parts: every dangerous
/// character except `LF` becomes a marker; brackets are left alone (the untrusted parts
/// should already have gone through [`line`], whose markers this keeps as they are).
/// The last line of defence for whatever reaches the terminal.
pub fn message(s: &str) -> String {
    if !s.chars().any(|c| c != '\n' && is_dangerous(c)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c != '\n' && is_dangerous(c) {
            push_marker(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// [`message`] that must stay one line (an error, a log line): `LF` is a marker too.
pub fn one_line(s: &str) -> String {
    if !s.chars().any(is_dangerous) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) {
            push_marker(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Serialized JSON made safe for a terminal without changing what it means: the
/// dangerous characters serde_json leaves raw inside strings (DEL, C1, bidi,
/// invisible) become `\uXXXX` escapes (UTF-16 pairs above U+FFFF). Outside strings
/// valid JSON has only ASCII punctuation and whitespace, so only strings change.
pub fn json(s: &str) -> String {
    if !s
        .chars()
        .any(|c| is_dangerous(c) && !matches!(c, '\n' | '\r' | '\t'))
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_dangerous(c) && !matches!(c, '\n' | '\r' | '\t') {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The width of rendered text on a terminal, never underestimated: ASCII is one column,
/// anything else is counted as two (wide CJK and emoji take two; counting more than a
/// character takes only wraps a line early, which is safe).
pub fn width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// Splits rendered text into pieces at most `max` columns wide (by [`width`]), never
/// inside a marker. Empty text is one empty piece.
pub fn wrap(rendered: &str, max: usize) -> Vec<String> {
    let max = max.max(12);
    let mut out = vec![];
    let mut cur = String::new();
    let mut cur_w = 0;
    let mut chars = rendered.chars().peekable();
    while let Some(c) = chars.next() {
        let mut unit = String::from(c);
        if c == OPEN {
            // A marker is atomic: up to and including its closing bracket.
            for d in chars.by_ref() {
                unit.push(d);
                if d == CLOSE {
                    break;
                }
            }
        }
        let w = width(&unit);
        if cur_w + w > max && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        cur.push_str(&unit);
        cur_w += w;
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        for s in [
            "gm, have a nice day",
            "héllo wörld",
            "日本語",
            "👍",
            "a-b_c 1.2/3",
        ] {
            assert_eq!(line(s), s);
            assert_eq!(message(s), s);
            assert_eq!(one_line(s), s);
            assert_eq!(json(s), s);
        }
    }

    #[test]
    fn every_c0_control_is_a_named_marker() {
        for n in 0u32..0x20 {
            let c = char::from_u32(n).unwrap();
            let r = line(&format!("a{c}b"));
            assert_eq!(r, format!("a⟨{}⟩b", C0[n as usize]), "{n:#x}");
            assert!(!r.chars().any(|x| x.is_control()), "{n:#x}: {r:?}");
        }
        assert_eq!(line("\x1b[2K"), "⟨ESC⟩[2K");
        assert_eq!(line("x\r\n"), "x⟨CR⟩⟨LF⟩");
        assert_eq!(line("\t"), "⟨TAB⟩");
    }

    #[test]
    fn del_and_c1_controls_are_markers() {
        assert_eq!(line("\x7f"), "⟨DEL⟩");
        for n in 0x80u32..0xA0 {
            let c = char::from_u32(n).unwrap();
            assert_eq!(line(&c.to_string()), format!("⟨U+{n:04X}⟩"));
        }
        // U+009B is a one-character CSI on some terminals.
        assert_eq!(line("\u{9b}2K"), "⟨U+009B⟩2K");
    }

    #[test]
    fn bidi_controls_are_markers() {
        let all = [
            0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
            0x2069,
        ];
        for n in all {
            let c = char::from_u32(n).unwrap();
            assert!(is_bidi(c));
            assert_eq!(line(&format!("x{c}y")), format!("x⟨U+{n:04X}⟩y"));
        }
        // The classic: "txt.exe" displayed as "exe.txt".
        assert_eq!(line("invoice\u{202E}fdp.exe"), "invoice⟨U+202E⟩fdp.exe");
    }

    #[test]
    fn invisible_characters_are_markers() {
        for c in [
            '\u{200B}',
            '\u{FEFF}',
            '\u{2028}',
            '\u{2029}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            let r = line(&format!("np{c}ub"));
            assert!(r.starts_with("np⟨U+") && r.ends_with("⟩ub"), "{r}");
        }
        // Joiners stay: emoji sequences need them.
        assert_eq!(line("👩\u{200D}💻"), "👩\u{200D}💻");
    }

    #[test]
    fn markers_cannot_be_forged() {
        // Text that looks like a marker is escaped bracket by bracket.
        assert_eq!(line("⟨ESC⟩"), "⟨U+27E8⟩ESC⟨U+27E9⟩");
        // So in any rendered text, every ⟨ starts a marker passport wrote.
        let r = line("⟨⟨\x1b⟩");
        assert_eq!(r, "⟨U+27E8⟩⟨U+27E8⟩⟨ESC⟩⟨U+27E9⟩");
    }

    #[test]
    fn quoted_escapes_quotes_and_backslashes() {
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quoted("x\x1b[1Ay"), "\"x⟨ESC⟩[1Ay\"");
        // A field holding `", "` cannot pass for two fields.
        assert_eq!(quoted(r#"a", "b"#), r#""a\", \"b""#);
    }

    #[test]
    fn lines_split_only_at_newlines() {
        assert_eq!(lines("a\r\nb\rc\n"), vec!["a⟨CR⟩", "b⟨CR⟩c", ""]);
        assert_eq!(lines(""), vec![""]);
    }

    #[test]
    fn message_keeps_newlines_and_markers() {
        let already = format!("purpose: {}\n  next", line("x\ny"));
        assert_eq!(message(&already), already);
        assert_eq!(message("a\x1b[2Kb\nc\u{202E}"), "a⟨ESC⟩[2Kb\nc⟨U+202E⟩");
        assert_eq!(one_line("a\nb\rc"), "a⟨LF⟩b⟨CR⟩c");
    }

    #[test]
    fn json_escaping_keeps_the_meaning() {
        let v = serde_json::json!({"c": "a\u{202E}b\u{9b}c\u{7f}\u{E0041}\n"});
        let text = serde_json::to_string(&v).unwrap();
        let safe = json(&text);
        assert!(!safe.chars().any(is_dangerous), "{safe}");
        assert!(
            safe.contains("\\u202e") && safe.contains("\\udb40\\udc41"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
        // Pretty-printed JSON keeps its layout.
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json(&pretty)).unwrap();
        assert_eq!(back, v);
        assert_eq!(json(&pretty).lines().count(), pretty.lines().count());
    }

    #[test]
    fn width_never_underestimates() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("日本"), 4);
        assert_eq!(width("é"), 2);
    }

    #[test]
    fn wrap_keeps_markers_whole_and_respects_width() {
        let r = line(&"a\x1b".repeat(20));
        let parts = wrap(&r, 14);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), r);
        for p in &parts {
            assert!(width(p) <= 14, "{p}");
            assert_eq!(p.matches('⟨').count(), p.matches('⟩').count(), "{p}");
        }
        assert_eq!(wrap("", 20), vec![""]);
        assert_eq!(wrap("short", 20), vec!["short"]);
    }
}
