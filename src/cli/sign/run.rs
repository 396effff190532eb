//! What each `passport sign` subcommand does with its arguments.

use super::*;

fn would_replace(path: &Path) -> Error {
    SignError::WouldReplace { path: path.into() }.into()
}

/// `-o FILE` never replaces a file silently: checked before any work is done (so a
/// ceremony is not run for nothing), and again by the no-clobber write itself.
fn check_output(file: Option<&PathBuf>, force: bool) -> Result<()> {
    match file {
        Some(p) if p.as_os_str() != "-" && !force && p.symlink_metadata().is_ok() => {
            Err(would_replace(p))
        }
        _ => Ok(()),
    }
}

fn emit(out: &Output, signed: &sign::Signed, file: Option<&PathBuf>, force: bool) -> Result<()> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let data = signed.stdout().unwrap_or_default() + "\n";
            crate::fsutil::write_atomic(path, data.as_bytes(), force).map_err(|e| match e {
                crate::fsutil::Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    would_replace(path)
                }
                e => e.into(),
            })?;
            if out.json {
                out.report(signed)
            } else {
                out.note(&format!("{}\n  wrote {}", signed.human(), path.display()));
                Ok(())
            }
        }
        _ => out.report(signed),
    }
}

pub fn run(cli: &Cli, cmd: &SignCmd, out: &Output) -> Result<()> {
    match cmd {
        SignCmd::Commit(a) => {
            let home = cli.open_home()?;
            if a.discard_all {
                // Works on this home only: no transport is involved.
                return out.report(&nonce::discard_all(
                    &home,
                    a.group.as_deref(),
                    a.member.as_deref(),
                )?);
            }
            let valid_for = nonce::parse_valid_for(&a.valid_for)?;
            let g = a.group.as_deref().expect("clap requires --group");
            let group = home.find_group(g)?;
            let mut ex = a.via.exchange(&home, &group.roster, &[], &a.out)?;
            out.report(&sign::commit_for(
                &home,
                g,
                a.member.as_deref(),
                a.count,
                valid_for,
                ex.as_mut(),
            )?)
        }
        SignCmd::Request(a) => {
            let home = cli.open_home()?;
            let group = home.find_group(&a.group)?;
            let mut ex = a.via.exchange(&home, &group.roster, &a.inputs, &a.out)?;
            out.report(&sign::request(
                &home,
                &a.group,
                a.what.to_sign()?,
                &a.signers,
                ex.as_mut(),
            )?)
        }
        SignCmd::Share(a) => {
            let home = cli.open_home()?;
            let mut consent = prompt::consent(a.yes)?;
            let r = match via_group(&home, &a.via, a.group.as_deref())? {
                Some((group, mut via)) => {
                    let inputs = Exchange::inputs(&mut via, &group.roster)?;
                    let request = match &a.request {
                        Some(id) => sign_run::find_request(inputs, id)?,
                        None => sign_run::pending_request(&home, &group, inputs)?
                            .ok_or(SignError::NoRequestYet)?,
                    };
                    sign::share(&home, &request, a.member.as_deref(), &mut consent, &mut via)?
                }
                None => {
                    let path = a.request.as_deref().unwrap_or("-");
                    let request = read_package(Path::new(path), None)?;
                    let mut files = Files::out(&a.out);
                    sign::share(
                        &home,
                        &request,
                        a.member.as_deref(),
                        &mut consent,
                        &mut files,
                    )?
                }
            };
            out.report(&r)
        }
        SignCmd::Aggregate(a) => {
            check_output(a.output.as_ref(), a.via.force)?;
            let home = match &a.group_file {
                Some(_) if a.via.via.is_empty() => None,
                _ => Some(cli.open_home()?),
            };
            let signed = match &home {
                Some(h) if !a.via.via.is_empty() => {
                    let (group, mut via) =
                        via_group(h, &a.via, a.group.as_deref())?.ok_or(SignError::ViaNeedsUrl)?;
                    let inputs = Exchange::inputs(&mut via, &group.roster)?;
                    let request = sign_run::find_request(inputs, &a.request)?;
                    let group_file = group_file(a.group_file.as_deref())?;
                    let signed =
                        sign::aggregate(home.as_ref(), group_file.as_ref(), &request, &mut via);
                    via.close();
                    signed?
                }
                _ => {
                    let request = read_package(Path::new(&a.request), None)?;
                    let mut files = Files::new(&a.inputs, Path::new("."));
                    let group_file = group_file(a.group_file.as_deref())?;
                    sign::aggregate(home.as_ref(), group_file.as_ref(), &request, &mut files)?
                }
            };
            emit(out, &signed, a.output.as_ref(), a.via.force)
        }
        SignCmd::Event(a) => {
            check_output(a.output.as_ref(), a.force)?;
            let home = cli.open_home()?;
            let mut consent = prompt::consent(a.yes)?;
            let signed = sign::sign_local(&home, &a.group, a.what.to_sign()?, &mut consent)?;
            emit(out, &signed, a.output.as_ref(), a.force)
        }
        SignCmd::Run(a) => run_all(cli, a, out),
    }
}

/// With `--via`: the group (from `--group`) and a connection for its roster.
fn via_group(
    home: &crate::home::Home,
    via: &ViaArgs,
    group: Option<&str>,
) -> Result<Option<(crate::group::Group, crate::transport::Via)>> {
    if via.via.is_empty() {
        return Ok(None);
    }
    let group = match group {
        Some(g) => home.find_group(g)?,
        None => return Err(SignError::ViaNeedsGroup.into()),
    };
    Ok(via.connect(home, &group.roster)?.map(|v| (group, v)))
}

fn run_all(cli: &Cli, a: &SignRunArgs, out: &Output) -> Result<()> {
    check_output(a.output.as_ref(), a.run.via.force)?;
    let home = cli.open_home()?;
    let group = home.find_group(&a.group)?;
    let Some(mut via) = a.run.via.connect(&home, &group.roster)? else {
        return Err(SignError::RunNeedsVia.into());
    };
    let mut consent = prompt::consent(a.yes)?;
    let mut bar = progress(out.json);
    let opts = sign_run::RunOptions {
        group: &a.group,
        member: a.member.as_deref(),
        signers: &a.signers,
        timeout: a.run.timeout(),
    };
    let what = match (&a.event, &a.message) {
        (Some(f), _) => Some(sign::read_template(f)?),
        (_, Some(m)) => Some(ToSign::Raw(m.clone())),
        _ => None,
    };
    let r = match what {
        Some(w) => sign_run::coordinate(&home, w, &opts, &mut via, &mut consent, &mut bar),
        None => sign_run::serve_one(&home, &opts, &mut via, &mut consent, &mut bar),
    };
    drop(bar);
    via.close();
    let r = r?;
    match (&r.result, &a.output) {
        (Some(signed), Some(path)) => emit(out, signed, Some(path), a.run.via.force),
        _ => out.report(&r),
    }
}

/// The group a `--group-file` names, parsed once here.
fn group_file(path: Option<&Path>) -> Result<Option<crate::group::Group>> {
    Ok(path.map(crate::home::read_group_file).transpose()?)
}
