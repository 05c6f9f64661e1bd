//! The subcommands behind `main.rs`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;

use crate::app::{Application, ConfigError};
use crate::broker::{BundledBroker, Status};
use crate::cli::{BrokerArgs, Command, ExportArgs, ExportFormat, KafkaAction, ServeArgs};
use crate::export::Report;
use crate::store::TallyStore;

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Kafka { action, broker } => kafka(action, broker).await,
        Command::Qr { url } => {
            let art = crate::qr::terminal(&url, std::io::stdout().is_terminal())
                .map_err(|e| ConfigError(format!("cannot encode {url:?} as a QR code: {e}")))?;
            println!("{art}\n{url}");
            Ok(())
        }
        Command::Export(args) => export(args).await,
        Command::Simulate(args) => crate::simulate::run(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let app = Application::build(args).await?;
    let info = app.info().clone();
    let qr =
        crate::qr::terminal(&info.join_url, std::io::stdout().is_terminal()).unwrap_or_default();
    println!(
        "\n{qr}\n\n  livepoll is running\n\n  Attendees (scan or type):  {join}\n  Projector screen:          {join}/screen\n  Organiser console:         {local}/admin\n  Admin token:               {token}\n  Kafka:                     {kafka}\n\n  Press Ctrl-C to stop.\n",
        join = info.join_url,
        local = info.local_url,
        token = info.admin_token,
        kafka = info.kafka,
    );
    app.run(shutdown_signal()).await?;
    eprintln!("livepoll: stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

async fn kafka(action: KafkaAction, args: BrokerArgs) -> anyhow::Result<()> {
    let broker = BundledBroker::new(&args.data_dir, args.kafka_port)?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        match action {
            KafkaAction::Start => broker.start().map_err(|e| match e {
                crate::broker::BrokerError::PortTaken(_) => ConfigError(e.to_string()).into(),
                e => anyhow::Error::from(e),
            }),
            KafkaAction::Stop => Ok(broker.stop()?),
            KafkaAction::Status => match broker.status()? {
                Status::Running(s) => {
                    println!("{s}");
                    Ok(())
                }
                Status::Stopped(s) | Status::Unresponsive(s) => Err(anyhow::anyhow!("{s}")),
            },
        }
    })
    .await?
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let text = match (&args.url, &args.data_dir) {
        (Some(url), _) => {
            let token = args.admin_token.as_deref().unwrap_or_default();
            let ext = match args.format {
                ExportFormat::Csv => "csv",
                ExportFormat::Json => "json",
            };
            let url = format!(
                "{}/api/polls/{}/results.{ext}",
                url.trim_end_matches('/'),
                args.poll
            );
            let res = reqwest::Client::new()
                .get(&url)
                .bearer_auth(token)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .with_context(|| format!("cannot reach {url}"))?;
            let status = res.status();
            let body = res.text().await?;
            anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
            body
        }
        (None, dir) => {
            let dir = dir.clone().unwrap_or_else(|| "./livepoll-data".into());
            let store = TallyStore::open(&dir.join("tallies.redb"))?;
            let polls = store.load_polls()?;
            let p = polls.live(&args.poll).ok_or_else(|| {
                ConfigError(format!("no poll {:?} in {}", args.poll, dir.display()))
            })?;
            let report = Report::build(&store, p)?;
            match args.format {
                ExportFormat::Csv => report.to_csv(),
                ExportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
            }
        }
    };
    print!("{text}");
    Ok(())
}
