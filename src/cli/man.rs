//! `passport man`: one page per (nested) command. clap_mangen renders what clap knows
//! (name, synopsis, options, subcommands); EXAMPLES, EXIT STATUS, ENVIRONMENT and SEE
//! ALSO come from [`super::examples`] and [`super::EXIT_CODES`], which clap does not.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_mangen::roff::{bold, roman, Roff};

use super::{examples, Cli, EXIT_CODES};
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into.
    #[arg(long, default_value = "man")]
    pub out: PathBuf,
}

pub fn man(a: &ManArgs) -> Result<()> {
    write_man_pages(&a.out)
}

/// Renders `passport.1` and one page per (nested) subcommand, e.g. `passport-sign-share.1`.
pub fn write_man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut cmd = Cli::command();
    cmd.build();
    render(&cmd, &cmd, &[], dir)
}

fn render(root: &clap::Command, cmd: &clap::Command, path: &[&str], dir: &Path) -> Result<()> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    let name = page_name(path);
    let file = dir.join(format!("{name}.1"));
    let bytes = page(root, cmd, path).map_err(|e| Error::io(&file, e))?;
    std::fs::write(&file, bytes).map_err(|e| Error::io(&file, e))?;
    for sub in visible_subcommands(cmd) {
        let mut p = path.to_vec();
        p.push(sub.get_name());
        render(root, sub, &p, dir)?;
    }
    Ok(())
}

/// `passport`, `passport-sign`, `passport-sign-share`.
fn page_name(path: &[&str]) -> String {
    std::iter::once("passport")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join("-")
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// Every roff chunk starts with this preamble (the `Aq` string for apostrophes); a page
/// made of several chunks needs it once.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

fn page(root: &clap::Command, cmd: &clap::Command, path: &[&str]) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone().name(page_name(path)));
    type Section = fn(&clap_mangen::Man, &mut dyn Write) -> std::io::Result<()>;
    let mut sections: Vec<Section> = vec![
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
    ];
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        sections.push(clap_mangen::Man::render_options_section);
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        sections.push(clap_mangen::Man::render_subcommands_section);
    }
    // The root's after-help is EXIT_CODES, which gets its own sections below.
    let after = cmd.get_after_long_help().or_else(|| cmd.get_after_help());
    if after.is_some_and(|a| a.to_string() != EXIT_CODES) {
        sections.push(clap_mangen::Man::render_extra_section);
    }
    if cmd
        .get_version()
        .or_else(|| cmd.get_long_version())
        .is_some()
    {
        sections.push(clap_mangen::Man::render_version_section);
    }
    if cmd.get_author().is_some() {
        sections.push(clap_mangen::Man::render_authors_section);
    }
    let mut out = PREAMBLE.as_bytes().to_vec();
    for section in sections {
        let mut buf = vec![];
        section(&man, &mut buf)?;
        out.extend_from_slice(buf.strip_prefix(PREAMBLE.as_bytes()).unwrap_or(&buf));
    }
    let mut roff = Roff::default();
    examples_section(&mut roff, cmd, path);
    exit_status_section(&mut roff);
    environment_section(&mut roff, cmd, path);
    see_also_section(&mut roff, root, path);
    let mut buf = vec![];
    roff.to_writer(&mut buf)?;
    out.extend_from_slice(buf.strip_prefix(PREAMBLE.as_bytes()).unwrap_or(&buf));
    Ok(out)
}

/// This command's own examples; a parent without rows shows its children's first ones.
fn page_examples(cmd: &clap::Command, path: &[&str]) -> Vec<examples::Example> {
    let own = examples::examples(&path.join(" "));
    if !own.is_empty() {
        return own.to_vec();
    }
    visible_subcommands(cmd)
        .filter_map(|sub| {
            let mut p = path.to_vec();
            p.push(sub.get_name());
            page_examples(sub, &p).into_iter().next()
        })
        .collect()
}

fn examples_section(roff: &mut Roff, cmd: &clap::Command, path: &[&str]) {
    // No hyphenation from here on: these sections are mostly names and command lines.
    roff.control("nh", []);
    roff.control("SH", ["EXAMPLES"]);
    for (line, what) in page_examples(cmd, path) {
        roff.control("PP", []);
        roff.text([roman(what)]);
        // Unfilled, so a command line is never broken and copies as one line.
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        roff.text([bold(line)]);
        roff.control("fi", []);
        roff.control("RE", []);
    }
}

/// The rows of one part of EXIT_CODES (`EXIT STATUS` or `ENVIRONMENT`): the first word of
/// each row and its text, continuation lines joined.
fn exit_codes_part(part: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = vec![];
    let mut inside = false;
    for line in EXIT_CODES.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end_matches(':') == part;
            continue;
        }
        if !inside {
            continue;
        }
        let body = line.get(4..).unwrap_or("");
        match rows.last_mut() {
            // Rows are indented by 4, their continuation lines by more.
            Some((_, text)) if body.starts_with(' ') => {
                text.push(' ');
                text.push_str(body.trim());
            }
            _ => {
                let (key, text) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                rows.push((key.to_owned(), text.trim().to_owned()));
            }
        }
    }
    rows
}

fn exit_status_section(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for (code, text) in exit_codes_part("EXIT STATUS") {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(text)]);
    }
}

/// The variables every command reads, those this command's options (or, on a parent
/// page, its children's) take their default from, and those read for one command only.
fn environment_section(roff: &mut Roff, cmd: &clap::Command, path: &[&str]) {
    let mut rows = exit_codes_part("ENVIRONMENT");
    let mut add = |var: String, text: String| {
        if !rows.iter().any(|(v, _)| *v == var) {
            rows.push((var, text));
        }
    };
    let mut stack = vec![cmd];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments().filter(|a| !a.is_hide_set()) {
            if let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) {
                add(
                    var.to_string_lossy().into_owned(),
                    format!("the value of --{long} when the option is not given"),
                );
            }
        }
        if !path.is_empty() {
            stack.extend(visible_subcommands(c));
        }
    }
    let here = path.join(" ");
    for (at, var, text) in examples::ENVIRONMENT {
        let below = !here.is_empty() && at.starts_with(&format!("{here} "));
        if *at == here || below {
            add((*var).to_owned(), (*text).to_owned());
        }
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (var, text) in rows {
        roff.control("TP", []);
        roff.text([bold(var)]);
        roff.text([roman(text)]);
    }
}

/// passport(1), the parent's page, the siblings' pages below the top level, and the
/// pages [`examples::related`] names.
fn see_also_section(roff: &mut Roff, root: &clap::Command, path: &[&str]) {
    let mut pages: Vec<Vec<&str>> = vec![];
    if let Some((_, parent)) = path.split_last() {
        pages.push(vec![]);
        if !parent.is_empty() {
            pages.push(parent.to_vec());
            let mut cmd = root;
            for name in parent {
                cmd = cmd
                    .find_subcommand(name)
                    .expect("a parent of a rendered page");
            }
            for sib in visible_subcommands(cmd) {
                let mut p = parent.to_vec();
                p.push(sib.get_name());
                pages.push(p);
            }
        }
    }
    for rel in examples::related(&path.join(" ")) {
        pages.push(rel.split(' ').collect());
    }
    let mut names: Vec<String> = vec![];
    for p in pages {
        let name = page_name(&p);
        if p != path && !names.contains(&name) {
            names.push(name);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut line = vec![];
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(name));
        line.push(roman("(1)"));
    }
    roff.text(line);
}

/// The man pages' examples also end `--help` (after the command's own notes), so a
/// reader without man sees them; `-h` stays short.
pub fn with_examples(cmd: clap::Command) -> clap::Command {
    add_examples(cmd, &[])
}

fn add_examples(cmd: clap::Command, path: &[String]) -> clap::Command {
    let rows = page_examples(&cmd, &path.iter().map(String::as_str).collect::<Vec<_>>());
    let cmd = cmd.mut_subcommands(|sub| {
        let mut p = path.to_vec();
        p.push(sub.get_name().to_owned());
        add_examples(sub, &p)
    });
    if rows.is_empty() {
        return cmd;
    }
    let mut text = String::from("EXAMPLES:");
    for (line, what) in rows {
        text.push_str(&format!("\n    # {what}\n    {line}"));
    }
    let text = match cmd.get_after_long_help() {
        Some(notes) => format!("{notes}\n\n{text}"),
        None => text,
    };
    cmd.after_long_help(text)
}
