//! A property-test generator driven by a module's argument spec (feature `testing`).
//!
//! Each case is an arguments object Ansible could send, or could not: options of the right and of
//! the wrong type, huge and empty values, odd Unicode (including escaped lone surrogates),
//! unknown keys, random `_ansible_*` keys and check mode, or text that is not a JSON object at
//! all. Every case must answer with one JSON object that has a boolean `changed` (and `msg` when
//! it failed), never panic, and — when it failed — leave the sandbox directory exactly as it was.
//! Path options always point into the sandbox, and options naming programs (`*_path` strings)
//! name one that does not exist, so a case can never touch the machine.

use crate::spec::{Kind, Opt};
use crate::Module;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to fuzz.
#[derive(Debug)]
pub struct Config<'a> {
    pub cases: usize,
    pub seed: u64,
    /// A directory the cases may write into (and nowhere else).
    pub sandbox: &'a Path,
    /// Options forced into every case (e.g. a fake package manager).
    pub fixed: Map<String, Value>,
    /// A valid set of options: many cases start from it and change a few options, so valid
    /// and nearly valid inputs get exercised, not only hopeless ones.
    pub base: Map<String, Value>,
}

/// The number of cases: `KUBEHA_FUZZ_CASES` if set, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("KUBEHA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A module's fuzz test: its own seed, a valid task (many cases start from it), and options
/// forced into every case, both given the sandbox directory.
#[derive(Debug)]
pub struct Check {
    pub seed: u64,
    pub base: fn(&Path) -> Value,
    pub fixed: fn(&Path) -> Value,
}

/// No options forced, for [`Check::fixed`].
pub fn nothing(_: &Path) -> Value {
    json!({})
}

/// Runs [`cases`]`(10_000)` cases of `check` in a fresh sandbox and panics on the first
/// violation, or unless both valid and invalid answers are at least 1 in 20 (so the cases
/// exercise both the module's work and its refusals).
pub fn check<M: Module>(check: &Check) {
    let sandbox = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let object = |v: Value| v.as_object().cloned().unwrap_or_else(|| panic!("{v}"));
    let config = Config {
        cases: cases(10_000),
        seed: check.seed,
        sandbox: sandbox.path(),
        fixed: object((check.fixed)(sandbox.path())),
        base: object((check.base)(sandbox.path())),
    };
    match run::<M>(&config) {
        Ok((ok, failed)) => {
            assert_eq!(ok + failed, config.cases);
            assert!(ok > config.cases / 20, "too few valid cases: {ok}");
            assert!(
                failed > config.cases / 20,
                "too few invalid cases: {failed}"
            );
        }
        Err(violation) => panic!("{violation}"),
    }
}

/// Runs the cases; returns a description of the first violation, or counts of
/// (succeeded, failed) answers.
pub fn run<M: Module>(config: &Config) -> Result<(usize, usize), String> {
    let mut rng = Rng(config.seed ^ 0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut failed) = (0, 0);
    for case in 0..config.cases {
        let input = generate::<M>(&mut rng, config);
        let before = snapshot(config.sandbox);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::execute::<M>(Ok(input.clone()))
        }));
        let answer = outcome.map_err(|_| format!("case {case} panicked on input:\n{input}"))?;
        let obj = answer
            .as_object()
            .ok_or_else(|| format!("case {case}: answer is not an object: {answer}"))?;
        if !obj.get("changed").is_some_and(Value::is_boolean) {
            return Err(format!(
                "case {case}: no boolean 'changed' in {answer}\ninput: {input}"
            ));
        }
        if serde_json::to_string(&answer).is_err() {
            return Err(format!("case {case}: answer does not serialise"));
        }
        if obj.keys().any(|k| k.starts_with("_ansible_")) {
            return Err(format!(
                "case {case}: answer leaks an _ansible_ key: {answer}"
            ));
        }
        if obj.get("failed") == Some(&Value::Bool(true)) {
            failed += 1;
            if obj
                .get("msg")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!("case {case}: failed without a message: {answer}"));
            }
            if obj.get("changed") == Some(&Value::Bool(true)) {
                continue; // an earlier action of the plan did apply; that is reported
            }
            let after = snapshot(config.sandbox);
            if before != after {
                return Err(format!(
                    "case {case}: failed but changed the sandbox\ninput: {input}\nanswer: {answer}"
                ));
            }
        } else {
            ok += 1;
        }
    }
    Ok((ok, failed))
}

/// Path → content of every file under `dir` (directories as empty entries).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

fn generate<M: Module>(rng: &mut Rng, config: &Config) -> String {
    let spec = crate::spec_of::<M>();
    match rng.below(20) {
        0 => garbage_text(rng),
        1 => random_value(rng, 2).to_string(),
        _ => {
            let mut args = Map::new();
            if !config.base.is_empty() && rng.chance(50) {
                args = config.base.clone();
                for _ in 0..rng.below(3) {
                    let opt = &spec[rng.below(spec.len())];
                    args.insert(opt.name.to_owned(), option_value(rng, opt, config.sandbox));
                }
            } else {
                for opt in &spec {
                    if rng.chance(70) {
                        args.insert(opt.name.to_owned(), option_value(rng, opt, config.sandbox));
                    }
                }
            }
            for _ in 0..rng.below(3) {
                args.insert(odd_string(rng, 12), random_value(rng, 2));
            }
            for key in ["_ansible_check_mode", "_ansible_diff", "_ansible_no_log"] {
                if rng.chance(50) {
                    args.insert(key.into(), Value::Bool(rng.chance(50)));
                }
            }
            if rng.chance(20) {
                args.insert("_ansible_ignore_unknown_opts".into(), random_value(rng, 1));
            }
            if rng.chance(10) {
                args.insert("_ansible_future_key".into(), random_value(rng, 2));
            }
            for (k, v) in &config.fixed {
                args.insert(k.clone(), v.clone());
            }
            let text = Value::Object(args).to_string();
            if rng.chance(3) {
                // Cut somewhere: truncated JSON.
                let cut = rng.below(text.len().max(1));
                text.char_indices()
                    .take_while(|(i, _)| *i < cut)
                    .map(|(_, c)| c)
                    .collect()
            } else if rng.chance(3) {
                // A lone surrogate, as JSON text may carry one.
                text.replacen("\"}", "\\ud800\"}", 1)
            } else {
                text
            }
        }
    }
}

fn option_value(rng: &mut Rng, opt: &Opt, sandbox: &Path) -> Value {
    if opt.kind == Kind::Path {
        return match rng.below(4) {
            0 => Value::String(odd_string(rng, 20)),
            _ => Value::String(
                sandbox
                    .join(format!("d{}", rng.below(3)))
                    .join(format!("f{}", rng.below(4)))
                    .to_string_lossy()
                    .into_owned(),
            ),
        };
    }
    if opt.name.ends_with("_path") && opt.kind == Kind::Str {
        return json!("kubeha-fuzz-no-such-program");
    }
    if !opt.choices.is_empty() && rng.chance(60) {
        return json!(opt.choices[rng.below(opt.choices.len())]);
    }
    if rng.chance(25) {
        return random_value(rng, 3);
    }
    typed_value(rng, opt.kind, opt.elements, opt.suboptions, sandbox)
}

fn typed_value(
    rng: &mut Rng,
    kind: Kind,
    elements: Option<Kind>,
    suboptions: &[Opt],
    sandbox: &Path,
) -> Value {
    match kind {
        Kind::Bool => match rng.below(3) {
            0 => json!(rng.chance(50)),
            1 => json!(["yes", "no", "on", "off", "1", "0", "maybe"][rng.below(7)]),
            _ => json!(rng.below(3)),
        },
        Kind::Int => match rng.below(5) {
            0 => json!(rng.below(70_000)),
            1 => json!(rng.below(70_000).to_string()),
            2 => json!(-(rng.below(1000) as i64)),
            3 => json!(u64::MAX),
            _ => json!(rng.below(300) as f64 + 0.5),
        },
        Kind::Float => json!(rng.below(1000) as f64 / 7.0),
        Kind::List => {
            let n = [0, 1, 2, 3, 50][rng.below(5)];
            let elements = elements.unwrap_or(Kind::Raw);
            Value::Array(
                (0..n)
                    .map(|_| {
                        if suboptions.is_empty() {
                            typed_value(rng, elements, None, &[], sandbox)
                        } else {
                            sub_object(rng, suboptions, sandbox)
                        }
                    })
                    .collect(),
            )
        }
        Kind::Dict if !suboptions.is_empty() => sub_object(rng, suboptions, sandbox),
        Kind::Dict => random_value(rng, 2),
        Kind::Raw => random_value(rng, 2),
        Kind::Str | Kind::Path => Value::String(plausible_string(rng)),
    }
}

fn sub_object(rng: &mut Rng, suboptions: &[Opt], sandbox: &Path) -> Value {
    let mut map = Map::new();
    for opt in suboptions {
        if rng.chance(80) {
            map.insert(opt.name.to_owned(), option_value(rng, opt, sandbox));
        }
    }
    if rng.chance(10) {
        map.insert(odd_string(rng, 5), json!(1));
    }
    Value::Object(map)
}

/// Strings a user might plausibly type, plus edge cases.
fn plausible_string(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "",
        " ",
        "127.0.0.1",
        "::1",
        "0.0.0.0",
        "10.199.0.100",
        "10.199.0.100/24",
        "fd00::1/64",
        "*",
        "cp1",
        "lb-apiserver.kubernetes.local",
        "eth0",
        "lo",
        "30s",
        "5m",
        "0640",
        "0755",
        "root",
        "/healthz",
        "admin",
        "p@ss w0rd#",
        "a:b",
        "x\ny",
        "${HOME}",
        "{{ var }}",
        "%s",
        "-c",
        "--all",
        "é",
        "🦀",
        "\u{202e}rtl",
        "\0",
        "null",
    ];
    match rng.below(4) {
        0 => odd_string(rng, 40),
        1 => "A".repeat([1, 255, 256, 4096, 100_000][rng.below(5)]),
        _ => WORDS[rng.below(WORDS.len())].to_owned(),
    }
}

fn odd_string(rng: &mut Rng, max: usize) -> String {
    const ALPHABET: &[char] = &[
        'a', 'z', 'A', '0', '9', '.', '/', ':', '-', '_', ' ', '"', '\\', '\'', '#', '\n', '\t',
        '{', '}', '[', ']', '=', ',', '%', 'é', 'ß', '中', '🦀', '\u{feff}', '\u{7f}', '\u{1}',
    ];
    (0..rng.below(max + 1))
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.next() as i64),
        3 => json!(rng.below(1_000_000) as f64 / 3.0),
        4 => Value::String(odd_string(rng, 30)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (odd_string(rng, 8), random_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

fn garbage_text(rng: &mut Rng) -> String {
    const SAMPLES: &[&str] = &[
        "",
        "   ",
        "null",
        "[]",
        "42",
        "\"text\"",
        "{",
        "}",
        "{\"a\":",
        "{\"a\": 1,}",
        "{'single': 'quotes'}",
        "ANSIBLE_MODULE_ARGS",
        "{\"ANSIBLE_MODULE_ARGS\": 5}",
        "{\"\\ud800\": \"\\udfff\"}",
        "\u{feff}{}",
        "{\"a\": NaN}",
        "{\"a\": 1e999}",
    ];
    if rng.chance(50) {
        SAMPLES[rng.below(SAMPLES.len())].to_owned()
    } else {
        odd_string(rng, 200)
    }
}

/// splitmix64: small, fast, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}
