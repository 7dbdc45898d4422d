//! `exporter rules ...` subcommands.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {}

pub fn run(command: RulesCommand) -> ExitCode {
    match command {}
}
