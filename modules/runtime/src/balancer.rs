//! What every apiserver load balancer module (haproxy_config, nginx_proxy_config) takes: where it
//! listens, how it balances and the apiservers behind it. The options `bind_addresses`,
//! `frontend_port`, `backends`, `backend_port` and `balance` are declared, typed and checked
//! here once; a module's `Params` has them as its field `balancer` (a group, see
//! [`Opt::group`]). What differs stays the module's: which addresses a listener takes, what a
//! server's `name` is for, the balance algorithms.

use crate::spec::{DefaultValue, Kind, Opt};
use crate::{check, Failure};
use serde::{Deserialize, Serialize};

const GROUP: &str = "balancer";

pub const BIND_ADDRESSES: Opt = Opt::list("bind_addresses", Kind::Str)
    .default(DefaultValue::Json(r#"["127.0.0.1"]"#))
    .in_group(GROUP);
pub const FRONTEND_PORT: Opt = Opt::int("frontend_port")
    .default(DefaultValue::Int(6443))
    .in_group(GROUP);
pub const BACKEND_PORT: Opt = Opt::int("backend_port")
    .default(DefaultValue::Int(6443))
    .in_group(GROUP);

/// `backends`, each with the module's `server` suboptions (`name`, `address`, `port`).
pub const fn backends(server: &'static [Opt]) -> Opt {
    Opt::list("backends", Kind::Dict)
        .required()
        .suboptions(server)
        .in_group(GROUP)
}

/// `balance`: one of the module's algorithms, `default` unless the task says.
pub const fn balance(choices: &'static [&'static str], default: &'static str) -> Opt {
    Opt::str("balance")
        .choices(choices)
        .default(DefaultValue::Str(default))
        .in_group(GROUP)
}

/// The options' values, typed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Balancer {
    pub bind_addresses: Vec<String>,
    pub frontend_port: i64,
    pub backends: Vec<Backend>,
    pub backend_port: i64,
    pub balance: String,
}

/// One entry of `backends` (an apiserver).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    pub name: Option<String>,
    pub address: String,
    pub port: Option<i64>,
}

/// An apiserver as a config names it: its name (when it has one) and `address:port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    pub name: Option<String>,
    pub address: String,
}

impl Balancer {
    /// The listener's port, once `bind_addresses` lists an address (each module checks the
    /// addresses in its own terms).
    pub fn frontend_port(&self) -> Result<u16, Failure> {
        let port = check::port("frontend_port", self.frontend_port)?;
        if self.bind_addresses.is_empty() {
            return Err(Failure::new(
                "option 'bind_addresses' must list at least one address",
            ));
        }
        Ok(port)
    }

    /// Every apiserver, checked: at least one, each name a config token used once, each address
    /// an IP address or a DNS name, each port its own or `backend_port`.
    pub fn servers(&self) -> Result<Vec<Server>, Failure> {
        let backend_port = check::port("backend_port", self.backend_port)?;
        if self.backends.is_empty() {
            return Err(Failure::new(
                "option 'backends' must list at least one server (the control-plane hosts)",
            ));
        }
        let mut servers: Vec<Server> = Vec::with_capacity(self.backends.len());
        for (i, b) in self.backends.iter().enumerate() {
            if let Some(name) = &b.name {
                check::identifier(&format!("backends[{i}].name"), name)?;
                if servers.iter().any(|s| s.name.as_ref() == Some(name)) {
                    return Err(Failure::new(format!(
                        "option 'backends': the name '{name}' is used twice; each server needs its own"
                    )));
                }
            }
            check::host(&format!("backends[{i}].address"), &b.address)?;
            let port = match b.port {
                Some(port) => check::port(&format!("backends[{i}].port"), port)?,
                None => backend_port,
            };
            servers.push(Server {
                name: b.name.clone(),
                address: check::socket_text(&b.address, port),
            });
        }
        Ok(servers)
    }
}
