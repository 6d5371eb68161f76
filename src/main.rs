//! The `backstop` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = backstop::cli::Cli::parse();
    // The demo prints its own summary; its logs show only what went wrong and was retried.
    let level = if matches!(cli.command, backstop::cli::Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    backstop::telemetry::init(backstop::telemetry::LogFormat::from_env(), level);
    backstop::cli::main(cli).await
}
