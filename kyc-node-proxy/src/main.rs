//! kyc-node-proxy --config node.json: one node of the local ambient mesh.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

use kyc_node_proxy::{Node, NodeConfig};

/// The local mesh's node proxy (ambient mode): HBONE between workloads, L4 policy, metrics.
/// SIGHUP reads the configuration again (`kyc_node_proxy_config_reloads_total` counts it).
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
        let mut node = match Node::start(config).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("kyc-node-proxy: {e}");
                return ExitCode::from(2);
            }
        };
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("kyc-node-proxy: SIGHUP: {e}");
                return ExitCode::from(1);
            }
        };
        let shutdown = shutdown();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = node.wait() => return ExitCode::from(1),
                _ = &mut shutdown => return ExitCode::SUCCESS,
                _ = hangup.recv() => reload(&mut node, &args.config).await,
            }
        }
    })
}

/// SIGHUP: read the configuration again and apply it; a file that does not load or apply
/// changes nothing (said, and counted as rejected).
async fn reload(node: &mut Node, path: &std::path::Path) {
    let applied = match NodeConfig::read(path) {
        Ok(config) => node.reload(config).await,
        Err(e) => {
            node.metrics.reloaded(false);
            eprintln!("kyc-node-proxy: reload refused, the last good configuration stays: {e}");
            return;
        }
    };
    match applied {
        Ok(()) => eprintln!(
            "kyc-node-proxy: configuration reloaded from {}",
            path.display()
        ),
        Err(e) => {
            eprintln!("kyc-node-proxy: reload refused, the last good configuration stays: {e}")
        }
    }
}

/// SIGTERM or Ctrl-C.
async fn shutdown() {
    let mut term = match signal(SignalKind::terminate()) {
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
