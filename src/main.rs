use std::process::ExitCode;

use clap::Parser;
use livepoll::cli::Cli;

/// mimalloc instead of glibc's allocator: serving a vote allocates and frees many small
/// buffers across threads, where glibc's malloc spent an eighth of serve's CPU (perf, 2026-11-22).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIVEPOLL_LOG").unwrap_or_else(|_| {
                "livepoll=info,warn,librdkafka=off,rdkafka=off,warp::server=off".into()
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("livepoll: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(livepoll::commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livepoll: {e:#}");
            if e.downcast_ref::<livepoll::app::ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
