//! A damaged data dir stops `serve` with one line that says how to recover, and a lost signing
//! key is not silently replaced.

use std::path::Path;
use std::process::Stdio;

use livepoll::store::TallyStore;

use crate::helpers::*;

/// Runs `serve` on `data_dir` against a broker that is never reached (the data dir is checked
/// first); returns the exit code and stderr.
fn serve_fails(data_dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = bin()
        .args(["serve", "--bind", "127.0.0.1:0", "--brokers", "127.0.0.1:1"])
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    lines[0]
}

fn write_key(dir: &Path) {
    std::fs::write(dir.join("secret.key"), rand::random::<[u8; 32]>()).unwrap();
}

/// A real tally database, closed cleanly.
fn make_db(dir: &Path) {
    drop(TallyStore::open(&dir.join("tallies.redb")).unwrap());
}

#[test]
fn a_damaged_tally_database_stops_serve_with_one_line_that_names_the_fix() {
    let garbage = tempfile::tempdir().unwrap();
    write_key(garbage.path());
    let noise: Vec<u8> = (0..200_000).map(|_| rand::random::<u8>()).collect();
    std::fs::write(garbage.path().join("tallies.redb"), noise).unwrap();

    let truncated = tempfile::tempdir().unwrap();
    write_key(truncated.path());
    make_db(truncated.path());
    let db = truncated.path().join("tallies.redb");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    for dir in [garbage.path(), truncated.path()] {
        let (code, stderr) = serve_fails(dir, &[]);
        assert_eq!(code, Some(1), "{stderr}");
        let line = one_line(&stderr);
        let file = dir.join("tallies.redb").display().to_string();
        assert!(
            line.contains(&format!(
                "delete {file}: it is rebuilt from Kafka on the next start"
            )),
            "{line}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn serve_starts_again_once_the_damaged_database_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path());
    std::fs::write(dir.path().join("tallies.redb"), b"not a database").unwrap();
    assert_eq!(serve_fails(dir.path(), &[]).0, Some(1));
    std::fs::remove_file(dir.path().join("tallies.redb")).unwrap();
    let brokers = shared_broker().bootstrap();
    let prefix = unique_prefix();
    let serve = ServeProcess::start(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--brokers",
            &brokers,
            "--topic-prefix",
            &prefix,
        ],
        free_port(),
    );
    serve.wait_healthy(60).await;
}

#[tokio::test]
async fn a_missing_secret_next_to_a_tally_database_is_refused_unless_new_secret() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let key = dir.path().join("secret.key");

    let (code, stderr) = serve_fails(dir.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let line = one_line(&stderr);
    assert!(
        line.contains("secret.key is missing") && line.contains("--new-secret"),
        "{line}"
    );
    assert!(!key.exists(), "the key must not be replaced silently");

    // LIVEPOLL_NEW_SECRET works like the flag: serve gets past the key and makes a new one.
    let mut child = bin()
        .args(["serve", "--bind", "127.0.0.1:0", "--brokers", "127.0.0.1:1"])
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .env("LIVEPOLL_NEW_SECRET", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !key.exists() {
        assert!(child.try_wait().unwrap().is_none(), "serve exited");
        assert!(std::time::Instant::now() < deadline, "no new key");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&key).unwrap();

    // With the flag, against a real broker, it starts and serves.
    let brokers = shared_broker().bootstrap();
    let prefix = unique_prefix();
    let serve = ServeProcess::start(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--brokers",
            &brokers,
            "--topic-prefix",
            &prefix,
            "--new-secret",
        ],
        free_port(),
    );
    serve.wait_healthy(60).await;
    assert!(key.exists());
}
