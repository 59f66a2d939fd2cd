//! File modes as Ansible's file options take them (`mode: raw`).
//!
//! - An integer is the mode itself. YAML 1.1 reads an unquoted `0640` as the integer 416, which
//!   is 0o640: so `mode: 0640` written without quotes means what its author meant.
//! - A string is octal (`"0640"`, `"640"`, `"0o640"`) or symbolic (`"u=rw,g=r,o="`, `"g+w"`,
//!   `"a-x"`), the latter applied to the file's current mode, or, for a new file, to the mode a
//!   new file gets (0666 less the umask; 0777 less the umask for a directory), as Ansible's
//!   `set_mode_if_different` does.
//!
//! The messages are ansible-core's, prefixed with the option's name.

use crate::Failure;
use serde_json::Value;

/// The bits a mode may carry: permissions, setuid, setgid and sticky.
const PERM_BITS: u32 = 0o7777;

/// A parsed mode option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Absolute permission bits.
    Bits(u32),
    /// A symbolic mode, checked when parsed; resolved against the current mode.
    Symbolic(String),
}

impl Mode {
    /// Reads the option `option` (its name goes into every message).
    pub fn parse(option: &str, value: &Value) -> Result<Mode, Failure> {
        let invalid_bits = || {
            Failure::new(format!(
                "option '{option}': Invalid mode supplied, only permission info is allowed (got {value})"
            ))
        };
        match value {
            Value::Number(n) if n.is_f64() => Err(not_octal_or_symbolic(
                option,
                &format!("expected an integer or a string, got {n}"),
            )),
            Value::Number(n) => match n.as_u64() {
                Some(bits) if bits <= u64::from(PERM_BITS) => Ok(Mode::Bits(bits as u32)),
                _ => Err(invalid_bits()),
            },
            Value::String(s) => {
                if let Some(bits) = parse_octal(s) {
                    return match u32::try_from(bits) {
                        Ok(bits) if bits <= PERM_BITS => Ok(Mode::Bits(bits)),
                        _ => Err(invalid_bits()),
                    };
                }
                // Syntax is checked now, so a bad mode fails before anything is read or written.
                symbolic(s, 0, false, 0)
                    .map_err(|detail| not_octal_or_symbolic(option, &detail))?;
                Ok(Mode::Symbolic(s.clone()))
            }
            other => Err(not_octal_or_symbolic(
                option,
                &format!("expected an integer or a string, got {other}"),
            )),
        }
    }

    /// The bits for a file or directory whose current mode is `current`.
    pub fn resolve(&self, current: u32, is_dir: bool) -> u32 {
        match self {
            Mode::Bits(bits) => *bits,
            // Parsing checked the syntax, so this cannot fail; keep the current mode if it did.
            Mode::Symbolic(s) => symbolic(s, current, is_dir, umask()).unwrap_or(current),
        }
    }

    /// The bits for a file that does not exist yet.
    pub fn for_new_file(&self) -> u32 {
        self.resolve(0o666 & !umask(), false)
    }

    /// The bits for a directory that does not exist yet.
    pub fn for_new_dir(&self) -> u32 {
        self.resolve(0o777 & !umask(), true)
    }
}

fn not_octal_or_symbolic(option: &str, detail: &str) -> Failure {
    Failure::new(format!(
        "option '{option}': mode must be in octal or symbolic form ({detail})"
    ))
}

/// Python's `int(s, 8)`: optional sign-free `0o` prefix, digits 0-7, `_` between digits,
/// surrounding white space.
fn parse_octal(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .map(|rest| rest.strip_prefix('_').unwrap_or(rest))
        .unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let mut value: u64 = 0;
    for b in t.bytes() {
        match b {
            b'_' => continue,
            b'0'..=b'7' => {
                // Too large for any mode: saturate, so it is refused as out of range.
                value = value.saturating_mul(8).saturating_add(u64::from(b - b'0'));
            }
            _ => return None,
        }
    }
    Some(value)
}

/// The process umask. Reading it means setting it, so it is put straight back.
pub fn umask() -> u32 {
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits()
}

/// Applies a symbolic mode (comma-separated clauses `[ugoa]*[-+=][rwxXstugo]*`, operators may
/// repeat: `u+r-w`) to `current`, as ansible-core's `_symbolic_mode_to_octal` does: no users (or
/// `a`) means all three classes, and then `r`/`w`/`x` leave the bits set in `umask` alone.
fn symbolic(spec: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32, String> {
    let bad = |clause: &str| format!("bad symbolic permission for mode: {clause}");
    let mut mode = current & PERM_BITS;
    for clause in spec.split(',') {
        let first_op = clause.find(['+', '-', '=']).ok_or_else(|| bad(clause))?;
        let (users, rest) = clause.split_at(first_op);
        let use_umask = users.is_empty();
        let users = if users.is_empty() || users == "a" {
            "ugo"
        } else {
            users
        };
        if !users.bytes().all(|b| matches!(b, b'u' | b'g' | b'o')) {
            return Err(bad(clause));
        }
        // rest is: op perms op perms ...
        let mut ops = Vec::new();
        let mut start = 0;
        for (i, c) in rest.char_indices().skip(1) {
            if matches!(c, '+' | '-' | '=') {
                ops.push(&rest[start..i]);
                start = i;
            }
        }
        ops.push(&rest[start..]);
        for op_perms in ops {
            let (op, perms) = op_perms.split_at(1);
            if !perms.bytes().all(|b| {
                matches!(
                    b,
                    b'r' | b'w' | b'x' | b'X' | b's' | b't' | b'u' | b'g' | b'o'
                )
            }) {
                return Err(bad(clause));
            }
            for user in users.chars() {
                let bits = perm_bits(user, perms, mode, is_dir, use_umask.then_some(umask));
                mode = apply(user, op, bits, mode);
            }
        }
    }
    Ok(mode)
}

/// The bits `perms` stand for in `user`'s class, given the mode so far.
fn perm_bits(user: char, perms: &str, prev: u32, is_dir: bool, umask: Option<u32>) -> u32 {
    // The class's r/w/x bits sit at this shift: u 6, g 3, o 0.
    let shift = match user {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    let allowed = !umask.unwrap_or(0);
    let x_applies = is_dir || prev & 0o111 != 0;
    perms.chars().fold(0, |acc, p| {
        acc | match p {
            'r' => (0o4 << shift) & allowed,
            'w' => (0o2 << shift) & allowed,
            'x' => (0o1 << shift) & allowed,
            'X' if x_applies => 0o1 << shift,
            's' if user == 'u' => 0o4000,
            's' if user == 'g' => 0o2000,
            't' if user == 'o' => 0o1000,
            // Copy another class's bits: u=g and the like.
            'u' => ((prev >> 6) & 0o7) << shift,
            'g' => ((prev >> 3) & 0o7) << shift,
            'o' => (prev & 0o7) << shift,
            _ => 0,
        }
    })
}

fn apply(user: char, op: &str, bits: u32, mode: u32) -> u32 {
    match op {
        "=" => {
            let class = match user {
                'u' => 0o700 | 0o4000,
                'g' => 0o070 | 0o2000,
                _ => 0o007 | 0o1000,
            };
            (mode & !class) | bits
        }
        "+" => mode | bits,
        _ => mode & !bits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bits(v: Value) -> u32 {
        match Mode::parse("mode", &v).unwrap() {
            Mode::Bits(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_integer_is_the_mode_itself_so_unquoted_yaml_0640_is_0640() {
        // YAML 1.1 reads `mode: 0640` as 416; it must not become the text "416" (0o416).
        assert_eq!(bits(json!(416)), 0o640);
        assert_eq!(bits(json!(0o600)), 0o600);
        assert_eq!(bits(json!(0)), 0);
    }

    #[test]
    fn strings_are_octal_like_pythons_int_base_8() {
        assert_eq!(bits(json!("0640")), 0o640);
        assert_eq!(bits(json!("640")), 0o640);
        assert_eq!(bits(json!("0o640")), 0o640);
        assert_eq!(bits(json!(" 0755 ")), 0o755);
        assert_eq!(bits(json!("04_755")), 0o4755);
        assert_eq!(bits(json!("416")), 0o416);
    }

    #[test]
    fn more_than_permission_bits_is_refused_like_ansible() {
        for v in [
            json!(0o10000),
            json!("17777"),
            json!(-1),
            json!("0o77777777777777777777777"),
        ] {
            let err = Mode::parse("mode", &v).unwrap_err();
            assert!(
                err.msg.contains("option 'mode': Invalid mode supplied"),
                "{v}: {}",
                err.msg
            );
        }
    }

    #[test]
    fn neither_octal_nor_symbolic_is_refused_naming_the_option() {
        for v in [
            json!("0999"),
            json!("u=rwz"),
            json!("rw-r--r--"),
            json!(""),
            json!(true),
            json!(1.5),
            json!(["0640"]),
        ] {
            let err = Mode::parse("dir_mode", &v).unwrap_err();
            assert!(
                err.msg
                    .starts_with("option 'dir_mode': mode must be in octal or symbolic form"),
                "{v}: {}",
                err.msg
            );
        }
    }

    fn sym(s: &str, current: u32, is_dir: bool, umask: u32) -> u32 {
        symbolic(s, current, is_dir, umask).unwrap()
    }

    #[test]
    fn symbolic_modes_apply_to_the_current_mode() {
        assert_eq!(sym("u=rw,g=r,o=", 0o777, false, 0o022), 0o640);
        assert_eq!(sym("g+w", 0o644, false, 0o022), 0o664);
        assert_eq!(sym("a-x", 0o755, false, 0o022), 0o644);
        assert_eq!(sym("o-rwx", 0o755, false, 0o022), 0o750);
        assert_eq!(sym("u+r-w", 0o644, false, 0), 0o444);
        assert_eq!(sym("go=u", 0o640, false, 0), 0o666);
        assert_eq!(sym("u+s,g+s,o+t", 0o755, true, 0), 0o7755);
        assert_eq!(sym("u=rwx,g=", 0o4755, false, 0), 0o705);
    }

    #[test]
    fn capital_x_sets_execute_only_on_directories_or_already_executable_files() {
        assert_eq!(sym("a+X", 0o644, false, 0), 0o644);
        assert_eq!(sym("a+X", 0o744, false, 0), 0o755);
        assert_eq!(sym("a+X", 0o644, true, 0), 0o755);
    }

    #[test]
    fn without_a_user_class_the_umask_is_respected() {
        assert_eq!(sym("+w", 0o444, false, 0o022), 0o644);
        assert_eq!(sym("a+w", 0o444, false, 0o022), 0o666);
    }

    #[test]
    fn symbolic_modes_of_new_files_start_from_0666_less_the_umask() {
        let mode = Mode::parse("mode", &json!("g-r,o-r")).unwrap();
        assert_eq!(mode.resolve(0o644, false), 0o600);
        assert_eq!(
            Mode::parse("m", &json!("u=rw"))
                .unwrap()
                .resolve(0o000, false),
            0o600
        );
    }
}
