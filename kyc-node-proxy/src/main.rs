//! kyc-node-proxy --config node.json: one node of the local ambient mesh.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use kyc_node_proxy::{Node, NodeConfig};

/// The local mesh's node proxy (ambient mode): HBONE between workloads, L4 policy, metrics.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The node's configuration (JSON), as `kyc-mesh up --dataplane ambient` writes it.
    #[arg(long)]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
    let config = match NodeConfig::read(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kyc-node-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!(
            "{}: {} workloads, {} services",
            config.node,
            config.workloads.len(),
            config.services.len()
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyc-node-proxy: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let node = match Node::start(config).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("kyc-node-proxy: {e}");
                return ExitCode::from(2);
            }
        };
        tokio::select! {
            _ = node.wait() => ExitCode::from(1),
            _ = shutdown() => ExitCode::SUCCESS,
        }
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
