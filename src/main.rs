//! `ovdev`: runs the dev loop of Omniview plugins from the command line.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ovdev: {err:#}");
            ExitCode::from(1)
        }
    }
}
