//! The probe's record of the VRRP adverts it hears. keepalived runs the probe every second;
//! given `--vrrp-record PATH`, each run also listens on the VRRP segment while it watches the
//! load balancer and merges what it heard into PATH. The record says since when the probe has
//! listened with no gap longer than [`MAX_GAP`], and keeps every router heard in the last
//! [`RETAIN`]. The module's `vrrp_scan.record` reads it instead of listening itself, when the
//! probe is still listening ([`MAX_AGE`]) and has listened for at least the scan's seconds.
//! A rerun of the deploy then checks for a router id another cluster took without waiting.

use crate::scan::{Heard, Router};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A gap between two listens longer than this restarts the record's coverage.
pub const MAX_GAP: f64 = 1.0;
/// A record whose last listen ended longer ago than this is stale (keepalived or the probe
/// stopped, or the probe was given no record).
pub const MAX_AGE: f64 = 2.0;
/// Routers heard longer ago than this are dropped: the longest scan the module accepts, which
/// reads the record back that far.
pub const RETAIN: f64 = crate::scan::MAX_SECONDS;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub interface: String,
    /// Unix time since which the probe has listened with no gap longer than [`MAX_GAP`].
    pub since: f64,
    /// Unix time the last listen ended.
    pub until: f64,
    pub routers: Vec<Seen>,
}

/// A router and when it was last heard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seen {
    pub router: Router,
    pub last_heard: f64,
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn read(path: &Path) -> Option<Record> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Merges one listen (from `start` to `end`, Unix times) into the record at `path`, replaced
/// atomically (a reader never sees half a file).
pub fn update(
    path: &Path,
    interface: &str,
    start: f64,
    end: f64,
    heard: &Heard,
) -> std::io::Result<()> {
    let old = read(path).filter(|r| r.interface == interface);
    let since = match &old {
        Some(r) if start - r.until <= MAX_GAP && r.since <= start => r.since,
        _ => start,
    };
    let mut routers: Vec<Seen> = old
        .map(|r| r.routers)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.last_heard >= end - RETAIN)
        .collect();
    for router in heard.routers() {
        let key = |r: &Router| {
            (
                r.advert.virtual_router_id,
                r.advert.source,
                r.advert.version,
            )
        };
        routers.retain(|s| key(&s.router) != key(&router));
        routers.push(Seen {
            router,
            last_heard: end,
        });
    }
    let record = Record {
        interface: interface.to_owned(),
        since,
        until: end,
        routers,
    };
    // keepalived may run its scripts with a umask that leaves a new directory without its x
    // bits: the directory gets its mode here, whoever made it.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(&record)?)?;
    std::fs::rename(&tmp, path)
}

/// What a scan of `seconds` ending now would have heard, from the record at `path`: the routers
/// heard in the last `seconds` of its listening, when it is for `interface`, its last listen
/// ended at most [`MAX_AGE`] before `now`, and it has listened without a gap for at least
/// `seconds`. Also how long it has listened.
pub fn usable(path: &Path, interface: &str, seconds: f64, now: f64) -> Option<(Vec<Router>, f64)> {
    let record = read(path)?;
    let fresh = record.interface == interface
        && now - record.until <= MAX_AGE
        && record.until - record.since >= seconds;
    fresh.then(|| {
        let recent = record.until - seconds;
        (
            record
                .routers
                .into_iter()
                .filter(|s| s.last_heard >= recent)
                .map(|s| s.router)
                .collect(),
            record.until - record.since,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::Advert;

    fn heard(vrid: u8, source: [u8; 4]) -> Heard {
        let mut heard = Heard::default();
        heard.add(Ok(Advert {
            virtual_router_id: vrid,
            version: 3,
            source: source.into(),
            priority: 100,
            advert_int: 1.0,
            addresses: vec![[10, 0, 0, 100].into()],
        }));
        heard
    }

    #[test]
    fn coverage_grows_without_gaps_and_routers_are_kept_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeha/vrrp.json");
        update(&path, "eth0", 100.0, 100.9, &heard(7, [10, 0, 0, 9])).unwrap();
        update(&path, "eth0", 101.0, 101.9, &Heard::default()).unwrap();
        update(&path, "eth0", 102.0, 102.9, &Heard::default()).unwrap();
        update(&path, "eth0", 103.0, 103.9, &Heard::default()).unwrap();
        let (routers, listened) = usable(&path, "eth0", 3.5, 104.5).unwrap();
        assert_eq!(routers.len(), 1);
        assert!((listened - 3.9).abs() < 1e-9);
        // A scan of 3 s ending now would not have heard it any more.
        assert!(usable(&path, "eth0", 2.0, 104.5).unwrap().0.is_empty());
        // Not for another interface, not stale, not shorter than asked.
        assert!(usable(&path, "eth1", 3.0, 104.5).is_none());
        assert!(usable(&path, "eth0", 3.0, 106.0).is_none());
        assert!(usable(&path, "eth0", 4.0, 104.5).is_none());
        // A gap restarts the coverage; a router heard long ago is dropped.
        update(&path, "eth0", 110.0, 110.9, &Heard::default()).unwrap();
        assert!(usable(&path, "eth0", 3.0, 111.0).is_none());
        update(&path, "eth0", 170.0, 170.9, &Heard::default()).unwrap();
        let record = read(&path).unwrap();
        assert!(record.routers.is_empty() && record.since == 170.0);
    }
}
