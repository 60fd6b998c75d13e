//! The lab needs root: namespaces, veth pairs, TUN devices and routes are privileged.

use crate::error::Error;

/// Refuses to go on unless the effective user is root.
pub fn require_root() -> Result<(), Error> {
    check_uid(nix::unistd::geteuid().as_raw())
}

/// The check itself, for a given effective uid.
pub fn check_uid(uid: u32) -> Result<(), Error> {
    if uid == 0 {
        Ok(())
    } else {
        Err(Error::NotRoot { uid })
    }
}

/// Whether this process runs as root (tests that need a lab skip otherwise).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uid_zero_passes_and_the_refusal_says_what_to_do() {
        assert!(check_uid(0).is_ok());
        let e = check_uid(65534).unwrap_err().to_string();
        assert!(e.contains("needs root"), "{e}");
        assert!(e.contains("65534"), "{e}");
    }
}
