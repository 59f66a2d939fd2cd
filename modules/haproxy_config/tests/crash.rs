//! Crash safety: the binary is killed with SIGKILL at random moments while it writes, many times.
//! The config is always either the old or the new file, never partial or missing, and the next
//! successful run leaves no temp file behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_haproxy_config");

fn args(dest: &std::path::Path, servers: usize) -> String {
    let backends: Vec<_> = (0..servers)
        .map(|i| json!({"name": format!("cp{i}"), "address": format!("10.1.{}.{}", i / 250, i % 250 + 1)}))
        .collect();
    json!({"dest": dest, "validate": false, "backends": backends}).to_string()
}

#[test]
fn sigkill_mid_write_never_leaves_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("haproxy.cfg");
    let (old_args, new_args) = (dir.path().join("old.json"), dir.path().join("new.json"));
    // Large configs make the write window wide enough for kills to land inside it.
    fs::write(&old_args, args(&dest, 3000)).unwrap();
    fs::write(&new_args, args(&dest, 3001)).unwrap();
    let write = |a: &std::path::Path| Command::new(BIN).arg(a).output().unwrap();
    let started = Instant::now();
    write(&new_args);
    // The write is the last phase of a run: kills are spread over the last third of a run and
    // a little past it, so many land inside the write.
    let run_time = started.elapsed().as_micros() as u64;
    let new = fs::read(&dest).unwrap();
    write(&old_args);
    let old = fs::read(&dest).unwrap();

    let mut seed: u64 = 0x5eed;
    let mut killed_mid_run = 0;
    for round in 0..200 {
        let which = if round % 2 == 0 { &new_args } else { &old_args };
        let mut child = Command::new(BIN)
            .arg(which)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_micros(run_time * 2 / 3 + (seed >> 33) % (run_time / 2).max(1));
        let start = Instant::now();
        while start.elapsed() < delay {
            std::hint::spin_loop();
        }
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        let now = fs::read(&dest).expect("the config must never be missing");
        assert!(
            now == old || now == new,
            "round {round}: partial file ({} bytes)",
            now.len()
        );
    }
    assert!(
        killed_mid_run > 20,
        "kills should land while running: {killed_mid_run}"
    );
    // What a writer killed between creating its temp file and renaming it leaves behind (the
    // window is too short to hit reliably, so plant one): a dead pid's file is removed by the
    // next run, a live writer's is not touched.
    // Temp files are swept when a run writes, so make sure the next run has something to write
    // (the last kill may have landed before or after its rename).
    assert!(write(&old_args).status.success());
    let dead = dir.path().join(".haproxy.cfg.4194304.AbCdEf.kubeha-tmp");
    let live = dir.path().join(format!(
        ".haproxy.cfg.{}.XyZ.kubeha-tmp",
        std::process::id()
    ));
    fs::write(&dead, "partial").unwrap();
    fs::write(&live, "in progress").unwrap();
    assert!(write(&new_args).status.success());
    assert!(live.exists(), "a live writer's temp file must stay");
    fs::remove_file(&live).unwrap();
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kubeha-tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}
