//! Users and groups by name or id, from the host's own `/etc/passwd` and `/etc/group`.

use crate::Failure;
use std::fs;
use std::path::Path;

/// A user name (or numeric id) → uid, from the host's `/etc/passwd`.
///
/// Read directly rather than through NSS: modules are statically linked, and static glibc
/// cannot load NSS plugins. Numeric ids always work, for users that live elsewhere (LDAP).
pub fn lookup_user(name: &str) -> Result<u32, Failure> {
    lookup_id(name, Path::new("/etc/passwd"), "owner", "user")
}

/// A group name (or numeric id) → gid, from the host's `/etc/group`.
pub fn lookup_group(name: &str) -> Result<u32, Failure> {
    lookup_id(name, Path::new("/etc/group"), "group", "group")
}

fn lookup_id(name: &str, db: &Path, option: &str, what: &str) -> Result<u32, Failure> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let text = fs::read_to_string(db).map_err(|e| Failure::io("reading", db, e))?;
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let n = fields.next()?;
            let id = fields.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(id)
        })
        .next()
        .ok_or_else(|| {
            Failure::new(format!(
                "option '{option}': no {what} named '{name}' on this host ({})",
                db.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero() {
        assert_eq!(lookup_user("root").unwrap(), 0);
        assert_eq!(lookup_user("1234").unwrap(), 1234);
        let err = lookup_group("no-such-group-here").unwrap_err();
        assert!(err.msg.contains("no group named 'no-such-group-here'"));
    }
}
