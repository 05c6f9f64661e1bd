//! Several livepoll nodes on one Kafka cluster (issue 11): real `serve` processes on the shared
//! bundled broker, sharing a secret file, admin token and topic prefix, with Debian's haproxy in
//! front, configured from `deploy/haproxy.cfg`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// One node: a `serve` child process that can be killed and started again on its port and data dir.
struct Node {
    args: Vec<String>,
    port: u16,
    process: Option<ServeProcess>,
}

impl Node {
    fn start(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.process = Some(ServeProcess::start(&args, self.port));
    }

    fn api(&self) -> Api {
        Api::new(format!("http://127.0.0.1:{}", self.port))
    }

    fn kill(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.signal(libc::SIGKILL);
            p.wait(10);
        }
        self.process = None;
    }
}

/// Debian's haproxy as a child process, killed when dropped.
struct Haproxy {
    child: Child,
    port: u16,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `deploy/haproxy.cfg` with its server lines replaced by these ports (as scripts/cluster.sh does).
fn haproxy_config(ports: &[u16]) -> String {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy.cfg"))
            .unwrap();
    let mut out = String::new();
    for line in template.lines() {
        if line.trim_start().starts_with("server ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("# nodes") {
            for (i, port) in ports.iter().enumerate() {
                let n = i + 1;
                let how = if line.contains("track") {
                    format!("track livepoll/node{n}")
                } else {
                    "check".to_string()
                };
                out += &format!("    server node{n} 127.0.0.1:{port} {how} cookie node{n}\n");
            }
        }
    }
    out
}

struct Cluster {
    nodes: Vec<Node>,
    haproxy: Option<Haproxy>,
    prefix: String,
    dir: tempfile::TempDir,
}

/// Writes a fresh secret file with `livepoll secret new`.
fn new_secret(path: &Path) {
    let out = bin()
        .args(["secret", "new", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// `n` nodes on the shared broker (not yet started), with `extra` serve flags for each.
    fn new(n: usize, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.key");
        new_secret(&secret);
        let prefix = unique_prefix();
        let nodes = (1..=n)
            .map(|i| {
                let data: PathBuf = dir.path().join(format!("node{i}"));
                let mut args: Vec<String> = [
                    "--brokers",
                    &shared_broker().bootstrap(),
                    "--data-dir",
                    data.to_str().unwrap(),
                    "--secret-file",
                    secret.to_str().unwrap(),
                    "--topic-prefix",
                    &prefix,
                    "--node-id",
                    &format!("node{i}"),
                    "--trusted-proxy",
                    "127.0.0.1",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                args.extend(extra.iter().map(|s| s.to_string()));
                Node {
                    args,
                    port: free_port(),
                    process: None,
                }
            })
            .collect();
        Cluster {
            nodes,
            haproxy: None,
            prefix,
            dir,
        }
    }

    /// Starts every node (at once) and waits until all are healthy.
    async fn start(n: usize, extra: &[&str]) -> Cluster {
        let mut c = Cluster::new(n, extra);
        for node in &mut c.nodes {
            node.start();
        }
        for node in &c.nodes {
            node.process.as_ref().unwrap().wait_healthy(90).await;
        }
        c
    }

    /// Puts haproxy in front of the nodes and waits until it routes to every one of them.
    async fn with_haproxy(mut self) -> Cluster {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        let cfg = self.dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, haproxy_config(&ports)).unwrap();
        let port = free_port();
        let child = Command::new("haproxy")
            .args(["-db", "-f", cfg.to_str().unwrap()])
            .env("LIVEPOLL_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("haproxy runs (scripts/setup.sh --test installs it)");
        self.haproxy = Some(Haproxy { child, port });
        let api = self.public();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = std::collections::HashSet::new();
        while seen.len() < self.nodes.len() {
            assert!(
                Instant::now() < deadline,
                "haproxy never routed to every node: {seen:?}"
            );
            if let Ok(r) = api.client.get(api.url("/healthz")).send().await
                && let Ok(v) = r.json::<Value>().await
                && let Some(node) = v["node"].as_str()
            {
                seen.insert(node.to_string());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self
    }

    /// Requests through haproxy.
    fn public(&self) -> Api {
        Api::new(format!(
            "http://127.0.0.1:{}",
            self.haproxy.as_ref().expect("haproxy started").port
        ))
    }
}

/// The admin's view of a poll on every node, once every node has applied `votes` votes.
async fn results_everywhere(cluster: &Cluster, id: &str, votes: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for node in &cluster.nodes {
        let api = node.api();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h: Value = api.get("/healthz").await;
            if h["votes_applied"].as_u64() >= Some(votes) && h["lag"] == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never applied {votes} votes: {h}",
                api.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out.push(api.poll(id).await["results"].clone());
    }
    out
}

/// Waits until this node's view of the poll satisfies `ok`. A node checks a request against
/// what it has applied, so a request sent to another node than the one that just changed the
/// poll waits for that change to arrive (haproxy's cookie keeps a browser on one node).
async fn wait_poll(api: &Api, id: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = api
            .as_admin(reqwest::Method::GET, &format!("/api/polls/{id}"))
            .send()
            .await;
        if let Ok(r) = res
            && r.status() == StatusCode::OK
        {
            let p: Value = r.json().await.unwrap();
            if ok(&p) {
                return p;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}: poll {id} never got there",
            api.base
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Votes until the vote is acknowledged (202), at most 8 tries; returns how many tries failed.
async fn vote_until_acknowledged(api: &Api, voter: &str, poll: &str, choice: usize) -> usize {
    for failed in 0..8 {
        let res = api
            .client
            .post(api.url(&format!("/api/polls/{poll}/votes")))
            .header("x-livepoll-voter", voter)
            .json(&json!({ "choice": choice }))
            .send()
            .await;
        if matches!(&res, Ok(r) if r.status() == StatusCode::ACCEPTED) {
            return failed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("a vote of {voter} was never acknowledged");
}

#[tokio::test]
async fn three_nodes_behind_haproxy_count_every_acknowledged_ballot_once_while_one_is_killed() {
    let mut cluster = Cluster::start(3, &[]).await.with_haproxy().await;
    let public = cluster.public();
    let poll = cluster.nodes[0]
        .api()
        .open_poll(
            json!({"question": "Cluster?", "kind": "single", "options": ["a", "b", "c", "d"]}),
        )
        .await;
    for node in &cluster.nodes {
        wait_poll(&node.api(), &poll, |p| p["state"] == "open").await;
    }

    const VOTERS: usize = 320;
    const ROUNDS: usize = 3;
    let mut voters = Vec::new();
    for _ in 0..VOTERS {
        voters.push(public.session().await);
    }
    // Every voter votes ROUNDS times, one vote after the other; the last acknowledged one counts.
    let acked = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in voters.chunks(VOTERS / 40) {
        let (chunk, api, poll) = (chunk.to_vec(), public.clone(), poll.clone());
        let (acked, failed) = (acked.clone(), failed.clone());
        tasks.spawn(async move {
            let mut last = HashMap::new();
            for round in 0..ROUNDS {
                for (i, voter) in chunk.iter().enumerate() {
                    let choice = (i * 7 + round * 3 + voter.len()) % 4;
                    let f = vote_until_acknowledged(&api, voter, &poll, choice).await;
                    failed.fetch_add(f, Ordering::Relaxed);
                    acked.fetch_add(1, Ordering::Relaxed);
                    last.insert(voter.clone(), choice);
                }
            }
            last
        });
    }
    // SIGKILL node 2 a third of the way through, start it again two thirds of the way through.
    let total = VOTERS * ROUNDS;
    while acked.load(Ordering::Relaxed) < total / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.nodes[1].kill();
    let killed_at = acked.load(Ordering::Relaxed);
    while acked.load(Ordering::Relaxed) < total * 2 / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.nodes[1].start();
    let mut expected = [0u64; 4];
    while let Some(last) = tasks.join_next().await {
        for choice in last.unwrap().values() {
            expected[*choice] += 1;
        }
    }
    println!(
        "{total} votes acknowledged through haproxy; node2 killed after {killed_at}; {} tries failed and were retried",
        failed.load(Ordering::Relaxed)
    );
    cluster.nodes[1]
        .process
        .as_ref()
        .unwrap()
        .wait_healthy(90)
        .await;
    let results = results_everywhere(&cluster, &poll, total as u64).await;
    for r in &results {
        assert_eq!(r["voters"], VOTERS, "{r}");
        assert_eq!(r["counts"], json!(expected), "{r}");
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    let csv: Vec<String> = {
        let mut v = Vec::new();
        for node in &cluster.nodes {
            v.push(
                node.api()
                    .admin_text(&format!("/api/polls/{poll}/results.csv"))
                    .await,
            );
        }
        v
    };
    assert!(csv.windows(2).all(|w| w[0] == w[1]), "{csv:?}");
}

/// Reads an SSE stream until a chunk contains `needle`; returns when that was.
async fn sse_until(res: reqwest::Response, needle: String) -> Instant {
    let mut stream = res.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if seen.contains(&needle) {
            return Instant::now();
        }
    }
    panic!("the stream ended without {needle}");
}

#[tokio::test]
async fn tokens_and_admin_sessions_of_one_node_work_on_the_others_and_actions_reach_every_screen() {
    let cluster = Cluster::start(3, &[]).await;
    let (n1, n2, n3) = (
        cluster.nodes[0].api(),
        cluster.nodes[1].api(),
        cluster.nodes[2].api(),
    );
    let h: Value = n1.get("/healthz").await;
    assert_eq!(h["node"], "node1", "{h}");
    assert!(h["lag"].is_u64(), "{h}");
    let info: Value = n3.get("/api/info").await;
    assert_eq!(info["node"], "node3", "{info}");

    // An admin action on node 1 reaches node 3's SSE stream.
    let stream = n3
        .as_admin(reqwest::Method::GET, "/api/events")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let id = format!("across-{}", rand::random::<u32>());
    let seen = tokio::spawn(sse_until(stream, format!("\"{id}\"")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let res = n1
        .admin_post(
            "/api/polls",
            Some(json!({"id": id, "question": "Across?", "kind": "single", "options": ["x", "y"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let answered = Instant::now();
    let at = tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("node 3's stream shows the poll created on node 1")
        .unwrap();
    println!(
        "a poll created on node 1 (answered after {} ms) reached node 3's SSE stream {} ms after it was sent",
        answered.duration_since(sent).as_millis(),
        at.duration_since(sent).as_millis(),
    );
    // A node judges a request only once it has caught up with the polls topic: the poll just
    // created on node 1 can be opened on node 2, and voted on at node 3, at once.
    let id2 = format!("{id}-b");
    let res = n1
        .admin_post(
            "/api/polls",
            Some(json!({"id": id2, "question": "Right away?", "kind": "single", "options": ["x", "y"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = n2.admin_post(&format!("/api/polls/{id2}/open"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let early = n1.session().await;
    assert_eq!(
        n3.vote(&early, &id2, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    let res = n2.admin_post(&format!("/api/polls/{id}/open"), None).await;
    assert_eq!(res.status(), StatusCode::OK);

    // A voter token from node 1 votes on node 2; node 3 counts it.
    let voter = n1.session().await;
    assert_eq!(
        n2.vote(&voter, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    n3.wait_results(&id, |r| r["counts"] == json!([0, 1])).await;
    // The same voter's retry on node 3 counts once.
    assert_eq!(
        n3.vote(&voter, &id, json!({"choice": 1})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        n1.vote(&voter, &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    n2.wait_results(&id, |r| r["counts"] == json!([1, 0]) && r["voters"] == 1)
        .await;
    // A token signed with another secret is refused everywhere.
    let other_dir = tempfile::tempdir().unwrap();
    let other = livepoll::auth::Keys::load_or_create(other_dir.path(), None).unwrap();
    assert_eq!(
        n2.vote(&other.issue_voter(), &id, json!({"choice": 0}))
            .await,
        StatusCode::UNAUTHORIZED
    );

    // An admin session cookie from node 1 is accepted by node 3.
    let res = n1.admin_post("/api/admin/session", None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let info: Value = n3
        .client
        .get(n3.url("/api/info"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["admin"], true, "{info}");
}

#[tokio::test]
async fn a_timer_on_a_poll_served_by_three_nodes_closes_it_once_and_all_agree() {
    let cluster = Cluster::start(3, &[]).await;
    let n1 = cluster.nodes[0].api();
    let res = n1
        .admin_post(
            "/api/polls",
            Some(json!({"question": "Quick?", "kind": "single", "options": ["a", "b"], "duration_secs": 2})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let voter = n1.session().await;
    assert_eq!(
        n1.admin_post(&format!("/api/polls/{id}/open"), None)
            .await
            .status(),
        StatusCode::OK
    );
    // The timer runs while the poll is on the screen.
    n1.put_on_air(Some(&id)).await;
    let closes_at = n1.poll(&id).await["closes_at"]
        .as_u64()
        .expect("a running timer");
    let n3 = cluster.nodes[2].api();
    wait_poll(&n3, &id, |p| p["state"] == "open").await;
    assert_eq!(
        n3.vote(&voter, &id, json!({"choice": 0})).await,
        StatusCode::ACCEPTED
    );
    let now = livepoll::state::now_ms();
    tokio::time::sleep(Duration::from_millis(closes_at.saturating_sub(now) + 1500)).await;
    let mut polls = Vec::new();
    for node in &cluster.nodes {
        let p = node.api().poll(&id).await;
        assert_eq!(p["state"], "closed", "{p}");
        polls.push(p);
    }
    assert!(polls.windows(2).all(|w| w[0] == w[1]), "{polls:?}");
    let rounds = polls[0]["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1, "{rounds:?}");
    assert_eq!(
        rounds[0]["closed_at"].as_u64(),
        Some(closes_at),
        "closed at the timer's end, once"
    );
    assert_eq!(polls[0]["results"]["counts"], json!([1, 0]));

    // How many nodes appended `closed`: the fold kept the first, the others changed nothing.
    let closes = count_records(
        &shared_broker().bootstrap(),
        &format!("{}.polls", cluster.prefix),
        "\"type\":\"closed\"",
    );
    println!("{closes} node(s) appended `closed` for the 2 s timer; it took effect once");
    assert!((1..=3).contains(&closes), "{closes}");
}

/// Records of a one-partition topic whose payload contains `needle`.
fn count_records(brokers: &str, topic: &str, needle: &str) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "cluster-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = c
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let (mut n, mut read) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while read < high && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            read = m.offset() + 1;
            if String::from_utf8_lossy(m.payload().unwrap_or_default()).contains(needle) {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn two_nodes_preloading_the_same_agenda_at_once_both_start_with_each_poll_once() {
    let dir = tempfile::tempdir().unwrap();
    let agenda = dir.path().join("agenda.toml");
    let mut text = String::new();
    for i in 0..8 {
        text += &format!(
            "[[polls]]\nquestion = \"Agenda question {i}?\"\nkind = \"single\"\noptions = [\"yes\", \"no\"]\n\n"
        );
    }
    std::fs::write(&agenda, text).unwrap();
    let cluster = Cluster::start(2, &["--polls", agenda.to_str().unwrap()]).await;
    let mut lists = Vec::new();
    for node in &cluster.nodes {
        let polls: Value = node.api().admin_get("/api/polls").await;
        let ids: Vec<String> = polls
            .as_array()
            .unwrap_or_else(|| panic!("{polls}"))
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect();
        lists.push(ids);
    }
    assert_eq!(lists[0].len(), 8, "{lists:?}");
    assert_eq!(lists[0], lists[1]);
    let created = count_records(
        &shared_broker().bootstrap(),
        &format!("{}.polls", cluster.prefix),
        "\"type\":\"created\"",
    );
    println!("the two nodes appended {created} `created` events for 8 agenda polls");
}

#[tokio::test]
#[ignore = "Tansu 0.6.0 cannot add partitions (CreatePartitions is unsupported): run with KAFKA_HOME set to an Apache Kafka install"]
async fn partitions_added_to_the_votes_topic_while_running_are_consumed() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    args.vote_partitions = 1;
    let topic = format!("{}.votes", args.topic_prefix);
    let app = spawn_app_with(args).await;
    let poll = app.open_poll_with_one_vote(0).await;

    let admin: AdminClient<_> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", shared_broker().bootstrap())
        .create()
        .unwrap();
    let grown = admin
        .create_partitions(&[NewPartitions::new(&topic, 4)], &AdminOptions::new())
        .await
        .unwrap();
    assert!(grown.iter().all(|r| r.is_ok()), "{grown:?}");
    // A vote written straight into a new partition (as another node's producer does once it
    // sees the new partitions) is counted: the record is the first vote with another voter.
    let mut vote: Value = serde_json::from_slice(&first_record(&topic)).unwrap();
    vote["voter"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    let ballot = serde_json::to_vec(&vote).unwrap();
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", shared_broker().bootstrap())
        .create()
        .unwrap();
    let record = rdkafka::producer::FutureRecord::to(&topic)
        .partition(3)
        .key("AAAAAAAAAAAAAAAAAAAAAA")
        .payload(&ballot);
    producer.send(record, Duration::from_secs(5)).await.unwrap();
    app.wait_results(&poll, |r| r["voters"] == 2 && r["counts"] == json!([2, 0]))
        .await;
}

/// The payload of the first record in partition 0 of `topic`.
fn first_record(topic: &str) -> Vec<u8> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", shared_broker().bootstrap())
        .set("group.id", "cluster-test")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            return m.payload().unwrap().to_vec();
        }
    }
    panic!("no record in {topic}");
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_when_the_peer_is_a_trusted_proxy() {
    use livepoll::http::server::ConnLimits;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An open SSE stream holds its client's place; 127.0.0.1 itself is never capped, so every
    // cap below is the forwarded client's.
    async fn stream(port: u16, forwarded_for: &str) -> (tokio::net::TcpStream, String) {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let req = format!(
            "GET /api/events HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {forwarded_for}\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        (s, head.lines().next().unwrap_or_default().to_string())
    }
    let limits = ConnLimits {
        max_per_client: 2,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..ConnLimits::default()
    };
    let app = spawn_app_with_limits(limits).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let a1 = stream(port, "198.51.100.7").await;
    let a2 = stream(port, "203.0.113.1, 198.51.100.7").await;
    assert!(
        a1.1.contains("200") && a2.1.contains("200"),
        "{a1:?} {a2:?}"
    );
    let a3 = stream(port, "198.51.100.7").await;
    assert!(
        a3.1.contains("429"),
        "a third stream of one client: {}",
        a3.1
    );
    let b = stream(port, "198.51.100.8").await;
    assert!(b.1.contains("200"), "another client: {}", b.1);
    drop((a1, a2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a4 = stream(port, "198.51.100.7").await;
    assert!(a4.1.contains("200"), "its places come back: {}", a4.1);

    // Without --trusted-proxy the header is the client's own claim and counts for nothing.
    let plain = spawn_app_with_limits(ConnLimits {
        max_per_client: 2,
        ..ConnLimits::default()
    })
    .await;
    let port: u16 = plain.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        let s = stream(port, "198.51.100.7").await;
        assert!(s.1.contains("200"), "{}", s.1);
        held.push(s);
    }
}

#[test]
fn secret_files_and_kafka_options_are_checked_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("cluster.key");
    new_secret(&secret);
    let again = bin()
        .args(["secret", "new", secret.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("refusing to overwrite"), "{err}");

    let serve = |extra: &[&str]| {
        let out = bin()
            .args(["serve", "--bind", "127.0.0.1:0", "--brokers", "127.0.0.1:1"])
            .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let missing = dir.path().join("missing.key");
    let (code, err) = serve(&["--secret-file", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("livepoll secret new"), "{err}");
    let (code, err) = serve(&["--kafka-option", "no.such.property=1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no.such.property"), "{err}");
    let (code, err) = serve(&["--kafka-option", "sasl.mechanism"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("KEY=VALUE"), "{err}");
    assert!(
        !dir.path().join("data/tallies.redb").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn cluster_sh_starts_nodes_behind_haproxy_and_stops_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
    let (public, node, kafka) = (free_port(), free_port(), free_port());
    let run = |action: &[&str]| {
        Command::new("bash")
            .arg(&script)
            .args(action)
            .env("CLUSTER_DIR", dir.path())
            .env("CLUSTER_PORT", public.to_string())
            .env("CLUSTER_BIND", "127.0.0.1")
            .env("NODE_PORT", node.to_string())
            .env("KAFKA_PORT", kafka.to_string())
            .env("LIVEPOLL_BIN", env!("CARGO_BIN_EXE_livepoll"))
            .env("LIVEPOLL_PUBLIC_URL", format!("http://127.0.0.1:{public}"))
            .env("LIVEPOLL_ADMIN_TOKEN", ADMIN)
            .env("LIVEPOLL_WATCH_PID", std::process::id().to_string())
            .env_remove("LIVEPOLL_BROKERS")
            .output()
            .unwrap()
    };
    let out = run(&["start", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some(&*format!("http://127.0.0.1:{public}"))
    );
    let api = Api::new(format!("http://127.0.0.1:{public}"));
    let mut nodes = std::collections::HashSet::new();
    for _ in 0..4 {
        let h: Value = api.get("/healthz").await;
        nodes.insert(h["node"].as_str().unwrap().to_string());
    }
    assert_eq!(
        nodes.len(),
        2,
        "haproxy spreads requests over both nodes: {nodes:?}"
    );
    let status = run(&["status"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );

    let out = run(&["stop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get_status(&api.client, &api.url("/healthz")).await, None);
    let status = run(&["status"]);
    assert!(!status.status.success());
}
