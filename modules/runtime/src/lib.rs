//! The Ansible binary-module contract, implemented once.
//!
//! A module is a library type implementing [`Module`]: its argument spec, its typed `Params`, and
//! a `plan` that reads the host and says what would change. Its binary is one line:
//!
//! ```ignore
//! fn main() { kubeha_runtime::run::<haproxy_config::HaproxyConfig>() }
//! ```
//!
//! [`run`] does everything else: reads the args file Ansible passes in `argv[1]` (or JSON on
//! stdin, the fast path), splits off the `_ansible_*` keys, validates and coerces options against
//! the spec, plans, applies outside check mode, scrubs secrets, and prints exactly one JSON object.
//! See `wire` for the format on stdout.

pub mod balancer;
pub mod check;
pub mod digest;
pub mod file;
mod localtime;
pub mod mode;
pub mod net;
pub mod order;
pub mod plan;
pub mod procs;
pub mod secrets;
pub mod spec;
pub mod template;
pub mod tool;
pub mod users;
pub mod validate;
mod wire;

#[cfg(feature = "testing")]
pub mod fuzz;
#[cfg(feature = "testing")]
pub mod testing;

pub use plan::{Action, Diff, Plan};
pub use spec::{DefaultValue, Kind, Opt};
pub use wire::Meta;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::path::Path;

/// A module: what it accepts and how it plans.
pub trait Module {
    /// The module's name as Ansible calls it (`[a-z0-9_]`).
    const NAME: &'static str;
    /// Its own options; the sidecar `<name>.yml` documents exactly these and `FILE`'s (a test
    /// checks it).
    const SPEC: &'static [Opt];
    /// The shared file options (`dest`, `mode`, ...) of a module that writes one file, with its
    /// defaults: they come before `SPEC`, and `Params` has them as its field `file`
    /// ([`file::FileParams`], a group: see [`Opt::group`]).
    const FILE: Option<file::FileOptions> = None;
    /// The options, typed. Deserialised from the normalised spec output, so it may rely on
    /// defaults being filled in and types being coerced.
    type Params: DeserializeOwned;

    /// Reads the host and returns what would change. Must not change anything.
    fn plan(params: Self::Params) -> Result<Plan, Failure>;

    /// Housekeeping that must happen before planning and does not count as a change, such as
    /// refreshing a package manager's cache (as Ansible's `apt` does before it decides).
    /// Called only outside check mode; returns result fields (e.g. `cache_updated`).
    fn prepare(_params: &Self::Params) -> Result<Map<String, Value>, Failure> {
        Ok(Map::new())
    }

    /// A command line the module handles itself instead of Ansible's `<args file>`, such as a
    /// probe another daemon runs (`vip_check --probe ...`). Gets the arguments after the program
    /// name before anything is read; `None`, the default, means "this is Ansible's path".
    /// Ansible never passes an argument starting with `-`, so claim only such arguments.
    fn cli(_args: &[OsString]) -> Option<CliExit> {
        None
    }
}

/// What a module's own command line (see [`Module::cli`]) prints, and its exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliExit {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A failed run: a message for the user plus optional extra result fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub msg: String,
    pub fields: Map<String, Value>,
}

impl Failure {
    pub fn new(msg: impl Into<String>) -> Failure {
        Failure {
            msg: msg.into(),
            fields: Map::new(),
        }
    }

    /// An I/O error with what was being done and to which path.
    pub fn io(doing: &str, path: &Path, err: std::io::Error) -> Failure {
        Failure::new(format!("{doing} {}: {err}", path.display()))
    }

    /// Adds a result field (e.g. a validator's output).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Failure {
        self.fields.insert(key.to_owned(), value.into());
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Failure {}

impl From<spec::ArgError> for Failure {
    fn from(e: spec::ArgError) -> Failure {
        Failure::new(e.0)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::new(format!("{e:#}"))
    }
}

/// Runs module `M` as Ansible expects and exits. The only entry point of every module binary.
pub fn run<M: Module>() -> ! {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(exit) = M::cli(&args) {
        std::process::exit(wire::emit_cli(&exit));
    }
    wire::install_panic_hook(M::NAME);
    let input = wire::read_input(args.into_iter().next());
    let answer = execute::<M>(input);
    std::process::exit(wire::emit(&answer))
}

/// Runs module `M` on raw input (the args JSON text) and returns its answer; no I/O on stdout.
/// [`run`] is this plus reading the input and printing the answer.
pub fn execute<M: Module>(input: Result<String, Failure>) -> Value {
    let mut answer = wire::Answer::default();
    let outcome = input.and_then(|text| {
        let (meta, options) = wire::parse_args(&text)?;
        answer.meta = meta;
        let orders = order::key_orders(&text, &ordered_options::<M>());
        run_parsed::<M>(&mut answer, options, &orders)
    });
    if let Err(failure) = outcome {
        answer.fail(failure);
    }
    answer.finish()
}

fn run_parsed<M: Module>(
    answer: &mut wire::Answer,
    options: Map<String, Value>,
    orders: &order::KeyOrders,
) -> Result<(), Failure> {
    let ignore_unknown = answer.meta.ignore_unknown_opts;
    let all = spec_of::<M>();
    let context_name = format!("{} module", M::NAME);
    let (params, dropped) = spec::normalize(&all, options, &context_name, ignore_unknown)?;
    for key in dropped {
        answer.warnings.push(format!(
            "option '{key}' is not supported by {} and was ignored",
            M::NAME
        ));
    }
    let mut secret_values = Vec::new();
    spec::secret_values(&all, &params, &mut secret_values);
    answer.set_secrets(secrets::Secrets::new(secret_values));
    answer.invocation = Some(spec::censor(&all, &params));

    let typed = typed::<M>(params, orders)?;
    if !answer.meta.check_mode {
        let fields = M::prepare(&typed)?;
        answer.fields.extend(fields);
    }
    let plan = M::plan(typed)?;
    answer.apply(plan)
}

/// The whole argument spec of `M`: its file options, then its own.
pub fn spec_of<M: Module>() -> Vec<Opt> {
    let mut all = M::FILE.map(|file| file.opts()).unwrap_or_default();
    all.extend_from_slice(M::SPEC);
    all
}

/// The options of `M` whose dict keys keep the task's order ([`Opt::keep_order`]).
pub(crate) fn ordered_options<M: Module>() -> Vec<&'static str> {
    spec_of::<M>()
        .iter()
        .filter(|opt| opt.keep_order)
        .map(|opt| opt.name)
        .collect()
}

/// Normalised options → `M::Params`, the options of each group under the group's name, and each
/// [`Opt::keep_order`] dict as `(key, value)` pairs in the order `orders` gives.
pub(crate) fn typed<M: Module>(
    mut options: Map<String, Value>,
    orders: &order::KeyOrders,
) -> Result<M::Params, Failure> {
    for opt in spec_of::<M>() {
        if opt.keep_order {
            if let Some(Value::Object(map)) = options.remove(opt.name) {
                let pairs = order::pairs(map, orders.get(opt.name));
                options.insert(opt.name.to_owned(), pairs);
            }
        }
        let Some(group) = opt.group else { continue };
        let value = options.remove(opt.name).unwrap_or(Value::Null);
        let nested = options
            .entry(group)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(nested) = nested {
            nested.insert(opt.name.to_owned(), value);
        }
    }
    serde_json::from_value(Value::Object(options))
        .map_err(|e| Failure::new(format!("invalid options for {}: {e}", M::NAME)))
}
