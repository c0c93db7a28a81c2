//! The `intake` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser as _;
use intake::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    Cli::parse().run().await
}
