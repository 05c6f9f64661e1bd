//! `livepoll simulate`: attendees voting over HTTP keep-alive, as they really behave (most vote
//! once, some change their mind), with a summary of throughput and latencies, and a final check
//! that the server's tallies equal the accepted ballots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use serde_json::{Value, json};

/// Share of voters who change their vote once.
const CHANGE_SHARE: f64 = 0.2;

struct Shared {
    sent: AtomicU64,
    accepted: AtomicU64,
    rejected: Mutex<HashMap<u16, u64>>,
    ack_us: Mutex<Vec<u64>>,
    /// (ack instant, number of distinct voters accepted so far) for vote-to-screen latency.
    first_acks: Mutex<Vec<Instant>>,
}

/// `livepoll simulate`: every flag also reads `LIVEPOLL_<FLAG>`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Base URL of a running livepoll server.
    #[arg(long, env = "LIVEPOLL_URL")]
    pub url: String,
    /// Number of simulated voters.
    #[arg(long, env = "LIVEPOLL_VOTERS", default_value_t = 1000)]
    pub voters: usize,
    /// Target votes per second (0: as fast as possible).
    #[arg(long, env = "LIVEPOLL_RATE", default_value_t = 0)]
    pub rate: u64,
    /// How long to run, in seconds.
    #[arg(long, env = "LIVEPOLL_DURATION", default_value_t = 10)]
    pub duration: u64,
    /// Poll to vote on (default: the poll on air, else the first open poll).
    #[arg(long, env = "LIVEPOLL_POLL")]
    pub poll: Option<String>,
    /// Concurrent keep-alive connections (each serves a share of the voters, one vote at a time).
    #[arg(long, env = "LIVEPOLL_CONNECTIONS", default_value_t = 256)]
    pub connections: usize,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections.max(64))
        .timeout(Duration::from_secs(10))
        .build()?;
    let admin = std::env::var("LIVEPOLL_ADMIN_TOKEN").ok();
    let poll_id = match &args.poll {
        Some(p) => p.clone(),
        None => pick_poll(&client, &base).await?,
    };
    let poll = get_poll(&client, &base, &poll_id, admin.as_deref()).await?;
    let kind = poll["kind"].as_str().unwrap_or_default().to_string();
    let n_options = poll["options"].as_array().map(|a| a.len()).unwrap_or(0);
    let scale = poll["scale"].as_u64().unwrap_or(5) as usize;
    let before = counts_of(&poll);
    let voters_before = poll["results"]["voters"].as_u64();

    eprintln!("simulate: creating {} voter sessions...", args.voters);
    let tokens: Vec<String> = futures::stream::iter(0..args.voters)
        .map(|_| {
            let c = client.clone();
            let url = format!("{base}/api/session");
            async move {
                let v: Value = c.post(url).send().await?.error_for_status()?.json().await?;
                anyhow::Ok(v["voter"].as_str().unwrap_or_default().to_string())
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;

    let shared = Arc::new(Shared {
        sent: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        rejected: Mutex::new(HashMap::new()),
        ack_us: Mutex::new(Vec::new()),
        first_acks: Mutex::new(Vec::new()),
    });
    // Vote-to-screen: watch the SSE results of this poll.
    let screen_times = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let sse = tokio::spawn(watch_results(
        client.clone(),
        base.clone(),
        poll_id.clone(),
        admin.clone(),
        screen_times.clone(),
    ));

    let workers = args.voters.min(args.connections).max(1);
    let per_worker_rate = (args.rate > 0).then(|| args.rate as f64 / workers as f64);
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let bar = ProgressBar::new(args.duration);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {msg}")
            .expect("template"),
    );
    eprintln!(
        "simulate: voting for {}s over {workers} connections",
        args.duration
    );
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let mine: Vec<String> = tokens.iter().skip(w).step_by(workers).cloned().collect();
        let (client, base, poll_id, kind, shared) = (
            client.clone(),
            base.clone(),
            poll_id.clone(),
            kind.clone(),
            shared.clone(),
        );
        handles.push(tokio::spawn(async move {
            // voter index → their last accepted ballot
            let mut ballots: HashMap<usize, Value> = HashMap::new();
            let mut next_at = Instant::now();
            let mut i = 0usize;
            let url = format!("{base}/api/polls/{poll_id}/votes");
            while Instant::now() < deadline && !mine.is_empty() {
                let v = i % mine.len();
                let pass = i / mine.len();
                i += 1;
                // Everyone votes once; after that, a voter changes their vote now and then.
                if pass >= 1 && !rand::rng().random_bool(CHANGE_SHARE) {
                    continue;
                }
                if let Some(rate) = per_worker_rate {
                    next_at += Duration::from_secs_f64(1.0 / rate);
                    tokio::time::sleep_until(next_at.into()).await;
                }
                let body = random_ballot(&kind, n_options, scale);
                let t0 = Instant::now();
                shared.sent.fetch_add(1, Ordering::Relaxed);
                let res = client
                    .post(&url)
                    .header("x-livepoll-voter", &mine[v])
                    .json(&body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let now = Instant::now();
                        shared
                            .ack_us
                            .lock()
                            .expect("lock")
                            .push((now - t0).as_micros() as u64);
                        shared.accepted.fetch_add(1, Ordering::Relaxed);
                        if ballots.insert(v, body).is_none() {
                            shared.first_acks.lock().expect("lock").push(now);
                        }
                    }
                    Ok(r) => {
                        *shared
                            .rejected
                            .lock()
                            .expect("lock")
                            .entry(r.status().as_u16())
                            .or_default() += 1
                    }
                    Err(_) => *shared.rejected.lock().expect("lock").entry(0).or_default() += 1,
                }
            }
            ballots.into_values().collect::<Vec<_>>()
        }));
    }
    let ticker = {
        let (bar, shared) = (bar.clone(), shared.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let secs = started.elapsed().as_secs_f64();
                let acc = shared.accepted.load(Ordering::Relaxed);
                bar.set_position(secs as u64);
                bar.set_message(format!(
                    "{acc} accepted, {:.0} votes/s",
                    acc as f64 / secs.max(0.001)
                ));
            }
        })
    };
    let mut final_ballots = Vec::new();
    for h in handles {
        final_ballots.extend(h.await?);
    }
    let elapsed = started.elapsed();
    ticker.abort();
    bar.finish_and_clear();

    let sent = shared.sent.load(Ordering::Relaxed);
    let accepted = shared.accepted.load(Ordering::Relaxed);
    let mut ack = std::mem::take(&mut *shared.ack_us.lock().expect("lock"));
    ack.sort_unstable();
    println!(
        "simulate: poll {poll_id} ({kind}), {} voters, {:.1}s",
        args.voters,
        elapsed.as_secs_f64()
    );
    println!("  sent      {sent}");
    println!("  accepted  {accepted} (202)");
    for (code, n) in shared.rejected.lock().expect("lock").iter() {
        println!(
            "  rejected  {n} ({})",
            if *code == 0 {
                "connection error".to_string()
            } else {
                code.to_string()
            }
        );
    }
    println!("  votes/s   {:.0}", accepted as f64 / elapsed.as_secs_f64());
    println!(
        "  ack latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        pct(&ack, 0.50),
        pct(&ack, 0.95),
        pct(&ack, 0.99),
        ack.last().copied().unwrap_or(0) as f64 / 1000.0
    );

    // Check: the server's tallies equal the accepted ballots (plus what was there before).
    let mut expected = before.clone();
    for b in &final_ballots {
        add_ballot(&mut expected, b, &kind);
    }
    let expected_voters = voters_before.map(|v| v + final_ballots.len() as u64);
    let check_deadline = Instant::now() + Duration::from_secs(15);
    let (ok, got) = loop {
        let p = get_poll(&client, &base, &poll_id, admin.as_deref()).await?;
        let got = counts_of(&p);
        let voters_ok = expected_voters.is_none_or(|v| p["results"]["voters"].as_u64() == Some(v));
        if (got == expected && voters_ok) || Instant::now() > check_deadline {
            break (got == expected && voters_ok, got);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sse.abort();
    let first_acks = std::mem::take(&mut *shared.first_acks.lock().expect("lock"));
    let screens = screen_times.lock().expect("lock").clone();
    if let Some(base_voters) = voters_before {
        let mut lat = vote_to_screen(&first_acks, &screens, base_voters);
        lat.sort_unstable();
        if !lat.is_empty() {
            println!(
                "  vote-to-screen ms: p50 {:.1}  p99 {:.1}  (n={})",
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                lat.len()
            );
        }
    } else {
        println!("  vote-to-screen: not measured (results hidden; set LIVEPOLL_ADMIN_TOKEN)");
    }
    if expected.is_empty() && before.is_empty() {
        println!("  tally check: skipped (results hidden; set LIVEPOLL_ADMIN_TOKEN)");
    } else if ok {
        println!(
            "  tally check: OK — the server's tallies equal the {} accepted ballots",
            final_ballots.len()
        );
    } else {
        println!("  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!("  TALLY MISMATCH: expected {expected:?}, server shows {got:?}");
        println!("  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        anyhow::bail!("the server's tallies do not match the accepted ballots");
    }
    Ok(())
}

fn pct(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// For the k-th distinct voter acknowledged, the time until a results event showed at least
/// base + k voters (microseconds).
fn vote_to_screen(acks: &[Instant], screens: &[(Instant, u64)], base: u64) -> Vec<u64> {
    let mut sorted = acks.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::with_capacity(sorted.len());
    let mut j = 0;
    for (k, t) in sorted.iter().enumerate() {
        let need = base + k as u64 + 1;
        while j < screens.len() && screens[j].1 < need {
            j += 1;
        }
        if let Some((at, _)) = screens.get(j) {
            out.push(at.saturating_duration_since(*t).as_micros() as u64);
        }
    }
    out
}

fn random_ballot(kind: &str, n: usize, scale: usize) -> Value {
    let mut r = rand::rng();
    match kind {
        "single" => json!({ "choice": r.random_range(0..n.max(1)) }),
        "multiple" => json!({ "choices": [r.random_range(0..n.max(1))] }),
        "rating" => json!({ "rating": r.random_range(1..=scale.max(1)) }),
        _ => {
            let words = ["rust", "kafka", "redb", "tokio", "warp"];
            json!({ "text": words[r.random_range(0..words.len())] })
        }
    }
}

type Counts = HashMap<String, u64>;

fn counts_of(poll: &Value) -> Counts {
    let mut out = Counts::new();
    let r = &poll["results"];
    if let Some(c) = r["counts"].as_array() {
        for (i, n) in c.iter().enumerate() {
            if n.as_u64().unwrap_or(0) > 0 {
                out.insert(i.to_string(), n.as_u64().unwrap_or(0));
            }
        }
    }
    if let Some(w) = r["words"].as_array() {
        for pair in w {
            out.insert(
                pair[0].as_str().unwrap_or_default().to_string(),
                pair[1].as_u64().unwrap_or(0),
            );
        }
    }
    out
}

fn add_ballot(c: &mut Counts, b: &Value, kind: &str) {
    let mut bump = |k: String| *c.entry(k).or_default() += 1;
    match kind {
        "single" => bump(b["choice"].to_string()),
        "multiple" => b["choices"]
            .as_array()
            .into_iter()
            .flatten()
            .for_each(|x| bump(x.to_string())),
        "rating" => bump((b["rating"].as_u64().unwrap_or(1) - 1).to_string()),
        _ => bump(b["text"].as_str().unwrap_or_default().to_string()),
    }
}

async fn pick_poll(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let screen: Value = client
        .get(format!("{base}/api/screen"))
        .send()
        .await?
        .json()
        .await?;
    if let Some(p) = screen["poll"].as_str() {
        return Ok(p.to_string());
    }
    let polls: Vec<Value> = client
        .get(format!("{base}/api/polls"))
        .send()
        .await?
        .json()
        .await?;
    polls
        .iter()
        .find(|p| p["state"] == "open")
        .and_then(|p| p["id"].as_str().map(String::from))
        .context("no poll on air and none open: pass --poll ID")
}

async fn get_poll(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    admin: Option<&str>,
) -> anyhow::Result<Value> {
    let mut req = client.get(format!("{base}/api/polls/{id}"));
    if let Some(t) = admin {
        req = req.bearer_auth(t);
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    anyhow::ensure!(
        res.status().is_success(),
        "GET /api/polls/{id}: {}",
        res.status()
    );
    Ok(res.json().await?)
}

async fn watch_results(
    client: reqwest::Client,
    base: String,
    poll: String,
    admin: Option<String>,
    out: Arc<Mutex<Vec<(Instant, u64)>>>,
) {
    let mut req = client
        .get(format!("{base}/api/events"))
        .timeout(Duration::from_secs(3600));
    if let Some(t) = &admin {
        req = req.bearer_auth(t);
    }
    let Ok(res) = req.send().await else { return };
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        let now = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if !frame.contains("event:results") {
                continue;
            }
            let data: String = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .collect();
            if let Ok(v) = serde_json::from_str::<Value>(&data)
                && v["poll"] == poll.as_str()
                && let Some(n) = v["voters"].as_u64()
            {
                out.lock().expect("lock").push((now, n));
            }
        }
    }
}
