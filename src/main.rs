//! The `passport` binary: parse arguments, run, exit with a stable code.
#![forbid(unsafe_code)]

fn main() {
    match passport::cli::parse() {
        Ok(cli) => std::process::exit(passport::cli::run(cli)),
        Err(code) => std::process::exit(code),
    }
}
