//! The committed man pages must match the CLI (regenerate with `passport man --out man`),
//! every page carries the sections clap cannot write (EXAMPLES, EXIT STATUS, ENVIRONMENT,
//! SEE ALSO) with examples that the real CLI parses, and every help string is there once.

use crate::util;

#[test]
fn man_pages_match_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    util::bare()
        .arg("man")
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .success();
    let fresh = util::snapshot(tmp.path());
    let committed = util::snapshot(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("man")
            .as_path(),
    );
    let names = |m: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>| {
        m.keys().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        names(&fresh),
        names(&committed),
        "man/ has other pages than the CLI; run `passport man --out man`"
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            "man/{} drifted from the CLI; run `passport man --out man`",
            name.display()
        );
    }
    let root = String::from_utf8(fresh[std::path::Path::new("passport.1")].clone()).unwrap();
    assert!(
        root.contains("EXIT STATUS"),
        "exit codes are documented in passport(1)"
    );
}

#[test]
fn completions_generate_for_common_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let out = util::bare().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("passport") && text.contains("dkg"),
            "{shell} completion mentions subcommands"
        );
    }
}

use std::collections::BTreeMap;

/// Every visible command below `cmd` with its path ("sign share"), depth first; the
/// generated `help` subcommand and hidden commands are skipped, as in the man pages.
fn commands(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
    out.push((path.to_owned(), cmd.clone()));
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        let p = format!("{path} {}", sub.get_name());
        commands(sub, p.trim_start(), out);
    }
}

fn the_cli() -> Vec<(String, clap::Command)> {
    use clap::CommandFactory;
    let mut cmd = passport::cli::Cli::command();
    cmd.build();
    let mut all = vec![];
    commands(&cmd, "", &mut all);
    all
}

fn page_name(path: &str) -> String {
    format!("passport {path}").trim_end().replace(' ', "-")
}

/// roff source as a reader sees it: escapes and font changes undone.
fn unroff(line: &str) -> String {
    line.replace(r"\\", "\u{0}")
        .replace(r"\-", "-")
        .replace(r"\*(Aq", "'")
        .replace(r"\(aq", "'")
        .replace(r"\fB", "")
        .replace(r"\fI", "")
        .replace(r"\fR", "")
        .replace(r"\&", "")
        .replace('\u{0}', r"\")
}

/// The page's sections by title, each with its source lines.
fn sections(page: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in page.lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            let title = title.trim_matches('"').to_owned();
            out.entry(title.clone()).or_default();
            current = Some(title);
        } else if let Some(t) = &current {
            out.get_mut(t).unwrap().push(line.to_owned());
        }
    }
    out
}

/// A command line split as sh would (quotes, no expansion), up to a redirection or pipe.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut any) = (vec![], String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => (quote, any) = (Some(c), true),
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    let end = out
        .iter()
        .position(|w| matches!(w.as_str(), ">" | "<" | "|" | ">>" | "2>"))
        .unwrap_or(out.len());
    out.truncate(end);
    out
}

#[test]
fn every_page_has_examples_exit_status_environment_and_see_also() {
    use clap::Parser;
    let tmp = tempfile::tempdir().unwrap();
    util::bare()
        .arg("man")
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .success();
    let mut defects = vec![];
    for (path, _) in the_cli() {
        let page = format!("{}.1", page_name(&path));
        let Ok(text) = std::fs::read_to_string(tmp.path().join(&page)) else {
            defects.push(format!("{page}: not written"));
            continue;
        };
        let secs = sections(&text);
        for title in ["EXAMPLES", "EXIT STATUS", "ENVIRONMENT", "SEE ALSO"] {
            if !secs.contains_key(title) {
                defects.push(format!("{page}: no {title} section"));
            }
        }
        // Command lines are bold, their explanations roman.
        let examples: Vec<String> = secs
            .get("EXAMPLES")
            .into_iter()
            .flatten()
            .filter(|l| l.starts_with(r"\fB"))
            .map(|l| unroff(l))
            .collect();
        let own: Vec<String> = std::iter::once("passport")
            .chain(path.split_whitespace())
            .map(str::to_owned)
            .collect();
        if !examples.iter().any(|e| words(e).starts_with(&own)) {
            defects.push(format!(
                "{page}: no example of `{}` (add a row to src/cli/examples.rs)",
                own.join(" ")
            ));
        }
        for e in &examples {
            if let Err(err) = passport::cli::Cli::try_parse_from(words(e)) {
                let first = err.render().to_string();
                let first = first.lines().next().unwrap_or_default().to_owned();
                defects.push(format!("{page}: example `{e}` does not parse: {first}"));
            }
        }
        if let Some(status) = secs.get("EXIT STATUS") {
            for code in 0..=6 {
                if !status.iter().any(|l| unroff(l) == code.to_string()) {
                    defects.push(format!("{page}: EXIT STATUS lacks code {code}"));
                }
            }
        }
        if let Some(env) = secs.get("ENVIRONMENT") {
            if !env.iter().any(|l| unroff(l) == "PASSPORT_HOME") {
                defects.push(format!("{page}: ENVIRONMENT lacks PASSPORT_HOME"));
            }
        }
        let see_also: String = secs
            .get("SEE ALSO")
            .into_iter()
            .flatten()
            .map(|l| unroff(l))
            .collect::<Vec<_>>()
            .join(" ");
        let refs: Vec<&str> = see_also
            .split(", ")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect();
        if refs.is_empty() && secs.contains_key("SEE ALSO") {
            defects.push(format!("{page}: SEE ALSO names no page"));
        }
        for r in refs {
            let target = r.strip_suffix("(1)").map(|n| format!("{n}.1"));
            if !target.is_some_and(|t| tmp.path().join(t).exists()) {
                defects.push(format!("{page}: SEE ALSO names {r}, which is no page"));
            }
        }
        if !path.is_empty() && !see_also.contains("passport(1)") {
            defects.push(format!("{page}: SEE ALSO does not name passport(1)"));
        }
    }
    assert!(
        defects.is_empty(),
        "man pages lack what the issue asks for:\n  {}",
        defects.join("\n  ")
    );
}

/// Help text compared as a reader sees it: case, spacing and the final period aside.
fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches('.')
        .to_lowercase()
}

/// Empty or repeated help among one command's options and among its subcommands.
fn help_defects(path: &str, cmd: &clap::Command) -> Vec<String> {
    let shown = format!("passport {path}").trim_end().to_owned();
    let mut defects = vec![];
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let name = match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            (None, None) => format!("<{}>", arg.get_id()),
        };
        let help = arg
            .get_help()
            .or_else(|| arg.get_long_help())
            .map(|h| norm(&h.to_string()))
            .unwrap_or_default();
        if help.is_empty() {
            defects.push(format!("{shown}: {name} has no help"));
        } else if let Some(other) = seen.insert(help, name.clone()) {
            defects.push(format!("{shown}: {name} has the same help as {other}"));
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_owned();
        let about = sub
            .get_about()
            .or_else(|| sub.get_long_about())
            .map(|h| norm(&h.to_string()))
            .unwrap_or_default();
        if about.is_empty() {
            defects.push(format!("{shown} {name}: no about"));
        } else if let Some(other) = seen.insert(about, name.clone()) {
            defects.push(format!("{shown} {name}: the same about as {other}"));
        }
    }
    defects
}

#[test]
fn help_strings_are_present_and_unique() {
    let defects: Vec<String> = the_cli()
        .iter()
        .flat_map(|(path, cmd)| help_defects(path, cmd))
        .collect();
    assert!(
        defects.is_empty(),
        "help strings missing or duplicated:\n  {}",
        defects.join("\n  ")
    );
}

/// The check above finds what the issue reported (`sign commit --member` with no help,
/// `sign event -o` saying what another option says), so its silence means something.
#[test]
fn the_help_check_names_empty_and_repeated_strings() {
    use clap::Arg;
    let cmd = clap::Command::new("sign")
        .subcommand(
            clap::Command::new("commit")
                .about("Round 1")
                .arg(Arg::new("member").long("member")),
        )
        .subcommand(
            clap::Command::new("event")
                .about("round 1.")
                .arg(Arg::new("out").long("out").help("Write it here"))
                .arg(Arg::new("output").short('o').help("write it  here.")),
        );
    let mut defects = help_defects("sign", &cmd);
    for sub in cmd.get_subcommands() {
        defects.extend(help_defects(&format!("sign {}", sub.get_name()), sub));
    }
    assert_eq!(
        defects,
        [
            "passport sign event: the same about as commit",
            "passport sign commit: --member has no help",
            "passport sign event: -o has the same help as --out",
        ]
    );
}

/// `--help` ends with the man page's examples; `-h` stays a summary.
#[test]
fn long_help_ends_with_the_examples() {
    for path in [vec!["sign", "share"], vec!["serve"], vec!["backup"], vec![]] {
        let shown = format!("passport {}", path.join(" "));
        let long = util::bare().args(&path).arg("--help").output().unwrap();
        assert!(long.status.success(), "{shown} --help failed");
        let text = String::from_utf8(long.stdout).unwrap();
        let examples = text
            .split_once("\nEXAMPLES:\n")
            .unwrap_or_else(|| panic!("{shown} --help has no EXAMPLES:\n{text}"))
            .1;
        let own = format!("    {}", shown.trim_end());
        assert!(
            examples.lines().any(|l| l.starts_with(&own)),
            "{shown} --help shows no example of itself:\n{examples}"
        );
        let short = util::bare().args(&path).arg("-h").output().unwrap();
        let short = String::from_utf8(short.stdout).unwrap();
        assert!(!short.contains("EXAMPLES:"), "{shown} -h is long:\n{short}");
    }
}
