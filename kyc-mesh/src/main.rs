//! kyc-mesh: the KYC services behind a real Envoy configured from networking/*.yaml.
//! Parses the command line and runs it on a Tokio runtime; see `kyc_mesh::cli`.

use std::process::ExitCode;

use clap::Parser;

use kyc_mesh::cli::{self, Cli};

/// mimalloc rather than glibc's malloc: `up`'s OTLP receiver decodes and later frees millions of
/// small strings, and glibc spent about half of its CPU in malloc and free (BENCHMARKS.md,
/// "The cost of the local trace receiver").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyc-mesh: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}
