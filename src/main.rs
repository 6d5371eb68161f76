//! The `backstop` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    backstop::telemetry::init(backstop::telemetry::LogFormat::from_env());
    backstop::cli::main(backstop::cli::Cli::parse()).await
}
