//! `livepoll simulate`: attendees voting over HTTP keep-alive, as they really behave (most vote
//! once, some change their mind), with a summary of throughput and latencies, and a final check
//! that the server's tallies equal the accepted ballots.
//!
//! The voting loop is a load generator on the box it measures, so it is kept cheap: one plain
//! HTTP/1.1 connection per worker (hyper's low-level client, no pool), requests built from pieces
//! made once (URI, header values, a few pre-serialised ballots), worker-local counters and RNG,
//! all on one thread of its own.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Share of voters who change their vote once.
const CHANGE_SHARE: f64 = 0.2;
/// A vote not answered within this counts as a connection error (and the connection is renewed).
const VOTE_TIMEOUT: Duration = Duration::from_secs(10);
/// What a word-cloud voter writes.
const WORDS: [&str; 5] = ["rust", "kafka", "redb", "tokio", "warp"];

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
    /// Poll to vote on (required: a rehearsal never picks the poll on air by itself).
    #[arg(long, env = "LIVEPOLL_POLL")]
    pub poll: Option<String>,
    /// Vote even if people have already voted in the poll's current round (their ballots and
    /// the simulated ones would then be counted together).
    #[arg(long, env = "LIVEPOLL_FORCE")]
    pub force: bool,
    /// Concurrent keep-alive connections (each serves a share of the voters, one vote at a time).
    #[arg(long, env = "LIVEPOLL_CONNECTIONS", default_value_t = 256)]
    pub connections: usize,
}

/// Runs on a current-thread runtime of its own (on a blocking thread of the caller's runtime),
/// so the load generator uses at most one core of the box it measures, and its tasks never wake
/// each other across threads.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the simulator's runtime")?
            .block_on(simulate(args))
    })
    .await?
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()?;
    let admin = std::env::var("LIVEPOLL_ADMIN_TOKEN").ok();
    let Some(poll_id) = args.poll.clone() else {
        return Err(crate::cli::ConfigError(
            "simulate needs --poll ID: the poll its fake ballots go to (they count like real \
             ones, so rehearse on a poll of its own, or with a separate --data-dir or topic \
             prefix; see docs/operations.md \"Rehearsing\")"
                .into(),
        )
        .into());
    };
    let poll = get_poll(&client, &base, &poll_id, admin.as_deref()).await?;
    let voted = poll["results"]["voters"].as_u64().unwrap_or(0);
    if voted > 0 && !args.force {
        return Err(crate::cli::ConfigError(format!(
            "{voted} people have already voted in round {} of poll {poll_id:?}: simulated \
             ballots would be counted with theirs. Reset the poll first (a new round), or \
             pass --force",
            poll["round"].as_u64().unwrap_or(1)
        ))
        .into());
    }
    let kind = poll["kind"].as_str().unwrap_or_default().to_string();
    let n_options = poll["options"].as_array().map(|a| a.len()).unwrap_or(0);
    let scale = poll["scale"].as_u64().unwrap_or(5) as usize;
    let before = counts_of(&poll);
    let voters_before = poll["results"]["voters"].as_u64();
    let ballots = Arc::new(Ballots::new(&kind, n_options, scale));
    let target = Arc::new(Target::new(&base, &poll_id)?);

    eprintln!("simulate: creating {} voter sessions...", args.voters);
    let tokens: Vec<HeaderValue> = futures::stream::iter(0..args.voters)
        .map(|_| {
            let c = client.clone();
            let url = format!("{base}/api/session");
            async move {
                let v: Value = c.post(url).send().await?.error_for_status()?.json().await?;
                let token = v["voter"].as_str().unwrap_or_default();
                anyhow::Ok(HeaderValue::from_str(token).context("voter token")?)
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;

    let accepted = Arc::new(AtomicU64::new(0));
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
    // With --rate, each worker votes once per `period`, the workers evenly out of phase, so
    // the server sees a steady stream rather than a burst from every connection at once.
    let period =
        (args.rate > 0).then(|| Duration::from_secs_f64(workers as f64 / args.rate as f64));
    let mut shares: Vec<Vec<HeaderValue>> = vec![Vec::new(); workers];
    for (i, token) in tokens.into_iter().enumerate() {
        shares[i % workers].push(token);
    }
    // The connections are opened before voting starts, a few at a time: hundreds of connects
    // at once overflow the server's accept queue, and the SYN retried a second later would show
    // as the vote's latency. A connection that fails here is retried by its worker.
    let conns: Vec<Option<SendRequest<OneChunk>>> = futures::stream::iter(0..workers)
        .map(|_| {
            let target = target.clone();
            async move {
                tokio::time::timeout(VOTE_TIMEOUT, target.connect())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        })
        .buffered(64)
        .collect()
        .await;
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
    let handles: Vec<_> = shares
        .into_iter()
        .zip(conns)
        .enumerate()
        .map(|(w, (voters, conn))| {
            let pace = period.map(|p| Pace {
                period: p,
                next_at: started + p.mul_f64(w as f64 / workers as f64),
            });
            tokio::spawn(worker(
                voters,
                conn,
                target.clone(),
                ballots.clone(),
                pace,
                deadline,
                accepted.clone(),
            ))
        })
        .collect();
    let ticker = {
        let (bar, accepted) = (bar.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let secs = started.elapsed().as_secs_f64();
                let acc = accepted.load(Ordering::Relaxed);
                bar.set_position(secs as u64);
                bar.set_message(format!(
                    "{acc} accepted, {:.0} votes/s",
                    acc as f64 / secs.max(0.001)
                ));
            }
        })
    };
    let mut sent = 0;
    let mut ack = Vec::new();
    let mut first_acks = Vec::new();
    let mut rejected = BTreeMap::<u16, u64>::new();
    // ballot index → voters whose last accepted ballot it is
    let mut final_tally = vec![0u64; ballots.bodies.len()];
    for h in handles {
        let r = h.await?;
        sent += r.sent;
        ack.extend_from_slice(&r.ack_us);
        first_acks.extend_from_slice(&r.first_acks);
        for (code, n) in r.rejected {
            *rejected.entry(code).or_default() += n;
        }
        for (b, n) in r.tally.into_iter().enumerate() {
            final_tally[b] += n;
        }
    }
    let elapsed = started.elapsed();
    ticker.abort();
    bar.finish_and_clear();

    let accepted = accepted.load(Ordering::Relaxed);
    ack.sort_unstable();
    println!(
        "simulate: poll {poll_id} ({kind}), {} voters, {:.1}s",
        args.voters,
        elapsed.as_secs_f64()
    );
    println!("  sent      {sent}");
    println!("  accepted  {accepted} (202)");
    for (code, n) in &rejected {
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
        ack.last().copied().map_or(0, u64::from) as f64 / 1000.0
    );

    // Check: the server's tallies equal the accepted ballots (plus what was there before).
    let mut expected = before.clone();
    for (b, &n) in final_tally.iter().enumerate() {
        add_ballot(&mut expected, &ballots.values[b], &kind, n);
    }
    let n_ballots: u64 = final_tally.iter().sum();
    let expected_voters = voters_before.map(|v| v + n_ballots);
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
        println!("  tally check: OK — the server's tallies equal the {n_ballots} accepted ballots");
    } else {
        println!("  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!("  TALLY MISMATCH: expected {expected:?}, server shows {got:?}");
        println!("  !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        anyhow::bail!("the server's tallies do not match the accepted ballots");
    }
    Ok(())
}

/// What one worker (one connection, its share of the voters) saw.
struct WorkerReport {
    sent: u64,
    /// Microseconds from sending each accepted vote to its 202.
    ack_us: Vec<u32>,
    /// When each voter's first vote was accepted, for vote-to-screen latency.
    first_acks: Vec<Instant>,
    /// Status code (0: connection error or timeout) → votes answered with it.
    rejected: BTreeMap<u16, u64>,
    /// Ballot index → voters whose last accepted ballot it is.
    tally: Vec<u64>,
}

/// A worker's schedule under --rate: its next vote is due at `next_at`, then every `period`.
struct Pace {
    period: Duration,
    next_at: Instant,
}

/// One keep-alive connection voting for `voters` in turn: everyone votes once, then a voter
/// changes their vote now and then, until the deadline.
async fn worker(
    voters: Vec<HeaderValue>,
    mut conn: Option<SendRequest<OneChunk>>,
    target: Arc<Target>,
    ballots: Arc<Ballots>,
    mut pace: Option<Pace>,
    deadline: Instant,
    accepted: Arc<AtomicU64>,
) -> WorkerReport {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut report = WorkerReport {
        sent: 0,
        ack_us: Vec::new(),
        first_acks: Vec::with_capacity(voters.len()),
        rejected: BTreeMap::new(),
        tally: vec![0; ballots.bodies.len()],
    };
    // voter → index of their last accepted ballot
    let mut last: Vec<Option<u32>> = vec![None; voters.len()];
    let mut i = 0usize;
    while Instant::now() < deadline && !voters.is_empty() {
        let v = i % voters.len();
        let pass = i / voters.len();
        i += 1;
        // Everyone votes once; after that, a voter changes their vote now and then.
        if pass >= 1 && !rng.random_bool(CHANGE_SHARE) {
            continue;
        }
        if let Some(pace) = &mut pace {
            if pace.next_at >= deadline {
                break;
            }
            tokio::time::sleep_until(pace.next_at.into()).await;
            pace.next_at += pace.period;
        }
        let b = rng.random_range(0..ballots.bodies.len());
        let t0 = Instant::now();
        report.sent += 1;
        let res = tokio::time::timeout(
            VOTE_TIMEOUT,
            vote(&mut conn, &target, &voters[v], &ballots.bodies[b]),
        )
        .await;
        match res {
            Ok(Ok(202)) => {
                let now = Instant::now();
                let us = (now - t0).as_micros();
                report.ack_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                accepted.fetch_add(1, Ordering::Relaxed);
                match last[v].replace(b as u32) {
                    Some(old) => report.tally[old as usize] -= 1,
                    None => report.first_acks.push(now),
                }
                report.tally[b] += 1;
            }
            Ok(Ok(code)) => *report.rejected.entry(code).or_default() += 1,
            Ok(Err(_)) | Err(_) => {
                conn = None;
                *report.rejected.entry(0).or_default() += 1;
            }
        }
    }
    report
}

/// Where votes go, made once: the server's addresses, the request target and `Host`.
pub(super) struct Target {
    pub(super) addrs: Vec<SocketAddr>,
    uri: Uri,
    host: HeaderValue,
    json: HeaderValue,
    voter_header: HeaderName,
}

impl Target {
    pub(super) fn new(base: &str, poll_id: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(&format!("{base}/api/polls/{poll_id}/votes"))
            .with_context(|| format!("bad URL {base}"))?;
        anyhow::ensure!(
            url.scheme() == "http",
            "simulate votes over plain http:// only, not {}",
            url.scheme()
        );
        let addrs = url
            .socket_addrs(|| None)
            .with_context(|| format!("cannot resolve {base}"))?;
        let host = url.host_str().context("URL without a host")?;
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Ok(Self {
            addrs,
            uri: path.parse()?,
            host: HeaderValue::from_str(&host)?,
            json: HeaderValue::from_static("application/json"),
            voter_header: HeaderName::from_static("x-livepoll-voter"),
        })
    }

    pub(super) async fn connect(&self) -> anyhow::Result<SendRequest<OneChunk>> {
        let tcp = tokio::net::TcpStream::connect(&self.addrs[..]).await?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// One vote on the worker's connection (opened first if there is none): the response status.
/// The response body is read to its end so the connection can carry the next vote.
pub(super) async fn vote(
    conn: &mut Option<SendRequest<OneChunk>>,
    target: &Target,
    voter: &HeaderValue,
    body: &Bytes,
) -> anyhow::Result<u16> {
    if conn.as_ref().is_none_or(|s| s.is_closed()) {
        *conn = Some(target.connect().await?);
    }
    let mut sender = conn.as_mut().expect("connected");
    if sender.ready().await.is_err() {
        // Closed by the server since the last vote (say, idle): nothing was sent yet, so a new
        // connection takes the vote, as a connection pool would do.
        sender = conn.insert(target.connect().await?);
        sender.ready().await?;
    }
    let mut req = Request::new(OneChunk(Some(body.clone())));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = target.uri.clone();
    let headers = req.headers_mut();
    headers.reserve(4); // and content-length, added by hyper
    headers.insert(HOST, target.host.clone());
    headers.insert(CONTENT_TYPE, target.json.clone());
    headers.insert(target.voter_header.clone(), voter.clone());
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let mut body = res.into_body();
    // The status stands even if the body breaks off (a 202 is a counted vote): only the
    // connection is given up then.
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if frame.is_err() {
            *conn = None;
            break;
        }
    }
    Ok(status)
}

/// A request body of one pre-made chunk.
pub(super) struct OneChunk(Option<Bytes>);

impl Body for OneChunk {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// The ballots a voter picks from (uniformly), serialised once: one per option (single,
/// multiple), per rating, or per word.
struct Ballots {
    values: Vec<Value>,
    bodies: Vec<Bytes>,
}

impl Ballots {
    fn new(kind: &str, n: usize, scale: usize) -> Self {
        let values: Vec<Value> = match kind {
            "single" => (0..n.max(1)).map(|i| json!({ "choice": i })).collect(),
            "multiple" => (0..n.max(1)).map(|i| json!({ "choices": [i] })).collect(),
            "rating" => (1..=scale.max(1)).map(|r| json!({ "rating": r })).collect(),
            _ => WORDS.iter().map(|w| json!({ "text": w })).collect(),
        };
        let bodies = values
            .iter()
            .map(|v| Bytes::from(serde_json::to_vec(v).expect("a ballot serialises")))
            .collect();
        Self { values, bodies }
    }
}

pub(super) fn pct<T: Copy + Into<u64>>(sorted_us: &[T], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i].into() as f64 / 1000.0
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

/// Counts `times` voters whose last accepted ballot is `b`.
fn add_ballot(c: &mut Counts, b: &Value, kind: &str, times: u64) {
    if times == 0 {
        return;
    }
    let mut bump = |k: String| *c.entry(k).or_default() += times;
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
