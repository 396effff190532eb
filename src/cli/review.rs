//! The signing review: what a member reads before a signature share exists.
//!
//! A signing request may come from anyone, so everything in it is the requester's
//! choice. Text from the request goes through [`crate::untrusted`] (controls, bidi and
//! invisible characters become `⟨…⟩` markers), and the layout leaves no row for text
//! that poses as a field: every row starts with a label passport wrote or with a
//! gutter (`│` starts a line of the value, `┆` continues one too long for the terminal).
//! Nothing is cut: long content is shown whole, after a header with its length.

use crate::events;
use crate::ops::sign::Summary;
use crate::untrusted::{self, width};

/// `  coordinator: ` — labels are padded to this many columns.
const LABEL: usize = 15;
const NEW_LINE: &str = "             │ ";
const CONTINUED: &str = "             ┆ ";

struct Screen {
    out: String,
    /// The widest row allowed, by [`untrusted::width`] (one less than the terminal, so
    /// a full row never makes the terminal wrap on its own).
    max: usize,
}

impl Screen {
    fn row(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// One labelled value (already rendered), wrapped under its own gutter.
    fn field(&mut self, label: &str, rendered: &str) {
        let head = format!("  {:<w$}", format!("{label}:"), w = LABEL - 2);
        // The gutter is wider than the label by `width`'s count: wrap for the gutter.
        let room = self.max.saturating_sub(width(CONTINUED));
        let mut pieces = untrusted::wrap(rendered, room).into_iter();
        let first = pieces.next().unwrap_or_default();
        self.row(&format!("{head}{first}"));
        for p in pieces {
            self.row(&format!("{CONTINUED}{p}"));
        }
    }

    /// A multi-line value: each of its lines under `│`, wrapped under `┆`.
    fn block(&mut self, lines: &[String]) {
        let room = self.max.saturating_sub(width(NEW_LINE));
        for l in lines {
            let mut pieces = untrusted::wrap(l, room).into_iter();
            self.row(&format!("{NEW_LINE}{}", pieces.next().unwrap_or_default()));
            for p in pieces {
                self.row(&format!("{CONTINUED}{p}"));
            }
        }
    }
}

/// "in 3 days", "2 h ago".
pub fn relative(t: i64, now: i64) -> String {
    let d = t.saturating_sub(now);
    let a = d.unsigned_abs();
    let (n, unit) = match a {
        0..=59 => (a, "s"),
        60..=3599 => (a / 60, "min"),
        3600..=172_799 => (a / 3600, "h"),
        172_800..=63_071_999 => (a / 86_400, "days"),
        _ => (a / 31_536_000, "years"),
    };
    if d > 0 {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

/// `created_at` as an RFC 3339 date and its distance from `now`.
pub fn created(t: u64, now: u64) -> String {
    match crate::clock::rfc3339(t) {
        Some(d) => format!(
            "{d} ({})",
            relative(t as i64, i64::try_from(now).unwrap_or(i64::MAX))
        ),
        None => format!("{t} ⟨not a representable date⟩"),
    }
}

fn coordinator(s: &Summary) -> String {
    match (&s.coordinator_npub, s.coordinator_seats.as_slice()) {
        (None, _) => "this home (signing alone)".into(),
        (Some(_), [one]) => format!("{} (roster member)", untrusted::line(one)),
        (Some(npub), []) => format!("NOT A ROSTER MEMBER {}", untrusted::line(npub)),
        (Some(_), many) => format!(
            "{} (roster member holding {} seats)",
            many.iter()
                .map(|n| untrusted::line(n))
                .collect::<Vec<_>>()
                .join(", "),
            many.len()
        ),
    }
}

/// The review screen for `s`, laid out for a terminal `cols` columns wide.
pub fn render(s: &Summary, now: u64, cols: usize) -> String {
    let mut sc = Screen {
        out: String::new(),
        max: cols.max(40) - 1,
    };
    sc.row(&format!(
        "About to sign as group {} (seat {}):",
        untrusted::line(&s.group),
        untrusted::line(&s.member)
    ));
    match (s.kind, &s.content) {
        (Some(kind), Some(content)) => {
            sc.field("event id", &untrusted::line(&s.message));
            sc.field("kind", &format!("{kind}: {}", events::describe_kind(kind)));
            match s.created_at {
                Some(t) => sc.field("created at", &created(t, now)),
                None => sc.field("created at", "⟨missing⟩"),
            }
            sc.field("coordinator", &coordinator(s));
            sc.field("signers", &untrusted::line(&s.signers.join(", ")));
            let lines = untrusted::lines(content);
            let chars = content.chars().count();
            let inline = lines.len() == 1 && LABEL + width(&lines[0]) <= sc.max;
            if content.is_empty() {
                sc.field("content", "⟨empty⟩");
            } else if inline {
                sc.field("content", &lines[0]);
            } else {
                sc.field(
                    "content",
                    &format!("⟨{chars} characters, {} lines, shown whole⟩", lines.len()),
                );
                sc.block(&lines);
            }
            if s.tags.is_empty() {
                sc.field("tags", "⟨none⟩");
            }
            for t in &s.tags {
                let fields: Vec<String> = t.iter().map(|f| untrusted::quoted(f)).collect();
                sc.field("tag", &format!("[{}]", fields.join(", ")));
            }
        }
        _ => {
            sc.field("raw message", &untrusted::line(&s.message));
            sc.field(
                "meaning",
                "not a Nostr event: passport cannot show what it means",
            );
            sc.field("coordinator", &coordinator(s));
            sc.field("signers", &untrusted::line(&s.signers.join(", ")));
        }
    }
    sc.out.trim_end().to_owned()
}

/// The yes/no question after the review: names what will be signed once more, so the
/// answer is given right under it even when long content scrolled the rest away.
pub fn question(s: &Summary) -> String {
    let id = untrusted::line(s.message.get(..16).unwrap_or(&s.message));
    match s.kind {
        Some(k) => format!(
            "Sign event {id}… (kind {k}) as {}?",
            untrusted::line(&s.group)
        ),
        None => format!("Sign raw message {id}… as {}?", untrusted::line(&s.group)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(content: &str, tags: Vec<Vec<String>>) -> Summary {
        Summary {
            group: "npub1group".into(),
            member: "alice".into(),
            coordinator: "npub1mallory…".into(),
            coordinator_npub: Some("npub1mallory".into()),
            coordinator_seats: vec![],
            signers: vec!["alice".into(), "bob".into()],
            kind: Some(1),
            content: Some(content.into()),
            tags,
            created_at: Some(1_700_000_000 + 3 * 86_400),
            message: "ab".repeat(32),
        }
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn the_spoof_from_the_review_is_visible() {
        let s = summary(
            "I hereby transfer everything to mallory\r\x1b[2K  content: gm, have a nice day",
            vec![vec!["t".into(), "x\x1b[1A".into()]],
        );
        let r = render(&s, NOW, 200);
        assert!(!r.chars().any(|c| c.is_control() && c != '\n'), "{r:?}");
        let content: Vec<&str> = r.lines().filter(|l| l.starts_with("  content:")).collect();
        assert_eq!(content.len(), 1, "{r}");
        assert!(
            content[0].contains("mallory⟨CR⟩⟨ESC⟩[2K  content: gm"),
            "{r}"
        );
        assert!(r.contains("  tag:         [\"t\", \"x⟨ESC⟩[1A\"]"), "{r}");
        assert!(r.contains("NOT A ROSTER MEMBER npub1mallory"), "{r}");
        assert!(r.contains("kind:        1: short text note"), "{r}");
        assert!(
            r.contains("created at:  2023-11-17T22:13:20Z (in 3 days)"),
            "{r}"
        );
        assert!(
            r.contains(&format!("event id:    {}", "ab".repeat(32))),
            "{r}"
        );
    }

    #[test]
    fn every_row_starts_with_a_label_or_a_gutter() {
        let long = format!("first line\n{}\n  content: fake\n", "q".repeat(300));
        let s = summary(&long, vec![vec!["p".into(), "y".repeat(200)]]);
        let r = render(&s, NOW, 80);
        for row in r.lines().skip(1) {
            assert!(width(row) < 80, "row too wide for the terminal: {row}");
            let labelled = row.starts_with("  ") && row.as_bytes()[2] != b' ';
            assert!(
                labelled || row.starts_with(NEW_LINE) || row.starts_with(CONTINUED),
                "{row}"
            );
        }
        // Nothing cut: every q is there, and the header says how long it is.
        assert_eq!(r.matches('q').count(), 300);
        assert!(r.contains("⟨328 characters, 4 lines, shown whole⟩"), "{r}");
        let fake = r.lines().find(|l| l.contains("content: fake")).unwrap();
        assert!(fake.starts_with(NEW_LINE), "{fake}");
        assert_eq!(r.lines().filter(|l| l.starts_with("  content:")).count(), 1);
    }

    #[test]
    fn coordinator_and_kind_variants() {
        let mut s = summary("gm", vec![]);
        s.coordinator_seats = vec!["bob".into()];
        s.kind = Some(31234);
        let r = render(&s, NOW, 100);
        assert!(r.contains("coordinator: bob (roster member)"), "{r}");
        assert!(r.contains("UNKNOWN KIND (addressable range"), "{r}");
        assert!(r.contains("tags:        ⟨none⟩"), "{r}");
        s.coordinator_npub = None;
        s.content = Some(String::new());
        let r = render(&s, NOW, 100);
        assert!(r.contains("this home"), "{r}");
        assert!(r.contains("content:     ⟨empty⟩"), "{r}");
    }

    #[test]
    fn raw_messages_say_so() {
        let mut s = summary("", vec![]);
        s.kind = None;
        s.content = None;
        let r = render(&s, NOW, 100);
        assert!(r.contains("raw message:"), "{r}");
        assert!(r.contains("not a Nostr event"), "{r}");
        assert!(question(&s).starts_with("Sign raw message abababababababab…"));
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(100, 100), "0 s ago");
        assert_eq!(relative(100 + 3 * 86_400, 100), "in 3 days");
        assert_eq!(relative(100, 100 + 2 * 3600 + 5), "2 h ago");
        assert_eq!(relative(100, 100 + 90), "1 min ago");
        assert_eq!(relative(40_000_000_000, 0), "in 1268 years");
        assert!(created(u64::MAX, NOW).contains("not a representable date"));
    }
}
