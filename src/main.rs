//! The `backstop` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// Exit code of bad input: usage errors too (clap's own 2 would read as "partial").
const BAD_INPUT: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match backstop::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(e),
    };
    // The demo prints its own summary; its logs show only what went wrong and was retried.
    let level = if matches!(cli.command, backstop::cli::Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    backstop::telemetry::init(backstop::telemetry::LogFormat::from_env(), level);
    backstop::cli::main(cli).await
}

/// `--help` and `--version` print and exit 0; a usage error prints and exits [`BAD_INPUT`].
fn usage(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}
