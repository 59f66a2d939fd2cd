//! The order of a dict option's keys, as the task wrote them.
//!
//! Ansible sends a dict's keys in the order the task wrote them (Python dicts keep it, and
//! `json.dumps` writes it), but the runtime reads the options into serde_json's `Map`, which
//! sorts its keys. serde_json's `preserve_order` feature would change the order of every map of
//! every module (answers, templates, static_pod's manifests) and add indexmap to every binary,
//! so an option declared with [`Opt::keep_order`](crate::Opt::keep_order) has its keys' order
//! read from the argument text itself, a second pass that skips everything else. The module's
//! `Params` then gets that option as a list of `(key, value)` pairs in the task's order.
//!
//! The dict may come as a JSON object, or as the strings ad-hoc `-a` sends (a JSON object in a
//! string, or `k=v` pairs): each keeps its order. Keys the text does not show (none in practice)
//! follow, sorted.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Option name → its keys in the order the argument text gives them.
pub type KeyOrders = BTreeMap<String, Vec<String>>;

/// The key order of each option of `names` in the arguments `text` (the JSON object Ansible
/// sends; its legacy `ANSIBLE_MODULE_ARGS` wrapping wins, as in `wire::parse_args`). Text that
/// does not parse gives no orders: the options are then refused for what they are anyway.
pub fn key_orders(text: &str, names: &[&str]) -> KeyOrders {
    if names.is_empty() {
        return KeyOrders::new();
    }
    let mut de = serde_json::Deserializer::from_str(text);
    Options { names }.deserialize(&mut de).unwrap_or_default()
}

/// `map`'s entries as `[key, value]` pairs: the keys `order` names first, in its order, then
/// the rest, sorted.
pub fn pairs(mut map: Map<String, Value>, order: Option<&Vec<String>>) -> Value {
    let mut out = Vec::with_capacity(map.len());
    for key in order.into_iter().flatten() {
        if let Some(value) = map.remove(key) {
            out.push(Value::Array(vec![Value::String(key.clone()), value]));
        }
    }
    out.extend(
        map.into_iter()
            .map(|(key, value)| Value::Array(vec![Value::String(key), value])),
    );
    Value::Array(out)
}

/// The top-level object: the key order of each option in `names`.
struct Options<'a> {
    names: &'a [&'a str],
}

impl<'de> DeserializeSeed<'de> for Options<'_> {
    type Value = KeyOrders;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KeyOrders, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Options<'_> {
    type Value = KeyOrders;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the arguments object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrders, A::Error> {
        let mut orders = KeyOrders::new();
        let mut wrapped = KeyOrders::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "ANSIBLE_MODULE_ARGS" {
                wrapped = map.next_value_seed(Options { names: self.names })?;
            } else if self.names.contains(&key.as_str()) {
                let keys = map.next_value_seed(Keys)?;
                orders.insert(key, keys);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        orders.extend(wrapped);
        Ok(orders)
    }
}

/// One option's value: its keys in order (none when it is not a dict).
struct Keys;

impl<'de> DeserializeSeed<'de> for Keys {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keys {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut keys: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// What ad-hoc `-a` sends: a JSON object in a string, or `k=v` pairs (split as
    /// `spec::coerce_kind` splits them).
    fn visit_str<E>(self, text: &str) -> Result<Vec<String>, E> {
        if text.trim_start().starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(text);
            return Ok(Keys.deserialize(&mut de).unwrap_or_default());
        }
        Ok(text
            .split([',', ' '])
            .filter_map(|field| field.split_once('='))
            .map(|(key, _)| key.trim().to_owned())
            .collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Vec::new())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(text: &str) -> Vec<String> {
        key_orders(text, &["settings"])
            .remove("settings")
            .unwrap_or_default()
    }

    #[test]
    fn keys_keep_the_order_of_the_text() {
        let text =
            r#"{"a": 1, "settings": {"Z": 1, "B": {"x": [1, {"y": 2}]}, "M": "3"}, "b": [{}]}"#;
        assert_eq!(keys(text), ["Z", "B", "M"]);
        let pairs = pairs(
            json!({"B": 2, "M": 3, "Z": 1, "A": 0})
                .as_object()
                .unwrap()
                .clone(),
            Some(&keys(text)),
        );
        assert_eq!(pairs, json!([["Z", 1], ["B", 2], ["M", 3], ["A", 0]]));
    }

    #[test]
    fn adhoc_strings_keep_their_order_too() {
        assert_eq!(keys(r#"{"settings": "{\"Z\": 1, \"A\": 2}"}"#), ["Z", "A"]);
        assert_eq!(keys(r#"{"settings": "Z=1, A=2 M=x"}"#), ["Z", "A", "M"]);
        assert_eq!(keys(r#"{"settings": 5}"#), Vec::<String>::new());
        assert_eq!(keys(r#"{"settings": [1, 2]}"#), Vec::<String>::new());
    }

    #[derive(Debug)]
    struct Echo;

    #[derive(Debug, serde::Deserialize)]
    struct EchoParams {
        env: Vec<(String, Value)>,
        plain: Option<Map<String, Value>>,
    }

    impl crate::Module for Echo {
        const NAME: &'static str = "echo";
        const SPEC: &'static [crate::Opt] = &[
            crate::Opt::dict("env").required().keep_order(),
            crate::Opt::dict("plain"),
        ];
        type Params = EchoParams;

        fn plan(params: EchoParams) -> Result<crate::Plan, crate::Failure> {
            let mut plan = crate::Plan::new();
            let env: Vec<&str> = params.env.iter().map(|(k, _)| k.as_str()).collect();
            let plain: Vec<&String> = params.plain.iter().flat_map(|m| m.keys()).collect();
            plan.set("env", json!(env));
            plan.set("plain", json!(plain));
            Ok(plan)
        }
    }

    #[test]
    fn a_keep_order_dict_reaches_params_in_the_tasks_order() {
        let text = r#"{"plain": {"Z": 1, "A": 2}, "env": {"Z": "1", "A": 2, "M": true},
            "_ansible_check_mode": true}"#;
        let answer = crate::execute::<Echo>(Ok(text.into()));
        assert_eq!(answer["env"], json!(["Z", "A", "M"]), "{answer}");
        assert_eq!(
            answer["plain"],
            json!(["A", "Z"]),
            "other dicts stay sorted"
        );
        assert_eq!(answer["invocation"]["module_args"]["env"]["M"], json!(true));
        let answer = crate::execute::<Echo>(Ok(r#"{"env": "B=1 A=2"}"#.into()));
        assert_eq!(answer["env"], json!(["B", "A"]), "{answer}");
        let answer = crate::execute::<Echo>(Ok(r#"{"env": ["B"]}"#.into()));
        assert!(
            answer["msg"].as_str().unwrap().contains("option 'env'"),
            "{answer}"
        );
    }

    #[test]
    fn the_legacy_wrapping_wins_and_bad_text_gives_nothing() {
        let text =
            r#"{"ANSIBLE_MODULE_ARGS": {"settings": {"Y": 1, "X": 2}}, "settings": {"A": 1}}"#;
        assert_eq!(keys(text), ["Y", "X"]);
        assert!(key_orders("{\"settings\": {\"A\"", &["settings"]).is_empty());
        assert!(key_orders("[1]", &["settings"]).is_empty());
    }
}
