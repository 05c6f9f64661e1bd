//! The subcommands behind `main.rs`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;

use crate::app::{Application, ConfigError};
use crate::broker::{BundledBroker, Status};
use crate::cli::{
    BrokerArgs, Command, ExportArgs, ExportFormat, KafkaAction, SecretAction, ServeArgs,
};
use crate::export::Report;
use crate::store::TallyStore;

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            crate::disk::allow_restart_in_place();
            serve(*args).await
        }
        Command::Kafka {
            action: KafkaAction::Read,
            topic,
            read,
            broker,
        } => {
            let topic = topic.ok_or_else(|| {
                ConfigError(
                    "kafka read needs a topic, e.g. `livepoll kafka read livepoll.polls`".into(),
                )
            })?;
            let brokers = read
                .brokers
                .clone()
                .unwrap_or_else(|| format!("127.0.0.1:{}", broker.kafka_port));
            tokio::task::spawn_blocking(move || {
                crate::tools::read::read(&brokers, &topic, &read, &mut std::io::stdout().lock())
            })
            .await??;
            Ok(())
        }
        Command::Kafka { action, broker, .. } => kafka(action, broker).await,
        Command::Qr { url } => {
            let art = crate::qr::terminal(&url, std::io::stdout().is_terminal())
                .map_err(|e| ConfigError(format!("cannot encode {url:?} as a QR code: {e}")))?;
            println!("{art}\n{url}");
            Ok(())
        }
        Command::Export(args) => export(args).await,
        Command::Doctor(args) => crate::doctor::run(args).await,
        Command::Secret {
            action: SecretAction::New { file },
        } => {
            crate::auth::new_secret_file(&file).map_err(|e| ConfigError(e.to_string()))?;
            eprintln!(
                "livepoll: wrote a new secret to {}; give every node --secret-file {0}",
                file.display()
            );
            Ok(())
        }
        Command::Simulate(args) => crate::tools::simulate::run(args).await,
        Command::Bench(cmd) => crate::tools::bench::run(cmd).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let data_dir = args.broker.data_dir.clone();
    let app = Application::build(args).await?;
    let info = app.info().clone();
    for warning in crate::doctor::startup_warnings(&info.join_url, &data_dir) {
        eprintln!("livepoll: warning: {warning} (livepoll doctor checks more)");
    }
    let qr = crate::qr::terminal(&info.attendee_url, std::io::stdout().is_terminal())
        .unwrap_or_default();
    // With an event code, the projector must be signed in to show it (anyone else who opens
    // /screen does not learn the code): its link carries the admin token in the fragment.
    let (screen, code) = match &info.event_code {
        Some(code) => (
            format!("{}/screen#token={}", info.join_url, info.admin_token),
            format!(
                "  Event code:                {code}  (the screen shows it; the QR code and URL above carry it)\n"
            ),
        ),
        None => (format!("{}/screen", info.join_url), String::new()),
    };
    println!(
        "\n{qr}\n\n  livepoll is running\n\n  Attendees (scan or type):  {attendee}\n{code}  Projector screen:          {screen}\n  Organiser console:         {local}/admin#token={token}\n                             (opens signed in; the token stays out of server logs)\n  Admin token:               {token}\n  Presenter (phone):         {join}/present#key={presenter}\n  Moderator (phone):         {join}/moderate#key={moderator}\n  Kafka:                     {kafka}\n\n  Press Ctrl-C to stop.\n",
        attendee = info.attendee_url,
        local = info.local_url,
        token = info.admin_token,
        join = info.join_url,
        presenter = info.presenter_key,
        moderator = info.moderator_key,
        kafka = info.kafka,
    );
    app.run(shutdown).await?;
    eprintln!("livepoll: stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives while the server is still starting is kept
/// and stops it cleanly once it runs (instead of killing it with the broker left behind).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(signals.0.as_mut()) => {}
                _ = recv(signals.1.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
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
            KafkaAction::Read => unreachable!("read is answered before"),
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
            // The block-list file is the server's config: from the data dir alone, words are
            // marked as the organisers' decisions in the log have them.
            let block = crate::domain::blocklist::BlockList::default();
            let rules = crate::domain::moderation::WordRules {
                moderation: &polls.moderation,
                block: &block,
            };
            let report = Report::build(&store, p, rules)?;
            match args.format {
                ExportFormat::Csv => report.to_csv(),
                ExportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
            }
        }
    };
    print!("{text}");
    Ok(())
}
