//! Templates embedded in the module binaries, rendered strictly.
//!
//! An undefined variable is an error, never an empty string: a typo in a template must fail the
//! tests, not ship a config with a blank where an address should be.

use crate::Failure;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Renders `source` (named `name` in errors) with `context`.
pub fn render<C: Serialize>(name: &str, source: &str, context: &C) -> Result<String, Failure> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template(name, source)
        .map_err(|e| Failure::new(format!("template {name}: {e:#}")))?;
    let template = env
        .get_template(name)
        .map_err(|e| Failure::new(format!("template {name}: {e:#}")))?;
    template
        .render(context)
        .map_err(|e| Failure::new(format!("rendering {name}: {e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undefined_variable_is_an_error() {
        let err = render("t", "bind {{ adress }}\n", &json!({"address": "x"})).unwrap_err();
        assert!(err.msg.contains("undefined"), "{}", err.msg);
    }

    #[test]
    fn blocks_do_not_leave_blank_lines() {
        let out = render(
            "t",
            "a\n{% for s in xs %}\n  {{ s }}\n{% endfor %}\nb\n",
            &json!({"xs": [1, 2]}),
        )
        .unwrap();
        assert_eq!(out, "a\n  1\n  2\nb\n");
    }
}
