//! What certificates exist (kubeadm's profiles) and where they live (kubeadm's or kubespray's
//! file layout).

use crate::pki::{San, ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH};
use kubeha_runtime::{check, Failure};
use std::path::{Path, PathBuf};
use x509_cert::der::oid::ObjectIdentifier;

/// A certificate profile, named as `kubeadm certs check-expiration` names the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Profile {
    /// etcd's client-facing server certificate.
    Server,
    /// etcd's peer certificate (server and client to the other members).
    Peer,
    /// What etcd's liveness probe (and `etcdctl` on the member) authenticates with.
    HealthcheckClient,
    /// What kube-apiserver authenticates to etcd with.
    ApiserverEtcdClient,
}

impl Profile {
    pub const ALL: [Profile; 4] = [
        Profile::Server,
        Profile::Peer,
        Profile::HealthcheckClient,
        Profile::ApiserverEtcdClient,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Server => "etcd-server",
            Profile::Peer => "etcd-peer",
            Profile::HealthcheckClient => "etcd-healthcheck-client",
            Profile::ApiserverEtcdClient => "apiserver-etcd-client",
        }
    }

    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The subject CN: the node name for etcd's own certificates, kubeadm's fixed names for
    /// the clients.
    pub fn common_name(self, node_name: &str) -> String {
        match self {
            Profile::Server | Profile::Peer => node_name.to_owned(),
            Profile::HealthcheckClient => "kube-etcd-healthcheck-client".into(),
            Profile::ApiserverEtcdClient => "kube-apiserver-etcd-client".into(),
        }
    }

    pub fn ext_key_usage(self) -> &'static [ObjectIdentifier] {
        match self {
            Profile::Server | Profile::Peer => &[ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH],
            Profile::HealthcheckClient | Profile::ApiserverEtcdClient => &[ID_KP_CLIENT_AUTH],
        }
    }

    /// Server and peer certificates name the member; client certificates name nobody.
    pub fn has_sans(self) -> bool {
        matches!(self, Profile::Server | Profile::Peer)
    }
}

/// Where the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `/etc/kubernetes/pki`: `etcd/ca.{crt,key}`, `etcd/server.*`, `etcd/peer.*`,
    /// `etcd/healthcheck-client.*`, `apiserver-etcd-client.*`; directories 0755.
    Kubeadm,
    /// `/etc/ssl/etcd/ssl`: `ca.pem`, `ca-key.pem`, `member-<node>.pem`, `admin-<node>.pem`,
    /// `node-<node>.pem` and their `-key.pem`; directory 0700.
    Kubespray,
}

impl Layout {
    pub fn parse(name: &str) -> Option<Layout> {
        match name {
            "kubeadm" => Some(Layout::Kubeadm),
            "kubespray" => Some(Layout::Kubespray),
            _ => None,
        }
    }

    pub fn default_dir(self) -> &'static str {
        match self {
            Layout::Kubeadm => "/etc/kubernetes/pki",
            Layout::Kubespray => "/etc/ssl/etcd/ssl",
        }
    }

    pub fn dir_mode(self) -> u32 {
        match self {
            Layout::Kubeadm => 0o755,
            Layout::Kubespray => 0o700,
        }
    }

    /// The CA certificate and key.
    pub fn ca_files(self, dir: &Path) -> (PathBuf, PathBuf) {
        match self {
            Layout::Kubeadm => (dir.join("etcd/ca.crt"), dir.join("etcd/ca.key")),
            Layout::Kubespray => (dir.join("ca.pem"), dir.join("ca-key.pem")),
        }
    }

    /// The next CA's certificate and key on the CA host, while a CA rotation is in progress.
    pub fn next_ca_files(self, dir: &Path) -> (PathBuf, PathBuf) {
        match self {
            Layout::Kubeadm => (dir.join("etcd/ca-next.crt"), dir.join("etcd/ca-next.key")),
            Layout::Kubespray => (dir.join("ca-next.pem"), dir.join("ca-next-key.pem")),
        }
    }

    /// The file that holds `profile`'s certificate for `node`. In kubespray's layout one
    /// `member-<node>.pem` serves etcd as both server and peer certificate (kubeadm's two
    /// profiles are identical), `admin-<node>.pem` is the health-check client and
    /// `node-<node>.pem` the apiserver's client.
    pub fn slot(self, dir: &Path, node: &str, profile: Profile) -> Slot {
        let (name, stem, profile) = match (self, profile) {
            (Layout::Kubeadm, Profile::Server) => ("etcd-server", "etcd/server".into(), profile),
            (Layout::Kubeadm, Profile::Peer) => ("etcd-peer", "etcd/peer".into(), profile),
            (Layout::Kubeadm, Profile::HealthcheckClient) => (
                "etcd-healthcheck-client",
                "etcd/healthcheck-client".into(),
                profile,
            ),
            (Layout::Kubeadm, Profile::ApiserverEtcdClient) => (
                "apiserver-etcd-client",
                "apiserver-etcd-client".into(),
                profile,
            ),
            (Layout::Kubespray, Profile::Server | Profile::Peer) => {
                ("member", format!("member-{node}"), Profile::Server)
            }
            (Layout::Kubespray, Profile::HealthcheckClient) => {
                ("admin", format!("admin-{node}"), profile)
            }
            (Layout::Kubespray, Profile::ApiserverEtcdClient) => {
                ("node", format!("node-{node}"), profile)
            }
        };
        let (cert, key) = match self {
            Layout::Kubeadm => (format!("{stem}.crt"), format!("{stem}.key")),
            Layout::Kubespray => (format!("{stem}.pem"), format!("{stem}-key.pem")),
        };
        Slot {
            name,
            profile,
            cert: dir.join(cert),
            key: dir.join(key),
        }
    }

    /// The slots for `profiles`, without duplicates (kubespray's member is two profiles).
    pub fn slots(self, dir: &Path, node: &str, profiles: &[Profile]) -> Vec<Slot> {
        let mut slots: Vec<Slot> = Vec::new();
        for profile in profiles {
            let slot = self.slot(dir, node, *profile);
            if !slots.iter().any(|s| s.name == slot.name) {
                slots.push(slot);
            }
        }
        slots
    }

    /// The slot a name from an `issued` entry refers to.
    pub fn slot_named(self, dir: &Path, node: &str, name: &str) -> Option<Slot> {
        Profile::ALL
            .into_iter()
            .map(|p| self.slot(dir, node, p))
            .find(|s| s.name == name)
    }
}

/// One certificate of one host: its name (`etcd-server`, `member`, ...), profile and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: &'static str,
    pub profile: Profile,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Slot {
    /// Where a new key waits, made by `request`, until `install` puts it in place together with
    /// its certificate (so the running etcd never sees a key without its certificate).
    pub fn pending_key(&self) -> PathBuf {
        let mut name = self.key.clone().into_os_string();
        name.push(".next");
        PathBuf::from(name)
    }
}

/// A member as the CA knows it: its name and every name and address its server and peer
/// certificates carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub sans: Vec<San>,
}

impl Member {
    /// kubeadm's SANs: the node name and `localhost`, the node's addresses, `127.0.0.1` and
    /// `::1`, then the extra names and addresses. `option` prefixes error messages.
    pub fn new(
        option: &str,
        name: &str,
        ips: &[String],
        extra_sans: &[String],
    ) -> Result<Member, Failure> {
        check::host(&format!("{option}node_name"), name)?;
        let mut dns = vec![San::parse(name), San::Dns("localhost".into())];
        let mut addresses = Vec::new();
        for (i, ip) in ips.iter().enumerate() {
            addresses.push(San::Ip(check::ip(&format!("{option}node_ips[{i}]"), ip)?));
        }
        addresses.push(San::parse("127.0.0.1"));
        addresses.push(San::parse("::1"));
        for (i, extra) in extra_sans.iter().enumerate() {
            let san = San::parse(extra);
            if let San::Dns(host) = &san {
                let bare = host.strip_prefix("*.").unwrap_or(host);
                check::host(&format!("{option}extra_sans[{i}]"), bare)?;
                dns.push(san);
            } else {
                addresses.push(san);
            }
        }
        let mut sans: Vec<San> = Vec::new();
        for san in dns.into_iter().chain(addresses) {
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        Ok(Member {
            name: name.to_owned(),
            sans,
        })
    }

    /// The SANs `profile`'s certificate for this member carries.
    pub fn sans_for(&self, profile: Profile) -> &[San] {
        if profile.has_sans() {
            &self.sans
        } else {
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| format!("{} {} {}", s.name, s.cert.display(), s.key.display()))
            .collect()
    }

    #[test]
    fn kubeadm_layout_matches_kubeadm() {
        let dir = Path::new("/etc/kubernetes/pki");
        assert_eq!(
            names(&Layout::Kubeadm.slots(dir, "cp1", &Profile::ALL)),
            [
                "etcd-server /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/server.key",
                "etcd-peer /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/peer.key",
                "etcd-healthcheck-client /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/etcd/healthcheck-client.key",
                "apiserver-etcd-client /etc/kubernetes/pki/apiserver-etcd-client.crt /etc/kubernetes/pki/apiserver-etcd-client.key",
            ]
        );
        assert_eq!(
            Layout::Kubeadm.ca_files(dir),
            (dir.join("etcd/ca.crt"), dir.join("etcd/ca.key"))
        );
    }

    #[test]
    fn kubespray_layout_matches_kubespray() {
        let dir = Path::new("/etc/ssl/etcd/ssl");
        let slots = Layout::Kubespray.slots(dir, "cp1", &Profile::ALL);
        assert_eq!(
            names(&slots),
            [
                "member /etc/ssl/etcd/ssl/member-cp1.pem /etc/ssl/etcd/ssl/member-cp1-key.pem",
                "admin /etc/ssl/etcd/ssl/admin-cp1.pem /etc/ssl/etcd/ssl/admin-cp1-key.pem",
                "node /etc/ssl/etcd/ssl/node-cp1.pem /etc/ssl/etcd/ssl/node-cp1-key.pem",
            ]
        );
        assert_eq!(slots[0].profile, Profile::Server);
        assert_eq!(
            slots[0].pending_key(),
            Path::new("/etc/ssl/etcd/ssl/member-cp1-key.pem.next")
        );
        assert_eq!(
            Layout::Kubespray
                .slot_named(dir, "cp1", "node")
                .map(|s| s.profile),
            Some(Profile::ApiserverEtcdClient)
        );
        assert_eq!(
            Layout::Kubespray.slot_named(dir, "cp1", "etcd-server"),
            None
        );
    }

    #[test]
    fn member_sans_follow_kubeadm_without_duplicates() {
        let m = Member::new(
            "",
            "cp1",
            &["10.0.0.1".into()],
            &[
                "etcd.example.org".into(),
                "10.0.0.1".into(),
                "fd00::1".into(),
            ],
        )
        .unwrap();
        let shown: Vec<String> = m.sans.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "DNS:cp1",
                "DNS:localhost",
                "DNS:etcd.example.org",
                "IP:10.0.0.1",
                "IP:127.0.0.1",
                "IP:::1",
                "IP:fd00::1"
            ]
        );
        assert!(m.sans_for(Profile::HealthcheckClient).is_empty());
        let err = Member::new("members[2].", "cp1", &["10.0.0.300".into()], &[]).unwrap_err();
        assert!(
            err.msg.contains("option 'members[2].node_ips[0]'"),
            "{}",
            err.msg
        );
        let err = Member::new("", "cp1", &[], &["bad name".into()]).unwrap_err();
        assert!(err.msg.contains("option 'extra_sans[0]'"), "{}", err.msg);
        assert!(Member::new("", "cp1", &[], &["*.etcd.example.org".into()]).is_ok());
    }
}
