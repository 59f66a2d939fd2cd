//! Scrubbing secret option values out of everything a module emits.
//!
//! Ansible cannot know which options of a binary module are secret, so the module says so in its
//! spec (`no_log`) and this removes their values from every string of the answer, the way
//! `AnsibleModule`'s `remove_values` does: a string equal to a secret becomes
//! [`NO_LOG_PLACEHOLDER`], a string containing one has it replaced by `********`.

use serde_json::Value;

/// What a string that *is* a secret becomes (Ansible's own placeholder).
pub const NO_LOG_PLACEHOLDER: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
/// What a secret inside a longer string becomes.
pub const MASK: &str = "********";

/// The secret values of one run.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    pub fn new(mut values: Vec<String>) -> Secrets {
        values.retain(|v| !v.is_empty());
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// One string, scrubbed.
    pub fn scrub_str(&self, text: &str) -> String {
        if self.values.iter().any(|s| s == text) {
            return NO_LOG_PLACEHOLDER.to_owned();
        }
        let mut out = text.to_owned();
        for secret in &self.values {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    /// Every string in a JSON value (object keys included), scrubbed in place.
    pub fn scrub(&self, value: &mut Value) {
        if self.values.is_empty() {
            return;
        }
        match value {
            Value::String(s) => *s = self.scrub_str(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.scrub(&mut v);
                    map.insert(self.scrub_str(&key), v);
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if self.values.contains(&text) {
                    *value = Value::String(NO_LOG_PLACEHOLDER.to_owned());
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_and_substring_matches_like_ansible() {
        let s = Secrets::new(vec!["hunter22".into()]);
        let mut v = json!({
            "msg": "auth admin:hunter22 rejected",
            "password": "hunter22",
            "nested": [{"line": "x hunter22 y"}],
            "hunter22": 1,
        });
        s.scrub(&mut v);
        assert_eq!(v["msg"], json!("auth admin:******** rejected"));
        assert_eq!(v["password"], json!(NO_LOG_PLACEHOLDER));
        assert_eq!(v["nested"][0]["line"], json!("x ******** y"));
        assert!(v.get("hunter22").is_none());
        assert!(!v.to_string().contains("hunter22"));
    }

    #[test]
    fn longer_secret_masked_before_its_prefix() {
        let s = Secrets::new(vec!["abc".into(), "abcdef".into()]);
        assert_eq!(s.scrub_str("x abcdef y"), "x ******** y");
    }

    #[test]
    fn numeric_secret_is_scrubbed() {
        let s = Secrets::new(vec!["12345678".into()]);
        let mut v = json!({"pin": 12345678, "msg": "pin 12345678"});
        s.scrub(&mut v);
        assert_eq!(v, json!({"pin": NO_LOG_PLACEHOLDER, "msg": "pin ********"}));
    }
}
