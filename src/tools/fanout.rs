//! `livepoll bench fanout`: a stadium on one node. N phones hold the attendee event stream open,
//! each with a voter token of its own (as real phones do), then vote in a burst at a fixed rate;
//! what is measured is what an audience notices:
//!
//! - intake: votes answered 202 against votes asked, and the ack latency;
//! - how current every phone is: for each phone, the time from the last 202 of the burst until
//!   its stream showed the final results (voters and counts: every vote of the burst changes the
//!   counts, a changed vote too), p50 / p99 / max, and how many phones never got there within
//!   `--settle` seconds;
//! - how long N phones take to connect, and the updates a phone received per second.
//!
//! The phones are raw HTTP/1.1 connections read on one thread of their own, each keeping three
//! numbers (a hash of the latest results, when they arrived, how many; no per-event allocation), so the load generator stays cheap next to the server it
//! measures. One source address has ~28,000 ephemeral ports: `--sources K` spreads the phones over
//! 127.0.0.1 … 127.0.0.K.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use futures::StreamExt;
use hyper::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use super::simulate::{Target, pct, vote};

/// A phone whose stream has not answered within this counts as not connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Base URL of a running livepoll server (plain http://).
    #[arg(long)]
    pub url: String,
    /// The poll the burst votes on: a single-choice poll that is open (and on air, so phones
    /// receive its results as a real audience would).
    #[arg(long)]
    pub poll: String,
    /// Phones: attendee event streams held open, each with its own voter token.
    #[arg(long, default_value_t = 2000)]
    pub phones: usize,
    /// Votes per second asked during the burst (the phones vote in turn).
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    /// Length of the burst, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Keep-alive connections the votes are sent over.
    #[arg(long, default_value_t = 128)]
    pub connections: usize,
    /// Source addresses 127.0.0.1 … 127.0.0.K for the phones' streams.
    #[arg(long, default_value_t = 1)]
    pub sources: u8,
    /// Seconds after the last 202 to wait for every phone to show the final count.
    #[arg(long, default_value_t = 10)]
    pub settle: u64,
}

/// What one phone saw of the poll: a hash of the latest results (voters and counts), when they
/// arrived (µs since the run's start), and how many results events arrived.
#[derive(Default)]
struct Phone {
    results: AtomicU64,
    at_us: AtomicU64,
    updates: AtomicU32,
}

/// What every phone task shares.
struct Phones {
    start: Instant,
    poll_prefix: Vec<u8>,
    phones: Vec<Phone>,
    connected: AtomicU64,
    /// µs since start when the last phone connected.
    last_connect_us: AtomicU64,
}

pub async fn run(a: FanoutArgs) -> anyhow::Result<()> {
    // The phones get a thread of their own, so reading N streams never delays the voters' clock.
    let setup = Setup::new(&a)?;
    let tokens = setup.sessions(a.phones).await?;
    let phones = Arc::new(Phones {
        start: Instant::now(),
        poll_prefix: format!("data:{{\"poll\":\"{}\",", a.poll).into_bytes(),
        phones: (0..a.phones).map(|_| Phone::default()).collect(),
        connected: AtomicU64::new(0),
        last_connect_us: AtomicU64::new(0),
    });
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let reader = {
        let (phones, tokens, addr, sources) =
            (phones.clone(), tokens.clone(), setup.addr, a.sources);
        std::thread::Builder::new()
            .name("fanout-phones".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(hold_phones(phones, tokens, addr, sources, done_rx))
            })?
    };

    eprintln!("bench fanout: connecting {} phones...", a.phones);
    let connect_started = Instant::now();
    let deadline = connect_started + CONNECT_TIMEOUT;
    while (phones.connected.load(Ordering::Relaxed) as usize) < a.phones
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = phones.connected.load(Ordering::Relaxed);
    let connect_secs = Duration::from_micros(phones.last_connect_us.load(Ordering::Relaxed))
        .saturating_sub(connect_started - phones.start)
        .as_secs_f64();
    println!("phones={}", a.phones);
    println!("phones_connected={connected}");
    println!("connect_secs={connect_secs:.2}");
    eprintln!(
        "bench fanout: {connected} of {} phones connected in {connect_secs:.2}s",
        a.phones
    );
    // Let the first full-state events settle before the burst.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (before, _) = setup.results().await?;
    let applied_before = setup.votes_applied().await?;
    for p in &phones.phones {
        p.updates.store(0, Ordering::Relaxed);
    }

    eprintln!(
        "bench fanout: voting at {}/s for {}s over {} connections",
        a.rate, a.duration, a.connections
    );
    let burst = burst(&a, &setup.target, &tokens, &phones).await;
    let accepted = burst.acks.len() as u64;
    let achieved = accepted as f64 / a.duration as f64;
    let mut acks = burst.acks.clone();
    acks.sort_unstable();
    println!("votes_asked={}", a.rate * a.duration);
    println!("votes_accepted={accepted}");
    for (code, n) in &burst.rejected {
        println!("votes_rejected_{code}={n}");
    }
    println!("votes_per_s_asked={}", a.rate);
    println!("votes_per_s_achieved={achieved:.0}");
    println!("ack_p50_ms={:.1}", pct(&acks, 0.5));
    println!("ack_p99_ms={:.1}", pct(&acks, 0.99));
    println!(
        "ack_max_ms={:.1}",
        acks.last().map_or(0.0, |&u| u as f64 / 1000.0)
    );
    let updates: u64 = phones
        .phones
        .iter()
        .map(|p| u64::from(p.updates.load(Ordering::Relaxed)))
        .sum();
    let burst_secs = burst.last_ack_us.saturating_sub(burst.first_us).max(1) as f64 / 1e6;
    println!(
        "updates_per_phone_s={:.1}",
        updates as f64 / a.phones.max(1) as f64 / burst_secs
    );

    // Every phone should come to show the server's final results, read once the server has
    // applied every accepted vote (its `votes_applied` watermark).
    let expected = before + burst.distinct;
    let settle_deadline = Instant::now() + Duration::from_secs(a.settle);
    while setup.votes_applied().await? < applied_before + accepted
        && Instant::now() < settle_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (server, final_hash) = setup.results().await?;
    let current = |phones: &Phones| {
        phones
            .phones
            .iter()
            .filter(|p| p.results.load(Ordering::Relaxed) == final_hash)
            .count()
    };
    while current(&phones) < a.phones && Instant::now() < settle_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stale: Vec<u64> = phones
        .phones
        .iter()
        .filter(|p| p.results.load(Ordering::Relaxed) == final_hash)
        .map(|p| {
            p.at_us
                .load(Ordering::Relaxed)
                .saturating_sub(burst.last_ack_us)
        })
        .collect();
    stale.sort_unstable();
    println!("final_voters_expected={expected}");
    println!("final_voters_server={server}");
    println!("phones_current={}", stale.len());
    println!("phones_never_current={}", a.phones - stale.len());
    println!("stale_p50_ms={:.0}", pct(&stale, 0.5));
    println!("stale_p99_ms={:.0}", pct(&stale, 0.99));
    println!(
        "stale_max_ms={:.0}",
        stale.last().map_or(0.0, |&u| u as f64 / 1000.0)
    );
    eprintln!(
        "bench fanout: {accepted} of {} votes accepted ({achieved:.0}/s), ack p99 {:.0} ms; \
         {} of {} phones showed the final {expected} voters, p99 {:.0} ms after the last 202",
        a.rate * a.duration,
        pct(&acks, 0.99),
        stale.len(),
        a.phones,
        pct(&stale, 0.99)
    );
    let _ = done_tx.send(true);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    anyhow::ensure!(
        server == expected,
        "the server shows {server} voters, the accepted votes make {expected}"
    );
    Ok(())
}

/// The server, the voting target, and an HTTP client for sessions and results.
struct Setup {
    base: String,
    poll: String,
    addr: SocketAddr,
    target: Target,
    client: reqwest::Client,
    admin: Option<String>,
}

impl Setup {
    fn new(a: &FanoutArgs) -> anyhow::Result<Self> {
        let base = a.url.trim_end_matches('/').to_string();
        let target = Target::new(&base, &a.poll)?;
        let addr = *target
            .addrs
            .first()
            .context("the URL resolves to no address")?;
        Ok(Setup {
            base,
            poll: a.poll.clone(),
            addr,
            target,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            admin: std::env::var("LIVEPOLL_ADMIN_TOKEN").ok(),
        })
    }

    /// One voter token per phone, as each phone gets from `POST /api/session`.
    async fn sessions(&self, n: usize) -> anyhow::Result<Arc<Vec<HeaderValue>>> {
        eprintln!("bench fanout: creating {n} voter sessions...");
        let url = format!("{}/api/session", self.base);
        let tokens = futures::stream::iter(0..n)
            .map(|_| {
                let (c, url) = (self.client.clone(), url.clone());
                async move {
                    let v: serde_json::Value =
                        c.post(url).send().await?.error_for_status()?.json().await?;
                    let token = v["voter"].as_str().unwrap_or_default();
                    anyhow::Ok(HeaderValue::from_str(token).context("voter token")?)
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(tokens))
    }

    /// Ballots the server has applied so far (`/healthz` `votes_applied`).
    async fn votes_applied(&self) -> anyhow::Result<u64> {
        let v: serde_json::Value = self
            .client
            .get(format!("{}/healthz", self.base))
            .send()
            .await?
            .json()
            .await?;
        v["votes_applied"]
            .as_u64()
            .context("/healthz has no votes_applied")
    }

    /// The poll's number of voters, and the hash of its results as a phone's stream carries them.
    async fn results(&self) -> anyhow::Result<(u64, u64)> {
        let mut req = self
            .client
            .get(format!("{}/api/polls/{}", self.base, self.poll));
        if let Some(t) = &self.admin {
            req = req.bearer_auth(t);
        }
        let v: serde_json::Value = req.send().await?.error_for_status()?.json().await?;
        let r = &v["results"];
        let voters = r["voters"]
            .as_u64()
            .context("the poll has no results (is it open?)")?;
        let counts: Vec<u64> = r["counts"]
            .as_array()
            .context("no counts: vote on a single-choice poll whose results are visible")?
            .iter()
            .map(|c| c.as_u64().unwrap_or(0))
            .collect();
        let line = format!(
            "\"voters\":{voters},\"counts\":{}",
            serde_json::to_string(&counts)?
        );
        Ok((voters, results_hash(line.as_bytes()).context("results")?))
    }
}

/// Opens every phone's stream and reads them until told to stop.
async fn hold_phones(
    phones: Arc<Phones>,
    tokens: Arc<Vec<HeaderValue>>,
    addr: SocketAddr,
    sources: u8,
    done: tokio::sync::watch::Receiver<bool>,
) {
    let host = addr.to_string();
    let mut tasks = Vec::with_capacity(tokens.len());
    for i in 0..tokens.len() {
        let src = Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(sources.max(1))) as u8);
        let request = format!(
            "GET /api/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\
             X-Livepoll-Voter: {}\r\n\r\n",
            tokens[i].to_str().unwrap_or_default()
        );
        let (phones, mut done) = (phones.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = phone(&phones, i, IpAddr::V4(src), addr, request) => {}
                _ = done.wait_for(|d| *d) => {}
            }
        }));
        // A few at a time, as a room fills: thousands of SYNs at once overflow accept queues.
        if i % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One phone: connects from `src`, then keeps the latest number of voters of the poll.
async fn phone(phones: &Phones, i: usize, src: IpAddr, addr: SocketAddr, request: String) {
    let Ok(socket) = TcpSocket::new_v4() else {
        return;
    };
    if socket.bind(SocketAddr::new(src, 0)).is_err() {
        return;
    }
    let Ok(mut tcp) = socket.connect(addr).await else {
        return;
    };
    if tcp.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let me = &phones.phones[i];
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let mut connected = false;
    loop {
        let n = match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now_us = phones.start.elapsed().as_micros() as u64;
        if !connected {
            connected = true;
            phones.connected.fetch_add(1, Ordering::Relaxed);
            phones.last_connect_us.fetch_max(now_us, Ordering::Relaxed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            if line.starts_with(&phones.poll_prefix)
                && let Some(h) = results_hash(line)
            {
                me.updates.fetch_add(1, Ordering::Relaxed);
                if h != me.results.load(Ordering::Relaxed) {
                    me.results.store(h, Ordering::Relaxed);
                    me.at_us.store(now_us, Ordering::Relaxed);
                }
            }
            start += nl + 1;
        }
        buf.drain(..start);
    }
}

/// A hash (FNV-1a) of a results line's `"voters":N,"counts":[…]`, found without parsing JSON.
fn results_hash(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"voters\":";
    let from = line.windows(KEY.len()).position(|w| w == KEY)?;
    let to = from + line[from..].iter().position(|&b| b == b']')? + 1;
    Some(line[from..to].iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }))
}

/// What the burst got back.
struct Burst {
    /// Microseconds from sending to 202, per accepted vote.
    acks: Vec<u64>,
    /// Status (0: connection error) → votes answered with it.
    rejected: BTreeMap<u16, u64>,
    /// Phones with at least one accepted vote.
    distinct: u64,
    first_us: u64,
    last_ack_us: u64,
}

/// The phones vote in turn at `rate` per second for `duration`, over `connections` keep-alive
/// connections whose votes are evenly out of phase.
async fn burst(a: &FanoutArgs, target: &Target, tokens: &[HeaderValue], phones: &Phones) -> Burst {
    let workers = a.connections.max(1);
    let period = Duration::from_secs_f64(workers as f64 / a.rate.max(1) as f64);
    let total = (a.rate * a.duration) as usize;
    let started = Instant::now();
    let first_us = phones.start.elapsed().as_micros() as u64;
    let voted: Arc<Vec<AtomicU32>> =
        Arc::new((0..tokens.len()).map(|_| AtomicU32::new(0)).collect());
    let options = [
        Bytes::from_static(br#"{"choice":0}"#),
        Bytes::from_static(br#"{"choice":1}"#),
        Bytes::from_static(br#"{"choice":2}"#),
        Bytes::from_static(br#"{"choice":3}"#),
    ];
    let results = futures::future::join_all((0..workers).map(|w| {
        let voted = voted.clone();
        let options = options.clone();
        async move {
            let mut conn = target.connect().await.ok();
            let mut next_at = started + period.mul_f64(w as f64 / workers as f64);
            let mut acks = Vec::new();
            let mut rejected = BTreeMap::<u16, u64>::new();
            let mut last_ack = 0u64;
            let mut k = w;
            while k < total {
                tokio::time::sleep_until(next_at.into()).await;
                next_at += period;
                let phone = k % tokens.len();
                let t0 = Instant::now();
                let res = tokio::time::timeout(
                    Duration::from_secs(10),
                    vote(
                        &mut conn,
                        target,
                        &tokens[phone],
                        // A phone's next vote is for another option: every vote changes the counts.
                        &options[(k + k / tokens.len()) % options.len()],
                    ),
                )
                .await;
                match res {
                    Ok(Ok(202)) => {
                        acks.push(t0.elapsed().as_micros() as u64);
                        voted[phone].fetch_add(1, Ordering::Relaxed);
                        last_ack = last_ack.max(phones.start.elapsed().as_micros() as u64);
                    }
                    Ok(Ok(code)) => *rejected.entry(code).or_default() += 1,
                    Ok(Err(_)) | Err(_) => {
                        conn = None;
                        *rejected.entry(0).or_default() += 1;
                    }
                }
                k += workers;
            }
            (acks, rejected, last_ack)
        }
    }))
    .await;
    let mut burst = Burst {
        acks: Vec::new(),
        rejected: BTreeMap::new(),
        distinct: voted
            .iter()
            .filter(|v| v.load(Ordering::Relaxed) > 0)
            .count() as u64,
        first_us,
        last_ack_us: 0,
    };
    for (acks, rejected, last) in results {
        burst.acks.extend(acks);
        for (code, n) in rejected {
            *burst.rejected.entry(code).or_default() += n;
        }
        burst.last_ack_us = burst.last_ack_us.max(last);
    }
    burst
}

#[cfg(test)]
mod tests {
    use super::results_hash;

    #[test]
    fn a_results_line_hashes_like_the_servers_results_only_when_equal() {
        let line = br#"data:{"poll":"p","round":2,"voters":1234,"counts":[1,2]}"#;
        let same: &[u8] = br#""voters":1234,"counts":[1,2]"#;
        let other: &[u8] = br#""voters":1234,"counts":[2,1]"#;
        assert_eq!(results_hash(line), results_hash(same));
        assert_ne!(results_hash(line), results_hash(other));
        assert_eq!(results_hash(br#"data:{"poll":"p","round":2}"#), None);
    }
}
