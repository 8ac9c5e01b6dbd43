//! The `supervise` binary: parses the command line and exits with the code
//! the command returns. Everything else lives in the library.

use clap::Parser;

fn main() {
    let cli = supervise::cli::Cli::parse();
    std::process::exit(supervise::cli::main(cli));
}
