//! The `passport` binary: parse arguments, run, exit with a stable code.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = passport::cli::Cli::parse();
    std::process::exit(passport::cli::run(cli));
}
