use std::process::ExitCode;

use clap::Parser;
use exporter::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return report_usage_error(err),
    };
    match cli.command {
        Some(Command::Rules { command }) => exporter::rules::cli::run(command),
        None => ExitCode::SUCCESS,
    }
}

/// clap's own messages span several lines; keep --help/--version as they are and turn real
/// usage errors into the one-line form every other error has.
fn report_usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let message = first.trim_start_matches("error: ");
    eprintln!("exporter: error: {message} (see exporter --help)");
    ExitCode::from(2)
}
